//! Wire types of the standard endpoints, and key selection.

use keyprov::{ClientInfo, ConsumerKey, Jwk, JwkSet};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The members of a discovery document this crate uses; the rest is kept in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer.
    pub issuer: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// Key set.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Introspection endpoint.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// Registration endpoint.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// Supported token endpoint auth methods.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Every other member.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A client's registered metadata (RFC 7591 §3.2.1 / RFC 7592 §3). Secrets it may carry are
/// redacted from `Debug`.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct ClientRegistration {
    /// The client id.
    pub client_id: String,
    /// The secret, when the server returns it.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<SecretString>,
    /// 0 or absent: never expires.
    #[serde(default)]
    pub client_secret_expires_at: Option<i64>,
    /// For RFC 7592 calls.
    #[serde(default, skip_serializing)]
    pub registration_access_token: Option<SecretString>,
    /// For RFC 7592 calls.
    #[serde(default)]
    pub registration_client_uri: Option<String>,
    /// The name.
    #[serde(default)]
    pub client_name: Option<String>,
    /// Grant types; RFC 7591 says absent means `authorization_code`.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// Redirect URIs.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// `none` means public.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Every other member.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("registration_client_uri", &self.registration_client_uri)
            .field("client_name", &self.client_name)
            .field("grant_types", &self.grant_types)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .finish_non_exhaustive()
    }
}

impl ClientRegistration {
    /// What the metadata says about the client's usability (step 2 of
    /// [P4](keyprov::guide::provisioning#p4-validation-against-the-key-manager)).
    pub fn to_client_info(&self, key: &ConsumerKey) -> ClientInfo {
        let mut info = ClientInfo::new(key.clone());
        info.client_name = self.client_name.clone();
        info.grant_types = Some(
            self.grant_types
                .clone()
                .unwrap_or_else(|| vec!["authorization_code".to_owned()]),
        );
        info.confidential = Some(self.token_endpoint_auth_method.as_deref() != Some("none"));
        info.secret_expires_at = self
            .client_secret_expires_at
            .filter(|at| *at > 0)
            .and_then(|at| chrono::DateTime::from_timestamp(at, 0));
        info.redirect_uris = self.redirect_uris.clone().unwrap_or_default();
        if let Some(method) = &self.token_endpoint_auth_method {
            info.additional
                .insert("token_endpoint_auth_method".into(), method.clone());
        }
        if let Some(scope) = &self.scope {
            info.additional.insert("scope".into(), scope.clone());
        }
        info
    }
}

/// Keys usable to verify signatures: `use` absent or `sig`.
pub fn signing_keys(set: &JwkSet) -> impl Iterator<Item = &Jwk> {
    set.keys
        .iter()
        .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
}

/// The signing key with this `kid`; without a `kid`, the only signing key if there is one.
pub fn find_signing_key<'a>(set: &'a JwkSet, kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => signing_keys(set).find(|k| k.kid.as_deref() == Some(kid)),
        None => {
            let mut keys = signing_keys(set);
            let first = keys.next();
            if keys.next().is_some() { None } else { first }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, use_: Option<&str>) -> Jwk {
        Jwk {
            kty: "RSA".into(),
            kid: Some(kid.into()),
            use_: use_.map(str::to_owned),
            ..Jwk::default()
        }
    }

    #[test]
    fn keys_are_selected_by_kid_and_use() {
        let set = JwkSet {
            keys: vec![key("a", Some("enc")), key("a", Some("sig")), key("b", None)],
        };
        assert_eq!(
            find_signing_key(&set, Some("a")).unwrap().use_.as_deref(),
            Some("sig")
        );
        assert!(find_signing_key(&set, Some("c")).is_none());
        assert!(
            find_signing_key(&set, None).is_none(),
            "ambiguous without kid"
        );
    }

    #[test]
    fn registration_metadata_follows_rfc7591_defaults() {
        let reg: ClientRegistration = serde_json::from_str(
            r#"{"client_id":"c","client_secret":"s3cret","token_endpoint_auth_method":"none"}"#,
        )
        .unwrap();
        let info = reg.to_client_info(&ConsumerKey::new("c").unwrap());
        assert_eq!(
            info.grant_types,
            Some(vec!["authorization_code".to_owned()])
        );
        assert_eq!(info.confidential, Some(false));
        assert!(!format!("{reg:?}").contains("s3cret"));
    }
}
