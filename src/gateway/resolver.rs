//! The resolution itself, steps 1–9 of the [gateway guide](crate::guide::gateway). The synchronous part decides everything that
//! needs no I/O; the asynchronous wrapper fetches keys (rate-limited) or introspects when it
//! must, then resumes.

use super::cache::{TokenCache, TokenKey, Verified};
use super::claims::{self, AUD, Claims, EXP, IAT, ISS, NBF};
use super::explain::{NoTrace, Trace};
use super::jwks::Unfit;
use super::refusal::{Denial, Malformed, cold, truncated};
use super::remote::KeyFetch;
use super::token::{self, Shape};
use super::view::ApiEntry;
use super::{Authorized, Gateway, Inner, unix_now};
use crate::model::{ApiId, ConsumerKey, KeyType, OrganizationId};

/// What the synchronous part concluded.
pub(crate) enum Outcome {
    Done(Result<Authorized, Denial>),
    /// The key manager's keys must be fetched first (never loaded, or unknown `kid`), and the
    /// rate limit allows it now.
    FetchKeys(u32),
    /// An opaque token: ask the key managers.
    Introspect,
}

enum Stop {
    Refused(Denial),
    FetchKeys(u32),
}

impl From<Denial> for Stop {
    fn from(r: Denial) -> Self {
        Stop::Refused(r)
    }
}

impl From<Malformed> for Stop {
    fn from(m: Malformed) -> Self {
        Stop::Refused(Denial::Malformed(m))
    }
}

#[cold]
#[inline(never)]
fn bad_claim(name: &str) -> Denial {
    Denial::Malformed(Malformed::Claim {
        name: name.to_owned(),
    })
}

impl Gateway {
    /// Resolves a bearer token (the text after `Bearer `) for a call to `api` on an endpoint of
    /// `key_type`: steps 1–9 of the [gateway guide](crate::guide::gateway).
    ///
    /// It performs I/O only to fetch a key manager's keys (first use, or an unknown `kid`,
    /// rate-limited) and to introspect opaque tokens.
    ///
    /// # Errors
    /// The [`Denial`] of the first check that fails.
    pub async fn resolve(
        &self,
        token: impl AsRef<[u8]>,
        api: &ApiId,
        key_type: KeyType,
    ) -> Result<Authorized, Denial> {
        self.run(token.as_ref(), api, key_type, &mut NoTrace, true)
            .await
    }

    /// As [`Gateway::resolve`] without any I/O: `None` when keys must be fetched first or the
    /// token is opaque and not cached; then call [`Gateway::resolve`].
    pub fn resolve_now(
        &self,
        token: impl AsRef<[u8]>,
        api: &ApiId,
        key_type: KeyType,
    ) -> Option<Result<Authorized, Denial>> {
        let now = unix_now();
        match self
            .inner
            .local(token.as_ref(), api, key_type, now, true, true, &mut NoTrace)
        {
            Outcome::Done(result) => Some(result),
            Outcome::FetchKeys(_) | Outcome::Introspect => None,
        }
    }

    pub(crate) async fn run<T: Trace>(
        &self,
        token: &[u8],
        api: &ApiId,
        key_type: KeyType,
        t: &mut T,
        use_cache: bool,
    ) -> Result<Authorized, Denial> {
        let inner = &*self.inner;
        let now = unix_now();
        match inner.local(token, api, key_type, now, true, use_cache, t) {
            Outcome::Done(result) => result,
            Outcome::FetchKeys(slot) => {
                let km = &inner.kms[slot as usize].config.id;
                match inner.fetch_keys(slot).await {
                    KeyFetch::Fetched(n) => t.note(3, || {
                        format!("fetched the signing keys of {km}: {n} usable; resuming")
                    }),
                    KeyFetch::RateLimited => t.note(3, || {
                        format!("the keys of {km} were fetched moments ago; not fetching again")
                    }),
                    KeyFetch::Failed(why) => t.note(3, || {
                        format!("fetching the keys of {km} failed ({why}); keeping the cached keys")
                    }),
                }
                match inner.local(token, api, key_type, now, false, use_cache, t) {
                    Outcome::Done(result) => result,
                    _ => Err(Denial::KeysUnavailable {
                        key_manager: km.clone(),
                    }),
                }
            }
            Outcome::Introspect => {
                inner
                    .introspect(token, api, key_type, now, t, use_cache)
                    .await
            }
        }
    }
}

