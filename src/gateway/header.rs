//! The JOSE header: parsed once per distinct header and remembered by its exact bytes.

use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use base64_simd::Out;

use super::json;
use super::refusal::Malformed;
use super::token::{Algorithm, decode_part, decoded_len};

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
    let mut stack = [const { MaybeUninit::uninit() }; 512];
    let mut heap = Vec::new();
    let len = decoded_len(encoded, "header")?;
    let room: &mut [MaybeUninit<u8>] = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.reserve_exact(len);
        &mut heap.spare_capacity_mut()[..len]
    };
    let bytes = decode_part(encoded, Out::from_uninit_slice(room), "header")?;
    let bad = || Malformed::Json { part: "header" };
    let slot = |name: &str| match name {
        "alg" => Some(0),
        "kid" => Some(1),
        "crit" => Some(2),
        _ => None,
    };
    let mut raw = [None; 3];
    json::object(bytes, slot, &mut raw).map_err(|_| bad())?;
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

/// A parsed header: borrowed from the cache (no reference counted), or just parsed.
pub(crate) enum Header {
    Cached(arc_swap::Guard<Arc<Vec<Arc<KnownHeader>>>>, usize),
    Fresh(Arc<KnownHeader>),
}

impl std::ops::Deref for Header {
    type Target = KnownHeader;
    fn deref(&self) -> &KnownHeader {
        match self {
            Header::Cached(slots, at) => &slots[*at],
            Header::Fresh(known) => known,
        }
    }
}

/// Headers already parsed, by their exact encoded bytes: an issuer signs its tokens with a
/// few headers (one per key), so each is decoded and parsed once. Bounded: at most
/// [`HeaderCache::SLOTS`] headers of at most [`HeaderCache::MAX_LEN`] bytes, with supported
/// algorithms only; when full, slots are replaced in turn (a flood of odd headers costs
/// parsing, never a wrong answer: a hit is an exact byte match).
#[derive(Debug, Default)]
pub(crate) struct HeaderCache {
    slots: ArcSwap<Vec<Arc<KnownHeader>>>,
    next: AtomicUsize,
}

impl HeaderCache {
    const SLOTS: usize = 16;
    const MAX_LEN: usize = 512;

    /// The parsed header of a token: from the cache, or decoded, parsed and remembered.
    pub(crate) fn get(&self, encoded: &[u8]) -> Result<Header, Malformed> {
        let slots = self.slots.load();
        if let Some(at) = slots.iter().position(|k| *k.encoded == *encoded) {
            return Ok(Header::Cached(slots, at));
        }
        drop(slots);
        let known = Arc::new(header(encoded)?);
        if known.alg.is_some() && encoded.len() <= Self::MAX_LEN {
            let at = self.next.fetch_add(1, Ordering::Relaxed) % Self::SLOTS;
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
        Ok(Header::Fresh(known))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.load().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(first, Header::Fresh(_)));
        let again = cache.get(h.as_bytes()).unwrap();
        // The second time, the very same parse, from the cache.
        assert!(matches!(again, Header::Cached(..)));
        assert!(std::ptr::eq(&*first, &*again));
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
}
