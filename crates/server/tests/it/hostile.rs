//! The hostile-token matrix: every way of presenting a bad (or oddly shaped
//! good) credential, sent over HTTP through the real router, with the exact
//! RFC 6750 answer asserted for each.
//!
//! For every case [`check`] asserts:
//!
//! - the exact status (which also proves nothing panicked into a 500);
//! - the `WWW-Authenticate` parameters: `error` (absent when no credentials
//!   were sent, RFC 6750 §3.1), `scope` (the call's scopes with
//!   `insufficient_scope`, the scopes to request on every 401: MCP
//!   authorization's scope selection; none on a 400 or 503) and
//!   the absolute RFC 9728 `resource_metadata` URL on every challenge;
//! - the calls made to the identity provider: none at all, except that a
//!   token naming an unknown `kid` may cost at most one (rate-limited) JWKS
//!   fetch; never discovery, never introspection in `jwt` mode;
//! - that the response body does not echo the token;
//! - the rule that fired: every refusal is counted exactly once under its
//!   `auth::ErrorKind` label, by the auth layer and validator
//!   (`auth::AuthMetrics::failures`) or, for a per-tool scope, by the
//!   server's authorization (`mcp_authz_failures_total` in `/metrics`); so
//!   exactly the row's counter must move, by one, and no other (none at all
//!   for a success). `invalid_token` alone says little: `alg: none` refused
//!   as `malformed`, or a duplicate claim refused because one of its values
//!   happened to be wrong, would pass a status check.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use http::{StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use test_issuer::{INITIAL_KID, KeyAlg, TestIssuer};

use crate::support::{
    Fixture, IdpRequests, METADATA_URL, RESOURCE, RawSigner, Reply, b64, mcp_post, tool_call,
};

/// What the case sends.
struct Case {
    name: &'static str,
    /// `Authorization` header values, in order (none, one, or several).
    authorization: Vec<String>,
    /// An `access_token` query parameter (RFC 6750 §2.3, refused).
    query_token: Option<String>,
    /// The tool called.
    tool: &'static str,
    expect: Expect,
    idp: Idp,
    /// Who decides (and counts) the refusal.
    decided_by: DecidedBy,
}

/// Where a refusal is counted, under its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DecidedBy {
    /// The auth layer and validator: `auth::AuthMetrics::failures`.
    Auth,
    /// The server's per-tool authorization, inside the auth layer:
    /// `mcp_authz_failures_total` in `/metrics`.
    ServerAuthz,
}

/// The answer the case must get.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// 200: the tool ran, no failure counted.
    Ok,
    /// 401 with no `error` parameter: no bearer credentials were sent
    /// (counted as `missing_token`).
    NoCredentials,
    /// 400 `invalid_request` (counted as `invalid_request`).
    InvalidRequest,
    /// 401 `invalid_token`, counted under this `auth::ErrorKind` label: the
    /// rule that refused the token.
    InvalidToken(&'static str),
    /// 403 `insufficient_scope` with exactly this `scope` (counted as
    /// `insufficient_scope`).
    InsufficientScope(&'static str),
    /// 503 with `Retry-After` and no `error`, counted under this label: the
    /// token could not be judged (e.g. `key_refresh_suppressed`: its key is
    /// unknown only because the kid-miss refresh was rate-limited; RFC 6750
    /// has no error code for "cannot decide now").
    KeysUnavailable(&'static str),
}

impl Expect {
    /// The failure label the answer must be counted under; `None` when the
    /// request must succeed.
    fn reason(self) -> Option<&'static str> {
        match self {
            Expect::Ok => None,
            Expect::NoCredentials => Some("missing_token"),
            Expect::InvalidRequest => Some("invalid_request"),
            Expect::InvalidToken(reason) | Expect::KeysUnavailable(reason) => Some(reason),
            Expect::InsufficientScope(_) => Some("insufficient_scope"),
        }
    }
}

/// Calls the identity provider may see while the case is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Idp {
    /// None at all.
    None,
    /// An unknown `kid`: at most one JWKS fetch, nothing else.
    KidMiss,
}

impl Case {
    fn bearer(name: &'static str, token: impl Into<String>, expect: Expect) -> Case {
        Case::authorization(name, format!("Bearer {}", token.into()), expect)
    }

    fn authorization(name: &'static str, value: impl Into<String>, expect: Expect) -> Case {
        Case {
            name,
            authorization: vec![value.into()],
            query_token: None,
            tool: "list_templates",
            expect,
            idp: Idp::None,
            decided_by: DecidedBy::Auth,
        }
    }

    /// The refusal is the server's per-tool scope check, not the layer's.
    fn per_tool(mut self) -> Case {
        self.decided_by = DecidedBy::ServerAuthz;
        self
    }

    fn kid_miss(mut self) -> Case {
        self.idp = Idp::KidMiss;
        self
    }

    fn tool(mut self, tool: &'static str) -> Case {
        self.tool = tool;
        self
    }
}

/// What happened when the case was sent.
struct Outcome {
    reply: Reply,
    before: IdpRequests,
    after: IdpRequests,
    /// The failure counters that moved while the case was served: the
    /// validator's by `auth::ErrorKind` label, then the server's
    /// authorization failures by reason.
    moved: Vec<(DecidedBy, String, u64)>,
}

