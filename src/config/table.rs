//! Strict reading of configuration tables: every key is asked for by name, a key nobody asked
//! for is refused with the nearest known name, and every message names the key as the file
//! spells it, with its line.
//!
//! The adapters read their `[key_managers.connection]` table with the same [`Section`]s, so a
//! misspelt key fails the same way in every table of the file.
//!
//! # Example
//! ```
//! use keyprov::config::ConfigTable;
//!
//! let table = ConfigTable::parse("connection", "base_url = \"https://is\"\ntennant = \"acme\"\n")?;
//! let err = table
//!     .read(|s| {
//!         let base_url: String = s.require("base_url")?;
//!         let tenant: Option<String> = s.get("tenant")?;
//!         Ok((base_url, tenant))
//!     })
//!     .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid configuration at connection.tennant (line 2): unknown key; did you mean tenant?"
//! );
//! # Ok::<(), keyprov::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::error::{Error, Result};

/// A table of a configuration file with the line of each of its keys, not yet read.
///
/// [`Config`](super::Config) hands each key manager's `connection` table over as one of these,
/// for the adapter named by `type` to read with [`ConfigTable::read`].
///
/// Its `Debug` shows where it is and its keys, never their values: a connection table holds
/// passwords and client secrets.
#[derive(Clone, PartialEq)]
pub struct ConfigTable {
    path: String,
    line: Option<usize>,
    items: BTreeMap<String, Item>,
}

impl std::fmt::Debug for ConfigTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigTable")
            .field("path", &self.path)
            .field("line", &self.line)
            .field("keys", &self.items.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Item {
    line: Option<usize>,
    node: Node,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Leaf(toml::Value),
    Table(BTreeMap<String, Item>),
    Array(Vec<Item>),
}

impl Item {
    fn from_value(value: toml::Value) -> Self {
        let node = match value {
            toml::Value::Table(table) => Node::Table(items_of(table)),
            toml::Value::Array(array) => {
                Node::Array(array.into_iter().map(Item::from_value).collect())
            }
            leaf => Node::Leaf(leaf),
        };
        Item { line: None, node }
    }

    fn from_spanned(value: Spanned<DeValue<'_>>, lines: &Lines) -> Result<Self> {
        let line = Some(lines.line(value.span().start));
        let node = match value.get_ref() {
            DeValue::Table(table) => Node::Table(spanned_items(table, lines)?),
            DeValue::Array(array) => Node::Array(
                array
                    .iter()
                    .map(|item| Item::from_spanned(item.clone(), lines))
                    .collect::<Result<_>>()?,
            ),
            _ => Node::Leaf(
                toml::Value::deserialize(ValueDeserializer::from(value))
                    .map_err(|e| Error::config("config", e.message().to_owned()))?,
            ),
        };
        Ok(Item { line, node })
    }

    fn to_value(&self) -> toml::Value {
        match &self.node {
            Node::Leaf(value) => value.clone(),
            Node::Table(items) => toml::Value::Table(
                items
                    .iter()
                    .map(|(k, item)| (k.clone(), item.to_value()))
                    .collect(),
            ),
            Node::Array(items) => toml::Value::Array(items.iter().map(Item::to_value).collect()),
        }
    }

    fn type_str(&self) -> &'static str {
        match &self.node {
            Node::Leaf(value) => value.type_str(),
            Node::Table(_) => "table",
            Node::Array(_) => "array",
        }
    }
}

fn items_of(table: toml::Table) -> BTreeMap<String, Item> {
    table
        .into_iter()
        .map(|(k, v)| (k, Item::from_value(v)))
        .collect()
}

fn spanned_items(table: &DeTable<'_>, lines: &Lines) -> Result<BTreeMap<String, Item>> {
    table
        .iter()
        .map(|(key, value)| {
            let mut item = Item::from_spanned(value.clone(), lines)?;
            // A key's line is where the key is written (a table's is its header).
            item.line = Some(lines.line(key.span().start));
            Ok((key.get_ref().to_string(), item))
        })
        .collect()
}

/// Byte offsets where lines start, to turn spans into line numbers.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines(starts)
    }

    /// The 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn located(name: String, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{name} (line {line})"),
        None => name,
    }
}

