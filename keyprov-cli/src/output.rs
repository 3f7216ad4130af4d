//! Tables for people, JSON for scripts, colour only on a terminal without `NO_COLOR`.

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde_json::json;

use crate::cli::Format;
use crate::exit::Failure;

/// Whether colour may be used on a stream that is (or is not) a terminal: never when
/// `NO_COLOR` is set to anything but the empty string.
pub fn colour_allowed(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A colour for a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// No colour.
    Plain,
    /// Good news.
    Good,
    /// Needs attention.
    Warn,
    /// Bad news.
    Bad,
}

impl Tone {
    /// The tone of a mapping state or an outcome word.
    pub fn of(word: &str) -> Self {
        match word {
            "ACTIVE" | "granted" | "runs" | "ok" | "stored" | "unchanged" | "accepted" => {
                Tone::Good
            }
            "SUSPENDED" | "skipped" | "changed" | "dry run" => Tone::Warn,
            "ORPHANED" | "refused" | "failed" | "error" => Tone::Bad,
            _ => Tone::Plain,
        }
    }

    fn ansi(self) -> Option<&'static str> {
        match self {
            Tone::Plain => None,
            Tone::Good => Some("\x1b[32m"),
            Tone::Warn => Some("\x1b[33m"),
            Tone::Bad => Some("\x1b[31m"),
        }
    }
}

/// A table: a header and rows of cells, each cell with its tone.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<(String, Tone)>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: Vec<&'static str>) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    /// Adds a row of plain cells.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| (c, Tone::Plain)).collect());
    }

    /// Adds a row whose cells carry a tone.
    pub fn toned_row(&mut self, cells: Vec<(String, Tone)>) {
        self.rows.push(cells);
    }

    /// Whether it has no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, columns aligned; with ANSI colours when `colour`.
    pub fn render(&self, colour: bool) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, (cell, _)) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut text = String::new();
        let last = widths.len().saturating_sub(1);
        let mut line = |cells: Vec<(&str, Tone)>, bold: bool| {
            let mut out = String::new();
            for (i, (cell, tone)) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                let styled = match (colour, bold, tone.ansi()) {
                    (true, true, _) => format!("\x1b[1m{cell}\x1b[0m"),
                    (true, false, Some(code)) => format!("{code}{cell}\x1b[0m"),
                    _ => (*cell).to_owned(),
                };
                out.push_str(&styled);
                if i < last {
                    out.push_str(&" ".repeat(pad + 2));
                }
            }
            text.push_str(out.trim_end());
            text.push('\n');
        };
        line(
            self.header.iter().map(|h| (*h, Tone::Plain)).collect(),
            true,
        );
        for row in &self.rows {
            line(row.iter().map(|(c, t)| (c.as_str(), *t)).collect(), false);
        }
        text
    }
}

/// Where a command's results go.
#[derive(Debug)]
pub struct Output {
    format: Format,
    colour: bool,
}

impl Output {
    /// Output in `format` to standard output.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            colour: colour_allowed(std::io::stdout().is_terminal()),
        }
    }

    /// Whether scripts are reading.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Prints a result: the JSON document in JSON mode, else the text `table` makes.
    pub fn show<T: Serialize>(&self, value: &T, table: impl FnOnce() -> Vec<Section>) {
        let mut stdout = std::io::stdout().lock();
        let text = if self.json() {
            let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|e| {
                json!({"error": {"message": format!("cannot write JSON: {e}")}}).to_string()
            });
            text.push('\n');
            text
        } else {
            let mut text = String::new();
            for (i, section) in table().into_iter().enumerate() {
                if i > 0 {
                    text.push('\n');
                }
                match section {
                    Section::Table(table) if table.is_empty() => text.push_str("(none)\n"),
                    Section::Table(table) => text.push_str(&table.render(self.colour)),
                    Section::Text(line) => {
                        text.push_str(&line);
                        if !line.ends_with('\n') {
                            text.push('\n');
                        }
                    }
                }
            }
            text
        };
        // A closed pipe (`| head`) is not an error of the command.
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// Prints a failure on standard error: a JSON object in JSON mode, else one line.
    pub fn error(&self, failure: &Failure) {
        let text = if self.json() {
            json!({"error": {
                "class": failure.class,
                "code": failure.code,
                "exit": failure.exit,
                "message": failure.message,
            }})
            .to_string()
        } else {
            match failure.code {
                Some(code) => format!("error ({code}): {}", failure.message),
                None => format!("error: {}", failure.message),
            }
        };
        eprintln!("{text}");
    }
}

/// A part of a command's text output.
#[derive(Debug)]
pub enum Section {
    /// A table.
    Table(Table),
    /// A line (or lines) of text.
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_colour_only_when_asked() {
        let mut table = Table::new(vec!["NAME", "STATE"]);
        table.toned_row(vec![
            ("a-long-name".into(), Tone::Plain),
            ("ACTIVE".into(), Tone::of("ACTIVE")),
        ]);
        table.row(vec!["b".into(), "ORPHANED".into()]);
        assert_eq!(
            table.render(false),
            "NAME         STATE\na-long-name  ACTIVE\nb            ORPHANED\n"
        );
        let coloured = table.render(true);
        assert!(coloured.contains("\x1b[32mACTIVE\x1b[0m"), "{coloured:?}");
        assert!(!table.render(false).contains('\x1b'));
    }
}
