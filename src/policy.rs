//! The provisioning policy: may this application map a client of this key manager (the gate,
//! [P1](crate::guide::provisioning)), and does validation against the key manager run
//! ([P4](crate::guide::provisioning))? A [`ProvisioningPolicy`] is pure and synchronous, and
//! each decision explains itself. [`Wso2Policy`], WSO2's rule, is the default; an embedding
//! service wraps it to add rules of its own.
//!
//! ```
//! use keyprov::{GlobalSettings, KeyManagerConfig, ProvisioningPolicy};
//! use keyprov::policy::{Gate, GateRefusal, GrantedBy, Validation, Wso2Policy};
//!
//! let global = GlobalSettings { enable_key_provisioning: true, ..GlobalSettings::default() };
//! let policy = Wso2Policy::new(global);
//!
//! // The KM's own flag is off: the global fallback grants it.
//! let km = KeyManagerConfig::new("IS")?;
//! assert_eq!(policy.gate_for(&km), Gate::Granted(GrantedBy::GlobalFallback));
//! println!("{}", policy.gate_for(&km)); // explains itself
//!
//! // A disabled KM is refused whatever the flags say.
//! let mut disabled = KeyManagerConfig::new("IS")?.out_of_band(true);
//! disabled.enabled = false;
//! assert_eq!(policy.gate_for(&disabled), Gate::Refused(GateRefusal::KeyManagerDisabled));
//!
//! assert_eq!(policy.validation_for(&km), Validation::Runs);
//! # Ok::<(), keyprov::Error>(())
//! ```
//!
//! A policy of one's own wraps the default and adds refusals with their own codes:
//!
//! ```
//! use keyprov::policy::{CustomRefusal, Gate, GateRefusal, PolicyRequest, Validation, Wso2Policy};
//! use keyprov::{KeyType, ProvisioningPolicy};
//!
//! /// Organization "trial" may not map production keys.
//! #[derive(Debug, Default)]
//! struct NoProductionForTrials(Wso2Policy);
//!
//! impl ProvisioningPolicy for NoProductionForTrials {
//!     fn gate(&self, request: &PolicyRequest<'_>) -> Gate {
//!         if request.application.organization.as_str() == "trial"
//!             && request.key_type == KeyType::Production
//!         {
//!             return Gate::Refused(GateRefusal::Custom(CustomRefusal::new(
//!                 990001,
//!                 "trial organizations may not map production keys",
//!             )));
//!         }
//!         self.0.gate(request)
//!     }
//!
//!     fn validation(&self, request: &PolicyRequest<'_>) -> Validation {
//!         self.0.validation(request)
//!     }
//! }
//! ```

use std::fmt;

use std::borrow::Cow;

use crate::config::{GlobalSettings, KeyManagerConfig};
use crate::error::{Error, UnsupportedReason};
use crate::model::{Actor, Application, ConsumerKey, KeyType, TokenType};

/// Why the gate opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantedBy {
    /// The key manager's own "Out Of Band Provisioning" flag is on.
    KeyManagerFlag,
    /// The key manager's flag is off and the global `enable_key_provisioning` is on.
    GlobalFallback,
}

/// A refusal a custom policy adds: its own code (keep it clear of keyprov's `4xx` and
/// `9014xx`) and its reason, which the caller reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRefusal {
    /// The code the caller's error carries ([`Error::code`]).
    pub code: u32,
    /// Why, in words.
    pub reason: Cow<'static, str>,
}