impl Inner {
    pub(crate) fn elect(&self, issuer: u32, organization: &OrganizationId) -> Option<u32> {
        self.issuer_slots[issuer as usize]
            .iter()
            .copied()
            .find(|s| {
                self.kms[*s as usize]
                    .config
                    .organization
                    .as_ref()
                    .is_none_or(|o| o == organization)
            })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn local<T: Trace>(
        &self,
        token: &[u8],
        api: &ApiId,
        key_type: KeyType,
        now: i64,
        allow_fetch: bool,
        use_cache: bool,
        t: &mut T,
    ) -> Outcome {
        let compact = match token::shape(token, self.settings.max_token_len) {
            Err(m) => {
                t.note(1, || format!("refused: {m}"));
                return Outcome::Done(Err(Denial::Malformed(m)));
            }
            Ok(Shape::Opaque) => {
                t.note(1, || {
                    "no dots: an opaque token, to introspect (step 9)".to_owned()
                });
                if use_cache {
                    let key = self.hasher.key(token);
                    let hit = self.opaque_cache.with(key, now, |v| {
                        t.note(9, || {
                            format!(
                                "found in the introspection cache (key manager {})",
                                self.kms[v.km() as usize].config.id
                            )
                        });
                        self.check_hit(v, api, key_type, now, t)
                    });
                    if let Some(Some(result)) = hit {
                        return Outcome::Done(result);
                    }
                }
                return Outcome::Introspect;
            }
            Ok(Shape::Jwt(compact)) => compact,
        };
        let key = use_cache.then(|| self.hasher.key(token));
        if let Some(key) = key {
            let hit = self
                .jwt_cache
                .with(key, now, |v| self.check_hit(v, api, key_type, now, t));
            if let Some(Some(result)) = hit {
                return Outcome::Done(result);
            }
        }
        t.note(1, || {
            "three dot-separated base64url parts: a JWT".to_owned()
        });
        let cache = key.map(|k| (k, &self.jwt_cache));
        match self.verify_jwt(&compact, api, key_type, now, allow_fetch, cache, t) {
            Ok(ok) => Outcome::Done(Ok(ok)),
            Err(Stop::Refused(r)) => {
                t.note(r.step(), || format!("refused: {r}"));
                Outcome::Done(Err(r))
            }
            Err(Stop::FetchKeys(slot)) => Outcome::FetchKeys(slot),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_jwt<T: Trace>(
        &self,
        compact: &token::Compact<'_>,
        api_id: &ApiId,
        key_type: KeyType,
        now: i64,
        allow_fetch: bool,
        cache: Option<(TokenKey, &TokenCache)>,
        t: &mut T,
    ) -> Result<Authorized, Stop> {
        let (mut stack, mut heap) = (token::scratch(), Vec::new());
        let header = self.headers.get(compact.header)?;
        let decoded = token::Decoded::new(compact, &mut stack, &mut heap)?;
        let claims = claims::claims(decoded.payload(), &self.names)?;
        // Step 2: the issuer elects the key manager; nothing is trusted yet.
        let issuer = claims
            .string(ISS)
            .map_err(|_| bad_claim("iss"))?
            .ok_or(Denial::MissingIssuer)?;
        let Some(&issuer_id) = self.issuers.get(&*issuer) else {
            return Err(cold(|| Denial::UnknownIssuer {
                issuer: truncated(&issuer, 200),
            })
            .into());
        };
        let apis = self.view.apis();
        let api = apis
            .get(api_id.as_str())
            .ok_or_else(|| cold(|| self.unknown_api(api_id)))?;
        let slot = self.elect(issuer_id, &api.organization).ok_or_else(|| {
            cold(|| Denial::UnknownIssuer {
                issuer: truncated(&issuer, 200),
            })
        })?;
        let km = &self.kms[slot as usize];
        t.note(2, || {
            format!(
                "issuer {issuer:?} elects key manager {} ({})",
                km.config.id,
                match &km.config.organization {
                    None => "global".to_owned(),
                    Some(o) => format!("of organization {o}"),
                }
            )
        });
        self.km_usable(slot, api_id, api, t)?;
        // Step 3: the key decides the algorithm.
        let Some(alg) = header.alg else {
            return Err(cold(|| Denial::UnsupportedAlgorithm {
                alg: truncated(&header.alg_name, 32),
            })
            .into());
        };
        let may_fetch =
            || allow_fetch && km.keys.may_fetch(self.settings.jwks_min_refresh_interval);
        if !km.keys.is_loaded() {
            // Never fetched yet: fetch, or wait for the fetch another request started.
            if allow_fetch {
                return Err(Stop::FetchKeys(slot));
            }
            return Err(cold(|| Denial::KeysUnavailable {
                key_manager: km.config.id.clone(),
            })
            .into());
        }
        let set = km.keys.current();
        let signature = decoded.signature();
        let kid = header.kid.as_deref();
        // A signature that fails with the cached keys may be one of a key the key manager
        // replaced under the same `kid` (an IdP restarted with a new key): fetch once, within
        // the same rate limit as for an unknown `kid`, and verify again.
        let refetch = |t: &mut T| {
            t.note(3, || {
                format!(
                    "the signature does not verify with the cached keys of {}; fetching them again",
                    km.config.id
                )
            });
            Stop::FetchKeys(slot)
        };
        let key_id = match kid {
            Some(kid) => {
                let Some(key) = set.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) else {
                    if may_fetch() {
                        t.note(3, || {
                            format!(
                                "no key with kid {kid:?} in the cached keys of {}",
                                km.config.id
                            )
                        });
                        return Err(Stop::FetchKeys(slot));
                    }
                    return Err(cold(|| Denial::UnknownKey {
                        key_manager: km.config.id.clone(),
                        kid: Some(truncated(kid, 64)),
                    })
                    .into());
                };
                let parsed = key.for_alg(alg).map_err(|Unfit::Mismatch| {
                    cold(|| Denial::AlgorithmMismatch {
                        key_manager: km.config.id.clone(),
                        alg,
                        key: match key.pinned {
                            Some(_) => "pinned to another alg by its JWK",
                            None => key.kind.name(),
                        },
                    })
                })?;
                if parsed.verify_sig(compact.signing_input, signature).is_err() {
                    if may_fetch() {
                        return Err(refetch(t));
                    }
                    return Err(cold(|| Denial::BadSignature {
                        key_manager: km.config.id.clone(),
                        kid: Some(truncated(kid, 64)),
                    })
                    .into());
                }
                t.note(3, || {
                    format!(
                        "{alg} signature verified with key {kid:?} ({})",
                        key.kind.name()
                    )
                });
                key.id
            }
            None => {
                let mut fitting = set
                    .keys
                    .iter()
                    .filter_map(|k| k.for_alg(alg).ok().map(|p| (k, p)))
                    .peekable();
                if fitting.peek().is_none() {
                    return Err(cold(|| Denial::UnknownKey {
                        key_manager: km.config.id.clone(),
                        kid: None,
                    })
                    .into());
                }
                let Some((key, _)) =
                    fitting.find(|(_, p)| p.verify_sig(compact.signing_input, signature).is_ok())
                else {
                    if may_fetch() {
                        return Err(refetch(t));
                    }
                    return Err(cold(|| Denial::BadSignature {
                        key_manager: km.config.id.clone(),
                        kid: None,
                    })
                    .into());
                };
                t.note(3, || {
                    format!(
                        "{alg} signature verified with a key without kid ({})",
                        key.kind.name()
                    )
                });
                key.id
            }
        };
        Ok(self.finish(
            &claims,
            slot,
            Some((issuer_id, key_id)),
            api_id,
            api,
            key_type,
            now,
            cache,
            t,
        )?)
    }

    /// Steps 4–6 on verified claims, then caching, then steps 7–8.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish<T: Trace>(
        &self,
        claims: &Claims<'_>,
        slot: u32,
        signed: Option<(u32, u32)>,
        api_id: &ApiId,
        api: &ApiEntry,
        key_type: KeyType,
        now: i64,
        cache: Option<(TokenKey, &TokenCache)>,
        t: &mut T,
    ) -> Result<Authorized, Denial> {
        let km = &self.kms[slot as usize];
        let exp = claims.time(EXP).map_err(|_| bad_claim("exp"))?;
        let nbf = claims.time(NBF).map_err(|_| bad_claim("nbf"))?;
        let iat = claims.time(IAT).map_err(|_| bad_claim("iat"))?;
        self.check_time(exp, nbf, iat, now, t)?;
        let audience = claims.audience(AUD).map_err(|_| bad_claim("aud"))?;
        self.check_audience(km, api, &audience, t)?;
        // Step 6: never `sub`.
        let mut found = None;
        for (position, name) in &km.consumer_key_claims {
            match claims.string_or_first(*position) {
                Ok(Some(value)) if !value.is_empty() => {
                    found = Some((value, name));
                    break;
                }
                Ok(_) => {}
                Err(_) => return Err(bad_claim(name)),
            }
        }
        let Some((value, name)) = found else {
            return Err(cold(|| Denial::NoConsumerKey {
                tried: km
                    .consumer_key_claims
                    .iter()
                    .map(|(_, n)| n.clone())
                    .collect(),
            }));
        };
        let consumer_key = ConsumerKey::from_ref(&value).map_err(|_| bad_claim(name))?;
        t.note(6, || {
            format!(
                "client id {:?} read from claim {name:?}",
                consumer_key.as_str()
            )
        });
        let scopes = claims
            .scopes(km.scopes_claim)
            .map_err(|_| bad_claim(&km.config.scopes_claim))?;
        let verified = Verified::new(slot, signed, consumer_key, (exp, nbf), audience, scopes);
        // Steps 2, 4 and 5 passed moments ago, above and in `verify_jwt`. The lookups come
        // before caching: they then need not wait behind the cache's writes.
        let result = self.map_and_subscribe(&verified, api_id, api, key_type, t);
        if let Some((key, cache)) = cache {
            let until = exp.unwrap_or(now + self.settings.max_cache_ttl.as_secs() as i64);
            cache.insert(key, until, now, verified);
        }
        result
    }
}
