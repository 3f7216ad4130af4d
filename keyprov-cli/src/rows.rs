//! The import and export file: CSV with a header line, or JSON Lines, with the columns
//! `owner, application, key_type, key_manager, consumer_key, secret_env`. `secret_env` names
//! an environment variable that holds the secret; the file never holds a secret.

use std::io::{BufRead, Write};

use keyprov::import::ImportRow;
use keyprov::{ConsumerKey, ConsumerSecret, UserId};
use serde::{Deserialize, Serialize};

use crate::cli::FileFormat;
use crate::secret::env_value;

/// The columns, in order.
pub const COLUMNS: [&str; 6] = [
    "owner",
    "application",
    "key_type",
    "key_manager",
    "consumer_key",
    "secret_env",
];

/// The code of a row that cannot be read (the library's invalid-input code).
pub const INVALID_ROW: u32 = 901400;

/// One line of the file, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRow {
    /// The application's owner.
    pub owner: String,
    /// The application's name (created when missing).
    pub application: String,
    /// PRODUCTION or SANDBOX.
    pub key_type: String,
    /// The key manager's name.
    pub key_manager: String,
    /// The client id.
    pub consumer_key: String,
    /// The environment variable holding the secret, when the secret is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// A row that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadRow {
    /// Its line.
    pub line: u64,
    /// The error code.
    pub code: u32,
    /// Why.
    pub message: String,
}

impl BadRow {
    fn new(line: u64, message: impl Into<String>) -> Self {
        Self {
            line,
            code: INVALID_ROW,
            message: message.into(),
        }
    }
}

/// The format a path's extension says, else CSV.
pub fn format_of(path: &std::path::Path, given: Option<FileFormat>) -> FileFormat {
    given.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "ndjson") => FileFormat::Jsonl,
        _ => FileFormat::Csv,
    })
}

/// A row read and checked: typed values, and the secret taken from its variable.
fn check(line: u64, row: FileRow) -> Result<ImportRow, BadRow> {
    let bad = |e: keyprov::Error| BadRow::new(line, e.to_string());
    if row.application.trim().is_empty() {
        return Err(BadRow::new(line, "invalid application: must not be empty"));
    }
    let parsed = ImportRow::new(
        line,
        UserId::new(row.owner).map_err(bad)?,
        row.application,
        row.key_type.parse().map_err(bad)?,
        row.key_manager,
        ConsumerKey::new(row.consumer_key).map_err(bad)?,
    );
    Ok(
        match row.secret_env.as_deref().filter(|v| !v.trim().is_empty()) {
            Some(var) => parsed.secret(ConsumerSecret::new(
                env_value(var, "secret").map_err(|f| BadRow::new(line, f.message))?,
            )),
            None => parsed,
        },
    )
}

/// Reads every row; the rows that cannot be read are returned apart, each with its line.
///
/// # Errors
/// When the input cannot be read at all, or a CSV header lacks a column or has an unknown one.
pub fn read(
    input: impl BufRead,
    format: FileFormat,
) -> Result<(Vec<ImportRow>, Vec<BadRow>), String> {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    match format {
        FileFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .flexible(true)
                .from_reader(input);
            let header = reader.headers().map_err(|e| e.to_string())?.clone();
            for column in &header {
                if !COLUMNS.contains(&column) {
                    return Err(format!(
                        "line 1: unknown column {column:?}; the columns are {}",
                        COLUMNS.join(", ")
                    ));
                }
            }
            for column in &COLUMNS[..5] {
                if !header.iter().any(|c| c == *column) {
                    return Err(format!("line 1: the column {column:?} is missing"));
                }
            }
            for record in reader.records() {
                let (line, parsed) = match record {
                    Ok(record) => {
                        let line = record.position().map_or(0, |p| p.line());
                        if record.len() != header.len() {
                            bad.push(BadRow::new(
                                line,
                                format!(
                                    "{} fields where the header has {}",
                                    record.len(),
                                    header.len()
                                ),
                            ));
                            continue;
                        }
                        (line, record.deserialize::<FileRow>(Some(&header)))
                    }
                    Err(err) => {
                        let line = err.position().map_or(0, |p| p.line());
                        bad.push(BadRow::new(line, err.to_string()));
                        continue;
                    }
                };
                match parsed {
                    Ok(row) => match check(line, row) {
                        Ok(row) => rows.push(row),
                        Err(b) => bad.push(b),
                    },
                    Err(err) => bad.push(BadRow::new(line, err.to_string())),
                }
            }
        }
        FileFormat::Jsonl => {
            for (index, text) in input.lines().enumerate() {
                let line = index as u64 + 1;
                let text = text.map_err(|e| format!("line {line}: {e}"))?;
                if text.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<FileRow>(&text) {
                    Ok(row) => match check(line, row) {
                        Ok(row) => rows.push(row),
                        Err(b) => bad.push(b),
                    },
                    Err(err) => bad.push(BadRow::new(line, format!("not a row: {err}"))),
                }
            }
        }
    }
    Ok((rows, bad))
}

