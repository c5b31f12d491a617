//! RFC 9728 OAuth 2.0 Protected Resource Metadata and the router serving it.
//!
//! For a resource `https://host/mcp` the document lives at
//! `https://host/.well-known/oauth-protected-resource/mcp` (the well-known
//! segment inserted before the path, RFC 9728 §3.1); MCP clients in the wild
//! also probe the root form `/.well-known/oauth-protected-resource`, so both
//! are served with the same document.

use axum::{Router, body::Bytes, response::IntoResponse, routing::get};
use http::{
    HeaderValue,
    header::{CACHE_CONTROL, CONTENT_TYPE},
};
use serde::Serialize;

use crate::error::{Error, ErrorKind, err};

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The RFC 9728 §2 metadata document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: exactly the URL clients use (e.g.
    /// `https://mcp.example.com/mcp`), and what tokens must carry in `aud`.
    /// Read it with [`ProtectedResourceMetadata::resource`]; it is fixed at
    /// construction, where it is parsed once.
    resource: String,
    /// Issuer identifiers of the authorization servers (RFC 8414).
    pub authorization_servers: Vec<String>,
    /// Scopes a client may request for this resource.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How tokens may be presented: `["header"]` (RFC 6750 §2.1 only).
    pub bearer_methods_supported: Vec<String>,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// A URL of human-readable documentation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    /// `scheme://host[:port]` of the resource, from the one parse in `new`.
    #[serde(skip)]
    origin: String,
    /// The resource's path without a trailing slash; `None` when it is empty
    /// or `/`. A query string is dropped (RFC 9728 §3.1 inserts the path).
    #[serde(skip)]
    path: Option<String>,
}

impl ProtectedResourceMetadata {
    /// Metadata for `resource` (an absolute `http`/`https` URL without a
    /// fragment, RFC 9728 §1.2 / RFC 8707 §2), with `bearer_methods_supported
    /// = ["header"]` and no name or documentation.
    pub fn new(
        resource: impl Into<String>,
        authorization_servers: Vec<String>,
        scopes_supported: Vec<String>,
    ) -> Result<Self, Error> {
        let resource = resource.into();
        let url = match url::Url::parse(&resource) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.fragment().is_none() => url,
            _ => {
                return err(ErrorKind::Config(
                    "resource must be an absolute http(s) URL without a fragment".into(),
                ));
            }
        };
        let path = url.path().trim_end_matches('/');
        if authorization_servers.is_empty() {
            return err(ErrorKind::Config("authorization_servers is empty".into()));
        }
        Ok(ProtectedResourceMetadata {
            authorization_servers,
            scopes_supported,
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
            resource_documentation: None,
            origin: url.origin().ascii_serialization(),
            path: (!path.is_empty()).then(|| path.to_owned()),
            resource,
        })
    }

    /// The paths the document is served at: the path-inserted form first
    /// (RFC 9728 §3.1), then the root form. A resource without a path has
    /// only the root form.
    #[must_use]
    pub fn well_known_paths(&self) -> Vec<String> {
        match &self.path {
            Some(path) => vec![format!("{WELL_KNOWN}{path}"), WELL_KNOWN.to_owned()],
            None => vec![WELL_KNOWN.to_owned()],
        }
    }

    /// The absolute URL of the document in its path-inserted form, for
    /// `resource_metadata` in challenges (RFC 9728 §5.1).
    #[must_use]
    pub fn metadata_url(&self) -> String {
        format!(
            "{}{WELL_KNOWN}{}",
            self.origin,
            self.path.as_deref().unwrap_or_default()
        )
    }

    /// The resource identifier (see the field of the same name).
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }
}

/// A router answering `GET` on every [`ProtectedResourceMetadata::well_known_paths`]
/// with the JSON document (`Cache-Control: public, max-age=3600`: it changes
/// only on redeploy). Mount it outside the auth layer: it is public.
pub fn metadata_router<S: Clone + Send + Sync + 'static>(
    meta: ProtectedResourceMetadata,
) -> Router<S> {
    let paths = meta.well_known_paths();
    // Serialised once: the document is immutable for the router's lifetime.
    // Serialising plain strings cannot fail; an empty body would be the
    // visible symptom if it ever did.
    let body = Bytes::from(serde_json::to_vec(&meta).unwrap_or_default());
    let handler = move || {
        let body = body.clone();
        async move {
            (
                [
                    (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (
                        CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=3600"),
                    ),
                ],
                body,
            )
                .into_response()
        }
    };
    paths.into_iter().fold(Router::new(), |router, path| {
        router.route(&path, get(handler.clone()))
    })
}

#[cfg(test)]
mod tests;
