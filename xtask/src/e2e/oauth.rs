//! The client side of MCP authorization, done by hand against Keycloak:
//! authorization server metadata discovery in the order the MCP
//! authorization spec prescribes, and a headless OAuth 2.1 authorization
//! code flow with PKCE `S256` (RFC 7636) that logs a user in through
//! Keycloak's own login form.

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::mcp::{Http, preview};

/// The metadata URLs to try for an issuer, in the MCP spec's order
/// (2025-06-18 "Authorization Server Metadata Discovery"): for an issuer
/// with a path, RFC 8414 with the path inserted, then OpenID Connect
/// Discovery with the path inserted, then with the path appended.
pub(crate) fn metadata_candidates(issuer: &str) -> anyhow::Result<Vec<String>> {
    let url = url::Url::parse(issuer).with_context(|| format!("issuer {issuer:?}"))?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    if path.is_empty() {
        return Ok(vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]);
    }
    Ok(vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}/.well-known/openid-configuration{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
    ])
}

/// The first metadata document that answers 200 with JSON, and its URL.
pub(crate) fn discover(http: &Http, issuer: &str) -> anyhow::Result<(String, Value)> {
    let mut tried = Vec::new();
    for url in metadata_candidates(issuer)? {
        let reply = http.get(&url, None)?;
        if reply.status == 200
            && let Ok(doc) = reply.json()
        {
            return Ok((url, doc));
        }
        tried.push(format!("{url}: HTTP {}", reply.status));
    }
    bail!("no authorization server metadata: {}", tried.join("; "))
}

/// The `authorization_endpoint` and `token_endpoint` of authorization
/// server metadata.
pub(crate) fn endpoints(meta: &Value) -> anyhow::Result<(&str, &str)> {
    let authorization = meta["authorization_endpoint"]
        .as_str()
        .context("no authorization_endpoint in the metadata")?;
    let token = meta["token_endpoint"]
        .as_str()
        .context("no token_endpoint in the metadata")?;
    Ok((authorization, token))
}

/// A PKCE pair: the verifier (43 characters of base64url from 32 random
/// bytes) and its `S256` challenge.
pub(crate) struct Pkce {
    pub(crate) verifier: String,
    pub(crate) challenge: String,
}

