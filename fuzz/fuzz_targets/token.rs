//! A bearer token as the gateway reads it before any key: its shape, the base64url decoding
//! of its parts (against the `base64` crate), its header (against serde_json) and its claims
//! (as the `claims` target).
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyprov::gateway::__fuzz::{self, Algorithm};
use keyprov::gateway::Malformed;
use libfuzzer_sys::fuzz_target;

const MAX_LEN: usize = 8192;

fn is_b64token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'+' | b'/')
}

/// What the header must be: `Ok((alg, kid))`, or the refusal.
fn expected_header(bytes: &[u8]) -> Result<(String, Option<String>), Malformed> {
    let json = Malformed::Json { part: "header" };
    let text = std::str::from_utf8(bytes).map_err(|_| json.clone())?;
    let members = keyprov_fuzz::members(text).ok_or(json.clone())?;
    if keyprov_fuzz::depth(text) > keyprov_fuzz::MAX_DEPTH {
        return Err(json);
    }
    let one = |name: &str| {
        let mut found = members
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.get());
        match (found.next(), found.next()) {
            (_, Some(_)) => Err(json.clone()),
            (value, None) => Ok(value),
        }
    };
    let (alg, kid, crit) = (one("alg")?, one("kid")?, one("crit")?);
    let string = |raw: &str| serde_json::from_str::<String>(raw).map_err(|_| json.clone());
    let alg = string(alg.ok_or(json.clone())?)?;
    let kid = match kid {
        None | Some("null") => None,
        Some(raw) => Some(string(raw)?),
    };
    if crit.is_some() {
        return Err(Malformed::CriticalHeader);
    }
    Ok((alg, kid))
}

fuzz_target!(|token: &[u8]| {
    let got = __fuzz::decode(token, MAX_LEN);
    if let Err(m) = &got {
        assert!(keyprov_fuzz::is_house_style(&m.to_string()), "{m}");
    }
    if token.is_empty() {
        assert!(matches!(got, Err(Malformed::Empty)), "{got:?}");
        return;
    }
    if token.len() > MAX_LEN {
        assert!(matches!(got, Err(Malformed::TooLong { .. })), "{got:?}");
        return;
    }
    let dots: Vec<usize> = (0..token.len()).filter(|i| token[*i] == b'.').collect();
    let (first, second) = match dots[..] {
        [] => {
            let end = token.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
            let body = &token[..end];
            let opaque = !body.is_empty() && body.iter().all(|b| is_b64token(*b));
            assert_eq!(matches!(got, Ok(None)), opaque, "{got:?}");
            return;
        }
        [first, second] => (first, second),
        _ => {
            assert!(
                matches!(got, Err(Malformed::PartCount { parts }) if parts == dots.len() + 1),
                "{got:?}"
            );
            return;
        }
    };
    let (h, p, s) = (
        &token[..first],
        &token[first + 1..second],
        &token[second + 1..],
    );
    if h.is_empty() || p.is_empty() || s.is_empty() {
        assert!(matches!(got, Err(Malformed::EmptyPart)), "{got:?}");
        return;
    }
    let header = match URL_SAFE_NO_PAD.decode(h) {
        Ok(header) => header,
        Err(_) => {
            assert!(
                matches!(got, Err(Malformed::Base64 { part: "header" })),
                "{got:?}"
            );
            return;
        }
    };
    let (alg, kid) = match expected_header(&header) {
        Ok(parsed) => parsed,
        Err(want) => {
            assert_eq!(got.err(), Some(want));
            return;
        }
    };
    let (payload, signature) = match (URL_SAFE_NO_PAD.decode(p), URL_SAFE_NO_PAD.decode(s)) {
        (Ok(payload), Ok(signature)) => (payload, signature),
        // Which bad part is named depends on the order of the checks; it must be a bad one.
        (payload, signature) => {
            let part = match &got {
                Err(Malformed::Base64 { part }) => *part,
                other => panic!("expected a base64 refusal, got {other:?}"),
            };
            assert!(
                (part == "payload" && payload.is_err())
                    || (part == "signature" && signature.is_err()),
                "{part}"
            );
            return;
        }
    };
    let decoded = got
        .unwrap_or_else(|e| panic!("refused a well-formed token: {e}"))
        .expect("a JWT");
    assert_eq!(decoded.alg_name, alg);
    assert_eq!(decoded.alg, Algorithm::from_name(&alg));
    assert_eq!(decoded.kid, kid);
    assert_eq!(decoded.signing_input, &token[..second]);
    assert_eq!(decoded.payload, payload);
    assert_eq!(decoded.signature, signature);
    keyprov_fuzz::check_claims(&payload, payload.len() % 2 == 0);
});
