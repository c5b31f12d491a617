//! The Admin REST calls tests need: the realm's keys and key providers
//! (rotation), session logout, client attributes, and the audience of the
//! MCP client scopes.

use anyhow::{Context, bail};
use serde_json::json;

use super::{Keycloak, REALM, str_field};

/// The client scopes whose Audience mappers carry the MCP resource URL.
const MCP_SCOPES: [&str; 2] = ["mcp:tools", "templates:write"];

/// A realm key as the Admin API lists it (`GET /admin/realms/R/keys`).
#[derive(Debug, Clone)]
pub(crate) struct KeyInfo {
    pub(crate) kid: String,
    /// `RS256`, `ES256`, `RSA-OAEP`, `HS512`, …
    pub(crate) algorithm: String,
    /// `ACTIVE`, `PASSIVE` or `DISABLED`.
    pub(crate) status: String,
    /// `SIG` or `ENC`.
    pub(crate) key_use: String,
    /// The id of the key provider component that holds the key.
    pub(crate) provider_id: String,
    pub(crate) priority: i64,
}

/// A generated key provider to add for rotation tests.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyAlgorithm {
    /// `rsa-generated`, 2048 bits.
    Rs256,
    /// `ecdsa-generated`, P-256.
    Es256,
}

impl Keycloak {
    /// The dev realm's admin URL plus `path`, e.g. `/keys`.
    fn admin_url(&self, path: &str) -> String {
        self.realm_admin_url(REALM, path)
    }

    /// `realm`'s admin URL plus `path`.
    fn realm_admin_url(&self, realm: &str, path: &str) -> String {
        format!("{}/admin/realms/{realm}{path}", self.base_url)
    }

    /// Every key of the dev realm with its status and provider.
    pub(crate) fn keys(&self) -> anyhow::Result<Vec<KeyInfo>> {
        self.keys_in(REALM)
    }

    /// Every key of `realm` with its status and provider.
    pub(crate) fn keys_in(&self, realm: &str) -> anyhow::Result<Vec<KeyInfo>> {
        let admin = self.admin_token()?;
        let body = self
            .http
            .get(&self.realm_admin_url(realm, "/keys"), Some(admin.as_str()))?
            .ok()?
            .json()?;
        let keys = body["keys"]
            .as_array()
            .context("GET keys: no `keys` array")?;
        Ok(keys
            .iter()
            .map(|k| KeyInfo {
                kid: str_field(k, "kid"),
                algorithm: str_field(k, "algorithm"),
                status: str_field(k, "status"),
                key_use: str_field(k, "use"),
                provider_id: str_field(k, "providerId"),
                priority: k["providerPriority"].as_i64().unwrap_or_default(),
            })
            .collect())
    }

    /// Adds a generated signing-key provider with `priority` (higher than
    /// the realm's 100 makes it the one new tokens are signed with) and
    /// returns its component id.
    pub(crate) fn add_key_provider(
        &self,
        algorithm: KeyAlgorithm,
        priority: i64,
    ) -> anyhow::Result<String> {
        let admin = self.admin_token()?;
        let realm = self
            .http
            .get(&self.admin_url(""), Some(admin.as_str()))?
            .ok()?
            .json()?;
        let realm_id = realm["id"].as_str().context("GET realm: no id")?;
        let priority = priority.to_string();
        let (provider, name, mut config) = match algorithm {
            KeyAlgorithm::Rs256 => (
                "rsa-generated",
                "rsa-rotated",
                json!({"keySize": ["2048"], "algorithm": ["RS256"]}),
            ),
            KeyAlgorithm::Es256 => (
                "ecdsa-generated",
                "ecdsa-rotated",
                json!({"ecdsaEllipticCurveKey": ["P-256"]}),
            ),
        };
        config["priority"] = json!([priority]);
        config["enabled"] = json!(["true"]);
        config["active"] = json!(["true"]);
        let component = json!({
            "name": format!("{name}-{priority}"),
            "providerId": provider,
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": config,
        });
        let reply = self
            .http
            .post_json(&self.admin_url("/components"), admin.as_str(), &component)?
            .ok()?;
        let location = reply
            .location
            .context("POST components: no Location header")?;
        let id = location.rsplit('/').next().unwrap_or_default();
        if id.is_empty() {
            bail!("POST components: no id in Location {location:?}");
        }
        Ok(id.to_owned())
    }

    /// Makes a key provider's keys active (sign new tokens) or passive
    /// (still published in the JWKS, not used to sign).
    pub(crate) fn set_key_provider_active(
        &self,
        component_id: &str,
        active: bool,
    ) -> anyhow::Result<()> {
        self.update_key_provider(component_id, "active", active)
    }

    /// Enables or disables a key provider; a disabled one leaves the JWKS.
    pub(crate) fn set_key_provider_enabled(
        &self,
        component_id: &str,
        enabled: bool,
    ) -> anyhow::Result<()> {
        self.update_key_provider(component_id, "enabled", enabled)
    }

