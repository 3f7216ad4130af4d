//! Reading a bearer token: the compact JWS form, its header and the claims the resolution
//! needs, parsed once with borrowed values (no allocation per claim).

use std::borrow::Cow;
use std::fmt;

use super::json;
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

/// Decoded bytes of typical tokens fit on the stack: no allocation on the first-sight path.
pub(crate) const INLINE_DECODED: usize = 2048;

/// The payload and signature decoded into one buffer: the caller's stack buffer when they
/// fit, else a heap buffer. (The header is decoded apart, and only when [`HeaderCache`] does
/// not know it.)
pub(crate) struct Decoded<'b> {
    buf: &'b [u8],
    payload: std::ops::Range<usize>,
    signature: std::ops::Range<usize>,
}

impl<'b> Decoded<'b> {
    /// Decodes with SIMD (three times faster than scalar on a typical token); padding,
    /// characters outside base64url and non-canonical trailing bits are refused.
    pub(crate) fn new(
        c: &Compact<'_>,
        stack: &'b mut [u8; INLINE_DECODED],
        heap: &'b mut Vec<u8>,
    ) -> Result<Self, Malformed> {
        let (p, s) = (
            decoded_len(c.payload, "payload")?,
            decoded_len(c.signature, "signature")?,
        );
        let total = p + s;
        let buf: &'b mut [u8] = if total <= INLINE_DECODED {
            &mut stack[..total]
        } else {
            heap.resize(total, 0);
            heap
        };
        let (pb, sb) = buf.split_at_mut(p);
        decode_part(c.payload, pb, "payload")?;
        decode_part(c.signature, sb, "signature")?;
        Ok(Self {
            buf,
            payload: 0..p,
            signature: p..total,
        })
    }

    pub(crate) fn payload(&self) -> &'b [u8] {
        &self.buf[self.payload.clone()]
    }

    pub(crate) fn signature(&self) -> &'b [u8] {
        &self.buf[self.signature.clone()]
    }
}

fn decoded_len(part: &[u8], which: &'static str) -> Result<usize, Malformed> {
    base64_simd::URL_SAFE_NO_PAD
        .decoded_length(part)
        .map_err(|_| Malformed::Base64 { part: which })
}

/// One part, decoded into exactly its decoded length. Out of line: one copy of the decoder's
/// entry code serves the three parts.
#[inline(never)]
fn decode_part(src: &[u8], out: &mut [u8], part: &'static str) -> Result<(), Malformed> {
    use base64_simd::AsOut as _;
    base64_simd::URL_SAFE_NO_PAD
        .decode(src, out.as_out())
        .map(drop)
        .map_err(|_| Malformed::Base64 { part })
}

/// The JOSE header members the resolution reads, parsed once per distinct header.
#[derive(Debug)]
pub(crate) struct KnownHeader {
    /// The header as it appears in the token (base64url).
    encoded: Box<[u8]>,
    /// `alg` as written.
    pub alg_name: Box<str>,
    /// `alg`, when supported.
    pub alg: Option<Algorithm>,
    pub kid: Option<Box<str>>,
}

/// Decodes and parses an encoded header: a JSON object with a string `alg`, an optional string
/// `kid`, each at most once, and no `crit` (no critical extension is supported).
pub(crate) fn header(encoded: &[u8]) -> Result<KnownHeader, Malformed> {
    let mut stack = [0; 512];
    let mut heap = Vec::new();
    let len = decoded_len(encoded, "header")?;
    let bytes: &mut [u8] = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        &mut heap
    };
    decode_part(encoded, bytes, "header")?;
    let bad = || Malformed::Json { part: "header" };
    let slot = |name: &str| match name {
        "alg" => Some(0),
        "kid" => Some(1),
        "crit" => Some(2),
        _ => None,
    };
    let mut raw = [None; 3];
    json::object(bytes, &slot, &mut raw).map_err(|_| bad())?;
    let alg_name = raw[0].and_then(json::string).ok_or_else(bad)?;
    let kid = match raw[1] {
        None | Some("null") => None,
        Some(kid) => Some(json::string(kid).ok_or_else(bad)?.into()),
    };
    if raw[2].is_some() {
        return Err(Malformed::CriticalHeader);
    }
    Ok(KnownHeader {
        encoded: encoded.into(),
        alg: Algorithm::from_name(&alg_name),
        alg_name: alg_name.into(),
        kid,
    })
}

