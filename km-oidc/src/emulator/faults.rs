//! Fault injection, switchable at runtime, the log of requests received, and how many were
//! in flight at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the emulator does instead of (or before) answering.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Waits this long, then answers normally (combine with a short client timeout).
    Latency(Duration),
    /// Answers this status with a JSON `{"error":"temporarily_unavailable"}` body (`Retry-After`
    /// on 429).
    Status(u16),
    /// Answers 200 `application/json` with a truncated JSON body.
    MalformedJson,
    /// Answers this status with an HTML page, as a proxy or a login page would.
    HtmlPage(u16),
    /// Closes the connection without answering.
    Drop,
}

impl Fault {
    /// This fault on every path, until cleared.
    pub fn always(self) -> FaultRule {
        FaultRule {
            fault: self,
            path_prefix: None,
            remaining: None,
        }
    }

    /// This fault on paths starting with `prefix`, until cleared.
    pub fn on(self, prefix: impl Into<String>) -> FaultRule {
        self.always().on(prefix)
    }

    /// This fault on the next `n` requests (any path).
    pub fn times(self, n: u32) -> FaultRule {
        self.always().times(n)
    }
}

/// A fault, the requests it applies to, and how many times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// The fault.
    pub fault: Fault,
    /// Applies to paths starting with this; `None`: every path.
    pub path_prefix: Option<String>,
    /// How many more requests it applies to; `None`: until cleared.
    pub remaining: Option<u32>,
}

impl FaultRule {
    /// Restricts the rule to paths starting with `prefix`.
    pub fn on(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// Limits the rule to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    fn matches(&self, path: &str) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|p| path.starts_with(p))
    }
}

#[derive(Debug, Default)]
struct FaultState {
    rules: Vec<FaultRule>,
    requests: BTreeMap<String, u64>,
    in_flight: BTreeMap<String, u64>,
    max_in_flight: BTreeMap<String, u64>,
}

/// The emulator's fault switchboard and request counter. Cheap to clone; every clone controls
/// the same emulator.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

/// What the server does with one request.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) delay: Duration,
    pub(crate) fault: Option<Fault>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a rule; rules apply in the order added.
    pub fn inject(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Requests received on exactly this path, faulted ones included.
    pub fn requests(&self, path: &str) -> u64 {
        self.lock().requests.get(path).copied().unwrap_or(0)
    }

    /// Requests received on every path.
    pub fn total_requests(&self) -> u64 {
        self.lock().requests.values().sum()
    }

    /// Forgets the request counts and the in-flight maxima.
    pub fn reset_counts(&self) {
        let mut state = self.lock();
        state.requests.clear();
        state.max_in_flight.clear();
    }

    /// The most requests on paths starting with `prefix` that were being served at once
    /// (faulted ones and their latency included), since the start or [`Faults::reset_counts`].
    pub fn max_in_flight(&self, prefix: &str) -> u64 {
        self.lock().max_in_flight.get(prefix).copied().unwrap_or(0)
    }

    /// Requests on paths starting with `prefix` being served now.
    pub fn in_flight(&self, prefix: &str) -> u64 {
        self.lock().in_flight.get(prefix).copied().unwrap_or(0)
    }

    /// Counts a request on `path` as in flight until the returned value is dropped, under
    /// each of the path's prefixes that end before a `/` (and the whole path).
    pub(crate) fn enter(&self, path: &str) -> InFlight {
        let prefixes = prefixes(path);
        let mut state = self.lock();
        for prefix in &prefixes {
            let now = state.in_flight.entry(prefix.clone()).or_default();
            *now += 1;
            let now = *now;
            let max = state.max_in_flight.entry(prefix.clone()).or_default();
            *max = (*max).max(now);
        }
        InFlight {
            faults: self.clone(),
            prefixes,
        }
    }

    /// Counts the request and decides its fate: every matching latency adds up, the first
    /// matching other fault applies. Rules used up are removed.
    pub(crate) fn plan(&self, path: &str) -> Plan {
        let mut state = self.lock();
        *state.requests.entry(path.to_owned()).or_default() += 1;
        let mut plan = Plan::default();
        for rule in state.rules.iter_mut().filter(|r| r.matches(path)) {
            match &rule.fault {
                Fault::Latency(d) => plan.delay += *d,
                other if plan.fault.is_none() => plan.fault = Some(other.clone()),
                _ => continue,
            }
            if let Some(n) = &mut rule.remaining {
                *n = n.saturating_sub(1);
            }
        }
        state.rules.retain(|r| r.remaining != Some(0));
        plan
    }
}

/// `/a/b/c` → `/`, `/a`, `/a/b`, `/a/b/c`.
fn prefixes(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_owned()];
    out.extend(
        path.char_indices()
            .filter(|(i, c)| *c == '/' && *i > 0)
            .map(|(i, _)| path[..i].to_owned()),
    );
    if path != "/" {
        out.push(path.to_owned());
    }
    out
}

/// A request being served (see [`Faults::enter`]).
#[derive(Debug)]
pub(crate) struct InFlight {
    faults: Faults,
    prefixes: Vec<String>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.faults.lock();
        for prefix in &self.prefixes {
            if let Some(n) = state.in_flight.get_mut(prefix) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_by_path_and_count() {
        let faults = Faults::default();
        faults.inject(Fault::Status(503).on("/token").times(2));
        faults.inject(Fault::Latency(Duration::from_millis(5)).always());
        assert_eq!(faults.plan("/jwks").fault, None);
        assert_eq!(faults.plan("/token").fault, Some(Fault::Status(503)));
        let plan = faults.plan("/token");
        assert_eq!(plan.fault, Some(Fault::Status(503)));
        assert_eq!(plan.delay, Duration::from_millis(5));
        assert_eq!(faults.plan("/token").fault, None, "used up");
        assert_eq!(faults.requests("/token"), 3);
        assert_eq!(faults.total_requests(), 4);
    }

    #[test]
    fn in_flight_requests_are_counted_by_path_prefix_with_their_maximum() {
        let faults = Faults::default();
        let a = faults.enter("/admin/realms/r/clients");
        let b = faults.enter("/admin/realms/r/clients");
        let c = faults.enter("/token");
        assert_eq!(faults.in_flight("/admin"), 2);
        assert_eq!(faults.in_flight("/admin/realms/r/clients"), 2);
        assert_eq!(faults.in_flight("/"), 3);
        drop((a, b));
        assert_eq!(faults.in_flight("/admin"), 0);
        assert_eq!(faults.max_in_flight("/admin"), 2);
        assert_eq!(faults.max_in_flight("/token"), 1);
        assert_eq!(faults.max_in_flight("/adm"), 0, "whole segments only");
        drop(c);
        faults.reset_counts();
        assert_eq!(faults.max_in_flight("/"), 0);
    }
}
