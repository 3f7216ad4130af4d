//! Configuration: the two global switches, each key manager's settings, the native TOML file,
//! and reading the global switches from an existing WSO2 `deployment.toml`.
//!
//! Native file (same key names as WSO2's):
//!
//! ```toml
//! [apim.devportal]
//! enable_key_provisioning = false
//!
//! [apim.key_manager]
//! enable_provisioned_app_validation = true
//!
//! [[key_managers]]
//! name = "IS"
//! type = "wso2is"                       # which adapter the embedding service builds
//! enable_map_oauth_consumer_apps = true # "Out Of Band Provisioning"
//! issuer = "https://is.example.com:9444/oauth2/token"
//!
//! [key_managers.connection]             # adapter settings, read by the adapter
//! base_url = "https://is.example.com:9444"
//! admin = { kind = "basic", username = "admin", password = "..." }
//! ```
//!
//! Every key is checked: one that nobody reads is an error naming it with its line and the
//! nearest known name (`did you mean enable_map_oauth_consumer_apps?`).

mod table;

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use self::table::{ConfigTable, Section};
use crate::error::{Error, Result};
use crate::model::{KeyManagerId, KeyManagerName, OrganizationId, TokenType};

fn yes() -> bool {
    true
}

fn default_scopes_claim() -> String {
    "scope".to_owned()
}

/// The deployment-wide switches (WSO2's `deployment.toml` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalSettings {
    /// `[apim.devportal] enable_key_provisioning`: allows out-of-band provisioning for a key
    /// manager whose own flag is off. Default `false`.
    pub enable_key_provisioning: bool,
    /// `[apim.key_manager] enable_provisioned_app_validation`: validate provisioned clients
    /// against their key manager. Default `true` (also when absent or empty); `false` wins.
    pub enable_provisioned_app_validation: bool,
}

impl Default for GlobalSettings {
    fn default() -> Self {
        Self {
            enable_key_provisioning: false,
            enable_provisioned_app_validation: true,
        }
    }
}

impl GlobalSettings {
    /// Reads the two keys from a WSO2 API Manager `deployment.toml`; its other keys and
    /// sections are WSO2's and are ignored.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file when it cannot be read, or the key, its line and the
    /// problem when a value has the wrong type.
    pub fn from_wso2_deployment_toml(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_wso2_deployment_str(&read_file(path.as_ref())?)
    }

    /// As [`GlobalSettings::from_wso2_deployment_toml`], from the file's text.
    ///
    /// # Errors
    /// As [`GlobalSettings::from_wso2_deployment_toml`].
    pub fn from_wso2_deployment_str(text: &str) -> Result<Self> {
        table::parse_document("deployment.toml", text)?.read_lenient(Self::read)
    }

