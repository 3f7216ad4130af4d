//! [`Engine`]: the emulator's state and the operations vendor routes are built from.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyprov::JwkSet;
use serde_json::{Map, Value, json};

use super::faults::Faults;
use super::flavour::{ClaimsContext, Flavour};
use super::keys::{SigningKey, random_token};
use super::registry::{ClientRecord, ClientSpec, RegisteredClient, TokenFormat, TokenRecord};

struct KeyEntry {
    key: SigningKey,
    /// Seconds since the epoch after which the key leaves the JWKS.
    retire_at: Option<i64>,
}

#[derive(Default)]
struct State {
    clients: BTreeMap<String, ClientRecord>,
    tokens: HashMap<String, TokenRecord>,
    keys: Vec<KeyEntry>,
    /// Every token presented for introspection, in order.
    introspected: Vec<String>,
}

struct Inner {
    base_url: String,
    flavour: Flavour,
    faults: Faults,
    state: Mutex<State>,
}

/// The emulator's shared state: client registry, signing keys, issued tokens, faults. It is
/// the axum state of every route, so vendor routes take `State<Engine>` and call these
/// methods. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("base_url", &self.inner.base_url)
            .field("flavour", &self.inner.flavour.name)
            .finish_non_exhaustive()
    }
}

/// Why the engine refuses a request; [`Engine::refuse`] turns it into the flavour's answer,
/// and vendor routes may inspect or reshape it first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The OAuth2 error code.
    pub error: String,
    /// Its description.
    pub description: String,
}

impl Refusal {
    /// A refusal.
    pub fn new(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            error: error.to_owned(),
            description: description.into(),
        }
    }
}

