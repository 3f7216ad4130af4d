//! Not public API: the gateway's private parsers, exposed only with the `fuzzing` feature for
//! the targets in `fuzz/`. Anything here may change or go without notice.

use super::claims::{self, ClaimNames};
use super::jwks::KeySet;
use super::token::{self, Shape};
use super::{Malformed, header};
use crate::config::PemKey;
use crate::key_manager::JwkSet;

pub use super::claims::STANDARD_CLAIMS;
pub use super::token::Algorithm;

/// The raw text of the members of the object `text` named in `names` (by index), as the
/// gateway's scanner extracts them; `None` when the scanner refuses the text.
pub fn scan_object<'a>(text: &'a [u8], names: &[&str]) -> Option<Vec<Option<&'a str>>> {
    let mut out = vec![None; names.len()];
    super::json::object(text, |n| names.iter().position(|m| *m == n), &mut out).ok()?;
    Some(out)
}

/// A claim's value has the wrong type for the reading asked.
#[derive(Debug, PartialEq, Eq)]
pub struct WrongType;

/// A token payload as the resolver reads it, with the standard claims plus `extra`.
#[derive(Debug)]
pub struct Claims<'a> {
    names: ClaimNames,
    claims: claims::Claims<'a>,
}

impl<'a> Claims<'a> {
    /// Parses `payload`; `None` when the resolver would refuse it as malformed.
    pub fn parse(payload: &'a [u8], extra: &[&str]) -> Option<Self> {
        let names = ClaimNames::new(extra.iter().copied());
        let claims = claims::claims(payload, &names).ok()?;
        Some(Self { names, claims })
    }

    /// The slot of a claim name, when it is kept.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.names.position(name)
    }

    /// The raw JSON text of a kept claim.
    pub fn raw(&self, slot: usize) -> Option<&'a str> {
        self.claims.raw(slot)
    }

    /// As a string claim (`iss`); `Err` for the wrong type.
    pub fn string(&self, slot: usize) -> Result<Option<String>, WrongType> {
        self.claims
            .string(slot)
            .map(|s| s.map(Into::into))
            .map_err(|_| WrongType)
    }

    /// As a NumericDate (`exp`, `nbf`, `iat`), floored.
    pub fn time(&self, slot: usize) -> Result<Option<i64>, WrongType> {
        self.claims.time(slot).map_err(|_| WrongType)
    }

    /// As a consumer-key claim: a string, or the first of a list of strings.
    pub fn string_or_first(&self, slot: usize) -> Result<Option<String>, WrongType> {
        self.claims
            .string_or_first(slot)
            .map(|s| s.map(Into::into))
            .map_err(|_| WrongType)
    }

    /// As a scopes claim, joined with single spaces.
    pub fn scopes(&self, slot: usize) -> Result<String, WrongType> {
        self.claims
            .scopes(slot)
            .map(|s| s.as_str().to_owned())
            .map_err(|_| WrongType)
    }

    /// As `aud`: whether it holds `value`.
    pub fn audience_contains(&self, slot: usize, value: &str) -> Result<bool, WrongType> {
        self.claims
            .audience(slot)
            .map(|a| a.contains(value))
            .map_err(|_| WrongType)
    }
}

/// A compact JWS as the resolver decodes it before looking at keys.
#[derive(Debug)]
pub struct Decoded {
    /// The header's `alg` as written.
    pub alg_name: String,
    /// The header's `alg`, when supported.
    pub alg: Option<Algorithm>,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// The signed bytes (`header.payload`).
    pub signing_input: Vec<u8>,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Step 1 and the decoding: `Ok(None)` for an opaque token, the decoded parts of a JWT, or
/// why the resolver refuses it.
pub fn decode(token: &[u8], max_len: usize) -> Result<Option<Decoded>, Malformed> {
    let compact = match token::shape(token, max_len)? {
        Shape::Opaque => return Ok(None),
        Shape::Jwt(compact) => compact,
    };
    let header = header::header(compact.header)?;
    let (mut stack, mut heap) = (token::scratch(), Vec::new());
    let decoded = token::Decoded::new(&compact, &mut stack, &mut heap)?;
    Ok(Some(Decoded {
        alg_name: header.alg_name.into(),
        alg: header.alg,
        kid: header.kid.map(Into::into),
        signing_input: compact.signing_input.to_vec(),
        payload: decoded.payload().to_vec(),
        signature: decoded.signature().to_vec(),
    }))
}

/// A key the gateway would verify with: its `kid` and the algorithms it verifies.
pub type UsableKey = (Option<String>, Vec<Algorithm>);

/// A fetched key set as the gateway keeps it: the usable keys, and the skipped ones with why.
pub fn key_set(set: &JwkSet) -> (Vec<UsableKey>, Vec<(Option<String>, String)>) {
    let set = KeySet::from_jwks(set);
    (set.keys.iter().map(usable).collect(), set.skipped)
}

/// Fixed PEM keys as the gateway keeps them, or why they are refused.
pub fn pem_key_set(keys: &[PemKey]) -> Result<Vec<UsableKey>, String> {
    Ok(KeySet::from_pem(keys)?.keys.iter().map(usable).collect())
}

fn usable(key: &super::jwks::VerifyingKey) -> UsableKey {
    let algs = Algorithm::ALL
        .into_iter()
        .filter(|a| key.for_alg(*a).is_ok())
        .collect();
    (key.kid.clone(), algs)
}
