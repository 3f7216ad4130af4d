//! Reading a bearer token: the compact JWS form, its header and the claims the resolution
//! needs, parsed once with borrowed values (no allocation per claim).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::refusal::Malformed;

/// The signature algorithms a token may name, each bound to one key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Parses a JOSE name; `none`, `HS*` and anything else are not supported.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token split into its three compact-serialization parts.
#[derive(Debug)]
pub(crate) struct Compact<'t> {
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'t [u8],
    pub header: &'t [u8],
    pub payload: &'t [u8],
    pub signature: &'t [u8],
}

/// What the token looks like before any decoding.
pub(crate) enum Shape<'t> {
    Jwt(Compact<'t>),
    Opaque,
}

/// Characters of an RFC 6750 `b64token`: base64url, plus `~ + /`, plus trailing `=`.
fn is_b64token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'+' | b'/')
}

/// Step 1: two dots make a JWT (each part is then checked by its base64url decoding, or the
/// whole token by the cache's hash); an RFC 6750 `b64token` without dots is opaque; anything
/// else is malformed. Dots are found with SIMD: this runs on every request.
pub(crate) fn shape(token: &[u8], max_len: usize) -> Result<Shape<'_>, Malformed> {
    if token.is_empty() {
        return Err(Malformed::Empty);
    }
    if token.len() > max_len {
        return Err(Malformed::TooLong {
            len: token.len(),
            max: max_len,
        });
    }
    let mut dots = memchr::memchr_iter(b'.', token);
    match (dots.next(), dots.next(), dots.next()) {
        (None, _, _) => {
            let body_end = token.len() - token.iter().rev().take_while(|b| **b == b'=').count();
            if let Some(at) = token[..body_end].iter().position(|b| !is_b64token(*b)) {
                return Err(if token[at].is_ascii() {
                    Malformed::InvalidCharacter { at }
                } else {
                    Malformed::NotAscii { at }
                });
            }
            if body_end == 0 {
                return Err(Malformed::InvalidCharacter { at: 0 });
            }
            Ok(Shape::Opaque)
        }
        (Some(first), Some(second), None) => {
            let (h, p, s) = (
                &token[..first],
                &token[first + 1..second],
                &token[second + 1..],
            );
            if h.is_empty() || p.is_empty() || s.is_empty() {
                return Err(Malformed::EmptyPart);
            }
            Ok(Shape::Jwt(Compact {
                signing_input: &token[..second],
                header: h,
                payload: p,
                signature: s,
            }))
        }
        (Some(_), None, _) => Err(Malformed::PartCount { parts: 2 }),
        (Some(_), Some(_), Some(_)) => Err(Malformed::PartCount {
            parts: 4 + dots.count(),
        }),
    }
}

/// Decodes one unpadded, canonical base64url part.
#[cfg(test)]
pub(crate) fn b64(part: &[u8], which: &'static str) -> Result<Vec<u8>, Malformed> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(part)
        .map_err(|_| Malformed::Base64 { part: which })
}

/// The three parts decoded into one buffer (one allocation instead of three).
pub(crate) struct Decoded {
    buf: Vec<u8>,
    header: std::ops::Range<usize>,
    payload: std::ops::Range<usize>,
    signature: std::ops::Range<usize>,
}

impl Decoded {
    /// Decodes with SIMD (three times faster than scalar on a typical token); padding,
    /// characters outside base64url and non-canonical trailing bits are refused.
    pub(crate) fn new(c: &Compact<'_>) -> Result<Self, Malformed> {
        use base64_simd::AsOut as _;
        let engine = base64_simd::URL_SAFE_NO_PAD;
        let len = |p: &[u8], which| {
            engine
                .decoded_length(p)
                .map_err(|_| Malformed::Base64 { part: which })
        };
        let (h, p, s) = (
            len(c.header, "header")?,
            len(c.payload, "payload")?,
            len(c.signature, "signature")?,
        );
        let mut buf = vec![0; h + p + s];
        let (hb, rest) = buf.split_at_mut(h);
        let (pb, sb) = rest.split_at_mut(p);
        engine
            .decode(c.header, hb.as_out())
            .map_err(|_| Malformed::Base64 { part: "header" })?;
        engine
            .decode(c.payload, pb.as_out())
            .map_err(|_| Malformed::Base64 { part: "payload" })?;
        engine
            .decode(c.signature, sb.as_out())
            .map_err(|_| Malformed::Base64 { part: "signature" })?;
        Ok(Self {
            buf,
            header: 0..h,
            payload: h..h + p,
            signature: h + p..h + p + s,
        })
    }

