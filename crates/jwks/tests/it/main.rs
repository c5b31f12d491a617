//! Integration tests: a `JwksCache` against the in-process `test-issuer`, over loopback HTTP.
//!
//! Windows are tested with tokio's paused clock only where no HTTP is in flight (a paused
//! clock auto-advances while a socket is pending, which would fire HTTP timeouts).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::future::join_all;
use jsonwebtoken::{Validation, decode, decode_header};
use jwks::{Config, ErrorKind, JwksCache, Source, Status};
use serde_json::Value;
use test_issuer::{BAD_KIDS, INITIAL_KID, JwksFault, KeyAlg, TestIssuer};
use url::Url;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// Short retry delays so tests never wait on production backoff.
fn config(source: Source) -> Config {
    let mut config = Config::new(source);
    config.retry_min = Duration::from_millis(10);
    config.retry_max = Duration::from_millis(50);
    config.http_timeout = Duration::from_secs(5);
    config
}

fn direct(issuer: &TestIssuer) -> Config {
    config(Source::JwksUri(url(&issuer.jwks_uri())))
}

fn cache(config: Config) -> JwksCache {
    JwksCache::new(config).unwrap()
}

#[track_caller]
fn assert_kind(result: Result<impl std::fmt::Debug, jwks::Error>, expected: &ErrorKind) {
    match result {
        Err(e) => assert_eq!(e.kind(), expected, "{e}"),
        Ok(v) => panic!("expected {expected:?}, got Ok({v:?})"),
    }
}

/// Polls `condition` every 10 ms; the bound only stops a broken test from hanging forever.
async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn discovery_resolves_jwks_uri_and_keys() {
    let issuer = TestIssuer::start().await;
    let cache = cache(config(Source::Discovery {
        issuer: url(&issuer.issuer()),
    }));
    assert_eq!(cache.jwks_uri(), None);
    cache.refresh().await.unwrap();
    assert_eq!(cache.jwks_uri(), Some(url(&issuer.jwks_uri())));
    assert!(cache.get(INITIAL_KID).is_some());
    // Discovery is done once per cache.
    cache.refresh().await.unwrap();
    assert_eq!(
        (issuer.discovery_requests(), issuer.jwks_requests()),
        (1, 2)
    );
}

/// OpenID Connect Discovery 1.0 §4.3: the announced issuer must be identical.
#[tokio::test]
async fn discovery_issuer_must_match_exactly() {
    let issuer = TestIssuer::start().await;
    let cache = cache(config(Source::Discovery {
        issuer: url(&issuer.issuer()),
    }));
    for announced in [
        format!("{}/", issuer.issuer()),
        "https://evil.example/realms/test".to_owned(),
    ] {
        issuer.set_issuer_override(Some(&announced));
        let err = cache.refresh().await.unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::IssuerMismatch {
                expected: issuer.issuer(),
                found: announced
            }
        );
    }
    assert_eq!(issuer.jwks_requests(), 0, "no JWKS fetch after a mismatch");
    assert_eq!(cache.status(), Status::Empty);
    assert!(cache.get(INITIAL_KID).is_none());
}

#[tokio::test]
async fn explicit_jwks_uri_skips_discovery() {
    let issuer = TestIssuer::start().await;
    let cache = cache(direct(&issuer));
    cache.refresh().await.unwrap();
    assert!(cache.get(INITIAL_KID).is_some());
    assert_eq!(
        (issuer.discovery_requests(), issuer.jwks_requests()),
        (0, 1)
    );
    assert!(matches!(cache.status(), Status::Fresh { .. }));
}

/// Keys fetched for every supported algorithm verify tokens the issuer signs.
#[tokio::test]
async fn fetched_keys_verify_tokens_of_every_supported_alg() {
    let issuer = TestIssuer::start().await;
    let algs = [
        (KeyAlg::Ps256, "ps"),
        (KeyAlg::Es256, "es256"),
        (KeyAlg::Es384, "es384"),
        (KeyAlg::EdDsa, "ed"),
    ];
    for (alg, kid) in algs {
        issuer.add_key(alg, kid);
    }
    let cache = cache(direct(&issuer));
    cache.refresh().await.unwrap();
    for (alg, kid) in [(KeyAlg::Rs256, INITIAL_KID)].into_iter().chain(algs) {
        issuer.set_signing_kid(kid);
        let token = issuer.token("alice", "aud-1", "s");
        let header = decode_header(&token).unwrap();
        let key = cache.get(header.kid.as_deref().unwrap()).unwrap();
        assert!(key.permits(header.alg), "{kid}");
        assert_eq!(key.alg, Some(alg.algorithm()));
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&["aud-1"]);
        decode::<Value>(&token, &key.decoding_key, &validation).unwrap();
    }
}