    /// `[apim.devportal]` and `[apim.key_manager]`, the same in both files.
    fn read(s: &mut Section<'_>) -> Result<Self> {
        let mut settings = Self::default();
        s.table("apim", |apim| {
            apim.table("devportal", |d| {
                if let Some(value) = d.get("enable_key_provisioning")? {
                    settings.enable_key_provisioning =
                        lenient_bool(d.key("enable_key_provisioning"), &value, false)?;
                }
                Ok(())
            })?;
            apim.table("key_manager", |k| {
                if let Some(value) = k.get("enable_provisioned_app_validation")? {
                    settings.enable_provisioned_app_validation =
                        lenient_bool(k.key("enable_provisioned_app_validation"), &value, true)?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
        Ok(settings)
    }
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::config(path.display().to_string(), format!("cannot read: {e}")))
}

/// WSO2 reads these flags as strings: `true`/`false` in any case, and empty means the default.
fn lenient_bool(key: String, value: &toml::Value, empty: bool) -> Result<bool> {
    match value {
        toml::Value::Boolean(b) => Ok(*b),
        toml::Value::String(s) if s.trim().is_empty() => Ok(empty),
        toml::Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        toml::Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        other => Err(Error::config(
            key,
            format!("expected true or false, found {} {other}", other.type_str()),
        )),
    }
}

/// Where the gateway gets a key manager's signing keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum JwksSource {
    /// From the key manager adapter ([`crate::KeyManager::jwks`]).
    #[default]
    KeyManager,
    /// Fixed public keys in PEM (SubjectPublicKeyInfo), for key managers without JWKS.
    Pem {
        /// The keys, each with an optional key id.
        keys: Vec<PemKey>,
    },
}

/// A public key in PEM with its key id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PemKey {
    /// Key id tokens name in their header, if any.
    pub kid: Option<String>,
    /// `-----BEGIN PUBLIC KEY-----` text.
    pub pem: String,
}

/// One key manager's settings (the [configuration table](crate::guide::provisioning#configuration),
/// plus token validation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyManagerConfig {
    /// Stable identifier stored on mappings. Defaults to the name.
    pub id: KeyManagerId,
    /// Display name (`IS`, `Keycloak`, `Resident Key Manager`).
    pub name: KeyManagerName,
    /// The organization it belongs to; `None` for a global key manager.
    #[serde(default)]
    pub organization: Option<OrganizationId>,
    /// A disabled key manager accepts no mapping and its tokens are refused.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `DIRECT`, `EXCHANGED` or `BOTH`; `EXCHANGED` key managers cannot hold mappings.
    #[serde(default = "default_token_type")]
    pub token_type: TokenType,
    /// "Out Of Band Provisioning": allows mapping clients of this key manager.
    #[serde(default)]
    pub enable_map_oauth_consumer_apps: bool,
    /// Per-key-manager validation switch, consulted only when the global one is on.
    #[serde(default = "yes")]
    pub provisioned_app_validation: bool,
    /// Whether the library may obtain tokens for mapped clients through this key manager.
    #[serde(default = "yes")]
    pub enable_token_generation: bool,
    /// When validating, check only that the client exists if no secret is given (WSO2's
    /// Keycloak connector behaviour); the mapping records the secret as not proven.
    #[serde(default)]
    pub allow_mapping_without_secret: bool,
    /// The `iss` of its tokens, compared exactly at the gateway.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Where its signing keys come from.
    #[serde(default)]
    pub jwks: JwksSource,
    /// The claim that carries the client id; unset: `azp`, then `client_id`, then `clientId`.
    #[serde(default)]
    pub consumer_key_claim: Option<String>,
    /// The claim that carries scopes.
    #[serde(default = "default_scopes_claim")]
    pub scopes_claim: String,
    /// Audience its tokens must carry, when set.
    #[serde(default)]
    pub audience: Option<String>,
    /// Whether the gateway may send opaque tokens to its introspection endpoint. Off by
    /// default: an opaque token is a bearer credential, and a key manager that did not issue
    /// it must never see it. See the [gateway guide](crate::guide::gateway).
    #[serde(default)]
    pub introspect_opaque_tokens: bool,
    /// The text its opaque tokens start with (`kc_`, say), when it marks them: a token that
    /// starts with it is introspected at this key manager alone, and a token that does not is
    /// never sent to it. Needs `introspect_opaque_tokens`.
    #[serde(default)]
    pub opaque_token_prefix: Option<String>,
}

fn default_token_type() -> TokenType {
    TokenType::Direct
}

impl KeyManagerConfig {
    /// A key manager with this name (also its id) and every setting at its default.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the name is blank, too long or has control characters.
    pub fn new(name: &str) -> Result<Self> {
        Ok(Self {
            id: KeyManagerId::new(name)?,
            name: KeyManagerName::new(name)?,
            organization: None,
            enabled: true,
            token_type: TokenType::Direct,
            enable_map_oauth_consumer_apps: false,
            provisioned_app_validation: true,
            enable_token_generation: true,
            allow_mapping_without_secret: false,
            issuer: None,
            jwks: JwksSource::KeyManager,
            consumer_key_claim: None,
            scopes_claim: default_scopes_claim(),
            audience: None,
            introspect_opaque_tokens: false,
            opaque_token_prefix: None,
        })
    }

    /// Lets the gateway introspect opaque tokens at this key manager (off by default).
    pub fn introspect_opaque_tokens(mut self, on: bool) -> Self {
        self.introspect_opaque_tokens = on;
        self
    }

    /// Declares the text this key manager's opaque tokens start with, and turns introspection
    /// on: such tokens go to this key manager alone, and no other token is sent to it.
    pub fn opaque_token_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.opaque_token_prefix = Some(prefix.into());
        self.introspect_opaque_tokens = true;
        self
    }

    /// Sets the "Out Of Band Provisioning" flag.
    pub fn out_of_band(mut self, on: bool) -> Self {
        self.enable_map_oauth_consumer_apps = on;
        self
    }

