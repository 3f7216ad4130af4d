//! Which key managers may have issued an opaque token for an API: those holding a mapping of
//! an application subscribed to it. Kept only for the key managers that opted in to
//! introspection (no memory is spent when none did), and maintained by the view's changes.
//!
//! Mappings and subscriptions of any state count: the token then goes on to the usual checks,
//! which refuse it with the precise reason (a suspended mapping, a blocked subscription).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::ApplicationId;

type Hasher = foldhash::fast::RandomState;

/// What one application links: key manager slots it holds mappings under (once per mapping)
/// and API numbers it is subscribed to.
#[derive(Debug, Default)]
struct Links {
    slots: Vec<u32>,
    apis: Vec<u32>,
}

#[derive(Debug, Default)]
struct Tables {
    applications: HashMap<ApplicationId, Links, Hasher>,
    /// (API number, slot) → how many (mapping, subscription) pairs of one application link
    /// them. Absent: none.
    pairs: HashMap<(u32, u32), u32, Hasher>,
}

impl Tables {
    fn count(&mut self, api: u32, slot: u32, up: bool) {
        let n = self.pairs.entry((api, slot)).or_default();
        if up {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.pairs.remove(&(api, slot));
            }
        }
    }

    fn tidy(&mut self, application: ApplicationId) {
        if self
            .applications
            .get(&application)
            .is_some_and(|l| l.slots.is_empty() && l.apis.is_empty())
        {
            self.applications.remove(&application);
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Reach {
    /// Per key manager slot: whether it opted in to introspection.
    tracked: Vec<bool>,
    tables: Option<Mutex<Tables>>,
}

impl Reach {
    pub(crate) fn new(tracked: Vec<bool>) -> Self {
        let any = tracked.iter().any(|t| *t);
        Self {
            tracked,
            tables: any.then(Mutex::default),
        }
    }

    fn tables(&self) -> Option<std::sync::MutexGuard<'_, Tables>> {
        self.tables
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether the key manager in `slot` holds a mapping of an application subscribed to the
    /// API numbered `api` (always `false` for a key manager that did not opt in).
    pub(crate) fn holds(&self, slot: u32, api: u32) -> bool {
        self.tables()
            .is_some_and(|t| t.pairs.get(&(api, slot)).is_some_and(|n| *n > 0))
    }

    /// A mapping under `slot` was added (not a state change of a known one).
    pub(crate) fn add_mapping(&self, application: ApplicationId, slot: u32) {
        if !self.tracked.get(slot as usize).copied().unwrap_or(false) {
            return;
        }
        let Some(mut t) = self.tables() else { return };
        let links = t.applications.entry(application).or_default();
        links.slots.push(slot);
        let apis = links.apis.clone();
        for api in apis {
            t.count(api, slot, true);
        }
    }

    /// A mapping under `slot` was removed (or now belongs to another application).
    pub(crate) fn remove_mapping(&self, application: ApplicationId, slot: u32) {
        if !self.tracked.get(slot as usize).copied().unwrap_or(false) {
            return;
        }
        let Some(mut t) = self.tables() else { return };
        let Some(links) = t.applications.get_mut(&application) else {
            return;
        };
        let Some(at) = links.slots.iter().position(|s| *s == slot) else {
            return;
        };
        links.slots.swap_remove(at);
        let apis = links.apis.clone();
        for api in apis {
            t.count(api, slot, false);
        }
        t.tidy(application);
    }

    /// A subscription was added (not a state change of a known one).
    pub(crate) fn add_subscription(&self, application: ApplicationId, api: u32) {
        let Some(mut t) = self.tables() else { return };
        let links = t.applications.entry(application).or_default();
        if links.apis.contains(&api) {
            return;
        }
        links.apis.push(api);
        let slots = links.slots.clone();
        for slot in slots {
            t.count(api, slot, true);
        }
    }

    /// A subscription was removed.
    pub(crate) fn remove_subscription(&self, application: ApplicationId, api: u32) {
        let Some(mut t) = self.tables() else { return };
        let Some(links) = t.applications.get_mut(&application) else {
            return;
        };
        let Some(at) = links.apis.iter().position(|a| *a == api) else {
            return;
        };
        links.apis.swap_remove(at);
        let slots = links.slots.clone();
        for slot in slots {
            t.count(api, slot, false);
        }
        t.tidy(application);
    }

    /// Forgets everything (before a full load).
    pub(crate) fn clear(&self) {
        if let Some(mut t) = self.tables() {
            *t = Tables::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs appear with the second of their mapping and subscription, in either order, and go
    /// with the first removed; slots that did not opt in are never counted.
    #[test]
    fn a_slot_reaches_an_api_through_one_application() {
        let r = Reach::new(vec![true, true, false]);
        let (a, b) = (ApplicationId::random(), ApplicationId::random());
        r.add_mapping(a, 0);
        assert!(!r.holds(0, 7));
        r.add_subscription(a, 7);
        r.add_subscription(a, 7);
        assert!(r.holds(0, 7) && !r.holds(1, 7) && !r.holds(0, 8));
        r.add_subscription(b, 8);
        r.add_mapping(b, 1);
        r.add_mapping(b, 2);
        assert!(r.holds(1, 8) && !r.holds(2, 8), "slot 2 did not opt in");
        // Two mappings of one application under one slot: the pair lasts until both go.
        r.add_mapping(a, 0);
        r.remove_mapping(a, 0);
        assert!(r.holds(0, 7));
        r.remove_mapping(a, 0);
        assert!(!r.holds(0, 7));
        r.remove_subscription(b, 8);
        assert!(!r.holds(1, 8));
        r.add_subscription(b, 8);
        assert!(r.holds(1, 8));
        r.clear();
        assert!(!r.holds(1, 8));
        let none = Reach::new(vec![false]);
        none.add_mapping(a, 0);
        none.add_subscription(a, 7);
        assert!(!none.holds(0, 7));
    }
}
