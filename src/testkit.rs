//! A scriptable in-memory key manager (feature `testkit`), for tests of code that embeds
//! keyprov.
//!
//! It fakes the boundary (an OAuth2 server's answers), not keyprov's logic: register clients
//! with secrets and flags, script outages and rejected admin credentials, and count calls.
//! Tokens it issues are opaque and can be introspected.
//!
//! ```
//! # tokio_test_block_on(async {
//! use keyprov::testkit::{ScriptedKeyManager, Outage};
//! use keyprov::{ConsumerKey, ConsumerSecret, KeyManager};
//!
//! let km = ScriptedKeyManager::new("IS");
//! km.add_client("client-1", "secret-1");
//! let key = ConsumerKey::new("client-1")?;
//! assert!(km.client_credentials_token(&key, &ConsumerSecret::new("secret-1"), &[]).await.is_ok());
//!
//! km.set_outage(Some(Outage::Unavailable));
//! assert!(km.client(&key).await.unwrap_err().is_retryable());
//! # Ok::<(), keyprov::Error>(())
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use secrecy::SecretString;

use crate::error::{Error, Result};
use crate::key_manager::{
    AccessToken, Capabilities, ClientInfo, Introspection, JwkSet, KeyManager,
};
use crate::model::{ConsumerKey, KeyManagerId};
use crate::secret::ConsumerSecret;

/// A scripted failure of the whole key manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// Every call fails as unreachable / 5xx (retryable).
    Unavailable,
    /// Every call answers garbage.
    Malformed,
}

#[derive(Debug)]
struct Client {
    secret: ConsumerSecret,
    info: ClientInfo,
}

#[derive(Debug, Default)]
struct State {
    clients: HashMap<String, Client>,
    tokens: HashMap<String, (String, i64)>,
    outage: Option<Outage>,
    admin_rejected: bool,
    jwks: Option<JwkSet>,
    latency: Option<std::time::Duration>,
}

/// A key manager whose clients and failures a test scripts.
#[derive(Debug)]
pub struct ScriptedKeyManager {
    id: KeyManagerId,
    state: Mutex<State>,
    calls: AtomicUsize,
    jwks_calls: AtomicUsize,
    introspect_calls: AtomicUsize,
    token_lifetime_s: i64,
}

impl ScriptedKeyManager {
    /// An empty key manager whose errors name `id`.
    ///
    /// # Panics
    /// When `id` is not a valid key manager id (blank, control characters).
    pub fn new(id: &str) -> Self {
        Self {
            id: KeyManagerId::new(id).expect("valid key manager id"),
            state: Mutex::default(),
            calls: AtomicUsize::new(0),
            jwks_calls: AtomicUsize::new(0),
            introspect_calls: AtomicUsize::new(0),
            token_lifetime_s: 3600,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an enabled, confidential client allowed `client_credentials`.
    pub fn add_client(&self, consumer_key: &str, secret: &str) {
        let mut info = ClientInfo::new(ConsumerKey::new(consumer_key).expect("valid consumer key"));
        info.client_name = Some(format!("{consumer_key} (scripted)"));
        info.enabled = Some(true);
        info.confidential = Some(true);
        info.grant_types = Some(vec!["client_credentials".to_owned()]);
        info.token_type = Some("Default".to_owned());
        self.lock().clients.insert(
            consumer_key.to_owned(),
            Client {
                secret: ConsumerSecret::new(secret),
                info,
            },
        );
    }

    /// Changes what the key manager says about a client (flags, grant types).
    ///
    /// # Panics
    /// When the client was never added.
    pub fn update_client(&self, consumer_key: &str, change: impl FnOnce(&mut ClientInfo)) {
        let mut state = self.lock();
        let client = state
            .clients
            .get_mut(consumer_key)
            .expect("client added first");
        change(&mut client.info);
    }

    /// Deletes a client.
    pub fn remove_client(&self, consumer_key: &str) {
        self.lock().clients.remove(consumer_key);
    }

    /// Starts or ends an outage.
    pub fn set_outage(&self, outage: Option<Outage>) {
        self.lock().outage = outage;
    }

    /// Makes every call wait `latency` before it answers (a slow network or server), or
    /// answer at once again with `None`.
    pub fn set_latency(&self, latency: Option<std::time::Duration>) {
        self.lock().latency = latency;
    }

    /// Waits the scripted latency, if any.
    async fn delay(&self) {
        let latency = self.lock().latency;
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
    }

    /// Makes the key manager reject our admin credentials on client lookups.
    pub fn reject_admin_credentials(&self, reject: bool) {
        self.lock().admin_rejected = reject;
    }

    /// Publishes signing keys: [`KeyManager::jwks`] answers them from now on (until then it
    /// answers `NotSupported`). Replacing the set models a key rotation.
    pub fn set_jwks(&self, jwks: JwkSet) {
        self.lock().jwks = Some(jwks);
    }

    /// How many times [`KeyManager::jwks`] was called (outages included).
    pub fn jwks_calls(&self) -> usize {
        self.jwks_calls.load(Ordering::SeqCst)
    }

    /// How many times [`KeyManager::introspect`] was called (outages included).
    pub fn introspect_calls(&self) -> usize {
        self.introspect_calls.load(Ordering::SeqCst)
    }

    /// How many calls reached the key manager.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn enter(&self, endpoint: &str) -> Result<std::sync::MutexGuard<'_, State>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let state = self.lock();
        match state.outage {
            Some(Outage::Unavailable) => Err(Error::KeyManagerUnavailable {
                key_manager: self.id.clone(),
                detail: format!("{endpoint} answered 503"),
                source: None,
            }),
            Some(Outage::Malformed) => Err(Error::KeyManagerProtocol {
                key_manager: self.id.clone(),
                endpoint: endpoint.to_owned(),
                detail: "expected JSON, got text/html".to_owned(),
            }),
            None => Ok(state),
        }
    }
}

#[async_trait]
impl KeyManager for ScriptedKeyManager {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL.with_jwks(self.lock().jwks.is_some())
    }

