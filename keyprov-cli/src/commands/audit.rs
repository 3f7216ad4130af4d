//! `keyprov audit list | prune`.

use chrono::Utc;
use keyprov::audit::AuditQuery;
use serde_json::json;

use crate::cli::AuditCommand;
use crate::commands::parse_time;
use crate::context::{Context, parse_actor};
use crate::exit::Failure;
use crate::output::{Output, Section, Table, Tone};

pub async fn run(cx: &Context, command: AuditCommand, out: &Output) -> Result<(), Failure> {
    let now = Utc::now();
    match command {
        AuditCommand::List(args) => {
            let mut query = AuditQuery::new();
            if let Some(app) = &args.application {
                query = query.application(cx.application(app, None).await?.id);
            }
            if let Some(km) = &args.key_manager {
                query = query.key_manager(km.as_str());
            }
            if let Some(actor) = &args.actor {
                query = query.actor(parse_actor(actor)?);
            }
            if let Some(since) = &args.since {
                query = query.since(parse_time(since, now)?);
            }
            if let Some(until) = &args.until {
                query = query.until(parse_time(until, now)?);
            }
            if let Some(limit) = args.limit {
                query = query.limit(limit);
            }
            let records = cx.provisioner.audit(&cx.actor, &query).await?;
            out.show(&records, || {
                let mut table = Table::new(vec![
                    "SEQ",
                    "AT",
                    "ACTOR",
                    "ACTION",
                    "CODE",
                    "APPLICATION",
                    "KEY MANAGER",
                    "KEY TYPE",
                    "CONSUMER KEY",
                    "REQUEST",
                    "DETAIL",
                ]);
                let text = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                for r in &records {
                    let (code, tone) = match r.code {
                        None => ("ok".to_owned(), Tone::Good),
                        Some(code) => (code.to_string(), Tone::Bad),
                    };
                    table.toned_row(vec![
                        (r.sequence.to_string(), Tone::Plain),
                        (r.at.format("%Y-%m-%d %H:%M:%SZ").to_string(), Tone::Plain),
                        (r.actor.to_string(), Tone::Plain),
                        (r.action.to_string(), Tone::Plain),
                        (code, tone),
                        (text(r.application.map(|a| a.to_string())), Tone::Plain),
                        (text(r.key_manager.clone()), Tone::Plain),
                        (text(r.key_type.map(|k| k.to_string())), Tone::Plain),
                        (text(r.consumer_key.clone()), Tone::Plain),
                        (r.request_id.to_string(), Tone::Plain),
                        (r.detail.clone(), Tone::Plain),
                    ]);
                }
                vec![Section::Table(table)]
            });
        }
        AuditCommand::Prune { older_than } => {
            let before = match older_than {
                Some(text) => parse_time(&text, now)?,
                None => cx.config.audit.cutoff(now).ok_or_else(|| {
                    Failure::input(
                        "no --older-than, and the configuration sets no [audit] retention_days",
                    )
                })?,
            };
            let removed = cx.provisioner.prune_audit(&cx.actor, before).await?;
            out.show(&json!({"pruned": removed, "older_than": before}), || {
                vec![Section::Text(format!(
                    "pruned {removed} audit records older than {}",
                    before.to_rfc3339()
                ))]
            });
        }
    }
    Ok(())
}
