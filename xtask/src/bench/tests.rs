//! Unit tests of the bench helpers that need no Keycloak: the counting
//! proxy against a scripted upstream on loopback, `/proc` CPU parsing, the
//! `/metrics` sums and the rewrite of the results section of the docs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

use super::measure::{metric_sum, stat_times};
use super::proxy::{CountingProxy, difference};
use super::report::{BEGIN, END, replace_section};

/// A one-connection upstream: answers each request with `reply(n, head)`
/// and reports every request head it received.
fn upstream(replies: Vec<Vec<u8>>) -> (String, mpsc::Receiver<String>, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        // The proxy's reachability probe connects once first.
        let (probe, _) = listener.accept().unwrap();
        drop(probe);
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        for reply in replies {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |n| n.trim().parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            head.push_str(&String::from_utf8(body).unwrap());
            tx.send(head).unwrap();
            writer.write_all(&reply).unwrap();
        }
    });
    (format!("localhost:{}", addr.port()), rx, handle)
}

fn read_response(reader: &mut BufReader<TcpStream>) -> String {
    let mut text = String::new();
    let mut len = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length: ") {
            len = n.trim().parse().unwrap();
        }
        text.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    text + &String::from_utf8(body).unwrap()
}

#[test]
fn proxy_relays_keep_alive_requests_with_bodies_and_counts_them_by_path() {
    let (upstream_host, seen, server) = upstream(vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nkeys".to_vec(),
        b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"active\":true}".to_vec(),
    ]);
    let proxy = CountingProxy::start(&upstream_host).unwrap();
    let before = proxy.snapshot();
    let addr = proxy.base_url().trim_start_matches("http://").to_owned();
    let client = TcpStream::connect(&addr).unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut writer = client;

    // Two requests on one connection (RFC 9112 §9.3 persistence).
    writer
        .write_all(format!("GET /realms/mcp/certs?x=1 HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    assert!(read_response(&mut reader).ends_with("\r\n\r\nkeys"));
    writer
        .write_all(
            format!("POST /realms/mcp/introspect HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 9\r\n\r\ntoken=abc")
                .as_bytes(),
        )
        .unwrap();
    assert!(read_response(&mut reader).ends_with("{\"active\":true}"));

    let first = seen.recv().unwrap();
    let second = seen.recv().unwrap();
    // Host names the upstream, as if the request had been sent to it.
    assert!(first.contains(&format!("host: {upstream_host}")), "{first}");
    assert!(second.ends_with("token=abc"), "{second}");
    let counts = difference(&before, &proxy.snapshot());
    assert_eq!(counts.get("/realms/mcp/certs"), Some(&1));
    assert_eq!(counts.get("/realms/mcp/introspect"), Some(&1));
    assert_eq!(counts.len(), 2);
    drop(writer);
    server.join().unwrap();
}

#[test]
fn proxy_relays_a_chunked_response_intact_and_keeps_the_connection() {
    let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let (upstream_host, _seen, server) = upstream(vec![
        chunked.to_vec(),
        b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
    ]);
    let proxy = CountingProxy::start(&upstream_host).unwrap();
    let addr = proxy.base_url().trim_start_matches("http://").to_owned();
    let mut client = TcpStream::connect(&addr).unwrap();
    client
        .write_all(format!("GET /a HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let mut got = vec![0; chunked.len()];
    client.read_exact(&mut got).unwrap();
    assert_eq!(got, chunked);
    // The same connection still works: a 204 carries no body.
    client
        .write_all(format!("GET /b HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let expected = b"HTTP/1.1 204 No Content\r\n\r\n";
    let mut got = vec![0; expected.len()];
    client.read_exact(&mut got).unwrap();
    assert_eq!(got, expected);
    drop(client);
    server.join().unwrap();
}

#[test]
fn proc_stat_fields_are_counted_after_the_last_parenthesis() {
    // A command name with a space and a parenthesis must not shift fields.
    let stat =
        "4242 (tokio rt) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 89 10 20 0 8 0 100";
    assert_eq!(stat_times(stat).unwrap(), (1234, 567, 89, 10));
    assert!(stat_times("4242 (short) S 1").is_err());
}

#[test]
fn metric_sum_adds_every_label_set_of_one_counter_only() {
    let text = "\
# TYPE mcp_jwks_fetches_total counter
mcp_jwks_fetches_total{result=\"ok\"} 2
mcp_jwks_fetches_total{result=\"error\"} 1
mcp_jwks_fetches_total_created 1700000000
mcp_introspection_calls_total 5
";
    assert_eq!(metric_sum(text, "mcp_jwks_fetches_total"), 3.0);
    assert_eq!(metric_sum(text, "mcp_introspection_calls_total"), 5.0);
    assert_eq!(metric_sum(text, "mcp_token_cache_hits_total"), 0.0);
}

#[test]
fn docs_section_between_markers_is_replaced_and_the_rest_kept() {
    let doc = format!("# Title\n\nintro\n\n{BEGIN}\nold\n{END}\n\n## Analysis\n");
    let new = replace_section(&doc, "new table");
    assert_eq!(
        new,
        format!("# Title\n\nintro\n\n{BEGIN}\n\nnew table\n\n{END}\n\n## Analysis\n")
    );
    // Without markers the section is appended.
    let appended = replace_section("# Title\n", "t");
    assert!(appended.starts_with("# Title\n\n## Results\n\n"));
    assert!(appended.contains(&format!("{BEGIN}\n\nt\n\n{END}")));
}

#[test]
fn group_cpu_counts_every_member_of_the_process_group() {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let pgid: u32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    // Burn a little CPU so this process has ticks of its own.
    let start = std::time::Instant::now();
    let mut x = 0u64;
    while start.elapsed() < std::time::Duration::from_millis(50) {
        x = x.wrapping_add(std::hint::black_box(1));
    }
    let own = super::measure::process_ticks(std::process::id()).unwrap();
    // Read after: the group holds this process, whose ticks only grow.
    assert!(super::measure::group_ticks(pgid).unwrap() >= own, "{x}");
    assert_eq!(super::measure::group_ticks(u32::MAX).unwrap(), 0);
}
