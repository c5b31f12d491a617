//! Claim checks shared by JWT validation and introspection: well-typed times
//! with leeway, exact issuer, RFC 8707 audiences, scopes.
//!
//! jsonwebtoken already checks `exp`/`nbf`/`iss`, but it rounds float
//! timestamps and accepts an `iss` array; here `exp`, `nbf` and `iat` must be
//! JSON integers (RFC 7519 §2 NumericDate as issued by every mainstream
//! server; a present `null` is malformed, not absent), `iss` must be a
//! string, and `aud` is compared after canonicalisation, which jsonwebtoken
//! does not do. Under [`crate::TypPolicy::Rfc9068Strict`] the RFC 9068 §2.2
//! claims of a JWT access token are required.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

use serde::Deserialize;
use serde_json::Value;

use crate::{
    error::{Error, ErrorKind, err},
    principal::{Principal, PrincipalSource, Scopes},
    profile::{EntraVersion, Profile, entra_issuer},
};

/// The claims we read, from a JWT payload or an introspection response.
#[derive(Deserialize)]
pub(crate) struct Claims {
    /// RFC 7662 §2.2 `active`; absent in JWTs.
    #[serde(default)]
    pub(crate) active: Option<bool>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<OneOrMany>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    // Kept as raw JSON so that a string or float is reported, not coerced;
    // `present` keeps a JSON `null` as `Some(Null)` (malformed), distinct from
    // an absent claim (`None`).
    #[serde(default, deserialize_with = "present")]
    exp: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    nbf: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    iat: Option<Value>,
    /// Read only for the RFC 9068 §2.2 presence check.
    #[serde(default, deserialize_with = "present")]
    jti: Option<Value>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<OneOrMany>,
    // Read by the profiles (`crate::profile`) only.
    /// Entra application roles; Auth0 RBAC has `permissions` instead.
    #[serde(default)]
    roles: Option<OneOrMany>,
    #[serde(default)]
    permissions: Option<OneOrMany>,
    /// Entra v1.0's client id (v2.0 has `azp`).
    #[serde(default)]
    appid: Option<String>,
    /// Okta's client id.
    #[serde(default)]
    cid: Option<String>,
    /// Entra's object id: the same user across applications, unlike `sub`.
    #[serde(default)]
    oid: Option<String>,
    /// Entra's tenant id.
    #[serde(default)]
    tid: Option<String>,
    /// Entra's token version (`"1.0"`/`"2.0"`); Okta sends a number.
    #[serde(default)]
    ver: Option<Value>,
}