/// RFC 7517 §4.2: Keycloak also publishes an `enc` RSA-OAEP key; it is never a verifier.
#[tokio::test]
async fn keeps_only_signing_keys() {
    let issuer = TestIssuer::start().await;
    issuer.add_encryption_key("enc-1");
    issuer.add_key(KeyAlg::Es256, "ec-1");
    let mut no_use = issuer.public_jwk(INITIAL_KID);
    no_use.as_object_mut().unwrap().remove("use");
    no_use["kid"] = "rsa-no-use".into();
    issuer.add_raw_jwk(no_use);
    let cache = cache(direct(&issuer));
    cache.refresh().await.unwrap();
    assert!(cache.get("enc-1").is_none());
    for kid in [INITIAL_KID, "ec-1", "rsa-no-use"] {
        assert!(cache.get(kid).is_some(), "{kid}");
    }
    assert_eq!(cache.metrics().keys, 3);
}

#[tokio::test]
async fn skips_unparsable_key_keeps_others() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_fault(Some(JwksFault::BadKeyAmongGood));
    let cache = cache(direct(&issuer));
    cache.refresh().await.unwrap();
    assert!(cache.get(INITIAL_KID).is_some());
    for kid in BAD_KIDS {
        assert!(cache.get(kid).is_none(), "{kid}");
    }
    assert_eq!(cache.metrics().keys, 1);
}

#[tokio::test]
async fn zero_usable_keys_is_error_and_keeps_previous_set() {
    let issuer = TestIssuer::start().await;
    let cache = cache(direct(&issuer));
    cache.refresh().await.unwrap();

    issuer.set_jwks_fault(Some(JwksFault::Empty));
    assert_kind(cache.refresh().await, &ErrorKind::NoUsableKeys);
    // Only an encryption key left: still no usable signing key.
    issuer.set_jwks_fault(None);
    issuer.add_encryption_key("enc-1");
    issuer.remove_key(INITIAL_KID);
    assert_kind(cache.refresh().await, &ErrorKind::NoUsableKeys);

    assert!(cache.get(INITIAL_KID).is_some(), "previous set kept");
    assert!(matches!(cache.status(), Status::Stale { .. }));
    let m = cache.metrics();
    assert_eq!((m.fetch_ok, m.fetch_failed, m.keys), (1, 2, 1));
}

#[tokio::test]
async fn unknown_kid_refetches_once() {
    let issuer = TestIssuer::start().await;
    let cache = cache(direct(&issuer));
    cache.refresh().await.unwrap();
    issuer.add_key(KeyAlg::Es256, "ec-new");

    let before = issuer.jwks_requests();
    let key = cache.get_or_refresh("ec-new").await.unwrap();
    assert_eq!(key.kid, "ec-new");
    assert_eq!(issuer.jwks_requests(), before + 1);
    // A known kid never fetches.
    cache.get_or_refresh("ec-new").await.unwrap();
    assert_eq!(issuer.jwks_requests(), before + 1);
    // A kid the issuer does not have: exactly one fetch, then UnknownKid.
    assert_kind(cache.get_or_refresh("nope").await, &ErrorKind::UnknownKid);
    assert_eq!(issuer.jwks_requests(), before + 2);
    assert_eq!(cache.metrics().kid_miss_refreshes, 2);
}

#[tokio::test]
async fn kid_miss_refresh_is_rate_limited() {
    let issuer = TestIssuer::start().await;
    let mut config = direct(&issuer);
    config.miss_cooldown = Duration::from_secs(3600);
    let budget = config.miss_max_fetches as usize;
    let cache = cache(config);
    cache.refresh().await.unwrap();

    // A random-kid flood of 10 000 requests (the hardening issue's figure)
    // costs at most `miss_max_fetches` fetches in the cooldown window.
    const FLOOD: usize = 10_000;
    let before = issuer.jwks_requests();
    let mut suppressed = 0;
    for _ in 0..FLOOD {
        let kid = format!("random-{:016x}", rand::random::<u64>());
        match cache.get_or_refresh(&kid).await.unwrap_err().kind() {
            ErrorKind::RefreshSuppressed => suppressed += 1,
            ErrorKind::UnknownKid => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(issuer.jwks_requests() - before <= budget);
    assert_eq!(suppressed, FLOOD - budget);
    assert_eq!(
        cache.metrics().refreshes_suppressed,
        (FLOOD - budget) as u64
    );
    // The keys already known keep working during the cooldown.
    assert!(cache.get_or_refresh(INITIAL_KID).await.is_ok());
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let issuer = TestIssuer::start().await;
    let mut config = direct(&issuer);
    config.miss_max_fetches = 1000; // prove single-flight, not the rate limit
    let cache = cache(config);
    cache.refresh().await.unwrap();
    issuer.add_key(KeyAlg::EdDsa, "ed-new");
    // Keep the fetch in flight while every caller arrives.
    issuer.set_jwks_fault(Some(JwksFault::Hang(Duration::from_millis(100))));

    let before = issuer.jwks_requests();
    let results = join_all((0..50).map(|_| cache.get_or_refresh("ed-new"))).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|k| k.kid == "ed-new"))
    );
    assert_eq!(issuer.jwks_requests(), before + 1);
    assert_eq!(cache.metrics().kid_miss_refreshes, 1);

    let results = join_all((0..50).map(|_| cache.refresh())).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(issuer.jwks_requests(), before + 2);
}

