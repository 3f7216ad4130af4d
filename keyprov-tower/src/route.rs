//! Which API and key type a request is for.

use std::sync::Arc;

use keyprov::{ApiId, KeyType};

/// The API a request calls, the key type of its endpoint, and the scopes it requires: what
/// the resolver checks the token against. Cheap to clone (shared).
///
/// # Example
/// ```
/// use keyprov::{ApiId, KeyType};
/// use keyprov_tower::Route;
///
/// let route = Route::new(ApiId::new("pizzashack-1.0.0")?, KeyType::Production)
///     .require_scopes(["orders:write"]);
/// assert_eq!(route.scopes(), ["orders:write"]);
/// # Ok::<(), keyprov::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route(Arc<RouteInner>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct RouteInner {
    api: ApiId,
    key_type: KeyType,
    scopes: Vec<String>,
}

impl Route {
    /// A route of `api` whose endpoint takes keys of `key_type`.
    pub fn new(api: ApiId, key_type: KeyType) -> Route {
        Route(Arc::new(RouteInner {
            api,
            key_type,
            scopes: Vec::new(),
        }))
    }

    /// Requires every one of `scopes` in the token (its key manager's scopes claim); a token
    /// without one of them is refused with 403 `insufficient_scope`.
    pub fn require_scopes<I, S>(self, scopes: I) -> Route
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut inner = Arc::unwrap_or_clone(self.0);
        inner.scopes.extend(scopes.into_iter().map(Into::into));
        Route(Arc::new(inner))
    }

    /// The API.
    pub fn api(&self) -> &ApiId {
        &self.0.api
    }

    /// The endpoint's key type.
    pub fn key_type(&self) -> KeyType {
        self.0.key_type
    }

    /// The scopes required.
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }
}

/// What happens to a request for which the route function answers `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unmatched {
    /// Refused with 403 (WSO2 code 900906): nothing is served unless a route says how to
    /// authorize it.
    #[default]
    Refuse,
    /// Passed to the inner service without a [`Caller`](crate::Caller) (public endpoints such
    /// as health checks).
    Pass,
}
