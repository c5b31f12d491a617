//! Blocking plain-HTTP calls for xtask tasks (Keycloak's token, admin and
//! health endpoints), on `ureq` without a TLS stack.
//!
//! Every call returns the status and the body whatever the status, so callers
//! can say what a 4xx meant; [`Reply::ok`] turns a non-2xx into an error that
//! names the request and quotes the start of the body. Requests never go
//! through a proxy from the environment: these calls target loopback dev
//! servers. Request bodies (passwords, client secrets) are never printed.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// A shared `ureq` agent with a global timeout and no status-as-error.
#[derive(Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
}

/// What a server answered: status, body, and the `Location` header.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) location: Option<String>,
    what: String,
}

impl Http {
    /// An agent whose every call gives up after `timeout`.
    pub(crate) fn new(timeout: Duration) -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    pub(crate) fn get(&self, url: &str, bearer: Option<&str>) -> anyhow::Result<Reply> {
        let mut req = self.agent.get(url).header("Accept", "application/json");
        if let Some(token) = bearer {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        Reply::read(format!("GET {url}"), req.call())
    }

    pub(crate) fn post_form(&self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<Reply> {
        let req = self.agent.post(url).header("Accept", "application/json");
        Reply::read(format!("POST {url}"), req.send_form(form.iter().copied()))
    }

    /// `POST` without a body (Keycloak's logout endpoints).
    pub(crate) fn post_empty(&self, url: &str, bearer: &str) -> anyhow::Result<Reply> {
        let req = self
            .agent
            .post(url)
            .header("Authorization", format!("Bearer {bearer}"));
        Reply::read(format!("POST {url}"), req.send_empty())
    }

    pub(crate) fn post_json(&self, url: &str, bearer: &str, body: &Value) -> anyhow::Result<Reply> {
        let req = self
            .agent
            .post(url)
            .header("Authorization", format!("Bearer {bearer}"));
        Reply::read(format!("POST {url}"), req.send_json(body))
    }

    pub(crate) fn put_json(&self, url: &str, bearer: &str, body: &Value) -> anyhow::Result<Reply> {
        let req = self
            .agent
            .put(url)
            .header("Authorization", format!("Bearer {bearer}"));
        Reply::read(format!("PUT {url}"), req.send_json(body))
    }

    pub(crate) fn delete(&self, url: &str, bearer: &str) -> anyhow::Result<Reply> {
        let req = self
            .agent
            .delete(url)
            .header("Authorization", format!("Bearer {bearer}"));
        Reply::read(format!("DELETE {url}"), req.call())
    }
}

impl Reply {
    fn read(
        what: String,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Reply> {
        let mut resp = result.with_context(|| format!("{what}: request failed"))?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("{what}: reading the body"))?;
        Ok(Reply {
            status,
            body,
            location,
            what,
        })
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Fails unless the status is 2xx, quoting the start of the body.
    pub(crate) fn ok(self) -> anyhow::Result<Reply> {
        if !self.is_success() {
            let body: String = self.body.chars().take(300).collect();
            bail!("{}: HTTP {}: {}", self.what, self.status, body.trim());
        }
        Ok(self)
    }

    /// The body parsed as JSON.
    pub(crate) fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.body).with_context(|| format!("{}: body is not JSON", self.what))
    }
}
