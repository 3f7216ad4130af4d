//! Inserts of many rows: several rows per statement, values repeated across them bound once.
//!
//! One statement per row pays a statement's fixed cost (reset, bindings, AUTOINCREMENT's
//! bookkeeping) for every row, and SQLite copies every text value bound. Here a statement
//! inserts up to [`ROWS_PER_INSERT`] rows, and a column whose value is the same in every row
//! of the statement (the actor and request of an import's audit records, the key manager of
//! its mappings) is bound once, as a numbered parameter that each row refers to.

use std::borrow::Cow;
use std::sync::OnceLock;

use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};

use super::rows::{
    self, APPLICATION_COLUMNS, DbResult, MAPPING_COLUMNS, Violation, ms, snapshot_json,
};
use crate::audit::AuditEntry;
use crate::error::{Error, Result};
use crate::model::{Application, KeyMapping};

/// Rows per statement (measured with an import of 100,000 rows: 8 and 16 slower, 32 and 64
/// alike).
const ROWS_PER_INSERT: usize = 32;

/// A value to bind.
#[derive(Debug, PartialEq)]
pub(super) enum Param<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
    /// A UUID's hyphenated lowercase text, without an allocation.
    Id([u8; 36]),
}

impl Param<'_> {
    fn id(id: &uuid::Uuid) -> Self {
        let mut text = [0; 36];
        id.hyphenated().encode_lower(&mut text);
        Param::Id(text)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(text: &'a str) -> Self {
        Param::Text(Cow::Borrowed(text))
    }
}

impl From<String> for Param<'_> {
    fn from(text: String) -> Self {
        Param::Text(Cow::Owned(text))
    }
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<bool> for Param<'_> {
    fn from(value: bool) -> Self {
        Param::Int(i64::from(value))
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Null => ToSqlOutput::Owned(Value::Null),
            Param::Int(value) => ToSqlOutput::Owned(Value::Integer(*value)),
            Param::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Param::Id(text) => ToSqlOutput::Borrowed(ValueRef::Text(text)),
        })
    }
}

/// One table's INSERT of rows of type `R`, `W` values each.
pub(super) struct Insert<R, const W: usize> {
    /// The statement up to `VALUES `.
    head: fn() -> &'static str,
    /// One row's values, in the order of `head`'s columns.
    values: for<'r> fn(&'r R) -> Result<[Param<'r>; W]>,
    /// The error for a row the database refused.
    refused: fn(&R, rusqlite::Error) -> Error,
    /// The statement for one row, built once (every single write uses it).
    one_row: OnceLock<String>,
}

/// Inserts `rows` in statements of up to [`ROWS_PER_INSERT`] rows. When a constraint refuses a
/// statement, SQLite undoes that statement alone; its rows are then inserted one at a time,
/// so that the error names the row that was refused.
pub(super) fn insert_rows<R, const W: usize>(
    tx: &rusqlite::Transaction<'_>,
    insert: &'static Insert<R, W>,
    rows: &[R],
) -> Result<()> {
    let mut statements = Statements::new((insert.head)(), &insert.one_row);
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let values = chunk
            .iter()
            .map(insert.values)
            .collect::<Result<Vec<_>>>()?;
        match execute(tx, &mut statements, &values)? {
            Ok(_) => {}
            Err(e) if chunk.len() > 1 && rows::violation(&e).is_some() => {
                for (row, values) in chunk.iter().zip(&values) {
                    execute(tx, &mut statements, std::slice::from_ref(values))?
                        .map_err(|e| (insert.refused)(row, e))?;
                }
            }
            Err(e) => return Err((insert.refused)(&chunk[0], e)),
        }
    }
    Ok(())
}

/// The text of an INSERT for a number of rows and a set of shared columns, kept while the
/// next statements are the same (they usually are: same size, same columns shared).
struct Statements<const W: usize> {
    head: &'static str,
    one_row: &'static OnceLock<String>,
    last: Option<(usize, [bool; W], String)>,
}

impl<const W: usize> Statements<W> {
    fn new(head: &'static str, one_row: &'static OnceLock<String>) -> Self {
        Self {
            head,
            one_row,
            last: None,
        }
    }

    /// The statement for `rows` rows with the `shared` columns bound once. Parameter `j + 1`
    /// holds shared column `j`; row `k`'s value of another column `j` is parameter
    /// `W * (k + 1) + j + 1`.
    fn text(&mut self, rows: usize, shared: [bool; W]) -> &str {
        if rows == 1 {
            return self.one_row.get_or_init(|| build(self.head, 1, shared));
        }
        let fresh = !matches!(&self.last, Some((n, s, _)) if *n == rows && *s == shared);
        if fresh {
            self.last = Some((rows, shared, build(self.head, rows, shared)));
        }
        self.last.as_ref().map_or("", |(_, _, sql)| sql.as_str())
    }
}

/// `head` followed by the placeholders of `rows` rows (see [`Statements::text`]).
fn build<const W: usize>(head: &str, rows: usize, shared: [bool; W]) -> String {
    let mut sql = String::with_capacity(head.len() + rows * W * 7);
    sql.push_str(head);
    for k in 0..rows {
        sql.push_str(if k == 0 { "(" } else { ", (" });
        for (j, shared) in shared.iter().enumerate() {
            let number = if *shared { j + 1 } else { W * (k + 1) + j + 1 };
            sql.push_str(if j == 0 { "?" } else { ", ?" });
            sql.push_str(&number.to_string());
        }
        sql.push(')');
    }
    sql
}