/// Seconds since the epoch.
pub fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn url_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl Engine {
    pub(crate) fn new(base_url: String, flavour: Flavour, faults: Faults) -> Self {
        let first = SigningKey::generate(flavour.alg);
        let state = State {
            keys: vec![KeyEntry {
                key: first,
                retire_at: None,
            }],
            ..State::default()
        };
        Self {
            inner: Arc::new(Inner {
                base_url,
                flavour,
                faults,
                state: Mutex::new(state),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The base URL followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base_url)
    }

    /// The issuer (base URL + the flavour's issuer path).
    pub fn issuer(&self) -> String {
        self.url(&self.inner.flavour.issuer_path)
    }

    /// The flavour.
    pub fn flavour(&self) -> &Flavour {
        &self.inner.flavour
    }

    /// The fault switchboard.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// An error answer in the flavour's shape.
    pub fn error(&self, status: StatusCode, error: &str, description: &str) -> Response {
        (self.inner.flavour.error_body)(status, error, description)
    }

    /// The answer for a refusal, in the flavour's shape.
    pub fn refuse(&self, refusal: &Refusal) -> Response {
        self.error(refusal.status, &refusal.error, &refusal.description)
    }

    /// The RFC 7592 URL of a client, when registration is enabled.
    pub fn registration_client_uri(&self, client_id: &str) -> Option<String> {
        let base = self.inner.flavour.paths.registration.as_deref()?;
        Some(self.url(&format!("{base}/{client_id}")))
    }

    /// Creates a client.
    pub fn create_client(&self, spec: ClientSpec) -> RegisteredClient {
        let record = ClientRecord {
            client_id: spec.client_id.unwrap_or_else(|| random_token(18)),
            client_secret: spec.client_secret.unwrap_or_else(|| random_token(32)),
            token_endpoint_auth_method: spec
                .auth_method
                .unwrap_or_else(|| "client_secret_basic".into()),
            client_name: spec.client_name,
            grant_types: spec
                .grant_types
                .unwrap_or_else(|| self.inner.flavour.default_grant_types.clone()),
            redirect_uris: spec.redirect_uris,
            scopes: spec.scopes,
            enabled: spec.enabled.unwrap_or(true),
            token_format: spec.token_format,
            secret_expires_at: spec.secret_expires_at,
            registration_access_token: random_token(24),
            issued_at: now_s(),
            metadata: spec.metadata,
        };
        let created = RegisteredClient {
            client_id: record.client_id.clone(),
            client_secret: record.client_secret.clone(),
            registration_access_token: record.registration_access_token.clone(),
            registration_client_uri: self.registration_client_uri(&record.client_id),
        };
        self.lock().clients.insert(record.client_id.clone(), record);
        created
    }

    /// A client, if it exists.
    pub fn client(&self, client_id: &str) -> Option<ClientRecord> {
        self.lock().clients.get(client_id).cloned()
    }

    /// Every client.
    pub fn clients(&self) -> Vec<ClientRecord> {
        self.lock().clients.values().cloned().collect()
    }

    /// Changes a client in place; `false` if it does not exist.
    pub fn update_client(&self, client_id: &str, change: impl FnOnce(&mut ClientRecord)) -> bool {
        self.lock().clients.get_mut(client_id).map(change).is_some()
    }

    /// Enables or disables a client.
    pub fn set_enabled(&self, client_id: &str, enabled: bool) -> bool {
        self.update_client(client_id, |c| c.enabled = enabled)
    }

    /// Deletes a client and revokes its tokens; `false` if it did not exist.
    pub fn delete_client(&self, client_id: &str) -> bool {
        let mut state = self.lock();
        state.tokens.retain(|_, t| t.client_id != client_id);
        state.clients.remove(client_id).is_some()
    }

    /// Gives a client a new secret and returns it; the old one stops working at once.
    pub fn rotate_secret(&self, client_id: &str) -> Option<String> {
        let secret = random_token(32);
        self.update_client(client_id, |c| c.client_secret = secret.clone())
            .then_some(secret)
    }

    /// Starts signing with a new key; the previous keys stay in the JWKS for at most `grace`
    /// (a zero grace drops them at once, as after a key compromise). Returns the new key id.
    pub fn rotate_signing_key(&self, grace: Duration) -> String {
        let key = SigningKey::generate(self.inner.flavour.alg);
        let kid = key.kid.clone();
        let retire_at = now_s() + i64::try_from(grace.as_secs()).unwrap_or(i64::MAX / 2);
        let mut state = self.lock();
        for entry in &mut state.keys {
            entry.retire_at = Some(entry.retire_at.map_or(retire_at, |at| at.min(retire_at)));
        }
        state.keys.push(KeyEntry {
            key,
            retire_at: None,
        });
        kid
    }

    /// The current signing key's id.
    pub fn current_kid(&self) -> String {
        self.lock()
            .keys
            .last()
            .map(|k| k.key.kid.clone())
            .unwrap_or_default()
    }

    /// The published keys: the current one and those still in their grace period.
    pub fn jwks(&self) -> JwkSet {
        let now = now_s();
        let mut state = self.lock();
        state.keys.retain(|k| k.retire_at.is_none_or(|at| at > now));
        JwkSet {
            keys: state.keys.iter().map(|k| k.key.jwk()).collect(),
        }
    }

    /// The discovery document of the flavour's paths.
    pub fn discovery_document(&self) -> Value {
        let paths = &self.inner.flavour.paths;
        let mut doc = Map::new();
        doc.insert("issuer".into(), self.issuer().into());
        let mut put = |name: &str, path: &Option<String>| {
            if let Some(p) = path {
                doc.insert(name.into(), self.url(p).into());
            }
        };
        put("token_endpoint", &paths.token);
        put("jwks_uri", &paths.jwks);
        put("introspection_endpoint", &paths.introspection);
        put("registration_endpoint", &paths.registration);
        doc.insert(
            "grant_types_supported".into(),
            json!(["client_credentials"]),
        );
        doc.insert(
            "token_endpoint_auth_methods_supported".into(),
            json!(["client_secret_basic", "client_secret_post"]),
        );
        doc.insert(
            "id_token_signing_alg_values_supported".into(),
            json!([self.inner.flavour.alg.as_str()]),
        );
        Value::Object(doc)
    }

    /// Authenticates a client from `Authorization: Basic` (RFC 6749 §2.3.1, form-urlencoded
    /// id and secret) or from `client_id`/`client_secret` in the form.
    ///
    /// # Errors
    /// The refusal to send ([`Engine::refuse`]): 400 `invalid_request` when both methods are used, 401
    /// `invalid_client` for anything else that fails.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<ClientRecord, Refusal> {
        let refuse = || {
            Refusal::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            )
        };
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|text| {
                let (id, secret) = text.split_once(':')?;
                Some((url_decode(id), url_decode(secret)))
            });
        let post = form.get("client_secret").map(|s| {
            (
                form.get("client_id").cloned().unwrap_or_default(),
                s.clone(),
            )
        });
        let (method, (id, secret)) = match (basic, post) {
            (Some(_), Some(_)) => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "client authentication must only be provided using one mechanism",
                ));
            }
            (Some(b), None) => ("client_secret_basic", b),
            (None, Some(p)) => ("client_secret_post", p),
            (None, None) => return Err(refuse()),
        };
        let client = self.client(&id).ok_or_else(refuse)?;
        let expired = client.secret_expires_at.is_some_and(|at| at <= now_s());
        let method_ok =
            !self.inner.flavour.strict_auth_method || client.token_endpoint_auth_method == method;
        let secret_ok = secret.len() == client.client_secret.len()
            && secret
                .bytes()
                .zip(client.client_secret.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !client.enabled || expired || !method_ok || !secret_ok {
            return Err(refuse());
        }
        Ok(client)
    }

    /// Issues an access token for `client` (already authenticated), as the flavour says:
    /// format from the resource server or the client, claims from the claims hook.
    ///
    /// # Errors
    /// 400 `invalid_target` for an unknown resource, 400 `invalid_scope` for a scope the
    /// client may not have.
    pub fn issue_token(
        &self,
        client: &ClientRecord,
        scopes: Vec<String>,
        resource: Option<&str>,
    ) -> Result<Value, Refusal> {
        let flavour = &self.inner.flavour;
        let mut format = client.token_format;
        let mut scopes = scopes;
        if let Some(resource) = resource
            && !flavour.resources.is_empty()
        {
            let Some(server) = flavour.resources.get(resource) else {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_target",
                    "unknown resource",
                ));
            };
            format = server.format;
            if !server.scopes.is_empty() {
                scopes.retain(|s| server.scopes.contains(s));
            }
        }
        if !client.scopes.is_empty()
            && let Some(bad) = scopes.iter().find(|s| !client.scopes.contains(s))
        {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("requested scope {bad} is not allowed"),
            ));
        }
        let iat = now_s();
        let ttl = i64::try_from(flavour.access_token_ttl.as_secs()).unwrap_or(3600);
        let jti = random_token(16);
        let issuer = self.issuer();
        let claims = (flavour.claims)(&ClaimsContext {
            issuer: &issuer,
            client,
            scopes: &scopes,
            resource,
            iat,
            exp: iat + ttl,
            jti: &jti,
        });
        let token = match format {
            TokenFormat::Opaque => format!("{}{}", flavour.opaque_token_prefix, random_token(32)),
            TokenFormat::Jwt => {
                let state = self.lock();
                let key = &state
                    .keys
                    .last()
                    .expect("there is always a signing key")
                    .key;
                key.sign(&flavour.jwt_typ, &Value::Object(claims.clone()))
            }
        };
        let mut state = self.lock();
        state.tokens.retain(|_, t| t.exp > iat);
        state.tokens.insert(
            token.clone(),
            TokenRecord {
                client_id: client.client_id.clone(),
                exp: iat + ttl,
                claims,
            },
        );
        let mut answer = json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl});
        if !scopes.is_empty() {
            answer["scope"] = scopes.join(" ").into();
        }
        Ok(answer)
    }

    /// Records a token presented to the introspection endpoint, before the caller is
    /// authenticated ([`routes::introspect`](super::routes::introspect) does): a test can then
    /// tell which tokens reached this server at all.
    pub fn record_introspection(&self, token: &str) {
        self.lock().introspected.push(token.to_owned());
    }

    /// Every token presented to the introspection endpoint so far, in order.
    pub fn introspected(&self) -> Vec<String> {
        self.lock().introspected.clone()
    }

    /// RFC 7662 answer for a token this emulator issued (JWT or opaque).
    pub fn introspect(&self, token: &str) -> Value {
        let state = self.lock();
        match state.tokens.get(token) {
            Some(t) if t.exp > now_s() && state.clients.contains_key(&t.client_id) => {
                let mut out = t.claims.clone();
                out.insert("active".into(), true.into());
                out.insert("client_id".into(), t.client_id.clone().into());
                out.insert("token_type".into(), "Bearer".into());
                Value::Object(out)
            }
            _ => json!({"active": false}),
        }
    }
}