    /// Sets the issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the organization (global when never called).
    pub fn organization(mut self, organization: OrganizationId) -> Self {
        self.organization = Some(organization);
        self
    }

    /// Checks values that serde cannot: non-empty claim names and issuer.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key (`key_managers.{id}.{key}`).
    pub fn validate(&self) -> Result<()> {
        self.check(|field| format!("key_managers.{}.{field}", self.id))
    }

    fn check(&self, key: impl Fn(&str) -> String) -> Result<()> {
        let blank = |value: &Option<String>| value.as_deref().is_some_and(|v| v.trim().is_empty());
        if blank(&self.issuer) {
            return Err(Error::config(key("issuer"), "must not be empty when set"));
        }
        if blank(&self.consumer_key_claim) {
            return Err(Error::config(
                key("consumer_key_claim"),
                "must not be empty when set",
            ));
        }
        if self.scopes_claim.trim().is_empty() {
            return Err(Error::config(key("scopes_claim"), "must not be empty"));
        }
        if let Some(prefix) = &self.opaque_token_prefix {
            // A token is visible ASCII without spaces (RFC 6750 b64token and more).
            if prefix.is_empty()
                || prefix.len() > 64
                || !prefix.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(Error::config(
                    key("opaque_token_prefix"),
                    "must be 1 to 64 visible ASCII characters, as a token may contain",
                ));
            }
            if !self.introspect_opaque_tokens {
                return Err(Error::config(
                    key("opaque_token_prefix"),
                    "a prefix selects this key manager for introspection: \
                     set introspect_opaque_tokens = true as well",
                ));
            }
        }
        Ok(())
    }

    /// A `[[key_managers]]` entry's own keys; the id defaults to the name.
    fn read(s: &mut Section<'_>) -> Result<Self> {
        let name: KeyManagerName = s.require("name")?;
        let defaults =
            Self::new(name.as_str()).map_err(|e| Error::config(s.key("name"), e.to_string()))?;
        let config = Self {
            id: s.get_or("id", defaults.id)?,
            name,
            organization: s.get("organization")?,
            enabled: s.get_or("enabled", defaults.enabled)?,
            token_type: s.get_or("token_type", defaults.token_type)?,
            enable_map_oauth_consumer_apps: s.get_or(
                "enable_map_oauth_consumer_apps",
                defaults.enable_map_oauth_consumer_apps,
            )?,
            provisioned_app_validation: s.get_or(
                "provisioned_app_validation",
                defaults.provisioned_app_validation,
            )?,
            enable_token_generation: s
                .get_or("enable_token_generation", defaults.enable_token_generation)?,
            allow_mapping_without_secret: s.get_or(
                "allow_mapping_without_secret",
                defaults.allow_mapping_without_secret,
            )?,
            issuer: s.get("issuer")?,
            jwks: s.table("jwks", JwksSource::read)?.unwrap_or_default(),
            consumer_key_claim: s.get("consumer_key_claim")?,
            scopes_claim: s.get_or("scopes_claim", defaults.scopes_claim)?,
            audience: s.get("audience")?,
            introspect_opaque_tokens: s.get_or(
                "introspect_opaque_tokens",
                defaults.introspect_opaque_tokens,
            )?,
            opaque_token_prefix: s.get("opaque_token_prefix")?,
        };
        config.check(|field| s.key(field))?;
        Ok(config)
    }
}

impl JwksSource {
    fn read(s: &mut Section<'_>) -> Result<Self> {
        if s.choice("kind", &["key_manager", "pem"])? == "key_manager" {
            return Ok(JwksSource::KeyManager);
        }
        let keys = s.tables("keys", |k| {
            Ok(PemKey {
                kid: k.get("kid")?,
                pem: k.require("pem")?,
            })
        })?;
        if keys.is_empty() {
            return Err(Error::config(s.key("keys"), "at least one key is needed"));
        }
        Ok(JwksSource::Pem { keys })
    }
}

/// A key manager entry of the native file: the core settings, which adapter, and the
/// adapter's own connection settings (left for the adapter to read).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyManagerEntry {
    /// The core settings.
    pub config: KeyManagerConfig,
    /// Which adapter (`oidc`, `wso2is`, `keycloak`, ...), when given.
    pub kind: Option<String>,
    /// The `[key_managers.connection]` table, with its lines, for the adapter to read
    /// strictly ([`ConfigTable::read`]); empty when the entry has none.
    pub connection: ConfigTable,
}

