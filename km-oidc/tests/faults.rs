//! Fault injection against the emulator: every error type, timeouts, bounded retries.

use std::time::{Duration, Instant};

use keyprov::{ConsumerKey, ConsumerSecret, Error, KeyManager};
use km_oidc::emulator::{ClientSpec, Emulator, Fault, RegisteredClient};
use km_oidc::{HttpSettings, OidcConfig, OidcKeyManager, RetryPolicy, ServerAuth};
use secrecy::SecretString;

use crate::common::km_id;

const TIMEOUT: Duration = Duration::from_millis(400);

struct Setup {
    idp: Emulator,
    client: RegisteredClient,
    km: OidcKeyManager,
}

impl Setup {
    async fn new() -> Setup {
        let idp = Emulator::start().await.unwrap();
        let client = idp.engine().create_client(ClientSpec::new());
        let config = OidcConfig::new(km_id(), idp.issuer())
            .introspection_auth(ServerAuth::ClientSecretBasic {
                client_id: client.client_id.clone(),
                client_secret: SecretString::from(client.client_secret.clone()),
            })
            .http(HttpSettings {
                connect_timeout: TIMEOUT,
                request_timeout: TIMEOUT,
                retry: RetryPolicy {
                    max_attempts: 3,
                    initial_backoff: Duration::from_millis(10),
                    max_backoff: Duration::from_millis(40),
                },
                ..HttpSettings::default()
            });
        let km = OidcKeyManager::new(config).unwrap();
        km.endpoints().await.unwrap(); // discovery done before faults are switched on
        idp.faults().reset_counts();
        Setup { idp, client, km }
    }

    fn key(&self) -> ConsumerKey {
        ConsumerKey::new(self.client.client_id.as_str()).unwrap()
    }

    fn secret(&self) -> ConsumerSecret {
        ConsumerSecret::new(self.client.client_secret.as_str())
    }

    async fn token(&self) -> keyprov::Result<keyprov::AccessToken> {
        self.km
            .client_credentials_token(&self.key(), &self.secret(), &[])
            .await
    }
}

