//! `keyprov recheck`: one mapping or all of them (optionally one key manager's) against their
//! key managers, a bounded number at once, with a progress bar on a terminal and plain lines
//! otherwise, then a summary.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keyprov::{KeyMapping, MappingId, MappingState};
use serde::Serialize;

use crate::cli::RecheckArgs;
use crate::commands::reported;
use crate::context::Context;
use crate::exit::{Failure, SOME_FAILED};
use crate::output::{Output, Section, Table, Tone, colour_allowed};

#[derive(Serialize)]
struct Checked {
    mapping: MappingId,
    application: keyprov::ApplicationId,
    key_manager: String,
    consumer_key: String,
    before: MappingState,
    /// The state after the check; absent when it failed.
    after: Option<MappingState>,
    outcome: &'static str,
    error: Option<ErrorView>,
}

#[derive(Serialize)]
struct ErrorView {
    code: u32,
    message: String,
}

#[derive(Serialize)]
struct Report {
    checked: usize,
    unchanged: usize,
    changed: usize,
    failed: usize,
    /// `BEFORE -> AFTER` (or `BEFORE -> error CODE`) and how many.
    transitions: BTreeMap<String, usize>,
    mappings: Vec<Checked>,
}

/// Progress on standard error: a bar on a terminal, else one line per mapping.
enum Progress {
    Bar(ProgressBar),
    Lines { total: usize, done: usize },
}

