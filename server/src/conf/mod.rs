//! The nats-server configuration file format.
//!
//! This module owns reading config files into a tree of positioned
//! [`Value`]s. It knows the syntax (maps, arrays, `include`, `$VAR`
//! references, size suffixes, …) but nothing about what the keys mean: that
//! is [`crate::opts`], which calls [`parse_file`] at startup and on reload.
//!
//! ```
//! let map = gannet::conf::parse_str("port: 4222\nauthorization { user: a, pass: b }", None).unwrap();
//! assert_eq!(map.get("PORT").and_then(|v| v.as_int()), Some(4222));
//! let auth = map.get("authorization").and_then(|v| v.as_map()).unwrap();
//! assert_eq!(auth.get("user").and_then(|v| v.as_str()), Some("a"));
//! ```
//!
//! # Layout
//! - `lex`: the lexer, a state machine that turns text into items.
//! - `parse`: builds the [`Map`] from the items, resolving variables and
//!   includes.
//! - this file: the public value types, errors and [`config_digest`].
//!
//! # Implementation notes
//!
//! The grammar and its quirks follow `conf/lex.go` and `conf/parse.go` from
//! nats-server v2.15.1 in "checked" mode, the mode the server itself uses.
//! In particular a value stored in a map carries the position of its *key*,
//! which is what nats-server prints in `file:line:col: reason` errors.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

mod lex;
mod parse;

/// Where a value came from: file, line and column, as nats-server reports
/// them.
///
/// The column is a byte offset. Like nats-server it is 0-based on the first
/// line of a file and 1-based on the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    /// The file as it was named (the `-c` argument, or the include path
    /// joined to the including file's directory). Empty for text parsed with
    /// [`parse_str`].
    pub file: Arc<str>,
    /// 1-based line number.
    pub line: usize,
    /// Byte column, see the type docs.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One value of the config tree and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The value itself.
    pub kind: ValueKind,
    /// For a map entry, the position of its key; for an array element, its
    /// own position (for a nested map or array, that of its closing bracket).
    pub pos: Pos,
}

/// The types a config value can have.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    /// Any quoted, bare or block string.
    Str(String),
    /// A 64-bit integer, after applying any size suffix (`1MB` = 1048576).
    Int(i64),
    /// A float such as `0.5`.
    Float(f64),
    /// `true|false|yes|no|on|off`, unquoted.
    Bool(bool),
    /// A `YYYY-MM-DDTHH:MM:SSZ` datetime, as written.
    Datetime(String),
    /// `[ … ]`
    Array(Vec<Value>),
    /// `{ … }`
    Map(Map),
}

impl Value {
    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            ValueKind::Int(n) => Some(n),
            _ => None,
        }
    }

    /// The bool, if this is a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            ValueKind::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The map, if this is a map.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.kind {
            ValueKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match &self.kind {
            ValueKind::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The Go type nats-server would see for this value (`string`, `int64`,
    /// `map[string]interface {}`, …). Used to reproduce its type errors.
    pub fn go_type_name(&self) -> &'static str {
        match self.kind {
            ValueKind::Str(_) => "string",
            ValueKind::Int(_) => "int64",
            ValueKind::Float(_) => "float64",
            ValueKind::Bool(_) => "bool",
            ValueKind::Datetime(_) => "time.Time",
            ValueKind::Array(_) => "[]interface {}",
            ValueKind::Map(_) => "map[string]interface {}",
        }
    }
}

/// One `key: value` of a [`Map`].
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key exactly as written.
    pub key: String,
    /// The value; its position is that of the key.
    pub value: Value,
    /// True if a later `$key` reference used this entry. Such keys are
    /// variable definitions and are exempt from "unknown field" errors.
    pub used_as_variable: bool,
}