/// Headers already parsed, by their exact encoded bytes: an issuer signs its tokens with a
/// few headers (one per key), so each is decoded and parsed once. Bounded: at most
/// [`HeaderCache::SLOTS`] headers of at most [`HeaderCache::MAX_LEN`] bytes, with supported
/// algorithms only; when full, slots are replaced in turn (a flood of odd headers costs
/// parsing, never a wrong answer: a hit is an exact byte match).
#[derive(Debug, Default)]
pub(crate) struct HeaderCache {
    slots: arc_swap::ArcSwap<Vec<std::sync::Arc<KnownHeader>>>,
    next: std::sync::atomic::AtomicUsize,
}

impl HeaderCache {
    const SLOTS: usize = 16;
    const MAX_LEN: usize = 512;

    /// The parsed header of a token: from the cache, or decoded, parsed and remembered.
    pub(crate) fn get(&self, encoded: &[u8]) -> Result<std::sync::Arc<KnownHeader>, Malformed> {
        if let Some(known) = self.slots.load().iter().find(|k| *k.encoded == *encoded) {
            return Ok(known.clone());
        }
        let known = std::sync::Arc::new(header(encoded)?);
        if known.alg.is_some() && encoded.len() <= Self::MAX_LEN {
            let at = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % Self::SLOTS;
            self.slots.rcu(|slots| {
                let mut slots = Vec::clone(slots);
                if slots.iter().any(|k| k.encoded == known.encoded) {
                    // Another thread remembered it meanwhile.
                } else if slots.len() < Self::SLOTS {
                    slots.push(known.clone());
                } else {
                    slots[at] = known.clone();
                }
                slots
            });
        }
        Ok(known)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.load().len()
    }
}

/// The claims the resolution may read: the standard ones plus every configured consumer-key
/// and scopes claim, by position in [`ClaimNames`], as raw JSON text. Other claims are
/// validated and skipped.
#[derive(Debug)]
pub(crate) struct Claims<'a> {
    values: Slots<'a>,
}

/// Up to this many claim names, the values are kept on the stack.
const INLINE_CLAIMS: usize = 16;

/// Lives on the stack for the duration of one parse: the inline variant's size is the point.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Slots<'a> {
    Inline([Option<&'a str>; INLINE_CLAIMS]),
    Heap(Vec<Option<&'a str>>),
}

impl<'a> Slots<'a> {
    fn new(len: usize) -> Self {
        if len <= INLINE_CLAIMS {
            Slots::Inline([None; INLINE_CLAIMS])
        } else {
            Slots::Heap(vec![None; len])
        }
    }

    fn as_slice(&self) -> &[Option<&'a str>] {
        match self {
            Slots::Inline(a) => a,
            Slots::Heap(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Option<&'a str>] {
        match self {
            Slots::Inline(a) => a,
            Slots::Heap(v) => v,
        }
    }
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

/// The names every gateway reads, at fixed positions (the constants above, then the default
/// consumer-key chain, then `scope`).
const STANDARD_CLAIMS: [&str; 9] = [
    "iss",
    "exp",
    "nbf",
    "iat",
    "aud",
    "azp",
    "client_id",
    "clientId",
    "scope",
];

impl ClaimNames {
    pub(crate) fn new<'n>(extra: impl IntoIterator<Item = &'n str>) -> Self {
        let mut names: Vec<Box<str>> = STANDARD_CLAIMS.into_iter().map(Box::from).collect();
        for name in extra {
            if !names.iter().any(|n| &**n == name) {
                names.push(name.into());
            }
        }
        Self { names }
    }

    /// The slot of a claim name. Called for every member of every payload seen for the first
    /// time: the standard names are matched as constants (compiled to a few integer
    /// comparisons), configured extras by comparison.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        let slot = match name {
            "iss" => 0,
            "exp" => 1,
            "nbf" => 2,
            "iat" => 3,
            "aud" => 4,
            "azp" => 5,
            "client_id" => 6,
            "clientId" => 7,
            "scope" => 8,
            _ => {
                return self.names[STANDARD_CLAIMS.len()..]
                    .iter()
                    .position(|n| &**n == name)
                    .map(|i| i + STANDARD_CLAIMS.len());
            }
        };
        Some(slot)
    }
}

/// Parses the payload (a JSON object), keeping the raw text of the named claims.
/// A named claim present twice is refused: which copy a verifier reads must not be ambiguous.
pub(crate) fn claims<'a>(bytes: &'a [u8], names: &ClaimNames) -> Result<Claims<'a>, Malformed> {
    let mut values = Slots::new(names.names.len());
    json::object(bytes, &|n| names.position(n), values.as_mut_slice())
        .map_err(|_| Malformed::Json { part: "payload" })?;
    Ok(Claims { values })
}

