//! `cargo xtask run-dev`: Keycloak with the dev realm plus the server, with
//! the embedded defaults, until Ctrl-C.
//!
//! Order: check the ports, copy the shipped templates into
//! `target/dev-templates/` (first run only, so dev edits never touch
//! `templates/`), build the server, start Keycloak (see [`crate::keycloak`]),
//! start the server binary from `target/` in its own process group (see
//! [`crate::process`]) with introspection configured, wait for its `/readyz`,
//! then print how to use it. Ctrl-C stops the server first, then Keycloak.
//!
//! `--keycloak-url URL` is the same as `KEYCLOAK_URL=URL`: [`Keycloak::start`]
//! reads only the environment variable, and the standard library offers no
//! safe way to set one in a running process, so run-dev re-executes itself
//! with the variable set.

#[cfg(test)]
mod tests;

use std::net::TcpListener;
use std::os::fd::AsFd as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use xshell::{Shell, cmd};

use crate::flags;
use crate::http::Http;
use crate::keycloak::{self, Keycloak, REALM, STATE_FILE, StartOptions};
use crate::process::{Guard, ProcessGroup, RemovePath, Stop};

/// The server's default port (its default `bind` and `public_url`).
pub(crate) const DEFAULT_PORT: u16 = 8000;
/// Where the shipped templates are copied on the first run.
const DEV_TEMPLATES: &str = "target/dev-templates";
/// How long the server may take to answer 200 on `/readyz` (it loads the JWKS).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to shut down gracefully before `SIGKILL`.
const SERVER_GRACE: Duration = Duration::from_secs(10);

impl flags::RunDev {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        run(sh, self)
    }
}

