//! `keyprov import` and `keyprov export`: mappings in bulk, in one file format (CSV or JSON
//! Lines, no secrets: a row names the environment variable that holds its secret).

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keyprov::OrganizationId;
use keyprov::import::ImportOptions;
use serde::Serialize;

use crate::cli::{ExportArgs, FileFormat, ImportArgs};
use crate::commands::reported;
use crate::context::Context;
use crate::exit::{Failure, SOME_FAILED};
use crate::output::{Output, Section, Table, Tone};
use crate::rows::{self, BadRow, FileRow};

#[derive(Serialize)]
struct ImportView {
    rows: usize,
    dry_run: bool,
    stored: usize,
    applications_created: usize,
    failures: Vec<BadRow>,
    revision: Option<keyprov::Revision>,
    /// The request id the audit trail records the imported rows under.
    request_id: String,
}

fn open(path: &Path) -> Result<Box<dyn BufRead>, Failure> {
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?;
    Ok(Box::new(BufReader::new(file)))
}

/// The import's progress on standard error: a bar on a terminal, else a line at every tenth.
fn progress() -> impl Fn(usize, usize) + Send + Sync + 'static {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10))
            .with_style(
                ProgressStyle::with_template("{spinner} checking rows [{bar:32}] {pos}/{len}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    move |done, total| match &bar {
        Some(bar) => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            if done >= total {
                bar.finish_and_clear();
            }
        }
        None => {
            let step = (total / 10).max(1);
            if done > 0 && (done == total || done % step == 0) {
                eprintln!("checked {done}/{total} rows");
            }
        }
    }
}

pub async fn import(cx: &Context, args: ImportArgs, out: &Output) -> Result<(), Failure> {
    let format = rows::format_of(&args.file, args.format);
    let organization = OrganizationId::new(&args.organization)?;
    let (rows, bad) = rows::read(open(&args.file)?, format).map_err(Failure::input)?;
    let total = rows.len() + bad.len();
    // Rows that cannot be read make the import fail: the others are still checked, as a dry
    // run, so that one report names every bad row.
    let options = ImportOptions::new(organization)
        .dry_run(args.dry_run || !bad.is_empty())
        .concurrency(usize::from(args.concurrency))
        .progress(progress());
    let report = cx.provisioner.import(&cx.actor, rows, options).await?;
    let mut failures = bad;
    failures.extend(report.failures.iter().map(|f| BadRow {
        line: f.line,
        code: f.code,
        message: f.message.clone(),
    }));
    failures.sort_by_key(|f| f.line);
    let refused = !failures.is_empty();
    let view = ImportView {
        rows: total,
        dry_run: args.dry_run,
        stored: if refused { 0 } else { report.stored },
        applications_created: if refused {
            0
        } else {
            report.applications_created
        },
        failures,
        revision: report.revision.filter(|_| !refused && !args.dry_run),
        request_id: cx.request_id.to_string(),
    };
    out.show(&view, || {
        let mut sections = Vec::new();
        if refused {
            let mut table = Table::new(vec!["LINE", "CODE", "ERROR"]);
            for f in &view.failures {
                table.toned_row(vec![
                    (f.line.to_string(), Tone::Plain),
                    (f.code.to_string(), Tone::Bad),
                    (f.message.clone(), Tone::Plain),
                ]);
            }
            sections.push(Section::Table(table));
        }
        let summary = match (refused, args.dry_run) {
            (true, _) => format!(
                "refused: {} of {} rows failed; nothing was stored",
                view.failures.len(),
                view.rows
            ),
            (false, true) => format!(
                "dry run: all {} rows pass every check; nothing was stored \
                 (an import would create {} applications)",
                view.rows, report.applications_created
            ),
            (false, false) => format!(
                "imported: {} mappings stored, {} applications created (request id {})",
                view.stored, view.applications_created, view.request_id
            ),
        };
        sections.push(Section::Text(summary));
        sections
    });
    if refused {
        return Err(reported(SOME_FAILED));
    }
    Ok(())
}

pub async fn export(cx: &Context, args: ExportArgs, out: &Output) -> Result<(), Failure> {
    let format = match &args.file {
        Some(path) => rows::format_of(path, args.format),
        None => args.format.unwrap_or(FileFormat::Csv),
    };
    let mut file_rows = Vec::new();
    let applications = cx.provisioner.all_applications(&cx.actor).await?;
    for app in &applications {
        for m in cx.provisioner.keys(&cx.actor, app.id).await? {
            let key_manager = cx
                .key_managers
                .by_id(&m.key_manager)
                .map_or_else(|| m.key_manager.to_string(), |k| k.config.name.to_string());
            file_rows.push(FileRow {
                owner: app.owner.to_string(),
                application: app.name.clone(),
                key_type: m.key_type.to_string(),
                key_manager,
                consumer_key: m.consumer_key.to_string(),
                secret_env: None,
            });
        }
    }
    match &args.file {
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            rows::write(&mut lock, format, &file_rows)?;
            lock.flush()?;
        }
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display())))?;
            rows::write(file, format, &file_rows)?;
            let view = serde_json::json!({
                "file": path,
                "rows": file_rows.len(),
                "applications": applications.len(),
            });
            out.show(&view, || {
                vec![Section::Text(format!(
                    "exported {} mappings of {} applications to {}",
                    file_rows.len(),
                    applications.len(),
                    path.display()
                ))]
            });
        }
    }
    Ok(())
}
