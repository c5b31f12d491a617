//! The axum routes of the test issuer: discovery, JWKS (with fault injection),
//! RFC 7662 introspection and a token-endpoint stub.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::{BAD_KIDS, JwksFault, REALM_PATH, Shared};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            &format!("{REALM_PATH}/.well-known/openid-configuration"),
            get(discovery),
        )
        .route(
            &format!("{REALM_PATH}/protocol/openid-connect/certs"),
            get(jwks),
        )
        .route(
            &format!("{REALM_PATH}/protocol/openid-connect/token/introspect"),
            post(introspect),
        )
        .route(
            &format!("{REALM_PATH}/protocol/openid-connect/token"),
            post(token_stub),
        )
        .with_state(shared)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_requests.fetch_add(1, Ordering::SeqCst);
    let issuer = shared
        .state()
        .issuer_override
        .clone()
        .unwrap_or_else(|| shared.issuer());
    let doc = json!({
        "issuer": issuer,
        "authorization_endpoint": shared.endpoint("auth"),
        "token_endpoint": shared.endpoint("token"),
        "introspection_endpoint": shared.endpoint("token/introspect"),
        "jwks_uri": shared.endpoint("certs"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    });
    json_response(StatusCode::OK, &doc)
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    let (fault, doc) = {
        let state = shared.state();
        (state.jwks_fault.clone(), shared.jwks_document(&state))
    };
    let Some(fault) = fault else {
        return json_response(StatusCode::OK, &doc);
    };
    match fault {
        JwksFault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(status, &json!({ "error": "injected fault" }))
        }
        JwksFault::Redirect(location) => {
            let mut resp = StatusCode::FOUND.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, value);
            }
            resp
        }
        JwksFault::Html => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html><body><form>Sign in</form></body></html>",
        )
            .into_response(),
        JwksFault::HugeBody(padding) => {
            // A valid document whose only fault is its size, streamed without Content-Length.
            let mut head = doc.to_string();
            head.pop(); // the closing brace
            head.push_str(",\"padding\":\"");
            const CHUNK: usize = 8 * 1024;
            let chunks = std::iter::once(Bytes::from(head))
                .chain((0..padding.div_ceil(CHUNK)).map(move |i| {
                    let len = CHUNK.min(padding - i * CHUNK);
                    Bytes::from(vec![b'a'; len])
                }))
                .chain(std::iter::once(Bytes::from_static(b"\"}")))
                .map(Ok::<_, std::convert::Infallible>);
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        JwksFault::Empty => json_response(StatusCode::OK, &json!({ "keys": [] })),
        JwksFault::Hang(delay) => {
            tokio::time::sleep(delay).await;
            json_response(StatusCode::OK, &doc)
        }
        JwksFault::BadKeyAmongGood => {
            let mut keys = doc["keys"].as_array().cloned().unwrap_or_default();
            keys.extend([
                json!({ "kty": "RSA", "kid": BAD_KIDS[0], "use": "sig", "alg": "RS256", "n": "!!not base64url!!", "e": "AQAB" }),
                json!({ "kty": "EC", "kid": BAD_KIDS[1], "use": "sig", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU" }),
                json!({ "kty": "OKP", "kid": BAD_KIDS[2], "use": "sig", "crv": "X25519", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo" }),
                json!({ "kty": "oct", "kid": BAD_KIDS[3], "use": "sig", "alg": "HS256", "k": "c2VjcmV0" }),
            ]);
            json_response(StatusCode::OK, &json!({ "keys": keys }))
        }
    }
}

/// RFC 6749 §2.3.1: client credentials in HTTP Basic are form-urlencoded before base64.
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parsed = (|| {
        let value = value.to_str().map_err(|_| ())?;
        let (scheme, encoded) = value.split_once(' ').ok_or(())?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(());
        }
        let decoded = STANDARD.decode(encoded.trim()).map_err(|_| ())?;
        let decoded = String::from_utf8(decoded).map_err(|_| ())?;
        let (id, secret) = decoded.split_once(':').ok_or(())?;
        let unescape = |s: &str| -> String {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Ok((unescape(id), unescape(secret)))
    })();
    Some(parsed)
}

fn invalid_client() -> Response {
    let mut resp = json_response(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": "invalid_client" }),
    );
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"test\""),
    );
    resp
}

async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    shared.introspection_requests.fetch_add(1, Ordering::SeqCst);
    let delay = shared.state().introspection_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let posted = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let credentials = match (basic_credentials(&headers), posted) {
        // RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
        (Some(_), Some(_)) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "error": "invalid_request" }),
            );
        }
        (Some(Ok(basic)), None) => basic,
        (Some(Err(())), None) | (None, None) => return invalid_client(),
        (None, Some(post)) => post,
    };
    {
        let state = shared.state();
        if credentials.0 != state.client_id || credentials.1 != state.client_secret {
            return invalid_client();
        }
    }
    // RFC 7662 §2.1: `token` is REQUIRED.
    let Some(token) = form.get("token") else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "invalid_request" }),
        );
    };
    json_response(StatusCode::OK, &shared.introspect(token))
}

async fn token_stub() -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "unsupported_grant_type" }),
    )
}
