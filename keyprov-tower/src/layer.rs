//! The layer, its service and the service's future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, Request, Response};
use keyprov::gateway::{Authorized, Denial, Gateway};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::bearer::{Credentials, credentials};
use crate::body::ResponseBody;
use crate::caller::Caller;
use crate::metrics;
use crate::refusal::{FaultBody, Refusal};
use crate::route::{Route, Unmatched};

type RouteFn = dyn Fn(&http::request::Parts) -> Option<Route> + Send + Sync;

#[derive(Clone)]
enum Routing {
    Fixed(Route),
    Dynamic(Arc<RouteFn>),
}

#[derive(Clone)]
struct Config {
    gateway: Gateway,
    routing: Routing,
    unmatched: Unmatched,
    header: HeaderName,
    body: FaultBody,
    realm: Option<String>,
}

/// A tower [`Layer`] that lets a request through only when its bearer token resolves, with
/// keyprov's [`Gateway`], to an application subscribed to the route's API with keys of the
/// route's key type; the handler then finds the [`Caller`] in the request's extensions.
///
/// Refusals are answered as RFC 6750 says (401 `invalid_token`, 403 `insufficient_scope`,
/// 400 `invalid_request`, `WWW-Authenticate: Bearer ...`), with the WSO2 gateway's JSON fault
/// as body by default ([`FaultBody`]); gRPC requests (`content-type: application/grpc...`) get
/// `UNAUTHENTICATED` or `PERMISSION_DENIED` instead. A request without a well-formed bearer
/// token never reaches the resolver.
///
/// # Example
/// ```
/// # async fn example(gateway: keyprov::gateway::Gateway) -> keyprov::Result<()> {
/// use axum::{Router, routing::get};
/// use keyprov::{ApiId, KeyType};
/// use keyprov_tower::{Caller, KeyprovLayer, Route};
///
/// let orders = Route::new(ApiId::new("pizzashack-1.0.0")?, KeyType::Production);
/// let app: Router = Router::new()
///     .route("/orders", get(|caller: Caller| async move {
///         format!("hello, application {}", caller.application)
///     }))
///     .layer(KeyprovLayer::new(gateway, orders));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KeyprovLayer {
    config: Arc<Config>,
}

impl std::fmt::Debug for KeyprovLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routing = match &self.config.routing {
            Routing::Fixed(route) => format!("{route:?}"),
            Routing::Dynamic(_) => "a route function".to_owned(),
        };
        f.debug_struct("KeyprovLayer")
            .field("routing", &routing)
            .field("unmatched", &self.config.unmatched)
            .field("header", &self.config.header)
            .field("body", &self.config.body)
            .field("realm", &self.config.realm)
            .finish_non_exhaustive()
    }
}

impl KeyprovLayer {
    fn with(gateway: Gateway, routing: Routing) -> KeyprovLayer {
        KeyprovLayer {
            config: Arc::new(Config {
                gateway,
                routing,
                unmatched: Unmatched::default(),
                header: AUTHORIZATION,
                body: FaultBody::default(),
                realm: None,
            }),
        }
    }

    /// Every request through this layer calls `route` (a per-route layer).
    pub fn new(gateway: Gateway, route: Route) -> KeyprovLayer {
        KeyprovLayer::with(gateway, Routing::Fixed(route))
    }

    /// The route of each request is what `route` answers from its method, URI and headers;
    /// `None` is handled as [`KeyprovLayer::unmatched`] says.
    ///
    /// # Example
    /// ```
    /// # fn example(gateway: keyprov::gateway::Gateway) -> keyprov::Result<()> {
    /// use keyprov::{ApiId, KeyType};
    /// use keyprov_tower::{KeyprovLayer, Route, Unmatched};
    ///
    /// let prod = Route::new(ApiId::new("pizzashack-1.0.0")?, KeyType::Production);
    /// let sandbox = Route::new(ApiId::new("pizzashack-1.0.0")?, KeyType::Sandbox);
    /// let layer = KeyprovLayer::routed(gateway, move |request| {
    ///     let path = request.uri.path();
    ///     if path.starts_with("/sandbox/") {
    ///         Some(sandbox.clone())
    ///     } else if path.starts_with("/pizzashack/") {
    ///         Some(prod.clone())
    ///     } else {
    ///         None
    ///     }
    /// })
    /// .unmatched(Unmatched::Pass);
    /// # Ok(()) }
    /// ```
    pub fn routed<F>(gateway: Gateway, route: F) -> KeyprovLayer
    where
        F: Fn(&http::request::Parts) -> Option<Route> + Send + Sync + 'static,
    {
        KeyprovLayer::with(gateway, Routing::Dynamic(Arc::new(route)))
    }

    fn edit(mut self, change: impl FnOnce(&mut Config)) -> KeyprovLayer {
        change(Arc::make_mut(&mut self.config));
        self
    }

    /// What to do with requests the route function answers `None` for. Default:
    /// [`Unmatched::Refuse`].
    pub fn unmatched(self, unmatched: Unmatched) -> KeyprovLayer {
        self.edit(|c| c.unmatched = unmatched)
    }

    /// Reads the token from `header` instead of `Authorization`; its value is the token, with
    /// or without `Bearer ` before it.
    pub fn header(self, header: HeaderName) -> KeyprovLayer {
        self.edit(|c| c.header = header)
    }

    /// The body of HTTP refusals. Default: [`FaultBody::Wso2`].
    pub fn fault_body(self, body: FaultBody) -> KeyprovLayer {
        self.edit(|c| c.body = body)
    }

