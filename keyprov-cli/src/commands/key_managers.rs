//! `keyprov key-managers list`: the configured key managers and, for each, whether the gate
//! lets clients be mapped and whether validation runs, in words.

use keyprov::Wso2Policy;
use serde::Serialize;

use crate::cli::{Global, KeyManagersCommand};
use crate::context;
use crate::exit::{Failure, OK};
use crate::output::{Output, Section, Table, Tone};

#[derive(Serialize)]
struct KeyManagerView {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    organization: Option<String>,
    enabled: bool,
    issuer: Option<String>,
    gate: Decision,
    validation: Decision,
}

#[derive(Serialize)]
struct Decision {
    granted: bool,
    explanation: String,
}

pub fn run(global: &Global, command: &KeyManagersCommand, out: &Output) -> Result<u8, Failure> {
    let KeyManagersCommand::List = command;
    let config = context::config(&global.config)?;
    // Build the adapters too: a connection table an adapter refuses is reported here.
    context::key_managers(&config)?;
    let policy = Wso2Policy::new(config.global);
    let views: Vec<KeyManagerView> = config
        .key_managers
        .iter()
        .map(|entry| {
            let gate = policy.gate_for(&entry.config);
            let validation = policy.validation_for(&entry.config);
            KeyManagerView {
                id: entry.config.id.to_string(),
                name: entry.config.name.to_string(),
                kind: entry.kind.clone().unwrap_or_else(|| "oidc".into()),
                organization: entry.config.organization.as_ref().map(|o| o.to_string()),
                enabled: entry.config.enabled,
                issuer: entry.config.issuer.clone(),
                gate: Decision {
                    granted: gate.is_granted(),
                    explanation: gate.to_string(),
                },
                validation: Decision {
                    granted: validation.runs(),
                    explanation: validation.to_string(),
                },
            }
        })
        .collect();
    out.show(&views, || {
        let mut table = Table::new(vec!["NAME", "TYPE", "GATE", "VALIDATION"]);
        let mut why = Vec::new();
        for v in &views {
            let gate = if v.gate.granted { "granted" } else { "refused" };
            let validation = if v.validation.granted {
                "runs"
            } else {
                "skipped"
            };
            table.toned_row(vec![
                (v.name.clone(), Tone::Plain),
                (v.kind.clone(), Tone::Plain),
                (gate.into(), Tone::of(gate)),
                (validation.into(), Tone::of(validation)),
            ]);
            why.push(format!(
                "{}:\n  gate: {}\n  validation: {}",
                v.name, v.gate.explanation, v.validation.explanation
            ));
        }
        vec![Section::Table(table), Section::Text(why.join("\n"))]
    });
    Ok(OK)
}