/// Writes rows in `format` (CSV with its header).
///
/// # Errors
/// When the output cannot be written.
pub fn write(out: impl Write, format: FileFormat, rows: &[FileRow]) -> std::io::Result<()> {
    match format {
        FileFormat::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(COLUMNS)?;
            for row in rows {
                writer.write_record([
                    row.owner.as_str(),
                    &row.application,
                    &row.key_type,
                    &row.key_manager,
                    &row.consumer_key,
                    row.secret_env.as_deref().unwrap_or(""),
                ])?;
            }
            writer.flush()
        }
        FileFormat::Jsonl => {
            let mut out = std::io::BufWriter::new(out);
            for row in rows {
                serde_json::to_writer(&mut out, row)?;
                out.write_all(b"\n")?;
            }
            out.flush()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_read_and_bad_ones_named_by_line() {
        let text = "owner,application,key_type,key_manager,consumer_key,secret_env\n\
                    alice,App,PRODUCTION,IS,ck-1,\n\
                    bob,App,PROD,IS,ck-2,\n\
                    carol,App,SANDBOX,IS\n\
                    ,App,SANDBOX,IS,ck-4,\n\
                    dave,\"Quoted, App\",sandbox,IS,ck-5,\n";
        let (rows, bad) = read(text.as_bytes(), FileFormat::Csv).unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (r.line, r.application.as_str()))
                .collect::<Vec<_>>(),
            [(2, "App"), (6, "Quoted, App")]
        );
        assert_eq!(rows[1].key_type, keyprov::KeyType::Sandbox);
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [3, 4, 5]);
        assert!(bad[0].message.contains("keyType"), "{:?}", bad[0]);
        assert!(bad.iter().all(|b| b.code == INVALID_ROW));
    }

    #[test]
    fn an_unknown_or_missing_column_refuses_the_file() {
        let err = read(
            "owner,application,key_type,key_manager,consumer_key,secret\n".as_bytes(),
            FileFormat::Csv,
        )
        .unwrap_err();
        assert!(err.contains("unknown column \"secret\""), "{err}");
        let err = read(
            "owner,application,key_type,key_manager\n".as_bytes(),
            FileFormat::Csv,
        )
        .unwrap_err();
        assert!(err.contains("\"consumer_key\" is missing"), "{err}");
    }

    #[test]
    fn json_lines_are_read_with_their_line_numbers() {
        let text = "{\"owner\":\"alice\",\"application\":\"App\",\"key_type\":\"PRODUCTION\",\"key_manager\":\"IS\",\"consumer_key\":\"ck-1\"}\n\
                    \n\
                    {\"owner\":\"alice\",\"application\":\"App\",\"key_type\":\"PRODUCTION\",\"key_manager\":\"IS\",\"consumer_key\":\"ck-2\",\"secret\":\"x\"}\n\
                    not json\n";
        let (rows, bad) = read(text.as_bytes(), FileFormat::Jsonl).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [3, 4]);
        assert!(bad[0].message.contains("unknown field `secret`"), "{bad:?}");
    }

    #[test]
    fn written_rows_read_back() {
        let rows = vec![FileRow {
            owner: "alice".into(),
            application: "A, with a comma".into(),
            key_type: "PRODUCTION".into(),
            key_manager: "IS".into(),
            consumer_key: "ck".into(),
            secret_env: None,
        }];
        for format in [FileFormat::Csv, FileFormat::Jsonl] {
            let mut out = Vec::new();
            write(&mut out, format, &rows).unwrap();
            let (read_back, bad) = read(out.as_slice(), format).unwrap();
            assert!(bad.is_empty(), "{bad:?}");
            assert_eq!(read_back[0].application, "A, with a comma");
        }
    }
}