fn run(sh: &Shell, opts: flags::RunDev) -> anyhow::Result<()> {
    if let Some(url) = &opts.keycloak_url {
        let args: Vec<String> = std::env::args().skip(2).collect();
        return reexec_with_keycloak_url(url, &args);
    }
    let external = std::env::var("KEYCLOAK_URL").ok();
    if let (Some(url), Some(_)) = (&external, opts.keycloak_port) {
        bail!("KEYCLOAK_URL={url} is set, so no Keycloak is started: drop --keycloak-port");
    }
    let root = sh.current_dir();

    // Fail on a taken port now, not after a build and a minute of Keycloak.
    ensure_free(opts.port).with_context(|| {
        format!(
            "the server port {} is in use: stop whatever listens there, or pass --port N",
            opts.port
        )
    })?;
    let keycloak_port = opts.keycloak_port.unwrap_or(keycloak::DEV_PORT);
    if external.is_none() {
        ensure_free(keycloak_port).with_context(|| {
            format!(
                "the Keycloak port {keycloak_port} is in use (another `cargo xtask keycloak` or run-dev?): \
                 pass --keycloak-port N to start Keycloak on port N (the server then gets \
                 --issuer http://localhost:N/realms/{REALM}), or --keycloak-url http://localhost:{keycloak_port} \
                 to use the Keycloak already running there"
            )
        })?;
    }

    let (templates, templates_note) = match &opts.templates {
        Some(dir) => {
            let dir = root.join(dir);
            if !dir.is_dir() {
                bail!("--templates {}: not a directory", dir.display());
            }
            (dir, "")
        }
        None => {
            let dir = root.join(DEV_TEMPLATES);
            let note = if copy_dir_once(&root.join("templates"), &dir)? {
                "(copied from templates/ just now; delete it to start over)"
            } else {
                "(a copy of templates/; delete it to start over)"
            };
            (dir, note)
        }
    };

    let binary = build_server(sh, &root, opts.release)?;

    // Registered before Keycloak's guards, so the signal thread (which stops
    // guards in registration order) stops the server before Keycloak.
    let server_slot = Arc::new(ServerSlot::default());
    let _server_first = Guard::new(Arc::clone(&server_slot) as Arc<dyn Stop>)?;

    let public_url = format!("http://localhost:{}", opts.port);
    let resource = format!("{public_url}/mcp");
    let mut kc_opts = StartOptions::new(resource.clone())?;
    kc_opts.http_port = Some(keycloak_port);
    kc_opts.extra_redirect_uris.clone_from(&opts.redirect_uris);
    let kc = Keycloak::start(sh, &kc_opts)?;
    let issuer = kc.issuer(REALM);
    let state = write_state(&root, kc.base_url(), &resource)?;

    let introspection = kc.oidc_url("token/introspect");
    let mut server_cmd = Command::new(&binary);
    server_cmd
        .current_dir(&root)
        .arg("--bind")
        .arg(format!("127.0.0.1:{}", opts.port))
        .args(["--public-url", &public_url])
        .arg("--templates-dir")
        .arg(&templates)
        .args(["--issuer", &issuer])
        .args(["--introspection-endpoint", &introspection])
        // The resource client: it stays in `aud` when a client narrows it
        // with an RFC 8707 `resource` (see `keycloak::RESOURCE_CLIENT_SECRET`).
        .args(["--introspection-client-id", &resource])
        .args(&opts.server_args)
        .env(
            "MCP_INTROSPECTION_CLIENT_SECRET",
            keycloak::RESOURCE_CLIENT_SECRET,
        );
    // The server logs to our stderr: a dev wants to see its requests.
    let log = std::fs::File::from(
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating stderr for the server's log")?,
    );
    eprintln!("run-dev: starting {}", binary.display());
    let (server, _server_guard) =
        ProcessGroup::spawn("mcp-file-templates", server_cmd, &log, SERVER_GRACE)?;
    server_slot.set(Arc::clone(&server));
    wait_ready(&server, opts.port)?;

    let started = match kc.log_file() {
        Some(_) => format!(
            "Keycloak {} started in {:.0} s",
            keycloak::VERSION,
            kc.started_in().as_secs_f64()
        ),
        None => format!("Keycloak at {}", kc.base_url()),
    };
    println!(
        "{}",
        banner(&Banner {
            resource: &resource,
            public_url: &public_url,
            issuer: &issuer,
            keycloak: kc.base_url(),
            keycloak_note: &started,
            keycloak_log: kc.log_file(),
            templates: &templates,
            templates_note,
            token_prefix: if state.is_some() {
                String::new()
            } else {
                format!("KEYCLOAK_URL={} ", kc.base_url())
            },
        })
    );

    loop {
        if let Some(status) = server.exited() {
            bail!("the server exited ({status}); its log is above");
        }
        if let Some(status) = kc.exited() {
            bail!("Keycloak exited ({status})\n{}", kc.log_tail(40));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs this xtask again with `KEYCLOAK_URL` set and `--keycloak-url` removed.
fn reexec_with_keycloak_url(url: &str, args: &[String]) -> anyhow::Result<()> {
    let rest = without_keycloak_url(args);
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let err = Command::new(&exe)
        .arg("run-dev")
        .args(&rest)
        .env("KEYCLOAK_URL", url)
        .exec();
    Err(err).with_context(|| format!("re-running {} with KEYCLOAK_URL={url}", exe.display()))
}

/// `args` (run-dev's own, after the task name) without `--keycloak-url URL`
/// or `--keycloak-url=URL`; what follows `--` is the server's and stays.
fn without_keycloak_url(args: &[String]) -> Vec<String> {
    let mut rest = Vec::with_capacity(args.len());
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            rest.push(arg.clone());
            rest.extend(args.by_ref().cloned());
        } else if arg == "--keycloak-url" {
            args.next();
        } else if !arg.starts_with("--keycloak-url=") {
            rest.push(arg.clone());
        }
    }
    rest
}

pub(crate) fn ensure_free(port: u16) -> anyhow::Result<()> {
    TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .with_context(|| format!("binding 127.0.0.1:{port}"))
}

/// Copies `from` to `to` unless `to` exists; `true` if it copied. The copy
/// goes to a temporary sibling first, so an interrupted copy never leaves a
/// half-filled `to` behind.
fn copy_dir_once(from: &Path, to: &Path) -> anyhow::Result<bool> {
    if to.exists() {
        return Ok(false);
    }
    let parent = to.parent().context("the templates copy has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(".dev-templates-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    copy_tree(from, &tmp)?;
    std::fs::rename(&tmp, to)
        .with_context(|| format!("renaming {} to {}", tmp.display(), to.display()))?;
    Ok(true)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| {
                format!("copying {} to {}", entry.path().display(), target.display())
            })?;
        }
    }
    Ok(())
}

/// `cargo build -p mcp-file-templates` and the path of the binary.
pub(crate) fn build_server(sh: &Shell, root: &Path, release: bool) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let profile: &[&str] = if release { &["--release"] } else { &[] };
    cmd!(sh, "{cargo} build -p mcp-file-templates {profile...}")
        .run()
        .context("building the server")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"));
    let binary = target
        .join(if release { "release" } else { "debug" })
        .join("mcp-file-templates");
    if !binary.is_file() {
        bail!("the build produced no {}", binary.display());
    }
    Ok(binary)
}

