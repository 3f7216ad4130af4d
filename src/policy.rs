//! The provisioning policy: may this application map a client of this key manager (P1), and
//! does validation against the key manager run (P4)? Pure and synchronous.
//!
//! ```
//! use keyprov::{GlobalSettings, KeyManagerConfig, ProvisioningPolicy};
//! use keyprov::policy::{Gate, GrantedBy, Refusal, Validation};
//!
//! let global = GlobalSettings { enable_key_provisioning: true, ..GlobalSettings::default() };
//! let policy = ProvisioningPolicy::new(global);
//!
//! // The KM's own flag is off: the global fallback grants it.
//! let km = KeyManagerConfig::new("IS")?;
//! assert_eq!(policy.gate(&km), Gate::Granted(GrantedBy::GlobalFallback));
//! println!("{}", policy.gate(&km)); // explains itself
//!
//! // A disabled KM is refused whatever the flags say.
//! let mut disabled = KeyManagerConfig::new("IS")?.out_of_band(true);
//! disabled.enabled = false;
//! assert_eq!(policy.gate(&disabled), Gate::Refused(Refusal::KeyManagerDisabled));
//!
//! assert_eq!(policy.validation(&km), Validation::Runs);
//! # Ok::<(), keyprov::Error>(())
//! ```

use std::fmt;

use crate::config::{GlobalSettings, KeyManagerConfig};
use crate::error::{Error, UnsupportedReason};
use crate::model::TokenType;

/// Why the gate opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantedBy {
    /// The key manager's own "Out Of Band Provisioning" flag is on.
    KeyManagerFlag,
    /// The key manager's flag is off and the global `enable_key_provisioning` is on.
    GlobalFallback,
}

/// Why the gate stayed shut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The key manager is disabled.
    KeyManagerDisabled,
    /// The key manager's token type is `EXCHANGED`.
    ExchangedTokensOnly,
    /// The key manager's flag and the global fallback are both off.
    ProvisioningOff,
}

/// The P1 decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Mapping is allowed.
    Granted(GrantedBy),
    /// Mapping is refused.
    Refused(Refusal),
}

impl Gate {
    /// Whether mapping is allowed.
    pub fn is_granted(&self) -> bool {
        matches!(self, Gate::Granted(_))
    }

    /// The decision as a result, with the error a caller receives when refused.
    ///
    /// # Errors
    /// `KeyManagerNotFound` (901403) for a disabled key manager, `KeyManagerUnsupported`
    /// (901405) for an exchanged-only one, `ProvisioningDisabled` otherwise.
    pub fn check(self, km: &KeyManagerConfig) -> Result<GrantedBy, Error> {
        match self {
            Gate::Granted(by) => Ok(by),
            Gate::Refused(Refusal::KeyManagerDisabled) => Err(Error::KeyManagerNotFound {
                name: km.name.to_string(),
            }),
            Gate::Refused(Refusal::ExchangedTokensOnly) => Err(Error::KeyManagerUnsupported {
                key_manager: km.id.clone(),
                reason: UnsupportedReason::ExchangedTokensOnly,
            }),
            Gate::Refused(Refusal::ProvisioningOff) => {
                Err(Error::ProvisioningDisabled(km.id.clone()))
            }
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Gate::Granted(GrantedBy::KeyManagerFlag) => {
                "granted: the key manager's Out Of Band Provisioning flag is on"
            }
            Gate::Granted(GrantedBy::GlobalFallback) => {
                "granted: the key manager's flag is off, and the global enable_key_provisioning fallback is on"
            }
            Gate::Refused(Refusal::KeyManagerDisabled) => "refused: the key manager is disabled",
            Gate::Refused(Refusal::ExchangedTokensOnly) => {
                "refused: the key manager's token type is EXCHANGED, which cannot hold mappings"
            }
            Gate::Refused(Refusal::ProvisioningOff) => {
                "refused: the key manager's Out Of Band Provisioning flag and the global enable_key_provisioning fallback are both off"
            }
        })
    }
}

/// The P4 decision: does validation against the key manager run?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// Validation runs.
    Runs,
    /// `enable_provisioned_app_validation` is off globally (wins over everything).
    SkippedGlobally,
    /// The key manager's `provisioned_app_validation` is off.
    SkippedForKeyManager,
}

impl Validation {
    /// Whether validation runs.
    pub fn runs(&self) -> bool {
        matches!(self, Validation::Runs)
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Validation::Runs => "validation runs: enabled globally and for the key manager",
            Validation::SkippedGlobally => {
                "validation skipped: enable_provisioned_app_validation is off globally"
            }
            Validation::SkippedForKeyManager => {
                "validation skipped: provisioned_app_validation is off for the key manager"
            }
        })
    }
}

/// The provisioning rules that depend only on configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProvisioningPolicy {
    /// The deployment-wide switches.
    pub global: GlobalSettings,
}

impl ProvisioningPolicy {
    /// A policy over these global settings.
    pub fn new(global: GlobalSettings) -> Self {
        Self { global }
    }