impl KeyManagerEntry {
    fn read(s: &mut Section<'_>) -> Result<Self> {
        Ok(Self {
            config: KeyManagerConfig::read(s)?,
            kind: s.get("type")?,
            connection: s.unread_table("connection")?,
        })
    }
}

/// The native configuration file.
///
/// # Example
/// ```
/// use keyprov::Config;
///
/// let config = Config::from_toml_str(r#"
///     [apim.devportal]
///     enable_key_provisioning = true
///
///     [[key_managers]]
///     name = "IS"
///     type = "wso2is"
///     enable_map_oauth_consumer_apps = true
/// "#)?;
/// assert!(config.global.enable_key_provisioning);
/// assert!(config.key_managers[0].config.enable_map_oauth_consumer_apps);
///
/// // A misspelt key is refused, with its line and the key it probably means.
/// let err = Config::from_toml_str("[[key_managers]]\nname = \"IS\"\nenable_map_oauth_consumer_app = true")
///     .unwrap_err();
/// assert!(err.to_string().contains("did you mean enable_map_oauth_consumer_apps"), "{err}");
/// # Ok::<(), keyprov::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The global switches.
    pub global: GlobalSettings,
    /// The key managers, in file order.
    pub key_managers: Vec<KeyManagerEntry>,
    /// The audit trail's settings (`[audit]`).
    pub audit: AuditSettings,
}

/// `[audit]`: how long the [audit trail](crate::audit) keeps its records.
///
/// ```toml
/// [audit]
/// retention_days = 365   # unset: records are kept until pruned by hand
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditSettings {
    /// Records older than this many days are removed by
    /// [`Provisioner::prune_audit`](crate::Provisioner::prune_audit) runs that apply the setting
    /// (`keyprov audit prune`, or the embedding service's schedule). At least 1.
    pub retention_days: Option<u32>,
}

impl AuditSettings {
    /// The instant before which records go, measured from `now`; `None` when no retention is
    /// set.
    pub fn cutoff(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.retention_days
            .map(|days| now - chrono::Duration::days(i64::from(days)))
    }

    fn read(s: &mut Section<'_>) -> Result<Self> {
        let mut settings = Self::default();
        s.table("audit", |audit| {
            if let Some(days) = audit.get::<u32>("retention_days")? {
                if days == 0 {
                    return Err(Error::config(
                        audit.key("retention_days"),
                        "must be at least 1 (leave it unset to keep records until pruned)",
                    ));
                }
                settings.retention_days = Some(days);
            }
            Ok(())
        })?;
        Ok(settings)
    }
}

impl Config {
    /// Reads the native TOML file.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, or as [`Config::from_toml_str`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_toml_str(&read_file(path.as_ref())?)
    }

    /// Parses the native TOML text. Every key must be one the file may have: a misspelt key is
    /// refused, not ignored (the adapters read their `connection` tables the same way).
    ///
    /// # Errors
    /// [`Error::Config`] naming the key as the file spells it, with its line, and the problem:
    /// not TOML, an unknown key (with the nearest known one), a wrong type or shape, a missing
    /// name, a duplicate id.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        table::parse_document("config", text)?.read(|s| {
            let global = GlobalSettings::read(s)?;
            let audit = AuditSettings::read(s)?;
            let mut seen = HashSet::new();
            let key_managers = s.tables("key_managers", |s| {
                let entry = KeyManagerEntry::read(s)?;
                if !seen.insert(entry.config.id.clone()) {
                    let key = if s.has("id") { "id" } else { "name" };
                    return Err(Error::config(
                        s.key(key),
                        format!("duplicate key manager id {}", entry.config.id),
                    ));
                }
                Ok(entry)
            })?;
            Ok(Self {
                global,
                key_managers,
                audit,
            })
        })
    }
}

#[cfg(test)]
mod tests {