/// A claim whose value has the wrong type.
#[derive(Debug)]
pub(crate) struct BadClaim;

impl<'a> Claims<'a> {
    pub(crate) fn raw(&self, index: usize) -> Option<&'a str> {
        self.values.as_slice().get(index).copied().flatten()
    }

    /// A NumericDate claim (seconds, possibly fractional), floored.
    pub(crate) fn time(&self, index: usize) -> Result<Option<i64>, BadClaim> {
        match self.raw(index) {
            None => Ok(None),
            // Plain integers (the usual form) below 2^53 are read directly: the same value
            // as through `f64`, several times faster.
            Some(raw) if is_small_integer(raw.as_bytes()) => Ok(Some(
                raw.bytes().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
            )),
            Some(raw) => fractional_time(raw).map(Some),
        }
    }

    /// A string claim.
    pub(crate) fn string(&self, index: usize) -> Result<Option<Cow<'a, str>>, BadClaim> {
        match self.raw(index) {
            None => Ok(None),
            Some(raw) => json::string(raw).map(Some).ok_or(BadClaim),
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

    /// The audience: a string or a list of strings.
    pub(crate) fn audience(&self, index: usize) -> Result<Audience, BadClaim> {
        match self.raw(index) {
            None => Ok(Audience::None),
            Some(raw) => match OneOrMany::parse(raw)? {
                OneOrMany::One(s) => Ok(Audience::One(s.into())),
                OneOrMany::Many(list) => {
                    Ok(Audience::Many(list.into_iter().map(Box::from).collect()))
                }
            },
        }
    }

    /// A space-separated string or a list of strings.
    #[cfg(test)]
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

/// A token's `aud`, kept with one allocation in the usual single-value case.
#[derive(Debug, Default)]
pub(crate) enum Audience {
    #[default]
    None,
    One(Box<str>),
    Many(Box<[Box<str>]>),
}

impl Audience {
    pub(crate) fn contains(&self, value: &str) -> bool {
        match self {
            Audience::None => false,
            Audience::One(one) => **one == *value,
            Audience::Many(list) => list.iter().any(|a| **a == *value),
        }
    }
}

/// A NumericDate that is not a small integer (fractional, exponent, negative, huge): rare,
/// kept out of line.
#[cold]
#[inline(never)]
fn fractional_time(raw: &str) -> Result<i64, BadClaim> {
    match serde_json::from_str::<f64>(raw) {
        Ok(v) if v.is_finite() => Ok(v.floor() as i64),
        _ => Err(BadClaim),
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
    /// A string or a list of strings, told apart by the first byte. Out of line: one copy
    /// serves the audience, client-id and scopes claims.
    #[inline(never)]
    fn parse(raw: &'a str) -> Result<Self, BadClaim> {
        match raw.as_bytes().first() {
            Some(b'"') => json::string(raw).map(OneOrMany::One),
            Some(b'[') => json::strings(raw).map(OneOrMany::Many),
            _ => None,
        }
        .ok_or(BadClaim)
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

    /// A header is parsed once and then found by its exact bytes; unsupported algorithms are
    /// not kept; `crit` is refused; the cache stays bounded under a flood of distinct headers.
    #[test]
    fn header_cache_is_exact_and_bounded() {
        let enc = |json: &str| base64_simd::URL_SAFE_NO_PAD.encode_to_string(json);
        let cache = HeaderCache::default();
        let h = enc(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#);
        let first = cache.get(h.as_bytes()).unwrap();
        assert_eq!(first.alg, Some(Algorithm::RS256));
        assert_eq!(first.kid.as_deref(), Some("k1"));
        let again = cache.get(h.as_bytes()).unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again));
        assert_eq!(cache.len(), 1);
        // Another kid is another header.
        let other = cache
            .get(enc(r#"{"alg":"RS256","kid":"k2"}"#).as_bytes())
            .unwrap();
        assert_eq!(other.kid.as_deref(), Some("k2"));
        assert_eq!(cache.len(), 2);
        // Unsupported algorithms are parsed (for the refusal) but not kept.
        let none = cache.get(enc(r#"{"alg":"none"}"#).as_bytes()).unwrap();
        assert_eq!((none.alg, &*none.alg_name), (None, "none"));
        assert_eq!(cache.len(), 2);
        assert!(matches!(
            cache.get(enc(r#"{"alg":"RS256","crit":["b64"]}"#).as_bytes()),
            Err(Malformed::CriticalHeader)
        ));
        assert!(matches!(
            cache.get(enc(r#"{"alg":"RS256","crit":null}"#).as_bytes()),
            Err(Malformed::CriticalHeader)
        ));
        assert!(matches!(
            cache.get(enc(r#"{"alg":7}"#).as_bytes()),
            Err(Malformed::Json { part: "header" })
        ));
        assert!(matches!(
            cache.get(b"e30=").err(),
            Some(Malformed::Base64 { part: "header" })
        ));
        for i in 0..100 {
            let h = enc(&format!(r#"{{"alg":"ES256","kid":"flood-{i}"}}"#));
            assert_eq!(
                cache.get(h.as_bytes()).unwrap().kid.as_deref(),
                Some(&*format!("flood-{i}"))
            );
            assert!(cache.len() <= HeaderCache::SLOTS);
        }
        assert_eq!(cache.len(), HeaderCache::SLOTS);
        // Evicted or not, the first header still parses to the same thing.
        assert_eq!(cache.get(h.as_bytes()).unwrap().kid.as_deref(), Some("k1"));
    }

    #[test]
    fn standard_claims_sit_at_their_constants() {
        let names = ClaimNames::new(["cid", "iss", "scope", "roles"]);
        for (i, name) in STANDARD_CLAIMS.iter().enumerate() {
            assert_eq!(names.position(name), Some(i), "{name}");
            assert_eq!(&*names.names[i], *name);
        }
        for (name, at) in [
            ("iss", ISS),
            ("exp", EXP),
            ("nbf", NBF),
            ("iat", IAT),
            ("aud", AUD),
        ] {
            assert_eq!(names.position(name), Some(at));
        }
        for (i, name) in DEFAULT_CONSUMER_KEY_CLAIMS.iter().enumerate() {
            assert_eq!(names.position(name), Some(5 + i));
        }
        assert_eq!(names.position("cid"), Some(9));
        assert_eq!(names.position("roles"), Some(10));
        assert_eq!(names.names.len(), 11);
        assert_eq!(names.position("sub"), None);
        assert_eq!(names.position("ISS"), None);
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
