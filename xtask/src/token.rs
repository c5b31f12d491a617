//! `cargo xtask token`: prints an access token from the running dev Keycloak.
//!
//! The server is `KEYCLOAK_URL` when set, else the one `cargo xtask keycloak`
//! recorded in `target/keycloak/state.json`. With `--user` the token comes
//! from the password grant, without it from the client credentials grant
//! (the client's service account). Only the token goes to stdout, so
//! `TOKEN=$(cargo xtask token --user alice)` works; `--claims` prints the
//! decoded payload to stderr.

use anyhow::Context;
use serde_json::Value;
use xshell::Shell;

use crate::flags;
use crate::keycloak::{self, Keycloak, REALM, STATE_FILE};

impl flags::Token {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let flags::Token {
            user,
            password,
            client,
            secret,
            scope,
            claims,
        } = self;
        let base_url = match std::env::var("KEYCLOAK_URL") {
            Ok(url) => url,
            Err(_) => {
                let path = sh.current_dir().join(STATE_FILE);
                let text = std::fs::read_to_string(&path)
                .with_context(|| format!("no {STATE_FILE}: start Keycloak with `cargo xtask keycloak` or set KEYCLOAK_URL"))?;
                let state: Value = serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?;
                state["base_url"]
                    .as_str()
                    .context("state file: no base_url")?
                    .to_owned()
            }
        };
        let kc = Keycloak::connect(&base_url, "admin", "admin");
        let secret = secret.or_else(|| keycloak::client_secret(&client).map(str::to_owned));
        let token = match user {
        Some(user) => {
            let password = password
                .or_else(|| keycloak::user_password(&user).map(str::to_owned))
                .with_context(|| format!("no dev password known for {user:?}: pass --password"))?;
            kc.password_token(&client, secret.as_deref(), &user, &password, &scope)
        }
        None => {
            let secret = secret.with_context(|| format!("client credentials need a confidential client; {client} has no known secret: pass --secret"))?;
            kc.client_credentials_token(&client, &secret, &scope)
        }
    }
    .with_context(|| format!("from realm {REALM} at {base_url} (is `cargo xtask keycloak` running?)"))?;
        if claims {
            eprintln!("{}", serde_json::to_string_pretty(&token.claims()?)?);
        }
        println!("{}", token.as_str());
        Ok(())
    }
}
