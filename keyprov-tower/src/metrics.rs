//! Decisions and resolution times, through the `metrics` facade: nothing is recorded until the
//! application installs a recorder (a Prometheus exporter, for instance).

use std::time::Duration;

/// Counter of decisions, labelled `outcome` (`allowed`, `refused`, `passed`) and `code`
/// (`ok`; the refusal's code, such as `expired`, `not_subscribed`, `missing_credentials`,
/// `insufficient_scope`; `unmatched_route` for a request passed without a route).
pub const DECISIONS_TOTAL: &str = "keyprov_gateway_decisions_total";

/// Histogram of the time the resolver took, in seconds, labelled `outcome` (`allowed`,
/// `refused`). Requests refused before the resolver (no token, malformed header, no route)
/// are not in it.
pub const RESOLUTION_SECONDS: &str = "keyprov_gateway_resolution_seconds";

/// Registers the descriptions (help texts) of both metrics with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        DECISIONS_TOTAL,
        "Requests allowed, refused or passed by the keyprov layer, by outcome and code"
    );
    metrics::describe_histogram!(
        RESOLUTION_SECONDS,
        metrics::Unit::Seconds,
        "Time the keyprov gateway took to resolve a bearer token"
    );
}

pub(crate) fn resolved(took: Duration, allowed: bool) {
    let outcome = if allowed { "allowed" } else { "refused" };
    metrics::histogram!(RESOLUTION_SECONDS, "outcome" => outcome).record(took);
}

pub(crate) fn allowed() {
    metrics::counter!(DECISIONS_TOTAL, "outcome" => "allowed", "code" => "ok").increment(1);
}

pub(crate) fn refused(code: &'static str) {
    metrics::counter!(DECISIONS_TOTAL, "outcome" => "refused", "code" => code).increment(1);
}

pub(crate) fn passed() {
    metrics::counter!(DECISIONS_TOTAL, "outcome" => "passed", "code" => "unmatched_route")
        .increment(1);
}
