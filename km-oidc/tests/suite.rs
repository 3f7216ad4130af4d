//! The adapter suite, run unchanged against the emulator and against a real `oidc-provider`.

use std::sync::Arc;

use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use keyprov::error::UnusableReason;
use keyprov::gateway::Gateway;
use keyprov::{
    ConsumerKey, ConsumerSecret, Error, KeyManager, KeyManagerConfig, KeyManagers, SecretProof,
};
use km_oidc::client::{Http, find_signing_key, signing_keys};
use km_oidc::{HttpSettings, RegistrationAccess, TokenAuthMethod};
use secrecy::SecretString;

use crate::common::*;

fn key(id: &str) -> ConsumerKey {
    ConsumerKey::new(id).unwrap()
}

pub async fn discovery(server: &Server) {
    let km = server.km(server.config());
    let endpoints = km.endpoints().await.unwrap();
    assert_eq!(endpoints.issuer.as_deref(), Some(server.issuer.as_str()));
    assert!(endpoints.token.starts_with(&server.issuer), "{endpoints:?}");
    for url in [
        &endpoints.jwks,
        &endpoints.introspection,
        &endpoints.registration,
    ] {
        assert!(
            url.as_deref().unwrap().starts_with(&server.issuer),
            "{endpoints:?}"
        );
    }
}

