//! The tower layer that authenticates every request, shaped like axum's
//! `middleware/from_extractor.rs`: a `#[must_use]` layer with manual `Clone`
//! and `Debug`, a service whose `poll_ready` delegates and whose
//! `Error = S::Error`, and a boxed response future.
//!
//! Order of decisions for one request:
//!
//! 1. `OPTIONS` passes through unauthenticated: a CORS preflight never
//!    carries credentials, and answering it 401 breaks browser clients.
//! 2. [`extract_bearer`] (RFC 6750 §2.1).
//! 3. [`Validator::validate_shared`]: the token must be valid *before* scopes
//!    are looked at, so an expired token lacking a scope is 401 (re-login),
//!    not 403 (step-up).
//! 4. Required scopes: 403 `insufficient_scope` with every required scope.
//! 5. On success, `Arc<Principal>` and `BearerToken` go into the request
//!    extensions and the inner service is called. The `Arc` is the one the
//!    verified-token cache holds: a cache hit copies no claims.
//!
//! Every failure becomes the [`challenge`] response; the inner service never
//! sees an unauthenticated request.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::body::Body;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::{
    bearer::extract_bearer,
    challenge::{ChallengeContext, challenge},
    error::{Error, ErrorKind},
    validator::Validator,
};

/// Authenticates requests with a [`Validator`] and requires scopes.
///
/// On success the request carries two extensions: the caller as
/// `Arc<Principal>` (shared with the verified-token cache, never deep-cloned;
/// extract it with `Extension<Arc<Principal>>`) and the [`crate::BearerToken`]
/// (for a later [`Validator::introspect`]).
#[must_use]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

struct Shared {
    validator: Arc<Validator>,
    required_scopes: Vec<String>,
    ctx: ChallengeContext,
}

impl AuthLayer {
    /// A layer validating with `validator` and requiring every scope in
    /// `required_scopes` (empty: any valid token passes). `ctx` says where
    /// challenges point (RFC 9728 `resource_metadata`).
    pub fn new(
        validator: Arc<Validator>,
        required_scopes: Vec<String>,
        ctx: ChallengeContext,
    ) -> Self {
        AuthLayer {
            shared: Arc::new(Shared {
                validator,
                required_scopes,
                ctx,
            }),
        }
    }
}

impl Clone for AuthLayer {
    fn clone(&self) -> Self {
        AuthLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("validator", &self.shared.validator)
            .field("required_scopes", &self.shared.required_scopes)
            .field("ctx", &self.shared.ctx)
            .finish()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service built by [`AuthLayer`].
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: Clone> Clone for AuthService<S> {
    fn clone(&self) -> Self {
        AuthService {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .field("required_scopes", &self.shared.required_scopes)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if req.method() == Method::OPTIONS {
            return ResponseFuture {
                inner: Box::pin(self.inner.call(req)),
            };
        }
        // The service that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        let future = async move {
            let token = match extract_bearer(req.headers(), req.uri()) {
                Ok(token) => token,
                Err(e) => {
                    shared.validator.record_failure(&e);
                    return Ok(shared.reject(&e));
                }
            };
            let principal = match shared.validator.validate_shared(&token).await {
                Ok(principal) => principal,
                Err(e) => return Ok(shared.reject(&e)),
            };
            if !shared.required_scopes.is_empty()
                && !principal.scopes.missing(&shared.required_scopes).is_empty()
            {
                // RFC 6750 §3.1: `scope` lists every scope needed, so the
                // client can request them all in one step-up.
                let e = Error::from(ErrorKind::InsufficientScope {
                    required: shared.required_scopes.clone(),
                });
                shared.validator.record_failure(&e);
                return Ok(shared.reject(&e));
            }
            req.extensions_mut().insert(principal);
            req.extensions_mut().insert(token);
            inner.call(req).await
        };
        ResponseFuture {
            inner: Box::pin(future),
        }
    }
}

impl Shared {
    fn reject(&self, e: &Error) -> Response<Body> {
        let response = challenge(e, &self.ctx);
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(reason = %e, label = e.kind().label(), "bearer token could not be judged");
        } else {
            tracing::debug!(reason = %e, label = e.kind().label(), "bearer authentication refused");
        }
        response
    }
}

/// The response future of [`AuthService`].
pub struct ResponseFuture<E> {
    inner: BoxFuture<'static, Result<Response<Body>, E>>,
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response<Body>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<E> fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
