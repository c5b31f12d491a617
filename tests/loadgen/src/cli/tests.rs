//! Unit tests for the load generator's command line.

use std::time::Duration;

use clap::Parser;

use super::{Args, bearer_values, parse_duration, target};

#[test]
fn durations_take_s_ms_m_suffixes_or_plain_seconds() {
    assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
    assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
}

#[test]
fn bad_durations_are_rejected() {
    for bad in ["", "ten", "-1s", "1h", "NaNs"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn tokens_file_skips_blank_lines_and_marks_values_sensitive() {
    let values = bearer_values("a.b.c\n\n  d.e.f  \r\n").unwrap_or_default();
    assert_eq!(values.len(), 2);
    assert_eq!(values[0], "Bearer a.b.c");
    assert_eq!(values[1], "Bearer d.e.f");
    assert!(values.iter().all(http::HeaderValue::is_sensitive));
}

#[test]
fn tokens_file_errors_name_the_line_not_the_token() {
    let err = bearer_values("good\nsecret with space\n").map(|_| ());
    let message = format!("{:#}", err.err().map(|e| e.to_string()).unwrap_or_default());
    assert!(message.contains("line 2"), "{message}");
    assert!(!message.contains("secret"), "{message}");
    assert!(bearer_values("\n\n").is_err());
}

#[test]
fn target_takes_http_urls_with_host_port_and_path() {
    let t = match target("http://127.0.0.1:8080/mcp?x=1") {
        Ok(t) => t,
        Err(e) => panic!("{e:#}"),
    };
    assert_eq!(t.addr.to_string(), "127.0.0.1:8080");
    assert_eq!(t.host, "127.0.0.1:8080");
    assert_eq!(t.path, "/mcp?x=1");
}

#[test]
fn target_refuses_https_and_scheme_less_urls() {
    assert!(target("https://127.0.0.1:8443/mcp").is_err());
    assert!(target("127.0.0.1:8080/mcp").is_err());
}

#[test]
fn tool_arguments_must_be_a_json_object() {
    let parse = |args: &str| {
        Args::try_parse_from(["loadgen", "--url", "http://127.0.0.1:1/mcp", "--args", args])
            .map_err(|e| e.to_string())
            .and_then(|a| a.call_params().map_err(|e| e.to_string()))
    };
    let params = parse(r#"{"name":"readme","variables":{"project":"x"}}"#)
        .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).map_err(|e| e.to_string()));
    assert_eq!(
        params,
        Ok(serde_json::json!({
            "name": "render_template",
            "arguments": {"name": "readme", "variables": {"project": "x"}}
        }))
    );
    assert!(parse("[1]").is_err());
    assert!(parse("{").is_err());
}

#[test]
fn defaults_are_32_connections_10s_after_2s_warmup() {
    let args = Args::try_parse_from(["loadgen", "--url", "http://127.0.0.1:1/mcp"]);
    let args = args.map_err(|e| e.to_string());
    assert_eq!(args.as_ref().map(|a| a.concurrency), Ok(32));
    assert_eq!(
        args.as_ref().map(|a| a.duration),
        Ok(Duration::from_secs(10))
    );
    assert_eq!(args.as_ref().map(|a| a.warmup), Ok(Duration::from_secs(2)));
    assert_eq!(args.as_ref().map(|a| a.threads), Ok(1));
}