#[tokio::test]
async fn serves_stale_keys_during_outage_within_window() {
    let issuer = TestIssuer::start().await;
    let cache = cache(direct(&issuer));
    cache.refresh().await.unwrap();
    issuer.set_jwks_fault(Some(JwksFault::Status(503)));
    assert_kind(cache.refresh().await, &ErrorKind::Status(503));

    tokio::time::pause();
    tokio::time::advance(cache.config().outage_window - Duration::from_secs(1)).await;
    assert!(cache.get(INITIAL_KID).is_some());
    match cache.status() {
        Status::Stale { last_error, .. } => assert!(last_error.contains("503"), "{last_error}"),
        other => panic!("expected stale, got {other:?}"),
    }
}

#[tokio::test]
async fn drops_keys_after_outage_window() {
    let issuer = TestIssuer::start().await;
    let cache = cache(direct(&issuer));
    cache.refresh().await.unwrap();
    issuer.set_jwks_fault(Some(JwksFault::Status(503)));

    tokio::time::pause();
    tokio::time::advance(cache.config().outage_window + Duration::from_secs(1)).await;
    // Fail closed even before any refresh notices the outage.
    assert!(cache.get(INITIAL_KID).is_none());
    assert_eq!(cache.status(), Status::Empty);
    tokio::time::resume();

    assert_kind(cache.refresh().await, &ErrorKind::Status(503));
    assert_eq!(cache.metrics().keys, 0, "set dropped");
    // Recovery: the next good fetch serves keys again.
    issuer.set_jwks_fault(None);
    cache.refresh().await.unwrap();
    assert!(cache.get(INITIAL_KID).is_some());
}

#[tokio::test]
async fn rejects_redirects() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_fault(Some(JwksFault::Redirect(issuer.jwks_uri())));
    let cache = cache(direct(&issuer));
    assert_kind(cache.refresh().await, &ErrorKind::Redirect { status: 302 });
    assert_eq!(issuer.jwks_requests(), 1, "redirect not followed");

    // Also when the caller's own client follows redirects (here to a 200 JSON document).
    issuer.set_jwks_fault(Some(JwksFault::Redirect(issuer.discovery_url())));
    let following = reqwest::Client::new();
    let cache = JwksCache::with_client(direct(&issuer), following).unwrap();
    assert!(matches!(
        cache.refresh().await.unwrap_err().kind(),
        ErrorKind::Redirect { .. }
    ));
}

#[tokio::test]
async fn rejects_non_200() {
    let issuer = TestIssuer::start().await;
    let cache = cache(direct(&issuer));
    for status in [201, 204, 404, 500, 503] {
        issuer.set_jwks_fault(Some(JwksFault::Status(status)));
        assert_kind(cache.refresh().await, &ErrorKind::Status(status));
    }
    // A 200 that is not a JWKS document (a login page) is refused too.
    issuer.set_jwks_fault(Some(JwksFault::Html));
    assert!(matches!(
        cache.refresh().await.unwrap_err().kind(),
        ErrorKind::InvalidJson(_)
    ));
    assert_eq!(cache.status(), Status::Empty);
}

#[tokio::test]
async fn rejects_oversized_body() {
    let issuer = TestIssuer::start().await;
    let mut config = direct(&issuer);
    config.max_body_bytes = 64 * 1024;
    let cache = cache(config);
    // Streamed without Content-Length: only the running cap can stop it.
    issuer.set_jwks_fault(Some(JwksFault::HugeBody(1024 * 1024)));
    assert_kind(
        cache.refresh().await,
        &ErrorKind::BodyTooLarge { limit: 64 * 1024 },
    );
    // Just under the cap is fine.
    issuer.set_jwks_fault(Some(JwksFault::HugeBody(32 * 1024)));
    cache.refresh().await.unwrap();
}

