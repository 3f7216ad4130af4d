//! The two places the resolution talks to a key manager: fetching its signing keys
//! (rate-limited, one at a time, keeping the cached keys on failure) and introspecting opaque
//! tokens (step 9).

use super::claims;
use super::explain::Trace;
use super::jwks::KeySet;
use super::refusal::{Denial, Malformed};
use super::view::ApiEntry;
use super::{Authorized, Inner};
use crate::model::{ApiId, KeyType};

/// What a key fetch did.
pub(crate) enum KeyFetch {
    RateLimited,
    Fetched(usize),
    Failed(String),
}

impl Inner {
    /// Fetches a key manager's keys unless the rate limit forbids it; one fetch at a time.
    pub(crate) async fn fetch_keys(&self, slot: u32) -> KeyFetch {
        let km = &self.kms[slot as usize];
        let min = self.settings.jwks_min_refresh_interval;
        if !km.keys.may_fetch(min) {
            // Another request may be fetching right now (the first fetch of this key
            // manager's keys): wait for it, so that this token is judged with its keys.
            drop(km.keys.single_flight.lock().await);
            return KeyFetch::RateLimited;
        }
        let _flight = km.keys.single_flight.lock().await;
        if !km.keys.may_fetch(min) {
            return KeyFetch::RateLimited;
        }
        km.keys.times().attempted = Some(std::time::Instant::now());
        match km.client.jwks().await {
            Ok(jwks) => {
                let set = KeySet::from_jwks(&jwks);
                for (kid, why) in &set.skipped {
                    tracing::warn!(key_manager = %km.config.id, ?kid, why, "signing key skipped");
                }
                let usable = set.keys.len();
                if usable == 0 && !km.keys.current().keys.is_empty() {
                    let why = "the key set has no usable key; keeping the cached keys".to_owned();
                    km.keys.times().last_error = Some(why.clone());
                    return KeyFetch::Failed(why);
                }
                km.keys.replace(set);
                let mut times = km.keys.times();
                times.succeeded = Some(std::time::Instant::now());
                times.last_error = None;
                KeyFetch::Fetched(usable)
            }
            Err(e) => {
                tracing::warn!(key_manager = %km.config.id, error = %e, "fetching signing keys failed; keeping cached keys");
                let why = e.to_string();
                km.keys.times().last_error = Some(why.clone());
                KeyFetch::Failed(why)
            }
        }
    }

    /// Step 9: ask the key managers that may have issued the token for this API, in the order
    /// of [`Inner::introspection_candidates`]; the first that says active decides.
    pub(crate) async fn introspect<T: Trace>(
        &self,
        token: &[u8],
        api_id: &ApiId,
        key_type: KeyType,
        now: i64,
        t: &mut T,
        use_cache: bool,
    ) -> Result<Authorized, Denial> {
        let text = std::str::from_utf8(token)
            .map_err(|_| Denial::Malformed(Malformed::NotAscii { at: 0 }))?;
        // Owned: it is held across the key managers' answers.
        let api = self
            .view
            .apis()
            .get(api_id.as_str())
            .cloned()
            .ok_or_else(|| self.unknown_api(api_id))?;
        let slots = self.introspection_candidates(text, api_id, &api, t);
        if slots.is_empty() {
            let refusal = Denial::NoIntrospectionCandidate {
                api: api_id.clone(),
            };
            t.note(9, || format!("refused: {refusal}"));
            return Err(refusal);
        }
        let mut failed = false;
        for slot in slots {
            let km = &self.kms[slot as usize];
            match km.client.introspect(text).await {
                Ok(answer) if answer.active => {
                    t.note(9, || {
                        format!("key manager {} says the token is active", km.config.id)
                    });
                    let json = serde_json::to_vec(&answer.claims).unwrap_or_default();
                    let claims = claims::claims(&json, &self.names).map_err(Denial::Malformed)?;
                    let cache = use_cache.then(|| (self.hasher.key(token), &self.opaque_cache));
                    // The slots above are the usable ones; this says so in an explanation.
                    let result = self.km_usable(slot, api_id, &api, t).and_then(|()| {
                        self.finish(&claims, slot, None, api_id, &api, key_type, now, cache, t)
                    });
                    if let Err(r) = &result {
                        t.note(r.step(), || format!("refused: {r}"));
                    }
                    return result;
                }
                Ok(_) => t.note(9, || {
                    format!("key manager {} says the token is not active", km.config.id)
                }),
                Err(e) => {
                    failed = true;
                    t.note(9, || {
                        format!("key manager {} could not introspect: {e}", km.config.id)
                    });
                }
            }
        }
        let refusal = if failed {
            Denial::IntrospectionUnavailable
        } else {
            Denial::InactiveToken
        };
        t.note(9, || format!("refused: {refusal}"));
        Err(refusal)
    }