impl ConfigTable {
    /// Parses a TOML document as the table at `path` (`""` for a whole file; the path prefixes
    /// every key in messages).
    ///
    /// # Errors
    /// [`Error::Config`] with the line when the text is not TOML.
    pub fn parse(path: impl Into<String>, text: &str) -> Result<Self> {
        let path = path.into();
        let label = if path.is_empty() { "config" } else { &path };
        let table = parse_document(label, text)?;
        Ok(Self { path, ..table })
    }

    /// A table built in code (no lines), read as the table at `path`.
    pub fn new(path: impl Into<String>, table: toml::Table) -> Self {
        Self {
            path: path.into(),
            line: None,
            items: items_of(table),
        }
    }

    /// How messages name this table (`key_managers[0].connection`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the table has no key.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The values, without their lines.
    pub fn to_table(&self) -> toml::Table {
        self.items
            .iter()
            .map(|(k, item)| (k.clone(), item.to_value()))
            .collect()
    }

    /// How messages name a key of this table, given as a dotted path (`http.retry`): as the
    /// file spells it, with the line where the file has it.
    pub fn key(&self, dotted: &str) -> String {
        let mut line = self.line;
        let mut items = Some(&self.items);
        for segment in dotted.split('.') {
            let name = segment.split('[').next().unwrap_or(segment);
            match items.and_then(|i| i.get(name)) {
                Some(item) => {
                    line = item.line.or(line);
                    items = match &item.node {
                        Node::Table(inner) => Some(inner),
                        _ => None,
                    };
                }
                None => break,
            }
        }
        located(join(&self.path, dotted), line)
    }

    /// Reads the table strictly: `read` asks for keys by name, and a key it did not ask for is
    /// an error naming the nearest one it did.
    ///
    /// # Errors
    /// What `read` returns, or [`Error::Config`] for the first unknown key.
    pub fn read<T>(&self, read: impl FnOnce(&mut Section<'_>) -> Result<T>) -> Result<T> {
        Section::new(&self.path, self.line, &self.items, true).run(read)
    }

    /// Reads the table leniently: keys and tables `read` does not ask for are ignored (a file
    /// that belongs to another program, such as WSO2's `deployment.toml`).
    ///
    /// # Errors
    /// What `read` returns.
    pub fn read_lenient<T>(&self, read: impl FnOnce(&mut Section<'_>) -> Result<T>) -> Result<T> {
        Section::new(&self.path, self.line, &self.items, false).run(read)
    }
}

/// Parses a whole document; `label` names it in a syntax error.
pub(super) fn parse_document(label: &str, text: &str) -> Result<ConfigTable> {
    let lines = Lines::new(text);
    let syntax = |e: toml::de::Error| {
        let at = e.span().map(|span| lines.line(span.start));
        Error::config(located(label.to_owned(), at), e.message().trim().to_owned())
    };
    let root = DeTable::parse(text).map_err(syntax)?;
    Ok(ConfigTable {
        path: String::new(),
        line: None,
        items: spanned_items(root.get_ref(), &lines)?,
    })
}

/// One table being read: hands out its values by key, and remembers which keys were asked for.
#[derive(Debug)]
pub struct Section<'a> {
    path: String,
    line: Option<usize>,
    items: &'a BTreeMap<String, Item>,
    asked: Vec<&'static str>,
    strict: bool,
}

impl<'a> Section<'a> {
    fn new(
        path: &str,
        line: Option<usize>,
        items: &'a BTreeMap<String, Item>,
        strict: bool,
    ) -> Self {
        Self {
            path: path.to_owned(),
            line,
            items,
            asked: Vec::new(),
            strict,
        }
    }

