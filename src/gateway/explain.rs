//! "Why was this token accepted or refused?": the decision step by step in plain words, for
//! support staff and logs. It names key managers, key ids, claims, mappings and subscription
//! rules; it never contains the token, a signature or a secret.

use std::fmt;

use super::refusal::Denial;
use super::{Authorized, Gateway};
use crate::model::{ApiId, KeyType};

/// Records the steps of a resolution. The hot path uses [`NoTrace`], for which every call
/// compiles to nothing.
pub(crate) trait Trace: Send {
    const ON: bool;
    fn note(&mut self, step: u8, text: impl FnOnce() -> String);
}

pub(crate) struct NoTrace;

impl Trace for NoTrace {
    const ON: bool = false;
    #[inline(always)]
    fn note(&mut self, _: u8, _: impl FnOnce() -> String) {}
}

#[derive(Default)]
pub(crate) struct Steps(pub Vec<ExplainedStep>);

impl Trace for Steps {
    const ON: bool = true;
    fn note(&mut self, step: u8, text: impl FnOnce() -> String) {
        // A resolution re-runs checks after fetching keys and before deciding; say each once.
        let step = ExplainedStep { step, text: text() };
        if !self.0.contains(&step) {
            self.0.push(step);
        }
    }
}

/// One step of an explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplainedStep {
    /// The step of the [resolution](crate::guide::gateway) (1–9).
    pub step: u8,
    /// What was checked and found.
    pub text: String,
}

/// A decision, step by step. `Display` prints one line per step and the outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The steps, in order.
    pub steps: Vec<ExplainedStep>,
    /// The decision.
    pub outcome: Result<Authorized, Denial>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            writeln!(f, "step {}: {}", s.step, s.text)?;
        }
        match &self.outcome {
            Ok(ok) => write!(
                f,
                "accepted: application {} with {} keys (mapping {}, client {:?} of key manager {}), subscription {}",
                ok.application,
                ok.key_type,
                ok.mapping,
                ok.consumer_key.as_str(),
                ok.key_manager,
                ok.subscription
            ),
            Err(refusal) => write!(
                f,
                "refused at step {} ({} {}): {refusal}",
                refusal.step(),
                refusal.status(),
                refusal.code()
            ),
        }
    }
}

impl Gateway {
    /// Resolves `token` for `api` and `key_type` as [`Gateway::resolve`] does, bypassing the
    /// verified-token cache, and says why at each step. It may fetch keys or introspect, like
    /// a resolution.
    pub async fn explain(
        &self,
        token: impl AsRef<[u8]>,
        api: &ApiId,
        key_type: KeyType,
    ) -> Explanation {
        let mut steps = Steps::default();
        let outcome = self
            .run(token.as_ref(), api, key_type, &mut steps, false)
            .await;
        Explanation {
            steps: steps.0,
            outcome,
        }
    }
}