    pub(crate) fn header(&self) -> &[u8] {
        &self.buf[self.header.clone()]
    }

    pub(crate) fn payload(&self) -> &[u8] {
        &self.buf[self.payload.clone()]
    }

    pub(crate) fn signature(&self) -> &[u8] {
        &self.buf[self.signature.clone()]
    }
}

/// The JOSE header members the resolution reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    pub alg: Cow<'a, str>,
    #[serde(default, borrow)]
    pub kid: Option<Cow<'a, str>>,
    #[serde(default)]
    pub crit: Option<IgnoredAny>,
}

pub(crate) fn header(bytes: &[u8]) -> Result<Header<'_>, Malformed> {
    serde_json::from_slice(bytes).map_err(|_| Malformed::Json { part: "header" })
}

/// The claims the resolution may read: the standard ones plus every configured consumer-key
/// and scopes claim, by position in [`ClaimNames`]. Other claims are skipped unparsed.
#[derive(Debug)]
pub(crate) struct Claims<'a> {
    values: Vec<Option<&'a RawValue>>,
}

/// The set of claim names to keep; built once per gateway.
#[derive(Clone, Debug)]
pub(crate) struct ClaimNames {
    names: Vec<Box<str>>,
}

pub(crate) const ISS: usize = 0;
pub(crate) const EXP: usize = 1;
pub(crate) const NBF: usize = 2;
pub(crate) const IAT: usize = 3;
pub(crate) const AUD: usize = 4;

/// The default consumer-key chain (gateway.md step 6). Never `sub`.
pub(crate) const DEFAULT_CONSUMER_KEY_CLAIMS: [&str; 3] = ["azp", "client_id", "clientId"];

impl ClaimNames {
    pub(crate) fn new<'n>(extra: impl IntoIterator<Item = &'n str>) -> Self {
        let mut names: Vec<Box<str>> = ["iss", "exp", "nbf", "iat", "aud"]
            .into_iter()
            .chain(DEFAULT_CONSUMER_KEY_CLAIMS)
            .chain(["scope"])
            .map(Box::from)
            .collect();
        for name in extra {
            if !names.iter().any(|n| &**n == name) {
                names.push(name.into());
            }
        }
        Self { names }
    }

    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| &**n == name)
    }
}

/// Parses the payload (a JSON object), keeping borrowed raw values of the named claims.
/// A named claim present twice is refused: which copy a verifier reads must not be ambiguous.
pub(crate) fn claims<'a>(bytes: &'a [u8], names: &ClaimNames) -> Result<Claims<'a>, Malformed> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let values = ClaimsSeed { names }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|_| Malformed::Json { part: "payload" })?;
    Ok(Claims { values })
}

