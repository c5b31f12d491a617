//! **DANGER: an authentication bypass for tests and benchmarks only.**
//!
//! [`InsecureAllowAll`] lets *every* request through as a fixed
//! [`Principal`] without looking at its token, to measure the cost of
//! everything except authentication. It is compiled into every build,
//! production included: no feature or `cfg` fences it off, only this
//! module's name and the caller's discipline. A server must construct it
//! only behind an explicit, loudly named switch (ours needs both
//! `--dangerously-disable-auth-for-benchmarks` and
//! `MCP_ALLOW_INSECURE_BENCH=1`), and [`InsecureAllowAll::new`] logs a
//! warning every time it is built.
//!
//! There is no clock bypass: tests of expiry and cache lifetimes shift a
//! validator's clock through a field that exists only in the crate's own
//! test builds.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::Request;
use tower::{Layer, Service};

use crate::{bearer::extract_bearer, principal::Principal};

/// **DANGER**: a layer that authenticates nobody and lets everybody in.
///
/// Every request gets `principal` in its extensions as `Arc<Principal>`, like
/// [`crate::AuthLayer`] inserts it (and its bearer token, if it carries a
/// well-formed one), whatever its credentials.
#[must_use]
#[derive(Clone)]
pub struct InsecureAllowAll {
    principal: Arc<Principal>,
}

impl InsecureAllowAll {
    /// **DANGER**: see the type documentation.
    pub fn new(principal: Principal) -> Self {
        tracing::warn!(
            "auth::dangerous::InsecureAllowAll is in use: requests are NOT authenticated"
        );
        InsecureAllowAll {
            principal: Arc::new(principal),
        }
    }
}

impl fmt::Debug for InsecureAllowAll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsecureAllowAll")
            .field("principal", &self.principal)
            .finish()
    }
}

impl<S> Layer<S> for InsecureAllowAll {
    type Service = InsecureAllowAllService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InsecureAllowAllService {
            inner,
            principal: Arc::clone(&self.principal),
        }
    }
}

/// **DANGER**: the service built by [`InsecureAllowAll`].
#[derive(Clone, Debug)]
pub struct InsecureAllowAllService<S> {
    inner: S,
    principal: Arc<Principal>,
}

impl<S, B> Service<Request<B>> for InsecureAllowAllService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Ok(token) = extract_bearer(req.headers(), req.uri()) {
            req.extensions_mut().insert(token);
        }
        req.extensions_mut().insert(Arc::clone(&self.principal));
        self.inner.call(req)
    }
}
