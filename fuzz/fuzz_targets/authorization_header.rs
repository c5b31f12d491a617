//! Arbitrary `Authorization` header values and request URIs into
//! `auth::extract_bearer` (RFC 6750 §2.1; §2.3 query tokens refused).
//!
//! Oracles besides "no panic": a token is returned only from exactly one
//! `Authorization` header whose scheme is `Bearer` (any case), only when
//! the query has no `access_token` parameter, and only as non-empty
//! `b64token` syntax that appears in the header; `BearerToken`'s `Debug`
//! and `Display` never show it.

#![no_main]

use arbitrary::Arbitrary;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Each becomes one `Authorization` header when it is a valid value.
    values: Vec<Value>,
    /// Path and query, e.g. `/mcp?access_token=x`.
    uri: String,
}

#[derive(Arbitrary, Debug)]
enum Value {
    /// Any bytes.
    Bytes(Vec<u8>),
    /// `<scheme> <rest>` with a scheme the fuzzer rarely finds by itself.
    Scheme(Scheme, String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Scheme {
    Bearer,
    Lower,
    Upper,
    Basic,
}

impl Value {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Bytes(b) => b.clone(),
            Value::Scheme(scheme, rest) => {
                let scheme = match scheme {
                    Scheme::Bearer => "Bearer",
                    Scheme::Lower => "bearer",
                    Scheme::Upper => "BEARER",
                    Scheme::Basic => "Basic",
                };
                format!("{scheme} {rest}").into_bytes()
            }
        }
    }
}

fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fuzz_target!(|input: Input| {
    let mut headers = HeaderMap::new();
    for value in &input.values {
        if let Ok(value) = HeaderValue::from_bytes(&value.bytes()) {
            headers.append(AUTHORIZATION, value);
        }
    }
    let uri = input.uri.parse::<Uri>().unwrap_or_else(|_| Uri::from_static("/mcp"));

    let Ok(token) = auth::extract_bearer(&headers, &uri) else {
        return;
    };
    let values: Vec<&HeaderValue> = headers.get_all(AUTHORIZATION).iter().collect();
    assert_eq!(values.len(), 1, "a token from several Authorization headers");
    let header = values[0].to_str().expect("a token from a non-ASCII header");
    assert!(
        header.len() > 7 && header[..7].eq_ignore_ascii_case("bearer "),
        "a token from another scheme"
    );
    assert!(is_b64token(token.as_str()), "a token that is not b64token syntax");
    assert!(header.contains(token.as_str()), "a token that is not in the header");
    if let Some(query) = uri.query() {
        assert!(
            !query.split('&').any(|pair| pair.split('=').next() == Some("access_token")),
            "a token accepted next to a query access_token"
        );
    }
    let shown = format!("{token:?} {token}");
    assert!(
        token.as_str().len() < 12 || !shown.contains(token.as_str()),
        "Debug or Display shows the token"
    );
});
