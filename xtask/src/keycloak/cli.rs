//! `cargo xtask keycloak`: starts the dev Keycloak, prints how to use it,
//! records it in the state file for `cargo xtask token`, and runs until
//! Ctrl-C; with `--check`, runs [`super::check`] instead and stops.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use serde_json::json;
use xshell::Shell;

use super::provision::Backend;
use super::{
    Keycloak, REALM, RESOURCE_CLIENT_SECRET, STATE_FILE, StartOptions, VERSION, check, write_json,
};
use crate::flags;
use crate::process::{Guard, RemovePath};

impl flags::Keycloak {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let mut opts = StartOptions::new(self.audience)?;
        opts.http_port = Some(self.port).filter(|p| *p != 0);
        opts.management_port = self.management_port;
        opts.extra_redirect_uris = self.redirect_uris;
        for feature in self.features {
            if !opts.features.contains(&feature) {
                opts.features.push(feature);
            }
        }
        let self_check = self.check;

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
            "  introspection {} (client {} / {RESOURCE_CLIENT_SECRET})",
            kc.oidc_url("token/introspect"),
            opts.audience
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
        println!(
            "  users         alice / alice (mcp:tools, templates:write), bob / bob (mcp:tools)"
        );
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
}
