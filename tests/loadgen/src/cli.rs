//! Command line: raw flags (clap), then the checked values a run needs.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::Parser;
use http::{HeaderValue, Uri};

use crate::worker::Mode;

/// Load generator for MCP `tools/call` over Streamable HTTP (bench only).
///
/// Keeps `--concurrency` HTTP/1.1 keep-alive connections busy, one request
/// in flight on each, for `--warmup` (not measured) and then `--duration`.
/// Prints one line of JSON on stdout and a summary on stderr. Exits 1 when
/// no request succeeded in the measured window.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
pub(crate) struct Args {
    /// MCP endpoint, e.g. http://127.0.0.1:8080/mcp (plain http only: the
    /// bench runs on loopback).
    #[arg(long)]
    pub(crate) url: String,
    /// Connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    pub(crate) concurrency: usize,
    /// Measured window: `10s`, `500ms`, `1m`, or plain seconds.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) duration: Duration,
    /// Unmeasured warm-up before the window (connections and sessions are
    /// opened here).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) warmup: Duration,
    /// Per-request timeout; a timed-out request is an error and its
    /// connection is reopened.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// File with one access token per line; requests rotate through them
    /// round-robin (in session mode each connection keeps one). Without it no
    /// Authorization header is sent.
    #[arg(long)]
    pub(crate) tokens_file: Option<PathBuf>,
    /// `stateless`: bare tools/call POSTs. `session`: initialize +
    /// notifications/initialized per connection, then Mcp-Session-Id.
    #[arg(long, value_enum, default_value_t = Mode::Stateless)]
    pub(crate) mode: Mode,
    /// Tool to call.
    #[arg(long, default_value = "render_template")]
    pub(crate) tool: String,
    /// Tool arguments, a JSON object.
    #[arg(long, default_value = "{}")]
    pub(crate) args: String,
    /// Value of the MCP-Protocol-Version header (and of initialize's
    /// protocolVersion).
    #[arg(long, default_value = "2025-06-18")]
    pub(crate) protocol_version: String,
    /// Runtime threads of the load generator. One keeps it off the
    /// target's cores as far as possible on a small machine.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Free text copied into the report (e.g. the bench target's name).
    #[arg(long)]
    pub(crate) label: Option<String>,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub(crate) json_out: Option<PathBuf>,
}

/// Where to send requests, from `--url`.
#[derive(Debug)]
pub(crate) struct Target {
    /// First resolved address.
    pub(crate) addr: SocketAddr,
    /// `Host` header: the URL's authority.
    pub(crate) host: HeaderValue,
    /// Path and query.
    pub(crate) path: String,
}

impl Args {
    /// Checks the numeric flags.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        ensure!(self.concurrency >= 1, "--concurrency must be at least 1");
        ensure!(self.threads >= 1, "--threads must be at least 1");
        ensure!(!self.duration.is_zero(), "--duration must be positive");
        ensure!(!self.timeout.is_zero(), "--timeout must be positive");
        Ok(())
    }

    /// The `params` of every `tools/call`: `{"name": tool, "arguments": args}`.
    pub(crate) fn call_params(&self) -> anyhow::Result<String> {
        let args: serde_json::Value =
            serde_json::from_str(&self.args).context("--args is not valid JSON")?;
        ensure!(args.is_object(), "--args must be a JSON object");
        Ok(serde_json::json!({ "name": self.tool, "arguments": args }).to_string())
    }
}

/// Parses and resolves an `http://host[:port]/path` URL.
pub(crate) fn target(url: &str) -> anyhow::Result<Target> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("--url {url:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => bail!("--url: scheme {other:?} is not supported (plain http only)"),
        None => bail!("--url {url:?} has no scheme (expected http://host:port/path)"),
    }
    let authority = uri
        .authority()
        .with_context(|| format!("--url {url:?} has no host"))?;
    let port = authority.port_u16().unwrap_or(80);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolve {host}:{port}"))?
        .next()
        .with_context(|| format!("{host}:{port} resolves to no address"))?;
    Ok(Target {
        addr,
        host: HeaderValue::from_str(authority.as_str())?,
        path: uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
    })
}

/// `Authorization` values from a tokens file: one token per line, blank
/// lines skipped. Errors name the line, never the token.
pub(crate) fn bearer_values(text: &str) -> anyhow::Result<Vec<HeaderValue>> {
    let mut values = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let token = line.trim();
        if token.is_empty() {
            continue;
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .ok()
            .filter(|_| !token.contains(char::is_whitespace))
            .with_context(|| format!("line {} of the tokens file is not a token", n + 1))?;
        value.set_sensitive(true);
        values.push(value);
    }
    ensure!(!values.is_empty(), "the tokens file has no token");
    Ok(values)
}

/// `10s`, `250ms`, `2m`, `1.5s` or plain seconds (`3`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 10s, 500ms, 1m)"))?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("{s:?} is not a non-negative duration"))
}

#[cfg(test)]
mod tests;