impl CustomRefusal {
    /// A refusal with this code and reason.
    pub fn new(code: u32, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// Why the gate stayed shut.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GateRefusal {
    /// The key manager is disabled.
    KeyManagerDisabled,
    /// The key manager's token type is `EXCHANGED`.
    ExchangedTokensOnly,
    /// The key manager's flag and the global fallback are both off.
    ProvisioningOff,
    /// A rule of a custom policy.
    Custom(CustomRefusal),
}

/// The gate's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Mapping is allowed.
    Granted(GrantedBy),
    /// Mapping is refused.
    Refused(GateRefusal),
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
    /// (901405) for an exchanged-only one, `PolicyRefused` with the policy's code for a custom
    /// refusal, `ProvisioningDisabled` (901420) otherwise.
    pub fn check(self, km: &KeyManagerConfig) -> Result<GrantedBy, Error> {
        match self {
            Gate::Granted(by) => Ok(by),
            Gate::Refused(GateRefusal::KeyManagerDisabled) => Err(Error::KeyManagerNotFound {
                name: km.name.to_string(),
            }),
            Gate::Refused(GateRefusal::ExchangedTokensOnly) => Err(Error::KeyManagerUnsupported {
                key_manager: km.id.clone(),
                reason: UnsupportedReason::ExchangedTokensOnly,
            }),
            Gate::Refused(GateRefusal::ProvisioningOff) => {
                Err(Error::ProvisioningDisabled(km.id.clone()))
            }
            Gate::Refused(GateRefusal::Custom(refusal)) => Err(Error::PolicyRefused {
                code: refusal.code,
                reason: refusal.reason.into_owned(),
            }),
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Gate::Refused(GateRefusal::Custom(refusal)) = self {
            return write!(f, "refused ({}): {}", refusal.code, refusal.reason);
        }
        f.write_str(match self {
            Gate::Granted(GrantedBy::KeyManagerFlag) => {
                "granted: the key manager's Out Of Band Provisioning flag is on"
            }
            Gate::Granted(GrantedBy::GlobalFallback) => {
                "granted: the key manager's flag is off, and the global enable_key_provisioning fallback is on"
            }
            Gate::Refused(GateRefusal::KeyManagerDisabled) => "refused: the key manager is disabled",
            Gate::Refused(GateRefusal::ExchangedTokensOnly) => {
                "refused: the key manager's token type is EXCHANGED, which cannot hold mappings"
            }
            Gate::Refused(GateRefusal::ProvisioningOff) => {
                "refused: the key manager's Out Of Band Provisioning flag and the global enable_key_provisioning fallback are both off"
            }
            Gate::Refused(GateRefusal::Custom(_)) => unreachable!("written above"),
        })
    }
}

/// The validation decision: does validation against the key manager run?
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

/// What a policy decides on: who asks, for which application, key manager, key type and
/// client.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct PolicyRequest<'a> {
    /// The caller (already known to own the application, or the system).
    pub caller: &'a Actor,
    /// The application that would receive the keys.
    pub application: &'a Application,
    /// The key manager's settings.
    pub key_manager: &'a KeyManagerConfig,
    /// Production or sandbox.
    pub key_type: KeyType,
    /// The client id.
    pub consumer_key: &'a ConsumerKey,
}

impl<'a> PolicyRequest<'a> {
    /// A request.
    pub fn new(
        caller: &'a Actor,
        application: &'a Application,
        key_manager: &'a KeyManagerConfig,
        key_type: KeyType,
        consumer_key: &'a ConsumerKey,
    ) -> Self {
        Self {
            caller,
            application,
            key_manager,
            key_type,
            consumer_key,
        }
    }
}

/// The provisioning rules: the gate and the validation switch. Pure and synchronous (no
/// I/O), so that every decision can be shown and tested as a table; each decision explains
/// itself through its `Display`.
///
/// [`Wso2Policy`] is WSO2's rule and the default. To add rules (an approval step, the key
/// managers an organization may use, a tier that may not map production keys), wrap it and
/// return [`GateRefusal::Custom`] with your own code; see the [module docs](self).
///
/// # Example
/// ```
/// use keyprov::policy::{Gate, GrantedBy, PolicyRequest, Validation};
/// use keyprov::{Actor, Application, ApplicationId, ConsumerKey, KeyManagerConfig, KeyType,
///               OrganizationId, ProvisioningPolicy, UserId, Wso2Policy};
///
/// let policy: Box<dyn ProvisioningPolicy> = Box::new(Wso2Policy::default());
/// let application = Application {
///     id: ApplicationId::random(),
///     name: "PizzaApp".into(),
///     owner: UserId::new("alice")?,
///     organization: OrganizationId::new("acme")?,
///     created_at: chrono::Utc::now(),
/// };
/// let km = KeyManagerConfig::new("IS")?.out_of_band(true);
/// let (caller, client) = (Actor::admin("carol")?, ConsumerKey::new("client-1")?);
/// let request = PolicyRequest::new(&caller, &application, &km, KeyType::Production, &client);
/// assert_eq!(policy.gate(&request), Gate::Granted(GrantedBy::KeyManagerFlag));
/// assert_eq!(policy.validation(&request), Validation::Runs);
/// # Ok::<(), keyprov::Error>(())
/// ```
pub trait ProvisioningPolicy: fmt::Debug + Send + Sync + 'static {
    /// May this application map a client of this key manager?
    fn gate(&self, request: &PolicyRequest<'_>) -> Gate;

    /// Does validation against the key manager run for this request?
    fn validation(&self, request: &PolicyRequest<'_>) -> Validation;
}

/// WSO2's rule: the key manager must be enabled and not exchanged-only, and its own "Out Of
/// Band Provisioning" flag, or else the global `enable_key_provisioning` fallback, must be on.
/// Validation runs when both the global and the key manager's switch are on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wso2Policy {
    /// The deployment-wide switches.
    pub global: GlobalSettings,
}

