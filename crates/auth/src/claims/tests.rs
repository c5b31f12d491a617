//! Unit tests for claim checks: times, issuer, audience, scopes.

// A failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::*;

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://idp.example.com/realms/test";

fn rules(accept_azp_only: bool) -> ClaimRules {
    ClaimRules {
        issuers: vec![ISS.into()],
        audiences: vec![canonical_audience("https://MCP.example.com:443")],
        leeway: 60,
        accept_azp_only,
        require_rfc9068: false,
        profile: Profile::Generic,
        role_scopes: Vec::new(),
        audience_warned_at: std::sync::atomic::AtomicI64::new(i64::MIN),
    }
}

fn claims(extra: Value) -> Value {
    let mut base = json!({
        "iss": ISS,
        "aud": "https://mcp.example.com/",
        "exp": NOW + 300,
        "iat": NOW,
        "sub": "alice",
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
        for (k, v) in e {
            if v.is_null() {
                b.remove(&k);
            } else {
                b.insert(k, v);
            }
        }
    }
    base
}

#[track_caller]
fn check(r: &ClaimRules, value: Value) -> Result<Principal, String> {
    let parsed: Claims = serde_json::from_value(value).map_err(|e| format!("json: {e}"))?;
    r.check(parsed, NOW, PrincipalSource::Jwt)
        .map_err(|e| e.kind().label().to_owned())
}

#[test]
fn canonical_audience_normalises_rfc3986() {
    for (raw, want) in [
        ("https://MCP.Example.COM/mcp", "https://mcp.example.com/mcp"),
        (
            "HTTPS://mcp.example.com:443/mcp",
            "https://mcp.example.com/mcp",
        ),
        ("http://mcp.example.com:80", "http://mcp.example.com/"),
        ("https://mcp.example.com", "https://mcp.example.com/"),
        (
            "https://mcp.example.com:8443/mcp",
            "https://mcp.example.com:8443/mcp",
        ),
        ("account", "account"),
        ("mcp-server", "mcp-server"),
    ] {
        assert_eq!(canonical_audience(raw), want, "{raw}");
    }
    // A trailing slash on a non-empty path is significant (RFC 3986 §6.2.3
    // only equates the empty path with "/").
    assert_ne!(
        canonical_audience("https://mcp.example.com/mcp/"),
        canonical_audience("https://mcp.example.com/mcp")
    );
}

#[test]
fn aud_matches_after_rfc8707_normalisation() {
    let r = rules(false);
    for aud in [
        "https://mcp.example.com",
        "https://MCP.EXAMPLE.COM/",
        "HTTPS://mcp.example.com:443",
    ] {
        assert!(check(&r, claims(json!({ "aud": aud }))).is_ok(), "{aud}");
    }
    for aud in [
        "https://mcp.example.com:8443/",
        "http://mcp.example.com/",
        "https://evil.example.com/",
    ] {
        assert_eq!(
            check(&r, claims(json!({ "aud": aud }))).unwrap_err(),
            "invalid_audience",
            "{aud}"
        );
    }
}

#[test]
fn aud_array_containing_ours_accepted() {
    let r = rules(false);
    let p = check(
        &r,
        claims(json!({ "aud": ["account", "https://mcp.example.com/"] })),
    )
    .unwrap();
    assert_eq!(p.audience, ["account", "https://mcp.example.com/"]);
    assert_eq!(
        check(&r, claims(json!({ "aud": ["account", "other"] }))).unwrap_err(),
        "invalid_audience"
    );
    assert_eq!(
        check(&r, claims(json!({ "aud": [] }))).unwrap_err(),
        "invalid_audience"
    );
}

/// RFC 7519 §4.1.3: `aud` is a string or an array of strings; anything else
/// does not decode (the validator reports it as malformed claims). Same for
/// `scp`. Parsed from bytes, as a token payload is.
#[test]
fn aud_and_scp_must_be_a_string_or_an_array_of_strings() {
    let parse = |value: Value| serde_json::from_slice::<Claims>(value.to_string().as_bytes());
    for bad in [
        json!(7),
        json!(["ok", 7]),
        json!({ "a": "b" }),
        json!([["nested"]]),
        json!(true),
    ] {
        assert!(
            parse(claims(json!({ "aud": bad.clone() }))).is_err(),
            "aud {bad}"
        );
        assert!(
            parse(claims(json!({ "scp": bad.clone() }))).is_err(),
            "scp {bad}"
        );
    }
    let one = parse(claims(
        json!({ "aud": "https://mcp.example.com/", "scp": "a b" }),
    ))
    .unwrap();
    let p = rules(false).check(one, NOW, PrincipalSource::Jwt).unwrap();
    assert_eq!(p.audience, ["https://mcp.example.com/"]);
    assert!(p.scopes.contains("a") && p.scopes.contains("b"));
    // Escaped strings go through `visit_string`.
    let escaped = parse(claims(
        json!({ "aud": ["x\"y", "https://mcp.example.com/"], "scp": ["c", "d\\e"] }),
    ))
    .unwrap();
    let p = rules(false)
        .check(escaped, NOW, PrincipalSource::Jwt)
        .unwrap();
    assert_eq!(p.audience, ["x\"y", "https://mcp.example.com/"]);
    assert!(p.scopes.contains("c") && p.scopes.contains("d\\e"));
}

#[test]
fn missing_aud_rejected() {
    assert_eq!(
        check(&rules(false), claims(json!({ "aud": null }))).unwrap_err(),
        "invalid_audience"
    );
}

#[test]
fn azp_only_rejected_by_default() {
    let token = claims(json!({ "aud": "account", "azp": "https://mcp.example.com/" }));
    assert_eq!(
        check(&rules(false), token.clone()).unwrap_err(),
        "invalid_audience"
    );
    // Opt-in only.
    let p = check(&rules(true), token).unwrap();
    assert_eq!(p.client_id.as_deref(), Some("https://mcp.example.com/"));
}

#[test]
fn iss_must_match_exactly() {
    let r = rules(false);
    for iss in [
        format!("{ISS}/"),
        ISS.to_uppercase(),
        "https://idp.example.com/realms/other".to_owned(),
    ] {
        assert_eq!(
            check(&r, claims(json!({ "iss": iss }))).unwrap_err(),
            "invalid_issuer",
            "{iss}"
        );
    }
    assert_eq!(
        check(&r, claims(json!({ "iss": null }))).unwrap_err(),
        "missing_claim"
    );
    // An array `iss` is not a StringOrURI (RFC 7519 §4.1.1).
    assert!(check(&r, claims(json!({ "iss": [ISS] }))).is_err());
}

#[test]
fn expired_token_yields_invalid_token() {
    let r = rules(false);
    assert_eq!(
        check(&r, claims(json!({ "exp": NOW - 61 }))).unwrap_err(),
        "expired"
    );
}

#[test]
fn exp_within_leeway_accepted() {
    let r = rules(false);
    assert!(check(&r, claims(json!({ "exp": NOW - 60 }))).is_ok());
    assert!(check(&r, claims(json!({ "exp": NOW - 1 }))).is_ok());
}

#[test]
fn exp_as_string_rejected() {
    let r = rules(false);
    let s = (NOW + 300).to_string();
    assert_eq!(
        check(&r, claims(json!({ "exp": s }))).unwrap_err(),
        "malformed"
    );
    assert_eq!(
        check(&r, claims(json!({ "exp": (NOW + 300) as f64 + 0.5 }))).unwrap_err(),
        "malformed"
    );
    assert_eq!(
        check(&r, claims(json!({ "exp": null }))).unwrap_err(),
        "missing_claim"
    );
    assert_eq!(
        check(&r, claims(json!({ "exp": true }))).unwrap_err(),
        "malformed"
    );
}

#[test]
fn nbf_in_future_rejected() {
    let r = rules(false);
    assert_eq!(
        check(&r, claims(json!({ "nbf": NOW + 61 }))).unwrap_err(),
        "not_yet_valid"
    );
    assert!(check(&r, claims(json!({ "nbf": NOW + 60 }))).is_ok());
    assert_eq!(
        check(&r, claims(json!({ "nbf": "soon" }))).unwrap_err(),
        "malformed"
    );
}

#[test]
fn iat_in_future_rejected() {
    let r = rules(false);
    assert_eq!(
        check(&r, claims(json!({ "iat": NOW + 61 }))).unwrap_err(),
        "issued_in_future"
    );
    assert!(check(&r, claims(json!({ "iat": NOW + 60 }))).is_ok());
    assert_eq!(
        check(&r, claims(json!({ "iat": 1.5 }))).unwrap_err(),
        "malformed"
    );
}

#[test]
fn scopes_from_scope_and_scp() {
    let r = rules(false);
    let p = check(&r, claims(json!({ "scope": "openid  mcp:tools profile" }))).unwrap();
    assert_eq!(
        p.scopes.iter().collect::<Vec<_>>(),
        ["openid", "mcp:tools", "profile"]
    );

    let p = check(&r, claims(json!({ "scp": ["mcp:tools", "mcp:admin"] }))).unwrap();
    assert!(p.scopes.contains("mcp:admin"));

    let p = check(&r, claims(json!({ "scp": "a b", "scope": "b c" }))).unwrap();
    assert_eq!(p.scopes.iter().collect::<Vec<_>>(), ["b", "c", "a"]);

    let required = vec!["c".to_owned(), "d".to_owned(), "a".to_owned()];
    assert_eq!(p.scopes.missing(&required), ["d"]);
    assert_eq!(p.scopes.to_string(), "b c a");
}

#[test]
fn client_id_from_azp_then_client_id() {
    let r = rules(false);
    let p = check(&r, claims(json!({ "azp": "web", "client_id": "other" }))).unwrap();
    assert_eq!(p.client_id.as_deref(), Some("web"));
    let p = check(&r, claims(json!({ "client_id": "cli" }))).unwrap();
    assert_eq!(p.client_id.as_deref(), Some("cli"));
}

#[test]
fn rfc7519_null_numeric_date_is_malformed_not_absent() {
    // RFC 7519 §4.1.4–§4.1.6: `exp`, `nbf` and `iat` are NumericDate values.
    // A present claim of another JSON type, `null` included, is malformed: it
    // must not be read as "absent" and skip the check (the CVE-2026-25537
    // class). Only a claim that is not in the object at all is absent.
    let r = rules(false);
    for claim in ["exp", "nbf", "iat"] {
        let mut c = claims(json!({}));
        c[claim] = Value::Null;
        assert_eq!(check(&r, c).unwrap_err(), "malformed", "{claim}");
    }
    // Absent `nbf` and `iat` are fine; absent `exp` is a missing claim.
    assert!(check(&r, claims(json!({ "iat": null }))).is_ok());
    assert_eq!(
        check(&r, claims(json!({ "exp": null }))).unwrap_err(),
        "missing_claim"
    );
}

#[test]
fn aud_with_dot_segments_is_not_our_resource() {
    // RFC 3986 §5.2.4 removes dot segments when *resolving* a reference, so
    // a URL parser turns `https://host/x/../` into `https://host/`. An `aud`
    // value is an identifier compared as sent (RFC 8707 §2, RFC 7519 §4.1.3),
    // not a reference to resolve: one spelled with dot segments names some
    // other string, and must not become our resource after normalisation.
    let r = rules(false);
    for aud in [
        "https://mcp.example.com/x/../",
        "https://mcp.example.com/./",
        "https://mcp.example.com/x/%2e%2e/",
        "https://mcp.example.com/x/.%2E/",
        "https://MCP.example.com/x/..",
        "https://mcp.example.com/x\\..\\",
    ] {
        assert_eq!(
            check(&r, claims(json!({ "aud": aud }))).unwrap_err(),
            "invalid_audience",
            "{aud}"
        );
        assert_eq!(
            check(&r, claims(json!({ "aud": ["account", aud] }))).unwrap_err(),
            "invalid_audience",
            "{aud}"
        );
    }
    // Dots inside a segment are ordinary characters.
    let r = ClaimRules {
        audiences: vec![canonical_audience("https://mcp.example.com/v1.2/..mcp")],
        ..rules(false)
    };
    assert!(
        check(
            &r,
            claims(json!({ "aud": "HTTPS://mcp.example.com/v1.2/..mcp" }))
        )
        .is_ok()
    );
}
