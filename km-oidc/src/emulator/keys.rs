//! Signing keys generated in-process with aws-lc-rs, JWS compact signing, and their JWKs.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyprov::Jwk;

/// A JWS signing algorithm the emulator signs access tokens with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    #[default]
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One signing key with its id.
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    pub(crate) alg: Alg,
    pair: Pair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `len` random bytes, base64url.
pub(crate) fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random generator is available");
    b64(&bytes)
}

impl SigningKey {
    pub(crate) fn generate(alg: Alg) -> Self {
        // Key generation only fails if the system RNG is broken; the emulator cannot run then.
        let pair = match alg {
            Alg::RS256 => Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa keygen")),
            Alg::ES256 => Pair::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec keygen"),
            ),
            Alg::EdDSA => Pair::Ed(Ed25519KeyPair::generate().expect("ed25519 keygen")),
        };
        Self {
            kid: format!("{}-{}", alg.as_str().to_lowercase(), random_token(6)),
            alg,
            pair,
        }
    }

    /// A compact JWS of `claims` with this key; `typ` goes in the header.
    pub(crate) fn sign(&self, typ: &str, claims: &serde_json::Value) -> String {
        let header = serde_json::json!({"alg": self.alg.as_str(), "typ": typ, "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = match &self.pair {
            Pair::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .expect("rsa signing");
                sig
            }
            Pair::Ec(pair) => pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .expect("ecdsa signing")
                .as_ref()
                .to_vec(),
            Pair::Ed(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(&signature))
    }

    /// The public key as a JWK with `use: sig`.
    pub(crate) fn jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            kid: Some(self.kid.clone()),
            use_: Some("sig".into()),
            alg: Some(self.alg.as_str().into()),
            ..Jwk::default()
        };
        match &self.pair {
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                jwk.kty = "RSA".into();
                jwk.n = Some(b64(public.modulus().big_endian_without_leading_zero()));
                jwk.e = Some(b64(public.exponent().big_endian_without_leading_zero()));
            }
            Pair::Ec(pair) => {
                // Uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = Some(b64(&point[1..33]));
                jwk.y = Some(b64(&point[33..65]));
            }
            Pair::Ed(pair) => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64(pair.public_key().as_ref()));
            }
        }
        jwk
    }
}
