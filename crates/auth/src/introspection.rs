//! RFC 7662 token introspection with bounded result caches.
//!
//! `POST endpoint` with `token=…&token_type_hint=access_token`, authenticated
//! as a confidential client (`client_secret_basic` by default, or
//! `client_secret_post`). The endpoint must be `https` (plain `http` only to
//! a loopback host, or with `allow_insecure_http`); the client follows no
//! redirects, ignores proxy environment variables and has a total timeout. An answer is trusted only when `active` is `true` (§2.2) *and*
//! the same claim rules as for JWTs hold (exact `iss`, `exp` in the future,
//! our audience): Keycloak's introspection returns `aud`, and a token for
//! another resource must not become valid here by being opaque.
//!
//! Active results are cached until `min(exp, now + positive_ttl)`, inactive
//! ones (and definitive claim failures) for `negative_ttl`. Errors reaching
//! the endpoint are never cached.
//!
//! A token that local validation cannot decide ([`Purpose::Decide`]) costs
//! whoever sends it nothing but the request, and us a call to the
//! authorization server; so those calls are bounded twice:
//!
//! - **single-flight**: concurrent requests with the same token (the same
//!   `TokenKey`) wait for one call and share its answer. The calls in flight
//!   live in a map (at most `max_entries`; past that a request asks alone),
//!   each entry removed when its call is done or its last waiter is gone;
//!   the map's `std::sync::Mutex` guards one hash-map operation at a time,
//!   never an `.await`;
//! - **a global rate limit**: each call takes a token from one lock-free
//!   [`TokenBucket`] (`calls_per_sec`, `burst`); when it is empty the request
//!   fails with [`ErrorKind::IntrospectionRateLimited`] (503 with
//!   `Retry-After`), and so do the requests waiting on it.
//!
//! Explicit online checks ([`Purpose::VerifyOnline`]) bypass both, as they
//! bypass the caches: they are only reachable with a token that already
//! passed validation and the caller's scope checks, so their number is
//! bounded by authenticated traffic; taking them from the shared bucket would
//! let an anonymous flood deny every revocation-sensitive operation.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError, atomic::Ordering::Relaxed},
};

use base64::Engine as _;
use http::{HeaderValue, StatusCode, header::AUTHORIZATION};
use tokio::sync::OnceCell;

use crate::{
    bearer::BearerToken,
    claims::{ClaimRules, Claims},
    config::{ClientAuth, IntrospectionConfig},
    error::{Error, ErrorKind, err},
    metrics::Metrics,
    principal::{Principal, PrincipalSource},
    rate_limit::TokenBucket,
    token_key::TokenKey,
};

/// Why the endpoint is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// To decide a token local validation could not (every token in
    /// introspection mode, the fallback in `JwtThenIntrospection`): cached
    /// answers first, then one shared, rate-limited call.
    Decide,
    /// An explicit online check of a token (`Validator::introspect`): always
    /// a call of its own, exempt from the rate limit; its answer refreshes
    /// the caches.
    VerifyOnline,
}

/// Introspection responses larger than this are refused: a real one is a few
/// hundred bytes to a few KiB.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Clone)]
struct Active {
    principal: Arc<Principal>,
    until: i64,
}

/// A definitive negative answer and how long it stands.
#[derive(Clone)]
struct Negative {
    kind: ErrorKind,
    until: i64,
}

/// The token errors worth remembering: they cannot change for a token (the
/// authorization server said inactive, or its answer broke a claim rule).
/// Errors reaching the endpoint are never remembered.
fn is_cacheable_negative(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Inactive
            | ErrorKind::Expired
            | ErrorKind::NotYetValid
            | ErrorKind::IssuedInFuture
            | ErrorKind::InvalidIssuer
            | ErrorKind::InvalidAudience
            | ErrorKind::MissingClaim(_)
            | ErrorKind::Malformed(_)
    )
}

pub(crate) struct Introspector {
    client: reqwest::Client,
    endpoint: url::Url,
    client_auth: ClientAuth,
    client_id: String,
    /// The secret, kept only in the form it is sent in.
    credentials: Credentials,
    positive_ttl: i64,
    negative_ttl: i64,
    positive: quick_cache::sync::Cache<TokenKey, Active>,
    negative: quick_cache::sync::Cache<TokenKey, Negative>,
    flights: Flights,
    bucket: TokenBucket,
}

enum Credentials {
    /// The precomputed, sensitive `Authorization: Basic …` value.
    Basic(HeaderValue),
    Post(crate::config::Secret),
}

