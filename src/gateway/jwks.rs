//! Signing keys: parsed once per key-set refresh into aws-lc `ParsedPublicKey`s, one per
//! algorithm the key's type allows, so that verification never re-parses a key.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::config::PemKey;
use crate::key_manager::{Jwk, JwkSet};

use super::token::Algorithm;

/// What a key is, which decides the algorithms it verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "an RSA key",
            KeyKind::P256 => "an EC P-256 key",
            KeyKind::P384 => "an EC P-384 key",
            KeyKind::Ed25519 => "an Ed25519 key",
        }
    }

    fn algorithms(self) -> &'static [Algorithm] {
        use Algorithm::*;
        match self {
            KeyKind::Rsa => &[RS256, RS384, RS512, PS256, PS384, PS512],
            KeyKind::P256 => &[ES256],
            KeyKind::P384 => &[ES384],
            KeyKind::Ed25519 => &[EdDSA],
        }
    }
}

fn verification(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
    }
}

/// One verification key with its parsed forms.
pub(crate) struct VerifyingKey {
    /// Its number in its key manager's cache, kept across refreshes while the same key (same
    /// `kid`, type, pinned `alg` and material) is served; a cached decision records it.
    pub id: u32,
    /// The public key as parsed (DER), to tell the same key from a new one under an old `kid`.
    material: Box<[u8]>,
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// The key's own `alg`, when the JWK pins one.
    pub pinned: Option<Algorithm>,
    parsed: [Option<ParsedPublicKey>; 9],
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("pinned", &self.pinned)
            .finish()
    }
}

/// Why a token's algorithm cannot be used with a key.
#[derive(Debug)]
pub(crate) enum Unfit {
    /// The key's type or pinned `alg` excludes the token's `alg`.
    Mismatch,
}

impl VerifyingKey {
    fn build(
        kid: Option<String>,
        kind: KeyKind,
        pinned: Option<Algorithm>,
        der: &[u8],
    ) -> Result<Self, String> {
        let mut parsed: [Option<ParsedPublicKey>; 9] = Default::default();
        for &alg in kind.algorithms() {
            if pinned.is_some_and(|p| p != alg) {
                continue;
            }
            let key = ParsedPublicKey::new(verification(alg), der)
                .map_err(|e| format!("{} rejected: {e}", kind.name()))?;
            parsed[alg.index()] = Some(key);
        }
        if parsed.iter().all(Option::is_none) {
            return Err(format!("{} cannot verify its pinned alg", kind.name()));
        }
        Ok(Self {
            id: 0,
            material: der.into(),
            kid,
            kind,
            pinned,
            parsed,
        })
    }

    fn is_same_key(&self, other: &VerifyingKey) -> bool {
        self.kid == other.kid
            && self.kind == other.kind
            && self.pinned == other.pinned
            && self.material == other.material
    }

    /// The parsed key for `alg`, or why the algorithm does not fit this key.
    pub(crate) fn for_alg(&self, alg: Algorithm) -> Result<&ParsedPublicKey, Unfit> {
        self.parsed[alg.index()].as_ref().ok_or(Unfit::Mismatch)
    }

    /// From a JWK. Keys marked for encryption are skipped by the caller.
    pub(crate) fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        let pinned = match jwk.alg.as_deref() {
            None => None,
            Some(name) => Some(
                Algorithm::from_name(name).ok_or_else(|| format!("unsupported alg {name:?}"))?,
            ),
        };
        let field = |v: &Option<String>, name: &str| -> Result<Vec<u8>, String> {
            let text = v.as_deref().ok_or_else(|| format!("missing {name}"))?;
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| format!("{name} is not base64url"))
        };
        let (kind, der) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => (
                KeyKind::Rsa,
                rsa_public_key_der(&field(&jwk.n, "n")?, &field(&jwk.e, "e")?),
            ),
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let (kind, size) = if crv == "P-256" {
                    (KeyKind::P256, 32)
                } else {
                    (KeyKind::P384, 48)
                };
                let (x, y) = (field(&jwk.x, "x")?, field(&jwk.y, "y")?);
                // RFC 7518 6.2.1.2: full-size coordinates. Checked apart, or a byte moved
                // from x to y would still make a valid point.
                if x.len() != size || y.len() != size {
                    return Err(format!(
                        "{} needs x and y of {size} bytes each",
                        kind.name()
                    ));
                }
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (kind, point)
            }
            ("OKP", Some("Ed25519")) => (KeyKind::Ed25519, field(&jwk.x, "x")?),
            (kty, crv) => return Err(format!("unsupported key type {kty} {crv:?}")),
        };
        Self::build(jwk.kid.clone(), kind, pinned, &der)
    }

    /// From a PEM SubjectPublicKeyInfo; the key type is read from its algorithm identifier.
    pub(crate) fn from_pem(key: &PemKey) -> Result<Self, String> {
        let body: String = key
            .pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----"))
            .collect();
        if !key.pem.contains("-----BEGIN PUBLIC KEY-----") {
            return Err("expected a -----BEGIN PUBLIC KEY----- block".to_owned());
        }
        let der = STANDARD
            .decode(body)
            .map_err(|_| "the PEM body is not base64".to_owned())?;
        let has = |oid: &[u8]| der.windows(oid.len()).any(|w| w == oid);
        const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
        const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
        let kind = if has(RSA) {
            KeyKind::Rsa
        } else if has(P256) {
            KeyKind::P256
        } else if has(P384) {
            KeyKind::P384
        } else if has(ED25519) {
            KeyKind::Ed25519
        } else {
            return Err("unsupported public key algorithm".to_owned());
        };
        Self::build(key.kid.clone(), kind, None, &der)
    }
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017).
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, bytes: &[u8]) {
        let bytes = match bytes.iter().position(|b| *b != 0) {
            Some(i) => &bytes[i..],
            None => &[0][..],
        };
        let pad = bytes[0] & 0x80 != 0;
        out.push(0x02);
        length(out, bytes.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(bytes);
    }
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(0x30);
    length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// A key manager's keys as last fetched.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    pub keys: Vec<VerifyingKey>,
    /// Keys of the fetched set that could not be used, with why (for `explain`).
    pub skipped: Vec<(Option<String>, String)>,
}

