//! Unit tests for RFC 6750 §2.1 token extraction.

// A failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::{HeaderMap, HeaderValue, Uri, header::AUTHORIZATION};

use super::*;

fn headers(values: &[&str]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for v in values {
        map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
    }
    map
}

#[track_caller]
fn check(values: &[&str], uri: &str, expect: Result<&str, &str>) {
    let uri: Uri = uri.parse().unwrap();
    let got = extract_bearer(&headers(values), &uri);
    match (got, expect) {
        (Ok(token), Ok(want)) => assert_eq!(token.as_str(), want),
        (Err(e), Err(label)) => assert_eq!(e.kind().label(), label, "{e}"),
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
}

#[test]
fn rfc6750_no_error_without_credentials() {
    // RFC 6750 §3.1: no credentials at all, or another scheme, is "no bearer
    // credentials", answered without an error code.
    check(&[], "/mcp", Err("missing_token"));
    check(&["Basic dXNlcjpwYXNz"], "/mcp", Err("missing_token"));
    check(&["Bearerabc"], "/mcp", Err("missing_token"));
}

#[test]
fn bearer_scheme_is_case_insensitive() {
    check(&["Bearer abc.def.ghi"], "/mcp", Ok("abc.def.ghi"));
    check(&["bearer abc.def.ghi"], "/mcp", Ok("abc.def.ghi"));
    check(&["BEARER abc.def.ghi"], "/mcp", Ok("abc.def.ghi"));
    check(&["bEaReR   abc.def.ghi  "], "/mcp", Ok("abc.def.ghi"));
}

#[test]
fn rfc6750_query_token_is_invalid_request() {
    // RFC 6750 §2.3 is not supported: the query method leaks tokens into logs.
    check(&[], "/mcp?access_token=abc", Err("invalid_request"));
    check(
        &["Bearer abc"],
        "/mcp?x=1&access_token=abc",
        Err("invalid_request"),
    );
    check(&["Bearer abc"], "/mcp?access_token_hint=1", Ok("abc"));
}

#[test]
fn rfc6750_two_authorization_headers_is_invalid_request() {
    check(
        &["Bearer abc", "Bearer def"],
        "/mcp",
        Err("invalid_request"),
    );
    check(&["Bearer abc", "Basic xyz"], "/mcp", Err("invalid_request"));
}

#[test]
fn empty_bearer_token_is_invalid_request() {
    check(&["Bearer"], "/mcp", Err("invalid_request"));
    check(&["Bearer    "], "/mcp", Err("invalid_request"));
}

#[test]
fn rfc6750_b64token_syntax_enforced() {
    check(&["Bearer abc def"], "/mcp", Err("malformed"));
    check(&["Bearer abc\"def"], "/mcp", Err("malformed"));
    check(&["Bearer ===="], "/mcp", Err("malformed"));
    check(&["Bearer a-b.c_d~e+f/g=="], "/mcp", Ok("a-b.c_d~e+f/g=="));
}

#[test]
fn non_ascii_authorization_header_is_invalid_request() {
    let mut map = HeaderMap::new();
    map.insert(
        AUTHORIZATION,
        HeaderValue::from_bytes(b"Bearer \xc3\xa9t\xc3\xa9").unwrap(),
    );
    let e = extract_bearer(&map, &Uri::from_static("/mcp")).unwrap_err();
    assert_eq!(e.kind().label(), "invalid_request");
}

#[test]
fn bearer_token_debug_and_display_are_redacted() {
    let token = BearerToken::new("eyJhbGciOiJSUzI1NiJ9.secret-payload.sig");
    for shown in [format!("{token:?}"), format!("{token}")] {
        assert!(!shown.contains("secret-payload"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("39 bytes"), "{shown}");
    }
}
