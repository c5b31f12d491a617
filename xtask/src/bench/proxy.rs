//! A counting HTTP/1.1 reverse proxy in front of Keycloak: every request a
//! bench target sends to the identity provider (JWKS fetch, introspection,
//! discovery) passes through it and is counted by path, so the bench can
//! say how many IdP requests a target made during its measured window
//! without trusting the target's own metrics.
//!
//! One thread accepts; one thread per client connection relays requests to
//! its own upstream connection, in order, with keep-alive on both sides.
//! Messages are framed as RFC 9112 §6 says: a request body by
//! `Content-Length` or `chunked`, a response body likewise, none for 1xx,
//! 204, 304 and `HEAD`, or up to EOF (then the client connection closes
//! too). Bodies are buffered whole: the IdP's answers are a few KiB. `Host`
//! is rewritten to the upstream's (`localhost:PORT`), so Keycloak sees the
//! request as if it had been sent to it directly. An upstream connection
//! that the server closed while idle is reopened once for the next request.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};

/// The largest request or response head the proxy accepts.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The largest body the proxy buffers.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Read timeout on the upstream side: a hung IdP fails the request.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests seen, by path (without the query).
pub(crate) type Counts = BTreeMap<String, u64>;

/// A running proxy; it stops accepting when dropped (open connections end
/// when their clients close them).
pub(crate) struct CountingProxy {
    addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
    stopped: Arc<AtomicBool>,
}

