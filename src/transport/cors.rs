//! Cross-origin calls from the trusted origins (`server.public_origin` and
//! `server.allowed_origins`): preflights are answered and answers carry `Access-Control-*`
//! with credentials allowed (the CSRF rule in `rpc::pipeline` accepts exactly the same
//! origins). tower-http's CORS layer does the work, but only for requests that carry an
//! `Origin` (a browser sends one on every cross-origin request): the rest — scripts,
//! same-origin pages — skip it, since it copies its configuration on every request, and get
//! only its `Vary`, which keeps a cache from serving one origin's answer to another.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, ORIGIN, RETRY_AFTER, VARY};
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use futures::future::{Either, MapOk, TryFutureExt};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

use super::request_id::X_REQUEST_ID;
use crate::config::ServerConfig;

/// What the CORS layer says in `Vary` on every answer.
const VARY_ON: HeaderValue =
    HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers");

/// The layer: CORS for requests with an `Origin`, only `Vary` for the others.
#[derive(Clone)]
pub struct CorsWhenAsked {
    cors: CorsLayer,
}

impl CorsWhenAsked {
    pub fn new(server: &ServerConfig) -> CorsWhenAsked {
        let origins = server.trusted_origins().filter_map(|origin| HeaderValue::from_str(origin).ok());
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([CONTENT_TYPE, AUTHORIZATION])
            .expose_headers([RETRY_AFTER, X_REQUEST_ID])
            .max_age(Duration::from_secs(600));
        CorsWhenAsked { cors }
    }
}

impl<S> Layer<S> for CorsWhenAsked {
    type Service = Asked<S>;

    fn layer(&self, inner: S) -> Asked<S> {
        Asked { cors: Arc::new(self.cors.clone()), inner }
    }
}

/// [`CorsWhenAsked`] around a service. The CORS configuration is shared, not copied with
/// the service (hyper clones the service for every request).
#[derive(Clone)]
pub struct Asked<S> {
    cors: Arc<CorsLayer>,
    inner: S,
}

type WithVary<F> = MapOk<F, fn(Response) -> Response>;

impl<S> Service<Request> for Asked<S>
where
    S: Service<Request, Response = Response> + Clone,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<<Cors<S> as Service<Request>>::Future, WithVary<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.headers().contains_key(ORIGIN) {
            // The inner service that was made ready goes into the CORS service; a clone stays.
            let clone = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, clone);
            Either::Left(self.cors.layer(ready).call(request))
        } else {
            Either::Right(self.inner.call(request).map_ok(with_vary as fn(Response) -> Response))
        }
    }
}

fn with_vary(mut response: Response) -> Response {
    response.headers_mut().append(VARY, VARY_ON);
    response
}
