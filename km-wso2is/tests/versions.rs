//! Each IS version's DCR answer, token type learning, tenant paths.

use keyprov::{ConsumerKey, ConsumerSecret, Error, KeyManager};
use km_wso2is::emulator::{IsTokenType, IsVersion, Protocol, Wso2IsEmulator};
use serde_json::Value;

use crate::common::*;

fn shape(v: &Value) -> Vec<(String, &'static str)> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let mut out: Vec<_> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), kind(v)))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn dcr_read_has_each_versions_field_set() {
    for version in IsVersion::ALL {
        let is = is(version).await;
        let app = is.console().create_jwt_client("billing").unwrap();
        let (user, password) = is.admin_credentials();
        let body: Value = reqwest::Client::new()
            .get(is.url(&format!(
                "/api/identity/oauth2/dcr/v1.1/register/{}",
                app.client_id
            )))
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let expected = fixture(&format!("dcr-read-{version}.json"));
        assert_eq!(shape(&body), shape(&expected), "IS {version}");
        assert_eq!(
            body["client_secret"],
            app.client_secret.as_str(),
            "in clear by default"
        );
        let has_ext = body
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("ext_"));
        assert_eq!(has_ext, version == IsVersion::V7, "IS {version}");
    }
}

#[tokio::test]
async fn adapter_reads_every_version() {
    for version in IsVersion::ALL {
        let is = is(version).await;
        let app = is.console().create_jwt_client("billing").unwrap();
        let km = adapter(config(&is));
        let info = km
            .client(&ConsumerKey::new(app.client_id.as_str()).unwrap())
            .await
            .unwrap();
        assert_eq!(info.client_name.as_deref(), Some("billing"), "IS {version}");
        assert!(
            info.grant_types
                .as_ref()
                .unwrap()
                .contains(&"client_credentials".to_owned())
        );
        assert_eq!(info.usability(chrono::Utc::now()), Ok(()));
        if version == IsVersion::V7 {
            assert_eq!(info.token_type.as_deref(), Some("JWT"));
            assert_eq!(info.access_token_lifetime_s, Some(3600));
            assert_eq!(info.confidential, Some(true));
            assert_eq!(
                info.additional.get("owner").map(String::as_str),
                Some("admin")
            );
        } else {
            assert_eq!(info.token_type, None, "IS {version} does not say");
            assert_eq!(info.confidential, None);
        }
    }
}

#[tokio::test]
async fn token_type_is_learned_from_a_probe_token_on_older_versions() {
    for version in [IsVersion::V5_11, IsVersion::V6] {
        let is = is(version).await;
        let jwt = is.console().create_jwt_client("jwt-app").unwrap();
        let opaque = is
            .console()
            .create_traditional_application("opaque-app")
            .unwrap();
        is.console()
            .update_protocol(
                &opaque.client_id,
                Protocol::new().grant_types(["client_credentials"]),
            )
            .unwrap();
        let km = adapter(config(&is));
        for (app, expected) in [(jwt, "JWT"), (opaque, "Default")] {
            let key = ConsumerKey::new(app.client_id.as_str()).unwrap();
            assert_eq!(km.client(&key).await.unwrap().token_type, None);
            let probed = km
                .probe_token_type(&key, &ConsumerSecret::new(app.client_secret.as_str()))
                .await
                .unwrap();
            assert_eq!(probed, expected, "IS {version}");
            let info = km.client(&key).await.unwrap();
            assert_eq!(info.token_type.as_deref(), Some(expected), "remembered");
        }
    }
}

#[tokio::test]
async fn version_7_states_the_token_type_even_against_probes() {
    let is = is(IsVersion::V7).await;
    let app = is
        .console()
        .create_traditional_application("opaque")
        .unwrap();
    is.console()
        .update_protocol(
            &app.client_id,
            Protocol::new()
                .grant_types(["client_credentials"])
                .token_type(IsTokenType::Default),
        )
        .unwrap();
    let km = adapter(config(&is));
    let key = ConsumerKey::new(app.client_id.as_str()).unwrap();
    assert_eq!(
        km.client(&key).await.unwrap().token_type.as_deref(),
        Some("Default")
    );
}

#[tokio::test]
async fn tenant_paths_are_used_everywhere() {
    let is = Wso2IsEmulator::builder()
        .version(IsVersion::V7)
        .tenant("acme.com")
        .start()
        .await
        .unwrap();
    assert!(
        is.issuer().ends_with("/t/acme.com/oauth2/token"),
        "{}",
        is.issuer()
    );
    assert_eq!(is.admin_credentials().0, "admin@acme.com");
    let app = is.console().create_jwt_client("billing").unwrap();
    let key = ConsumerKey::new(app.client_id.as_str()).unwrap();
    let km = adapter(config(&is));
    assert_eq!(km.issuer(), is.issuer());
    km.client(&key).await.unwrap();
    let token = km
        .client_credentials_token(&key, &ConsumerSecret::new(app.client_secret.as_str()), &[])
        .await
        .unwrap();
    let (_, claims) = verify(token.secret(), &km.jwks().await.unwrap());
    assert_eq!(claims["iss"], is.issuer().as_str());
    assert_eq!(claims["sub"], "admin@acme.com", "the owner");
    let counts = is.faults();
    let dcr = format!(
        "/t/acme.com/api/identity/oauth2/dcr/v1.1/register/{}",
        app.client_id
    );
    assert_eq!(counts.requests(&dcr), 1);
    assert_eq!(counts.requests("/t/acme.com/oauth2/token"), 1);
    assert_eq!(counts.requests("/t/acme.com/oauth2/jwks"), 1);

    // Without the tenant the adapter reaches root paths, which this IS does not serve.
    let mut rootless = config(&is);
    rootless.tenant = None;
    let err = adapter(rootless)
        .client_credentials_token(&key, &ConsumerSecret::new(app.client_secret.as_str()), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyManagerProtocol { .. }), "{err:?}");
}
