//! The body of `POST /applications/{id}/map-keys` as a service reads it: serde_json into
//! `MapKeysRequest`, then `into_request`. The secret never shows in an error or `Debug`.
#![no_main]

use keyprov::provisioner::MapKeysRequest;
use keyprov::{ApplicationId, ConsumerKey, ConsumerSecret, Error, KeyType};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const CANARY: &str = "kp-canary-5e3d9b-secret";

fn application() -> ApplicationId {
    "0b6f1c3e-6e0a-4f9b-9a57-2f1d7c7e4a10".parse().unwrap()
}

/// `into_request`'s verdict, checked against the rules it documents.
/// `Ok` with the request's `Debug`, or the error's `Display` and `Debug`.
fn check(body: MapKeysRequest) -> Result<String, String> {
    let key_type = ["PRODUCTION", "SANDBOX"]
        .iter()
        .any(|t| body.key_type.eq_ignore_ascii_case(t));
    let key_ok = ConsumerKey::new(body.consumer_key.clone()).is_ok();
    let copy = body.clone();
    match body.into_request(application()) {
        Ok(request) => {
            assert!(key_type && key_ok, "{copy:?}");
            assert_eq!(request.consumer_key.as_str(), copy.consumer_key);
            assert_eq!(request.key_type, copy.key_type.parse::<KeyType>().unwrap(),);
            assert_eq!(
                request.key_manager,
                copy.key_manager
                    .as_deref()
                    .unwrap_or("Resident Key Manager")
            );
            assert_eq!(
                request.consumer_secret.as_ref().map(ConsumerSecret::expose),
                copy.consumer_secret.as_ref().map(ConsumerSecret::expose)
            );
            Ok(format!("{request:?}"))
        }
        Err(err) => {
            let Error::InvalidInput(invalid) = &err else {
                panic!("{err:?}")
            };
            let field = if key_type { "consumerKey" } else { "keyType" };
            assert!(!(key_type && key_ok), "{copy:?}: {err}");
            assert_eq!(invalid.field, field, "{err}");
            assert_eq!(err.code(), 901400);
            assert!(keyprov_fuzz::is_house_style(&invalid.reason), "{err}");
            Err(format!("{err} {err:?}"))
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<MapKeysRequest>(data) {
        // The verdict never depends on the secret: the same body with another secret gives
        // the very same answer, which therefore cannot quote it.
        let mut swapped = body.clone();
        swapped.consumer_secret = body.consumer_secret.as_ref().map(|_| CANARY.into());
        let (a, b) = (check(body.clone()), check(swapped.clone()));
        assert_eq!(a, b);
        // Debug does not depend on the secret either.
        assert_eq!(format!("{body:?}"), format!("{swapped:?}"));
        if let Some(secret) = &body.consumer_secret {
            if let Err(e) = secret.check() {
                // A refused secret is long or has control characters: never part of a message.
                let text = format!("{e} {e:?}");
                assert!(!text.contains(secret.expose()), "{text}");
            }
        }
    }
    // The secret planted in any object body: never in serde_json's error, nor in Debug.
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if String::from_utf8_lossy(data).contains(CANARY) {
        return;
    }
    object.insert("consumerSecret".into(), CANARY.into());
    let text = Value::Object(object).to_string();
    match serde_json::from_str::<MapKeysRequest>(&text) {
        Ok(body) => {
            assert!(!format!("{body:?}").contains(CANARY));
            assert_eq!(
                body.consumer_secret.as_ref().map(ConsumerSecret::expose),
                Some(CANARY)
            );
            let answer = check(body).unwrap_or_else(|e| e);
            assert!(!answer.contains(CANARY), "{answer}");
        }
        Err(e) => assert!(!e.to_string().contains(CANARY), "{e}"),
    }
});
