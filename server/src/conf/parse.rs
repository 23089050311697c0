//! Builds a [`Map`] from the lexer's items.
//!
//! Called by [`super::parse_file`] and [`super::parse_str`]. This is where
//! scalar items get their types (size suffixes, bools, datetimes), `$VAR`
//! references are resolved, and `include` files are read and merged.
//!
//! # Implementation notes
//!
//! Mirrors `conf/parse.go` (checked mode) in nats-server v2.15.1: a stack of
//! open maps and arrays plus a separate stack of pending keys. Keeping the
//! two stacks separate, as Go does, reproduces its handling of odd input such
//! as `{a:}` (the empty map is stored under `a`) or an integer with an unknown
//! suffix like `1Mbb` (the entry is silently dropped).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::lex::{Item, ItemKind, Lexer};
use super::{ConfError, Map, Pos, Value, ValueKind};

/// Maximum depth of nested maps and arrays, counting through includes and
/// environment values. nats-server has no limit; we have one so that
/// dropping or walking a value tree can't overflow the stack on hostile
/// input. Real configs nest a handful of levels deep.
const NESTING_DEPTH_MAX: usize = 128;

/// Maximum depth of nested `include`s. nats-server recurses until it
/// crashes on an include cycle; we report an error instead.
const INCLUDE_DEPTH_MAX: usize = 16;

/// Maximum length of a chain of environment variables that refer to other
/// environment variables (`A=$B`, `B=$C`, …).
const ENV_DEPTH_MAX: usize = 32;

/// Values starting with this (after the `$`) are bcrypt hashes, not
/// variable references.
const BCRYPT_PREFIX: &str = "2a$";

/// The key an environment value is parsed under (`pk=<value>`).
const ENV_KEY: &str = "pk";

/// An error on its way out, with the line when known.
struct Failure {
    message: String,
    line: Option<usize>,
}

impl Failure {
    fn new(message: String) -> Failure {
        Failure {
            message,
            line: None,
        }
    }

    fn at(message: String, line: usize) -> Failure {
        Failure {
            message,
            line: Some(line),
        }
    }
}

/// An open container.
enum Ctx {
    Map(Map),
    Array(Vec<Value>),
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    ctxs: Vec<Ctx>,
    /// Keys waiting for their value, with their line and column.
    keys: Vec<(String, usize, usize)>,
    /// The file name used in positions and in "config is invalid".
    file: Arc<str>,
    /// Directory that `include` paths are relative to.
    dir: String,
    /// Environment variables being expanded, to detect cycles. Shared with
    /// the parsers of environment values.
    env_refs: &'a mut HashSet<String>,
    include_depth: usize,
    env_depth: usize,
    /// Maps and arrays already open around this text (in the including
    /// file, or around the `$VAR` reference).
    outer_nesting: usize,
}

pub(super) fn parse_file(path: &Path) -> Result<Map, ConfError> {
    let file = path.to_string_lossy();
    parse_file_at(&file, 0, 0).map_err(|f| ConfError::new(f.message, &file, f.line))
}

pub(super) fn parse_str(text: &str, base_dir: Option<&Path>) -> Result<Map, ConfError> {
    let dir = match base_dir {
        Some(dir) => dir.to_string_lossy().into_owned(),
        None => ".".to_string(),
    };
    let mut env_refs = HashSet::new();
    let mut parser = Parser::new(text.as_bytes(), "", dir, &mut env_refs);
    parser
        .run()
        .map_err(|f| ConfError::new(f.message, "", f.line))
}

fn parse_file_at(file: &str, include_depth: usize, outer_nesting: usize) -> Result<Map, Failure> {
    let data = read_file(file).map_err(Failure::new)?;
    let mut env_refs = HashSet::new();
    let mut parser = Parser::new(&data, file, go_dir(file), &mut env_refs);
    parser.include_depth = include_depth;
    parser.outer_nesting = outer_nesting;
    parser.run()
}

/// Reads a file, with Go's error texts (`open x: no such file or directory`).
fn read_file(file: &str) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|err| {
        let op = if err.raw_os_error() == Some(libc::EISDIR) {
            "read"
        } else {
            "open"
        };
        format!("{op} {file}: {}", go_os_error_text(&err))
    })
}