struct ClaimsSeed<'n> {
    names: &'n ClaimNames,
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = Vec<Option<&'de RawValue>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = Vec<Option<&'de RawValue>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![None; self.names.names.len()];
        while let Some(slot) = map.next_key_seed(KeySeed { names: self.names })? {
            match slot {
                Some(i) => {
                    if values[i].is_some() {
                        return Err(de::Error::custom("duplicate claim"));
                    }
                    values[i] = Some(map.next_value::<&'de RawValue>()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}

struct KeySeed<'n> {
    names: &'n ClaimNames,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.names.position(v))
    }
}

/// A claim whose value has the wrong type.
#[derive(Debug)]
pub(crate) struct BadClaim;

impl<'a> Claims<'a> {
    pub(crate) fn raw(&self, index: usize) -> Option<&'a RawValue> {
        self.values.get(index).copied().flatten()
    }

    /// A NumericDate claim (seconds, possibly fractional), floored.
    pub(crate) fn time(&self, index: usize) -> Result<Option<i64>, BadClaim> {
        match self.raw(index) {
            None => Ok(None),
            // Plain integers (the usual form) below 2^53 are read directly: the same value
            // as through `f64`, several times faster.
            Some(raw) if is_small_integer(raw.get().as_bytes()) => Ok(Some(
                raw.get()
                    .bytes()
                    .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
            )),
            Some(raw) => match serde_json::from_str::<f64>(raw.get()) {
                Ok(v) if v.is_finite() => Ok(Some(v.floor() as i64)),
                _ => Err(BadClaim),
            },
        }
    }

    /// A string claim.
    pub(crate) fn string(&self, index: usize) -> Result<Option<Cow<'a, str>>, BadClaim> {
        match self.raw(index) {
            None => Ok(None),
            Some(raw) => serde_json::from_str::<Cow<'a, str>>(raw.get())
                .map(Some)
                .map_err(|_| BadClaim),
        }
    }

    /// A string, or the first element of a list of strings (gateway.md step 6).
    pub(crate) fn string_or_first(&self, index: usize) -> Result<Option<String>, BadClaim> {
        match self.raw(index) {
            None => Ok(None),
            Some(raw) => match OneOrMany::parse(raw) {
                Ok(OneOrMany::One(s)) => Ok(Some(s.into_owned())),
                Ok(OneOrMany::Many(list)) => Ok(list.into_iter().next().map(Cow::into_owned)),
                Err(_) => Err(BadClaim),
            },
        }
    }

    /// Scopes: a space-separated string or a list of strings, kept as one string.
    pub(crate) fn scopes(&self, index: usize) -> Result<super::Scopes, BadClaim> {
        match self.raw(index) {
            None => Ok(super::Scopes::default()),
            Some(raw) => match OneOrMany::parse(raw) {
                Ok(OneOrMany::One(s)) => Ok(super::Scopes::from_joined(&s)),
                Ok(OneOrMany::Many(list)) => Ok(super::Scopes::new(list.iter().map(|s| &**s))),
                Err(_) => Err(BadClaim),
            },
        }
    }

    /// A space-separated string or a list of strings.
    pub(crate) fn list(&self, index: usize, split_spaces: bool) -> Result<Vec<String>, BadClaim> {
        match self.raw(index) {
            None => Ok(Vec::new()),
            Some(raw) => match OneOrMany::parse(raw) {
                Ok(OneOrMany::One(s)) if split_spaces => {
                    Ok(s.split_ascii_whitespace().map(str::to_owned).collect())
                }
                Ok(OneOrMany::One(s)) => Ok(vec![s.into_owned()]),
                Ok(OneOrMany::Many(list)) => Ok(list.into_iter().map(Cow::into_owned).collect()),
                Err(_) => Err(BadClaim),
            },
        }
    }
}

/// A JSON integer of 1 to 15 digits without a leading zero: exactly representable in `f64`.
fn is_small_integer(text: &[u8]) -> bool {
    (1..=15).contains(&text.len())
        && text.iter().all(u8::is_ascii_digit)
        && (text[0] != b'0' || text.len() == 1)
}