#[tokio::test]
async fn times_out_hanging_endpoint() {
    let issuer = TestIssuer::start().await;
    let mut config = direct(&issuer);
    config.http_timeout = Duration::from_millis(200);
    let cache = cache(config);
    issuer.set_jwks_fault(Some(JwksFault::Hang(Duration::from_secs(30))));
    assert_kind(cache.refresh().await, &ErrorKind::Timeout);
}

#[tokio::test]
async fn background_refresh_picks_up_rotated_key() {
    let issuer = TestIssuer::start().await;
    let mut config = direct(&issuer);
    config.ttl = Duration::from_millis(50);
    config.refresh_ahead = Duration::ZERO;
    config.jitter = Duration::ZERO;
    let cache = cache(config);
    let refresher = cache.spawn_refresher();
    assert!(
        eventually(|| cache.get(INITIAL_KID).is_some()).await,
        "initial fetch"
    );

    issuer.add_key(KeyAlg::Es384, "es-rotated");
    assert!(
        eventually(|| cache.get("es-rotated").is_some()).await,
        "rotated key picked up"
    );
    assert_eq!(
        cache.metrics().kid_miss_refreshes,
        0,
        "no request had to miss"
    );

    // Dropping the handle stops the refresher.
    drop(refresher);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let after_stop = issuer.jwks_requests();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(issuer.jwks_requests(), after_stop);
}

#[tokio::test]
async fn background_refresh_retries_after_failure() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_fault(Some(JwksFault::Status(500)));
    let cache = cache(direct(&issuer)); // ttl 5 min: only retries can fetch again
    let _refresher = cache.spawn_refresher();
    assert!(
        eventually(|| issuer.jwks_requests() >= 2).await,
        "retried with backoff"
    );
    issuer.set_jwks_fault(None);
    assert!(
        eventually(|| cache.get(INITIAL_KID).is_some()).await,
        "recovered"
    );
}

#[tokio::test]
async fn rotation_new_kid_accepted_while_old_key_still_present() {
    let issuer = TestIssuer::start().await;
    let cache = cache(direct(&issuer));
    cache.refresh().await.unwrap();
    issuer.add_key(KeyAlg::Rs256, "rsa-2");
    issuer.set_signing_kid("rsa-2");
    let token = issuer.token("alice", "aud", "s");
    let kid = decode_header(&token).unwrap().kid.unwrap();

    let before = issuer.jwks_requests();
    assert!(cache.get_or_refresh(&kid).await.is_ok());
    assert_eq!(issuer.jwks_requests(), before + 1, "one refresh");
    assert!(
        cache.get(INITIAL_KID).is_some(),
        "old key still served for old tokens"
    );
}

#[tokio::test]
async fn rotation_removed_key_gone_after_refresh() {
    let issuer = TestIssuer::start().await;
    issuer.add_key(KeyAlg::Rs256, "rsa-2");
    let cache = cache(direct(&issuer));
    cache.refresh().await.unwrap();
    assert!(cache.get(INITIAL_KID).is_some());
    issuer.remove_key(INITIAL_KID);
    cache.refresh().await.unwrap();
    assert!(cache.get(INITIAL_KID).is_none());
    assert!(cache.get("rsa-2").is_some());
    assert_eq!(cache.metrics().keys, 1);
}

#[tokio::test]
async fn plain_http_refused_unless_loopback() {
    // Keys fetched over plain HTTP can be swapped by anyone on the path; only
    // loopback (a local IdP, tests) is exempt by default.
    for refused in [
        "http://idp.example/realms/r",
        "http://10.0.0.1/realms/r",
        "http://localhost.example/realms/r",
    ] {
        for source in [
            Source::Discovery {
                issuer: url(refused),
            },
            Source::JwksUri(url(refused)),
        ] {
            let err = JwksCache::new(Config::new(source)).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Config(_)),
                "{refused}: {err}"
            );
            assert!(err.to_string().contains(refused), "names the url: {err}");
        }
    }
    for allowed in [
        "https://idp.example/realms/r",
        "http://127.0.0.1:8080/realms/r",
        "http://127.1.2.3/realms/r",
        "http://[::1]:8080/realms/r",
        "http://localhost:8080/realms/r",
    ] {
        let source = Source::Discovery {
            issuer: url(allowed),
        };
        assert!(JwksCache::new(Config::new(source)).is_ok(), "{allowed}");
    }
    // The explicit opt-out.
    let mut config = Config::new(Source::JwksUri(url("http://idp.example/certs")));
    config.allow_insecure_http = true;
    assert!(JwksCache::new(config).is_ok());
}