    /// A connection table holds secrets: `Debug` of the configuration shows its keys only.
    #[test]
    fn the_audit_retention_is_read_strictly() {
        let config = super::Config::from_toml_str("[audit]\nretention_days = 30\n").unwrap();
        assert_eq!(config.audit.retention_days, Some(30));
        let now = chrono::Utc::now();
        assert_eq!(
            config.audit.cutoff(now),
            Some(now - chrono::Duration::days(30))
        );
        assert_eq!(super::Config::default().audit.cutoff(now), None);
        for (text, needle) in [
            ("[audit]\nretention_days = 0\n", "at least 1"),
            (
                "[audit]\nretention_day = 3\n",
                "did you mean retention_days",
            ),
            (
                "[audit]\nretention_days = \"ten\"\n",
                "audit.retention_days",
            ),
        ] {
            let err = super::Config::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn debug_output_never_shows_connection_secrets() {
        let config = Config::from_toml_str(
            "[[key_managers]]\nname = \"IS\"\ntype = \"wso2is\"\n[key_managers.connection]\n\
             base_url = \"https://is:9443\"\n\
             admin = { kind = \"basic\", username = \"admin\", password = \"pa55-never-shown\" }",
        )
        .unwrap();
        let text = format!("{config:?}");
        assert!(!text.contains("pa55-never-shown"), "{text}");
        assert!(text.contains("admin"), "the keys are shown: {text}");
    }

    use super::*;

    #[test]
    fn wso2_deployment_toml_reads_the_two_keys_and_ignores_the_rest() {
        let text = r#"
            [server]
            hostname = "localhost"
            [apim.devportal]
            enable_key_provisioning = true
            url = "https://localhost:9443/devportal"
            [apim.key_manager]
            enable_provisioned_app_validation = false
            [[apim.gateway.environment]]
            name = "Default"
        "#;
        let g = GlobalSettings::from_wso2_deployment_str(text).unwrap();
        assert!(g.enable_key_provisioning);
        assert!(!g.enable_provisioned_app_validation);
    }

    #[test]
    fn absent_or_empty_validation_key_means_true() {
        let g = GlobalSettings::from_wso2_deployment_str("[server]\nhostname='x'").unwrap();
        assert_eq!(g, GlobalSettings::default());
        let g = GlobalSettings::from_wso2_deployment_str(
            "[apim.key_manager]\nenable_provisioned_app_validation = \"\"",
        )
        .unwrap();
        assert!(g.enable_provisioned_app_validation);
        let g = GlobalSettings::from_wso2_deployment_str(
            "[apim.devportal]\nenable_key_provisioning = \"TRUE\"",
        )
        .unwrap();
        assert!(g.enable_key_provisioning);
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = GlobalSettings::from_wso2_deployment_str(
            "[apim.devportal]\nenable_key_provisioning = 3",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("apim.devportal.enable_key_provisioning"),
            "{text}"
        );
        assert!(text.contains("expected true or false"), "{text}");
        let err = GlobalSettings::from_wso2_deployment_str("[apim.devportal\n").unwrap_err();
        assert_eq!(err.code(), 901431);
    }

    #[test]
    fn native_file_parses_key_managers_with_defaults() {
        let config = Config::from_toml_str(
            r#"
            [apim.devportal]
            enable_key_provisioning = true

            [[key_managers]]
            name = "IS"
            type = "wso2is"
            enable_map_oauth_consumer_apps = true
            issuer = "https://is:9444/oauth2/token"
            [key_managers.connection]
            base_url = "https://is:9444"

            [[key_managers]]
            id = "kc-1"
            name = "Keycloak"
            token_type = "BOTH"
            provisioned_app_validation = false
            consumer_key_claim = "azp"
            "#,
        )
        .unwrap();
        assert!(config.global.enable_key_provisioning);
        assert!(config.global.enable_provisioned_app_validation);
        let is = &config.key_managers[0];
        assert_eq!(is.config.id.as_str(), "IS");
        assert_eq!(is.kind.as_deref(), Some("wso2is"));
        assert!(is.config.enable_map_oauth_consumer_apps);
        assert!(is.config.enabled && is.config.provisioned_app_validation);
        assert_eq!(
            is.connection.to_table()["base_url"].as_str(),
            Some("https://is:9444")
        );
        assert_eq!(
            is.connection.key("base_url"),
            "key_managers[0].connection.base_url (line 11)",
            "the adapter gets the table with its path and lines"
        );
        let kc = &config.key_managers[1];
        assert_eq!(kc.config.id.as_str(), "kc-1");
        assert_eq!(kc.config.token_type, TokenType::Both);
        assert!(!kc.config.provisioned_app_validation);
        assert_eq!(kc.config.scopes_claim, "scope");
    }

    #[test]
    fn native_file_errors_name_the_key_and_problem() {
        let err = Config::from_toml_str("[[key_managers]]\nname = \"IS\"\nenabled = \"maybe\"")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("key_managers[0].enabled"), "{text}");
        assert!(text.contains("invalid type"), "{text}");

        let err = Config::from_toml_str("[[key_managers]]\nname = \"IS\"\ntoken_type = \"JWT\"")
            .unwrap_err();
        assert!(
            err.to_string().contains("key_managers[0].token_type"),
            "{err}"
        );

        let err = Config::from_toml_str("[[key_managers]]\nenabled = true").unwrap_err();
        assert!(
            err.to_string()
                .contains("key_managers[0].name: missing (the table starts at line 1)"),
            "{err}"
        );

        let err = Config::from_toml_str(
            "[[key_managers]]\nname = \"IS\"\n[[key_managers]]\nname = \"IS\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");

        let err = Config::from_toml_str("[[key_managers]]\nname = \"IS\"\nscopes_claim = \" \"")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("key_managers[0].scopes_claim (line 3): must not be empty"),
            "{err}"
        );
    }

