//! Each hostile or wrong token is refused with its own reason. Every test also
//! resolves a valid neighbour first, so that a refusal cannot come from a broken fixture.

use aws_lc_rs::hmac;
use keyprov::gateway::{Denial, GatewaySettings};
use keyprov::{KeyType, MappingState, SubscriptionState};
use serde_json::json;

use super::support::*;

async fn refused(w: &World, token: impl AsRef<[u8]>, kt: KeyType) -> Denial {
    w.gateway
        .resolve(token, &w.api, kt)
        .await
        .expect_err("must be refused")
}

#[tokio::test]
async fn a_valid_token_resolves_to_the_mapping_application_and_key_type() {
    let w = World::new().await;
    let ok = w
        .gateway
        .resolve(w.prod_token(), &w.api, KeyType::Production)
        .await
        .unwrap();
    assert_eq!(ok.application, w.app);
    assert_eq!(ok.mapping, w.prod.id);
    assert_eq!(ok.key_type, KeyType::Production);
    assert_eq!(ok.subscription, SubscriptionState::Unblocked);
    assert_eq!(ok.key_manager.as_str(), "IS");
    assert_eq!(ok.consumer_key.as_str(), "client-prod");
    assert_eq!(ok.scopes.iter().collect::<Vec<_>>(), ["read", "write"]);
    assert!(ok.scopes.contains("write") && !ok.scopes.contains("admin"));
    assert!(ok.expires_at.unwrap() > now());
}

#[tokio::test]
async fn alg_none_is_refused() {
    let w = World::new().await;
    let mut c = claims(ISS_A, "client-prod");
    c["jti"] = json!("none-1");
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "none", "kid": "a-1"}).to_string().as_bytes()),
        b64(c.to_string().as_bytes())
    );
    // With an empty signature the token is not even three non-empty parts.
    let r = refused(&w, format!("{input}."), KeyType::Production).await;
    assert_eq!(r.code(), "malformed", "{r}");
    // With some signature bytes, the algorithm itself is refused.
    let r = refused(&w, format!("{input}.{}", b64(b"x")), KeyType::Production).await;
    assert_eq!(r.code(), "unsupported_algorithm", "{r}");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let w = World::new().await;
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "kid": "a-1"}).to_string().as_bytes()),
        b64(claims(ISS_A, "client-prod").to_string().as_bytes())
    );
    for secret in [w.key_a.spki_der(), w.key_a.pem().into_bytes()] {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", b64(tag.as_ref()));
        let r = refused(&w, token, KeyType::Production).await;
        assert_eq!(
            r,
            Denial::UnsupportedAlgorithm {
                alg: "HS256".into()
            }
        );
    }
}