enum OneOrMany<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'a> OneOrMany<'a> {
    /// A string or a list of strings, told apart by the first byte (an untagged serde enum
    /// would buffer the value first, several times slower).
    fn parse(raw: &'a RawValue) -> Result<Self, BadClaim> {
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'"') => serde_json::from_str(text).map(OneOrMany::One),
            Some(b'[') => serde_json::from_str(text).map(OneOrMany::Many),
            _ => return Err(BadClaim),
        }
        .map_err(|_| BadClaim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(matches!(shape(b"abc.def.ghi", 100), Ok(Shape::Jwt(_))));
        assert!(matches!(shape(b"0a1b-2c3d", 100), Ok(Shape::Opaque)));
        assert!(matches!(
            shape(b"abc.def", 100),
            Err(Malformed::PartCount { parts: 2 })
        ));
        assert!(matches!(
            shape(b"a.b.c.d", 100),
            Err(Malformed::PartCount { parts: 4 })
        ));
        assert!(matches!(shape(b"abc..ghi", 100), Err(Malformed::EmptyPart)));
        assert!(matches!(
            shape(b"abc\xffdef", 100),
            Err(Malformed::NotAscii { at: 3 })
        ));
        assert!(matches!(
            shape(b"abc def", 100),
            Err(Malformed::InvalidCharacter { at: 3 })
        ));
        assert!(matches!(shape(b"abc==", 100), Ok(Shape::Opaque)));
        assert!(matches!(
            shape(b"==", 100),
            Err(Malformed::InvalidCharacter { .. })
        ));
        // JWT parts are checked by their decoding.
        assert!(matches!(
            b64(b"gh i", "signature"),
            Err(Malformed::Base64 { .. })
        ));
        assert!(matches!(
            b64(b"ghi=", "signature"),
            Err(Malformed::Base64 { .. })
        ));
        assert!(matches!(
            b64(b"d\xffef", "payload"),
            Err(Malformed::Base64 { .. })
        ));
        assert!(matches!(
            shape(&[b'a'; 101], 100),
            Err(Malformed::TooLong { .. })
        ));
    }

    #[test]
    fn claims_keep_only_named_values_and_refuse_duplicates() {
        let names = ClaimNames::new(["cid"]);
        let payload =
            br#"{"iss":"i","big":{"x":[1,2,3]},"cid":["a","b"],"exp":1.7e9,"scope":"a b"}"#;
        let c = claims(payload, &names).unwrap();
        assert_eq!(c.string(ISS).unwrap().as_deref(), Some("i"));
        assert_eq!(c.time(EXP).unwrap(), Some(1_700_000_000));
        let cid = names.position("cid").unwrap();
        assert_eq!(c.string_or_first(cid).unwrap().as_deref(), Some("a"));
        let scope = names.position("scope").unwrap();
        assert_eq!(c.list(scope, true).unwrap(), vec!["a", "b"]);
        assert_eq!(
            c.scopes(scope).unwrap().iter().collect::<Vec<_>>(),
            ["a", "b"]
        );
        let listed = claims(br#"{"scope":["x","y z"]}"#, &names).unwrap();
        let scopes = listed.scopes(scope).unwrap();
        assert_eq!(scopes.as_str(), "x y z");
        assert_eq!(scopes.len(), 3);
        assert!(
            claims(br#"{"scope":7}"#, &names)
                .unwrap()
                .scopes(scope)
                .is_err()
        );
        assert!(claims(br#"{"iss":"a","iss":"b"}"#, &names).is_err());
        assert!(claims(br#"{"iss":"a"} x"#, &names).is_err());
        assert!(claims(br#"["iss"]"#, &names).is_err());
        for (text, want) in [
            ("0", Some(0)),
            ("1700000000", Some(1_700_000_000)),
            ("1700000000.9", Some(1_700_000_000)),
            ("-1.5", Some(-2)),
            ("17e8", Some(1_700_000_000)),
            ("999999999999999", Some(999_999_999_999_999)),
            ("12345678901234567", Some(12_345_678_901_234_568)),
            ("01", None),
            ("1e999", None),
        ] {
            let payload = format!(r#"{{"exp":{text}}}"#);
            let got = claims(payload.as_bytes(), &names)
                .ok()
                .and_then(|c| c.time(EXP).ok().flatten());
            assert_eq!(got, want, "{text}");
        }
        for (text, want) in [
            ("a b", "a b"),
            (" a  b\\t", "a b"),
            ("", ""),
            ("a\\nb", "a b"),
        ] {
            let payload = format!(r#"{{"scope":"{text}"}}"#);
            let c = claims(payload.as_bytes(), &names).unwrap();
            assert_eq!(c.scopes(scope).unwrap().as_str(), want, "{text:?}");
        }
        let bad = claims(br#"{"exp":"tomorrow"}"#, &names).unwrap();
        assert!(bad.time(EXP).is_err());
    }
}