/// Runs one INSERT of `rows`, binding once each column that has the same value in every row.
fn execute<const W: usize>(
    tx: &rusqlite::Transaction<'_>,
    statements: &mut Statements<W>,
    rows: &[[Param<'_>; W]],
) -> Result<rusqlite::Result<usize>> {
    let shared: [bool; W] =
        std::array::from_fn(|j| rows.len() > 1 && rows.iter().all(|row| row[j] == rows[0][j]));
    let mut statement = tx
        .prepare_cached(statements.text(rows.len(), shared))
        .db()?;
    for (j, shared) in shared.iter().enumerate() {
        if *shared {
            statement.raw_bind_parameter(j + 1, &rows[0][j]).db()?;
        }
    }
    for (k, row) in rows.iter().enumerate() {
        for (j, value) in row.iter().enumerate() {
            if !shared[j] {
                statement
                    .raw_bind_parameter(W * (k + 1) + j + 1, value)
                    .db()?;
            }
        }
    }
    Ok(statement.raw_execute())
}

pub(super) static INSERT_APPLICATION: Insert<Application, 5> = Insert {
    head: || {
        sql!(
            "INSERT INTO applications (",
            APPLICATION_COLUMNS,
            ") VALUES "
        )
    },
    values: |a| {
        Ok([
            Param::id(&a.id.0),
            a.name.as_str().into(),
            a.owner.as_str().into(),
            a.organization.as_str().into(),
            ms(a.created_at).into(),
        ])
    },
    refused: |a, e| match rows::violation(&e) {
        Some(Violation::Unique(_)) => Error::ApplicationExists {
            name: a.name.clone(),
        },
        _ => rows::storage("cannot insert application", e),
    },
    one_row: OnceLock::new(),
};

pub(super) static INSERT_MAPPING: Insert<KeyMapping, 13> = Insert {
    head: || sql!("INSERT INTO key_mappings (", MAPPING_COLUMNS, ") VALUES "),
    values: |m| {
        Ok([
            Param::id(&m.id.0),
            Param::id(&m.application.0),
            m.key_type.as_str().into(),
            m.key_manager.as_str().into(),
            m.consumer_key.as_str().into(),
            m.mode.as_str().into(),
            m.state.as_str().into(),
            m.validated.into(),
            m.secret_proven.into(),
            Param::Text(snapshot_json(&m.snapshot)?),
            ms(m.created_at).into(),
            ms(m.updated_at).into(),
            rows::json("key_mappings.created_by", &m.created_by)?.into(),
        ])
    },
    refused: |m, e| match rows::violation(&e) {
        Some(Violation::ForeignKey) => Error::ApplicationNotFound(m.application),
        Some(Violation::Unique(message)) => match rows::conflict_rule(&message) {
            Some(rule) => Error::MappingExists(rule),
            None => rows::storage(format!("mapping id {} already exists", m.id), e),
        },
        None => rows::storage("cannot insert key mapping", e),
    },
    one_row: OnceLock::new(),
};

pub(super) static INSERT_AUDIT: Insert<AuditEntry, 11> = Insert {
    head: || {
        "INSERT INTO audit_log (at, actor, request_id, action, code, application, key_manager, \
         key_type, mapping, consumer_key, detail) VALUES "
    },
    values: |entry| {
        Ok([
            ms(entry.at).into(),
            entry.actor_key().into(),
            entry.request_id.as_str().into(),
            entry.action.as_str().into(),
            entry.code.map(i64::from).into(),
            entry.application.map_or(Param::Null, |a| Param::id(&a.0)),
            entry.key_manager.as_deref().into(),
            entry.key_type.map(|k| k.as_str()).into(),
            entry.mapping.map_or(Param::Null, |m| Param::id(&m.0)),
            entry.consumer_key.as_deref().into(),
            entry.detail.as_str().into(),
        ])
    },
    refused: |_, e| rows::storage("cannot insert audit record", e),
    one_row: OnceLock::new(),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The statement's text: shared columns by their own number, the others per row.
    #[test]
    fn repeated_values_are_bound_once() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER, c TEXT)")
            .unwrap();
        let mut conn = conn;
        let tx = conn.transaction().unwrap();
        let rows = [
            [Param::from("x"), Param::Int(1), Param::Null],
            [Param::from("y"), Param::Int(1), Param::Null],
            [Param::from("z".to_owned()), Param::Int(1), Param::from("w")],
        ];
        static ONE_ROW: OnceLock<String> = OnceLock::new();
        let mut statements = Statements::new("INSERT INTO t (a, b, c) VALUES ", &ONE_ROW);
        assert_eq!(
            statements.text(1, [false; 3]),
            "INSERT INTO t (a, b, c) VALUES (?4, ?5, ?6)"
        );
        assert_eq!(
            statements.text(3, [false, true, false]),
            "INSERT INTO t (a, b, c) VALUES (?4, ?2, ?6), (?7, ?2, ?9), (?10, ?2, ?12)"
        );
        execute(&tx, &mut statements, &rows).unwrap().unwrap();
        let stored: Vec<(String, i64, Option<String>)> = tx
            .prepare("SELECT a, b, c FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            stored,
            [
                ("x".to_owned(), 1, None),
                ("y".to_owned(), 1, None),
                ("z".to_owned(), 1, Some("w".to_owned())),
            ]
        );
    }
}
