//! Validation at the key manager ([P4](keyprov::guide::provisioning)) through
//! `keyprov::Provisioner` with the IS adapter: every outcome, and nothing stored
//! on failure.

use std::sync::Arc;

use keyprov::error::UnusableReason;
use keyprov::{ConsumerKey, Error, KeyManager, KeyType, ProvisionRequest};
use km_wso2is::emulator::{IsVersion, Protocol, Wso2IsEmulator};
use km_wso2is::{AdminAuth, Wso2IsConfig};

use crate::common::*;

async fn provision(
    world: &World,
    client_id: &str,
    secret: &str,
) -> keyprov::Result<keyprov::Provisioned> {
    let request = ProvisionRequest::new(
        world.app.id,
        KM,
        KeyType::Production,
        ConsumerKey::new(client_id)?,
    )
    .secret(secret.into());
    world.provisioner.provision(&world.alice, request).await
}

async fn world_for(is: &Wso2IsEmulator, config: Wso2IsConfig) -> World {
    World::new(adapter(config), is.issuer()).await
}

#[tokio::test]
async fn happy_path_on_every_version() {
    for version in IsVersion::ALL {
        let is = is(version).await;
        let app = is.console().create_jwt_client("billing").unwrap();
        let km = adapter(config(&is));
        let world = World::new(km.clone(), is.issuer()).await;
        let done = provision(&world, &app.client_id, &app.client_secret)
            .await
            .unwrap();
        let m = &done.mapping;
        assert!(m.validated && m.secret_proven, "IS {version}");
        assert_eq!(m.consumer_key.as_str(), app.client_id);
        assert_eq!(m.snapshot.client_name.as_deref(), Some("billing"));
        assert!(
            m.snapshot
                .grant_types
                .contains(&"client_credentials".to_owned())
        );
        let expected_type = (version == IsVersion::V7).then_some("JWT");
        assert_eq!(
            m.snapshot.token_type.as_deref(),
            expected_type,
            "IS {version}"
        );
        let token = done.token.expect("the proof's token is returned");
        let (_, claims) = verify(token.secret(), &km.jwks().await.unwrap());
        assert_eq!(claims["azp"], app.client_id.as_str());
        assert_eq!(world.stored().await, 1);
    }
}

#[tokio::test]
async fn unknown_client_is_not_found_not_a_credentials_problem() {
    let is = is(IsVersion::V7).await;
    let world = world_for(&is, config(&is)).await;
    // IS answers 401 with an empty body for an unknown client id.
    let raw = reqwest::Client::new()
        .get(is.url("/api/identity/oauth2/dcr/v1.1/register/nope"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 401);
    assert!(raw.bytes().await.unwrap().is_empty());

    let err = provision(&world, "nope", "whatever").await.unwrap_err();
    assert!(matches!(err, Error::ClientNotFound { .. }), "{err:?}");
    assert_eq!(
        is.faults().requests("/oauth2/introspect"),
        1,
        "credentials checked apart"
    );
    assert_eq!(world.stored().await, 0);
}

#[tokio::test]
async fn wrong_admin_credentials_are_rejected_credentials() {
    let is = is(IsVersion::V6).await;
    let app = is.console().create_jwt_client("billing").unwrap();
    let mut cfg = config(&is);
    cfg.admin = AdminAuth::basic("admin", "wrong");
    let world = world_for(&is, cfg).await;
    for client_id in [app.client_id.as_str(), "nope"] {
        let err = provision(&world, client_id, &app.client_secret)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::KeyManagerCredentialsRejected { .. }),
            "{err:?}"
        );
    }
    assert_eq!(world.stored().await, 0);
}

#[tokio::test]
async fn admin_without_permission_gets_403_and_rejected_credentials() {
    let is = Wso2IsEmulator::builder()
        .version(IsVersion::V5_11)
        .user("viewer", "viewer-pw", false)
        .start()
        .await
        .unwrap();
    let app = is.console().create_jwt_client("billing").unwrap();
    let mut cfg = config(&is);
    cfg.admin = AdminAuth::basic("viewer", "viewer-pw");
    let world = world_for(&is, cfg).await;
    let err = provision(&world, &app.client_id, &app.client_secret)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_secret_is_not_proven() {
    let is = is(IsVersion::V5_11).await;
    let app = is.console().create_jwt_client("billing").unwrap();
    let world = world_for(&is, config(&is)).await;
    let err = provision(&world, &app.client_id, "not-the-secret")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
    assert!(!err.to_string().contains("not-the-secret"));
    assert_eq!(world.stored().await, 0);
}

#[tokio::test]
async fn hashed_secret_is_proven_by_a_token_request() {
    let is = Wso2IsEmulator::builder()
        .version(IsVersion::V7)
        .hash_secrets(true)
        .start()
        .await
        .unwrap();
    let app = is.console().create_jwt_client("billing").unwrap();
    let body: serde_json::Value = reqwest::Client::new()
        .get(is.url(&format!(
            "/api/identity/oauth2/dcr/v1.1/register/{}",
            app.client_id
        )))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(
        body["client_secret"],
        app.client_secret.as_str(),
        "IS returns a hash"
    );
    let world = world_for(&is, config(&is)).await;
    let err = provision(
        &world,
        &app.client_id,
        body["client_secret"].as_str().unwrap(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::SecretNotProven { .. }),
        "the hash is not the secret"
    );
    let done = provision(&world, &app.client_id, &app.client_secret)
        .await
        .unwrap();
    assert!(done.mapping.secret_proven);
}

#[tokio::test]
async fn disabled_application_is_not_usable() {
    for version in IsVersion::ALL {
        let is = is(version).await;
        let app = is.console().create_jwt_client("billing").unwrap();
        is.console().set_active(&app.client_id, false).unwrap();
        let world = world_for(&is, config(&is)).await;
        let err = provision(&world, &app.client_id, &app.client_secret)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::ClientNotUsable {
                    reason: UnusableReason::Disabled,
                    ..
                }
            ),
            "IS {version}: {err:?}"
        );
        // A wrong secret for a disabled application is still just a wrong secret.
        let err = provision(&world, &app.client_id, "wrong")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
        assert_eq!(world.stored().await, 0);
    }
}

