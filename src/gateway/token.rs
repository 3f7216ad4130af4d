//! Reading a bearer token: the compact JWS form, its header and the claims the resolution
//! needs, parsed once with borrowed values (no allocation per claim).

use std::fmt;
use std::mem::MaybeUninit;

use base64_simd::Out;

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

/// Room for the decoded payload and signature, left uninitialized: the decoder writes every
/// byte it hands back, so nothing is zeroed first (2 KB of zeroes per token was measurable).
pub(crate) type Scratch = [MaybeUninit<u8>; INLINE_DECODED];

/// A fresh [`Scratch`].
pub(crate) fn scratch() -> Scratch {
    [const { MaybeUninit::uninit() }; INLINE_DECODED]
}

/// The payload and signature decoded into one buffer: the caller's stack buffer when they
/// fit, else a heap buffer. (The header is decoded apart, and only when
/// [`HeaderCache`](super::header::HeaderCache) does not know it.)
pub(crate) struct Decoded<'b> {
    payload: &'b [u8],
    signature: &'b [u8],
}

impl<'b> Decoded<'b> {
    /// Decodes with SIMD (three times faster than scalar on a typical token); padding,
    /// characters outside base64url and non-canonical trailing bits are refused.
    pub(crate) fn new(
        c: &Compact<'_>,
        stack: &'b mut Scratch,
        heap: &'b mut Vec<u8>,
    ) -> Result<Self, Malformed> {
        let (p, s) = (
            decoded_len(c.payload, "payload")?,
            decoded_len(c.signature, "signature")?,
        );
        let total = p + s;
        let buf: &'b mut [MaybeUninit<u8>] = if total <= INLINE_DECODED {
            &mut stack[..total]
        } else {
            heap.reserve_exact(total);
            &mut heap.spare_capacity_mut()[..total]
        };
        let (pb, sb) = buf.split_at_mut(p);
        Ok(Self {
            payload: decode_part(c.payload, Out::from_uninit_slice(pb), "payload")?,
            signature: decode_part(c.signature, Out::from_uninit_slice(sb), "signature")?,
        })
    }

    pub(crate) fn payload(&self) -> &'b [u8] {
        self.payload
    }

    pub(crate) fn signature(&self) -> &'b [u8] {
        self.signature
    }
}

pub(crate) fn decoded_len(part: &[u8], which: &'static str) -> Result<usize, Malformed> {
    base64_simd::URL_SAFE_NO_PAD
        .decoded_length(part)
        .map_err(|_| Malformed::Base64 { part: which })
}

/// One part, decoded into exactly its decoded length. Out of line: one copy of the decoder's
/// entry code serves the three parts.
#[inline(never)]
pub(crate) fn decode_part<'o>(
    src: &[u8],
    out: Out<'o, [u8]>,
    part: &'static str,
) -> Result<&'o mut [u8], Malformed> {
    base64_simd::URL_SAFE_NO_PAD
        .decode(src, out)
        .map_err(|_| Malformed::Base64 { part })
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
}
