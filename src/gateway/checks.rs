//! The checks that do not depend on the signature and are repeated on every cache hit:
//! steps 2 (key manager enabled and allowed), 4 (time), 5 (audience), 7 (mapping) and 8
//! (subscription and key type), with the memoized decision of a cached token.

use std::sync::Arc;

use super::cache::{Memo, Verified};
use super::explain::Trace;
use super::refusal::{Denial, cold};
use super::view::ApiEntry;
use super::{Authorized, Inner, KmState};
use crate::model::{ApiId, KeyType, MappingState};

impl Inner {
    /// A cached token: everything that may have changed since it was verified is checked again,
    /// unless none of the change counters the last positive decision for this API and key type
    /// depends on has moved (then only the clock is). `None` when the token must be verified
    /// afresh: the issuer now elects another key manager for this API, or the key that
    /// verified it is no longer in its key manager's set.
    pub(crate) fn check_hit<T: Trace>(
        &self,
        v: &Verified,
        api_id: &ApiId,
        key_type: KeyType,
        now: i64,
        t: &mut T,
    ) -> Option<Result<Authorized, Denial>> {
        let km = &self.kms[v.km() as usize];
        let memo = v.memo.load();
        if let Some(memo) = &*memo
            && memo.key_type == key_type
            && *memo.api == *api_id.as_str()
            && memo.stamp == self.stamp(km, memo.counters)
        {
            return Some(
                self.check_time(v.exp(), v.nbf(), None, now, t)
                    .map(|()| Authorized {
                        application: memo.application,
                        mapping: memo.mapping,
                        key_type: memo.key_type,
                        subscription: memo.subscription,
                        key_manager: km.handed_out_id(),
                        consumer_key: v.consumer_key.clone(),
                        scopes: v.scopes.clone(),
                        expires_at: v.exp(),
                    }),
            );
        }
        // The counters are read before anything the decision reads. Which application's
        // counter covers the decision is known from a stale memo for this API (the usual case
        // after a change); otherwise the mapping is looked up first only to learn it. Either
        // way the decision is memoized only if it names that application.
        let counters = match &*memo {
            Some(m) if *m.api == *api_id.as_str() => Some((m.application, m.counters)),
            _ => {
                let api = self.view.with_api(api_id.as_str(), |a| a.map(|a| a.index));
                let application = self
                    .view
                    .mapping(v.km(), v.consumer_key.as_str())
                    .map(|m| m.application);
                api.zip(application).map(|(api, app)| {
                    (
                        app,
                        (
                            self.view.application_stamp(app),
                            super::view::View::api_stamp(api),
                        ),
                    )
                })
            }
        };
        drop(memo);
        let counters = counters.map(|(app, c)| (app, c, self.stamp(km, c)));
        if let Some(key) = v.key()
            && !km.keys.holds(key)
        {
            t.note(3, || {
                format!(
                    "the key that verified this token is no longer served by key manager {}",
                    km.config.id
                )
            });
            return None;
        }
        let result = self.view.with_api(api_id.as_str(), |api| {
            let Some(api) = api else {
                return Some(Err(self.unknown_api(api_id)));
            };
            if let Some(issuer) = v.issuer()
                && self.elect(issuer, &api.organization) != Some(v.km())
            {
                return None;
            }
            Some(self.authorize(v, api_id, api, key_type, now, t))
        });
        if let Some(Ok(ok)) = &result
            && let Some((application, counters, stamp)) = counters
        {
            // Another application now holds the client: forget the memo, so that the next
            // call looks up which counter covers the new one.
            let memo = (application == ok.application).then(|| {
                Arc::new(Memo {
                    stamp,
                    counters,
                    api: api_id.as_str().into(),
                    key_type,
                    application: ok.application,
                    mapping: ok.mapping,
                    subscription: ok.subscription,
                })
            });
            v.memo.store(memo);
        }
        result
    }

    /// What a memoized decision's validity is read from: the view's counters for the
    /// application and the API, plus the key manager's key epoch (all only grow).
    fn stamp(&self, km: &KmState, (application, api): (u32, u32)) -> u64 {
        self.view
            .stamp(application, api)
            .wrapping_add(km.keys.epoch())
    }

    pub(crate) fn km_usable<T: Trace>(
        &self,
        slot: u32,
        api_id: &ApiId,
        api: &ApiEntry,
        t: &mut T,
    ) -> Result<(), Denial> {
        let km = &self.kms[slot as usize].config;
        if !km.enabled {
            return Err(cold(|| Denial::KeyManagerDisabled {
                key_manager: km.id.clone(),
            }));
        }
        let visible = km
            .organization
            .as_ref()
            .is_none_or(|o| *o == api.organization);
        let allowed = api.allowed.as_ref().is_none_or(|list| list.contains(&slot));
        if !visible || !allowed {
            return Err(cold(|| Denial::KeyManagerNotAllowed {
                key_manager: km.id.clone(),
                api: api_id.clone(),
            }));
        }
        t.note(2, || {
            format!(
                "key manager {} is enabled and {} for api {api_id}",
                km.id,
                if api.allowed.is_none() {
                    "allowed (the api allows all)"
                } else {
                    "allowed"
                }
            )
        });
        Ok(())
    }