impl Introspector {
    pub(crate) fn new(config: IntrospectionConfig) -> Result<Self, Error> {
        let endpoint = &config.endpoint;
        let secure = endpoint.scheme() == "https"
            || (endpoint.scheme() == "http"
                && (config.allow_insecure_http || jwks::is_loopback(endpoint)));
        if !secure {
            return err(ErrorKind::Config(format!(
                "introspection endpoint {endpoint} must use https \
                 (plain http only for a loopback host or with allow_insecure_http)"
            )));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Never HTTP(S)_PROXY from the environment: the secret and the
            // tokens go to the configured endpoint and nowhere else.
            .no_proxy()
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .build()
            .map_err(|e| ErrorKind::Config(format!("introspection http client: {e}")))?;
        let credentials = match config.client_auth {
            ClientAuth::Basic => {
                // RFC 6749 §2.3.1: id and secret are form-urlencoded first.
                let pair = format!(
                    "{}:{}",
                    form_encode(&config.client_id),
                    form_encode(config.client_secret.expose())
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| ErrorKind::Config("introspection credentials".into()))?;
                value.set_sensitive(true);
                Credentials::Basic(value)
            }
            ClientAuth::Post => Credentials::Post(config.client_secret),
        };
        let max = config.max_entries.max(1);
        Ok(Introspector {
            client,
            endpoint: config.endpoint,
            client_auth: config.client_auth,
            client_id: config.client_id,
            credentials,
            positive_ttl: secs(config.positive_ttl),
            negative_ttl: secs(config.negative_ttl),
            positive: quick_cache::sync::Cache::new(max),
            negative: quick_cache::sync::Cache::new(max),
            flights: Flights {
                map: Mutex::new(HashMap::new()),
                max,
            },
            bucket: TokenBucket::new(config.calls_per_sec, config.burst),
        })
    }

    /// Introspects `token` for `purpose`.
    pub(crate) async fn introspect(
        &self,
        token: &BearerToken,
        key: TokenKey,
        now: i64,
        rules: &ClaimRules,
        metrics: &Metrics,
        purpose: Purpose,
    ) -> Result<Arc<Principal>, Error> {
        if purpose == Purpose::VerifyOnline {
            return self.ask(token, key, now, rules, metrics).await;
        }
        if let Some(answer) = self.cached(&key, now, metrics) {
            return answer;
        }
        let ask = || async move {
            if !self.bucket.try_acquire() {
                tracing::debug!("introspection rate limit reached, token not judged");
                return err(ErrorKind::IntrospectionRateLimited);
            }
            self.ask(token, key, now, rules, metrics).await
        };
        let seat = self.flights.join(key);
        match &seat.flight {
            // The call runs in whichever waiter polls it; if that one is
            // cancelled, the next waiter runs it again, from the bucket again.
            Some(flight) => flight.get_or_init(ask).await.clone(),
            None => ask().await,
        }
    }

    /// The cached answer for `key`, if it still stands at `now`.
    fn cached(
        &self,
        key: &TokenKey,
        now: i64,
        metrics: &Metrics,
    ) -> Option<Result<Arc<Principal>, Error>> {
        if let Some(hit) = self.positive.get(key) {
            if hit.until >= now {
                metrics.introspection_cache_hits.fetch_add(1, Relaxed);
                return Some(Ok(hit.principal));
            }
            self.positive.remove(key);
        }
        if let Some(hit) = self.negative.get(key) {
            if hit.until >= now {
                metrics.introspection_cache_hits.fetch_add(1, Relaxed);
                return Some(err(hit.kind));
            }
            self.negative.remove(key);
        }
        None
    }

    /// One call to the endpoint, its verdict under the claim rules, and the
    /// caches updated with it.
    async fn ask(
        &self,
        token: &BearerToken,
        key: TokenKey,
        now: i64,
        rules: &ClaimRules,
        metrics: &Metrics,
    ) -> Result<Arc<Principal>, Error> {
        metrics.introspection_calls.fetch_add(1, Relaxed);
        let claims = match self.call(token).await {
            Ok(claims) => claims,
            Err(e) => {
                metrics.introspection_errors.fetch_add(1, Relaxed);
                tracing::warn!(reason = %e, "token introspection failed");
                return Err(e);
            }
        };

        // RFC 7662 §2.2: anything but `"active": true` is inactive.
        let verdict = if claims.active == Some(true) {
            rules.check(claims, now, PrincipalSource::Introspection)
        } else {
            err(ErrorKind::Inactive)
        };
        match verdict {
            Ok(principal) => {
                let principal = Arc::new(principal);
                let until = principal
                    .expires_at
                    .min(now.saturating_add(self.positive_ttl));
                self.negative.remove(&key);
                self.positive.insert(
                    key,
                    Active {
                        principal: Arc::clone(&principal),
                        until,
                    },
                );
                Ok(principal)
            }
            Err(e) => {
                if is_cacheable_negative(e.kind()) {
                    self.positive.remove(&key);
                    self.negative.insert(
                        key,
                        Negative {
                            kind: e.kind().clone(),
                            until: now.saturating_add(self.negative_ttl),
                        },
                    );
                }
                Err(e)
            }
        }
    }

    async fn call(&self, token: &BearerToken) -> Result<Claims, Error> {
        let mut form: Vec<(&str, &str)> = vec![
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
        ];
        let mut request = self.client.post(self.endpoint.clone());
        match &self.credentials {
            Credentials::Basic(value) => request = request.header(AUTHORIZATION, value.clone()),
            Credentials::Post(secret) => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", secret.expose()));
            }
        }
        let mut response = request
            .form(&form)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| ErrorKind::IntrospectionUnavailable)?;

        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return err(ErrorKind::IntrospectionUnavailable);
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return err(ErrorKind::Introspection("client authentication refused"));
        }
        if status != StatusCode::OK {
            return err(ErrorKind::Introspection("unexpected status"));
        }

        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| ErrorKind::IntrospectionUnavailable)?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return err(ErrorKind::Introspection("response too large"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|_| Error::from(ErrorKind::Introspection("invalid response")))
    }
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .field("client_auth", &self.client_auth)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// One shared introspection: the answer every waiter gets.
type Flight = OnceCell<Result<Arc<Principal>, Error>>;

