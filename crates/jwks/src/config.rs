//! Where the keys come from and the timing and size limits of fetching them.

use std::time::Duration;

use url::Url;

use crate::error::{Error, ErrorKind};

/// Where to find the issuer's JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Fetch `{issuer}/.well-known/openid-configuration` first, require its `issuer` to equal
    /// this one exactly (OpenID Connect Discovery 1.0 §4.3), then use its `jwks_uri`.
    Discovery {
        /// The issuer identifier, exactly as it appears in tokens' `iss`.
        issuer: Url,
    },
    /// Fetch this JWKS URL directly; no discovery request is made.
    JwksUri(Url),
}

/// Cache behaviour. Build with [`Config::new`], which fills the defaults documented on each
/// field; there is deliberately no `Default` (a source is always required).
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the keys come from.
    pub source: Source,
    /// Background refresh period. Default 5 min (panva/jose `cacheMaxAge` 10 min, Nimbus
    /// 5 min, go-oidc refreshes on demand): short enough that a rotated-in key is picked up
    /// quickly, long enough to stay at a handful of IdP calls per hour.
    pub ttl: Duration,
    /// Refresh this long before `ttl` elapses. Default 30 s (Nimbus refresh-ahead 30 s).
    pub refresh_ahead: Duration,
    /// Up to this much random time is added to or subtracted from each background refresh
    /// delay, so a fleet started together does not hit the IdP in lockstep. Default 10 s.
    pub jitter: Duration,
    /// Length of the window in which kid-miss refreshes are counted. Default 30 s (panva/jose
    /// `cooldownDuration` 30 s; keyfunc's refresh rate limit is of the same order).
    pub miss_cooldown: Duration,
    /// How many kid-miss refreshes may start per `miss_cooldown` window; further misses fail
    /// fast with [`ErrorKind::RefreshSuppressed`]. Default 2: one for a genuine rotation and
    /// one spare, while tokens with random kids cannot turn into a flood of IdP requests.
    pub miss_max_fetches: u32,
    /// How long the last good key set keeps being served after the last successful fetch
    /// while refreshes fail. After this the set is dropped and lookups fail closed.
    /// Default 24 h (Nimbus' outage TTL is 10× its TTL; a day rides out an IdP maintenance
    /// window while still bounding how long a revoked key can be trusted).
    pub outage_window: Duration,
    /// First retry delay after a failed background refresh. Default 1 s.
    pub retry_min: Duration,
    /// Retry delays double from `retry_min` up to this cap (with jitter). Default 60 s.
    pub retry_max: Duration,
    /// Connect timeout and total timeout of each HTTP request, body included. Default 5 s
    /// (the upper end of the 0.5–5 s range used by Envoy and Nimbus: the IdP may be slow).
    pub http_timeout: Duration,
    /// Cap on a response body, counted while reading. Default 256 KiB: Keycloak's JWKS with
    /// a few RSA keys and certificates is 3–10 KiB, so this leaves room for many keys while
    /// bounding memory (Nimbus caps at 50 KiB).
    pub max_body_bytes: usize,
    /// Accept plain `http` URLs for any host. Default `false`: the issuer, the
    /// JWKS URL and a discovered `jwks_uri` must be `https` unless their host
    /// is loopback (`127.0.0.0/8`, `::1`, `localhost`; see [`is_loopback`]),
    /// since keys fetched over plain HTTP can be replaced by anyone on the path.
    pub allow_insecure_http: bool,
}

impl Config {
    /// Default [`Config::ttl`]: 5 min.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
    /// Default [`Config::refresh_ahead`]: 30 s.
    pub const DEFAULT_REFRESH_AHEAD: Duration = Duration::from_secs(30);
    /// Default [`Config::jitter`]: 10 s.
    pub const DEFAULT_JITTER: Duration = Duration::from_secs(10);
    /// Default [`Config::miss_cooldown`]: 30 s.
    pub const DEFAULT_MISS_COOLDOWN: Duration = Duration::from_secs(30);
    /// Default [`Config::miss_max_fetches`]: 2.
    pub const DEFAULT_MISS_MAX_FETCHES: u32 = 2;
    /// Default [`Config::outage_window`]: 24 h.
    pub const DEFAULT_OUTAGE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
    /// Default [`Config::retry_min`]: 1 s.
    pub const DEFAULT_RETRY_MIN: Duration = Duration::from_secs(1);
    /// Default [`Config::retry_max`]: 60 s.
    pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(60);
    /// Default [`Config::http_timeout`]: 5 s.
    pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default [`Config::max_body_bytes`]: 256 KiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

    /// A configuration for `source` with the documented defaults (the
    /// `DEFAULT_*` constants).
    pub fn new(source: Source) -> Config {
        Config {
            source,
            ttl: Self::DEFAULT_TTL,
            refresh_ahead: Self::DEFAULT_REFRESH_AHEAD,
            jitter: Self::DEFAULT_JITTER,
            miss_cooldown: Self::DEFAULT_MISS_COOLDOWN,
            miss_max_fetches: Self::DEFAULT_MISS_MAX_FETCHES,
            outage_window: Self::DEFAULT_OUTAGE_WINDOW,
            retry_min: Self::DEFAULT_RETRY_MIN,
            retry_max: Self::DEFAULT_RETRY_MAX,
            http_timeout: Self::DEFAULT_HTTP_TIMEOUT,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            allow_insecure_http: false,
        }
    }

    /// Checks the invariants the cache relies on.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |msg: &str| Err(ErrorKind::Config(msg.to_owned()).into());
        let url = match &self.source {
            Source::Discovery { issuer } => issuer,
            Source::JwksUri(url) => url,
        };
        check_transport(url, self.allow_insecure_http).map_err(ErrorKind::Config)?;
        if self.ttl.is_zero() {
            return bad("ttl must be positive");
        }
        if self.refresh_ahead >= self.ttl {
            return bad("refresh_ahead must be shorter than ttl");
        }
        if self.retry_min.is_zero() || self.retry_min > self.retry_max {
            return bad("retry_min must be positive and at most retry_max");
        }
        if self.outage_window.is_zero() {
            return bad("outage_window must be positive");
        }
        if self.http_timeout.is_zero() {
            return bad("http_timeout must be positive");
        }
        if self.max_body_bytes == 0 {
            return bad("max_body_bytes must be positive");
        }
        Ok(())
    }
}

/// Whether `url`'s host is loopback: an IPv4 address in `127.0.0.0/8`, `::1`,
/// or the name `localhost` (RFC 6761 §6.3 reserves it for loopback). Plain
/// `http` to such a host never leaves the machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The transport rule for every URL keys are fetched from: `https`, or `http`
/// to a loopback host, or `http` anywhere when `allow_insecure_http`. The
/// error names the URL.
pub(crate) fn check_transport(url: &Url, allow_insecure_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "{url} must use https (plain http only for a loopback host or with allow_insecure_http)"
        )),
        _ => Err(format!("{url} must be an http or https url")),
    }
}
