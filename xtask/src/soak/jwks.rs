//! A loopback static file server for the soak's JWKS: one thread, one
//! document, `200 application/json` to every request, `Connection: close`.
//!
//! The server under soak fetches its keys at start and then every JWKS TTL
//! (a handful of times per hour), so throughput does not matter here; the
//! request counter shows that validation makes no per-request key fetch.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;

/// A running JWKS server. Its thread ends with the xtask process.
pub(crate) struct JwksServer {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
}

impl JwksServer {
    /// Binds `127.0.0.1:0` and serves `document` from a background thread.
    pub(crate) fn start(document: String) -> anyhow::Result<JwksServer> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind the JWKS server")?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&requests);
        std::thread::Builder::new()
            .name("soak-jwks".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    if answer(stream, &document).is_ok() {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .context("spawn the JWKS server thread")?;
        Ok(JwksServer { addr, requests })
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests answered so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Reads the request head (bounded) and answers with the document.
fn answer(mut stream: TcpStream, document: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{document}",
        document.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}