    async fn client(&self, consumer_key: &ConsumerKey) -> Result<ClientInfo> {
        self.delay().await;
        let state = self.enter("client")?;
        if state.admin_rejected {
            return Err(Error::KeyManagerCredentialsRejected {
                key_manager: self.id.clone(),
            });
        }
        state
            .clients
            .get(consumer_key.as_str())
            .map(|c| c.info.clone())
            .ok_or_else(|| Error::ClientNotFound {
                key_manager: self.id.clone(),
            })
    }

    async fn client_credentials_token(
        &self,
        consumer_key: &ConsumerKey,
        secret: &ConsumerSecret,
        scopes: &[String],
    ) -> Result<AccessToken> {
        self.delay().await;
        let mut state = self.enter("token")?;
        let proven = state.clients.get(consumer_key.as_str()).is_some_and(|c| {
            c.secret.matches(secret.expose())
                && c.info.enabled != Some(false)
                && c.info.usability(crate::model::now()).is_ok()
        });
        if !proven {
            return Err(Error::SecretNotProven {
                key_manager: self.id.clone(),
            });
        }
        let token = format!("scripted-{}", uuid::Uuid::new_v4().simple());
        let exp = crate::model::now().timestamp() + self.token_lifetime_s;
        state
            .tokens
            .insert(token.clone(), (consumer_key.to_string(), exp));
        Ok(AccessToken {
            access_token: SecretString::from(token),
            token_type: "Bearer".to_owned(),
            expires_in: Some(self.token_lifetime_s as u64),
            scopes: scopes.to_vec(),
        })
    }

    async fn jwks(&self) -> Result<JwkSet> {
        self.jwks_calls.fetch_add(1, Ordering::SeqCst);
        self.delay().await;
        let state = self.enter("jwks")?;
        state.jwks.clone().ok_or_else(|| Error::NotSupported {
            key_manager: self.id.clone(),
            operation: "jwks",
        })
    }

    async fn introspect(&self, token: &str) -> Result<Introspection> {
        self.introspect_calls.fetch_add(1, Ordering::SeqCst);
        self.delay().await;
        let state = self.enter("introspect")?;
        let mut answer = Introspection::default();
        if let Some((client_id, exp)) = state.tokens.get(token) {
            answer.active = *exp > crate::model::now().timestamp();
            answer
                .claims
                .insert("client_id".into(), client_id.clone().into());
            answer.claims.insert("exp".into(), (*exp).into());
            answer.claims.insert("token_type".into(), "Bearer".into());
        }
        Ok(answer)
    }
}