/// The introspections in flight, by token key (see the module docs).
struct Flights {
    map: Mutex<HashMap<TokenKey, Arc<Flight>>>,
    /// Entries beyond which a request asks alone.
    max: usize,
}

impl Flights {
    /// Joins the flight for `key`, or starts one. The seat is empty when the
    /// map is full.
    fn join(&self, key: TokenKey) -> Seat<'_> {
        let mut map = lock(&self.map);
        let flight = match map.get(&key) {
            Some(flight) => Some(Arc::clone(flight)),
            None if map.len() < self.max => {
                let flight = Arc::new(Flight::new());
                map.insert(key, Arc::clone(&flight));
                Some(flight)
            }
            None => None,
        };
        Seat {
            flights: self,
            key,
            flight,
        }
    }
}

/// A waiter's hold on a flight. Dropping it (answered or cancelled) removes
/// the flight from the map once it is answered or nobody waits on it any
/// more, so the map holds only calls that someone still waits for.
struct Seat<'a> {
    flights: &'a Flights,
    key: TokenKey,
    flight: Option<Arc<Flight>>,
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        let Some(mine) = self.flight.take() else {
            return;
        };
        let mut map = lock(&self.flights.map);
        if !map.get(&self.key).is_some_and(|f| Arc::ptr_eq(f, &mine)) {
            return;
        }
        let answered = mine.initialized();
        // Dropped under the lock, where every join takes its clone: the
        // map's `Arc` is the last one exactly when no waiter is left.
        drop(mine);
        if answered
            || map
                .get(&self.key)
                .is_some_and(|f| Arc::strong_count(f) == 1)
        {
            map.remove(&self.key);
        }
    }
}

/// The map's lock; a panic while it was held cannot leave the map
/// inconsistent (every critical section is one hash-map call), so a
/// poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flights(max: usize) -> Flights {
        Flights {
            map: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn len(flights: &Flights) -> usize {
        lock(&flights.map).len()
    }

    #[test]
    fn waiters_of_one_token_share_one_flight() {
        let f = flights(10);
        let a = f.join([1; 16]);
        let b = f.join([1; 16]);
        let other = f.join([2; 16]);
        match (&a.flight, &b.flight, &other.flight) {
            (Some(a), Some(b), Some(other)) => {
                assert!(Arc::ptr_eq(a, b));
                assert!(!Arc::ptr_eq(a, other));
            }
            _ => panic!("every seat has a flight below the bound"),
        }
        assert_eq!(len(&f), 2);
    }

    #[test]
    fn a_flight_leaves_the_map_when_answered() {
        let f = flights(10);
        let a = f.join([1; 16]);
        let b = f.join([1; 16]);
        if let Some(flight) = &a.flight {
            assert!(flight.set(err(ErrorKind::Inactive)).is_ok());
        }
        // Answered: the first waiter to leave removes it; the next request
        // starts a new flight (it would find the answer in the caches).
        drop(a);
        assert_eq!(len(&f), 0);
        drop(b);
        assert_eq!(len(&f), 0);
    }

    #[test]
    fn an_unanswered_flight_leaves_the_map_with_its_last_waiter() {
        // Cancelled requests (a client gone mid-call) must not leak entries.
        let f = flights(10);
        let a = f.join([1; 16]);
        let b = f.join([1; 16]);
        drop(a);
        assert_eq!(len(&f), 1, "b still waits");
        drop(b);
        assert_eq!(len(&f), 0);
    }

    #[test]
    fn past_the_bound_a_request_asks_alone() {
        let f = flights(1);
        let a = f.join([1; 16]);
        let joined = f.join([1; 16]);
        let alone = f.join([2; 16]);
        assert!(a.flight.is_some() && joined.flight.is_some());
        assert!(alone.flight.is_none());
        assert_eq!(len(&f), 1);
        drop(alone);
        assert_eq!(len(&f), 1);
    }
}