impl KeySet {
    pub(crate) fn from_jwks(set: &JwkSet) -> Self {
        let mut out = KeySet::default();
        for jwk in &set.keys {
            if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            match VerifyingKey::from_jwk(jwk) {
                Ok(key) => out.keys.push(key),
                Err(why) => out.skipped.push((jwk.kid.clone(), why)),
            }
        }
        out
    }

    pub(crate) fn from_pem(keys: &[PemKey]) -> Result<Self, String> {
        let keys = keys
            .iter()
            .map(VerifyingKey::from_pem)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeySet {
            keys,
            skipped: Vec::new(),
        })
    }
}

/// One key manager's key cache: the current set, when it was fetched, and the rate limit on
/// fetching it again.
#[derive(Debug)]
pub(crate) struct KeyCache {
    pub set: ArcSwap<KeySet>,
    /// Fixed keys (PEM) are never refetched.
    pub fixed: bool,
    pub loaded: AtomicBool,
    /// When a fetch was last attempted (successful or not) and last succeeded.
    pub times: Mutex<FetchTimes>,
    /// One fetch at a time per key manager.
    pub single_flight: tokio::sync::Mutex<()>,
    /// The next key number ([`VerifyingKey::id`]).
    next_id: AtomicU32,
    /// Bumped after a refresh that dropped a key: decisions memoized before are stale.
    epoch: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct FetchTimes {
    pub attempted: Option<Instant>,
    pub succeeded: Option<Instant>,
    pub last_error: Option<String>,
}

impl KeyCache {
    pub(crate) fn fetched(fixed: Option<KeySet>) -> Self {
        let is_fixed = fixed.is_some();
        let mut set = fixed.unwrap_or_default();
        for (id, key) in set.keys.iter_mut().enumerate() {
            key.id = id as u32;
        }
        Self {
            loaded: AtomicBool::new(is_fixed),
            next_id: AtomicU32::new(set.keys.len() as u32),
            set: ArcSwap::from_pointee(set),
            fixed: is_fixed,
            times: Mutex::new(FetchTimes::default()),
            single_flight: tokio::sync::Mutex::new(()),
            epoch: AtomicU64::new(0),
        }
    }

    /// Whether the key numbered `id` is still in the set.
    pub(crate) fn holds(&self, id: u32) -> bool {
        self.current().keys.iter().any(|k| k.id == id)
    }

    /// How many refreshes dropped a key (read before [`KeyCache::holds`], acquiring).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The current keys, borrowed (no reference counted) while the guard lives.
    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.set.load()
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub(crate) fn times(&self) -> std::sync::MutexGuard<'_, FetchTimes> {
        self.times.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a fetch may start now: never for fixed keys, and at most once per `min_interval`.
    pub(crate) fn may_fetch(&self, min_interval: Duration) -> bool {
        !self.fixed
            && self
                .times()
                .attempted
                .is_none_or(|at| at.elapsed() >= min_interval)
    }

    /// Whether the set is older than `max_age` (or was never fetched).
    pub(crate) fn is_stale(&self, max_age: Duration) -> bool {
        !self.fixed
            && self
                .times()
                .succeeded
                .is_none_or(|at| at.elapsed() >= max_age)
    }