impl Pkce {
    pub(crate) fn new() -> anyhow::Result<Pkce> {
        let verifier = random_b64url(32)?;
        let challenge = b64url(&Sha256::digest(verifier.as_bytes()));
        Ok(Pkce {
            verifier,
            challenge,
        })
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` bytes from the OS's CSPRNG, base64url-encoded.
pub(crate) fn random_b64url(n: usize) -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(b64url(&bytes))
}

/// What the authorization request asks for.
pub(crate) struct AuthorizationRequest<'a> {
    pub(crate) authorization_endpoint: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) redirect_uri: &'a str,
    pub(crate) scope: &'a str,
    /// RFC 8707 resource indicator: the MCP server's resource URL (`None`
    /// leaves `aud` to the scopes' audience mappers).
    pub(crate) resource: Option<&'a str>,
    pub(crate) state: &'a str,
    pub(crate) code_challenge: &'a str,
}

impl AuthorizationRequest<'_> {
    pub(crate) fn url(&self) -> anyhow::Result<String> {
        let mut url = url::Url::parse(self.authorization_endpoint)
            .with_context(|| format!("authorization_endpoint {:?}", self.authorization_endpoint))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", self.client_id)
            .append_pair("redirect_uri", self.redirect_uri)
            .append_pair("scope", self.scope);
        if let Some(resource) = self.resource {
            url.query_pairs_mut().append_pair("resource", resource);
        }
        url.query_pairs_mut()
            .append_pair("state", self.state)
            .append_pair("code_challenge", self.code_challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }
}

/// Logs `user` in through Keycloak's login form and returns the redirect
/// `Location` it answers with (not followed: nothing listens there).
/// `http` must be a fresh agent: its cookie jar carries the login session.
pub(crate) fn login(
    http: &Http,
    authorization_url: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<String> {
    let page = http.get_accept(authorization_url, "text/html")?;
    ensure!(
        page.status == 200,
        "authorization endpoint: HTTP {} {}",
        page.status,
        preview(&page.body)
    );
    let action = login_form_action(&page.body)?;
    let mut reply = http.post_form(
        &action,
        &[
            ("username", user),
            ("password", password),
            ("credentialId", ""),
        ],
    )?;
    // A client with consent required (a registered or CIMD client) gets
    // Keycloak's consent screen next, directly or behind a redirect to its
    // `required-action` page: the user accepts, as in a browser.
    let mut page =
        url::Url::parse(&action).with_context(|| format!("login form action {action:?}"))?;
    for _ in 0..3 {
        let internal = reply
            .header("location")
            .is_some_and(|l| l.contains("/login-actions/"));
        if (reply.status == 302 || reply.status == 303) && internal {
            let location = reply.header("location").unwrap_or_default();
            page = page
                .join(location)
                .with_context(|| format!("Location {location:?}"))?;
            reply = http.get_accept(page.as_str(), "text/html")?;
        } else if reply.status == 200 && reply.body.contains("name=\"accept\"") {
            let (action, mut fields) = consent_form(&reply.body)?;
            let action = page
                .join(&action)
                .with_context(|| format!("consent form action {action:?}"))?;
            fields.push(("accept".to_owned(), "Yes".to_owned()));
            let form: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            reply = http.post_form(action.as_str(), &form)?;
        } else {
            break;
        }
    }
    ensure!(
        reply.status == 302 || reply.status == 303,
        "login form: expected a redirect, got HTTP {}: {}",
        reply.status,
        preview(&reply.body)
    );
    Ok(reply
        .header("location")
        .context("login form: redirect without Location")?
        .to_owned())
}

/// The `action` of `<form id="kc-form-login" … action="…">`, HTML-decoded.
pub(crate) fn login_form_action(html: &str) -> anyhow::Result<String> {
    let marker = html
        .find("id=\"kc-form-login\"")
        .context("no kc-form-login form on the login page")?;
    let tag_start = html[..marker]
        .rfind("<form")
        .context("kc-form-login is not inside a <form> tag")?;
    let tag_end = html[marker..]
        .find('>')
        .map(|i| marker + i)
        .context("unterminated <form> tag")?;
    let tag = &html[tag_start..tag_end];
    let start = tag
        .find("action=\"")
        .map(|i| i + "action=\"".len())
        .context("the login form has no action")?;
    let end = tag[start..]
        .find('"')
        .map(|i| start + i)
        .context("unterminated action attribute")?;
    Ok(html_unescape(&tag[start..end]))
}

/// The consent screen's form: its `action` and its hidden inputs (the
/// `code` Keycloak needs back), HTML-decoded.
pub(crate) fn consent_form(html: &str) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let accept = html
        .find("name=\"accept\"")
        .context("no accept button on the consent page")?;
    let start = html[..accept]
        .rfind("<form")
        .context("the accept button is not inside a <form>")?;
    let end = html[accept..]
        .find("</form>")
        .map_or(html.len(), |i| accept + i);
    let form = &html[start..end];
    let action = attribute(form, "action").context("the consent form has no action")?;
    let fields = form
        .split("<input")
        .skip(1)
        .filter(|input| input.contains("type=\"hidden\""))
        .filter_map(|input| {
            let tag = &input[..input.find('>').unwrap_or(input.len())];
            Some((
                attribute(tag, "name")?,
                attribute(tag, "value").unwrap_or_default(),
            ))
        })
        .collect();
    Ok((action, fields))
}

/// The HTML-decoded value of the first ` name="…"` attribute in `tag`.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = start + tag[start..].find('"')?;
    Some(html_unescape(&tag[start..end]))
}

/// Decodes the entities Keycloak's templates emit in attribute values.
fn html_unescape(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&#61;", "=")
        .replace("&#x3d;", "=")
        .replace("&quot;", "\"")
}

/// The query parameters of a redirect `Location`.
pub(crate) fn query_params(location: &str) -> anyhow::Result<Vec<(String, String)>> {
    let url = url::Url::parse(location).with_context(|| format!("Location {location:?}"))?;
    Ok(url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// Redeems the authorization code with the PKCE verifier; returns the
/// token endpoint's status and JSON answer, whatever the status.
pub(crate) fn exchange_code(
    http: &Http,
    token_endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> anyhow::Result<(u16, Value)> {
    let reply = http.post_form(
        token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("code", code),
            ("code_verifier", verifier),
        ],
    )?;
    Ok((reply.status, reply.json()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_spec_metadata_order_for_an_issuer_with_a_path() {
        let urls = metadata_candidates("http://localhost:8080/realms/mcp").unwrap();
        assert_eq!(
            urls,
            [
                "http://localhost:8080/.well-known/oauth-authorization-server/realms/mcp",
                "http://localhost:8080/.well-known/openid-configuration/realms/mcp",
                "http://localhost:8080/realms/mcp/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn rfc7636_s256_challenge_of_the_appendix_b_verifier() {
        let challenge = b64url(&Sha256::digest(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".as_bytes(),
        ));
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn keycloak_login_form_action_is_found_and_unescaped() {
        let html = r#"<div><form id="kc-form-login" onsubmit="login.disabled = true; return true;" action="http://localhost:8080/realms/mcp/login-actions/authenticate?session_code=abc&amp;execution=e1&amp;client_id=mcp-client&amp;tab_id=t" method="post"><input name="username"></form></div>"#;
        assert_eq!(
            login_form_action(html).unwrap(),
            "http://localhost:8080/realms/mcp/login-actions/authenticate?session_code=abc&execution=e1&client_id=mcp-client&tab_id=t"
        );
        assert!(login_form_action("<form id=\"other\" action=\"x\">").is_err());
    }

    #[test]
    fn keycloak_consent_form_action_and_hidden_code_are_found() {
        let html = r#"<form action="x"><input type="text" name="q" value="no"></form>
<form class="form-actions" action="http://localhost:8080/realms/mcp/login-actions/consent?client_id=c&amp;tab_id=t" method="POST">
<input type="hidden" name="code" value="abc&#61;"><input class="btn" name="accept" id="kc-login" type="submit" value="Yes">
<input name="cancel" id="kc-cancel" type="submit" value="No"></form>"#;
        let (action, fields) = consent_form(html).unwrap();
        assert_eq!(
            action,
            "http://localhost:8080/realms/mcp/login-actions/consent?client_id=c&tab_id=t"
        );
        assert_eq!(fields, [("code".to_owned(), "abc=".to_owned())]);
        assert!(consent_form("<form action=\"x\"></form>").is_err());
    }
}
