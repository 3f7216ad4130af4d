//! A fetched JSON Web Key Set as the gateway keeps it (or, when the input is not one, a PEM
//! key as the configuration gives it).
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyprov::config::PemKey;
use keyprov::gateway::__fuzz::{self, Algorithm};
use keyprov::{Jwk, JwkSet};
use libfuzzer_sys::fuzz_target;

use Algorithm::*;
const RSA: &[Algorithm] = &[RS256, RS384, RS512, PS256, PS384, PS512];

/// The algorithms a JWK's type allows, or `None` when the type is not supported.
fn allowed(jwk: &Jwk) -> Option<&'static [Algorithm]> {
    match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => Some(RSA),
        ("EC", Some("P-256")) => Some(&[ES256]),
        ("EC", Some("P-384")) => Some(&[ES384]),
        ("OKP", Some("Ed25519")) => Some(&[EdDSA]),
        _ => None,
    }
}

fn check_key(jwk: &Jwk, usable: Option<&__fuzz::UsableKey>) {
    let Some((kid, algs)) = usable else {
        return;
    };
    assert_eq!(kid, &jwk.kid);
    let allowed = allowed(jwk).unwrap_or_else(|| panic!("unsupported key kept: {jwk:?}"));
    assert!(!algs.is_empty(), "a kept key verifies something");
    assert!(
        algs.iter().all(|a| allowed.contains(a)),
        "{algs:?} for {jwk:?}"
    );
    // RFC 7518 §6.2.1.2: each EC coordinate is the full size of the curve's field.
    let size = match jwk.crv.as_deref() {
        Some("P-256") if jwk.kty == "EC" => Some(32),
        Some("P-384") if jwk.kty == "EC" => Some(48),
        _ => None,
    };
    if let Some(size) = size {
        for c in [&jwk.x, &jwk.y] {
            let text = c.as_deref().unwrap_or_default().trim_end_matches('=');
            let bytes = URL_SAFE_NO_PAD.decode(text).unwrap();
            assert_eq!(bytes.len(), size, "coordinate size of a kept key: {jwk:?}");
        }
    }
    match jwk.alg.as_deref() {
        Some(pinned) => assert_eq!(algs[..], [Algorithm::from_name(pinned).unwrap()]),
        None => assert_eq!(algs[..], allowed[..]),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(set) = serde_json::from_slice::<JwkSet>(data) else {
        let Ok(pem) = std::str::from_utf8(data) else {
            return;
        };
        let key = PemKey {
            kid: Some("k".to_owned()),
            pem: pem.to_owned(),
        };
        match __fuzz::pem_key_set(std::slice::from_ref(&key)) {
            Ok(keys) => {
                assert_eq!(keys.len(), 1);
                assert_eq!(keys[0].0.as_deref(), Some("k"));
                assert!(!keys[0].1.is_empty());
            }
            Err(why) => assert!(keyprov_fuzz::is_house_style(&why), "{why}"),
        }
        return;
    };
    let (usable, skipped) = __fuzz::key_set(&set);
    let considered: Vec<&Jwk> = set
        .keys
        .iter()
        .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
        .collect();
    assert_eq!(usable.len() + skipped.len(), considered.len());
    // Each key alone gives the same verdict as within the set, in order.
    let (mut u, mut s) = (usable.iter(), skipped.iter());
    for jwk in considered {
        let one = JwkSet {
            keys: vec![jwk.clone()],
        };
        let (alone_usable, alone_skipped) = __fuzz::key_set(&one);
        match (alone_usable.first(), alone_skipped.first()) {
            (Some(key), None) => {
                assert_eq!(u.next(), Some(key));
                check_key(jwk, Some(key));
            }
            (None, Some(skip)) => {
                assert_eq!(s.next(), Some(skip));
                assert_eq!(skip.0, jwk.kid);
                assert!(keyprov_fuzz::is_house_style(&skip.1), "{}", skip.1);
            }
            other => panic!("one key, one verdict: {other:?}"),
        }
    }
});