    /// P1: may clients of `km` be mapped? The global fallback matters only when the key
    /// manager's own flag is off.
    pub fn gate(&self, km: &KeyManagerConfig) -> Gate {
        if !km.enabled {
            Gate::Refused(Refusal::KeyManagerDisabled)
        } else if km.token_type == TokenType::Exchanged {
            Gate::Refused(Refusal::ExchangedTokensOnly)
        } else if km.enable_map_oauth_consumer_apps {
            Gate::Granted(GrantedBy::KeyManagerFlag)
        } else if self.global.enable_key_provisioning {
            Gate::Granted(GrantedBy::GlobalFallback)
        } else {
            Gate::Refused(Refusal::ProvisioningOff)
        }
    }

    /// P4: does validation run for a client of `km`? The global switch off wins.
    pub fn validation(&self, km: &KeyManagerConfig) -> Validation {
        if !self.global.enable_provisioned_app_validation {
            Validation::SkippedGlobally
        } else if !km.provisioned_app_validation {
            Validation::SkippedForKeyManager
        } else {
            Validation::Runs
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of the five gate inputs, with the expected decision written out.
    #[test]
    fn gate_table_covers_every_combination() {
        use GrantedBy::*;
        use Refusal::*;
        let token_types = [TokenType::Direct, TokenType::Both, TokenType::Exchanged];
        let mut rows = 0;
        for enabled in [false, true] {
            for token_type in token_types {
                for km_flag in [false, true] {
                    for global in [false, true] {
                        let expected = match (enabled, token_type, km_flag, global) {
                            (false, _, _, _) => Gate::Refused(KeyManagerDisabled),
                            (true, TokenType::Exchanged, _, _) => {
                                Gate::Refused(ExchangedTokensOnly)
                            }
                            (true, _, true, _) => Gate::Granted(KeyManagerFlag),
                            (true, _, false, true) => Gate::Granted(GlobalFallback),
                            (true, _, false, false) => Gate::Refused(ProvisioningOff),
                        };
                        let mut km = KeyManagerConfig::new("IS").unwrap().out_of_band(km_flag);
                        km.enabled = enabled;
                        km.token_type = token_type;
                        let policy = ProvisioningPolicy::new(GlobalSettings {
                            enable_key_provisioning: global,
                            enable_provisioned_app_validation: true,
                        });
                        assert_eq!(
                            policy.gate(&km),
                            expected,
                            "enabled={enabled} token_type={token_type} km_flag={km_flag} global={global}"
                        );
                        rows += 1;
                    }
                }
            }
        }
        assert_eq!(rows, 24);
    }

    /// The seed: "This global setting only takes effect when Out Of Band Provisioning is
    /// disabled in the third-party key manager configuration."
    #[test]
    fn global_setting_takes_effect_only_when_the_km_flag_is_off() {
        let on = ProvisioningPolicy::new(GlobalSettings {
            enable_key_provisioning: true,
            ..GlobalSettings::default()
        });
        let off = ProvisioningPolicy::default();
        let km_on = KeyManagerConfig::new("IS").unwrap().out_of_band(true);
        let km_off = KeyManagerConfig::new("IS").unwrap();
        // KM flag on: the global value changes nothing (same decision, same reason).
        assert_eq!(on.gate(&km_on), off.gate(&km_on));
        assert_eq!(on.gate(&km_on), Gate::Granted(GrantedBy::KeyManagerFlag));
        // KM flag off: the global value decides.
        assert_eq!(on.gate(&km_off), Gate::Granted(GrantedBy::GlobalFallback));
        assert_eq!(off.gate(&km_off), Gate::Refused(Refusal::ProvisioningOff));
    }

    #[test]
    fn validation_table() {
        let table = [
            (false, false, Validation::SkippedGlobally),
            (false, true, Validation::SkippedGlobally),
            (true, false, Validation::SkippedForKeyManager),
            (true, true, Validation::Runs),
        ];
        for (global, per_km, expected) in table {
            let policy = ProvisioningPolicy::new(GlobalSettings {
                enable_key_provisioning: false,
                enable_provisioned_app_validation: global,
            });
            let mut km = KeyManagerConfig::new("IS").unwrap();
            km.provisioned_app_validation = per_km;
            assert_eq!(
                policy.validation(&km),
                expected,
                "global={global} per_km={per_km}"
            );
            assert_eq!(policy.validation(&km).runs(), global && per_km);
        }
    }

    #[test]
    fn refusals_map_to_wso2_codes_and_explain_themselves() {
        let policy = ProvisioningPolicy::default();
        let km = KeyManagerConfig::new("IS").unwrap();
        let err = policy.gate(&km).check(&km).unwrap_err();
        assert_eq!(err.code(), 901420);
        assert!(policy.gate(&km).to_string().contains("both off"));

        let mut exchanged = km.clone().out_of_band(true);
        exchanged.token_type = TokenType::Exchanged;
        assert_eq!(
            policy
                .gate(&exchanged)
                .check(&exchanged)
                .unwrap_err()
                .code(),
            901405
        );

        let mut disabled = km.clone().out_of_band(true);
        disabled.enabled = false;
        assert_eq!(
            policy.gate(&disabled).check(&disabled).unwrap_err().code(),
            901403
        );
    }
}