/// A claim that is in the object, whatever its JSON value (`null` included);
/// with `#[serde(default)]`, only an absent claim becomes `None`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A claim that may be a string or an array of strings (`aud`, `scp`).
///
/// Deserialized by a visitor rather than `#[serde(untagged)]`, which buffers
/// the value and retries each variant: Keycloak's `aud` is usually an array,
/// and this is on the path of every uncached token.
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(value) = seq.next_element::<String>()? {
                    values.push(value);
                }
                Ok(OneOrMany::Many(values))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl OneOrMany {
    fn as_slice(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

/// The settings claim checks need, precomputed once per `Validator`.
#[derive(Debug)]
pub(crate) struct ClaimRules {
    /// The exact `iss` values accepted (one, or one per Entra tenant).
    pub(crate) issuers: Vec<String>,
    /// Canonical forms of the accepted audiences.
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: i64,
    pub(crate) accept_azp_only: bool,
    /// Require the RFC 9068 §2.2 claims of JWT access tokens (set by
    /// [`crate::TypPolicy::Rfc9068Strict`]).
    pub(crate) require_rfc9068: bool,
    /// How the claims of a verified JWT are read.
    pub(crate) profile: Profile,
    /// [`Profile::Entra`]: application roles to the scopes they grant.
    pub(crate) role_scopes: Vec<(String, Vec<String>)>,
    /// When an audience refusal was last logged at `warn` (Unix seconds).
    pub(crate) audience_warned_at: AtomicI64,
}

/// At most one `warn` per this many seconds per issuer for tokens refused
/// for their audience; the others go to `debug`. A misconfigured audience
/// mapper refuses every token of every user: one line says why, a flood of
/// them would drown the log.
pub(crate) const AUDIENCE_WARN_EVERY_SECS: i64 = 60;

impl ClaimRules {
    /// Checks the claims at time `now` (Unix seconds) and builds the principal.
    pub(crate) fn check(
        &self,
        mut claims: Claims,
        now: i64,
        source: PrincipalSource,
    ) -> Result<Principal, Error> {
        if self.require_rfc9068 && source == PrincipalSource::Jwt {
            claims.require_rfc9068()?;
        }
        let exp = match claims.exp {
            None => return err(ErrorKind::MissingClaim("exp")),
            Some(v) => numeric_date(&v, "exp")?,
        };
        if exp.saturating_add(self.leeway) < now {
            return err(ErrorKind::Expired);
        }
        if let Some(nbf) = &claims.nbf
            && numeric_date(nbf, "nbf")? > now.saturating_add(self.leeway)
        {
            return err(ErrorKind::NotYetValid);
        }
        if let Some(iat) = &claims.iat
            && numeric_date(iat, "iat")? > now.saturating_add(self.leeway)
        {
            return err(ErrorKind::IssuedInFuture);
        }

        // Exact comparison: `https://idp/realms/x` and `https://idp/realms/x/`
        // are different issuers (OpenID Connect Discovery §3, RFC 8414 §3.3).
        // The token's own `iss` becomes the principal's: equal to one of
        // ours, and moved rather than cloned.
        let issuer = match claims.iss.take() {
            None => return err(ErrorKind::MissingClaim("iss")),
            Some(iss) if !self.issuers.contains(&iss) => return err(ErrorKind::InvalidIssuer),
            Some(iss) => iss,
        };

        let audience: Vec<String> = match claims.aud {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v,
        };
        // Exact matches first, over every value: Keycloak tokens often carry
        // `account` (the `roles` scope) next to the resource, and
        // canonicalising a value that does not match (a URL parse and an
        // allocation) is wasted when another one matches exactly.
        let aud_ok = audience.iter().any(|a| self.audiences.contains(a))
            || audience.iter().any(|a| self.accepts_audience(a))
            || (self.accept_azp_only
                && claims
                    .azp
                    .as_deref()
                    .is_some_and(|a| self.accepts_audience(a)));
        if !aud_ok {
            self.explain_audience(&audience, claims.azp.as_deref(), now);
            return err(ErrorKind::InvalidAudience);
        }

        let profile = match source {
            PrincipalSource::Jwt => self.profile,
            // RFC 7662 answers have one shape, whoever issued the token.
            PrincipalSource::Introspection => Profile::Generic,
        };
        let (subject, client_id, scopes) = match profile {
            Profile::Generic => (
                claims.sub,
                claims.azp.or(claims.client_id),
                scopes_of(claims.scope.as_deref(), [claims.scp.as_ref()]),
            ),
            Profile::Keycloak => (
                claims.sub,
                claims.azp.or(claims.client_id),
                scopes_of(claims.scope.as_deref(), []),
            ),
            Profile::Auth0 => (
                claims.sub,
                claims.azp.or(claims.client_id),
                scopes_of(claims.scope.as_deref(), [claims.permissions.as_ref()]),
            ),
            Profile::Okta => (
                claims.sub,
                claims.cid,
                scopes_of(None, [claims.scp.as_ref()]),
            ),
            Profile::Entra => {
                check_entra(
                    &issuer,
                    claims.tid.as_deref(),
                    claims.ver.as_ref(),
                    claims.oid.is_some(),
                )?;
                let mut scopes = scopes_of(None, [claims.scp.as_ref()]);
                for role in claims.roles.as_ref().map_or(&[][..], OneOrMany::as_slice) {
                    if let Some((_, granted)) = self.role_scopes.iter().find(|(r, _)| r == role) {
                        granted.iter().for_each(|s| scopes.push(s));
                    }
                }
                // `sub` is pairwise (per application); `oid` names the user
                // or service principal across applications, and
                // `check_entra` made sure it is there.
                (claims.oid, claims.azp.or(claims.appid), scopes)
            }
        };

        Ok(Principal {
            issuer,
            subject,
            client_id,
            scopes,
            audience,
            expires_at: exp,
            source,
        })
    }

    /// Says which audience a signature-valid token had and which we expected,
    /// so that a Keycloak audience-mapper mistake is found in one look. The
    /// values are identifiers (resource URLs, client ids), never the token.
    fn explain_audience(&self, audience: &[String], azp: Option<&str>, now: i64) {
        let last = self.audience_warned_at.load(Relaxed);
        let warn = now.saturating_sub(last) >= AUDIENCE_WARN_EVERY_SECS
            && self
                .audience_warned_at
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok();
        let issuer = self.issuers.first().map_or("", String::as_str);
        if warn {
            tracing::warn!(
                issuer,
                token_aud = ?audience,
                token_azp = azp.unwrap_or("-"),
                expected = ?self.audiences,
                "token refused: its aud does not name this resource (check the issuer's audience mapper or resource indicator); further refusals are logged at debug for {AUDIENCE_WARN_EVERY_SECS} s"
            );
        } else {
            tracing::debug!(issuer, token_aud = ?audience, token_azp = azp.unwrap_or("-"), expected = ?self.audiences, "token refused for its audience");
        }
    }

    /// Whether one `aud` value names us (RFC 8707 §2, RFC 3986 §6.2.2–6.2.3).
    ///
    /// Only case and scheme-based normalisation make two spellings equal. A
    /// value with dot segments is refused rather than resolved: a URL parser
    /// applies RFC 3986 §5.2.4 and would turn `https://host/x/../mcp` into
    /// `https://host/mcp`, but an audience is an identifier, not a reference.
    fn accepts_audience(&self, aud: &str) -> bool {
        // Most tokens carry the canonical form already: no allocation then.
        self.audiences.iter().any(|a| a == aud)
            || (!has_dot_segment(aud) && {
                let canonical = canonical_audience(aud);
                self.audiences.contains(&canonical)
            })
    }
}

impl Claims {
    /// RFC 9068 §2.2: a JWT access token MUST carry `iss`, `exp`, `aud`,
    /// `sub`, `client_id`, `iat` and `jti`. Presence only; the other checks
    /// judge the values.
    fn require_rfc9068(&self) -> Result<(), Error> {
        let required = [
            ("iss", self.iss.is_some()),
            ("exp", self.exp.is_some()),
            ("aud", self.aud.is_some()),
            ("sub", self.sub.is_some()),
            ("client_id", self.client_id.is_some()),
            ("iat", self.iat.is_some()),
            ("jti", self.jti.is_some()),
        ];
        match required.iter().find(|(_, present)| !present) {
            Some((claim, _)) => err(ErrorKind::MissingClaim(claim)),
            None => Ok(()),
        }
    }
}

/// Whether the path of a URI, as written, has a `.` or `..` segment, also
/// percent-encoded (`%2e`) or delimited by `\` (WHATWG parsers treat both as
/// dots and slashes in `http`/`https` URLs).
fn has_dot_segment(aud: &str) -> bool {
    let Some((_, rest)) = aud.split_once("://") else {
        return false;
    };
    let path = rest.find(['/', '\\']).map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split(['/', '\\']).any(|segment| {
        [".", "%2e", "..", ".%2e", "%2e.", "%2e%2e"]
            .iter()
            .any(|dots| segment.eq_ignore_ascii_case(dots))
    })
}

/// Entra's issuer rules ("Validate tokens"): the tenant in `iss` is the
/// token's `tid` (a multi-tenant issuer list is expanded from the
/// configured tenants, so this also pins `tid` to the allow-list), the
/// `ver` claim matches the issuer's form (a v1.0 token is not accepted
/// where only the v2.0 issuer is configured, and the reverse), and the
/// `oid` the session is bound to is present.
fn check_entra(
    issuer: &str,
    tid: Option<&str>,
    ver: Option<&Value>,
    has_oid: bool,
) -> Result<(), Error> {
    let Some((version, tenant)) = entra_issuer(issuer) else {
        return err(ErrorKind::InvalidIssuer);
    };
    match tid {
        None => return err(ErrorKind::MissingClaim("tid")),
        Some(tid) if tid != tenant => return err(ErrorKind::InvalidIssuer),
        Some(_) => {}
    }
    let expected = match version {
        EntraVersion::V1 => "1.0",
        EntraVersion::V2 => "2.0",
    };
    match ver {
        None => return err(ErrorKind::MissingClaim("ver")),
        Some(Value::String(v)) if v == expected => {}
        Some(_) => return err(ErrorKind::InvalidIssuer),
    }
    if !has_oid {
        return err(ErrorKind::MissingClaim("oid"));
    }
    Ok(())
}

/// The scopes of a space-delimited `scope` string and of claims that are a
/// space-delimited string or an array (`scp`, `permissions`).
fn scopes_of<'a>(
    scope: Option<&str>,
    lists: impl IntoIterator<Item = Option<&'a OneOrMany>>,
) -> Scopes {
    let mut scopes = Scopes::default();
    if let Some(scope) = scope {
        scopes.extend_space_delimited(scope);
    }
    for list in lists.into_iter().flatten() {
        for s in list.as_slice() {
            scopes.extend_space_delimited(s);
        }
    }
    scopes
}

/// RFC 7519 NumericDate, restricted to JSON integers.
fn numeric_date(v: &Value, claim: &'static str) -> Result<i64, Error> {
    match v.as_i64() {
        Some(n) => Ok(n),
        None => err(ErrorKind::Malformed(claim)),
    }
}

/// The canonical form of an audience value.
///
/// Absolute URIs are normalised per RFC 3986 §6.2.2 (case: scheme and host
/// lower-case) and §6.2.3 (scheme-based: the default port is dropped and an
/// empty path becomes `/`), as the `url` crate's WHATWG parser does for
/// `http`/`https`. Anything else (a Keycloak client id like `account`) is
/// returned unchanged and compared exactly.
pub(crate) fn canonical_audience(aud: &str) -> String {
    match url::Url::parse(aud) {
        Ok(url) if !url.cannot_be_a_base() => url.into(),
        _ => aud.to_owned(),
    }
}

#[cfg(test)]
mod tests;