/// A config map: the whole file, or a `{ … }` block.
///
/// Keys are stored as written and are unique as written: defining a key
/// again replaces the earlier value. Entries are in the order of their (last)
/// definition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    entries: Vec<Entry>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the map has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in order of definition.
    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// Looks a key up case-insensitively, the way nats-server matches its
    /// known keys. If several spellings are present, the last one wins.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let key = key.to_lowercase();
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.to_lowercase() == key)
            .map(|e| &e.value)
    }

    /// Looks a key up exactly as written.
    pub fn get_exact(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Sets `key`, replacing any value for the same spelling. The entry
    /// moves to the end, so the order is that of the last definitions.
    pub(crate) fn set(&mut self, key: String, value: Value, used_as_variable: bool) {
        self.entries.retain(|e| e.key != key);
        self.entries.push(Entry {
            key,
            value,
            used_as_variable,
        });
    }

    /// Finds `key` exactly as written, for `$key` lookups, and marks it used.
    pub(crate) fn lookup_variable(&mut self, key: &str) -> Option<&Value> {
        let entry = self.entries.iter_mut().find(|e| e.key == key)?;
        entry.used_as_variable = true;
        Some(&entry.value)
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// A config file could not be read, lexed or parsed.
///
/// `Display` prints exactly what nats-server prints after its `nats-server: `
/// prefix, for example `Parse error on line 3: 'Unexpected EOF.'`. That text
/// does not name the file; [`ConfError::file`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfError {
    message: String,
    file: String,
    line: Option<usize>,
}

impl ConfError {
    pub(crate) fn new(message: String, file: &str, line: Option<usize>) -> ConfError {
        ConfError {
            message,
            file: file.to_string(),
            line,
        }
    }

    /// The file that was being parsed: the top-level file, even when the
    /// error is inside an include. Empty for [`parse_str`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The line the error was found on, when it is known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfError {}

/// Reads and parses a config file.
///
/// `include` paths are resolved against the directory of `path`.
///
/// # Errors
///
/// A [`ConfError`] if the file (or an included file) can't be read, or
/// contains a syntax error, an unknown `$VAR`, or an out-of-range number.
pub fn parse_file(path: &Path) -> Result<Map, ConfError> {
    parse::parse_file(path)
}

/// Parses config text that did not come from a file.
///
/// Positions carry an empty file name. `include` paths are resolved against
/// `base_dir`, or the current directory if it is `None`.
///
/// # Errors
///
/// As for [`parse_file`].
pub fn parse_str(text: &str, base_dir: Option<&Path>) -> Result<Map, ConfError> {
    parse::parse_str(text, base_dir)
}

/// The config digest as lower-case hex. nats-server prints it as
/// `sha256:<hex>` after "Using configuration file", with `-t`, on reload,
/// and in `/varz` `config_digest`.
///
/// # Implementation notes
///
/// nats-server hashes the parsed config encoded as JSON by Go's
/// `encoding/json` (keys sorted, `<>&` escaped, a trailing newline), not the
/// file bytes, so comments and formatting don't change it. This reproduces
/// that encoding.
pub fn config_digest(map: &Map) -> String {
    let mut json = String::new();
    json_map(map, &mut json);
    json.push('\n');
    let hash = Sha256::digest(json.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn json_map(map: &Map, out: &mut String) {
    let mut entries: Vec<&Entry> = map.iter().collect();
    entries.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    out.push('{');
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&entry.key, out);
        out.push(':');
        json_value(&entry.value, out);
    }
    out.push('}');
}

fn json_value(value: &Value, out: &mut String) {
    match &value.kind {
        ValueKind::Str(s) | ValueKind::Datetime(s) => json_string(s, out),
        ValueKind::Int(n) => out.push_str(&n.to_string()),
        ValueKind::Float(f) => out.push_str(&json_float(*f)),
        ValueKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ValueKind::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_value(item, out);
            }
            out.push(']');
        }
        ValueKind::Map(map) => json_map(map, out),
    }
}

