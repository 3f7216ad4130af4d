//! The consumer secret, held so that it cannot leak by accident.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// An OAuth2 client secret supplied by a caller.
///
/// It prints as `[redacted]` in `Debug` and `Display`, is not `Serialize`, and is zeroized on
/// drop. The library never stores it ([P5](crate::guide::provisioning#p5-what-is-stored)); it only passes it to the key manager to
/// prove it, or to obtain a token.
#[derive(Clone)]
pub struct ConsumerSecret(SecretString);

impl ConsumerSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(SecretString::from(secret.into()))
    }

    /// The secret text, for the one place that must send it to a key manager.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Checks the secret as caller input, without ever quoting it: at most
    /// [`ConsumerSecret::MAX_LEN`] bytes, no control characters.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for `consumerSecret`, saying why.
    pub fn check(&self) -> crate::Result<()> {
        let text = self.expose();
        if text.len() > Self::MAX_LEN {
            return Err(crate::Error::invalid(
                "consumerSecret",
                format!(
                    "must be at most {} bytes, got {}",
                    Self::MAX_LEN,
                    text.len()
                ),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(crate::Error::invalid(
                "consumerSecret",
                "must not contain control characters",
            ));
        }
        Ok(())
    }

    /// The longest secret accepted, in bytes (WSO2 IS and Keycloak generate 32 to 64
    /// characters; a key manager may allow longer ones).
    pub const MAX_LEN: usize = 1024;

    /// Whether the secret is empty or blank.
    pub fn is_blank(&self) -> bool {
        self.expose().trim().is_empty()
    }

    /// Compares with `other` in time independent of where they differ (the lengths may leak).
    pub fn matches(&self, other: &str) -> bool {
        let (a, b) = (self.expose().as_bytes(), other.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for ConsumerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsumerSecret([redacted])")
    }
}

impl fmt::Display for ConsumerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for ConsumerSecret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for ConsumerSecret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl<'de> serde::Deserialize<'de> for ConsumerSecret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let secret = ConsumerSecret::new("s3cr3t-value");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert!(!format!("{secret:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", Some(&secret)).contains("s3cr3t"));
    }

    #[test]
    fn compares_exactly() {
        let secret = ConsumerSecret::new("abc");
        assert!(secret.matches("abc"));
        assert!(!secret.matches("abd"));
        assert!(!secret.matches("ab"));
        assert!(!secret.matches(""));
    }
}
