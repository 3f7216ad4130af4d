//! A token payload (JSON) read by the gateway's claims scanner, against serde_json; the
//! same payload wrapped in a token decodes back to itself.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyprov::gateway::__fuzz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    // The length decides the slot storage, so every input runs both.
    keyprov_fuzz::check_claims(payload, false);
    keyprov_fuzz::check_claims(payload, true);

    if payload.is_empty() {
        return;
    }
    let token = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","kid":"k1"}"#),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let decoded = __fuzz::decode(token.as_bytes(), usize::MAX)
        .expect("a well-formed token decodes")
        .expect("a token with two dots is a JWT");
    assert_eq!(decoded.payload, payload);
    assert_eq!(decoded.signature, b"sig");
    assert_eq!(decoded.alg, Some(__fuzz::Algorithm::ES256));
    assert_eq!(decoded.kid.as_deref(), Some("k1"));
});
