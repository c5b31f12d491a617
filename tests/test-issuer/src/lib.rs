//! An in-process OpenID Connect issuer for tests, shaped like a Keycloak realm.
//!
//! [`TestIssuer::start`] binds an axum server to `127.0.0.1:0` and serves, under
//! `http://127.0.0.1:PORT/realms/test`:
//!
//! - `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0), with an
//!   [`TestIssuer::set_issuer_override`] knob to test the §4.3 issuer check;
//! - `/protocol/openid-connect/certs`, the JWKS, with [`JwksFault`] injection;
//! - `/protocol/openid-connect/token/introspect`, RFC 7662 introspection with
//!   `client_secret_basic` and `client_secret_post` client authentication, and
//!   an optional delay ([`TestIssuer::set_introspection_delay`]) so tests can
//!   hold calls in flight;
//! - `/protocol/openid-connect/token`, a stub that refuses every grant.
//!
//! Keys are generated with aws-lc-rs (RS256, PS256, ES256, ES384, EdDSA) and can be added,
//! removed and chosen for signing at run time, so tests can drive key rotation. Every
//! endpoint counts its requests.
//!
//! [`profiles`] builds the access-token shapes of Keycloak, Entra ID (v1.0, v2.0,
//! app-only), Auth0 (both token profiles) and Okta; [`TestIssuer::mint`] signs them.
//! Several issuers can run side by side (see [`TestIssuer::start`]).
//!
//! What it must NOT be: production code, or a dependency of any workspace crate. It is a
//! dev-dependency only, depends on no workspace crate, and panics loudly on misuse (an
//! unknown kid, a key that cannot sign the requested algorithm) because it is a test fixture.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod keys;
pub mod profiles;
mod server;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Header, encode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub use keys::KeyAlg;
pub use profiles::ProfileToken;

/// The realm path every endpoint lives under (Keycloak's layout).
pub const REALM_PATH: &str = "/realms/test";
/// The client id introspection accepts until [`TestIssuer::set_introspection_client`] changes it.
pub const DEFAULT_CLIENT_ID: &str = "mcp-server";
/// The client secret introspection accepts until [`TestIssuer::set_introspection_client`] changes it.
pub const DEFAULT_CLIENT_SECRET: &str = "mcp-server-secret";
/// The kid of the RS256 key every issuer started with [`TestIssuer::start`] has; each
/// issuer generates its own key material, so two issuers publish a colliding kid.
pub const INITIAL_KID: &str = "rsa-1";
/// The `azp` that [`TestIssuer::token`] puts in its tokens.
pub const TOKEN_AZP: &str = "test-client";
/// Lifetime of tokens minted by [`TestIssuer::token`].
pub const TOKEN_LIFETIME_SECS: u64 = 300;
/// The kids of the malformed keys [`JwksFault::BadKeyAmongGood`] adds to the JWKS.
pub const BAD_KIDS: [&str; 4] = ["bad-rsa-n", "bad-ec-missing-y", "bad-okp-x25519", "bad-oct"];

/// A fault the JWKS endpoint injects instead of (or around) its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksFault {
    /// Answer with this HTTP status and a small JSON error body.
    Status(u16),
    /// Answer `302 Found` with this `Location`.
    Redirect(String),
    /// Answer `200` with an HTML page (a login page behind a misconfigured proxy).
    Html,
    /// Answer `200` with the real keys followed by this many bytes of padding, streamed in
    /// chunks without a `Content-Length`, so only a running cap can catch it.
    HugeBody(usize),
    /// Answer `200` with `{"keys":[]}`.
    Empty,
    /// Wait this long before answering normally.
    Hang(Duration),
    /// Answer with the real keys plus malformed ones (kids in [`BAD_KIDS`]).
    BadKeyAmongGood,
}

struct Issued {
    claims: Value,
    kid: String,
}

pub(crate) struct State {
    /// Published keys, in JWKS order.
    keys: Vec<keys::TestKey>,
    /// Keys removed from the JWKS; they can still sign.
    retired: Vec<keys::TestKey>,
    signing_kid: String,
    issued: HashMap<String, Issued>,
    revoked: HashSet<String>,
    opaque: HashMap<String, Value>,
    client_id: String,
    client_secret: String,
    jwks_fault: Option<JwksFault>,
    issuer_override: Option<String>,
    /// How long introspection waits before answering.
    introspection_delay: Duration,
}