impl Wso2Policy {
    /// The rule over these global settings.
    pub fn new(global: GlobalSettings) -> Self {
        Self { global }
    }

    /// The gate for a key manager: only its settings and the global ones matter to WSO2's
    /// rule. The global fallback matters only when the key manager's own flag is off.
    pub fn gate_for(&self, km: &KeyManagerConfig) -> Gate {
        if !km.enabled {
            Gate::Refused(GateRefusal::KeyManagerDisabled)
        } else if km.token_type == TokenType::Exchanged {
            Gate::Refused(GateRefusal::ExchangedTokensOnly)
        } else if km.enable_map_oauth_consumer_apps {
            Gate::Granted(GrantedBy::KeyManagerFlag)
        } else if self.global.enable_key_provisioning {
            Gate::Granted(GrantedBy::GlobalFallback)
        } else {
            Gate::Refused(GateRefusal::ProvisioningOff)
        }
    }

    /// The validation switch for a key manager. The global switch off wins.
    pub fn validation_for(&self, km: &KeyManagerConfig) -> Validation {
        if !self.global.enable_provisioned_app_validation {
            Validation::SkippedGlobally
        } else if !km.provisioned_app_validation {
            Validation::SkippedForKeyManager
        } else {
            Validation::Runs
        }
    }
}

impl ProvisioningPolicy for Wso2Policy {
    fn gate(&self, request: &PolicyRequest<'_>) -> Gate {
        self.gate_for(request.key_manager)
    }

    fn validation(&self, request: &PolicyRequest<'_>) -> Validation {
        self.validation_for(request.key_manager)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of the five gate inputs, with the expected decision written out.
    #[test]
    fn gate_table_covers_every_combination() {
        use GateRefusal::*;
        use GrantedBy::*;
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
                        let policy = Wso2Policy::new(GlobalSettings {
                            enable_key_provisioning: global,
                            enable_provisioned_app_validation: true,
                        });
                        assert_eq!(
                            policy.gate_for(&km),
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

    /// WSO2's documentation: "This global setting only takes effect when Out Of Band Provisioning is
    /// disabled in the third-party key manager configuration."
    #[test]
    fn global_setting_takes_effect_only_when_the_km_flag_is_off() {
        let on = Wso2Policy::new(GlobalSettings {
            enable_key_provisioning: true,
            ..GlobalSettings::default()
        });
        let off = Wso2Policy::default();
        let km_on = KeyManagerConfig::new("IS").unwrap().out_of_band(true);
        let km_off = KeyManagerConfig::new("IS").unwrap();
        // KM flag on: the global value changes nothing (same decision, same reason).
        assert_eq!(on.gate_for(&km_on), off.gate_for(&km_on));
        assert_eq!(
            on.gate_for(&km_on),
            Gate::Granted(GrantedBy::KeyManagerFlag)
        );
        // KM flag off: the global value decides.
        assert_eq!(
            on.gate_for(&km_off),
            Gate::Granted(GrantedBy::GlobalFallback)
        );
        assert_eq!(
            off.gate_for(&km_off),
            Gate::Refused(GateRefusal::ProvisioningOff)
        );
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
            let policy = Wso2Policy::new(GlobalSettings {
                enable_key_provisioning: false,
                enable_provisioned_app_validation: global,
            });
            let mut km = KeyManagerConfig::new("IS").unwrap();
            km.provisioned_app_validation = per_km;
            assert_eq!(
                policy.validation_for(&km),
                expected,
                "global={global} per_km={per_km}"
            );
            assert_eq!(policy.validation_for(&km).runs(), global && per_km);
        }
    }

    #[test]
    fn refusals_map_to_wso2_codes_and_explain_themselves() {
        let policy = Wso2Policy::default();
        let km = KeyManagerConfig::new("IS").unwrap();
        let err = policy.gate_for(&km).check(&km).unwrap_err();
        assert_eq!(err.code(), 901420);
        assert!(policy.gate_for(&km).to_string().contains("both off"));

        let mut exchanged = km.clone().out_of_band(true);
        exchanged.token_type = TokenType::Exchanged;
        assert_eq!(
            policy
                .gate_for(&exchanged)
                .check(&exchanged)
                .unwrap_err()
                .code(),
            901405
        );

        let mut disabled = km.clone().out_of_band(true);
        disabled.enabled = false;
        assert_eq!(
            policy
                .gate_for(&disabled)
                .check(&disabled)
                .unwrap_err()
                .code(),
            901403
        );
    }
}
