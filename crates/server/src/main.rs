//! The `mcp-file-templates` binary: parse the configuration, start logging,
//! build the dependencies, serve until SIGTERM or Ctrl-C. Everything else
//! lives in the library so tests build the very same router.

use std::process::ExitCode;

use anyhow::Context as _;
use axum::serve::Listener as _;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use mcp_file_templates::app::{build_app, listen};
use mcp_file_templates::config::{self, Config, LogConfig, LogFormat};
use mcp_file_templates::deps;

/// mimalloc instead of the system allocator: a request allocates and frees
/// many small objects (JSON values, template values, headers), and glibc's
/// malloc took about a sixth of the server's CPU under load
/// (`docs/benchmarks.md`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = match config::load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mcp-file-templates: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config.log);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")
        .and_then(|runtime| runtime.block_on(serve(config)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Starts logging with the configuration's filter (`RUST_LOG`, read by
/// `config` like every other variable) and format.
fn init_tracing(log: &LogConfig) {
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|e| {
        eprintln!(
            "mcp-file-templates: ignoring the log filter {:?}: {e}",
            log.filter
        );
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match log.format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if config.insecure_bench {
        tracing::warn!(
            "!!! --dangerously-disable-auth-for-benchmarks is ON: /mcp accepts EVERY request without a token. Never run this outside a benchmark. !!!"
        );
    }
    if config.auth.allows_insecure_http() {
        tracing::warn!(
            "!!! allow_insecure_http is ON: signing keys and introspection (with its client secret) may travel over plain http to a non-loopback host. Use https in production. !!!"
        );
    }
    // Verify-online tools re-check a token by introspection; an issuer
    // without an introspection endpoint (Entra has none) cannot be asked, so
    // its tokens are judged locally there too. Say so once, by issuer.
    let introspecting = config
        .auth
        .issuers
        .iter()
        .filter(|i| i.mode.introspection().is_some())
        .count();
    if introspecting > 0 && introspecting < config.auth.issuers.len() {
        for issuer in config
            .auth
            .issuers
            .iter()
            .filter(|i| i.mode.introspection().is_none())
        {
            tracing::warn!(
                issuer = %issuer.validation.issuer,
                "this issuer has no introspection endpoint: auth.verify_online_tools are checked locally for its tokens (a revoked token works until it expires)"
            );
        }
    }
    tracing::info!(
        bind = %config.bind,
        resource = %config.resource(),
        issuers = ?config.auth.accepted_issuers(),
        session = ?config.session,
        templates = %config.store.dir.display(),
        "starting"
    );
    let shutdown = CancellationToken::new();
    let runtime = deps::build(&config, shutdown.clone())?;
    let app = build_app(&config, runtime.app)?;
    let listener = listen(config.bind)
        .await
        .with_context(|| format!("bind {}", config.bind))?;
    tracing::info!(addr = %listener.local_addr().context("local address")?, "listening");

    let signal = shutdown.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            // Ends rmcp sessions and their SSE streams so connections drain.
            signal.cancel();
        })
        .await
        .context("serve")?;
    drop(runtime.refreshers);
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(%e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(%e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