fn assert_unavailable(err: &Error, endpoint: &str) {
    match err {
        Error::KeyManagerUnavailable { detail, .. } => {
            assert!(detail.contains(endpoint), "{detail}");
            assert!(err.is_retryable());
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
}

fn assert_protocol(err: &Error, expected_endpoint: &str, detail_has: &str) {
    match err {
        Error::KeyManagerProtocol {
            endpoint, detail, ..
        } => {
            assert_eq!(endpoint, expected_endpoint);
            assert!(detail.contains(detail_has), "{detail}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn throttling_and_server_errors_are_unavailable_and_tokens_are_not_retried() {
    let s = Setup::new().await;
    for status in [429, 500, 502, 503] {
        s.idp.faults().reset_counts();
        s.idp
            .faults()
            .inject(Fault::Status(status).on("/token").times(5));
        let err = s.token().await.unwrap_err();
        assert_unavailable(&err, "token /token");
        assert_eq!(
            s.idp.faults().requests("/token"),
            1,
            "token requests are never retried"
        );
        s.idp.faults().clear();
    }
    s.token().await.expect("works again once the fault is gone");
}

#[tokio::test]
async fn idempotent_reads_retry_within_a_bounded_budget() {
    let s = Setup::new().await;
    s.idp.faults().inject(Fault::Status(503).on("/jwks"));
    let err = s.km.jwks().await.unwrap_err();
    assert_unavailable(&err, "jwks /jwks");
    assert_eq!(s.idp.faults().requests("/jwks"), 3, "max_attempts = 3");

    s.idp.faults().clear();
    s.idp.faults().reset_counts();
    s.idp
        .faults()
        .inject(Fault::Status(502).on("/jwks").times(2));
    s.km.jwks().await.expect("third attempt succeeds");
    assert_eq!(s.idp.faults().requests("/jwks"), 3);

    // Introspection is a POST without side effects: retried too.
    s.idp.faults().reset_counts();
    s.idp
        .faults()
        .inject(Fault::Drop.on("/introspect").times(1));
    let info = s.km.introspect("unknown-token").await.unwrap();
    assert!(!info.active);
    assert_eq!(s.idp.faults().requests("/introspect"), 2);
}

#[tokio::test]
async fn no_request_hangs_past_its_timeout() {
    let s = Setup::new().await;
    s.idp
        .faults()
        .inject(Fault::Latency(Duration::from_secs(30)).always());
    let started = Instant::now();
    let err = s.token().await.unwrap_err();
    assert_unavailable(&err, "token /token");
    assert!(err.to_string().contains("timed out"), "{err}");
    // Generous bounds: one attempt of 0.4 s; three attempts plus backoff for a read.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let err = s.km.jwks().await.unwrap_err();
    assert_unavailable(&err, "jwks /jwks");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.idp.faults().requests("/jwks"), 3);
}

#[tokio::test]
async fn a_dropped_connection_is_unavailable() {
    let s = Setup::new().await;
    s.idp.faults().inject(Fault::Drop.on("/token"));
    let err = s.token().await.unwrap_err();
    assert_unavailable(&err, "token /token");
    assert_eq!(s.idp.faults().requests("/token"), 1);
}

#[tokio::test]
async fn malformed_json_and_html_pages_are_protocol_errors_naming_the_endpoint() {
    let s = Setup::new().await;
    s.idp
        .faults()
        .inject(Fault::MalformedJson.on("/jwks").times(3));
    let err = s.km.jwks().await.unwrap_err();
    assert_protocol(&err, "jwks /jwks", "malformed JSON");
    assert_eq!(
        s.idp.faults().requests("/jwks"),
        1,
        "protocol errors are not retried"
    );

    s.idp
        .faults()
        .inject(Fault::MalformedJson.on("/token").times(1));
    assert_protocol(&s.token().await.unwrap_err(), "token /token", "malformed");

    s.idp
        .faults()
        .inject(Fault::HtmlPage(200).on("/token").times(1));
    assert_protocol(&s.token().await.unwrap_err(), "token /token", "HTML");

    s.idp
        .faults()
        .inject(Fault::HtmlPage(404).on("/introspect").times(1));
    assert_protocol(
        &s.km.introspect("t").await.unwrap_err(),
        "introspection /introspect",
        "HTML",
    );

    // A 502 HTML page from a proxy is still "unavailable".
    s.idp
        .faults()
        .inject(Fault::HtmlPage(502).on("/token").times(1));
    assert_unavailable(&s.token().await.unwrap_err(), "token /token");

    // Discovery answered by a login page.
    let fresh = OidcKeyManager::new(OidcConfig::new(km_id(), s.idp.issuer())).unwrap();
    s.idp
        .faults()
        .inject(Fault::HtmlPage(200).on("/.well-known/").times(1));
    assert_protocol(
        &fresh.endpoints().await.unwrap_err(),
        "discovery /.well-known/openid-configuration",
        "HTML",
    );
    fresh
        .endpoints()
        .await
        .expect("a failed discovery is not cached");
}

#[tokio::test]
async fn each_refusal_maps_to_its_own_error() {
    let s = Setup::new().await;
    // SecretNotProven
    let err =
        s.km.client_credentials_token(&s.key(), &ConsumerSecret::new("wrong"), &[])
            .await
            .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");

    // KeyManagerCredentialsRejected: our introspection credentials are refused.
    let bad_admin =
        OidcKeyManager::new(OidcConfig::new(km_id(), s.idp.issuer()).introspection_auth(
            ServerAuth::ClientSecretBasic {
                client_id: s.client.client_id.clone(),
                client_secret: SecretString::from("wrong".to_owned()),
            },
        ))
        .unwrap();
    let err = bad_admin.introspect("t").await.unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );

    // ClientLookupInconclusive: an RFC 7592 read of a deleted client answers 401, which a
    // wrong registration token would answer too.
    let with_access = OidcKeyManager::new(OidcConfig::new(km_id(), s.idp.issuer()).registration(
        s.client.client_id.clone(),
        km_oidc::RegistrationAccess {
            token: SecretString::from(s.client.registration_access_token.clone()),
            uri: None,
        },
    ))
    .unwrap();
    with_access.client(&s.key()).await.unwrap();
    assert!(s.idp.engine().delete_client(&s.client.client_id));
    let err = with_access.client(&s.key()).await.unwrap_err();
    assert!(
        matches!(err, Error::ClientLookupInconclusive { .. }),
        "{err:?}"
    );

    // Unavailable: nothing listens any more.
    let url = s.idp.issuer();
    drop(s.idp);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let gone = OidcKeyManager::new(OidcConfig::new(km_id(), url)).unwrap();
    let err = gone.jwks().await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn the_grant_refusal_is_client_not_usable() {
    let s = Setup::new().await;
    let code_only = s
        .idp
        .engine()
        .create_client(ClientSpec::new().grant_types(["authorization_code"]));
    let err =
        s.km.client_credentials_token(
            &ConsumerKey::new(code_only.client_id.as_str()).unwrap(),
            &ConsumerSecret::new(code_only.client_secret.as_str()),
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ClientNotUsable {
                reason: keyprov::error::UnusableReason::NoClientCredentials,
                ..
            }
        ),
        "{err:?}"
    );
}
