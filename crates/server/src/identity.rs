//! The caller's identity as the server uses it, projected from the one
//! `Arc<auth::Principal>` that `auth::AuthLayer` puts into the request
//! extensions: nothing here copies the principal, and nothing else in the
//! server builds these projections.
//!
//! - [`principal_of`]: the principal of a request, as the MCP handlers see it
//!   (rmcp hands them the request's `http::request::Parts`).
//! - [`Owner`]: who a session belongs to (issuer and subject or client).
//! - [`audit`]: the one audit line of a tool call, allowed or refused.

use std::sync::Arc;

use auth::Principal;

use crate::tool::Tool;

/// The principal `auth::AuthLayer` left in a request's extensions.
#[must_use]
pub fn principal_of(extensions: &http::Extensions) -> Option<&Arc<Principal>> {
    extensions.get::<Arc<Principal>>()
}

/// Who owns a session: the token's issuer and its subject, or its client for
/// client-credentials tokens without `sub`. A token naming neither has no
/// owner and cannot hold a session: binding it to a shared "anonymous" owner
/// would let every such token use every other one's sessions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    issuer: String,
    subject: OwnerSubject,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum OwnerSubject {
    /// `sub`.
    Subject(String),
    /// `azp` or `client_id`, for a token without `sub`.
    Client(String),
}

impl Owner {
    /// The owner a session created by `principal` gets; `None` when the token
    /// names no subject and no client.
    #[must_use]
    pub fn of(principal: &Principal) -> Option<Self> {
        let subject = match (&principal.subject, &principal.client_id) {
            (Some(sub), _) => OwnerSubject::Subject(sub.clone()),
            (None, Some(client)) => OwnerSubject::Client(client.clone()),
            (None, None) => return None,
        };
        Some(Self {
            issuer: principal.issuer.clone(),
            subject,
        })
    }

    /// Whether `principal` is this owner; compares without allocating.
    #[must_use]
    pub fn is(&self, principal: &Principal) -> bool {
        self.issuer == principal.issuer
            && match (&self.subject, &principal.subject, &principal.client_id) {
                (OwnerSubject::Subject(owner), Some(sub), _) => owner == sub,
                (OwnerSubject::Client(owner), None, Some(client)) => owner == client,
                _ => false,
            }
    }
}

/// Whether an audited tool call ran or was refused before it reached the tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audited {
    /// The tool ran; `outcome` is its result.
    Called,
    /// Authorization refused the call; `outcome` is the reason.
    Refused,
}

/// Writes the audit line (target `audit`) of one tool call. `principal` is
/// `None` only when authentication is disabled for benchmarks. Never logs the
/// token: a principal holds none.
pub fn audit(
    principal: Option<&Principal>,
    tool: Tool,
    template: Option<&str>,
    outcome: &str,
    audited: Audited,
) {
    let issuer = principal.map_or("-", |p| p.issuer.as_str());
    let subject = principal.and_then(|p| p.subject.as_deref()).unwrap_or("-");
    let client = principal
        .and_then(|p| p.client_id.as_deref())
        .unwrap_or("-");
    let tool = tool.name();
    let template = template.unwrap_or("-");
    match audited {
        Audited::Called => tracing::info!(
            target: "audit", issuer = %issuer, subject, client, tool, template, outcome, "tool call"
        ),
        Audited::Refused => tracing::info!(
            target: "audit", issuer = %issuer, subject, client, tool, template, outcome,
            "tool call refused"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(issuer: &str, sub: Option<&str>, client: Option<&str>) -> Principal {
        Principal {
            issuer: issuer.to_owned(),
            subject: sub.map(str::to_owned),
            client_id: client.map(str::to_owned),
            scopes: auth::Scopes::default(),
            audience: Vec::new(),
            expires_at: 0,
            source: auth::PrincipalSource::Jwt,
        }
    }

    #[test]
    fn one_subject_in_two_issuers_is_two_owners() {
        // MCP authorization: sessions are bound to (issuer, subject). The
        // same `sub` in two realms (or two tenants) are different users.
        let realm_a = principal("https://idp/realms/a", Some("alice"), None);
        let realm_b = principal("https://idp/realms/b", Some("alice"), None);
        let owner = Owner::of(&realm_a).expect("has a subject");
        assert!(owner.is(&realm_a));
        assert!(!owner.is(&realm_b));
        assert_ne!(Owner::of(&realm_b), Some(owner));
        // A client-credentials token of another issuer with the same client id.
        let client_a = principal("https://idp/realms/a", None, Some("svc"));
        let client_b = principal("https://idp/realms/b", None, Some("svc"));
        assert!(!Owner::of(&client_a).expect("client").is(&client_b));
    }
}