async fn run(f: &Fixture, case: &Case) -> Outcome {
    let uri = match &case.query_token {
        Some(token) => format!("/mcp?access_token={token}"),
        None => "/mcp".to_owned(),
    };
    let mut request = mcp_post().uri(uri);
    for value in &case.authorization {
        request = request.header(header::AUTHORIZATION, value.as_str());
    }
    let arguments = match case.tool {
        "save_template" => json!({"name": "x", "title": "X", "body": "x"}),
        _ => json!({}),
    };
    let request = request
        .body(tool_call(case.tool, arguments))
        .expect("request");
    let authz_before = f.authz_failures().await;
    let before = f.idp_requests();
    let metrics_before = f.validator.metrics();
    let reply = f.send(request).await;
    let metrics_after = f.validator.metrics();
    let after = f.idp_requests();
    let authz_after = f.authz_failures().await;

    let auth_moved = metrics_after.failures.iter().map(|&(label, n)| {
        let moved = n - metrics_before.failures_for(label);
        (DecidedBy::Auth, label.to_owned(), moved)
    });
    let authz_moved = authz_after.into_iter().map(|(reason, n)| {
        let moved = n - authz_before.get(&reason).copied().unwrap_or(0);
        (DecidedBy::ServerAuthz, reason, moved)
    });
    let moved = auth_moved
        .chain(authz_moved)
        .filter(|(_, _, n)| *n != 0)
        .collect();
    Outcome {
        reply,
        before,
        after,
        moved,
    }
}

#[track_caller]
fn check(case: &Case, outcome: &Outcome) {
    let Outcome {
        reply,
        before,
        after,
        moved,
    } = outcome;
    let name = case.name;
    let (status, error, scope) = match case.expect {
        Expect::Ok => (StatusCode::OK, None, None),
        Expect::NoCredentials => (StatusCode::UNAUTHORIZED, None, Some("mcp:tools")),
        Expect::InvalidRequest => (StatusCode::BAD_REQUEST, Some("invalid_request"), None),
        Expect::InvalidToken(_) => (
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            Some("mcp:tools"),
        ),
        Expect::InsufficientScope(scope) => (
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            Some(scope),
        ),
        Expect::KeysUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, None, None),
    };
    // The rule that fired, before the answer's shape: a wrong reason says
    // more about a failure than a wrong status.
    let reason = case.expect.reason();
    if let Some(reason) = reason {
        assert!(
            auth::ErrorKind::LABELS.contains(&reason),
            "[{name}] {reason:?} is not an auth::ErrorKind label"
        );
    }
    let expected: Vec<_> = reason
        .map(|r| (case.decided_by, r.to_owned(), 1))
        .into_iter()
        .collect();
    assert_eq!(
        moved, &expected,
        "[{name}] failure counters moved (where, reason, count): the rule that fired"
    );

    assert_eq!(
        reply.status, status,
        "[{name}] status; body: {}",
        reply.body
    );

    match (case.expect, reply.challenge()) {
        (Expect::KeysUnavailable(_), params) => {
            assert!(
                reply.header("retry-after").is_some(),
                "[{name}] 503 without Retry-After"
            );
            assert!(
                params.as_ref().is_none_or(|p| !p.contains_key("error")),
                "[{name}] 503 with an error code: {params:?}"
            );
        }
        (Expect::Ok, None) => {
            let body: Value = serde_json::from_str(&reply.body)
                .unwrap_or_else(|e| panic!("[{name}] 200 body is not JSON ({e}): {}", reply.body));
            assert!(
                body["result"]["structuredContent"].is_object(),
                "[{name}] the tool did not run: {body}"
            );
        }
        (Expect::Ok, Some(params)) => panic!("[{name}] challenge on success: {params:?}"),
        (_, None) => panic!("[{name}] {status} without WWW-Authenticate"),
        (_, Some(params)) => {
            assert_eq!(
                params.get("resource_metadata").map(String::as_str),
                Some(METADATA_URL),
                "[{name}] resource_metadata: {params:?}"
            );
            assert_eq!(
                params.get("error").map(String::as_str),
                error,
                "[{name}] error: {params:?}"
            );
            assert_eq!(
                params.get("scope").map(String::as_str),
                scope,
                "[{name}] scope: {params:?}"
            );
            // RFC 6750 §3: error_description only accompanies an error code.
            assert_eq!(
                params.contains_key("error_description"),
                error.is_some(),
                "[{name}] error_description: {params:?}"
            );
        }
    }

    assert_eq!(
        after.discovery, before.discovery,
        "[{name}] discovery fetched"
    );
    assert_eq!(
        after.introspection, before.introspection,
        "[{name}] introspection called"
    );
    let fetches = after.jwks - before.jwks;
    match case.idp {
        Idp::None => assert_eq!(fetches, 0, "[{name}] JWKS fetched"),
        Idp::KidMiss => assert!(
            fetches <= 1,
            "[{name}] {fetches} JWKS fetches for one kid miss"
        ),
    }

    let credentials = case.authorization.iter().chain(&case.query_token);
    for credential in credentials {
        let token = credential.strip_prefix("Bearer ").unwrap_or(credential);
        if token.len() >= 16 {
            assert!(
                !reply.body.contains(token),
                "[{name}] token echoed in the body"
            );
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .expect("clock")
}

/// An unsigned token: `b64(header).b64(payload).` (empty signature).
fn unsigned(header: &str, payload: &Value) -> String {
    format!("{}.{}.", b64(header), b64(payload.to_string()))
}

/// The matrix server's token cap (the default).
const TOKEN_CAP: usize = auth::ValidationConfig::DEFAULT_MAX_TOKEN_BYTES;

/// `token`, checked to fit the cap: the row tests its own rule, not the cap.
#[track_caller]
fn under_cap(token: String) -> String {
    assert!(
        token.len() <= TOKEN_CAP,
        "{} bytes: over the cap",
        token.len()
    );
    token
}

/// `token`, checked to exceed the cap.
#[track_caller]
fn over_cap(token: String) -> String {
    assert!(
        token.len() > TOKEN_CAP,
        "{} bytes: under the cap",
        token.len()
    );
    token
}

fn rs(alg: Algorithm, kid: &str) -> Header {
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_owned());
    h
}

/// A loopback listener that counts connections: the server must never
/// dereference `jku`/`x5u`/`jwk` (RFC 8725 §3.10), so it must stay at zero.
async fn attacker_listener() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (format!("http://{addr}/jwks.json"), hits)
}

