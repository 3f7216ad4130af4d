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
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

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
    /// Reads the two keys from a WSO2 API Manager `deployment.toml`; other sections are
    /// ignored.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file when it cannot be read, or the key and the problem
    /// when a value has the wrong type.
    pub fn from_wso2_deployment_toml(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(path.display().to_string(), format!("cannot read: {e}")))?;
        Self::from_wso2_deployment_str(&text)
    }

    /// As [`GlobalSettings::from_wso2_deployment_toml`], from the file's text.
    ///
    /// # Errors
    /// As [`GlobalSettings::from_wso2_deployment_toml`].
    pub fn from_wso2_deployment_str(text: &str) -> Result<Self> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::config("deployment.toml", toml_problem(&e)))?;
        Self::from_apim_table(&table)
    }

    fn from_apim_table(table: &toml::Table) -> Result<Self> {
        let mut settings = Self::default();
        let apim = table.get("apim");
        let lookup =
            |section: &str, key: &str| apim.and_then(|a| a.get(section)).and_then(|s| s.get(key));
        if let Some(value) = lookup("devportal", "enable_key_provisioning") {
            settings.enable_key_provisioning =
                lenient_bool("apim.devportal.enable_key_provisioning", value, false)?;
        }
        if let Some(value) = lookup("key_manager", "enable_provisioned_app_validation") {
            settings.enable_provisioned_app_validation = lenient_bool(
                "apim.key_manager.enable_provisioned_app_validation",
                value,
                true,
            )?;
        }
        Ok(settings)
    }
}

/// WSO2 reads these flags as strings: `true`/`false` in any case, and empty means the default.
fn lenient_bool(key: &str, value: &toml::Value, empty: bool) -> Result<bool> {
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

fn toml_problem(e: &toml::de::Error) -> String {
    e.to_string().replace('\n', " ").trim().to_owned()
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

/// One key manager's settings (behaviour.md's configuration table, plus token validation).
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
        })
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
    /// [`Error::Config`] naming the key.
    pub fn validate(&self) -> Result<()> {
        let key = |field: &str| format!("key_managers.{}.{field}", self.id);
        if self.issuer.as_deref().is_some_and(|i| i.trim().is_empty()) {
            return Err(Error::config(key("issuer"), "must not be empty when set"));
        }
        if self
            .consumer_key_claim
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(Error::config(
                key("consumer_key_claim"),
                "must not be empty when set",
            ));
        }
        if self.scopes_claim.trim().is_empty() {
            return Err(Error::config(key("scopes_claim"), "must not be empty"));
        }
        Ok(())
    }
}

/// A key manager entry of the native file: the core settings, which adapter, and the
/// adapter's own connection settings (left for the adapter to parse).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyManagerEntry {
    /// The core settings.
    pub config: KeyManagerConfig,
    /// Which adapter (`oidc`, `wso2is`, `keycloak`, ...), when given.
    pub kind: Option<String>,
    /// The `[key_managers.connection]` table.
    pub connection: toml::Table,
}

/// The native configuration file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// The global switches.
    pub global: GlobalSettings,
    /// The key managers, in file order.
    pub key_managers: Vec<KeyManagerEntry>,
}

impl Config {
    /// Reads the native TOML file.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, or the key and the problem.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(path.display().to_string(), format!("cannot read: {e}")))?;
        Self::from_toml_str(&text)
    }

    /// Parses the native TOML text.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key and the problem.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::config("config", toml_problem(&e)))?;
        let global = GlobalSettings::from_apim_table(&table)?;
        let mut key_managers = Vec::new();
        if let Some(list) = table.get("key_managers") {
            let list = list.as_array().ok_or_else(|| {
                Error::config(
                    "key_managers",
                    "expected an array of tables ([[key_managers]])",
                )
            })?;
            for (index, item) in list.iter().enumerate() {
                key_managers.push(parse_entry(index, item)?);
            }
        }
        let config = Self {
            global,
            key_managers,
        };
        let mut seen = std::collections::HashSet::new();
        for entry in &config.key_managers {
            entry.config.validate()?;
            if !seen.insert(entry.config.id.clone()) {
                return Err(Error::config(
                    format!("key_managers.{}", entry.config.id),
                    "duplicate key manager id",
                ));
            }
        }
        Ok(config)
    }
}

fn parse_entry(index: usize, item: &toml::Value) -> Result<KeyManagerEntry> {
    let at = |field: &str| format!("key_managers[{index}].{field}");
    let mut table = item
        .as_table()
        .cloned()
        .ok_or_else(|| Error::config(format!("key_managers[{index}]"), "expected a table"))?;
    let kind = match table.remove("type") {
        Some(toml::Value::String(kind)) => Some(kind),
        Some(other) => {
            return Err(Error::config(
                at("type"),
                format!("expected a string, found {}", other.type_str()),
            ));
        }
        None => None,
    };
    let connection = match table.remove("connection") {
        Some(toml::Value::Table(t)) => t,
        Some(other) => {
            return Err(Error::config(
                at("connection"),
                format!("expected a table, found {}", other.type_str()),
            ));
        }
        None => toml::Table::new(),
    };
    if !table.contains_key("id")
        && let Some(name) = table.get("name").cloned()
    {
        table.insert("id".to_owned(), name);
    }
    let config: KeyManagerConfig = serde_path_to_error::deserialize(toml::Value::Table(table))
        .map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let problem = inner.lines().next().unwrap_or_default().trim().to_owned();
            Error::config(
                at(if path == "." { "" } else { &path })
                    .trim_end_matches('.')
                    .to_owned(),
                problem,
            )
        })?;
    Ok(KeyManagerEntry {
        config,
        kind,
        connection,
    })
}

#[cfg(test)]
mod tests {
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
        assert_eq!(is.connection["base_url"].as_str(), Some("https://is:9444"));
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
        assert!(err.to_string().contains("missing field"), "{err}");

        let err = Config::from_toml_str(
            "[[key_managers]]\nname = \"IS\"\n[[key_managers]]\nname = \"IS\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");

        let err = Config::from_toml_str("[[key_managers]]\nname = \"IS\"\nscopes_claim = \" \"")
            .unwrap_err();
        assert!(
            err.to_string().contains("key_managers.IS.scopes_claim"),
            "{err}"
        );
    }
}
