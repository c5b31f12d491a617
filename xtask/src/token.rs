//! `cargo xtask token`: prints an access token from the running dev Keycloak.
//!
//! The server is `KEYCLOAK_URL` when set, else the one `cargo xtask keycloak`
//! recorded in `target/keycloak/state.json`. With `--user` the token comes
//! from the password grant, without it from the client credentials grant
//! (the client's service account). Only the token goes to stdout, so
//! `TOKEN=$(cargo xtask token --user alice)` works; `--claims` prints the
//! decoded payload to stderr.

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::Shell;

use crate::keycloak::{self, Keycloak, REALM, STATE_FILE};

const USAGE: &str = "usage: cargo xtask token [--user NAME [--password P]] [--client ID (default mcp-test)] \
     [--secret S] [--scope \"mcp:tools templates:write\" (default mcp:tools)] [--claims]";

pub(crate) fn run(sh: &Shell, args: &[String]) -> anyhow::Result<()> {
    let mut user = None;
    let mut password = None;
    let mut client = "mcp-test".to_owned();
    let mut secret = None;
    let mut scope = "mcp:tools".to_owned();
    let mut claims = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--user" => user = Some(value("--user")?),
            "--password" => password = Some(value("--password")?),
            "--client" => client = value("--client")?,
            "--secret" => secret = Some(value("--secret")?),
            "--scope" => scope = value("--scope")?,
            "--claims" => claims = true,
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
    }

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