impl Progress {
    fn new(total: usize) -> Self {
        if std::io::stderr().is_terminal() {
            let colour = colour_allowed(true);
            let template = if colour {
                "{spinner} rechecking [{bar:32.cyan/blue}] {pos}/{len} {msg}"
            } else {
                "{spinner} rechecking [{bar:32}] {pos}/{len} {msg}"
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            let bar = ProgressBar::with_draw_target(
                Some(total as u64),
                ProgressDrawTarget::stderr_with_hz(10),
            )
            .with_style(style);
            bar.enable_steady_tick(Duration::from_millis(100));
            Progress::Bar(bar)
        } else {
            Progress::Lines { total, done: 0 }
        }
    }

    fn step(&mut self, checked: &Checked) {
        let what = match (&checked.after, &checked.error) {
            (Some(after), _) if *after == checked.before => format!("{after} (unchanged)"),
            (Some(after), _) => format!("{} -> {after}", checked.before),
            (None, Some(e)) => format!("error {}: {}", e.code, e.message),
            (None, None) => String::new(),
        };
        match self {
            Progress::Bar(bar) => {
                bar.set_message(format!("{} {}", checked.consumer_key, what));
                bar.inc(1);
            }
            Progress::Lines { total, done } => {
                *done += 1;
                eprintln!(
                    "rechecked {done}/{total}: mapping {} ({} at {}): {what}",
                    checked.mapping, checked.consumer_key, checked.key_manager
                );
            }
        }
    }

    fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

pub async fn run(cx: &Context, args: RecheckArgs, out: &Output) -> Result<(), Failure> {
    let store = cx.provisioner.store();
    let mappings: Vec<KeyMapping> = match &args.mapping {
        Some(id) => {
            let id: MappingId = id.parse()?;
            let found = store
                .mapping(id)
                .await?
                .ok_or(keyprov::Error::MappingNotFound(id))?;
            // A single mapping's failure is the command's failure, with its own exit code.
            cx.provisioner.recheck(&cx.actor, id).await?;
            let after = store.mapping(id).await?.map(|m| m.state);
            let checked = checked(&found, Ok(after.unwrap_or(found.state)));
            return show(out, vec![checked]);
        }
        None => {
            let all = store.all_mappings().await?;
            match &args.key_manager {
                Some(km) => {
                    let known = cx
                        .key_managers
                        .iter()
                        .find(|k| k.config.id.as_str() == km || k.config.name.as_str() == km)
                        .ok_or_else(|| keyprov::Error::KeyManagerNotFound { name: km.clone() })?;
                    let id = known.config.id.clone();
                    all.into_iter().filter(|m| m.key_manager == id).collect()
                }
                None => all,
            }
        }
    };
    let mut progress = Progress::new(mappings.len());
    let provisioner = &cx.provisioner;
    let actor = &cx.actor;
    let mut results = futures::stream::iter(mappings.iter())
        .map(|m| async move {
            let result = provisioner
                .recheck(actor, m.id)
                .await
                .map(|c| c.value.state);
            checked(m, result)
        })
        .buffer_unordered(usize::from(args.concurrency));
    let mut all = Vec::with_capacity(mappings.len());
    while let Some(checked) = results.next().await {
        progress.step(&checked);
        all.push(checked);
    }
    progress.finish();
    let failed = all.iter().any(|c| c.error.is_some());
    show(out, all)?;
    if failed {
        return Err(reported(SOME_FAILED));
    }
    Ok(())
}

fn checked(m: &KeyMapping, result: keyprov::Result<MappingState>) -> Checked {
    let (after, error) = match result {
        Ok(state) => (Some(state), None),
        Err(err) => (
            None,
            Some(ErrorView {
                code: err.code(),
                message: err.to_string(),
            }),
        ),
    };
    let outcome = match &after {
        Some(a) if *a == m.state => "unchanged",
        Some(_) => "changed",
        None => "failed",
    };
    Checked {
        mapping: m.id,
        application: m.application,
        key_manager: m.key_manager.to_string(),
        consumer_key: m.consumer_key.to_string(),
        before: m.state,
        after,
        outcome,
        error,
    }
}

fn show(out: &Output, mut all: Vec<Checked>) -> Result<(), Failure> {
    all.sort_by_key(|c| (c.outcome != "failed", c.outcome != "changed", c.mapping));
    let mut transitions = BTreeMap::new();
    for c in &all {
        let key = match (&c.after, &c.error) {
            (Some(after), _) => format!("{} -> {after}", c.before),
            (None, Some(e)) => format!("{} -> error {}", c.before, e.code),
            (None, None) => continue,
        };
        *transitions.entry(key).or_insert(0) += 1;
    }
    let count = |o: &str| all.iter().filter(|c| c.outcome == o).count();
    let report = Report {
        checked: all.len(),
        unchanged: count("unchanged"),
        changed: count("changed"),
        failed: count("failed"),
        transitions,
        mappings: all,
    };
    out.show(&report, || {
        let mut details = Table::new(vec![
            "MAPPING",
            "KEY MANAGER",
            "CONSUMER KEY",
            "BEFORE",
            "AFTER",
            "OUTCOME",
        ]);
        for c in report.mappings.iter().filter(|c| c.outcome != "unchanged") {
            let after = match (&c.after, &c.error) {
                (Some(a), _) => a.to_string(),
                (None, Some(e)) => format!("error {}: {}", e.code, e.message),
                (None, None) => String::new(),
            };
            let tone = c.after.map_or(Tone::Bad, |a| Tone::of(a.as_str()));
            details.toned_row(vec![
                (c.mapping.to_string(), Tone::Plain),
                (c.key_manager.clone(), Tone::Plain),
                (c.consumer_key.clone(), Tone::Plain),
                (c.before.to_string(), Tone::of(c.before.as_str())),
                (after, tone),
                (c.outcome.to_owned(), Tone::of(c.outcome)),
            ]);
        }
        let mut summary = Table::new(vec!["OUTCOME", "MAPPINGS"]);
        for (transition, n) in &report.transitions {
            summary.row(vec![transition.clone(), n.to_string()]);
        }
        let mut sections = Vec::new();
        if !details.is_empty() {
            sections.push(Section::Table(details));
        }
        sections.push(Section::Table(summary));
        sections.push(Section::Text(format!(
            "{} checked: {} unchanged, {} changed, {} failed",
            report.checked, report.unchanged, report.changed, report.failed
        )));
        sections
    });
    Ok(())
}