/// The OS error text without Rust's ` (os error N)` suffix and with a lower
/// case first letter, as Go prints it.
fn go_os_error_text(err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl<'a> Parser<'a> {
    fn new(
        input: &'a [u8],
        file: &str,
        dir: String,
        env_refs: &'a mut HashSet<String>,
    ) -> Parser<'a> {
        Parser {
            lexer: Lexer::new(input),
            ctxs: Vec::new(),
            keys: Vec::new(),
            file: Arc::from(file),
            dir,
            env_refs,
            include_depth: 0,
            env_depth: 0,
            outer_nesting: 0,
        }
    }

    fn run(&mut self) -> Result<Map, Failure> {
        self.ctxs.push(Ctx::Map(Map::new()));
        let mut prev_key: Option<String> = None;
        loop {
            let item = self.lexer.next_item();
            if item.kind == ItemKind::Eof {
                // A key with no value at the very end is an error, except a
                // stray `}` (JSON-like files may end with one).
                if prev_key.as_deref().is_some_and(|key| key != "}") {
                    return Err(Failure::at(
                        format!(
                            "config is invalid ({}:{}:{})",
                            self.file, item.line, item.col
                        ),
                        item.line,
                    ));
                }
                break;
            }
            prev_key = (item.kind == ItemKind::Key).then(|| item.val.clone());
            self.process(item)?;
        }
        match self.ctxs.drain(..).next() {
            Some(Ctx::Map(map)) => Ok(map),
            _ => Err(Failure::new("BUG in parser, no top-level map".to_string())),
        }
    }

    fn process(&mut self, item: Item) -> Result<(), Failure> {
        match item.kind {
            ItemKind::Error => Err(Failure::at(
                format!("Parse error on line {}: '{}'", item.line, item.val),
                item.line,
            )),
            ItemKind::Key => {
                self.keys.push((item.val, item.line, item.col));
                Ok(())
            }
            ItemKind::MapStart => self.open(Ctx::Map(Map::new()), &item),
            ItemKind::ArrayStart => self.open(Ctx::Array(Vec::new()), &item),
            ItemKind::MapEnd | ItemKind::ArrayEnd => {
                let kind = match self.ctxs.pop() {
                    Some(Ctx::Map(map)) => ValueKind::Map(map),
                    Some(Ctx::Array(items)) => ValueKind::Array(items),
                    None => return Err(Failure::new("BUG in parser, context stack empty".into())),
                };
                self.set_value(kind, &item)
            }
            ItemKind::Str => {
                let kind = ValueKind::Str(item.val.clone());
                self.set_value(kind, &item)
            }
            ItemKind::Integer => match parse_integer(&item.val) {
                Ok(Some(n)) => self.set_value(ValueKind::Int(n), &item),
                // Unknown suffix: nats-server silently drops the value.
                Ok(None) => Ok(()),
                Err(message) => Err(Failure::at(message, item.line)),
            },
            ItemKind::Float => {
                let kind = parse_float(&item.val).map_err(|m| Failure::at(m, item.line))?;
                self.set_value(kind, &item)
            }
            ItemKind::Bool => {
                let kind = parse_bool(&item.val).map_err(|m| Failure::at(m, item.line))?;
                self.set_value(kind, &item)
            }
            ItemKind::Datetime => {
                if !is_valid_datetime(&item.val) {
                    let message =
                        format!("expected Zulu formatted DateTime, but got '{}'", item.val);
                    return Err(Failure::at(message, item.line));
                }
                let kind = ValueKind::Datetime(item.val.clone());
                self.set_value(kind, &item)
            }
            ItemKind::Variable => self.variable(&item),
            ItemKind::Include => self.include(&item),
            ItemKind::CommentStart | ItemKind::Text | ItemKind::Eof => Ok(()),
        }
    }

    fn open(&mut self, ctx: Ctx, item: &Item) -> Result<(), Failure> {
        if self.nesting() > NESTING_DEPTH_MAX {
            let message = format!(
                "Parse error on line {}: 'Maps and arrays nest deeper than {} levels.'",
                item.line, NESTING_DEPTH_MAX
            );
            return Err(Failure::at(message, item.line));
        }
        self.ctxs.push(ctx);
        Ok(())
    }

    /// Open maps and arrays, the top-level map excluded.
    fn nesting(&self) -> usize {
        self.outer_nesting + self.ctxs.len().saturating_sub(1)
    }

    fn pos(&self, line: usize, col: usize) -> Pos {
        Pos {
            file: Arc::clone(&self.file),
            line,
            col,
        }
    }

    fn set_value(&mut self, kind: ValueKind, item: &Item) -> Result<(), Failure> {
        let value = Value {
            kind,
            pos: self.pos(item.line, item.col),
        };
        self.store(value, false)
    }

    /// Adds a value to the innermost container. In a map it takes the
    /// pending key, and the key's position.
    fn store(&mut self, mut value: Value, used_as_variable: bool) -> Result<(), Failure> {
        match self.ctxs.last_mut() {
            Some(Ctx::Array(items)) => {
                items.push(value);
                Ok(())
            }
            Some(Ctx::Map(map)) => {
                let Some((key, line, col)) = self.keys.pop() else {
                    return Err(Failure::new("BUG in parser, keys stack empty".to_string()));
                };
                value.pos.line = line;
                value.pos.col = col;
                map.set(key, value, used_as_variable);
                Ok(())
            }
            None => Err(Failure::new(
                "BUG in parser, context stack empty".to_string(),
            )),
        }
    }

    fn variable(&mut self, item: &Item) -> Result<(), Failure> {
        let name = &item.val;
        let pos = self.pos(item.line, item.col);
        let found = self.lookup(name, &pos).map_err(|cause| {
            let message = format!(
                "variable reference for '{name}' on line {} could not be parsed: {cause}",
                item.line
            );
            Failure::at(message, item.line)
        })?;
        let Some(mut value) = found else {
            let message = format!(
                "variable reference for '{name}' on line {} can not be found",
                item.line
            );
            return Err(Failure::at(message, item.line));
        };
        value.pos = pos;
        self.store(value, false)
    }

    /// Resolves `$name`: a bcrypt hash, then keys defined earlier in the
    /// enclosing maps (innermost first), then the environment.
    fn lookup(&mut self, name: &str, pos: &Pos) -> Result<Option<Value>, String> {
        if name.starts_with(BCRYPT_PREFIX) {
            let kind = ValueKind::Str(format!("${name}"));
            return Ok(Some(Value {
                kind,
                pos: pos.clone(),
            }));
        }
        for ctx in self.ctxs.iter_mut().rev() {
            if let Ctx::Map(map) = ctx {
                if let Some(value) = map.lookup_variable(name) {
                    return Ok(Some(value.clone()));
                }
            }
        }
        if !self.env_refs.insert(name.to_string()) {
            return Err(format!("variable reference cycle for '{name}'"));
        }
        let found = self.lookup_env(name, pos);
        self.env_refs.remove(name);
        found
    }

    /// Reads `name` from the environment and parses it as `pk=<value>`, so
    /// that `4222` is an integer and `'4222'` a string.
    fn lookup_env(&mut self, name: &str, pos: &Pos) -> Result<Option<Value>, String> {
        let Some(raw) = env_var(name) else {
            return Ok(None);
        };
        if self.env_depth >= ENV_DEPTH_MAX {
            return Err(format!(
                "environment variables refer to each other more than {ENV_DEPTH_MAX} deep"
            ));
        }
        let text = format!("{ENV_KEY}={raw}");
        let (env_depth, nesting) = (self.env_depth + 1, self.nesting());
        let mut sub = Parser::new(text.as_bytes(), "", ".".to_string(), &mut *self.env_refs);
        sub.env_depth = env_depth;
        sub.outer_nesting = nesting;
        let mut map = sub.run().map_err(|f| f.message)?;
        let Some(index) = map.entries.iter().position(|e| e.key == ENV_KEY) else {
            return Ok(None);
        };
        let mut value = map.entries.swap_remove(index).value;
        // Positions inside the environment text mean nothing to the user;
        // point everything at the reference instead.
        relocate(&mut value, pos);
        Ok(Some(value))
    }

    /// Reads an included file and merges its top-level keys into the
    /// innermost map.
    fn include(&mut self, item: &Item) -> Result<(), Failure> {
        let path = go_join(&self.dir, &item.val);
        let parsed = if self.include_depth >= INCLUDE_DEPTH_MAX {
            Err(Failure::new(format!(
                "includes nest deeper than {INCLUDE_DEPTH_MAX} levels"
            )))
        } else {
            parse_file_at(&path, self.include_depth + 1, self.nesting())
        };
        let map = parsed.map_err(|f| {
            Failure::new(format!(
                "error parsing include file '{}', {}",
                item.val, f.message
            ))
        })?;
        for entry in map.entries {
            let pos = &entry.value.pos;
            self.keys.push((entry.key, pos.line, pos.col));
            self.store(entry.value, entry.used_as_variable)?;
        }
        Ok(())
    }
}