/// Records Keycloak for `cargo xtask token`, unless another live xtask owns
/// the state file; the guard removes the file again.
pub(crate) fn write_state(
    root: &Path,
    base_url: &str,
    audience: &str,
) -> anyhow::Result<Option<Guard>> {
    let path = root.join(STATE_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let owner = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|state| state["pid"].as_u64());
        if owner.is_some_and(process_alive) {
            return Ok(None);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let state = json!({
        "base_url": base_url,
        "realm": REALM,
        "audience": audience,
        "pid": std::process::id(),
    });
    std::fs::write(&path, serde_json::to_string_pretty(&state)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(Guard::new(Arc::new(RemovePath(path)))?))
}

fn process_alive(pid: u64) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Polls `/readyz` until 200 (signing keys loaded), the server exits, or
/// [`READY_TIMEOUT`].
fn wait_ready(server: &ProcessGroup, port: u16) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let http = Http::new(Duration::from_secs(2));
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = server.exited() {
            bail!("the server exited ({status}) before it was ready; its log is above");
        }
        if http.get(&url, None).is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the server did not answer 200 on {url} within {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The server's process group, once started: lets a guard registered before
/// Keycloak's stop the server first on Ctrl-C.
#[derive(Default)]
struct ServerSlot(Mutex<Option<Arc<ProcessGroup>>>);

impl ServerSlot {
    fn set(&self, server: Arc<ProcessGroup>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(server);
    }
}

impl Stop for ServerSlot {
    fn stop(&self) {
        let server = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            server.stop();
        }
    }
}

/// What the banner shows.
struct Banner<'a> {
    resource: &'a str,
    public_url: &'a str,
    issuer: &'a str,
    keycloak: &'a str,
    keycloak_note: &'a str,
    keycloak_log: Option<&'a Path>,
    templates: &'a Path,
    templates_note: &'a str,
    /// `KEYCLOAK_URL=… ` when `cargo xtask token` cannot find Keycloak itself.
    token_prefix: String,
}

/// The text printed once the server is ready.
fn banner(b: &Banner<'_>) -> String {
    let Banner {
        resource,
        public_url,
        issuer,
        keycloak,
        keycloak_note,
        templates,
        templates_note,
        token_prefix,
        ..
    } = b;
    let templates = templates.display();
    let keycloak_log = b
        .keycloak_log
        .map(|log| format!("\n  Keycloak log   {}", log.display()))
        .unwrap_or_default();
    format!(
        r#"
mcp-file-templates is ready ({keycloak_note}).

  MCP endpoint   {resource}   (Streamable HTTP)
  templates      {templates} {templates_note}
  issuer         {issuer}   (admin console {keycloak}/admin/, admin / admin)
  introspection  client {resource} (the resource itself): verify-online tools (delete_template) re-check the token
  metadata       {public_url}/.well-known/oauth-protected-resource/mcp
  health         {public_url}/readyz   metrics {public_url}/metrics{keycloak_log}

Users of the realm {REALM}:
  alice / alice   mcp:tools templates:write   list, get, render, save, delete templates
  bob / bob       mcp:tools                   list, get, render (save/delete: 403 insufficient_scope)

Token (lives 5 minutes; run again when it expires):
  TOKEN=$({token_prefix}cargo xtask token --user alice --scope "mcp:tools templates:write")

curl (initialize, then tools/list; works with and without MCP sessions):
  mcp() {{ curl -sS {resource} -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H 'MCP-Protocol-Version: 2025-06-18' ${{SID:+-H "Mcp-Session-Id: $SID"}} "$@"; echo; }}
  unset SID; SID=$(mcp -o /dev/null -D - -d '{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"curl","version":"1"}}}}}}' | awk 'tolower($1)=="mcp-session-id:"{{print $2}}' | tr -d '\r')
  mcp -d '{{"jsonrpc":"2.0","method":"notifications/initialized"}}'
  mcp -d '{{"jsonrpc":"2.0","id":2,"method":"tools/list"}}'

MCP Inspector (needs Node.js 22 or newer): npx @modelcontextprotocol/inspector
  Transport Type: Streamable HTTP   URL: {resource}
  OAuth: Client ID mcp-client (public, PKCE), Scope "mcp:tools templates:write". Enter the
    client id: Keycloak refuses anonymous dynamic client registration.
  Or without OAuth: header Authorization = Bearer <the $TOKEN above>.
  More: docs/mcp-inspector.md

Ctrl-C stops the server, then Keycloak."#
    )
}