    pub(crate) fn check_time<T: Trace>(
        &self,
        exp: Option<i64>,
        nbf: Option<i64>,
        iat: Option<i64>,
        now: i64,
        t: &mut T,
    ) -> Result<(), Denial> {
        let leeway = self.settings.leeway.as_secs() as i64;
        match exp {
            None if self.settings.require_exp => return Err(Denial::MissingExpiry),
            Some(exp) if now >= exp.saturating_add(leeway) => {
                return Err(cold(|| Denial::Expired { exp }));
            }
            _ => {}
        }
        if let Some(nbf) = nbf.filter(|nbf| now.saturating_add(leeway) < *nbf) {
            return Err(cold(|| Denial::NotYetValid { nbf }));
        }
        if let Some(iat) = iat.filter(|iat| now.saturating_add(leeway) < *iat) {
            return Err(cold(|| Denial::IssuedInFuture { iat }));
        }
        t.note(4, || match exp {
            Some(exp) => format!("valid now ({now}); expires at {exp}; leeway {leeway} s"),
            None => "no exp, accepted because the gateway does not require one".to_owned(),
        });
        Ok(())
    }

    pub(crate) fn check_audience<T: Trace>(
        &self,
        km: &KmState,
        api: &ApiEntry,
        audience: &super::claims::Audience,
        t: &mut T,
    ) -> Result<(), Denial> {
        let mut checked = false;
        for expected in [api.audience.as_deref(), km.config.audience.as_deref()]
            .into_iter()
            .flatten()
        {
            if !audience.contains(expected) {
                return Err(cold(|| Denial::WrongAudience {
                    expected: expected.to_owned(),
                }));
            }
            checked = true;
        }
        t.note(5, || {
            if checked {
                "the configured audience is in aud".to_owned()
            } else {
                "no audience configured for the api or the key manager: not checked".to_owned()
            }
        });
        Ok(())
    }

    /// For a cached token: steps 2 (again: the API or the key manager may have changed), 4
    /// and 5, then 7 and 8.
    pub(crate) fn authorize<T: Trace>(
        &self,
        v: &Verified,
        api_id: &ApiId,
        api: &ApiEntry,
        key_type: KeyType,
        now: i64,
        t: &mut T,
    ) -> Result<Authorized, Denial> {
        let km = &self.kms[v.km() as usize];
        self.km_usable(v.km(), api_id, api, t)?;
        self.check_time(v.exp(), v.nbf(), None, now, t)?;
        self.check_audience(km, api, &v.audience, t)?;
        self.map_and_subscribe(v, api_id, api, key_type, t)
    }

    /// Steps 7 (the mapping) and 8 (the subscription and key type), for a token whose key
    /// manager, time and audience were just checked.
    pub(crate) fn map_and_subscribe<T: Trace>(
        &self,
        v: &Verified,
        api_id: &ApiId,
        api: &ApiEntry,
        key_type: KeyType,
        t: &mut T,
    ) -> Result<Authorized, Denial> {
        let km = &self.kms[v.km() as usize];
        let Some(mapping) = self.view.mapping(v.km(), v.consumer_key.as_str()) else {
            if T::ON {
                let elsewhere: Vec<String> = self
                    .view
                    .mapped_elsewhere(v.consumer_key.as_str())
                    .into_iter()
                    .map(|s| self.kms[s as usize].config.id.to_string())
                    .collect();
                if !elsewhere.is_empty() {
                    t.note(7, || {
                        format!(
                            "this client id is mapped under key manager(s) {}, not under {}",
                            elsewhere.join(", "),
                            km.config.id
                        )
                    });
                }
            }
            return Err(cold(|| Denial::NoMapping {
                key_manager: km.config.id.clone(),
                consumer_key: v.consumer_key.to_string(),
            }));
        };
        t.note(7, || {
            format!(
                "mapping {} gives application {} {} keys; state {}",
                mapping.id, mapping.application, mapping.key_type, mapping.state
            )
        });
        if mapping.state != MappingState::Active {
            return Err(cold(|| Denial::MappingNotActive {
                state: mapping.state,
            }));
        }
        if mapping.key_type != key_type {
            return Err(cold(|| Denial::KeyTypeMismatch {
                mapping: mapping.key_type,
                endpoint: key_type,
            }));
        }
        let Some(state) = self.view.subscription(mapping.application, api.index) else {
            return Err(cold(|| Denial::NotSubscribed {
                api: api_id.clone(),
            }));
        };
        if !state.allows(key_type) {
            return Err(cold(|| Denial::SubscriptionRefuses { state, key_type }));
        }
        t.note(8, || format!(
            "the application's subscription to {api_id} is {state}, which allows {key_type} calls"
        ));
        Ok(Authorized {
            application: mapping.application,
            mapping: mapping.id,
            key_type: mapping.key_type,
            subscription: state,
            key_manager: km.handed_out_id(),
            consumer_key: v.consumer_key.clone(),
            scopes: v.scopes.clone(),
            expires_at: v.exp(),
        })
    }
}