pub async fn discovery_refuses_another_issuer(server: &Server) {
    let mut config = server.config();
    config.connection.discovery_url = Some(format!(
        "{}/.well-known/openid-configuration",
        server.issuer
    ));
    config.connection.issuer = Some("https://impostor.example.com".into());
    let err = server.km(config).endpoints().await.unwrap_err();
    match err {
        Error::KeyManagerProtocol {
            endpoint, detail, ..
        } => {
            assert!(endpoint.starts_with("discovery "), "{endpoint}");
            assert!(detail.contains("issuer"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

/// The issuer a gateway matches tokens by: the configured one, else the one discovery read.
/// [`KeyManagers::register`] fills a configuration's missing issuer from it, and the gateway
/// refuses an enabled key manager without one.
pub async fn issuer_for_the_gateway(server: &Server) {
    let km = server.km(server.config());
    assert_eq!(KeyManager::issuer(&km), Some(server.issuer.clone()));

    let mut config = server.config();
    config.connection.issuer = None;
    config.connection.discovery_url = Some(format!(
        "{}/.well-known/openid-configuration",
        server.issuer
    ));
    let km = Arc::new(server.km(config));
    assert_eq!(KeyManager::issuer(km.as_ref()), None, "not discovered yet");
    let unknown = KeyManagers::new()
        .with(KeyManagerConfig::new("idp").unwrap(), km.clone())
        .unwrap();
    let err = Gateway::builder()
        .key_managers(unknown)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");

    km.endpoints().await.unwrap();
    assert_eq!(KeyManager::issuer(km.as_ref()), Some(server.issuer.clone()));
    let known = KeyManagers::new()
        .with(KeyManagerConfig::new("idp").unwrap(), km)
        .unwrap();
    assert_eq!(
        known.iter().next().unwrap().config.issuer.as_deref(),
        Some(server.issuer.as_str())
    );
    Gateway::builder().key_managers(known).build().unwrap();
}

pub async fn jwks(server: &Server) {
    let set = server.km(server.config()).jwks().await.unwrap();
    assert!(signing_keys(&set).count() >= 1, "{set:?}");
    assert!(set.keys.iter().all(|k| k.kid.is_some()), "{set:?}");
}

pub async fn token_with_the_right_secret(server: &Server) {
    for (method, setting) in [
        ("client_secret_basic", TokenAuthMethod::ClientSecretBasic),
        ("client_secret_post", TokenAuthMethod::ClientSecretPost),
    ] {
        let reg = server.register(method).await;
        let km = server.km(server.config().token_auth_method(setting));
        let secret = ConsumerSecret::new(secret_of(&reg));
        let token = km
            .client_credentials_token(&key(&reg.client_id), &secret, &[])
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        assert!(!token.secret().is_empty());
        assert!(token.expires_in.is_some_and(|s| s > 0), "{token:?}");
        let proof = km
            .prove_secret(&key(&reg.client_id), &secret)
            .await
            .unwrap();
        assert!(matches!(proof, SecretProof::TokenIssued(_)));
    }
}

pub async fn refusal_with_a_wrong_secret(server: &Server) {
    let reg = server.register("client_secret_basic").await;
    let km = server.km(server.config());
    let wrong = ConsumerSecret::new("definitely-not-the-secret");
    let err = km
        .prove_secret(&key(&reg.client_id), &wrong)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
    assert_eq!(err.code(), 901422);
    assert!(!err.is_retryable());
    let text = format!("{err} {err:?}");
    assert!(!text.contains("definitely-not-the-secret"), "{text}");
    assert!(!text.contains(&secret_of(&reg)), "{text}");
}

/// A confidential client registered without `client_credentials`, and no registration access
/// token configured: only the token request can tell, and its refusal is about the client.
pub async fn refusal_for_a_client_without_the_grant(server: &Server) {
    let reg = server
        .register_with(serde_json::json!({
            "client_name": "keyprov code only",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "redirect_uris": ["https://client.example.com/cb"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .await;
    let km = server.km(server.config());
    assert!(!km.capabilities().client_lookup);
    let secret = ConsumerSecret::new(secret_of(&reg));
    let err = km
        .prove_secret(&key(&reg.client_id), &secret)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ClientNotUsable {
                reason: UnusableReason::NoClientCredentials,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), 901423);
    assert!(!format!("{err} {err:?}").contains(&secret_of(&reg)));
    // The same client with a wrong secret: the secret is what is refused.
    let err = km
        .prove_secret(&key(&reg.client_id), &ConsumerSecret::new("not-its-secret"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
}

pub async fn refusal_for_an_unknown_client(server: &Server) {
    let km = server.km(server.config().registration(
        "no-such-client",
        RegistrationAccess {
            token: SecretString::from("no-such-token".to_owned()),
            uri: None,
        },
    ));
    let err = km
        .prove_secret(&key("no-such-client"), &ConsumerSecret::new("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
    // An RFC 7592 read of an unknown client answers 401, as a wrong token would: the lookup
    // cannot prove the client is missing, and says so.
    let err = km.client(&key("no-such-client")).await.unwrap_err();
    assert!(
        matches!(err, Error::ClientLookupInconclusive { .. }),
        "{err:?}"
    );
}

pub async fn rfc7592_read(server: &Server) {
    let reg = server.register("client_secret_post").await;
    let km = server.km(server
        .config()
        .registration(reg.client_id.clone(), access_of(&reg)));
    assert!(km.capabilities().client_lookup);
    let info = km.client(&key(&reg.client_id)).await.unwrap();
    assert_eq!(info.consumer_key, Some(key(&reg.client_id)));
    assert_eq!(
        info.client_name.as_deref(),
        Some("keyprov client_secret_post")
    );
    assert_eq!(
        info.grant_types,
        Some(vec!["client_credentials".to_owned()])
    );
    assert_eq!(info.confidential, Some(true));
    assert_eq!(
        info.additional
            .get("token_endpoint_auth_method")
            .map(String::as_str),
        Some("client_secret_post")
    );
    assert_eq!(info.usability(chrono::Utc::now()), Ok(()));
}

pub async fn client_deleted_after_mapping(server: &Server) {
    let reg = server.register("client_secret_basic").await;
    let access = access_of(&reg);
    let km = server.km(server
        .config()
        .registration(reg.client_id.clone(), access.clone()));
    let secret = ConsumerSecret::new(secret_of(&reg));
    // What mapping does (validation, P4 in docs/provisioning.md): read the client, prove the
    // secret.
    km.client(&key(&reg.client_id)).await.unwrap();
    km.prove_secret(&key(&reg.client_id), &secret)
        .await
        .unwrap();

    let http = Http::new(&HttpSettings::default()).unwrap();
    http.delete_registration(access.uri.as_deref().unwrap(), &access.token)
        .await
        .unwrap();

    // RFC 7592 answers 401 for a deleted client as for a wrong token: no proof either way.
    let err = km.client(&key(&reg.client_id)).await.unwrap_err();
    assert!(
        matches!(err, Error::ClientLookupInconclusive { .. }),
        "{err:?}"
    );
    let err = km
        .client_credentials_token(&key(&reg.client_id), &secret, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
}

/// The registration access token was rotated at the server after mapping, and the adapter still
/// holds the old one: the read answers 401, which cannot tell a deleted client from a refused
/// token, so a re-check leaves the mapping ACTIVE and says why.
pub async fn recheck_with_a_rotated_registration_token_keeps_the_state(server: &Server) {
    use keyprov::store::{MemoryStore, Store};
    use keyprov::{
        Actor, KeyType, MappingState, NewApplication, OrganizationId, ProvisionRequest,
        Provisioner, UserId,
    };

    let reg = server.register("client_secret_basic").await;
    let km_config = KeyManagerConfig::new("under-test")
        .unwrap()
        .out_of_band(true);
    let adapter = |access: RegistrationAccess| -> Arc<dyn KeyManager> {
        Arc::new(server.km(server.config().registration(reg.client_id.clone(), access)))
    };
    let store = Arc::new(MemoryStore::new());
    let provisioner = |km: Arc<dyn KeyManager>| {
        Provisioner::builder()
            .store(store.clone())
            .key_managers(KeyManagers::new().with(km_config.clone(), km).unwrap())
            .build()
            .unwrap()
    };
    let before = provisioner(adapter(access_of(&reg)));
    let owner = UserId::new("alice").unwrap();
    let app = before
        .create_application(NewApplication::new(
            "app",
            owner.clone(),
            OrganizationId::new("org").unwrap(),
        ))
        .await
        .unwrap();
    let mapped = before
        .provision(
            &Actor::User(owner),
            ProvisionRequest::new(
                app.id,
                "under-test",
                KeyType::Production,
                key(&reg.client_id),
            )
            .secret(ConsumerSecret::new(secret_of(&reg))),
        )
        .await
        .unwrap()
        .mapping;
    assert!(mapped.validated, "the client was read through RFC 7592");

    let rotated = RegistrationAccess {
        token: SecretString::from("a-token-the-server-no-longer-knows".to_owned()),
        uri: access_of(&reg).uri,
    };
    let after = provisioner(adapter(rotated));
    let err = after
        .recheck(&Actor::service("ops").unwrap(), mapped.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ClientLookupInconclusive { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), 901428);
    let stored = store.mapping(mapped.id).await.unwrap().unwrap();
    assert_eq!(stored.state, MappingState::Active, "no evidence, no change");
}

pub async fn introspection_of_an_opaque_token(server: &Server) {
    let reg = server.register("client_secret_basic").await;
    let km = server.km(server
        .config()
        .token_resource(OPAQUE_RESOURCE)
        .introspection_auth(basic_auth_of(&reg)));
    let token = km
        .client_credentials_token(
            &key(&reg.client_id),
            &ConsumerSecret::new(secret_of(&reg)),
            &["read".to_owned()],
        )
        .await
        .unwrap();
    assert_ne!(
        token.secret().split('.').count(),
        3,
        "expected an opaque token"
    );
    let info = km.introspect(token.secret()).await.unwrap();
    assert!(info.active, "{info:?}");
    assert_eq!(info.str_claim("client_id"), Some(reg.client_id.as_str()));
    assert!(
        info.exp()
            .is_some_and(|exp| exp > chrono::Utc::now().timestamp())
    );
    let unknown = km.introspect("not-a-token-we-issued").await.unwrap();
    assert!(!unknown.active);
}

pub async fn jwt_verifies_against_the_jwks(server: &Server) {
    install_jwt_provider();
    let reg = server.register("client_secret_basic").await;
    let km = server.km(server.config().token_resource(JWT_RESOURCE));
    let token = km
        .client_credentials_token(
            &key(&reg.client_id),
            &ConsumerSecret::new(secret_of(&reg)),
            &["read".to_owned()],
        )
        .await
        .unwrap();
    let header = decode_header(token.secret()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let set = km.jwks().await.unwrap();
    let jwk = find_signing_key(&set, header.kid.as_deref()).expect("kid in the JWKS");
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(serde_json::to_value(jwk).unwrap()).unwrap();
    let decoding = DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[JWT_RESOURCE]);
    validation.set_issuer(&[server.issuer.as_str()]);
    let data = decode::<serde_json::Value>(token.secret(), &decoding, &validation).unwrap();
    assert_eq!(data.claims["client_id"], reg.client_id.as_str());
    assert_eq!(data.claims["scope"], "read");

    // A token signed by someone else does not verify.
    let mut parts: Vec<&str> = token.secret().split('.').collect();
    let forged_payload = km_payload_with_other_client(parts[1]);
    parts[1] = &forged_payload;
    assert!(decode::<serde_json::Value>(&parts.join("."), &decoding, &validation).is_err());
}

fn km_payload_with_other_client(payload: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["client_id"] = "someone-else".into();
    URL_SAFE_NO_PAD.encode(claims.to_string())
}

/// Instantiates every suite test for one server: `adapter_suite!(server: start_expr)`;
/// attributes before `server:` (`#[ignore = "why"]`) go on every test.
#[macro_export]
macro_rules! adapter_suite {
    ($(#[$attr:meta])* server: $start:expr) => {
        $crate::adapter_suite!(@tests [$(#[$attr])*] $start;
            discovery, discovery_refuses_another_issuer, issuer_for_the_gateway, jwks, token_with_the_right_secret,
            refusal_with_a_wrong_secret, refusal_for_a_client_without_the_grant,
            refusal_for_an_unknown_client, rfc7592_read, client_deleted_after_mapping,
            recheck_with_a_rotated_registration_token_keeps_the_state,
            introspection_of_an_opaque_token,
            jwt_verifies_against_the_jwks);
    };
    // The attributes travel as one bracketed token tree, unpacked per test by `@test`.
    (@tests $attrs:tt $start:expr; $($name:ident),*) => {
        $(
            $crate::adapter_suite!(@test $attrs $start; $name);
        )*
    };
    (@test [$(#[$attr:meta])*] $start:expr; $name:ident) => {
        #[tokio::test]
        $(#[$attr])*
        async fn $name() {
            let server = $start.await;
            $crate::suite::$name(&server).await;
            let _ = server.name;
        }
    };
}