    /// The `realm` of `WWW-Authenticate` challenges. Default: none.
    pub fn realm(self, realm: impl Into<String>) -> KeyprovLayer {
        let realm = realm.into();
        self.edit(|c| c.realm = Some(realm))
    }
}

impl<S> Layer<S> for KeyprovLayer {
    type Service = KeyprovService<S>;

    fn layer(&self, inner: S) -> KeyprovService<S> {
        KeyprovService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`KeyprovLayer`].
#[derive(Clone)]
pub struct KeyprovService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for KeyprovService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyprovService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

impl Config {
    fn refuse(&self, refusal: &Refusal, grpc: bool) -> Response<Bytes> {
        metrics::refused(refusal.code);
        let realm = self.realm.as_deref();
        if grpc {
            refusal.grpc(realm, |b| b)
        } else {
            refusal.http(self.body, realm, |b| b)
        }
    }

    /// The decision once the resolver has answered.
    // The refusal moves once into the future's state; boxing it would add an allocation.
    #[allow(clippy::result_large_err)]
    fn decide(
        &self,
        result: Result<Authorized, Denial>,
        started: Instant,
        route: &Route,
        grpc: bool,
    ) -> Result<Caller, Response<Bytes>> {
        metrics::resolved(started.elapsed(), result.is_ok());
        match result {
            Ok(authorized) => {
                if !route.scopes().iter().all(|s| authorized.scopes.contains(s)) {
                    return Err(self.refuse(&Refusal::insufficient_scope(route.scopes()), grpc));
                }
                metrics::allowed();
                Ok(Caller::new(authorized))
            }
            Err(denial) => Err(self.refuse(&Refusal::denied(&denial), grpc)),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for KeyprovService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let config = self.config.clone();
        let grpc = is_grpc(request.headers());
        let dynamic;
        let route = match &config.routing {
            Routing::Fixed(route) => route,
            Routing::Dynamic(route_of) => {
                let (parts, body) = request.into_parts();
                let found = route_of(&parts);
                request = Request::from_parts(parts, body);
                match found {
                    Some(route) => {
                        dynamic = route;
                        &dynamic
                    }
                    None if config.unmatched == Unmatched::Pass => {
                        metrics::passed();
                        return ResponseFuture::inner(self.inner.call(request));
                    }
                    None => {
                        return ResponseFuture::refused(config.refuse(&Refusal::unmatched(), grpc));
                    }
                }
            }
        };
        let started = Instant::now();
        let now = match credentials(request.headers(), &config.header) {
            Credentials::Token(token) => config
                .gateway
                .resolve_now(token, route.api(), route.key_type())
                .ok_or_else(|| token.to_vec()),
            Credentials::Missing => {
                let header = if config.header == AUTHORIZATION {
                    "Authorization"
                } else {
                    config.header.as_str()
                };
                let refusal = Refusal::missing(header);
                return ResponseFuture::refused(config.refuse(&refusal, grpc));
            }
            Credentials::Malformed(why) => {
                return ResponseFuture::refused(
                    config.refuse(&Refusal::malformed_header(why), grpc),
                );
            }
        };
        match now {
            Ok(result) => match config.decide(result, started, route, grpc) {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    ResponseFuture::inner(self.inner.call(request))
                }
                Err(refusal) => ResponseFuture::refused(refusal),
            },
            // Keys to fetch or an opaque token to introspect: the resolver does I/O.
            Err(token) => {
                let gateway = config.gateway.clone();
                let route = route.clone();
                let resolving = {
                    let route = route.clone();
                    Box::pin(
                        async move { gateway.resolve(token, route.api(), route.key_type()).await },
                    )
                };
                let ready = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, ready);
                ResponseFuture {
                    state: State::Resolving {
                        resolving,
                        pending: Some(Pending {
                            inner,
                            request,
                            route,
                            started,
                            grpc,
                            config,
                        }),
                    },
                }
            }
        }
    }
}

type Resolving = Pin<Box<dyn Future<Output = Result<Authorized, Denial>> + Send>>;

struct Pending<S, B> {
    inner: S,
    request: Request<B>,
    route: Route,
    started: Instant,
    grpc: bool,
    config: Arc<Config>,
}

pin_project! {
    /// The future of [`KeyprovService`].
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        Refused { response: Option<Response<Bytes>> },
        Inner { #[pin] future: S::Future },
        Resolving { resolving: Resolving, pending: Option<Pending<S, B>> },
    }
}

impl<S: Service<Request<B>>, B> ResponseFuture<S, B> {
    fn inner(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Inner { future },
        }
    }

    fn refused(response: Response<Bytes>) -> Self {
        ResponseFuture {
            state: State::Refused {
                response: Some(response),
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Refused { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::full)));
                }
                StateProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Resolving { resolving, pending } => {
                    let result = ready!(resolving.as_mut().poll(cx));
                    let Pending {
                        mut inner,
                        mut request,
                        route,
                        started,
                        grpc,
                        config,
                    } = pending.take().expect("polled after completion");
                    match config.decide(result, started, &route, grpc) {
                        Ok(caller) => {
                            request.extensions_mut().insert(caller);
                            let future = inner.call(request);
                            state.set(State::Inner { future });
                        }
                        Err(refusal) => {
                            state.set(State::Refused {
                                response: Some(refusal),
                            });
                        }
                    }
                }
            }
        }
    }
}