/// A string the way Go's `encoding/json` writes it with HTML escaping on.
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float the way Go's `encoding/json` writes it: shortest representation,
/// exponent form only below 1e-6 or from 1e21 up.
fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1e21` and `1.5e-7`; Go writes `1e+21` and `1.5e-7`.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &str) -> String {
        format!("sha256:{}", config_digest(&parse_str(text, None).unwrap()))
    }

    #[test]
    fn digest_matches_nats_server() {
        // Expected values computed by nats-server's conf package.
        let foo_bar = "sha256:226e49e13d16e5e8aa0d62e58cd63361bf097d3e2b2444aa3044334628a2e8de";
        assert_eq!(digest("foo = bar"), foo_bar);
        assert_eq!(digest("# comment\n   foo = bar\n  "), foo_bar);
        assert_eq!(digest("'foo': 'bar'"), foo_bar);
        assert_eq!(digest("{ 'foo': 'bar' }"), foo_bar);
        assert_eq!(
            digest(
                "BAR_USERS = { users = [ {user = \"bar\"} ]}\n\
                 hello = 'world'\n\
                 accounts {\n\
                   QUUX_USERS = [ { user: quux }]\n\
                   bar = $BAR_USERS\n\
                   quux = { users = $QUUX_USERS }\n\
                 }\n\
                 very { nested { env { VAR = 'NESTED', quux = $VAR }}}\n"
            ),
            "sha256:bddb282343249c26d3edcef9bfaa9d2711505fc67210380e871405ba394a9186"
        );
        assert_eq!(
            digest(
                "hello = 'world'\n\
                 accounts {\n\
                   bar  = { users = [ { user = \"bar\" } ]}\n\
                   quux = { users = [ { user: quux   } ]}\n\
                 }\n\
                 very { nested { env { quux = 'NESTED' }}}\n"
            ),
            "sha256:34f8faf3f269fe7509edc4742f20c8c4a7ad51fe21f8b361764314b533ac3ab5"
        );
        assert_eq!(
            digest(
                "BAR_USERS = { users = [ {user = \"foo\"} ]}\n\
                 bar = $BAR_USERS\n\
                 accounts {\n  users = $BAR_USERS\n}\n"
            ),
            "sha256:b0e2ba0b8ec2cb75681b5c5d61789cda0c9942c2f9fe16cdb7f6703364485360"
        );
        assert_eq!(
            digest(
                "bar = { users = [ {user = \"foo\"} ]}\n\
                 accounts {\n  users = { users = [ {user = \"foo\"} ]}\n}\n"
            ),
            "sha256:f5d943b4ed22b80c6199203f8a7eaa8eb68ef7b2d46ef6b1b26f05e21f8beb13"
        );
    }

    #[test]
    fn digest_with_includes_matches_nats_server() {
        let dir = std::env::temp_dir().join(format!("gannet-conf-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("foo.conf"), " users = [{user = \"foo\"}]").unwrap();
        std::fs::write(dir.join("bar.conf"), " users = [{user = \"bar\"}]").unwrap();
        std::fs::write(dir.join("quux.conf"), " users = [{user = \"quux\"}]").unwrap();
        let expected = "e72d70c91b64b0f880f86decb95ec2600cbdcf8bdcd2355fce5ebc54a84a77e9";
        for text in [
            "accounts {\n  foo { include 'foo.conf'}\n  bar { users = [{user = \"bar\"}] }\n  quux { include 'quux.conf'}\n}\n",
            "accounts {\n  foo { include 'foo.conf'}\n  bar { include 'bar.conf'}\n  quux { include 'quux.conf'}\n}\n",
        ] {
            std::fs::write(dir.join("main.conf"), text).unwrap();
            let map = parse_file(&dir.join("main.conf")).unwrap();
            assert_eq!(config_digest(&map), expected);
        }
    }

    #[test]
    fn json_encoding_follows_go() {
        let mut out = String::new();
        json_string("a<b>&c\"\\\n\u{1}\u{8}é\u{2028}", &mut out);
        assert_eq!(out, r#""a\u003cb\u003e\u0026c\"\\\n\u0001\bé\u2028""#);
        assert_eq!(json_float(0.5), "0.5");
        assert_eq!(json_float(2.0), "2");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1.5e-7), "1.5e-7");
        assert_eq!(json_float(123456789.25), "123456789.25");
    }

    #[test]
    fn map_lookup_is_case_insensitive_and_last_wins() {
        let map = parse_str("Port: 1\nport: 2\nPORT = 3\nport = 4", None).unwrap();
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("port").and_then(Value::as_int), Some(4));
        assert_eq!(map.get_exact("Port").map(|e| e.key.as_str()), Some("Port"));
        assert_eq!(
            map.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["Port", "PORT", "port"]
        );
    }

    #[test]
    fn go_type_names() {
        let map = parse_str(
            "a = x, b = 1, c = 1.5, d = true, e = [], f = {}, g = 2020-01-01T00:00:00Z",
            None,
        )
        .unwrap();
        let names: Vec<_> = map.iter().map(|e| e.value.go_type_name()).collect();
        assert_eq!(
            names,
            [
                "string",
                "int64",
                "float64",
                "bool",
                "[]interface {}",
                "map[string]interface {}",
                "time.Time"
            ]
        );
    }

    #[test]
    fn pos_display() {
        let map = parse_str("\n  port: x", None).unwrap();
        assert_eq!(map.get("port").unwrap().pos.to_string(), ":2:3");
    }
}
