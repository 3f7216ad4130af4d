//! Checks shared by the fuzz targets: the gateway's claims reading against serde_json.

use keyprov::gateway::__fuzz::{Claims, WrongType};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// The claims every gateway keeps, in their slot order.
pub use keyprov::gateway::__fuzz::STANDARD_CLAIMS as STANDARD;

/// Configured extras: few (slots on the stack), or enough to pass 16 slots (on the heap).
/// Some need escapes to match, one repeats a standard name.
pub const FEW_EXTRA: [&str; 5] = ["cid", "roles", "a\"b", "é", "iss"];
pub const MANY_EXTRA: [&str; 12] = [
    "cid", "roles", "a\"b", "é", "sub", "jti", "typ", "tenant", "x\\y", "tab\t", "k1", "k2",
];

/// The gateway's nesting limit (`json::MAX_DEPTH`), the top-level object included.
pub const MAX_DEPTH: usize = 128;

/// Every member of a JSON object with its raw value, in order, as serde_json reads it;
/// `None` when serde_json refuses the text as one object.
pub fn members(text: &str) -> Option<Vec<(String, &RawValue)>> {
    struct Seed;
    impl<'de> DeserializeSeed<'de> for Seed {
        type Value = Vec<(String, &'de RawValue)>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Seed {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                out.push((key, map.next_value::<&'de RawValue>()?));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let out = Seed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(out)
}

/// The deepest nesting of arrays and objects in valid JSON text.
pub fn depth(text: &str) -> usize {
    let (mut level, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                level += 1;
                deepest = deepest.max(level);
            }
            b']' | b'}' => level = level.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A string value as serde_json reads it.
fn string(raw: &str) -> Option<String> {
    serde_json::from_str::<String>(raw).ok()
}

/// A string, or a list of strings, as serde_json reads it.
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn one_or_many(raw: &str) -> Option<OneOrMany> {
    match serde_json::from_str::<Value>(raw).ok()? {
        Value::String(s) => Some(OneOrMany::One(s)),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(OneOrMany::Many),
        _ => None,
    }
}

/// Checks the gateway's reading of a token payload against serde_json:
/// - the scanner accepts exactly when serde_json reads the text as one object, the text is
///   UTF-8, no kept claim appears twice, and nesting is within the limit (the documented
///   differences, all stricter);
/// - every kept claim's raw text is serde_json's raw value of that member;
/// - every typed reading (string, NumericDate, string-or-first, scopes, audience) gives what
///   serde_json's value gives.
pub fn check_claims(payload: &[u8], many: bool) {
    let extra: &[&str] = if many { &MANY_EXTRA } else { &FEW_EXTRA };
    let names: Vec<&str> = STANDARD
        .iter()
        .chain(extra)
        .copied()
        .fold(Vec::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        });
    let ours = Claims::parse(payload, extra);
    let text = std::str::from_utf8(payload).ok();
    let reference = text.and_then(members);
    let expected = match (&reference, text) {
        (Some(members), Some(text)) => {
            let duplicated = names
                .iter()
                .any(|n| members.iter().filter(|(k, _)| k == n).count() > 1);
            !duplicated && depth(text) <= MAX_DEPTH
        }
        _ => false,
    };
    assert_eq!(
        ours.is_some(),
        expected,
        "scanner and serde_json disagree on accepting {:?}",
        String::from_utf8_lossy(payload)
    );
    let (Some(ours), Some(members)) = (ours, reference) else {
        return;
    };
    for name in &names {
        let slot = ours
            .slot(name)
            .unwrap_or_else(|| panic!("{name} has no slot"));
        let raw = members
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.get());
        assert_eq!(ours.raw(slot), raw, "raw value of {name}");
        check_typed(&ours, slot, name, raw);
    }
    // A member that is not kept has no slot.
    assert_eq!(ours.slot("not-a-kept-claim"), None);
}

fn check_typed(ours: &Claims<'_>, slot: usize, name: &str, raw: Option<&str>) {
    let Some(raw) = raw else {
        assert_eq!(ours.string(slot), Ok(None), "{name}");
        assert_eq!(ours.time(slot), Ok(None), "{name}");
        assert_eq!(ours.string_or_first(slot), Ok(None), "{name}");
        assert_eq!(ours.scopes(slot), Ok(String::new()), "{name}");
        assert_eq!(ours.audience_contains(slot, ""), Ok(false), "{name}");
        return;
    };
    let want_string = if raw.starts_with('"') {
        string(raw).ok_or(WrongType)
    } else {
        Err(WrongType)
    };
    assert_eq!(
        ours.string(slot),
        want_string.map(Some),
        "string {name}: {raw}"
    );

    let want_time = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Some(f.floor() as i64)),
            _ => Err(WrongType),
        },
        _ => Err(WrongType),
    };
    assert_eq!(ours.time(slot), want_time, "time {name}: {raw}");

    let listed = one_or_many(raw);
    let want_first = match &listed {
        Some(OneOrMany::One(s)) => Ok(Some(s.clone())),
        Some(OneOrMany::Many(list)) => Ok(list.first().cloned()),
        None => Err(WrongType),
    };
    assert_eq!(
        ours.string_or_first(slot),
        want_first,
        "first {name}: {raw}"
    );

    let joined = |items: &[String]| {
        items
            .iter()
            .flat_map(|s| s.split_ascii_whitespace())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let want_scopes = match &listed {
        Some(OneOrMany::One(s)) => Ok(joined(std::slice::from_ref(s))),
        Some(OneOrMany::Many(list)) => Ok(joined(list)),
        None => Err(WrongType),
    };
    assert_eq!(ours.scopes(slot), want_scopes, "scopes {name}: {raw}");

    match &listed {
        None => assert_eq!(
            ours.audience_contains(slot, ""),
            Err(WrongType),
            "aud {name}: {raw}"
        ),
        Some(OneOrMany::One(s)) => {
            assert_eq!(
                ours.audience_contains(slot, s),
                Ok(true),
                "aud {name}: {raw}"
            );
            let other = format!("{s}x");
            assert_eq!(ours.audience_contains(slot, &other), Ok(false), "aud {raw}");
            if let Some((last, _)) = s.char_indices().last() {
                assert_eq!(ours.audience_contains(slot, &s[..last]), Ok(false), "{raw}");
            }
        }
        Some(OneOrMany::Many(list)) => {
            for s in list {
                assert_eq!(
                    ours.audience_contains(slot, s),
                    Ok(true),
                    "aud {name}: {raw}"
                );
            }
            let absent = format!("{}x", list.concat());
            assert_eq!(ours.audience_contains(slot, &absent), Ok(false), "{raw}");
        }
    }
}

/// Whether an error message follows the house style: starts lowercase, no trailing period.
pub fn is_house_style(message: &str) -> bool {
    !message.starts_with(|c: char| c.is_uppercase()) && !message.ends_with('.')
}
