//! Identity-provider profiles: where each provider puts scopes, the client
//! and the subject in its JWT access tokens, and the extra issuer rules it
//! needs ([`Profile`]).
//!
//! A profile changes only how the claims of a *signature-verified JWT* are
//! read; the signature, `exp`/`nbf`/`iat`, exact `iss` and audience checks
//! are the same for every profile. Introspection answers (RFC 7662) have one
//! standard shape and are always read the generic way.
//!
//! Sources, per profile:
//! - Keycloak: the server administration guide, "OIDC token and SAML
//!   assertion mappings" (`scope` string, `azp`, audience mappers).
//! - Entra ID: Microsoft identity platform, "Access token claims reference"
//!   (`scp` string without the resource prefix, `roles` array, `ver`, `tid`,
//!   `oid`, `azp` in v2.0 and `appid` in v1.0 tokens, pairwise `sub`) and
//!   "Validate tokens" (the issuer carries the tenant: validate `tid`, never
//!   trust `{tenantid}` alone).
//! - Auth0: "Access Token Profiles" and "Enable Role-Based Access Control for
//!   APIs" (`scope` string and the RBAC `permissions` array; issuers end with
//!   `/`).
//! - Okta: "Tokens reference: access token payload" (`scp` array, `cid` for
//!   the client, custom authorization server issuers).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, err};

/// The token shape of an identity provider, chosen per issuer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Any RFC 9068-like token: scopes from `scope` (string) and `scp`
    /// (string or array), client `azp` else `client_id`, subject `sub`.
    /// The default, and what a single `auth.issuer` always accepted.
    #[default]
    Generic,
    /// Keycloak: scopes from `scope` only; client `azp` else `client_id`.
    Keycloak,
    /// Microsoft Entra ID (v1.0 and v2.0 tokens): delegated scopes from
    /// `scp`, application permissions from `roles` through
    /// [`crate::ValidationConfig::role_scopes`]; client `azp` (v2.0) or
    /// `appid` (v1.0); subject `oid` (`sub` is pairwise per application);
    /// `tid` must name the issuer's tenant and `ver` match the issuer form.
    Entra,
    /// Auth0: scopes from `scope` plus the RBAC `permissions` array.
    Auth0,
    /// Okta: scopes from the `scp` array; client `cid`.
    Okta,
}

impl Profile {
    /// Every profile, in documentation order.
    pub const ALL: [Profile; 5] = [
        Profile::Keycloak,
        Profile::Entra,
        Profile::Auth0,
        Profile::Okta,
        Profile::Generic,
    ];

    /// The configuration name (`"keycloak"`, `"entra"`, …).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Profile::Generic => "generic",
            Profile::Keycloak => "keycloak",
            Profile::Entra => "entra",
            Profile::Auth0 => "auth0",
            Profile::Okta => "okta",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match Profile::ALL.into_iter().find(|p| p.name() == s) {
            Some(p) => Ok(p),
            None => err(ErrorKind::Config(format!(
                "unknown profile {s:?}: expected one of keycloak, entra, auth0, okta, generic"
            ))),
        }
    }
}

/// The placeholder of a multi-tenant Entra issuer, replaced by each tenant
/// of [`crate::ValidationConfig::tenants`].
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Which Entra token version an issuer URL stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntraVersion {
    /// `https://sts.windows.net/{tid}/` (and sovereign-cloud equivalents
    /// without the `/v2.0` suffix): `ver` must be `"1.0"`.
    V1,
    /// `https://login.microsoftonline.com/{tid}/v2.0`: `ver` must be `"2.0"`.
    V2,
}

/// What an Entra issuer URL says: its token version and tenant (the first
/// path segment), or `None` when the URL has no tenant segment.
pub(crate) fn entra_issuer(issuer: &str) -> Option<(EntraVersion, &str)> {
    let rest = issuer.split_once("://")?.1;
    let path = &rest[rest.find('/')?..];
    let mut segments = path.trim_start_matches('/').split('/');
    let tenant = segments.next().filter(|t| !t.is_empty())?;
    let version = if path.trim_end_matches('/').ends_with("/v2.0") {
        EntraVersion::V2
    } else {
        EntraVersion::V1
    };
    Some((version, tenant))
}

/// Whether `tenant` is an Entra tenant id: a GUID in its 8-4-4-4-12 form.
/// Tenant ids are substituted into issuer URLs, so nothing else is allowed.
pub(crate) fn is_tenant_id(tenant: &str) -> bool {
    let groups: Vec<&str> = tenant.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>().unwrap(), p);
        }
        let e = "Entra".parse::<Profile>().unwrap_err();
        assert!(e.to_string().contains("unknown profile \"Entra\""), "{e}");
    }

    #[test]
    fn entra_issuer_forms() {
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        assert_eq!(
            entra_issuer(&format!("https://login.microsoftonline.com/{t}/v2.0")),
            Some((EntraVersion::V2, t))
        );
        assert_eq!(
            entra_issuer(&format!("https://sts.windows.net/{t}/")),
            Some((EntraVersion::V1, t))
        );
        assert_eq!(entra_issuer("https://sts.windows.net/"), None);
        assert_eq!(entra_issuer("not a url"), None);
    }

    #[test]
    fn tenant_ids_are_guids() {
        assert!(is_tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        for bad in [
            "",
            "common",
            "organizations",
            "72f988bf-86f1-41af-91ab-2d7cd011db4",
            "72f988bf-86f1-41af-91ab-2d7cd011db47/",
            "72f988bf/86f1-41af-91ab-2d7cd011db47",
            "72f988bg-86f1-41af-91ab-2d7cd011db47",
        ] {
            assert!(!is_tenant_id(bad), "{bad:?}");
        }
    }
}
