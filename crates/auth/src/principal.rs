//! What a verified token says about its caller: [`Principal`] and [`Scopes`].

use std::fmt;

/// A caller whose token was verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// `iss`, equal to the configured issuer.
    pub issuer: String,
    /// `sub`, when the token has one (client-credentials tokens may not).
    pub subject: Option<String>,
    /// The OAuth client the token was issued to: `azp`, else `client_id`.
    pub client_id: Option<String>,
    /// The granted scopes (`scope` and `scp`).
    pub scopes: Scopes,
    /// `aud` as the token states it (not canonicalised).
    pub audience: Vec<String>,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: i64,
    /// How the token was verified.
    pub source: PrincipalSource,
}

/// How a [`Principal`] was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalSource {
    /// Local JWT validation against the issuer's JWKS.
    Jwt,
    /// RFC 7662 introspection at the authorization server.
    Introspection,
}

/// A set of OAuth scopes (RFC 6749 §3.3), from the `scope` claim (a
/// space-delimited string) and the `scp` claim (an array, or a string, as
/// some identity providers issue it).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Scopes from a space-delimited `scope` string; empty items are skipped
    /// and duplicates dropped.
    #[must_use]
    pub fn from_space_delimited(scope: &str) -> Self {
        scope.split(' ').map(str::to_owned).collect()
    }

    /// Whether `scope` was granted (exact, case-sensitive: RFC 6749 §3.3).
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// The required scopes that were not granted, in `required` order.
    #[must_use]
    pub fn missing<'a>(&self, required: &'a [String]) -> Vec<&'a str> {
        required
            .iter()
            .map(String::as_str)
            .filter(|r| !self.contains(r))
            .collect()
    }

    /// The granted scopes.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether no scope was granted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the scopes of a space-delimited string.
    pub(crate) fn extend_space_delimited(&mut self, scope: &str) {
        for s in scope.split(' ') {
            self.push(s);
        }
    }

    /// Adds one scope unless it is empty or already present.
    pub(crate) fn push(&mut self, scope: &str) {
        if !scope.is_empty() && !self.contains(scope) {
            self.0.push(scope.to_owned());
        }
    }
}

impl FromIterator<String> for Scopes {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut scopes = Scopes::default();
        for s in iter {
            scopes.push(&s);
        }
        scopes
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for Scopes {
    /// The RFC 6749 §3.3 form: space-delimited.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}