    fn run<T>(mut self, read: impl FnOnce(&mut Section<'a>) -> Result<T>) -> Result<T> {
        let value = read(&mut self)?;
        self.finish()?;
        Ok(value)
    }

    fn sub(&self, path: String, line: Option<usize>, items: &'a BTreeMap<String, Item>) -> Self {
        Self::new(&path, line, items, self.strict)
    }

    fn take(&mut self, key: &'static str) -> Option<&'a Item> {
        if !self.asked.contains(&key) {
            self.asked.push(key);
        }
        self.items.get(key)
    }

    fn error(&self, key: &str, item: &Item, problem: impl Into<String>) -> Error {
        Error::config(located(join(&self.path, key), item.line), problem)
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.items.contains_key(key)
    }

    /// How messages name `key` of this table: as the file spells it, with its line when the
    /// file has it.
    pub fn key(&self, key: &str) -> String {
        let line = self.items.get(key).and_then(|item| item.line);
        located(join(&self.path, key), line)
    }

    /// The value of `key`, if present. For values and arrays of values; tables are read with
    /// [`Section::table`] so that their keys are checked too.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key and its line when the value has the wrong type.
    pub fn get<T: DeserializeOwned>(&mut self, key: &'static str) -> Result<Option<T>> {
        let Some(item) = self.take(key) else {
            return Ok(None);
        };
        T::deserialize(item.to_value())
            .map(Some)
            .map_err(|e| self.error(key, item, e.message().trim().to_owned()))
    }

    /// The value of `key`, or `default` when absent.
    ///
    /// # Errors
    /// As [`Section::get`].
    pub fn get_or<T: DeserializeOwned>(&mut self, key: &'static str, default: T) -> Result<T> {
        Ok(self.get(key)?.unwrap_or(default))
    }

    /// The value of `key`, which must be present.
    ///
    /// # Errors
    /// As [`Section::get`], and [`Error::Config`] when the key is missing.
    pub fn require<T: DeserializeOwned>(&mut self, key: &'static str) -> Result<T> {
        self.get(key)?.ok_or_else(|| {
            let mut problem = match self.line {
                Some(line) => format!("missing (the table starts at line {line})"),
                None => "missing".to_owned(),
            };
            // A misspelling of it is the likeliest reason.
            let misspelt = self
                .items
                .keys()
                .filter(|k| !self.asked.contains(&k.as_str()))
                .find(|k| nearest(k, std::iter::once(key)).is_some());
            if let Some(misspelt) = misspelt {
                problem = format!("{problem}; is {} meant to be it?", self.key(misspelt));
            }
            Error::config(join(&self.path, key), problem)
        })
    }

    /// A secret string at `key`, which must be present; a value of another type is refused
    /// without being repeated in the message.
    ///
    /// # Errors
    /// [`Error::Config`] when the key is missing or its value is not a string.
    pub fn require_secret(&mut self, key: &'static str) -> Result<secrecy::SecretString> {
        match self.take(key).map(|item| (item, &item.node)) {
            Some((_, Node::Leaf(toml::Value::String(secret)))) => Ok(secret.clone().into()),
            Some((item, _)) => Err(self.error(
                key,
                item,
                format!("expected a string, found {}", item.type_str()),
            )),
            None => self.require::<String>(key).map(Into::into),
        }
    }

    /// A string `key` that must be one of `choices` (a tag such as `kind`).
    ///
    /// # Errors
    /// [`Error::Config`] when it is missing, not a string, or none of them.
    pub fn choice(&mut self, key: &'static str, choices: &[&'static str]) -> Result<&'static str> {
        let value: String = self.require(key)?;
        if let Some(choice) = choices.iter().find(|c| **c == value) {
            return Ok(choice);
        }
        let mut problem = format!("unknown value {value:?}, expected one of {choices:?}");
        if let Some(near) = nearest(&value, choices.iter().copied()) {
            problem = format!("{problem}; did you mean {near}?");
        }
        Err(Error::config(self.key(key), problem))
    }

    fn table_item(
        &mut self,
        key: &'static str,
    ) -> Result<Option<(&'a Item, &'a BTreeMap<String, Item>)>> {
        let Some(item) = self.take(key) else {
            return Ok(None);
        };
        match &item.node {
            Node::Table(items) => Ok(Some((item, items))),
            _ => Err(self.error(
                key,
                item,
                format!("expected a table, found {}", item.type_str()),
            )),
        }
    }