/// Publishes `kid` briefly so the issuer holds its private key, then takes
/// it out of the JWKS: a key the resource server has never seen.
fn unpublished_key(issuer: &TestIssuer, kid: &str) {
    issuer.add_key(KeyAlg::Rs256, kid);
    issuer.remove_key(kid);
}

/// The matrix server: stateless, default policy (RS256/PS256/ES256/EdDSA,
/// lenient `typ`, 60 s leeway, 8 KiB token cap, scope `mcp:tools`), plus a
/// second accepted audience written as a production URL for the
/// canonicalisation cases.
async fn matrix_fixture() -> (Fixture, RawSigner) {
    let f = Fixture::start(&[], |c| {
        // Every unknown-kid row gets its own kid-miss refresh, so each is
        // decided against a fresh key set (401), not suppressed by the rows
        // before it (503); `kid_flood_costs_at_most_two_jwks_fetches_per_cooldown`
        // covers the rate limit itself.
        c.auth.issuers[0].jwks.miss_max_fetches = 1_000;
        c.auth.issuers[0]
            .validation
            .audiences
            .push("https://mcp.example.com/mcp".to_owned());
    })
    .await;
    f.issuer.add_key(KeyAlg::Es256, "ec-1");
    f.issuer.add_key(KeyAlg::Rs256, "rsa-old");
    let raw = RawSigner::publish(&f.issuer, "raw-ed");
    unpublished_key(&f.issuer, "attacker-1");
    unpublished_key(&f.issuer, "rsa-evil");
    unpublished_key(&f.issuer, "other-realm-1");
    f.validator.jwks().refresh().await.expect("load keys");
    // Rotate `rsa-old` out: it was trusted, and is no longer.
    f.issuer.remove_key("rsa-old");
    f.validator.jwks().refresh().await.expect("reload keys");
    (f, raw)
}