    /// Introspection is off unless a key manager opts in; a prefix needs the opt-in and must
    /// be text a token can start with.
    #[test]
    fn introspection_is_opt_in_and_a_prefix_needs_it() {
        let config = Config::from_toml_str(
            "[[key_managers]]\nname = \"IS\"\n\
             [[key_managers]]\nname = \"KC\"\nintrospect_opaque_tokens = true\n\
             opaque_token_prefix = \"kc_\"",
        )
        .unwrap();
        let (is, kc) = (
            &config.key_managers[0].config,
            &config.key_managers[1].config,
        );
        assert!(!is.introspect_opaque_tokens && is.opaque_token_prefix.is_none());
        assert!(kc.introspect_opaque_tokens);
        assert_eq!(kc.opaque_token_prefix.as_deref(), Some("kc_"));
        assert_eq!(
            problem("[[key_managers]]\nname = \"KC\"\nopaque_token_prefix = \"kc_\""),
            "key_managers[0].opaque_token_prefix (line 3): a prefix selects this key manager \
             for introspection: set introspect_opaque_tokens = true as well"
        );
        for bad in ["", "kc ", "k\\u0000"] {
            let text = format!(
                "[[key_managers]]\nname = \"KC\"\nintrospect_opaque_tokens = true\n\
                 opaque_token_prefix = \"{bad}\""
            );
            assert!(
                problem(&text).contains("must be 1 to 64 visible ASCII characters"),
                "{bad:?}"
            );
        }
        let built = KeyManagerConfig::new("KC")
            .unwrap()
            .opaque_token_prefix("kc_");
        assert!(built.introspect_opaque_tokens && built.validate().is_ok());
    }