/// Points a value and everything inside it at `pos`.
fn relocate(value: &mut Value, pos: &Pos) {
    value.pos = pos.clone();
    match &mut value.kind {
        ValueKind::Array(items) => items.iter_mut().for_each(|v| relocate(v, pos)),
        ValueKind::Map(map) => map
            .entries
            .iter_mut()
            .for_each(|e| relocate(&mut e.value, pos)),
        _ => {}
    }
}

fn env_var(name: &str) -> Option<String> {
    // Names the OS can't hold are simply not set (std may panic on them).
    if name.is_empty() || name.contains(['=', '\0']) {
        return None;
    }
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// Applies the size suffix of an integer item. `Ok(None)` means an unknown
/// suffix such as `1Mbb`, which nats-server silently ignores.
fn parse_integer(text: &str) -> Result<Option<i64>, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let out_of_range = || format!("integer '{text}' is out of the range");
    let number: i64 = digits.parse().map_err(|e: std::num::ParseIntError| {
        use std::num::IntErrorKind::{NegOverflow, PosOverflow};
        match e.kind() {
            PosOverflow | NegOverflow => out_of_range(),
            _ => format!("expected integer, but got '{text}'"),
        }
    })?;
    let multiplier: i64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1000,
        "kb" | "ki" | "kib" => 1 << 10,
        "m" => 1000_i64.pow(2),
        "mb" | "mi" | "mib" => 1 << 20,
        "g" => 1000_i64.pow(3),
        "gb" | "gi" | "gib" => 1 << 30,
        "t" => 1000_i64.pow(4),
        "tb" | "ti" | "tib" => 1 << 40,
        "p" => 1000_i64.pow(5),
        "pb" | "pi" | "pib" => 1 << 50,
        "e" => 1000_i64.pow(6),
        "eb" | "ei" | "eib" => 1 << 60,
        _ => return Ok(None),
    };
    // nats-server v2.15.1 wraps around silently here; an error is kinder.
    number
        .checked_mul(multiplier)
        .map(Some)
        .ok_or_else(out_of_range)
}

