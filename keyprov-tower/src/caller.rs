//! The authorized context handed to handlers.

use std::ops::Deref;
use std::sync::Arc;

use keyprov::gateway::Authorized;

/// Who calls: the [`Authorized`] context of the request's token (application, mapping, key
/// type, subscription state, key manager, client id, scopes, expiry), put in the request's
/// extensions by [`KeyprovLayer`](crate::KeyprovLayer). Cheap to clone.
///
/// With the `axum` feature it is an extractor: a handler taking `Caller` is answered 500 when
/// no layer authorized the request (a wiring mistake), and `Option<Caller>` is `None` then.
/// A tonic service reads it with `request.extensions().get::<Caller>()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller(Arc<Authorized>);

impl Caller {
    pub(crate) fn new(authorized: Authorized) -> Caller {
        Caller(Arc::new(authorized))
    }

    /// The context.
    pub fn authorized(&self) -> &Authorized {
        &self.0
    }
}

impl Deref for Caller {
    type Target = Authorized;

    fn deref(&self) -> &Authorized {
        &self.0
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::{IntoResponse, Response};
    use http::StatusCode;
    use http::request::Parts;

    use super::Caller;

    /// The rejection of the [`Caller`] extractor: the request did not go through
    /// [`KeyprovLayer`](crate::KeyprovLayer), a server mistake (500).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct MissingCaller;

    impl std::fmt::Display for MissingCaller {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("no keyprov caller: the route is not behind KeyprovLayer")
        }
    }

    impl std::error::Error for MissingCaller {}

    impl IntoResponse for MissingCaller {
        fn into_response(self) -> Response {
            (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for Caller {
        type Rejection = MissingCaller;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, MissingCaller> {
            parts
                .extensions
                .get::<Caller>()
                .cloned()
                .ok_or(MissingCaller)
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for Caller {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Caller>, Self::Rejection> {
            Ok(parts.extensions.get::<Caller>().cloned())
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::MissingCaller;