#[tokio::test]
async fn alg_not_matching_the_key_type_is_refused() {
    let w = World::new().await;
    // An ES256 token naming the RSA key's kid, signed by an EC key.
    let ec = Key::p256("a-1");
    let token = ec.sign(
        &json!({"alg": "ES256", "kid": "a-1"}),
        &claims(ISS_A, "client-prod"),
    );
    let r = refused(&w, token, KeyType::Production).await;
    assert_eq!(r.code(), "algorithm_mismatch", "{r}");
    // An RSA key pinned to PS256 by its JWK refuses RS256 even when correctly signed.
    let w = World::new().await;
    let mut jwk = w.key_a.jwk();
    jwk.alg = Some("PS256".into());
    w.km_a.set_jwks(keyprov::JwkSet { keys: vec![jwk] });
    let r = refused(&w, w.prod_token(), KeyType::Production).await;
    assert_eq!(r.code(), "algorithm_mismatch", "{r}");
    let ps = w.key_a.sign(
        &json!({"alg": "PS256", "kid": "a-1"}),
        &claims(ISS_A, "client-prod"),
    );
    assert!(
        w.gateway
            .resolve(ps, &w.api, KeyType::Production)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn unknown_kid_with_a_forged_signature_is_refused_and_fetches_at_most_once() {
    let w = World::new().await;
    assert!(
        w.gateway
            .resolve(w.prod_token(), &w.api, KeyType::Production)
            .await
            .is_ok()
    );
    let before = w.km_a.jwks_calls();
    let forger = Key::rsa("evil");
    let token = forger.token(&claims(ISS_A, "client-prod"));
    let r = refused(&w, &token, KeyType::Production).await;
    assert_eq!(
        r,
        Denial::UnknownKey {
            key_manager: "IS".parse().unwrap(),
            kid: Some("evil".into())
        }
    );
    // A forged signature under the real kid fails verification.
    let forged = forger.sign(
        &json!({"alg": "RS256", "kid": "a-1"}),
        &claims(ISS_A, "client-prod"),
    );
    assert_eq!(
        refused(&w, forged, KeyType::Production).await.code(),
        "bad_signature"
    );
    assert!(w.km_a.jwks_calls() - before <= 1);
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let w = World::new().await;
    let mut c = claims(ISS_A, "client-prod");
    c["exp"] = json!(now() - 3600);
    let r = refused(&w, w.key_a.token(&c), KeyType::Production).await;
    assert!(matches!(r, Denial::Expired { .. }), "{r}");
    let mut c = claims(ISS_A, "client-prod");
    c["nbf"] = json!(now() + 3600);
    let r = refused(&w, w.key_a.token(&c), KeyType::Production).await;
    assert!(matches!(r, Denial::NotYetValid { .. }), "{r}");
    let mut c = claims(ISS_A, "client-prod");
    c["iat"] = json!(now() + 3600);
    let r = refused(&w, w.key_a.token(&c), KeyType::Production).await;
    assert!(matches!(r, Denial::IssuedInFuture { .. }), "{r}");
    // Within the leeway (30 s) both are accepted.
    let mut c = claims(ISS_A, "client-prod");
    c["exp"] = json!(now() - 5);
    c["nbf"] = json!(now() + 5);
    assert!(
        w.gateway
            .resolve(w.key_a.token(&c), &w.api, KeyType::Production)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn missing_exp_is_refused_by_default_and_accepted_with_the_parity_option() {
    let mut c = claims(ISS_A, "client-prod");
    c.as_object_mut().unwrap().remove("exp");
    let w = World::new().await;
    let r = refused(&w, w.key_a.token(&c), KeyType::Production).await;
    assert_eq!(r, Denial::MissingExpiry);
    let parity = World::with(GatewaySettings::default().require_exp(false), |_| {}).await;
    let ok = parity
        .gateway
        .resolve(parity.key_a.token(&c), &parity.api, KeyType::Production)
        .await
        .unwrap();
    assert_eq!(ok.expires_at, None);
}

#[tokio::test]
async fn issuer_of_a_disabled_key_manager_is_refused() {
    let w = World::new().await;
    let r = refused(
        &w,
        w.key_a.token(&claims(ISS_OFF, "client-prod")),
        KeyType::Production,
    )
    .await;
    assert_eq!(r.code(), "key_manager_disabled", "{r}");
    let r = refused(
        &w,
        w.key_a
            .token(&claims("https://nobody.example", "client-prod")),
        KeyType::Production,
    )
    .await;
    assert_eq!(r.code(), "unknown_issuer", "{r}");
    // The issuer is compared exactly: a trailing slash is another issuer.
    let r = refused(
        &w,
        w.key_a.token(&claims(&format!("{ISS_A}/"), "client-prod")),
        KeyType::Production,
    )
    .await;
    assert_eq!(r.code(), "unknown_issuer", "{r}");
}

#[tokio::test]
async fn issuer_not_allowed_on_the_api_is_refused() {
    let w = World::new().await;
    let r = w
        .gateway
        .resolve(w.prod_token(), &w.api_b_only, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "key_manager_not_allowed", "{r}");
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn wrong_audience_is_refused_where_one_is_configured() {
    let w = World::new().await;
    let mut c = claims(ISS_A, "client-prod");
    c["aud"] = json!("account");
    let token = w.key_a.token(&c);
    // No audience configured on api-all: not checked.
    assert!(
        w.gateway
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .is_ok()
    );
    let r = w
        .gateway
        .resolve(&token, &w.api_aud, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(
        r,
        Denial::WrongAudience {
            expected: "https://api.example/aud".into()
        }
    );
    c["aud"] = json!(["account", "https://api.example/aud"]);
    assert!(
        w.gateway
            .resolve(w.key_a.token(&c), &w.api_aud, KeyType::Production)
            .await
            .is_ok()
    );
    // The key manager's own audience is enforced too.
    let w = World::with(GatewaySettings::default(), |c| {
        c[0].audience = Some("gw".into())
    })
    .await;
    let r = refused(&w, w.prod_token(), KeyType::Production).await;
    assert_eq!(r.code(), "wrong_audience");
}

#[tokio::test]
async fn no_consumer_key_claim_is_refused_naming_the_claims_tried_and_sub_is_never_used() {
    let w = World::new().await;
    let mut c = claims(ISS_A, "client-prod");
    c.as_object_mut().unwrap().remove("azp");
    c["sub"] = json!("client-prod");
    let r = refused(&w, w.key_a.token(&c), KeyType::Production).await;
    assert_eq!(
        r,
        Denial::NoConsumerKey {
            tried: vec!["azp".into(), "client_id".into(), "clientId".into()]
        }
    );
    // The chain: client_id, then Keycloak's older clientId.
    for claim in ["client_id", "clientId"] {
        let mut c = c.clone();
        c[claim] = json!("client-prod");
        assert!(
            w.gateway
                .resolve(w.key_a.token(&c), &w.api, KeyType::Production)
                .await
                .is_ok(),
            "{claim}"
        );
    }
    // A configured claim replaces the chain; a list gives its first element.
    let w = World::with(GatewaySettings::default(), |c| {
        c[0].consumer_key_claim = Some("cid".into())
    })
    .await;
    let r = refused(&w, w.prod_token(), KeyType::Production).await;
    assert_eq!(
        r,
        Denial::NoConsumerKey {
            tried: vec!["cid".into()]
        }
    );
    let mut c = claims(ISS_A, "nobody");
    c["cid"] = json!(["client-prod", "other"]);
    assert!(
        w.gateway
            .resolve(w.key_a.token(&c), &w.api, KeyType::Production)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_client_mapped_only_under_another_key_manager_is_refused() {
    let w = World::new().await;
    // client-b is mapped under KC; a token of IS carrying it must not reach that mapping.
    let r = refused(
        &w,
        w.key_a.token(&claims(ISS_A, "client-b")),
        KeyType::Production,
    )
    .await;
    assert_eq!(
        r,
        Denial::NoMapping {
            key_manager: "IS".parse().unwrap(),
            consumer_key: "client-b".into()
        }
    );
    // The same client from KC resolves (to the other application).
    let ok = w
        .gateway
        .resolve(
            w.key_b.token(&claims(ISS_B, "client-b")),
            &w.api,
            KeyType::Production,
        )
        .await
        .unwrap();
    assert_eq!(ok.mapping, w.mapped_b.id);
}

#[tokio::test]
async fn sandbox_keys_never_reach_production_and_vice_versa() {
    let w = World::new().await;
    let sbx = w.key_a.token(&claims(ISS_A, "client-sbx"));
    let r = refused(&w, &sbx, KeyType::Production).await;
    assert_eq!(
        r,
        Denial::KeyTypeMismatch {
            mapping: KeyType::Sandbox,
            endpoint: KeyType::Production
        }
    );
    assert_eq!(
        w.gateway
            .resolve(&sbx, &w.api, KeyType::Sandbox)
            .await
            .unwrap()
            .key_type,
        KeyType::Sandbox
    );
    let r = refused(&w, w.prod_token(), KeyType::Sandbox).await;
    assert_eq!(r.code(), "key_type_mismatch");
}

#[tokio::test]
async fn subscription_states_refuse_as_their_rules_say() {
    let w = World::new().await;
    let prod = w.prod_token();
    let sbx = w.key_a.token(&claims(ISS_A, "client-sbx"));
    use SubscriptionState::*;
    for (state, prod_ok, sbx_ok) in [
        (Blocked, false, false),
        (ProdOnlyBlocked, false, true),
        (OnHold, false, false),
        (Rejected, false, false),
        (Unblocked, true, true),
    ] {
        let changed = w
            .provisioner
            .set_subscription_state(w.app, &w.api, state)
            .await
            .unwrap();
        w.sync(changed.revision).await;
        let p = w.gateway.resolve(&prod, &w.api, KeyType::Production).await;
        let s = w.gateway.resolve(&sbx, &w.api, KeyType::Sandbox).await;
        assert_eq!(p.is_ok(), prod_ok, "{state} production: {p:?}");
        assert_eq!(s.is_ok(), sbx_ok, "{state} sandbox: {s:?}");
        if let Err(r) = p {
            assert_eq!(
                r,
                Denial::SubscriptionRefuses {
                    state,
                    key_type: KeyType::Production
                }
            );
        }
    }
}

#[tokio::test]
async fn an_unsubscribed_api_is_refused() {
    let w = World::new().await;
    let r = w
        .gateway
        .resolve(w.prod_token(), &w.api_unsubscribed, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "not_subscribed");
    let unknown = keyprov::ApiId::new("no-such-api").unwrap();
    let r = w
        .gateway
        .resolve(w.prod_token(), &unknown, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "unknown_api");
}

#[tokio::test]
async fn a_suspended_mapping_is_refused() {
    let w = World::new().await;
    let suspended = w
        .provisioner
        .set_mapping_state(
            &keyprov::Actor::admin("ops").unwrap(),
            w.prod.id,
            MappingState::Suspended,
        )
        .await
        .unwrap();
    w.sync(suspended.revision).await;
    let r = refused(&w, w.prod_token(), KeyType::Production).await;
    assert_eq!(
        r,
        Denial::MappingNotActive {
            state: MappingState::Suspended
        }
    );
}

#[tokio::test]
async fn truncated_padded_oversized_and_non_utf8_tokens_are_refused() {
    let w = World::new().await;
    let token = w.prod_token();
    assert!(
        w.gateway
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .is_ok()
    );
    let sig_at = token.rfind('.').unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("signature cut", token[..token.len() - 8].into()),
        ("signature dropped", token[..sig_at + 1].into()),
        ("two parts", token[..sig_at].into()),
        ("payload cut", {
            let first = token.find('.').unwrap();
            format!("{}.{}", &token[..first + 20], &token[sig_at + 1..]).into()
        }),
        ("padded with =", format!("{token}=").into()),
        ("padded with spaces", format!(" {token} ").into()),
        ("trailing newline", format!("{token}\n").into()),
        ("64 KB", {
            let mut c = claims(ISS_A, "client-prod");
            c["pad"] = json!("x".repeat(64 * 1024));
            w.key_a.token(&c).into()
        }),
        ("non-UTF-8", {
            let mut b = token.clone().into_bytes();
            b.insert(10, 0xff);
            b
        }),
        ("non-UTF-8 opaque", b"abc\xc3\x28def".to_vec()),
        ("empty", Vec::new()),
    ];
    for (name, bytes) in cases {
        let r = refused(&w, &bytes, KeyType::Production).await;
        assert!(
            matches!(r, Denial::Malformed(_) | Denial::BadSignature { .. }),
            "{name}: {r}"
        );
        // Neither is ever introspected or sent anywhere as an opaque token.
        assert_eq!(w.km_a.introspect_calls(), 0, "{name}");
    }
    // A well-formed signature of another token is a signature failure, not a parse failure.
    let other = w.prod_token();
    let swapped = format!(
        "{}{}",
        &token[..sig_at],
        &other[other.rfind('.').unwrap()..]
    );
    let r = refused(&w, swapped, KeyType::Production).await;
    assert_eq!(r.code(), "bad_signature");
    let r = refused(&w, format!("{token}="), KeyType::Production).await;
    assert_eq!(r.code(), "malformed");
}

#[tokio::test]
async fn every_supported_algorithm_verifies_with_its_key_type() {
    for (key, algs) in [
        (
            Key::rsa("k"),
            vec!["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
        ),
        (Key::p256("k"), vec!["ES256"]),
        (Key::p384("k"), vec!["ES384"]),
        (Key::ed25519("k"), vec!["EdDSA"]),
    ] {
        let w = World::new().await;
        w.km_a.set_jwks(keyprov::JwkSet {
            keys: vec![key.jwk()],
        });
        for alg in algs {
            let token = key.sign(
                &json!({"alg": alg, "kid": "k"}),
                &claims(ISS_A, "client-prod"),
            );
            let ok = w.gateway.resolve(&token, &w.api, KeyType::Production).await;
            assert!(ok.is_ok(), "{alg}: {ok:?}");
        }
    }
}

#[tokio::test]
async fn a_configured_pem_key_verifies_without_jwks() {
    let key = Key::p256("pem-1");
    let pem = key.pem();
    let w = World::with(GatewaySettings::default(), |c| {
        c[0].jwks = keyprov::config::JwksSource::Pem {
            keys: vec![keyprov::config::PemKey {
                kid: Some("pem-1".into()),
                pem,
            }],
        }
    })
    .await;
    let calls = w.km_a.jwks_calls();
    let ok = w
        .gateway
        .resolve(
            key.token(&claims(ISS_A, "client-prod")),
            &w.api,
            KeyType::Production,
        )
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(w.km_a.jwks_calls(), calls, "PEM keys are never fetched");
    // The key manager's JWKS key is not used when PEM keys are configured.
    let r = w
        .gateway
        .resolve(w.prod_token(), &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "unknown_key");
}

#[tokio::test]
async fn a_global_key_manager_is_elected_before_an_organization_one_with_the_same_issuer() {
    // KC (of the organization) shares IS's (global) issuer: IS wins, as in WSO2.
    let w = World::with(GatewaySettings::default(), |c| {
        c[1].organization = Some("org-1".parse().unwrap());
        c[1].issuer = Some(ISS_A.into());
    })
    .await;
    let ok = w
        .gateway
        .resolve(w.prod_token(), &w.api, KeyType::Production)
        .await
        .unwrap();
    assert_eq!(ok.key_manager.as_str(), "IS");
    // A token signed with KC's key under that issuer is checked against IS's keys only.
    let r = refused(
        &w,
        w.key_b.token(&claims(ISS_A, "client-b")),
        KeyType::Production,
    )
    .await;
    assert_eq!(r.code(), "unknown_key", "{r}");
}