    fn update_key_provider(
        &self,
        component_id: &str,
        key: &str,
        value: bool,
    ) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        let url = self.admin_url(&format!("/components/{component_id}"));
        let mut component = self.http.get(&url, Some(admin.as_str()))?.ok()?.json()?;
        component["config"][key] = json!([value.to_string()]);
        self.http.put_json(&url, admin.as_str(), &component)?.ok()?;
        Ok(())
    }

    /// Deletes a key provider and its keys.
    pub(crate) fn delete_key_provider(&self, component_id: &str) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        self.http
            .delete(
                &self.admin_url(&format!("/components/{component_id}")),
                admin.as_str(),
            )?
            .ok()?;
        Ok(())
    }

    /// Ends every session of `username` in the dev realm: its tokens then
    /// introspect as inactive, while the JWTs still verify until `exp`.
    pub(crate) fn logout_user(&self, username: &str) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        let url = self.admin_url(&format!("/users?username={username}&exact=true"));
        let users = self.http.get(&url, Some(admin.as_str()))?.ok()?.json()?;
        let id = users[0]["id"]
            .as_str()
            .with_context(|| format!("no user {username:?} in realm {REALM}"))?;
        self.http
            .post_empty(
                &self.admin_url(&format!("/users/{id}/logout")),
                admin.as_str(),
            )?
            .ok()?;
        Ok(())
    }

    /// The dev realm's clients whose name is `name` (as the Admin API
    /// represents them): how a test finds what a client registered itself as.
    pub(crate) fn clients_named(&self, name: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let admin = self.admin_token()?;
        let clients = self
            .http
            .get(&self.admin_url("/clients?max=1000"), Some(admin.as_str()))?
            .ok()?
            .json()?;
        Ok(clients
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == name)
            .cloned()
            .collect())
    }

    /// Deletes the dev-realm client with the internal id `id` (a test's
    /// registered client, once the test is done with it).
    pub(crate) fn delete_client(&self, id: &str) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        self.http
            .delete(&self.admin_url(&format!("/clients/{id}")), admin.as_str())?
            .ok()?;
        Ok(())
    }

    /// Adds the client scope `scope` to the optional scopes of the dev-realm
    /// client with the internal id `id`: what an administrator does so a
    /// dynamically registered client may ask for a scope it did not
    /// register with.
    pub(crate) fn add_optional_scope(&self, id: &str, scope: &str) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        let scopes = self
            .http
            .get(&self.admin_url("/client-scopes"), Some(admin.as_str()))?
            .ok()?
            .json()?;
        let scope_id = scopes
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == scope)
            .map(|s| str_field(s, "id"))
            .with_context(|| format!("no client scope {scope:?} in realm {REALM}"))?;
        self.http
            .put_json(
                &self.admin_url(&format!("/clients/{id}/optional-client-scopes/{scope_id}")),
                admin.as_str(),
                &json!({}),
            )?
            .ok()?;
        Ok(())
    }

    /// Sets one attribute of a dev-realm client, e.g.
    /// `access.token.signed.response.alg` = `ES256`; `None` removes it
    /// (Keycloak drops attributes updated to the empty string).
    pub(crate) fn set_client_attribute(
        &self,
        client_id: &str,
        key: &str,
        value: Option<&str>,
    ) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        let url = self.admin_url(&format!("/clients?clientId={client_id}"));
        let clients = self.http.get(&url, Some(admin.as_str()))?.ok()?.json()?;
        let id = clients[0]["id"]
            .as_str()
            .with_context(|| format!("no client {client_id:?} in realm {REALM}"))?;
        let url = self.admin_url(&format!("/clients/{id}"));
        let mut client = self.http.get(&url, Some(admin.as_str()))?.ok()?.json()?;
        client["attributes"][key] = json!(value.unwrap_or(""));
        self.http.put_json(&url, admin.as_str(), &client)?.ok()?;
        Ok(())
    }

    /// Points the audience mappers of the dev realm's client scopes at
    /// `audience` (for a realm that was imported with another one).
    pub(crate) fn set_audience(&self, audience: &str) -> anyhow::Result<()> {
        self.set_audience_in(REALM, audience)
    }

    /// [`Keycloak::set_audience`] in `realm` (the dev realm or one derived
    /// from it, such as [`super::SECOND_REALM`]).
    pub(crate) fn set_audience_in(&self, realm: &str, audience: &str) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        let scopes = self
            .http
            .get(
                &self.realm_admin_url(realm, "/client-scopes"),
                Some(admin.as_str()),
            )?
            .ok()?
            .json()?;
        let mcp_scopes = scopes
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| MCP_SCOPES.contains(&s["name"].as_str().unwrap_or("")));
        for scope in mcp_scopes {
            let scope_id = str_field(scope, "id");
            for mapper in scope["protocolMappers"].as_array().into_iter().flatten() {
                // Only the custom-audience mappers: the `mcp-server` client
                // audience mapper stays as it is.
                let current = mapper["config"]["included.custom.audience"].as_str();
                if mapper["protocolMapper"] != "oidc-audience-mapper"
                    || current.is_none_or(|current| current == audience)
                {
                    continue;
                }
                let mut mapper = mapper.clone();
                mapper["config"]["included.custom.audience"] = json!(audience);
                let url = self.realm_admin_url(
                    realm,
                    &format!(
                        "/client-scopes/{scope_id}/protocol-mappers/models/{}",
                        str_field(&mapper, "id")
                    ),
                );
                self.http.put_json(&url, admin.as_str(), &mapper)?.ok()?;
            }
        }
        // The resource client (see `RESOURCE_CLIENT_SECRET`): its id and
        // `resource_url` follow the audience, so RFC 8707 requests for it
        // are admitted and it stays in every narrowed `aud`.
        let clients = self
            .http
            .get(
                &self.realm_admin_url(realm, "/clients?max=1000"),
                Some(admin.as_str()),
            )?
            .ok()?
            .json()?;
        let resource_clients = clients.as_array().into_iter().flatten().filter(|c| {
            c["attributes"]["resource_url"]
                .as_str()
                .is_some_and(|url| url != audience)
                && c["clientId"] == c["attributes"]["resource_url"]
        });
        for client in resource_clients {
            let mut client = client.clone();
            client["clientId"] = json!(audience);
            client["attributes"]["resource_url"] = json!(audience);
            let url =
                self.realm_admin_url(realm, &format!("/clients/{}", str_field(&client, "id")));
            self.http.put_json(&url, admin.as_str(), &client)?.ok()?;
        }
        Ok(())
    }
}