fn parse_float(text: &str) -> Result<ValueKind, String> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(ValueKind::Float(f)),
        Ok(_) => Err(format!("float '{text}' is out of the range")),
        Err(_) => Err(format!("expected float, but got '{text}'")),
    }
}

fn parse_bool(text: &str) -> Result<ValueKind, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Ok(ValueKind::Bool(true)),
        "false" | "no" | "off" => Ok(ValueKind::Bool(false)),
        _ => Err(format!("expected boolean value, but got '{text}'")),
    }
}

/// Checks the ranges of a `YYYY-MM-DDTHH:MM:SSZ` value whose shape the lexer
/// has already checked.
fn is_valid_datetime(text: &str) -> bool {
    let field = |from: usize, to: usize| text.get(from..to).and_then(|s| s.parse::<u32>().ok());
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        field(0, 4),
        field(5, 7),
        field(8, 10),
        field(11, 13),
        field(14, 16),
        field(17, 19),
    ) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day) && hour < 24 && minute < 60 && second < 60
}

/// Go's `filepath.Dir`: everything before the last `/`, cleaned.
fn go_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => go_clean(&path[..=i]),
        None => ".".to_string(),
    }
}

/// Go's `filepath.Join` for two elements. Note that an absolute `elem` is
/// still joined under `dir`, as nats-server does for include paths.
fn go_join(dir: &str, elem: &str) -> String {
    match (dir.is_empty(), elem.is_empty()) {
        (true, true) => String::new(),
        (true, false) => go_clean(elem),
        (false, true) => go_clean(dir),
        (false, false) => go_clean(&format!("{dir}/{elem}")),
    }
}

/// Go's `filepath.Clean` on Unix paths.
fn go_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests;
