//! `cargo xtask keycloak`: starts the dev Keycloak, prints how to use it,
//! records it in the state file for `cargo xtask token`, and runs until
//! Ctrl-C; with `--check`, runs [`super::check`] instead and stops.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;
use xshell::Shell;

use super::provision::Backend;
use super::{
    DEFAULT_AUDIENCE, DEV_PORT, Keycloak, REALM, STATE_FILE, StartOptions, VERSION, check,
    write_json,
};
use crate::process::{Guard, RemovePath};

/// `cargo xtask keycloak [--port N|0] [--management-port N] [--audience URL]`:
/// starts Keycloak, prints how to use it, and runs until Ctrl-C.
pub(crate) fn run(sh: &Shell, args: &[String]) -> anyhow::Result<()> {
    let mut opts = StartOptions::new(DEFAULT_AUDIENCE)?;
    opts.http_port = Some(DEV_PORT);
    let mut self_check = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "--port" => {
                opts.http_port =
                    Some(value("--port")?.parse().context("--port")?).filter(|p| *p != 0)
            }
            "--management-port" => {
                opts.management_port = Some(
                    value("--management-port")?
                        .parse()
                        .context("--management-port")?,
                )
            }
            "--audience" => opts.audience = value("--audience")?,
            "--redirect-uri" => opts.extra_redirect_uris.push(value("--redirect-uri")?),
            "--features" => opts
                .features
                .extend(value("--features")?.split(',').map(str::to_owned)),
            "--check" => self_check = true,
            "-h" | "--help" => {
                eprintln!(
                    "usage: cargo xtask keycloak [--port N (default {DEV_PORT}, 0 = free)] [--management-port N] \
                     [--audience URL (default {DEFAULT_AUDIENCE})] [--redirect-uri URI]... [--features a,b] \
                     [--check (verify realm, tokens and key rotation, then stop)]"
                );
                return Ok(());
            }
            other => bail!("unknown option `{other}` (see --help)"),
        }
    }

    let kc = Keycloak::start(sh, &opts)?;
    let issuer = kc.issuer(REALM);
    if matches!(kc.backend, Backend::External) {
        println!("Keycloak at {} has the realm {REALM}", kc.base_url());
    } else {
        println!(
            "Keycloak {VERSION} is ready in {:.1} s",
            kc.started_in().as_secs_f64()
        );
    }
    println!("  issuer        {issuer}");
    println!("  discovery     {issuer}/.well-known/openid-configuration");
    println!("  jwks          {}", kc.oidc_url("certs"));
    println!(
        "  introspection {} (client mcp-server / mcp-server-secret)",
        kc.oidc_url("token/introspect")
    );
    println!("  admin console {}/admin/ (admin / admin)", kc.base_url());
    println!(
        "  audience      {}  (scopes mcp:tools, templates:write)",
        opts.audience
    );
    println!("  clients       mcp-client (public, PKCE S256), mcp-test / mcp-test-secret,");
    println!(
        "                mcp-short / mcp-short-secret (5 s tokens), mcp-server / mcp-server-secret"
    );
    println!("  users         alice / alice (mcp:tools, templates:write), bob / bob (mcp:tools)");
    if let (Some(log), Some(pgid)) = (kc.log_file(), kc.process_group()) {
        println!("  log           {} (process group {pgid})", log.display());
    }
    println!(
        "  token         cargo xtask token --user alice --scope \"mcp:tools templates:write\""
    );

    if self_check {
        println!("Checking the realm and the Admin REST helpers:");
        check::run(&kc, &opts.audience)?;
        if matches!(kc.backend, Backend::External) {
            println!("All checks passed.");
        } else {
            println!("All checks passed; stopping Keycloak.");
        }
        return Ok(());
    }
    if matches!(kc.backend, Backend::External) {
        return Ok(());
    }
    let state_path = sh.current_dir().join(STATE_FILE);
    write_json(
        &state_path,
        &json!({ "base_url": kc.base_url(), "realm": REALM, "audience": opts.audience, "pid": std::process::id() }),
    )?;
    let _state = Guard::new(Arc::new(RemovePath(state_path)))?;
    println!("Press Ctrl-C to stop.");
    loop {
        if let Some(status) = kc.exited() {
            bail!("Keycloak exited ({status})\n{}", kc.log_tail(40));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
