//! Explanations name each step's facts and never the token, its signature or a secret.

use keyprov::{KeyType, SubscriptionState};

use super::support::*;

#[tokio::test]
async fn an_accepted_token_is_explained_step_by_step_without_secrets() {
    let w = World::new().await;
    let token = w.prod_token();
    let explanation = w.gateway.explain(&token, &w.api, KeyType::Production).await;
    assert!(explanation.outcome.is_ok());
    let text = explanation.to_string();
    for needle in [
        "issuer \"https://a.example/oauth2/token\" elects key manager IS",
        "RS256 signature verified with key \"a-1\"",
        "from claim \"azp\"",
        &format!("mapping {}", w.prod.id),
        "is UNBLOCKED, which allows PRODUCTION calls",
        "accepted: application",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let steps: Vec<u8> = explanation.steps.iter().map(|s| s.step).collect();
    for step in [1, 2, 3, 4, 5, 6, 7, 8] {
        assert!(steps.contains(&step), "step {step} missing: {steps:?}");
    }
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(&token));
    assert!(!text.contains(signature));
    assert!(!text.contains(SECRET));
    assert!(!format!("{explanation:?}").contains(signature));
}

#[tokio::test]
async fn a_refused_token_is_explained_with_the_rule_that_refused_it() {
    let w = World::new().await;
    let changed = w
        .provisioner
        .set_subscription_state(w.app, &w.api, SubscriptionState::ProdOnlyBlocked)
        .await
        .unwrap();
    w.sync(changed.revision).await;
    let text = w
        .gateway
        .explain(w.prod_token(), &w.api, KeyType::Production)
        .await
        .to_string();
    assert!(
        text.contains("refused at step 8 (403 subscription_refuses)"),
        "{text}"
    );
    assert!(text.contains("PROD_ONLY_BLOCKED"), "{text}");
    // A client mapped under another key manager is pointed out.
    let text = w
        .gateway
        .explain(
            w.key_a.token(&claims(ISS_A, "client-b")),
            &w.api,
            KeyType::Production,
        )
        .await
        .to_string();
    assert!(
        text.contains("mapped under key manager(s) KC, not under IS"),
        "{text}"
    );
    assert!(
        text.contains("refused at step 7 (401 no_mapping)"),
        "{text}"
    );
}

/// A signed token whose claims repeat a member the gateway reads is refused, and the
/// explanation names the member.
#[tokio::test]
async fn a_repeated_claim_is_named_in_the_explanation() {
    let w = World::new().await;
    let header = b64(br#"{"alg":"RS256","kid":"a-1"}"#);
    let payload = format!(
        r#"{{"iss":"{ISS_A}","azp":"client-prod","exp":{},"exp":{}}}"#,
        now() + 600,
        now() + 6000
    );
    let input = format!("{header}.{}", b64(payload.as_bytes()));
    let token = format!(
        "{input}.{}",
        b64(&w.key_a.sign_raw("RS256", input.as_bytes()))
    );
    let explanation = w.gateway.explain(&token, &w.api, KeyType::Production).await;
    let text = explanation.to_string();
    assert!(
        text.contains("the JWT payload has the member \"exp\" twice"),
        "{text}"
    );
    assert_eq!(
        explanation.outcome.unwrap_err(),
        keyprov::gateway::Denial::Malformed(keyprov::gateway::Malformed::DuplicateMember {
            part: "payload",
            name: "exp".into()
        })
    );
    // A member the gateway does not read may repeat: JSON allows it, and no check reads it.
    let payload = format!(
        r#"{{"iss":"{ISS_A}","azp":"client-prod","exp":{},"x":1,"x":2}}"#,
        now() + 600
    );
    let input = format!("{header}.{}", b64(payload.as_bytes()));
    let token = format!(
        "{input}.{}",
        b64(&w.key_a.sign_raw("RS256", input.as_bytes()))
    );
    let outcome = w.gateway.resolve(&token, &w.api, KeyType::Production).await;
    assert!(outcome.is_ok(), "{outcome:?}");
}