    /// Reads the table at `key`, if present, with its keys checked like this one's.
    ///
    /// # Errors
    /// [`Error::Config`] when the value is not a table, or what `read` returns.
    pub fn table<T>(
        &mut self,
        key: &'static str,
        read: impl FnOnce(&mut Section<'a>) -> Result<T>,
    ) -> Result<Option<T>> {
        let Some((item, items)) = self.table_item(key)? else {
            return Ok(None);
        };
        self.sub(join(&self.path, key), item.line, items)
            .run(read)
            .map(Some)
    }

    /// Reads each table of the array of tables at `key` (`[[key_managers]]`, or an inline
    /// array of inline tables); none when absent.
    ///
    /// # Errors
    /// [`Error::Config`] when the value is not an array of tables, or what `read` returns.
    pub fn tables<T>(
        &mut self,
        key: &'static str,
        mut read: impl FnMut(&mut Section<'a>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let Some(item) = self.take(key) else {
            return Ok(Vec::new());
        };
        let expected = || {
            self.error(
                key,
                item,
                format!(
                    "expected an array of tables ([[{}]]), found {}",
                    join(&self.path, key),
                    item.type_str()
                ),
            )
        };
        let Node::Array(elements) = &item.node else {
            return Err(expected());
        };
        let mut out = Vec::with_capacity(elements.len());
        for (index, element) in elements.iter().enumerate() {
            let Node::Table(items) = &element.node else {
                return Err(expected());
            };
            let path = format!("{}[{index}]", join(&self.path, key));
            out.push(self.sub(path, element.line, items).run(&mut read)?);
        }
        Ok(out)
    }

    /// Reads a table whose keys are names chosen by the file (client ids, ...), each naming a
    /// table read by `read`.
    ///
    /// # Errors
    /// [`Error::Config`] when a value is not a table, or what `read` returns.
    pub fn named_tables<T>(
        &mut self,
        key: &'static str,
        mut read: impl FnMut(&str, &mut Section<'a>) -> Result<T>,
    ) -> Result<BTreeMap<String, T>> {
        let Some((item, items)) = self.table_item(key)? else {
            return Ok(BTreeMap::new());
        };
        let outer = self.sub(join(&self.path, key), item.line, items);
        let mut out = BTreeMap::new();
        for (name, element) in items {
            let Node::Table(inner) = &element.node else {
                return Err(outer.error(
                    name,
                    element,
                    format!("expected a table, found {}", element.type_str()),
                ));
            };
            let section = self.sub(join(&outer.path, name), element.line, inner);
            out.insert(name.clone(), section.run(|s| read(name, s))?);
        }
        Ok(out)
    }

    /// The table at `key`, unread, for another reader (an adapter's `connection` table).
    ///
    /// # Errors
    /// [`Error::Config`] when the value is not a table.
    pub fn unread_table(&mut self, key: &'static str) -> Result<ConfigTable> {
        let path = join(&self.path, key);
        Ok(match self.table_item(key)? {
            Some((item, items)) => ConfigTable {
                path,
                line: item.line,
                items: items.clone(),
            },
            None => ConfigTable {
                path,
                line: self.line,
                items: BTreeMap::new(),
            },
        })
    }

    fn finish(&self) -> Result<()> {
        if !self.strict {
            return Ok(());
        }
        let unknown = self
            .items
            .iter()
            .filter(|(key, _)| !self.asked.contains(&key.as_str()))
            .min_by_key(|(key, item)| (item.line, key.as_str()));
        let Some((key, item)) = unknown else {
            return Ok(());
        };
        let problem = match nearest(key, self.asked.iter().copied()) {
            Some(near) => format!("unknown key; did you mean {near}?"),
            None => "unknown key".to_owned(),
        };
        Err(self.error(key, item, problem))
    }
}

/// The candidate closest to `word` when it is close enough to be a slip of the keyboard: at
/// most a third of its letters wrong (at least one), case ignored.
fn nearest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let word = word.to_lowercase();
    candidates
        .map(|candidate| (edit_distance(&word, &candidate.to_lowercase()), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Damerau–Levenshtein distance (optimal string alignment): insertions, deletions,
/// substitutions and swaps of two neighbours each count one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_each_slip_once() {
        assert_eq!(edit_distance("tenant", "tenant"), 0);
        assert_eq!(edit_distance("tennant", "tenant"), 1);
        assert_eq!(edit_distance("teant", "tenant"), 1);
        assert_eq!(edit_distance("tenatn", "tenant"), 1, "a swap is one slip");
        assert_eq!(edit_distance("realm", "relam"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kind", "type"), 4);
    }

    #[test]
    fn suggests_only_a_close_name() {
        let known = [
            "enable_map_oauth_consumer_apps",
            "enabled",
            "issuer",
            "type",
        ];
        let near = |w: &str| nearest(w, known.iter().copied());
        assert_eq!(
            near("enable_map_oauth_consumer_app"),
            Some("enable_map_oauth_consumer_apps")
        );
        assert_eq!(near("Enabled"), Some("enabled"));
        assert_eq!(near("isuer"), Some("issuer"));
        assert_eq!(near("kind"), None, "type is no slip away from kind");
        assert_eq!(near("audience"), None);
    }

    #[test]
    fn lines_are_counted_from_one() {
        let lines = Lines::new("a\nbb\n\nc");
        assert_eq!(
            [0, 1, 2, 4, 5, 6].map(|o| lines.line(o)),
            [1, 1, 2, 2, 3, 4]
        );
    }

    fn read_strictly(text: &str) -> Result<(String, Option<u64>)> {
        ConfigTable::parse("conn", text)?.read(|s| {
            let url = s.require("base_url")?;
            let retries = s.table("http", |h| h.get("retries"))?.flatten();
            Ok((url, retries))
        })
    }

    #[test]
    fn unknown_keys_are_refused_at_their_line_with_a_suggestion() {
        let err = read_strictly("base_url = \"x\"\n[http]\nretries = 2\nretrys = 3\n").unwrap_err();
        assert_eq!(err.code(), 901431);
        assert_eq!(
            err.to_string(),
            "invalid configuration at conn.http.retrys (line 4): unknown key; did you mean retries?"
        );
        let err = read_strictly("base_url = \"x\"\ncolour = 1\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration at conn.colour (line 2): unknown key"
        );
        assert_eq!(
            read_strictly("base_url = \"x\"\nhttp = { retries = 2 }").unwrap(),
            ("x".to_owned(), Some(2))
        );
    }

    #[test]
    fn wrong_types_and_shapes_name_the_key_and_line() {
        let err = read_strictly("\nbase_url = 42").unwrap_err().to_string();
        assert!(
            err.contains("conn.base_url (line 2): invalid type"),
            "{err}"
        );
        let err = read_strictly("base_url = \"x\"\nhttp = 5")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("conn.http (line 2): expected a table, found integer"),
            "{err}"
        );
        let err = read_strictly("[http]\nretries = 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("conn.base_url: missing"), "{err}");
        let err = ConfigTable::parse("conn", "a = \n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid configuration at conn (line 1)"),
            "{err}"
        );
    }

    #[test]
    fn lenient_reading_ignores_what_it_does_not_ask_for() {
        let table = ConfigTable::parse("", "a = 1\n[b]\nc = 2\nd = 3").unwrap();
        let c: Option<u8> = table
            .read_lenient(|s| Ok(s.table("b", |b| b.get("c"))?.flatten()))
            .unwrap();
        assert_eq!(c, Some(2));
        assert!(table.read(|s| s.get::<u8>("a")).is_err(), "b is unknown");
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_not_repeated() {
        let table = ConfigTable::parse("c", "password = 8675309").unwrap();
        let err = table.read(|s| s.require_secret("password")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration at c.password (line 1): expected a string, found integer"
        );
        let table = ConfigTable::parse("c", "password = \"pw\"").unwrap();
        let secret = table.read(|s| s.require_secret("password")).unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&secret), "pw");
    }

    #[test]
    fn key_names_a_nested_key_with_its_line() {
        let table =
            ConfigTable::parse("kc", "realm = \"r\"\n\n[http.retry]\nmax_attempts = 0").unwrap();
        assert_eq!(
            table.key("http.retry.max_attempts"),
            "kc.http.retry.max_attempts (line 4)"
        );
        assert_eq!(table.key("realm"), "kc.realm (line 1)");
        let built = ConfigTable::new("kc", toml::Table::new());
        assert_eq!(built.key("realm"), "kc.realm");
    }
}