#[tokio::test]
async fn hostile_tokens_get_exact_rfc6750_answers_without_idp_calls() {
    use Expect::*;

    let (f, raw) = matrix_fixture().await;
    let (evil_url, attacker_hits) = attacker_listener().await;
    let now = now();
    let good = f.issuer.claims("alice", RESOURCE, "mcp:tools");
    let valid = f.issuer.sign(&good);
    let claims = |edit: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        edit(&mut c);
        c
    };
    let signed = |edit: &dyn Fn(&mut Value)| f.issuer.sign(&claims(edit));
    let with_header = |header: Header| f.issuer.sign_with(header, &good, INITIAL_KID);
    let good_json = good.to_string();
    let raw_payload = |extra: &str| {
        // `good` with its closing brace replaced by extra members.
        format!("{},{extra}}}", &good_json[..good_json.len() - 1])
    };
    // `good` with `key` written twice, `first` then `second`, around the
    // other claims.
    let duplicate = |key: &str, first: Value, second: Value| {
        let mut rest = good.clone();
        rest.as_object_mut().expect("object").remove(key);
        let rest = rest.to_string();
        format!(
            r#"{{"{key}":{first},{},"{key}":{second}}}"#,
            &rest[1..rest.len() - 1]
        )
    };
    let hs = |alg: Algorithm, secret: &[u8]| {
        jsonwebtoken::encode(
            &rs(alg, INITIAL_KID),
            &good,
            &EncodingKey::from_secret(secret),
        )
        .expect("HMAC token")
    };
    let pem = f.issuer.public_key_pem(INITIAL_KID);
    let der = f.issuer.public_key_der(INITIAL_KID);
    let rsa_header = r#"{"alg":"RS256","typ":"JWT","kid":"rsa-1"}"#;
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let attacker_jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(f.issuer.public_jwk("attacker-1")).expect("jwk");
    let (valid_head, valid_sig) = valid.rsplit_once('.').expect("three segments");

    let cases = vec![
        // ---- RFC 6750 §2.1 extraction ----
        Case {
            authorization: vec![],
            ..Case::authorization("no Authorization header", "", NoCredentials)
        },
        Case::authorization("Basic scheme", "Basic YWxpY2U6c2VjcmV0", NoCredentials),
        Case::authorization("Bearer with an empty token", "Bearer ", InvalidRequest),
        Case::authorization("Bearer scheme alone", "Bearer", InvalidRequest),
        Case::authorization(
            "lower-case scheme (RFC 9110 §11.1)",
            format!("bearer {valid}"),
            Ok,
        ),
        Case {
            authorization: vec![format!("Bearer {valid}"), format!("Bearer {valid}")],
            ..Case::authorization("two Authorization headers", "", InvalidRequest)
        },
        Case {
            authorization: vec![format!("Bearer {valid}"), "Basic YWxpY2U6c2VjcmV0".into()],
            ..Case::authorization("Bearer plus Basic header", "", InvalidRequest)
        },
        Case {
            authorization: vec![],
            query_token: Some(valid.clone()),
            ..Case::authorization("token in the query string only", "", InvalidRequest)
        },
        Case {
            query_token: Some(valid.clone()),
            ..Case::bearer("token in header and query string", &valid, InvalidRequest)
        },
        Case::bearer(
            "token with a comma (not b64token)",
            "abc,def",
            InvalidToken("malformed"),
        ),
        // ---- Shape, before any parsing ----
        Case::bearer(
            "oversized token (9 KiB)",
            "a".repeat(9 * 1024),
            InvalidToken("token_too_large"),
        ),
        Case::bearer("one segment", "abcdef", InvalidToken("malformed")),
        Case::bearer("two segments", valid_head, InvalidToken("malformed")),
        Case::bearer(
            "four segments",
            format!("{valid}.AAAA"),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "five segments (JWE)",
            "a.b.c.d.e",
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "header segment in the standard base64 alphabet",
            format!("+/+/{valid}"),
            InvalidToken("malformed"),
        ),
        // `=` is b64token syntax only at the end of the token (RFC 6750
        // §2.1): a padded header is refused by the extraction, a padded
        // signature by the base64url decoder; both are `malformed`.
        Case::bearer(
            "padded header segment",
            format!(
                "{}==.{}",
                b64(rsa_header),
                &valid[valid.find('.').expect("dot") + 1..]
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "padded signature segment",
            format!("{valid}=="),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "bad base64url in a correctly signed payload",
            raw.sign_segments(&b64(raw.header()), "eyJ+/+/"),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "header is a JSON array",
            unsigned("[]", &good),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "header is a JSON string",
            unsigned(r#""RS256""#, &good),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "header is null",
            unsigned("null", &good),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "header is not JSON",
            unsigned("{alg:RS256}", &good),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "kid is a number",
            unsigned(r#"{"alg":"RS256","kid":5}"#, &good),
            InvalidToken("malformed"),
        ),
        // ---- Duplicate JSON members (RFC 7515 §4, RFC 7519 §4: reject or
        // take the last; we reject). Each pair is built so that "first wins"
        // and "last wins" would each accept one of its two orders and refuse
        // the other under another rule (the single-value rows elsewhere in
        // the matrix: `alg none`, `kid unknown`, `typ JOSE`, `aud of another
        // resource`, `exp past…`, `iss of another issuer`, `scope with other
        // scopes only`), while refusal is `malformed` in both orders.
        Case::bearer(
            "duplicate alg in a signed header (EdDSA, none)",
            raw.sign(
                &format!(r#"{{"alg":"EdDSA","alg":"none","kid":"{}"}}"#, raw.kid),
                &good_json,
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "duplicate alg in a signed header (none, EdDSA)",
            raw.sign(
                &format!(r#"{{"alg":"none","alg":"EdDSA","kid":"{}"}}"#, raw.kid),
                &good_json,
            ),
            InvalidToken("malformed"),
        ),
        // The other kid is unknown: taking it would cost a JWKS fetch.
        Case::bearer(
            "duplicate kid in a signed header (ours, unknown)",
            raw.sign(
                &format!(
                    r#"{{"alg":"EdDSA","kid":"{}","kid":"no-such-kid"}}"#,
                    raw.kid
                ),
                &good_json,
            ),
            InvalidToken("malformed"),
        )
        .kid_miss(),
        Case::bearer(
            "duplicate kid in a signed header (unknown, ours)",
            raw.sign(
                &format!(
                    r#"{{"alg":"EdDSA","kid":"no-such-kid","kid":"{}"}}"#,
                    raw.kid
                ),
                &good_json,
            ),
            InvalidToken("malformed"),
        )
        .kid_miss(),
        Case::bearer(
            "duplicate typ in a signed header (JWT, JOSE)",
            raw.sign(
                &format!(
                    r#"{{"alg":"EdDSA","typ":"JWT","typ":"JOSE","kid":"{}"}}"#,
                    raw.kid
                ),
                &good_json,
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "duplicate typ in a signed header (JOSE, JWT)",
            raw.sign(
                &format!(
                    r#"{{"alg":"EdDSA","typ":"JOSE","typ":"JWT","kid":"{}"}}"#,
                    raw.kid
                ),
                &good_json,
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "duplicate aud claim (theirs, ours)",
            raw.sign(
                &raw.header(),
                &duplicate("aud", json!("https://other.example/mcp"), json!(RESOURCE)),
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "duplicate aud claim (ours, theirs)",
            raw.sign(
                &raw.header(),
                &duplicate("aud", json!(RESOURCE), json!("https://other.example/mcp")),
            ),
            InvalidToken("malformed"),
        ),
        // Refused even when both values agree: the rule is the duplicate.
        Case::bearer(
            "duplicate aud claim (ours, ours)",
            raw.sign(
                &raw.header(),
                &duplicate("aud", json!(RESOURCE), json!(RESOURCE)),
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "duplicate exp claim (past, future)",
            raw.sign(
                &raw.header(),
                &duplicate("exp", json!(now - 3600), json!(now + 300)),
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "duplicate exp claim (future, past)",
            raw.sign(
                &raw.header(),
                &duplicate("exp", json!(now + 300), json!(now - 3600)),
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "duplicate iss claim (theirs, ours)",
            raw.sign(
                &raw.header(),
                &duplicate(
                    "iss",
                    json!("https://idp.example/realms/mcp"),
                    json!(f.issuer.issuer()),
                ),
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "duplicate iss claim (ours, theirs)",
            raw.sign(
                &raw.header(),
                &duplicate(
                    "iss",
                    json!(f.issuer.issuer()),
                    json!("https://idp.example/realms/mcp"),
                ),
            ),
            InvalidToken("malformed"),
        ),
        // Taking the first or the last would be 200 or 403, never 401.
        Case::bearer(
            "duplicate scope claim (openid, ours)",
            raw.sign(
                &raw.header(),
                &duplicate("scope", json!("openid"), json!("mcp:tools")),
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "duplicate scope claim (ours, openid)",
            raw.sign(
                &raw.header(),
                &duplicate("scope", json!("mcp:tools"), json!("openid")),
            ),
            InvalidToken("malformed"),
        ),
        // ---- alg: none and algorithm confusion (RFC 8725 §2.1, §3.1) ----
        Case::bearer(
            "alg none",
            unsigned(r#"{"alg":"none","kid":"rsa-1"}"#, &good),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "alg None",
            unsigned(r#"{"alg":"None","kid":"rsa-1"}"#, &good),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "alg NONE",
            unsigned(r#"{"alg":"NONE","kid":"rsa-1"}"#, &good),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "alg nOnE",
            unsigned(r#"{"alg":"nOnE","kid":"rsa-1"}"#, &good),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "alg none with a real signature attached",
            format!(
                "{}.{}.{valid_sig}",
                b64(r#"{"alg":"none","kid":"rsa-1"}"#),
                b64(good.to_string())
            ),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "alg missing",
            unsigned(r#"{"kid":"rsa-1"}"#, &good),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "HS256 keyed with the RSA public key PEM",
            hs(Algorithm::HS256, pem.as_bytes()),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "HS256 keyed with the RSA public key DER",
            hs(Algorithm::HS256, &der),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "HS384 keyed with the RSA public key PEM",
            hs(Algorithm::HS384, pem.as_bytes()),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "HS512 keyed with the RSA public key DER",
            hs(Algorithm::HS512, &der),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "RS512 (not in the allow-list) by the real key",
            with_header(rs(Algorithm::RS512, INITIAL_KID)),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "PS512 (not in the allow-list) by the real key",
            with_header(rs(Algorithm::PS512, INITIAL_KID)),
            InvalidToken("unsupported_algorithm"),
        ),
        Case::bearer(
            "ES256 header naming the RSA key's kid",
            f.issuer
                .sign_with(rs(Algorithm::ES256, INITIAL_KID), &good, "ec-1"),
            InvalidToken("key_mismatch"),
        ),
        Case::bearer(
            "PS256 header naming the RS256 key's kid",
            with_header(rs(Algorithm::PS256, INITIAL_KID)),
            InvalidToken("key_mismatch"),
        ),
        // ---- kid (RFC 7515 §4.1.4): lookup only, one rate-limited refresh ----
        Case::bearer(
            "kid missing",
            with_header(Header::new(Algorithm::RS256)),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "kid unknown",
            with_header(rs(Algorithm::RS256, "no-such-kid")),
            InvalidToken("unknown_key"),
        )
        .kid_miss(),
        Case::bearer(
            "kid empty",
            with_header(rs(Algorithm::RS256, "")),
            InvalidToken("unknown_key"),
        )
        .kid_miss(),
        Case::bearer(
            "kid path traversal",
            with_header(rs(Algorithm::RS256, "../../../../etc/passwd")),
            InvalidToken("unknown_key"),
        )
        .kid_miss(),
        Case::bearer(
            "kid SQL injection",
            with_header(rs(Algorithm::RS256, "x' OR '1'='1'; --")),
            InvalidToken("unknown_key"),
        )
        .kid_miss(),
        // No kid length limit in `auth` or `jwks`: a long kid that fits the
        // token cap is looked up like any other, and is simply unknown.
        Case::bearer(
            "kid of 4 KiB (under the token cap)",
            under_cap(with_header(rs(Algorithm::RS256, &"k".repeat(4 * 1024)))),
            InvalidToken("unknown_key"),
        )
        .kid_miss(),
        Case::bearer(
            "kid of 10 KiB: the 8 KiB token cap",
            over_cap(with_header(rs(Algorithm::RS256, &"k".repeat(10 * 1024)))),
            InvalidToken("token_too_large"),
        ),
        Case::bearer(
            "key removed from the JWKS",
            f.issuer
                .sign_with(rs(Algorithm::RS256, "rsa-old"), &good, "rsa-old"),
            InvalidToken("unknown_key"),
        )
        .kid_miss(),
        // ---- Header members that point at keys (RFC 8725 §3.10) ----
        Case::bearer(
            "jku to another server, signed by our key (ignored)",
            with_header(Header {
                jku: Some(evil_url.clone()),
                ..rs(Algorithm::RS256, INITIAL_KID)
            }),
            Ok,
        ),
        Case::bearer(
            "x5u to another server, signed by our key (ignored)",
            with_header(Header {
                x5u: Some(evil_url.clone()),
                ..rs(Algorithm::RS256, INITIAL_KID)
            }),
            Ok,
        ),
        Case::bearer(
            "jku to another server with its key and kid",
            f.issuer.sign_with(
                Header {
                    jku: Some(evil_url.clone()),
                    ..rs(Algorithm::RS256, "attacker-1")
                },
                &good,
                "attacker-1",
            ),
            InvalidToken("unknown_key"),
        )
        .kid_miss(),
        Case::bearer(
            "x5u to another server with its key and kid",
            f.issuer.sign_with(
                Header {
                    x5u: Some(evil_url.clone()),
                    ..rs(Algorithm::RS256, "attacker-1")
                },
                &good,
                "attacker-1",
            ),
            InvalidToken("unknown_key"),
        )
        .kid_miss(),
        Case::bearer(
            "embedded jwk with the attacker's key and kid",
            f.issuer.sign_with(
                Header {
                    jwk: Some(attacker_jwk.clone()),
                    ..rs(Algorithm::RS256, "attacker-1")
                },
                &good,
                "attacker-1",
            ),
            InvalidToken("unknown_key"),
        )
        .kid_miss(),
        Case::bearer(
            "embedded jwk with the attacker's key under our kid",
            f.issuer.sign_with(
                Header {
                    jwk: Some(attacker_jwk.clone()),
                    ..rs(Algorithm::RS256, INITIAL_KID)
                },
                &good,
                "attacker-1",
            ),
            InvalidToken("invalid_signature"),
        ),
        // ---- crit (RFC 7515 §4.1.11) and typ (RFC 9068 §2.1) ----
        Case::bearer(
            "unknown crit extension",
            with_header(Header {
                crit: Some(vec!["exp-ext".to_owned()]),
                ..rs(Algorithm::RS256, INITIAL_KID)
            }),
            InvalidToken("unknown_critical"),
        ),
        Case::bearer(
            "crit b64 (RFC 7797 unencoded payload)",
            with_header(Header {
                crit: Some(vec!["b64".to_owned()]),
                ..rs(Algorithm::RS256, INITIAL_KID)
            }),
            InvalidToken("unknown_critical"),
        ),
        Case::bearer(
            "typ JWT (lenient)",
            with_header(rs(Algorithm::RS256, INITIAL_KID)),
            Ok,
        ),
        Case::bearer(
            "typ at+jwt (lenient)",
            with_header(Header {
                typ: Some("at+jwt".to_owned()),
                ..rs(Algorithm::RS256, INITIAL_KID)
            }),
            Ok,
        ),
        Case::bearer(
            "typ absent (lenient)",
            with_header(Header {
                typ: None,
                ..rs(Algorithm::RS256, INITIAL_KID)
            }),
            Ok,
        ),
        Case::bearer(
            "typ JOSE (lenient refuses)",
            with_header(Header {
                typ: Some("JOSE".to_owned()),
                ..rs(Algorithm::RS256, INITIAL_KID)
            }),
            InvalidToken("invalid_type"),
        ),
        // ---- Signature ----
        Case::bearer(
            "signature stripped",
            format!("{valid_head}."),
            InvalidToken("invalid_signature"),
        ),
        Case::bearer(
            "signature from another key under our kid",
            f.issuer
                .sign_with(rs(Algorithm::RS256, INITIAL_KID), &good, "rsa-evil"),
            InvalidToken("invalid_signature"),
        ),
        Case::bearer(
            "signature of another token",
            format!(
                "{valid_head}.{}",
                signed(&|c| c["sub"] = "mallory".into())
                    .rsplit_once('.')
                    .expect("dot")
                    .1
            ),
            InvalidToken("invalid_signature"),
        ),
        Case::bearer(
            "payload swapped under a valid signature",
            format!(
                "{}.{}.{valid_sig}",
                b64(rsa_header),
                b64(claims(&|c| c["scope"] = "mcp:tools templates:write".into()).to_string())
            ),
            InvalidToken("invalid_signature"),
        ),
        // ---- exp / nbf / iat (RFC 7519 §4.1.4–4.1.6, NumericDate) ----
        Case::bearer(
            "exp missing",
            signed(&|c| {
                c.as_object_mut().expect("object").remove("exp");
            }),
            InvalidToken("missing_claim"),
        ),
        Case::bearer(
            "exp as a string",
            signed(&|c| c["exp"] = (now + 300).to_string().into()),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "exp as a float",
            signed(&|c| c["exp"] = json!((now + 300) as f64 + 0.5)),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "exp null",
            signed(&|c| c["exp"] = Value::Null),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "exp past beyond the leeway",
            signed(&|c| c["exp"] = (now - 120).into()),
            InvalidToken("expired"),
        ),
        Case::bearer(
            "exp past within the leeway",
            signed(&|c| c["exp"] = (now - 30).into()),
            Ok,
        ),
        Case::bearer(
            "exp negative",
            signed(&|c| c["exp"] = (-1).into()),
            InvalidToken("expired"),
        ),
        Case::bearer(
            "nbf in the future beyond the leeway",
            signed(&|c| c["nbf"] = (now + 120).into()),
            InvalidToken("not_yet_valid"),
        ),
        Case::bearer(
            "nbf in the future within the leeway",
            signed(&|c| c["nbf"] = (now + 30).into()),
            Ok,
        ),
        Case::bearer(
            "nbf as a string",
            signed(&|c| c["nbf"] = now.to_string().into()),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "iat in the future beyond the leeway",
            signed(&|c| c["iat"] = (now + 120).into()),
            InvalidToken("issued_in_future"),
        ),
        // ---- iss (exact match) ----
        Case::bearer(
            "iss missing",
            signed(&|c| {
                c.as_object_mut().expect("object").remove("iss");
            }),
            InvalidToken("missing_claim"),
        ),
        Case::bearer(
            "iss of another issuer",
            signed(&|c| c["iss"] = "https://idp.example/realms/mcp".into()),
            InvalidToken("unknown_issuer"),
        ),
        Case::bearer(
            "iss with a trailing slash",
            signed(&|c| c["iss"] = format!("{}/", f.issuer.issuer()).into()),
            InvalidToken("unknown_issuer"),
        ),
        Case::bearer(
            "iss as an array holding ours",
            signed(&|c| c["iss"] = json!([f.issuer.issuer()])),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "another realm on the same host, signed by our key",
            signed(&|c| {
                c["iss"] = format!("{}/realms/other", f.issuer.base_url()).into();
            }),
            InvalidToken("unknown_issuer"),
        ),
        Case::bearer(
            "another realm on the same host, with its own key",
            f.issuer.sign_with(
                rs(Algorithm::RS256, "other-realm-1"),
                &claims(&|c| c["iss"] = format!("{}/realms/other", f.issuer.base_url()).into()),
                "other-realm-1",
            ),
            // Routed by `iss` before the key lookup: a foreign realm's
            // token neither fetches keys nor spends the kid-miss budget.
            InvalidToken("unknown_issuer"),
        ),
        // ---- aud (RFC 8707, RFC 9068 §4) ----
        Case::bearer(
            "aud missing",
            signed(&|c| {
                c.as_object_mut().expect("object").remove("aud");
            }),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud of another resource",
            signed(&|c| c["aud"] = "https://other.example/mcp".into()),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud array holding ours",
            signed(&|c| c["aud"] = json!(["account", RESOURCE])),
            Ok,
        ),
        Case::bearer(
            "aud array without ours",
            signed(&|c| c["aud"] = json!(["account", "https://other.example/mcp"])),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud empty array",
            signed(&|c| c["aud"] = json!([])),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud as a number",
            signed(&|c| c["aud"] = 42.into()),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "aud only in azp",
            signed(&|c| {
                c["aud"] = "account".into();
                c["azp"] = RESOURCE.into();
            }),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud with upper-case scheme and host",
            signed(&|c| c["aud"] = "HTTP://LOCALHOST:8000/mcp".into()),
            Ok,
        ),
        Case::bearer(
            "aud with an explicit default port",
            signed(&|c| c["aud"] = "HTTPS://MCP.EXAMPLE.COM:443/mcp".into()),
            Ok,
        ),
        Case::bearer(
            "aud with a trailing slash",
            signed(&|c| c["aud"] = format!("{RESOURCE}/").into()),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud with an upper-case path",
            signed(&|c| c["aud"] = "http://localhost:8000/MCP".into()),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud without the path",
            signed(&|c| c["aud"] = "http://localhost:8000".into()),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud with a query",
            signed(&|c| c["aud"] = format!("{RESOURCE}?x=1").into()),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud with userinfo",
            signed(&|c| c["aud"] = "http://alice@localhost:8000/mcp".into()),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud on another port",
            signed(&|c| c["aud"] = "http://localhost:8001/mcp".into()),
            InvalidToken("invalid_audience"),
        ),
        Case::bearer(
            "aud over https instead of http",
            signed(&|c| c["aud"] = "https://localhost:8000/mcp".into()),
            InvalidToken("invalid_audience"),
        ),
        // ---- Scopes (RFC 6750 §3.1 insufficient_scope, RFC 9068 §2.2.3) ----
        Case::bearer(
            "scope missing",
            signed(&|c| {
                c.as_object_mut().expect("object").remove("scope");
            }),
            InsufficientScope("mcp:tools"),
        ),
        Case::bearer(
            "scope empty",
            signed(&|c| c["scope"] = "".into()),
            InsufficientScope("mcp:tools"),
        ),
        Case::bearer(
            "scp array",
            signed(&|c| {
                c.as_object_mut().expect("object").remove("scope");
                c["scp"] = json!(["openid", "mcp:tools"]);
            }),
            Ok,
        ),
        Case::bearer(
            "scope with other scopes only",
            signed(&|c| c["scope"] = "openid templates:write".into()),
            InsufficientScope("mcp:tools"),
        ),
        Case::bearer(
            "scope differing in case",
            signed(&|c| c["scope"] = "MCP:TOOLS".into()),
            InsufficientScope("mcp:tools"),
        ),
        Case::bearer(
            "scope with our scope as a prefix",
            signed(&|c| c["scope"] = "mcp:toolsx".into()),
            InsufficientScope("mcp:tools"),
        ),
        Case::bearer(
            "base scope only, calling a write tool",
            valid.clone(),
            InsufficientScope("mcp:tools templates:write"),
        )
        .tool("save_template")
        .per_tool(),
        Case::bearer(
            "scope as a JSON array",
            signed(&|c| c["scope"] = json!(["mcp:tools"])),
            InvalidToken("malformed"),
        ),
        // ---- Size and depth (serde_json recursion limit 128) ----
        // Claims we do not read are skipped, however many: the size cap is
        // the only limit on them.
        Case::bearer(
            "500 claims (under the token cap)",
            under_cap(signed(&|c| {
                for i in 0..500 {
                    c[format!("c{i}")] = 0.into();
                }
            })),
            Ok,
        ),
        Case::bearer(
            "10 000 claims: the 8 KiB token cap",
            over_cap(signed(&|c| {
                for i in 0..10_000 {
                    c[format!("c{i}")] = 0.into();
                }
            })),
            InvalidToken("token_too_large"),
        ),
        Case::bearer(
            "10 000-level nested header: the 8 KiB token cap",
            over_cap(unsigned(
                &format!(r#"{{"alg":"EdDSA","kid":"raw-ed","x":{}}}"#, nested(10_000)),
                &good,
            )),
            InvalidToken("token_too_large"),
        ),
        // jsonwebtoken keeps unknown header members as JSON values
        // (`Header::extras`), so the nesting hits serde_json's recursion
        // limit: `malformed`, where skipping it would reach the (empty)
        // signature.
        Case::bearer(
            "2 000-level nested header",
            under_cap(unsigned(
                &format!(r#"{{"alg":"EdDSA","kid":"raw-ed","x":{}}}"#, nested(2_000)),
                &good,
            )),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "2 000-level nested scp in a signed payload",
            raw.sign(
                &raw.header(),
                &raw_payload(&format!(r#""scp":{}"#, nested(2_000))),
            ),
            InvalidToken("malformed"),
        ),
        // ---- The control: the token every hostile case is derived from ----
        Case::bearer("valid token", &valid, Ok),
        Case::bearer(
            "valid token from the raw signer (EdDSA)",
            raw.sign(&raw.header(), &good_json),
            Ok,
        ),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());

    for case in &cases {
        let outcome = run(&f, case).await;
        check(case, &outcome);
    }
    assert_eq!(
        attacker_hits.load(Ordering::SeqCst),
        0,
        "a jku/x5u/jwk header was dereferenced"
    );
    // The matrix left the server healthy.
    let health = f
        .send(
            http::Request::get("/healthz")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn rfc9068_strict_typ_accepts_only_at_jwt() {
    use Expect::*;

    let f = Fixture::start(&[], |c| {
        c.auth.issuers[0].validation.typ = auth::TypPolicy::Rfc9068Strict;
    })
    .await;
    // RFC 9068 §2.2: strict mode also requires `client_id` and `jti`, which
    // Keycloak-shaped claims (`azp`) do not all carry.
    let mut good = f.issuer.claims("alice", RESOURCE, "mcp:tools");
    good["client_id"] = json!("mcp-client");
    good["jti"] = json!("6c0e3f4a-rfc9068");
    let typed = |typ: Option<&str>| {
        f.issuer.sign_with(
            Header {
                typ: typ.map(str::to_owned),
                ..rs(Algorithm::RS256, INITIAL_KID)
            },
            &good,
            INITIAL_KID,
        )
    };
    let cases = [
        Case::bearer(
            "typ JWT (Keycloak's default)",
            typed(Some("JWT")),
            InvalidToken("invalid_type"),
        ),
        Case::bearer("typ absent", typed(None), InvalidToken("invalid_type")),
        Case::bearer("typ at+jwt", typed(Some("at+jwt")), Ok),
        Case::bearer(
            "typ application/at+jwt",
            typed(Some("application/at+jwt")),
            Ok,
        ),
        Case::bearer(
            "typ AT+JWT (media types ignore case)",
            typed(Some("AT+JWT")),
            Ok,
        ),
        Case::bearer(
            "typ at+jwt; v=1 (parameters)",
            typed(Some("at+jwt; v=1")),
            InvalidToken("invalid_type"),
        ),
        Case::bearer(
            "typ id_token+jwt",
            typed(Some("id_token+jwt")),
            InvalidToken("invalid_type"),
        ),
    ];
    for case in &cases {
        let outcome = run(&f, case).await;
        check(case, &outcome);
    }
}

/// With the size cap raised far beyond the default, what stands between a
/// 10 000-level nested document and the stack is serde_json's recursion
/// limit (128) for values we deserialize, and its iterative skipping of the
/// values we ignore.
#[tokio::test]
async fn deep_nesting_is_stopped_by_serde_recursion_limit_not_the_stack() {
    use Expect::*;

    let f = Fixture::start(&[], |c| {
        c.auth.issuers[0].validation.max_token_bytes = 1024 * 1024
    })
    .await;
    let raw = RawSigner::publish(&f.issuer, "raw-ed");
    f.validator.jwks().refresh().await.expect("load keys");
    let good = f.issuer.claims("alice", RESOURCE, "mcp:tools");
    let good_json = good.to_string();
    let payload_with = |extra: String| format!("{},{extra}}}", &good_json[..good_json.len() - 1]);
    // `good` with `key` replaced by `extra` (removed first, so the row is
    // not a duplicate-member row in disguise).
    let payload_replacing = |key: &str, extra: String| {
        let mut rest = good.clone();
        rest.as_object_mut().expect("object").remove(key);
        let rest = rest.to_string();
        format!("{},{extra}}}", &rest[..rest.len() - 1])
    };
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}0{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));

    let cases = [
        // Unknown header members are kept as JSON values (jsonwebtoken's
        // `Header::extras`): the recursion limit refuses them (`malformed`),
        // before the empty signature is reached.
        Case::bearer(
            "10 000-level array in the header",
            unsigned(
                &format!(r#"{{"alg":"EdDSA","kid":"raw-ed","x":{deep_array}}}"#),
                &good,
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "10 000-level object in the header",
            unsigned(
                &format!(r#"{{"alg":"EdDSA","kid":"raw-ed","x":{deep_object}}}"#),
                &good,
            ),
            InvalidToken("malformed"),
        ),
        // `exp` is read as a `serde_json::Value` (to tell a string or float
        // from an integer): the recursion limit itself refuses this one.
        Case::bearer(
            "10 000-level array as exp in a signed payload",
            raw.sign(
                &raw.header(),
                &payload_replacing("exp", format!(r#""exp":{deep_array}"#)),
            ),
            InvalidToken("malformed"),
        ),
        // `scp` and `aud` are strings or arrays of strings: refused at the
        // first level that is neither, without descending further.
        Case::bearer(
            "10 000-level array as scp in a signed payload",
            raw.sign(
                &raw.header(),
                &payload_with(format!(r#""scp":{deep_array}"#)),
            ),
            InvalidToken("malformed"),
        ),
        Case::bearer(
            "10 000-level object as aud in a signed payload",
            raw.sign(
                &raw.header(),
                &payload_replacing("aud", format!(r#""aud":{deep_object}"#)),
            ),
            InvalidToken("malformed"),
        ),
        // An ignored claim is skipped without recursion: no overflow, and
        // nothing in it is trusted.
        Case::bearer(
            "10 000-level array in an ignored claim",
            raw.sign(
                &raw.header(),
                &payload_with(format!(r#""ext":{deep_array}"#)),
            ),
            Ok,
        ),
        Case::bearer(
            "10 000 claims",
            raw.sign(
                &raw.header(),
                &payload_with(
                    (0..10_000)
                        .map(|i| format!(r#""c{i}":0"#))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            ),
            Ok,
        ),
    ];
    for case in &cases {
        let outcome = run(&f, case).await;
        check(case, &outcome);
    }
}

/// Whether this cooldown window's two kid-miss fetches are spent.
fn after_budget(f: &Fixture, before: IdpRequests) -> bool {
    f.idp_requests().jwks - before.jwks >= 2
}

/// A flood of tokens with fresh random `kid`s cannot turn into a flood of
/// JWKS fetches: kid-miss refreshes are rate-limited (two per
/// `miss_cooldown` window, see the `jwks` crate docs), and the known keys
/// keep working meanwhile without any fetch.
#[tokio::test]
async fn kid_flood_costs_at_most_two_jwks_fetches_per_cooldown() {
    let f = Fixture::start(&[], |_| {}).await;
    let good = f.issuer.claims("alice", RESOURCE, "mcp:tools");
    let before = f.idp_requests();
    for i in 0..50 {
        let kid = format!("flood-{i}-{}", now());
        let token = f
            .issuer
            .sign_with(rs(Algorithm::RS256, &kid), &good, INITIAL_KID);
        // The first misses refresh the key set and find no such kid (401);
        // once the window's budget is spent, an unknown kid cannot be
        // decided and is answered 503, never 401 (a genuine token signed
        // with a key activated meanwhile must not be refused as invalid).
        let expect = if after_budget(&f, before) {
            Expect::KeysUnavailable("key_refresh_suppressed")
        } else {
            Expect::InvalidToken("unknown_key")
        };
        let case = Case::bearer("random kid", token, expect).kid_miss();
        let outcome = run(&f, &case).await;
        check(&case, &outcome);
    }
    let after = f.idp_requests();
    assert!(
        after.jwks - before.jwks <= 2,
        "{} JWKS fetches for 50 unknown kids",
        after.jwks - before.jwks
    );
    let case = Case::bearer(
        "valid token after the flood",
        f.issuer.sign(&good),
        Expect::Ok,
    );
    let outcome = run(&f, &case).await;
    check(&case, &outcome);
}
