//! Who calls: an [`Authenticator`] turns a request into a [`keyprov::Actor`].

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use http::header;
use http::request::Parts;
use keyprov::gateway::Gateway;
use keyprov::{Actor, ApiId, KeyType, Provisioner, UserId};

use crate::error::RestError;

/// WSO2's Developer Portal scopes, as its document names them.
pub mod scopes {
    /// Subscribe to APIs; also the general portal scope.
    pub const SUBSCRIBE: &str = "apim:subscribe";
    /// Retrieve and manage applications and their keys.
    pub const APP_MANAGE: &str = "apim:app_manage";
    /// Retrieve and manage subscriptions.
    pub const SUB_MANAGE: &str = "apim:sub_manage";
    /// Import and export applications.
    pub const APP_IMPORT_EXPORT: &str = "apim:app_import_export";
}

/// Turns a request into the [`Actor`] keyprov authorizes, or refuses it.
///
/// `accepted` lists the scopes of the operation (as WSO2's document lists them for it): the
/// caller must hold at least one. An implementation that has no notion of scopes may ignore it.
///
/// # Errors
/// A [`RestError`]: [`RestError::missing_credentials`] and [`RestError::invalid_credentials`]
/// (401), [`RestError::scope_missing`] (403), or any other failure in WSO2's shape.
#[async_trait]
pub trait Authenticator: fmt::Debug + Send + Sync + 'static {
    /// Authenticates the request.
    async fn authenticate(&self, request: &Parts, accepted: &[&str]) -> Result<Actor, RestError>;
}

#[async_trait]
impl<T: Authenticator + ?Sized> Authenticator for Arc<T> {
    async fn authenticate(&self, request: &Parts, accepted: &[&str]) -> Result<Actor, RestError> {
        (**self).authenticate(request, accepted).await
    }
}

/// Every request is the same actor: for tests and for services that authenticate in front of
/// the router.
///
/// ```
/// use keyprov::{Actor, UserId};
/// use keyprov_rest::FixedActor;
///
/// let alice = FixedActor::new(Actor::User(UserId::new("alice")?));
/// // A token that could only read: operations that need other scopes answer 403.
/// let reader = FixedActor::new(Actor::User(UserId::new("bob")?)).with_scopes(["apim:subscribe"]);
/// # let _ = (alice, reader);
/// # Ok::<(), keyprov::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct FixedActor {
    actor: Actor,
    scopes: Option<BTreeSet<String>>,
}

impl FixedActor {
    /// Every request is `actor`, holding every scope.
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            scopes: None,
        }
    }

    /// Holds only these scopes.
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }
}

#[async_trait]
impl Authenticator for FixedActor {
    async fn authenticate(&self, _request: &Parts, accepted: &[&str]) -> Result<Actor, RestError> {
        match &self.scopes {
            Some(held) if !accepted.iter().any(|s| held.contains(*s)) => {
                Err(RestError::scope_missing(accepted))
            }
            _ => Ok(self.actor.clone()),
        }
    }
}

/// Bearer tokens verified by keyprov's own [`Gateway`], as for any API it protects.
///
/// The portal is registered as an API (`portal_api`). A developer's token is issued to a client
/// mapped to one of their applications, subscribed to that API: the gateway verifies the token
/// (issuer, signature, expiry, mapping, subscription) and the caller is the owner of that
/// application, a portal user ([`Actor::User`]). The token's scopes must include one the
/// operation accepts.
///
/// # Example
/// ```no_run
/// # async fn run(provisioner: keyprov::Provisioner, gateway: keyprov::gateway::Gateway) -> keyprov::Result<()> {
/// use keyprov::ApiId;
/// use keyprov_rest::{BearerAuthenticator, DevPortal};
///
/// let auth = BearerAuthenticator::new(gateway, provisioner.clone(), ApiId::new("devportal")?);
/// let router = DevPortal::new(provisioner, auth).router();
/// # let _ = router; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct BearerAuthenticator {
    gateway: Gateway,
    provisioner: Provisioner,
    portal_api: ApiId,
}

impl BearerAuthenticator {
    /// Verifies tokens with `gateway` for calls to `portal_api`; `provisioner` finds the owner of
    /// the token's application.
    pub fn new(gateway: Gateway, provisioner: Provisioner, portal_api: ApiId) -> Self {
        Self {
            gateway,
            provisioner,
            portal_api,
        }
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(request: &Parts) -> Option<&str> {
    let value = request.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[async_trait]
impl Authenticator for BearerAuthenticator {
    async fn authenticate(&self, request: &Parts, accepted: &[&str]) -> Result<Actor, RestError> {
        let token = bearer_token(request).ok_or_else(RestError::missing_credentials)?;
        let authorized = self
            .gateway
            .resolve(token, &self.portal_api, KeyType::Production)
            .await
            .map_err(|denial| {
                let rest = match denial.status() {
                    403 => RestError::new(http::StatusCode::FORBIDDEN, 900908, denial.to_string()),
                    503 => RestError::new(
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        900900,
                        denial.to_string(),
                    ),
                    _ => RestError::invalid_credentials(denial.to_string()),
                };
                tracing::info!(code = denial.code(), "portal token refused");
                rest.with_item(denial.code(), denial.to_string())
            })?;
        if !accepted.iter().any(|s| authorized.scopes.contains(s)) {
            return Err(RestError::scope_missing(accepted));
        }
        let application = self
            .provisioner
            .store()
            .application(authorized.application)
            .await?
            .ok_or_else(|| {
                RestError::invalid_credentials("the token's application no longer exists")
            })?;
        Ok(portal_user(application.owner))
    }
}

/// The actor of a portal user. Portal callers are always users; administrators and services
/// are the embedding service's own actors.
pub(crate) fn portal_user(user: UserId) -> Actor {
    Actor::User(user)
}

/// The user a portal caller acts as, for operations that need an owner (creating and listing
/// applications). Every kind of actor other than a user is handled here, and only here.
pub(crate) fn user_of(actor: &Actor) -> Result<&UserId, RestError> {
    match actor {
        Actor::User(user) => Ok(user),
        _ => Err(RestError::new(
            http::StatusCode::FORBIDDEN,
            403,
            format!("{actor} is not a portal user: applications are owned by users"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_users_own_applications() {
        let alice = Actor::user("alice").unwrap();
        assert_eq!(user_of(&alice).unwrap().as_str(), "alice");
        for other in [
            Actor::admin("root").unwrap(),
            Actor::service("cron").unwrap(),
        ] {
            let refused = user_of(&other).unwrap_err();
            assert_eq!(refused.status(), http::StatusCode::FORBIDDEN, "{other}");
            assert_eq!(refused.body().code, 403);
        }
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let parts = |value: &str| {
            let request = http::Request::builder()
                .header(header::AUTHORIZATION, value)
                .body(())
                .unwrap();
            request.into_parts().0
        };
        assert_eq!(bearer_token(&parts("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&parts("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&parts("Basic abc")), None);
        assert_eq!(bearer_token(&parts("Bearer ")), None);
    }
}