#[tokio::test]
async fn client_without_client_credentials_is_not_usable() {
    let is = is(IsVersion::V6).await;
    let app = is.console().create_traditional_application("web").unwrap();
    let km = adapter(config(&is));
    let world = World::new(km.clone(), is.issuer()).await;
    let err = provision(&world, &app.client_id, &app.client_secret)
        .await
        .unwrap_err();
    let no_cc = |e: &Error| {
        matches!(
            e,
            Error::ClientNotUsable {
                reason: UnusableReason::NoClientCredentials,
                ..
            }
        )
    };
    assert!(no_cc(&err), "from the DCR grant types: {err:?}");
    // The token endpoint says the same (400 unauthorized_client).
    let err = km
        .prove_secret(
            &ConsumerKey::new(app.client_id.as_str()).unwrap(),
            &keyprov::ConsumerSecret::new(app.client_secret.as_str()),
        )
        .await
        .unwrap_err();
    assert!(no_cc(&err), "from the token endpoint: {err:?}");
    assert_eq!(world.stored().await, 0);
}

#[tokio::test]
async fn public_client_is_not_usable_on_7() {
    let is = is(IsVersion::V7).await;
    let app = is.console().create_jwt_client("spa").unwrap();
    is.console()
        .update_protocol(&app.client_id, Protocol::new().public_client(true))
        .unwrap();
    let world = world_for(&is, config(&is)).await;
    let err = provision(&world, &app.client_id, &app.client_secret)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ClientNotUsable {
                reason: UnusableReason::Public,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn bearer_admin_auth_with_internal_dcr_scopes() {
    let is = is(IsVersion::V7).await;
    let admin = is.create_admin_client();
    let app = is.console().create_jwt_client("billing").unwrap();
    let mut cfg = config(&is);
    cfg.admin = AdminAuth::client_credentials(&admin.client_id, &admin.client_secret);
    let km = adapter(cfg);
    assert!(
        !km.capabilities().introspection,
        "no admin user for introspection"
    );
    let world = World::new(km.clone(), is.issuer()).await;
    provision(&world, &app.client_id, &app.client_secret)
        .await
        .unwrap();
    let err = km
        .client(&ConsumerKey::new("nope").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ClientNotFound { .. }), "{err:?}");
    let err = km.introspect("x").await.unwrap_err();
    assert!(matches!(err, Error::NotSupported { .. }), "{err:?}");

    // Wrong admin secret: the token is refused, which is our configuration's fault.
    let mut cfg = config(&is);
    cfg.admin = AdminAuth::client_credentials(&admin.client_id, "wrong");
    let err = adapter(cfg)
        .client(&ConsumerKey::new("nope").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );

    // An ordinary application gets no internal_dcr_view: IS drops it, DCR answers 403.
    let mut cfg = config(&is);
    cfg.admin = AdminAuth::client_credentials(&app.client_id, &app.client_secret);
    let err = adapter(cfg)
        .client(&ConsumerKey::new("nope").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn bearer_admin_auth_is_refused_before_7() {
    let is = is(IsVersion::V6).await;
    let admin = is.create_admin_client();
    let app = is.console().create_jwt_client("billing").unwrap();
    let mut cfg = config(&is);
    cfg.admin = AdminAuth::client_credentials(&admin.client_id, &admin.client_secret);
    let km = adapter(cfg);
    let err = km
        .client(&ConsumerKey::new(app.client_id.as_str()).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() {
    let is = is(IsVersion::V7).await;
    let admin = is.create_admin_client();
    let mut cfg = config(&is);
    cfg.admin = AdminAuth::client_credentials(&admin.client_id, &admin.client_secret);
    let km: Arc<dyn KeyManager> = adapter(cfg);
    km.client(&ConsumerKey::new("nope").unwrap())
        .await
        .unwrap_err();
    let text = format!(
        "{km:?} {:?}",
        is.console().credentials(&admin.client_id).unwrap()
    );
    assert!(!text.contains(&admin.client_secret), "{text}");
}