    fn problem(text: &str) -> String {
        match Config::from_toml_str(text).unwrap_err() {
            Error::Config { key, problem } => format!("{key}: {problem}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_misspelt_key_is_refused_at_its_line_with_the_known_name() {
        let text = "\
[apim.devportal]
enable_key_provisioning = false

[[key_managers]]
name = \"IS\"
type = \"wso2is\"
enable_map_oauth_consumer_app = true
";
        assert_eq!(
            problem(text),
            "key_managers[0].enable_map_oauth_consumer_app (line 7): unknown key; \
             did you mean enable_map_oauth_consumer_apps?"
        );
        let text = "[[key_managers]]\nname = \"A\"\n[[key_managers]]\nname = \"B\"\nisuer = \"x\"";
        assert_eq!(
            problem(text),
            "key_managers[1].isuer (line 5): unknown key; did you mean issuer?"
        );
    }

    #[test]
    fn unknown_keys_are_refused_in_every_table_the_native_file_reads() {
        let cases = [
            (
                "key_manager = []",
                "key_manager (line 1): unknown key; did you mean key_managers?",
            ),
            (
                "[apim]\ndevportl = {}",
                "apim.devportl (line 2): unknown key; did you mean devportal?",
            ),
            (
                "[apim.devportal]\nenable_key_provisionning = true",
                "apim.devportal.enable_key_provisionning (line 2): unknown key; \
                 did you mean enable_key_provisioning?",
            ),
            (
                "[apim.key_manager]\n\nenable_provisioned_app_validaton = false",
                "apim.key_manager.enable_provisioned_app_validaton (line 3): unknown key; \
                 did you mean enable_provisioned_app_validation?",
            ),
            (
                "[apim.gateway]\nurl = \"x\"",
                "apim.gateway (line 1): unknown key",
            ),
            (
                "[[key_managers]]\nname = \"IS\"\n[key_managers.jwks]\nkind = \"pem\"\n\
                 [[key_managers.jwks.keys]]\npem = \"x\"\nkdi = \"k1\"",
                "key_managers[0].jwks.keys[0].kdi (line 7): unknown key; did you mean kid?",
            ),
            (
                "[[key_managers]]\nname = \"IS\"\njwks = { kind = \"pm\" }",
                "key_managers[0].jwks.kind (line 3): unknown value \"pm\", \
                 expected one of [\"key_manager\", \"pem\"]; did you mean pem?",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(problem(text), expected, "{text}");
        }
    }

    #[test]
    fn a_wrong_type_names_the_key_as_the_file_spells_it() {
        assert_eq!(
            problem("[[key_managers]]\nname = 42"),
            "key_managers[0].name (line 2): invalid type: integer `42`, expected a string"
        );
        assert_eq!(
            problem("[[key_managers]]\nname = \"IS\"\nid = 7"),
            "key_managers[0].id (line 3): invalid type: integer `7`, expected a string"
        );
        assert!(
            problem("[[key_managers]]\nname = \"IS\"\ntype = 1")
                .starts_with("key_managers[0].type (line 3): invalid type"),
        );
    }

    #[test]
    fn a_table_of_the_wrong_shape_is_an_error_not_a_default() {
        let cases = [
            ("apim = 3", "apim (line 1): expected a table, found integer"),
            (
                "[apim]\ndevportal = 5",
                "apim.devportal (line 2): expected a table, found integer",
            ),
            (
                "key_managers = 5",
                "key_managers (line 1): expected an array of tables ([[key_managers]]), found integer",
            ),
            (
                "key_managers = [1]",
                "key_managers (line 1): expected an array of tables ([[key_managers]]), found array",
            ),
            (
                "[[key_managers]]\nname = \"IS\"\nconnection = \"https://is\"",
                "key_managers[0].connection (line 3): expected a table, found string",
            ),
            (
                "[[key_managers]]\nname = \"IS\"\njwks = \"pem\"",
                "key_managers[0].jwks (line 3): expected a table, found string",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(problem(text), expected, "{text}");
        }
    }

    #[test]
    fn a_syntax_error_gives_its_line() {
        assert!(
            problem("[apim]\nx = \n").starts_with("config (line 2): "),
            "{}",
            problem("[apim]\nx = \n")
        );
    }

    #[test]
    fn the_deployment_file_stays_lenient_but_checks_the_two_keys_shapes() {
        let g = GlobalSettings::from_wso2_deployment_str(
            "[apim]\nunknown = 1\n[apim.devportal]\nenable_key_provisionning = true\n\
             enable_key_provisioning = \"true\"",
        )
        .unwrap();
        assert!(g.enable_key_provisioning);
        let err = GlobalSettings::from_wso2_deployment_str(
            "[server]\n[apim.key_manager]\n\
             enable_provisioned_app_validation = 1",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("apim.key_manager.enable_provisioned_app_validation (line 3)"),
            "{err}"
        );
        let err = GlobalSettings::from_wso2_deployment_str("[apim]\ndevportal = 5")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("apim.devportal (line 2): expected a table"),
            "{err}"
        );
    }

    #[test]
    fn pem_keys_are_read() {
        let config = Config::from_toml_str(
            "[[key_managers]]\nname = \"IS\"\njwks = { kind = \"pem\", keys = [{ kid = \"k\", pem = \"P\" }] }",
        )
        .unwrap();
        assert_eq!(
            config.key_managers[0].config.jwks,
            JwksSource::Pem {
                keys: vec![PemKey {
                    kid: Some("k".into()),
                    pem: "P".into()
                }]
            }
        );
        assert!(
            problem("[[key_managers]]\nname = \"IS\"\njwks = { kind = \"pem\" }")
                .contains("at least one key")
        );
    }
}
