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
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|word| word == "templates") {
        return templates_command(std::env::args_os().skip(1));
    }
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

/// `mcp-file-templates templates import|export DIR`: copies every template
/// between a directory and the PostgreSQL store, prints what it did, and
/// exits 1 when a template differed at the target and was left alone.
fn templates_command(args: impl Iterator<Item = std::ffi::OsString>) -> ExitCode {
    match copy_templates(args) {
        Ok(report) => {
            for (what, names) in [
                ("created", &report.created),
                ("replaced", &report.replaced),
                ("unchanged", &report.unchanged),
                (
                    "different at the target, left alone (use --overwrite)",
                    &report.conflicts,
                ),
            ] {
                if !names.is_empty() {
                    let list: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
                    println!("{what}: {} ({})", names.len(), list.join(", "));
                }
            }
            if report.conflicts.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("mcp-file-templates templates: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn copy_templates(
    args: impl Iterator<Item = std::ffi::OsString>,
) -> anyhow::Result<templates::CopyReport> {
    use config::TemplatesAction;
    let command = config::load_templates_command(args)?;
    let limits = templates::StoreLimits::default();
    let mut options = templates::PgOptions::new(command.postgres_url.expose(), limits.clone());
    options.resync_interval = std::time::Duration::from_secs(3600);
    let database = templates::PgStore::open(options).context("open the postgres template store")?;
    let open_dir = |dir: &std::path::Path| {
        let fs = templates::FsStore::open(dir.to_owned(), limits.clone())
            .with_context(|| format!("open {}", dir.display()))?;
        for skipped in fs.skipped() {
            eprintln!("skipped (invalid): {skipped:?}");
        }
        anyhow::Ok(fs)
    };
    match &command.action {
        TemplatesAction::Import { dir } => {
            let fs = open_dir(dir)?;
            templates::copy_all(&fs, &database, command.overwrite)
                .with_context(|| format!("import {}", dir.display()))
        }
        TemplatesAction::Export { dir } => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            let fs = open_dir(dir)?;
            templates::copy_all(&database, &fs, command.overwrite)
                .with_context(|| format!("export to {}", dir.display()))
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
