//! A real Keycloak 26 for development, end-to-end tests and benchmarks, with
//! the dev realm `mcp` from `dev/keycloak/realm.json`, and the Admin REST
//! calls tests need (tokens, introspection, key rotation, session logout).
//!
//! [`Keycloak::start`] picks the first path that works:
//! 1. `KEYCLOAK_URL` is set: use that server; import the realm through the
//!    Admin API when it is missing (admin credentials from
//!    `KEYCLOAK_ADMIN`/`KEYCLOAK_ADMIN_PASSWORD`, default `admin`/`admin`),
//!    else point its audience mappers at the requested audience.
//! 2. `docker info` or `podman info` succeeds: run the pinned image with the
//!    realm mounted and `--import-realm`.
//! 3. Otherwise the distribution: fetched once with Maven into
//!    `target/keycloak/`, run with a JDK (21 or newer preferred) from a
//!    per-run home directory (see [`dist`]).
//!
//! `KEYCLOAK_PROVISION=container|distribution` skips the detection. The
//! realm's audience (the MCP resource URL that `mcp:tools` and
//! `templates:write` add to `aud`) is rewritten before import, so a test
//! server on any port gets tokens meant for it.
//!
//! A started Keycloak is stopped when the [`Keycloak`] value is dropped,
//! including on panic, and on Ctrl-C/`SIGTERM` (see [`crate::process`]).
//!
//! `cargo xtask keycloak` starts one and waits for Ctrl-C; `cargo xtask token`
//! (in [`crate::token`]) gets tokens from it through the state file it
//! writes, `target/keycloak/state.json`.
//!
//! The submodules, by concern: [`provision`] starts or connects
//! ([`Keycloak::start`], [`StartOptions`]), [`dist`] runs the distribution,
//! [`oidc`] gets and introspects tokens ([`Token`]), [`admin`] drives the
//! Admin REST API (keys, logout, client attributes), [`cli`] is the task
//! itself and [`check`] its `--check`.

mod admin;
mod check;
mod cli;
mod dist;
mod oidc;
mod provision;
#[cfg(test)]
mod tests;

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

pub(crate) use admin::KeyAlgorithm;
pub(crate) use oidc::Token;
pub(crate) use provision::{Keycloak, REALM_FILE, StartOptions};

/// The Keycloak version of the distribution and of the container image.
pub(crate) const VERSION: &str = "26.7.3";
/// The dev realm's name.
pub(crate) const REALM: &str = "mcp";
/// The audience the realm file carries; [`StartOptions::audience`] replaces it.
pub(crate) const DEFAULT_AUDIENCE: &str = "http://localhost:8000/mcp";
/// The port `cargo xtask keycloak` uses by default: the server's default issuer
/// is `http://localhost:8080/realms/mcp`.
pub(crate) const DEV_PORT: u16 = 8080;
/// Where `cargo xtask keycloak` records the running server for `cargo xtask token`.
pub(crate) const STATE_FILE: &str = "target/keycloak/state.json";

/// The dev realm's confidential clients and their (dev-only) secrets.
pub(crate) const CLIENT_SECRETS: &[(&str, &str)] = &[
    ("mcp-server", "mcp-server-secret"),
    ("mcp-test", "mcp-test-secret"),
    ("mcp-short", "mcp-short-secret"),
];
/// The dev-only secret of the dev realm's resource client: the client whose
/// id (and `resource_url` attribute) is the MCP resource URL, the realm's
/// audience. It authenticates the server's RFC 7662 introspection calls: an
/// RFC 8707 `resource` request narrows `aud` to exactly the resource URL,
/// and Keycloak answers introspection only for a caller in `aud`, so only
/// this client can introspect every token the server accepts
/// (`mcp-server` sees narrowed tokens as `{"active": false}`).
pub(crate) const RESOURCE_CLIENT_SECRET: &str = "mcp-resource-secret";
/// Keycloak features every Keycloak this project starts enables: Client ID
/// Metadata Documents and RFC 8707 resource indicators (both experimental
/// in Keycloak 26.x; see `docs/keycloak.md`).
pub(crate) const DEV_FEATURES: &[&str] = &["cimd", "resource-indicators"];
/// The dev realm's users and their (dev-only) passwords.
pub(crate) const USERS: &[(&str, &str)] = &[("alice", "alice"), ("bob", "bob")];
/// The second realm of the multi-issuer e2e scenarios: the dev realm under
/// another name with other users, created through the Admin API by
/// [`Keycloak::ensure_second_realm`] (not by `cargo xtask keycloak` or `run-dev`).
pub(crate) const SECOND_REALM: &str = "mcp-second";
/// The second realm's users and their (dev-only) passwords: none of [`USERS`].
pub(crate) const SECOND_REALM_USERS: &[(&str, &str)] = &[("carol", "carol")];

/// The secret of a confidential client of the dev realm.
pub(crate) fn client_secret(client_id: &str) -> Option<&'static str> {
    CLIENT_SECRETS
        .iter()
        .find(|(id, _)| *id == client_id)
        .map(|(_, s)| *s)
}

/// The password of a user of the dev realm or of [`SECOND_REALM`].
pub(crate) fn user_password(user: &str) -> Option<&'static str> {
    USERS
        .iter()
        .chain(SECOND_REALM_USERS)
        .find(|(u, _)| *u == user)
        .map(|(_, p)| *p)
}

fn str_field(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn write_json(path: &Path, value: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
