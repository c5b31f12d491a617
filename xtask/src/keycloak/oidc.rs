//! The OpenID Connect calls: tokens by password and client-credentials
//! grant (and the `master` realm's admin token), RFC 7662 introspection,
//! the JWKS, and [`Token`], whose JWT parts decode without verification for
//! display and assertions.

use std::fmt;

use anyhow::{Context, bail};
use base64::Engine as _;
use serde_json::Value;

use super::{Keycloak, REALM};

/// An access token. Its Debug output never shows the token.
pub(crate) struct Token {
    pub(super) access_token: String,
    pub(super) expires_in: u64,
    pub(super) scope: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

impl Token {
    /// The compact JWT, for an `Authorization: Bearer` header.
    pub(crate) fn as_str(&self) -> &str {
        &self.access_token
    }

    /// `expires_in` of the token response, in seconds.
    pub(crate) fn expires_in(&self) -> u64 {
        self.expires_in
    }

    /// `scope` of the token response.
    pub(crate) fn scope(&self) -> &str {
        &self.scope
    }

    /// The JWT payload, decoded without any verification (for display and
    /// test assertions only).
    pub(crate) fn claims(&self) -> anyhow::Result<Value> {
        jwt_part(&self.access_token, 1)
    }

    /// The JWT header, decoded without any verification.
    pub(crate) fn header(&self) -> anyhow::Result<Value> {
        jwt_part(&self.access_token, 0)
    }
}

fn jwt_part(jwt: &str, index: usize) -> anyhow::Result<Value> {
    let part = jwt
        .split('.')
        .nth(index)
        .context("the access token is not a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .context("the access token is not base64url")?;
    serde_json::from_slice(&bytes).context("the access token part is not JSON")
}

impl Keycloak {
    /// An admin access token from the `master` realm (`admin-cli`, password grant).
    pub(crate) fn admin_token(&self) -> anyhow::Result<Token> {
        let url = format!(
            "{}/realms/master/protocol/openid-connect/token",
            self.base_url
        );
        let form = [
            ("grant_type", "password"),
            ("client_id", "admin-cli"),
            ("username", self.admin_user.as_str()),
            ("password", self.admin_password.as_str()),
        ];
        token_from(self.http.post_form(&url, &form)?).context("admin token")
    }

    /// A user's access token from the dev realm (resource owner password
    /// grant). `secret` is `None` for a public client; `scopes` is
    /// space-separated and may be empty.
    pub(crate) fn password_token(
        &self,
        client: &str,
        secret: Option<&str>,
        user: &str,
        password: &str,
        scopes: &str,
    ) -> anyhow::Result<Token> {
        self.password_token_in(REALM, client, secret, user, password, scopes)
    }

    /// [`Keycloak::password_token`] from `realm`, e.g. [`super::SECOND_REALM`].
    pub(crate) fn password_token_in(
        &self,
        realm: &str,
        client: &str,
        secret: Option<&str>,
        user: &str,
        password: &str,
        scopes: &str,
    ) -> anyhow::Result<Token> {
        let mut form = vec![
            ("grant_type", "password"),
            ("client_id", client),
            ("username", user),
            ("password", password),
        ];
        if let Some(secret) = secret {
            form.push(("client_secret", secret));
        }
        if !scopes.is_empty() {
            form.push(("scope", scopes));
        }
        token_from(
            self.http
                .post_form(&self.oidc_url_in(realm, "token"), &form)?,
        )
        .with_context(|| format!("password grant for {user} with client {client} in realm {realm}"))
    }

    /// A client's own access token (client credentials grant, service account).
    pub(crate) fn client_credentials_token(
        &self,
        client: &str,
        secret: &str,
        scopes: &str,
    ) -> anyhow::Result<Token> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
        ];
        if !scopes.is_empty() {
            form.push(("scope", scopes));
        }
        token_from(self.http.post_form(&self.oidc_url("token"), &form)?)
            .with_context(|| format!("client credentials grant for {client}"))
    }

    /// RFC 7662 introspection of `token`, authenticated as a confidential client.
    pub(crate) fn introspect(
        &self,
        client: &str,
        secret: &str,
        token: &str,
    ) -> anyhow::Result<Value> {
        let form = [
            ("client_id", client),
            ("client_secret", secret),
            ("token", token),
        ];
        self.http
            .post_form(&self.oidc_url("token/introspect"), &form)?
            .ok()?
            .json()
    }

    /// The dev realm's JWKS document.
    pub(crate) fn jwks(&self) -> anyhow::Result<Value> {
        self.http.get(&self.oidc_url("certs"), None)?.ok()?.json()
    }
}

fn token_from(reply: crate::http::Reply) -> anyhow::Result<Token> {
    if !reply.is_success() {
        // Keycloak's error bodies are `{"error", "error_description"}`: no secrets.
        let body = reply.json().unwrap_or_default();
        bail!(
            "token endpoint said HTTP {}: {} ({})",
            reply.status,
            body["error"].as_str().unwrap_or("?"),
            body["error_description"].as_str().unwrap_or("")
        );
    }
    let body = reply.json()?;
    Ok(Token {
        access_token: body["access_token"]
            .as_str()
            .context("token response: no access_token")?
            .to_owned(),
        expires_in: body["expires_in"].as_u64().unwrap_or_default(),
        scope: body["scope"].as_str().unwrap_or_default().to_owned(),
    })
}
