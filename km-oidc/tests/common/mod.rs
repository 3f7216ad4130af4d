//! The "server under test" fixture: the in-process emulator or a real `oidc-provider`, both
//! configured alike (registration with an initial access token, a JWT resource, an opaque
//! resource, introspection).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use keyprov::KeyManagerId;
use km_oidc::client::{ClientRegistration, Http};
use km_oidc::emulator::{Emulator, Flavour, ResourceServer, TokenFormat};
use km_oidc::{HttpSettings, OidcConfig, OidcKeyManager, RegistrationAccess, ServerAuth};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const INITIAL_ACCESS_TOKEN: &str = "keyprov-initial-access-token";
pub const JWT_RESOURCE: &str = "urn:keyprov:jwt";
pub const OPAQUE_RESOURCE: &str = "urn:keyprov:opaque";

enum Guard {
    Emulator(#[allow(dead_code)] Emulator),
    Node(#[allow(dead_code)] Child),
}

/// A running server and how to reach it.
pub struct Server {
    pub name: &'static str,
    pub issuer: String,
    _guard: Guard,
}

pub fn km_id() -> KeyManagerId {
    KeyManagerId::new("under-test").unwrap()
}

pub fn install_jwt_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}

/// The emulator flavour matching the oidc-provider fixture's configuration.
pub fn suite_flavour() -> Flavour {
    Flavour::standard()
        .with_initial_access_token(INITIAL_ACCESS_TOKEN)
        .with_resource(
            JWT_RESOURCE,
            ResourceServer {
                format: TokenFormat::Jwt,
                scopes: vec!["read".into(), "write".into()],
            },
        )
        .with_resource(
            OPAQUE_RESOURCE,
            ResourceServer {
                format: TokenFormat::Opaque,
                scopes: vec!["read".into(), "write".into()],
            },
        )
}

impl Server {
    pub async fn emulator() -> Server {
        let emulator = Emulator::builder()
            .flavour(suite_flavour())
            .start()
            .await
            .unwrap();
        Server {
            name: "emulator",
            issuer: emulator.issuer(),
            _guard: Guard::Emulator(emulator),
        }
    }

    /// Starts `node server.mjs 0`. Panics when Node or the package is missing: the tests
    /// that use it are ignored by default, so a run that asks for them must not pass without.
    pub async fn oidc_provider() -> Server {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider");
        let node = Command::new("node").arg("--version").output().await;
        assert!(
            node.is_ok_and(|o| o.status.success()),
            "the oidc-provider interop tests need `node`: install Node.js, then run \
             .ci/oidc-provider.sh"
        );
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the oidc-provider interop tests need the package: run .ci/oidc-provider.sh \
             (npm ci in km-oidc/tests/oidc-provider)"
        );
        let mut child = Command::new("node")
            .arg("server.mjs")
            .arg("0")
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn node");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let issuer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("LISTENING ") {
                    return url.trim().to_owned();
                }
            }
            panic!("oidc-provider exited before listening");
        })
        .await
        .expect("oidc-provider did not start within 30 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            name: "oidc-provider",
            issuer,
            _guard: Guard::Node(child),
        }
    }

    pub fn config(&self) -> OidcConfig {
        OidcConfig::new(km_id(), self.issuer.clone())
    }

    pub fn km(&self, config: OidcConfig) -> OidcKeyManager {
        OidcKeyManager::new(config).unwrap()
    }

    /// Registers a `client_credentials` client through RFC 7591.
    pub async fn register(&self, auth_method: &str) -> ClientRegistration {
        self.register_with(serde_json::json!({
            "client_name": format!("keyprov {auth_method}"),
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": auth_method,
            "scope": "read write",
        }))
        .await
    }

    /// Registers a client with this RFC 7591 metadata.
    pub async fn register_with(&self, metadata: serde_json::Value) -> ClientRegistration {
        let http = Http::new(&HttpSettings::default()).unwrap();
        let km = self.km(self.config());
        let endpoint = km.endpoints().await.unwrap().registration.clone().unwrap();
        let token = SecretString::from(INITIAL_ACCESS_TOKEN.to_owned());
        http.register(&endpoint, Some(&token), &metadata)
            .await
            .unwrap()
    }
}

pub fn secret_of(reg: &ClientRegistration) -> String {
    reg.client_secret
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned()
}

pub fn access_of(reg: &ClientRegistration) -> RegistrationAccess {
    RegistrationAccess {
        token: reg.registration_access_token.clone().unwrap(),
        uri: reg.registration_client_uri.clone(),
    }
}

pub fn basic_auth_of(reg: &ClientRegistration) -> ServerAuth {
    ServerAuth::ClientSecretBasic {
        client_id: reg.client_id.clone(),
        client_secret: reg.client_secret.clone().unwrap(),
    }
}
