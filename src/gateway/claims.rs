//! The claims of a token: the raw text of the few the resolution reads, by position.

use std::borrow::Cow;

use super::json;
use super::refusal::Malformed;

/// The claims the resolution may read: the standard ones plus every configured consumer-key
/// and scopes claim, by position in [`ClaimNames`], as raw JSON text. Other claims are
/// validated and skipped.
#[derive(Debug)]
pub(crate) struct Claims<'a> {
    values: Slots<'a>,
    /// Bit `i`: slot `i` holds a string without escapes (see [`json::object`]).
    plain: u64,
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

/// The default consumer-key chain (step 6 of the [resolution](crate::guide::gateway)). Never `sub`.
pub(crate) const DEFAULT_CONSUMER_KEY_CLAIMS: [&str; 3] = ["azp", "client_id", "clientId"];

/// The names every gateway reads, at fixed positions (the constants above, then the default
/// consumer-key chain, then `scope`).
pub const STANDARD_CLAIMS: [&str; 9] = [
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
    let plain =
        json::object(bytes, |n| names.position(n), values.as_mut_slice()).map_err(|e| match e {
            json::Invalid::Duplicate(slot) => Malformed::DuplicateMember {
                part: "payload",
                name: names.names[slot].to_string(),
            },
            json::Invalid::Syntax => Malformed::Json { part: "payload" },
        })?;
    Ok(Claims { values, plain })
}

/// A claim whose value has the wrong type.
#[derive(Debug)]
pub(crate) struct BadClaim;

impl<'a> Claims<'a> {
    pub(crate) fn raw(&self, index: usize) -> Option<&'a str> {
        self.values.as_slice().get(index).copied().flatten()
    }

    /// The claim's raw text, and whether it is a string without escapes.
    fn raw_plain(&self, index: usize) -> Option<(&'a str, bool)> {
        let plain = index < 64 && self.plain & (1 << index) != 0;
        self.raw(index).map(|raw| (raw, plain))
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
        match self.raw_plain(index) {
            None => Ok(None),
            Some((raw, true)) => Ok(Some(Cow::Borrowed(unquoted(raw)))),
            Some((raw, false)) => json::string(raw).map(Some).ok_or(BadClaim),
        }
    }

    /// A string, or the first element of a list of strings (step 6 of the [resolution](crate::guide::gateway)).
    pub(crate) fn string_or_first(&self, index: usize) -> Result<Option<Cow<'a, str>>, BadClaim> {
        match self.raw_plain(index) {
            None => Ok(None),
            Some(raw) => match OneOrMany::parse(raw) {
                Ok(OneOrMany::One(s)) => Ok(Some(s)),
                Ok(OneOrMany::Many(list)) => Ok(list.into_iter().next()),
                Err(_) => Err(BadClaim),
            },
        }
    }

    /// Scopes: a space-separated string or a list of strings, kept as one string.
    pub(crate) fn scopes(&self, index: usize) -> Result<super::Scopes, BadClaim> {
        match self.raw_plain(index) {
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
        match self.raw_plain(index) {
            None => Ok(Audience::None),
            Some(raw) => match OneOrMany::parse(raw)? {
                OneOrMany::One(s) => Ok(Audience::one(&s)),
                OneOrMany::Many(list) => {
                    Ok(Audience::Many(list.into_iter().map(Box::from).collect()))
                }
            },
        }
    }

    /// A space-separated string or a list of strings.
    #[cfg(test)]
    pub(crate) fn list(&self, index: usize, split_spaces: bool) -> Result<Vec<String>, BadClaim> {
        match self.raw_plain(index) {
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

/// A token's `aud`, kept without allocating in the usual case of one short value.
#[derive(Debug, Default)]
pub(crate) enum Audience {
    #[default]
    None,
    /// One value of at most [`INLINE_AUDIENCE`] bytes, held inline.
    Short {
        len: u8,
        bytes: [u8; INLINE_AUDIENCE],
    },
    One(Box<str>),
    Many(Box<[Box<str>]>),
}

/// The longest single audience held inline (`https://api.example.com/orders/v1` fits; the
/// verified-token cache's entry is sized for it).
pub(crate) const INLINE_AUDIENCE: usize = 38;

impl Audience {
    fn one(value: &str) -> Self {
        match u8::try_from(value.len()) {
            Ok(len) if value.len() <= INLINE_AUDIENCE => {
                let mut bytes = [0; INLINE_AUDIENCE];
                bytes[..value.len()].copy_from_slice(value.as_bytes());
                Audience::Short { len, bytes }
            }
            _ => Audience::One(value.into()),
        }
    }

    pub(crate) fn contains(&self, value: &str) -> bool {
        match self {
            Audience::None => false,
            Audience::Short { len, bytes } => bytes[..usize::from(*len)] == *value.as_bytes(),
            Audience::One(one) => **one == *value,
            Audience::Many(list) => list.iter().any(|a| **a == *value),
        }
    }
}

/// The text between the quotes of a string the scanner validated.
fn unquoted(raw: &str) -> &str {
    &raw[1..raw.len() - 1]
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
    /// A string or a list of strings, told apart by the first byte; `plain` when the scanner
    /// saw a string without escapes. Out of line: one copy serves the audience, client-id
    /// and scopes claims.
    #[inline(never)]
    fn parse((raw, plain): (&'a str, bool)) -> Result<Self, BadClaim> {
        if plain {
            return Ok(OneOrMany::One(Cow::Borrowed(unquoted(raw))));
        }
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
        assert_eq!(
            claims(br#"{"cid":1,"iss":"a","cid":2}"#, &names).err(),
            Some(Malformed::DuplicateMember {
                part: "payload",
                name: "cid".into()
            })
        );
        assert_eq!(
            claims(br#"{"iss":"a","iss":"b"}"#, &names).err(),
            Some(Malformed::DuplicateMember {
                part: "payload",
                name: "iss".into()
            })
        );
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

    /// An audience is matched exactly, whether held inline (up to the limit), boxed (longer)
    /// or as one of a list; a prefix, an extension or a different case never matches.
    #[test]
    fn audience_matches_exactly_inline_or_boxed() {
        let names = ClaimNames::new([]);
        let aud = |json: &str| {
            let payload = format!(r#"{{"aud":{json}}}"#);
            claims(payload.as_bytes(), &names)
                .unwrap()
                .audience(AUD)
                .unwrap()
        };
        let at_limit = "a".repeat(INLINE_AUDIENCE);
        let over = "b".repeat(INLINE_AUDIENCE + 1);
        let cases = [
            (format!("{at_limit:?}"), at_limit.clone()),
            (format!("{over:?}"), over.clone()),
            (r#""account""#.to_owned(), "account".to_owned()),
            (r#"["x","account"]"#.to_owned(), "account".to_owned()),
        ];
        for (json, value) in &cases {
            let audience = aud(json);
            assert!(audience.contains(value), "{json}");
            assert!(!audience.contains(&format!("{value}x")), "{json}");
            assert!(!audience.contains(&value[1..]), "{json}");
            assert!(!audience.contains(&value[..value.len() - 1]), "{json}");
            assert!(!audience.contains(&value.to_uppercase()), "{json}");
        }
        assert!(matches!(
            aud(&format!("{at_limit:?}")),
            Audience::Short { .. }
        ));
        assert!(matches!(aud(&format!("{over:?}")), Audience::One(_)));
        let empty = aud(r#""""#);
        assert!(empty.contains("") && !empty.contains("a"));
        assert!(!aud(r#""account""#).contains(""));
        assert!(!Audience::None.contains(""));
    }
}