    /// Installs a fetched set (one fetch at a time): a key already held keeps its number, a
    /// new one gets the next; when a held key is gone, the epoch moves on after the new set is
    /// in place, so that a reader seeing the new epoch sees the new set.
    pub(crate) fn replace(&self, mut set: KeySet) {
        let old = self.set.load_full();
        for key in &mut set.keys {
            key.id = match old.keys.iter().find(|o| o.is_same_key(key)) {
                Some(o) => o.id,
                None => self.next_id.fetch_add(1, Ordering::Relaxed),
            };
        }
        let dropped = old
            .keys
            .iter()
            .any(|o| !set.keys.iter().any(|k| k.id == o.id));
        self.set.store(Arc::new(set));
        self.loaded.store(true, Ordering::Release);
        if dropped {
            self.epoch.fetch_add(1, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;

    /// Found with the `jwks` fuzz target's property (fuzz/corpus/jwks/ec-shifted.json): the
    /// coordinates were only checked together, so a byte moved from x to y was accepted.
    #[test]
    fn ec_jwk_coordinates_must_have_the_curve_size() {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let (x, y) = (&point[1..33], &point[33..]);
        let jwk = |x: &[u8], y: &[u8]| Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(x)),
            y: Some(URL_SAFE_NO_PAD.encode(y)),
            ..Jwk::default()
        };
        let key = VerifyingKey::from_jwk(&jwk(x, y)).unwrap();
        assert!(key.for_alg(Algorithm::ES256).is_ok());
        let shifted_y = [&x[31..], y].concat();
        let err = VerifyingKey::from_jwk(&jwk(&x[..31], &shifted_y)).unwrap_err();
        assert_eq!(err, "an EC P-256 key needs x and y of 32 bytes each");
        let shifted_x = [x, &y[..1]].concat();
        assert!(VerifyingKey::from_jwk(&jwk(&shifted_x, &y[1..])).is_err());
    }

    fn rsa_jwk(kid: &str) -> Jwk {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = pair.public_key();
        Jwk {
            kty: "RSA".into(),
            kid: Some(kid.into()),
            n: Some(URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero())),
            e: Some(URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero())),
            ..Jwk::default()
        }
    }

    /// A key keeps its number across refreshes while it is served unchanged; a new key, or a
    /// new key under an old `kid`, gets a new one; the epoch moves only when a key is dropped.
    #[test]
    fn key_numbers_survive_refreshes_and_drops_move_the_epoch() {
        let cache = KeyCache::fetched(None);
        let (a, b) = (rsa_jwk("a"), rsa_jwk("b"));
        let set = |keys: &[&Jwk]| {
            KeySet::from_jwks(&JwkSet {
                keys: keys.iter().map(|k| (*k).clone()).collect(),
            })
        };
        let ids =
            |cache: &KeyCache| -> Vec<u32> { cache.current().keys.iter().map(|k| k.id).collect() };
        cache.replace(set(&[&a]));
        let id_a = ids(&cache)[0];
        assert_eq!(cache.epoch(), 0);
        cache.replace(set(&[&b, &a]));
        let [id_b, again] = ids(&cache)[..] else {
            panic!()
        };
        assert_eq!(again, id_a);
        assert_ne!(id_b, id_a);
        assert_eq!(cache.epoch(), 0, "adding a key drops nothing");
        cache.replace(set(&[&a]));
        assert_eq!(cache.epoch(), 1);
        assert!(cache.holds(id_a) && !cache.holds(id_b));
        let replaced = rsa_jwk("a");
        cache.replace(set(&[&replaced]));
        assert_eq!(cache.epoch(), 2);
        assert!(
            !cache.holds(id_a),
            "a new key under the same kid is another key"
        );
    }

    #[test]
    fn rsa_jwk_binds_algorithms_to_the_key() {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = pair.public_key();
        let jwk = Jwk {
            kty: "RSA".into(),
            kid: Some("k1".into()),
            n: Some(URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero())),
            e: Some(URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero())),
            ..Jwk::default()
        };
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        assert!(key.for_alg(Algorithm::RS256).is_ok());
        assert!(key.for_alg(Algorithm::PS512).is_ok());
        assert!(key.for_alg(Algorithm::ES256).is_err());
        assert!(key.for_alg(Algorithm::EdDSA).is_err());
        let pinned = VerifyingKey::from_jwk(&Jwk {
            alg: Some("PS256".into()),
            ..jwk.clone()
        })
        .unwrap();
        assert!(pinned.for_alg(Algorithm::RS256).is_err());
        assert!(pinned.for_alg(Algorithm::PS256).is_ok());
        let msg = b"signed";
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            msg,
            &mut sig,
        )
        .unwrap();
        assert!(
            key.for_alg(Algorithm::RS256)
                .unwrap()
                .verify_sig(msg, &sig)
                .is_ok()
        );
        assert!(
            VerifyingKey::from_jwk(&Jwk {
                alg: Some("HS256".into()),
                ..jwk
            })
            .is_err()
        );
    }
}