impl CountingProxy {
    /// Listens on `127.0.0.1:0` and relays to `upstream` (`host:port`, also
    /// the `Host` header sent upstream).
    pub(crate) fn start(upstream: &str) -> anyhow::Result<CountingProxy> {
        let upstream_addr = reachable(upstream)?;
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the counting proxy")?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(Counts::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let host = upstream.to_owned();
        let (accept_counts, accept_stopped) = (Arc::clone(&counts), Arc::clone(&stopped));
        std::thread::Builder::new()
            .name("bench-proxy".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let counts = Arc::clone(&accept_counts);
                    let host = host.clone();
                    let _ = std::thread::Builder::new()
                        .name("bench-proxy-conn".into())
                        .spawn(move || {
                            if let Err(e) = relay(stream, upstream_addr, &host, &counts) {
                                eprintln!("bench: proxy connection ended: {e}");
                            }
                        });
                }
            })
            .context("spawning the proxy thread")?;
        Ok(CountingProxy {
            addr,
            counts,
            stopped,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counts so far.
    pub(crate) fn snapshot(&self) -> Counts {
        lock(&self.counts).clone()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// `after - before`, per path, leaving out paths without requests.
pub(crate) fn difference(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .map(|(path, n)| (path.clone(), n - before.get(path).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The first address of `host:port` that accepts a connection (`localhost`
/// may resolve to `::1` first while the server listens on IPv4 only).
fn reachable(upstream: &str) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = upstream
        .to_socket_addrs()
        .with_context(|| format!("resolving {upstream}"))?
        .collect();
    for addr in &addrs {
        if TcpStream::connect_timeout(addr, Duration::from_secs(2)).is_ok() {
            return Ok(*addr);
        }
    }
    bail!("nothing accepts connections at {upstream} ({addrs:?})")
}

/// A parsed message head, with its raw lines kept for forwarding.
struct Head {
    /// Request line or status line, without the line end.
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the sender of this head will close the connection after the
    /// message: `Connection: close`, or HTTP/1.0 without keep-alive.
    fn closes(&self, version: &str) -> bool {
        self.has_token("connection", "close")
            || (version == "HTTP/1.0" && !self.has_token("connection", "keep-alive"))
    }

    /// Serialises the head, replacing `Host` with `host` when given.
    fn write_to(&self, out: &mut Vec<u8>, host: Option<&str>) {
        out.extend_from_slice(self.start.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            let value = match host {
                Some(host) if name.eq_ignore_ascii_case("host") => host,
                _ => value,
            };
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads a message head; `None` on a clean EOF before its first byte.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut lines: Vec<String> = Vec::new();
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            if lines.is_empty() && total == 0 {
                return Ok(None);
            }
            return Err(invalid("EOF inside a message head"));
        }
        total += n;
        if total > MAX_HEAD_BYTES {
            return Err(invalid("message head too large"));
        }
        let line = String::from_utf8(line).map_err(|_| invalid("head is not UTF-8"))?;
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if lines.is_empty() {
                // RFC 9112 §2.2: ignore empty lines before a request line.
                continue;
            }
            break;
        }
        lines.push(line.to_owned());
    }
    let mut lines = lines.into_iter();
    let start = lines.next().unwrap_or_default();
    let headers = lines
        .map(|l| {
            let (name, value) = l
                .split_once(':')
                .ok_or_else(|| invalid("header line without a colon"))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok(Some(Head { start, headers }))
}

/// How a body is delimited (RFC 9112 §6.3).
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilEof,
}

fn framing(head: &Head, is_request: bool) -> io::Result<Framing> {
    if head
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().trim_end().ends_with("chunked"))
    {
        return Ok(Framing::Chunked);
    }
    if let Some(len) = head.header("content-length") {
        let len: usize = len.parse().map_err(|_| invalid("bad Content-Length"))?;
        if len > MAX_BODY_BYTES {
            return Err(invalid("body too large"));
        }
        return Ok(Framing::Length(len));
    }
    Ok(if is_request {
        Framing::None
    } else {
        Framing::UntilEof
    })
}

/// Reads a body as framed, appending its raw bytes (chunk framing kept).
fn read_body(r: &mut impl BufRead, framing: &Framing, out: &mut Vec<u8>) -> io::Result<()> {
    match framing {
        Framing::None => Ok(()),
        Framing::Length(n) => {
            let start = out.len();
            out.resize(start + n, 0);
            r.read_exact(&mut out[start..])
        }
        Framing::UntilEof => {
            r.take(MAX_BODY_BYTES as u64 + 1).read_to_end(out)?;
            if out.len() > MAX_BODY_BYTES {
                return Err(invalid("body too large"));
            }
            Ok(())
        }
        Framing::Chunked => loop {
            let mut line = Vec::new();
            if r.read_until(b'\n', &mut line)? == 0 {
                return Err(invalid("EOF inside a chunked body"));
            }
            out.extend_from_slice(&line);
            let text = std::str::from_utf8(&line).map_err(|_| invalid("bad chunk size"))?;
            let size = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                // Trailer section, up to the empty line.
                loop {
                    let mut trailer = Vec::new();
                    if r.read_until(b'\n', &mut trailer)? == 0 {
                        return Err(invalid("EOF inside the trailers"));
                    }
                    out.extend_from_slice(&trailer);
                    if trailer == b"\r\n" || trailer == b"\n" {
                        return Ok(());
                    }
                }
            }
            if out.len() + size > MAX_BODY_BYTES {
                return Err(invalid("body too large"));
            }
            let start = out.len();
            out.resize(start + size + 2, 0); // the data and its CRLF
            r.read_exact(&mut out[start..])?;
        },
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

struct Upstream {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Upstream {
    fn connect(addr: SocketAddr) -> io::Result<Upstream> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(UPSTREAM_TIMEOUT))?;
        Ok(Upstream {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends one request, reads the final response (forwarding nothing yet):
    /// the raw bytes (interim 1xx responses included) and whether the
    /// upstream closes the connection after it.
    fn exchange(&mut self, request: &[u8], head_only: bool) -> io::Result<(Vec<u8>, bool)> {
        self.writer.write_all(request)?;
        let mut out = Vec::new();
        loop {
            let head = read_head(&mut self.reader)?
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "upstream closed"))?;
            let mut parts = head.start.split_whitespace();
            let version = parts.next().unwrap_or("").to_owned();
            let status: u16 = parts
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| invalid("bad status line"))?;
            head.write_to(&mut out, None);
            if (100..200).contains(&status) {
                continue;
            }
            let framing = if head_only || status == 204 || status == 304 {
                Framing::None
            } else {
                framing(&head, false)?
            };
            let until_eof = matches!(framing, Framing::UntilEof);
            read_body(&mut self.reader, &framing, &mut out)?;
            return Ok((out, until_eof || head.closes(&version)));
        }
    }
}

/// Relays the requests of one client connection, counting each by path.
fn relay(
    client: TcpStream,
    upstream_addr: SocketAddr,
    host: &str,
    counts: &Mutex<Counts>,
) -> io::Result<()> {
    client.set_nodelay(true)?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = client;
    let mut upstream: Option<Upstream> = None;
    loop {
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        let mut parts = head.start.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let version = parts.next().unwrap_or("").to_owned();
        let path = target.split('?').next().unwrap_or("").to_owned();
        *lock(counts).entry(path).or_insert(0) += 1;

        let mut request = Vec::new();
        head.write_to(&mut request, Some(host));
        read_body(&mut reader, &framing(&head, true)?, &mut request)?;
        let client_closes = head.closes(&version);

        let mut retried = false;
        let (response, upstream_closes) = loop {
            let reused = upstream.is_some();
            let conn = match upstream.as_mut() {
                Some(conn) => conn,
                None => upstream.insert(Upstream::connect(upstream_addr)?),
            };
            match conn.exchange(&request, method.eq_ignore_ascii_case("HEAD")) {
                Ok(reply) => break reply,
                // An idle keep-alive connection the server closed: once more
                // on a fresh one.
                Err(_) if reused && !retried => {
                    upstream = None;
                    retried = true;
                }
                Err(e) => {
                    let _ = writer.write_all(
                        b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    return Err(e);
                }
            }
        };
        writer.write_all(&response)?;
        if upstream_closes {
            // A response delimited by EOF cannot be re-framed for a
            // keep-alive client: close this side as well.
            return Ok(());
        }
        if client_closes {
            return Ok(());
        }
    }
}
