//! Shared set-up: the WSO2 IS emulator, a provisioner, a gateway, and the router served on
//! loopback under WSO2's prefix; every log line is kept for the secret checks.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keyprov::gateway::Gateway;
use keyprov::store::MemoryStore;
use keyprov::{
    Actor, Api, ApiId, KeyManagerConfig, KeyManagers, OrganizationId, Provisioner, UserId,
};
use keyprov_rest::{Authenticator, DevPortal, FixedActor};
use km_oidc::{HttpSettings, RetryPolicy};
use km_wso2is::Wso2IsKeyManager;
use km_wso2is::emulator::{ConsoleApplication, IsVersion, Wso2IsEmulator};
use reqwest::Method;
use serde_json::Value;

pub const PREFIX: &str = "/api/am/devportal/v3";
pub const PIZZA: &str = "pizzashack-1.0.0";
pub const PORTAL_API: &str = "devportal";

/// Every log line of this test binary.
pub fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || LogSink(sink.clone()))
            .with_ansi(false)
            .init();
        buffer
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn alice() -> FixedActor {
    FixedActor::new(Actor::User(UserId::new("alice").unwrap()))
}

pub fn bob() -> FixedActor {
    FixedActor::new(Actor::User(UserId::new("bob").unwrap()))
}

fn fast() -> HttpSettings {
    HttpSettings {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(500),
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        },
        ..HttpSettings::default()
    }
}

/// The emulator, the provisioner and gateway over it, and a router served on loopback.
pub struct Portal {
    pub is: Wso2IsEmulator,
    pub provisioner: Provisioner,
    pub gateway: Gateway,
    pub base: String,
    pub http: reqwest::Client,
}

/// One answer: status, `Retry-After` and `Location`, and the body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub location: Option<String>,
    pub content_type: Option<String>,
    pub text: String,
    pub body: Value,
}

impl Answer {
    /// Asserts WSO2's error shape with this status and code; returns the first item's code.
    #[track_caller]
    pub fn error(&self, status: u16, code: i64) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.body["code"], code, "{}", self.text);
        assert!(self.body["message"].is_string(), "{}", self.text);
        assert!(self.body["description"].is_string(), "{}", self.text);
        assert!(self.body["moreInfo"].is_string(), "{}", self.text);
        assert!(self.body["error"].is_array(), "{}", self.text);
        assert_eq!(self.content_type.as_deref(), Some("application/json"));
        self.body["error"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Portal {
    /// The world with the router authenticating with `auth`.
    pub async fn start(auth: impl Authenticator) -> Portal {
        Self::start_with(|_, _| auth).await
    }

    /// As [`Portal::start`], the authenticator built from the provisioner and gateway.
    pub async fn start_with<A: Authenticator>(
        auth: impl FnOnce(&Provisioner, &Gateway) -> A,
    ) -> Portal {
        log_buffer();
        let is = Wso2IsEmulator::start(IsVersion::V7).await.unwrap();
        let adapter =
            |name: &str| Arc::new(Wso2IsKeyManager::new(is.config(name).http(fast())).unwrap());
        let key_managers = KeyManagers::new()
            .with(
                KeyManagerConfig::new("IS").unwrap().out_of_band(true),
                adapter("IS"),
            )
            .unwrap()
            .with(
                // Its own issuer: two key managers may not share one.
                KeyManagerConfig::new("IS-off")
                    .unwrap()
                    .issuer("https://is-off.example/oauth2/token"),
                adapter("IS-off"),
            )
            .unwrap();
        let provisioner = Provisioner::builder()
            .store(Arc::new(MemoryStore::new()))
            .key_managers(key_managers.clone())
            .build()
            .unwrap();
        let gateway = Gateway::builder()
            .key_managers(key_managers)
            .build()
            .unwrap();
        Box::leak(Box::new(gateway.follow(&provisioner).await.unwrap()));
        let org = OrganizationId::new("carbon.super").unwrap();
        for (id, context) in [(PIZZA, "/pizzashack/1.0.0"), (PORTAL_API, PREFIX)] {
            provisioner
                .put_api(Api::new(
                    ApiId::new(id).unwrap(),
                    id,
                    "1.0.0",
                    context,
                    org.clone(),
                ))
                .await
                .unwrap();
        }
        let auth = auth(&provisioner, &gateway);
        let mut portal = Portal {
            is,
            provisioner,
            gateway,
            base: String::new(),
            http: reqwest::Client::new(),
        };
        portal.base = portal
            .serve(DevPortal::new(portal.provisioner.clone(), auth))
            .await;
        portal
    }

    /// Serves another router (over the same provisioner or not) on loopback; its base URL.
    pub async fn serve(&self, portal: DevPortal) -> String {
        let app = axum::Router::new().nest(PREFIX, portal.router());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}{PREFIX}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    /// Another router on the same provisioner, for another caller.
    pub async fn serve_as(&self, auth: impl Authenticator) -> String {
        self.serve(DevPortal::new(self.provisioner.clone(), auth))
            .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client created in the IS console (JWT, `client_credentials` allowed).
    pub fn console_client(&self, name: &str) -> ConsoleApplication {
        self.is.console().create_jwt_client(name).unwrap()
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_at(&self.base, method, path, body).await
    }

    pub async fn call_at(
        &self,
        base: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{base}{path}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates an application; its id.
    pub async fn application(&self, name: &str) -> String {
        let created = self
            .post(
                "/applications",
                serde_json::json!({"name": name, "throttlingPolicy": "Unlimited"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        created.body["applicationId"].as_str().unwrap().to_owned()
    }

    /// Maps `client` as production keys of `app` at `IS`; the answer.
    pub async fn map(&self, app: &str, client: &ConsoleApplication) -> Answer {
        self.post(
            &format!("/applications/{app}/map-keys"),
            serde_json::json!({
                "consumerKey": client.client_id,
                "consumerSecret": client.client_secret,
                "keyManager": "IS",
                "keyType": "PRODUCTION",
            }),
        )
        .await
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let retry_after = header("retry-after");
    let location = header("location");
    let content_type = header("content-type");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Answer {
        status,
        retry_after,
        location,
        content_type,
        text,
        body,
    }
}