impl State {
    /// A published key first, else a retired one (the most recently retired wins).
    fn find(&self, kid: &str) -> &keys::TestKey {
        self.keys
            .iter()
            .find(|k| k.kid == kid)
            .or_else(|| self.retired.iter().rev().find(|k| k.kid == kid))
            .unwrap_or_else(|| panic!("no key with kid {kid}"))
    }
}

pub(crate) struct Shared {
    base: String,
    state: Mutex<State>,
    jwks_requests: AtomicUsize,
    discovery_requests: AtomicUsize,
    introspection_requests: AtomicUsize,
    jti: AtomicU64,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic in one test thread must not cascade into every later call.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn issuer(&self) -> String {
        format!("{}{REALM_PATH}", self.base)
    }

    pub(crate) fn endpoint(&self, tail: &str) -> String {
        format!("{}{REALM_PATH}/protocol/openid-connect/{tail}", self.base)
    }

    pub(crate) fn jwks_document(&self, state: &State) -> Value {
        let keys: Vec<Value> = state.keys.iter().map(|k| k.jwk.clone()).collect();
        json!({ "keys": keys })
    }

    /// RFC 7662 §2.2: the claims plus `"active": true`, or exactly `{"active": false}`.
    pub(crate) fn introspect(&self, token: &str) -> Value {
        let state = self.state();
        let inactive = json!({ "active": false });
        if state.revoked.contains(token) {
            return inactive;
        }
        let claims = if let Some(issued) = state.issued.get(token) {
            // The signature stays valid only while the signing key is still published.
            if !state.keys.iter().any(|k| k.kid == issued.kid) {
                return inactive;
            }
            issued.claims.clone()
        } else if let Some(claims) = state.opaque.get(token) {
            claims.clone()
        } else {
            return inactive;
        };
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64)
            && exp <= now_secs()
        {
            return inactive;
        }
        let mut out = match claims {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        out.insert("active".to_owned(), Value::Bool(true));
        Value::Object(out)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A running in-process issuer. Dropping it stops the server.
pub struct TestIssuer {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.issuer())
            .finish_non_exhaustive()
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestIssuer {
    /// Starts an issuer on an ephemeral loopback port with one RS256 key, [`INITIAL_KID`].
    ///
    /// Several issuers can run at once, each on its own port (so each has its own `iss`,
    /// `http://127.0.0.1:PORT/realms/test`). Every one starts with the kid
    /// [`INITIAL_KID`] over freshly generated key material: two issuers started this way
    /// are already the colliding-kid case (same kid, different keys). Use
    /// [`TestIssuer::start_with_kid`] for distinct kids.
    ///
    /// Must be called inside a tokio runtime.
    pub async fn start() -> TestIssuer {
        TestIssuer::start_with_kid(INITIAL_KID).await
    }

    /// Like [`TestIssuer::start`], but the initial RS256 key (and signing kid) is
    /// `initial_kid`.
    pub async fn start_with_kid(initial_kid: &str) -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            base: format!("http://{addr}"),
            state: Mutex::new(State {
                keys: vec![keys::generate(KeyAlg::Rs256, initial_kid)],
                retired: Vec::new(),
                signing_kid: initial_kid.to_owned(),
                issued: HashMap::new(),
                revoked: HashSet::new(),
                opaque: HashMap::new(),
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
                jwks_fault: None,
                issuer_override: None,
                introspection_delay: Duration::ZERO,
            }),
            jwks_requests: AtomicUsize::new(0),
            discovery_requests: AtomicUsize::new(0),
            introspection_requests: AtomicUsize::new(0),
            jti: AtomicU64::new(0),
        });
        let app = server::router(shared.clone());
        let server = tokio::spawn(async move {
            // The task is aborted on drop; an accept error ends the fixture early, which the
            // test then sees as connection failures.
            let _ = axum::serve(listener, app).await;
        });
        TestIssuer { shared, server }
    }

    /// `http://127.0.0.1:PORT` (no path).
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }

    /// The exact `iss` value: `http://127.0.0.1:PORT/realms/test`.
    pub fn issuer(&self) -> String {
        self.shared.issuer()
    }

    /// The discovery document URL: `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.shared.issuer())
    }

    /// The JWKS URL (Keycloak's `/protocol/openid-connect/certs`).
    pub fn jwks_uri(&self) -> String {
        self.shared.endpoint("certs")
    }

    /// The RFC 7662 introspection endpoint.
    pub fn introspection_endpoint(&self) -> String {
        self.shared.endpoint("token/introspect")
    }

    /// The token endpoint (a stub that answers `400 unsupported_grant_type`).
    pub fn token_endpoint(&self) -> String {
        self.shared.endpoint("token")
    }

    /// Generates a key for `alg` and publishes it in the JWKS under `kid` (`use: "sig"`).
    ///
    /// Panics if `kid` is already published.
    pub fn add_key(&self, alg: KeyAlg, kid: &str) {
        let key = keys::generate(alg, kid);
        self.push_key(key);
    }

    /// Publishes an RSA key with `use: "enc"` and `alg: "RSA-OAEP"`, as Keycloak does.
    pub fn add_encryption_key(&self, kid: &str) {
        let key = keys::generate_encryption(kid);
        self.push_key(key);
    }

    /// Publishes an arbitrary JWK verbatim (a missing `alg`, an odd `use`, a malformed
    /// member). It cannot sign; [`TestIssuer::remove_key`] removes it by its `kid`.
    pub fn add_raw_jwk(&self, jwk: Value) {
        let kid = jwk
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.shared.state().keys.push(keys::TestKey {
            kid,
            signing: None,
            jwk,
            public_der: Vec::new(),
        });
    }

    /// Sets (`Some`) or removes (`None`) one member of the published JWK `kid` (every key
    /// with that kid), e.g. Entra's `x5t` and `issuer`, or drops `alg` as Entra's JWKS does.
    ///
    /// Panics if no published key has this kid.
    pub fn set_jwk_member(&self, kid: &str, member: &str, value: Option<Value>) {
        let mut state = self.shared.state();
        let mut found = false;
        for key in state.keys.iter_mut().filter(|k| k.kid == kid) {
            found = true;
            let map = key.jwk.as_object_mut().expect("a JWK is a JSON object");
            match &value {
                Some(v) => map.insert(member.to_owned(), v.clone()),
                None => map.remove(member),
            };
        }
        assert!(found, "no published key with kid {kid}");
    }

    /// Publishes `x5t` equal to the kid on JWK `kid`, as Entra ID does (its `kid` and `x5t`
    /// are the same base64url certificate thumbprint).
    pub fn publish_x5t(&self, kid: &str) {
        self.set_jwk_member(kid, "x5t", Some(json!(kid)));
    }

    fn push_key(&self, key: keys::TestKey) {
        let mut state = self.shared.state();
        assert!(
            !state.keys.iter().any(|k| k.kid == key.kid),
            "kid {} already published",
            key.kid
        );
        state.keys.push(key);
    }

    /// Removes every key with this `kid` from the JWKS. Tokens it signed turn inactive for
    /// introspection; the key can still sign (so tests can mint tokens for a retired key).
    pub fn remove_key(&self, kid: &str) {
        let mut state = self.shared.state();
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.keys)
            .into_iter()
            .partition(|k| k.kid == kid);
        state.keys = kept;
        // Keep the private halves so `sign_with` can still mint tokens for a retired key.
        state.retired.extend(gone);
    }

    /// Chooses the key [`TestIssuer::sign`] and [`TestIssuer::token`] use by default.
    ///
    /// Panics if no signing key has this kid.
    pub fn set_signing_kid(&self, kid: &str) {
        let mut state = self.shared.state();
        assert!(
            state.find(kid).signing.is_some(),
            "no signing key with kid {kid}"
        );
        state.signing_kid = kid.to_owned();
    }

    /// The kid [`TestIssuer::sign`] currently uses.
    pub fn signing_kid(&self) -> String {
        self.shared.state().signing_kid.clone()
    }

    /// Signs `claims` with the current signing key; header `{alg, typ: "JWT", kid}`.
    pub fn sign(&self, claims: &Value) -> String {
        let kid = self.signing_kid();
        let alg = self.key_alg(&kid);
        let mut header = Header::new(alg.algorithm());
        header.typ = Some("JWT".to_owned());
        header.kid = Some(kid.clone());
        self.sign_with(header, claims, &kid)
    }

    /// Signs `claims` under an arbitrary `header` (wrong kid, `jku`, `crit`, other `typ`)
    /// with the private key published as `kid_of_key`. `header.alg` must suit that key.
    pub fn sign_with(&self, header: Header, claims: &Value, kid_of_key: &str) -> String {
        let token = {
            let state = self.shared.state();
            let key = state.find(kid_of_key);
            let (_, encoding) = key
                .signing
                .as_ref()
                .unwrap_or_else(|| panic!("key {kid_of_key} cannot sign"));
            encode(&header, claims, encoding).expect("sign test token")
        };
        self.shared.state().issued.insert(
            token.clone(),
            Issued {
                claims: claims.clone(),
                kid: kid_of_key.to_owned(),
            },
        );
        token
    }

    /// Signs a provider-shaped token ([`profiles`]) with the current signing key: the
    /// profile's header for that kid, with `alg` set to suit the key.
    pub fn mint(&self, token: &impl ProfileToken) -> String {
        let kid = self.signing_kid();
        let mut header = token.header(&kid);
        header.alg = self.key_alg(&kid).algorithm();
        self.sign_with(header, &token.claims(), &kid)
    }

    /// Keycloak-shaped claims for an access token, valid for [`TOKEN_LIFETIME_SECS`].
    pub fn claims(&self, sub: &str, aud: &str, scope: &str) -> Value {
        let now = now_secs();
        let jti = self.shared.jti.fetch_add(1, Ordering::Relaxed);
        json!({
            "iss": self.issuer(),
            "sub": sub,
            "aud": aud,
            "exp": now + TOKEN_LIFETIME_SECS,
            "iat": now,
            "jti": format!("test-{jti}"),
            "typ": "Bearer",
            "azp": TOKEN_AZP,
            "scope": scope,
        })
    }

    /// A signed access token with [`TestIssuer::claims`].
    pub fn token(&self, sub: &str, aud: &str, scope: &str) -> String {
        self.sign(&self.claims(sub, aud, scope))
    }

    fn key_alg(&self, kid: &str) -> KeyAlg {
        let state = self.shared.state();
        state
            .find(kid)
            .signing
            .as_ref()
            .map(|(alg, _)| *alg)
            .unwrap_or_else(|| panic!("key {kid} cannot sign"))
    }

    /// The SubjectPublicKeyInfo DER of a generated key (for algorithm-confusion tests that
    /// use the RSA public key bytes as an HS256 secret).
    pub fn public_key_der(&self, kid: &str) -> Vec<u8> {
        self.shared.state().find(kid).public_der.clone()
    }

    /// The same public key as PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_key_pem(&self, kid: &str) -> String {
        keys::pem("PUBLIC KEY", &self.public_key_der(kid))
    }

    /// The public JWK published for `kid`.
    pub fn public_jwk(&self, kid: &str) -> Value {
        self.shared.state().find(kid).jwk.clone()
    }

    /// The JWKS document the endpoint serves when no fault is set.
    pub fn jwks(&self) -> Value {
        let state = self.shared.state();
        self.shared.jwks_document(&state)
    }

    /// Sets (or clears) the fault the JWKS endpoint injects.
    pub fn set_jwks_fault(&self, fault: Option<JwksFault>) {
        self.shared.state().jwks_fault = fault;
    }

    /// Makes discovery announce this `issuer` instead of the real one (`None` restores it),
    /// to test the OpenID Connect Discovery 1.0 §4.3 exact-match rule.
    pub fn set_issuer_override(&self, issuer: Option<&str>) {
        self.shared.state().issuer_override = issuer.map(str::to_owned);
    }

    /// How many requests the JWKS endpoint has received.
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// How many requests the discovery endpoint has received.
    pub fn discovery_requests(&self) -> usize {
        self.shared.discovery_requests.load(Ordering::SeqCst)
    }

    /// How many requests the introspection endpoint has received (authenticated or not).
    pub fn introspection_requests(&self) -> usize {
        self.shared.introspection_requests.load(Ordering::SeqCst)
    }

    /// Sets the client credentials introspection requires (RFC 7662 §2.1).
    pub fn set_introspection_client(&self, client_id: &str, secret: &str) {
        let mut state = self.shared.state();
        state.client_id = client_id.to_owned();
        state.client_secret = secret.to_owned();
    }

    /// Makes introspection wait this long (after counting the request) before it answers;
    /// `Duration::ZERO` (the default) answers at once.
    pub fn set_introspection_delay(&self, delay: Duration) {
        self.shared.state().introspection_delay = delay;
    }

    /// Revokes a token: introspection answers `{"active": false}` for it afterwards.
    pub fn revoke(&self, token: &str) {
        self.shared.state().revoked.insert(token.to_owned());
    }

    /// Registers an opaque (non-JWT) token that introspection knows, with these claims.
    /// An `exp` claim in the past makes it inactive.
    pub fn register_opaque(&self, token: &str, claims: Value) {
        self.shared.state().opaque.insert(token.to_owned(), claims);
    }
}

#[cfg(test)]
mod profile_tests;
#[cfg(test)]
mod tests;