    /// The key managers an opaque token may be sent to for this API, in the order they are
    /// asked. A key manager qualifies when it is enabled, visible to the API's organization,
    /// allowed by the API, opted in to introspection, able to introspect, and holds a mapping of
    /// an application subscribed to the API. A token that starts with a key manager's
    /// `opaque_token_prefix` (the longest such prefix among the key managers visible to the
    /// API's organization) goes to that key manager alone, if it qualifies, and nowhere
    /// otherwise; other tokens never go to a key manager that declares a prefix. Order: global
    /// key managers first, then the organization's, each group in configuration order.
    fn introspection_candidates<T: Trace>(
        &self,
        token: &str,
        api_id: &ApiId,
        api: &ApiEntry,
        t: &mut T,
    ) -> Vec<u32> {
        let visible = |s: u32| {
            let c = &self.kms[s as usize].config;
            c.enabled
                && c.introspect_opaque_tokens
                && c.organization
                    .as_ref()
                    .is_none_or(|o| *o == api.organization)
        };
        let all = 0..self.kms.len() as u32;
        let prefixed = all
            .clone()
            .filter(|s| visible(*s))
            .filter_map(|s| {
                let prefix = self.kms[s as usize].config.opaque_token_prefix.as_deref()?;
                token.starts_with(prefix).then_some((prefix.len(), s))
            })
            .max_by_key(|(len, s)| (*len, std::cmp::Reverse(*s)))
            .map(|(_, s)| s);
        if let Some(s) = prefixed {
            t.note(9, || {
                format!(
                    "the token starts with the opaque token prefix of key manager {}: it alone may be asked",
                    self.kms[s as usize].config.id
                )
            });
        }
        let mut slots: Vec<u32> = all
            .filter(|s| visible(*s))
            .filter(|s| match prefixed {
                Some(p) => *s == p,
                None => self.kms[*s as usize].config.opaque_token_prefix.is_none(),
            })
            .filter(|s| {
                let km = &self.kms[*s as usize];
                let allowed = api.allowed.as_ref().is_none_or(|l| l.contains(s));
                let able = km.client.capabilities().introspection;
                let holds = self.view.reaches(*s, api.index);
                if !(allowed && able && holds) {
                    t.note(9, || {
                        format!(
                            "key manager {} is not asked: {}",
                            km.config.id,
                            if !allowed {
                                format!("api {api_id} does not accept its tokens")
                            } else if !able {
                                "its adapter cannot introspect".to_owned()
                            } else {
                                format!(
                                    "it holds no mapping of an application subscribed to api {api_id}"
                                )
                            }
                        )
                    });
                }
                allowed && able && holds
            })
            .collect();
        slots.sort_by_key(|s| self.kms[*s as usize].config.organization.is_some());
        t.note(9, || {
            let ids: Vec<String> = slots
                .iter()
                .map(|s| self.kms[*s as usize].config.id.to_string())
                .collect();
            if ids.is_empty() {
                "no key manager may be asked".to_owned()
            } else {
                format!("asking, in this order: {}", ids.join(", "))
            }
        });
        slots
    }
}
