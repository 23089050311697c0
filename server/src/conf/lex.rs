//! Lexer for the nats-server configuration format.
//!
//! Turns config text into a flat stream of [`Item`]s (keys, scalar values,
//! array and map boundaries, includes, variable references) that
//! [`super::parse`] assembles into a [`super::Value`] tree. Nothing else calls
//! it.
//!
//! # Implementation notes
//!
//! The lexer is a state machine with an explicit stack of return states, so
//! nested maps and arrays never recurse on the Rust stack. It mirrors the
//! observable behaviour of `conf/lex.go` in nats-server v2.15.1 on purpose,
//! quirks included, because Gannet must accept the same files and print the
//! same errors:
//!
//! - a NUL byte reads as end of input, as it does in Go (the Go lexer uses
//!   rune 0 as its EOF marker);
//! - line numbers count the `\n` characters consumed so far, so an error found
//!   right after a newline reports the next line;
//! - columns are byte offsets from the last newline, which makes them 0-based
//!   on line 1 and 1-based afterwards;
//! - a size suffix followed by anything but a terminator makes the whole token
//!   a string (`1m30s`), the v2.15.1 behaviour.

use std::collections::VecDeque;

/// What the lexer returns for "no more input". A NUL byte in the input reads
/// the same way, with a width of one byte.
const EOF: char = '\0';

/// The kinds of tokens handed to the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ItemKind {
    /// A lexical error; `val` holds the message. Nothing follows it.
    Error,
    /// End of input. Nothing follows it.
    Eof,
    Key,
    /// The text of a comment.
    Text,
    Str,
    Bool,
    /// Digits with an optional leading `-` and an optional size suffix.
    Integer,
    Float,
    Datetime,
    ArrayStart,
    ArrayEnd,
    MapStart,
    MapEnd,
    CommentStart,
    /// A `$name` reference; `val` holds the name without the `$`.
    Variable,
    /// An `include` directive; `val` holds the path as written.
    Include,
}

/// One token, with the line and column used in error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub kind: ItemKind,
    pub val: String,
    pub line: usize,
    pub col: usize,
}

/// The lexer states. Each one consumes a little input and names the state
/// to run next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Top,
    TopValueEnd,
    BlockStart,
    BlockValueEnd,
    BlockEnd,
    KeyStart,
    DubQuotedKey,
    QuotedKey,
    Key,
    KeyEnd,
    IncludeStart,
    Include,
    IncludeQuoted,
    IncludeDubQuoted,
    IncludeBare,
    Value,
    ArrayValue,
    ArrayValueEnd,
    ArrayEnd,
    MapKeyStart,
    MapQuotedKey,
    MapDubQuotedKey,
    MapKey,
    MapKeyEnd,
    MapValue,
    MapValueEnd,
    MapEnd,
    QuotedString,
    DubQuotedString,
    BareString,
    Block,
    StringEscape,
    StringBinary,
    NumberStart,
    Number,
    SizeSuffix,
    DateAfterYear,
    NegNumberStart,
    NegNumber,
    FloatStart,
    Float,
    IpAddr,
    CommentStart,
    Comment,
}

/// What a state function returns: the next state, or `None` once an error
/// or the end of input has been emitted.
type Next = Option<State>;

/// Lexer over the raw bytes of one config text.
pub(crate) struct Lexer<'a> {
    input: &'a [u8],
    /// Start of the token being built.
    start: usize,
    /// Read position.
    pos: usize,
    /// Width in bytes of the last character read, for `backup`.
    width: usize,
    line: usize,
    /// Offset of the newline that started the current line (0 on line 1).
    line_start: usize,
    /// `line_start` as it was when the current token started.
    item_line_start: usize,
    state: Option<State>,
    /// States to return to once a value or comment has been read.
    stack: Vec<State>,
    /// Unescaped pieces of a string that contained escapes.
    parts: Vec<u8>,
    /// The string state an escape sequence returns to.
    string_state: State,
    items: VecDeque<Item>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Lexer<'a> {
        Lexer {
            input,
            start: 0,
            pos: 0,
            width: 0,
            line: 1,
            line_start: 0,
            item_line_start: 0,
            state: Some(State::Top),
            stack: Vec::new(),
            parts: Vec::new(),
            string_state: State::BareString,
            items: VecDeque::new(),
        }
    }

    /// Runs the state machine until it produces the next item. After an
    /// `Error` or `Eof` item it keeps returning `Eof`.
    pub(crate) fn next_item(&mut self) -> Item {
        loop {
            if let Some(item) = self.items.pop_front() {
                return item;
            }
            match self.state {
                Some(state) => self.state = self.step(state),
                None => {
                    return Item {
                        kind: ItemKind::Eof,
                        val: String::new(),
                        line: self.line,
                        col: 0,
                    }
                }
            }
        }
    }

    fn step(&mut self, state: State) -> Next {
        match state {
            State::Top => self.top(),
            State::TopValueEnd => self.top_value_end(),
            State::BlockStart => self.block_start(),
            State::BlockValueEnd => self.block_value_end(),
            State::BlockEnd => self.block_end(),
            State::KeyStart => self.key_start(),
            State::DubQuotedKey => self.quoted_key('"'),
            State::QuotedKey => self.quoted_key('\''),
            State::Key => self.key(),
            State::KeyEnd => self.key_end(),
            State::IncludeStart => self.include_start(),
            State::Include => self.include(),
            State::IncludeQuoted => self.include_quoted('\'', "Unexpected EOF in quoted include"),
            State::IncludeDubQuoted => {
                self.include_quoted('"', "Unexpected EOF in double quoted include")
            }
            State::IncludeBare => self.include_bare(),
            State::Value => self.value(),
            State::ArrayValue => self.array_value(),
            State::ArrayValueEnd => self.array_value_end(),
            State::ArrayEnd => self.array_end(),
            State::MapKeyStart => self.map_key_start(),
            State::MapQuotedKey => {
                self.map_quoted_key('\'', "Unexpected EOF processing quoted map key.")
            }
            State::MapDubQuotedKey => {
                self.map_quoted_key('"', "Unexpected EOF processing double quoted map key.")
            }
            State::MapKey => self.map_key(),
            State::MapKeyEnd => self.map_key_end(),
            State::MapValue => self.map_value(),
            State::MapValueEnd => self.map_value_end(),
            State::MapEnd => self.map_end(),
            State::QuotedString => self.quoted_string(),
            State::DubQuotedString => self.dub_quoted_string(),
            State::BareString => self.bare_string(),
            State::Block => self.block(),
            State::StringEscape => self.string_escape(),
            State::StringBinary => self.string_binary(),
            State::NumberStart | State::NegNumberStart => self.number_start(state),
            State::Number => self.number(),
            State::SizeSuffix => self.size_suffix(),
            State::DateAfterYear => self.date_after_year(),
            State::NegNumber => self.neg_number(),
            State::FloatStart => self.float_start(),
            State::Float => self.float(),
            State::IpAddr => self.ip_addr(),
            State::CommentStart => self.comment_start(),
            State::Comment => self.comment(),
        }
    }

    // ----- Low-level cursor operations -----

    /// Reads one character. Invalid UTF-8 reads as U+FFFD, one byte wide.
    fn next(&mut self) -> char {
        if self.pos >= self.input.len() {
            self.width = 0;
            return EOF;
        }
        if self.input[self.pos] == b'\n' {
            self.line += 1;
            self.line_start = self.pos;
        }
        let (r, width) = decode_char(&self.input[self.pos..]);
        self.width = width;
        self.pos += width;
        r
    }

    /// Steps back over the last character read. Only valid once per `next`.
    fn backup(&mut self) {
        self.pos -= self.width;
        if self.pos < self.input.len() && self.input[self.pos] == b'\n' {
            self.line -= 1;
        }
    }

    fn peek(&mut self) -> char {
        let r = self.next();
        self.backup();
        r
    }

    /// Drops the input read so far from the current token.
    fn ignore(&mut self) {
        self.start = self.pos;
        self.item_line_start = self.line_start;
    }

    fn push(&mut self, state: State) {
        self.stack.push(state);
    }

    fn pop(&mut self) -> Next {
        match self.stack.pop() {
            Some(state) => Some(state),
            None => self.error("BUG in lexer: no states to pop.".to_string()),
        }
    }

    /// Emits the current token, prefixed by any unescaped string parts.
    fn emit(&mut self, kind: ItemKind) {
        let mut bytes = std::mem::take(&mut self.parts);
        bytes.extend_from_slice(&self.input[self.start..self.pos]);
        let col = self
            .pos
            .saturating_sub(self.item_line_start)
            .saturating_sub(bytes.len());
        self.items.push_back(Item {
            kind,
            val: String::from_utf8_lossy(&bytes).into_owned(),
            line: self.line,
            col,
        });
        self.start = self.pos;
        self.item_line_start = self.line_start;
    }

    /// Emits an error item and stops the lexer.
    fn error(&mut self, message: String) -> Next {
        self.items.push_back(Item {
            kind: ItemKind::Error,
            val: message,
            line: self.line,
            col: self.pos.saturating_sub(self.line_start),
        });
        None
    }

    /// End of input where a new item could start: fine if nothing is
    /// pending, an error otherwise.
    fn eof_or_unexpected(&mut self) -> Next {
        if self.pos > self.start {
            return self.error("Unexpected EOF.".to_string());
        }
        self.emit(ItemKind::Eof);
        None
    }

    /// Having read one `/`, consumes a second one and starts a comment that
    /// returns to `back`. Returns `None` (after stepping back) if the next
    /// character is not a `/`.
    fn slash_comment(&mut self, back: State) -> Option<State> {
        if self.next() == '/' {
            self.push(back);
            return Some(State::CommentStart);
        }
        self.backup();
        None
    }

    // ----- Top level and the optional `{ … }` wrapping the whole file -----

    fn top(&mut self) -> Next {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::Top);
        }
        match r {
            '{' => {
                self.push(State::Top);
                self.ignore();
                Some(State::BlockStart)
            }
            '#' => {
                self.push(State::Top);
                Some(State::CommentStart)
            }
            '/' => match self.slash_comment(State::Top) {
                Some(next) => Some(next),
                None => self.eof_or_unexpected(),
            },
            EOF => self.eof_or_unexpected(),
            _ => {
                self.backup();
                self.push(State::TopValueEnd);
                Some(State::KeyStart)
            }
        }
    }

    fn top_value_end(&mut self) -> Next {
        let r = self.next();
        match r {
            '#' => {
                self.push(State::Top);
                Some(State::CommentStart)
            }
            // A lone `/` after a value is skipped like whitespace.
            '/' => self.slash_comment(State::Top).or(Some(State::TopValueEnd)),
            ' ' | '\t' => Some(State::TopValueEnd),
            '\n' | '\r' | EOF | ';' | ',' | '}' => {
                self.ignore();
                Some(State::Top)
            }
            _ => self.error(format!(
                "Expected a top-level value to end with a new line, comment or EOF, \
                 but got '{}' instead.",
                show(r)
            )),
        }
    }

    fn block_start(&mut self) -> Next {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::BlockStart);
        }
        match r {
            '{' => {
                self.push(State::BlockEnd);
                self.ignore();
                Some(State::BlockStart)
            }
            '}' => {
                self.ignore();
                self.pop()
            }
            '#' => {
                self.push(State::BlockStart);
                Some(State::CommentStart)
            }
            '/' => match self.slash_comment(State::BlockStart) {
                Some(next) => Some(next),
                None => self.eof_or_unexpected(),
            },
            EOF => self.eof_or_unexpected(),
            _ => {
                self.backup();
                self.push(State::BlockValueEnd);
                Some(State::KeyStart)
            }
        }
    }

    fn block_value_end(&mut self) -> Next {
        let r = self.next();
        match r {
            '#' => {
                self.push(State::BlockValueEnd);
                Some(State::CommentStart)
            }
            '/' => self
                .slash_comment(State::BlockValueEnd)
                .or(Some(State::BlockValueEnd)),
            ' ' | '\t' => Some(State::BlockValueEnd),
            '\n' | '\r' | ';' | ',' => {
                self.ignore();
                Some(State::BlockStart)
            }
            '}' => {
                self.backup();
                Some(State::BlockEnd)
            }
            _ => self.error(format!(
                "Expected a block-level value to end with a new line, comment or EOF, \
                 but got '{}' instead.",
                show(r)
            )),
        }
    }

    fn block_end(&mut self) -> Next {
        let r = self.next();
        match r {
            '#' => {
                self.push(State::BlockStart);
                Some(State::CommentStart)
            }
            '/' => self
                .slash_comment(State::BlockStart)
                .or(Some(State::BlockEnd)),
            '\n' | '\r' | ' ' | '\t' => Some(State::BlockEnd),
            ';' | ',' => {
                self.ignore();
                Some(State::BlockStart)
            }
            '}' => {
                self.ignore();
                self.pop()
            }
            _ => self.error(format!(
                "Expected a block-level to end with a '}}', but got '{}' instead.",
                show(r)
            )),
        }
    }

    // ----- Keys at the top level -----

    fn key_start(&mut self) -> Next {
        let r = self.peek();
        if is_key_separator(r) {
            return self.error(format!("Unexpected key separator '{}'", show(r)));
        }
        if r.is_whitespace() {
            self.next();
            self.ignore();
            return Some(State::KeyStart);
        }
        match r {
            '"' => {
                self.next();
                self.ignore();
                Some(State::DubQuotedKey)
            }
            '\'' => {
                self.next();
                self.ignore();
                Some(State::QuotedKey)
            }
            _ => {
                self.ignore();
                self.next();
                Some(State::Key)
            }
        }
    }

    /// A top-level key in `quote` quotes.
    fn quoted_key(&mut self, quote: char) -> Next {
        let r = self.peek();
        if r == quote {
            self.emit(ItemKind::Key);
            self.next();
            self.ignore();
            return Some(State::KeyEnd);
        }
        if r == EOF {
            return self.eof_or_unexpected();
        }
        self.next();
        Some(if quote == '"' {
            State::DubQuotedKey
        } else {
            State::QuotedKey
        })
    }

    fn key(&mut self) -> Next {
        let r = self.peek();
        if r.is_whitespace() {
            // Whitespace after a bare key: it may be the `include` keyword.
            return Some(self.key_check_keyword(State::KeyEnd, None));
        }
        if is_key_separator(r) || r == EOF {
            self.emit(ItemKind::Key);
            return Some(State::KeyEnd);
        }
        self.next();
        Some(State::Key)
    }

    /// Called when a bare key is followed by whitespace. `include` starts an
    /// include directive; anything else is emitted as a key.
    fn key_check_keyword(&mut self, key_end: State, include_return: Option<State>) -> State {
        let word = &self.input[self.start..self.pos];
        if word.eq_ignore_ascii_case(b"include") {
            self.ignore();
            if let Some(state) = include_return {
                self.push(state);
            }
            return State::IncludeStart;
        }
        self.emit(ItemKind::Key);
        key_end
    }

    fn key_end(&mut self) -> Next {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::KeyEnd);
        }
        if is_key_separator(r) {
            self.ignore();
            return Some(State::Value);
        }
        if r == EOF {
            self.emit(ItemKind::Eof);
            return None;
        }
        self.backup();
        Some(State::Value)
    }

    // ----- include -----

    fn include_start(&mut self) -> Next {
        let r = self.next();
        if is_blank(r) {
            self.ignore();
            return Some(State::IncludeStart);
        }
        self.backup();
        Some(State::Include)
    }

    fn include(&mut self) -> Next {
        let r = self.next();
        let found = match r {
            '\'' => {
                self.ignore();
                return Some(State::IncludeQuoted);
            }
            '"' => {
                self.ignore();
                return Some(State::IncludeDubQuoted);
            }
            '[' => "start of an array",
            '{' => "start of a map",
            '(' => "start of a block",
            '0'..='9' | '-' => "start of a number",
            '\\' => "escape sequence",
            '\n' | '\r' => "new line",
            _ => {
                self.backup();
                return Some(State::IncludeBare);
            }
        };
        self.error(format!("Expected include value but found {found}"))
    }

    fn include_quoted(&mut self, quote: char, eof_message: &str) -> Next {
        let r = self.next();
        if r == quote {
            self.backup();
            self.emit(ItemKind::Include);
            self.next();
            self.ignore();
            return self.pop();
        }
        if r == EOF {
            return self.error(eof_message.to_string());
        }
        Some(if quote == '"' {
            State::IncludeDubQuoted
        } else {
            State::IncludeQuoted
        })
    }

    fn include_bare(&mut self) -> Next {
        let r = self.next();
        if is_newline(r) || r == EOF || r == ';' || r == '}' || is_blank(r) {
            self.backup();
            self.emit(ItemKind::Include);
            return self.pop();
        }
        if r == '\'' {
            self.backup();
            self.emit(ItemKind::Include);
            self.next();
            self.ignore();
            return self.pop();
        }
        Some(State::IncludeBare)
    }

    // ----- Values -----

    fn value(&mut self) -> Next {
        // Blanks may precede a value, newlines may not.
        let r = self.next();
        if is_blank(r) {
            self.ignore();
            return Some(State::Value);
        }
        match r {
            '[' => {
                self.ignore();
                self.emit(ItemKind::ArrayStart);
                Some(State::ArrayValue)
            }
            '{' => {
                self.ignore();
                self.emit(ItemKind::MapStart);
                Some(State::MapKeyStart)
            }
            '\'' => {
                self.ignore();
                Some(State::QuotedString)
            }
            '"' => {
                self.ignore();
                self.string_state = State::DubQuotedString;
                Some(State::DubQuotedString)
            }
            '-' => Some(State::NegNumberStart),
            '(' => {
                self.ignore();
                Some(State::Block)
            }
            '0'..='9' => {
                self.backup();
                Some(State::NumberStart)
            }
            '.' => self.error("Floats must start with a digit".to_string()),
            '\n' | '\r' => self.error("Expected value but found new line".to_string()),
            _ => {
                self.backup();
                self.string_state = State::BareString;
                Some(State::BareString)
            }
        }
    }

    fn array_value(&mut self) -> Next {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::ArrayValue);
        }
        match r {
            '#' => {
                self.push(State::ArrayValue);
                Some(State::CommentStart)
            }
            // A lone `/` falls through to the `,` error, as in Go.
            '/' => match self.slash_comment(State::ArrayValue) {
                Some(next) => Some(next),
                None => self.error("Unexpected array value terminator ','.".to_string()),
            },
            ',' => self.error("Unexpected array value terminator ','.".to_string()),
            ']' => Some(State::ArrayEnd),
            _ => {
                self.backup();
                self.push(State::ArrayValueEnd);
                Some(State::Value)
            }
        }
    }

    fn array_value_end(&mut self) -> Next {
        let r = self.next();
        match r {
            ' ' | '\t' => {
                self.ignore();
                Some(State::ArrayValueEnd)
            }
            '#' => {
                self.push(State::ArrayValueEnd);
                Some(State::CommentStart)
            }
            '/' => match self.slash_comment(State::ArrayValueEnd) {
                Some(next) => Some(next),
                None => {
                    self.ignore();
                    Some(State::ArrayValue)
                }
            },
            ',' | '\n' | '\r' => {
                self.ignore();
                Some(State::ArrayValue)
            }
            ']' => Some(State::ArrayEnd),
            _ => self.error(format!(
                "Expected an array value terminator \",\" or an array terminator \"]\", \
                 but got '{}' instead.",
                show(r)
            )),
        }
    }

    fn array_end(&mut self) -> Next {
        self.ignore();
        self.emit(ItemKind::ArrayEnd);
        self.pop()
    }

    // ----- Maps -----

    fn map_key_start(&mut self) -> Next {
        let r = self.peek();
        if is_key_separator(r) {
            return self.error(format!("Unexpected key separator '{}'.", show(r)));
        }
        if r == ']' {
            return self.error(format!(
                "Unexpected array end '{}' processing map.",
                show(r)
            ));
        }
        if r.is_whitespace() {
            self.next();
            self.ignore();
            return Some(State::MapKeyStart);
        }
        match r {
            '}' => {
                self.next();
                self.ignore();
                return Some(State::MapEnd);
            }
            '#' => {
                self.next();
                self.push(State::MapKeyStart);
                return Some(State::CommentStart);
            }
            '/' => {
                self.next();
                if let Some(next) = self.slash_comment(State::MapKeyStart) {
                    return Some(next);
                }
                // Not a comment: the `/` is dropped and the key starts after it.
            }
            '\'' => {
                self.next();
                self.ignore();
                return Some(State::MapQuotedKey);
            }
            '"' => {
                self.next();
                self.ignore();
                return Some(State::MapDubQuotedKey);
            }
            EOF => return self.error("Unexpected EOF processing map.".to_string()),
            _ => {}
        }
        self.ignore();
        self.next();
        Some(State::MapKey)
    }

    fn map_quoted_key(&mut self, quote: char, eof_message: &str) -> Next {
        let r = self.peek();
        if r == EOF {
            return self.error(eof_message.to_string());
        }
        if r == quote {
            self.emit(ItemKind::Key);
            self.next();
            self.ignore();
            return Some(State::MapKeyEnd);
        }
        self.next();
        Some(if quote == '"' {
            State::MapDubQuotedKey
        } else {
            State::MapQuotedKey
        })
    }

    fn map_key(&mut self) -> Next {
        let r = self.peek();
        if r == EOF {
            return self.error("Unexpected EOF processing map key.".to_string());
        }
        if r.is_whitespace() {
            return Some(self.key_check_keyword(State::MapKeyEnd, Some(State::MapValueEnd)));
        }
        if is_key_separator(r) {
            self.emit(ItemKind::Key);
            return Some(State::MapKeyEnd);
        }
        self.next();
        Some(State::MapKey)
    }

    fn map_key_end(&mut self) -> Next {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::MapKeyEnd);
        }
        if is_key_separator(r) {
            self.ignore();
            return Some(State::MapValue);
        }
        self.backup();
        Some(State::MapValue)
    }

    fn map_value(&mut self) -> Next {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::MapValue);
        }
        match r {
            // Go's %q of the terminator: double quotes (checked against 2.15.1 and 2.9.10).
            ',' => self.error("Unexpected map value terminator \",\".".to_string()),
            '}' => {
                self.ignore();
                Some(State::MapEnd)
            }
            _ => {
                self.backup();
                self.push(State::MapValueEnd);
                Some(State::Value)
            }
        }
    }

    fn map_value_end(&mut self) -> Next {
        let r = self.next();
        match r {
            ' ' | '\t' => {
                self.ignore();
                Some(State::MapValueEnd)
            }
            '#' => {
                self.push(State::MapValueEnd);
                Some(State::CommentStart)
            }
            '/' => match self.slash_comment(State::MapValueEnd) {
                Some(next) => Some(next),
                None => {
                    self.ignore();
                    Some(State::MapKeyStart)
                }
            },
            ';' | ',' | '\n' | '\r' => {
                self.ignore();
                Some(State::MapKeyStart)
            }
            '}' => {
                self.ignore();
                Some(State::MapEnd)
            }
            _ => self.error(format!(
                "Expected a map value terminator \",\" or a map terminator \"}}\", \
                 but got '{}' instead.",
                show(r)
            )),
        }
    }

    fn map_end(&mut self) -> Next {
        self.ignore();
        self.emit(ItemKind::MapEnd);
        self.pop()
    }

    // ----- Strings -----

    /// Single-quoted string: raw, no escapes.
    fn quoted_string(&mut self) -> Next {
        let r = self.next();
        if r == '\'' {
            self.backup();
            self.emit(ItemKind::Str);
            self.next();
            self.ignore();
            return self.pop();
        }
        if r == EOF {
            return self.eof_or_unexpected();
        }
        Some(State::QuotedString)
    }

    fn dub_quoted_string(&mut self) -> Next {
        let r = self.next();
        match r {
            '\\' => {
                self.add_current_part();
                Some(State::StringEscape)
            }
            '"' => {
                self.backup();
                self.emit(ItemKind::Str);
                self.next();
                self.ignore();
                self.pop()
            }
            EOF => self.eof_or_unexpected(),
            _ => Some(State::DubQuotedString),
        }
    }

    /// Unquoted string. Also decides whether it is a bool or a variable.
    fn bare_string(&mut self) -> Next {
        let r = self.next();
        if r == '\\' {
            self.add_current_part();
            return Some(State::StringEscape);
        }
        if is_newline(r) || r == EOF || matches!(r, ';' | ',' | ']' | '}') || is_blank(r) {
            self.backup();
            let word = &self.input[self.start..self.pos];
            if !self.parts.is_empty() {
                self.emit(ItemKind::Str);
            } else if is_bool_word(word) {
                self.emit(ItemKind::Bool);
            } else if word.first() == Some(&b'$') {
                self.start += 1;
                self.emit(ItemKind::Variable);
            } else {
                self.emit(ItemKind::Str);
            }
            return self.pop();
        }
        if r == '\'' {
            self.backup();
            self.emit(ItemKind::Str);
            self.next();
            self.ignore();
            return self.pop();
        }
        Some(State::BareString)
    }

    /// Block string `( … )`: ends at a `)` alone on its line.
    fn block(&mut self) -> Next {
        let r = self.next();
        if r == ')' {
            // Look at the character before the `)`. Two backups of the
            // same width, exactly like the Go lexer.
            self.backup();
            self.backup();
            if self.next() != '\n' {
                self.next();
                return Some(State::Block);
            }
            self.next();
            let after = self.next();
            if after == '\n' || after == EOF {
                self.backup();
                self.backup();
                self.emit(ItemKind::Str);
                self.next();
                self.ignore();
                return self.pop();
            }
            self.backup();
            return Some(State::Block);
        }
        if r == EOF {
            return self.error("Unexpected EOF processing block.".to_string());
        }
        Some(State::Block)
    }

    /// Saves the string read so far, minus the backslash just read.
    fn add_current_part(&mut self) {
        let end = self.pos - 1;
        self.parts.extend_from_slice(&self.input[self.start..end]);
        self.start = self.pos;
    }

    fn add_part(&mut self, bytes: &[u8]) -> Next {
        self.parts.extend_from_slice(bytes);
        self.start = self.pos;
        Some(self.string_state)
    }

    fn string_escape(&mut self) -> Next {
        let r = self.next();
        match r {
            'x' => Some(State::StringBinary),
            't' => self.add_part(b"\t"),
            'n' => self.add_part(b"\n"),
            'r' => self.add_part(b"\r"),
            '"' => self.add_part(b"\""),
            '\\' => self.add_part(b"\\"),
            _ => self.error(format!(
                "Invalid escape character '{}'. Only the following escape characters \
                 are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                show(r)
            )),
        }
    }

    /// The two hex digits after `\x`.
    fn string_binary(&mut self) -> Next {
        const HIT_EOL: &str = "Expected two hexadecimal digits after '\\x', but hit end of line";
        if is_newline(self.next()) || is_newline(self.next()) {
            return self.error(HIT_EOL.to_string());
        }
        let digits = &self.input[self.pos.saturating_sub(2)..self.pos];
        match decode_hex_pair(digits) {
            Some(byte) => self.add_part(&[byte]),
            None => {
                let shown = String::from_utf8_lossy(digits).into_owned();
                self.error(format!(
                    "Expected two hexadecimal digits after '\\x', but got '{shown}'"
                ))
            }
        }
    }

    // ----- Numbers, dates and IP addresses -----

    /// First digit of a number; a `-` has already been read for
    /// `NegNumberStart`.
    fn number_start(&mut self, state: State) -> Next {
        let r = self.next();
        if !r.is_ascii_digit() {
            if r == '.' {
                return self.error("Floats must start with a digit, not '.'.".to_string());
            }
            return self.error(format!("Expected a digit but got '{}'.", show(r)));
        }
        Some(if state == State::NumberStart {
            State::Number
        } else {
            State::NegNumber
        })
    }

    /// A positive integer, float, datetime, IP address, or a string that
    /// happens to start with a digit.
    fn number(&mut self) -> Next {
        let r = self.next();
        if r == '-' {
            if self.pos - self.start != 5 {
                return self.error("All ISO8601 dates must be in full Zulu form.".to_string());
            }
            return Some(State::DateAfterYear);
        }
        if r.is_ascii_digit() {
            return Some(State::Number);
        }
        if r == '.' {
            return Some(State::FloatStart);
        }
        if is_size_suffix(r) {
            return Some(State::SizeSuffix);
        }
        if !(is_number_end(r) || r.is_ascii_digit()) {
            // Not a number after all. The character just read stays in the
            // string, even a `]`.
            self.string_state = State::BareString;
            return Some(State::BareString);
        }
        self.backup();
        self.emit(ItemKind::Integer);
        self.pop()
    }

    /// After a size suffix letter such as the `k` in `1k` or `1KiB`.
    fn size_suffix(&mut self) -> Next {
        let r = self.next();
        if matches!(r, 'b' | 'B' | 'i' | 'I') {
            return Some(State::SizeSuffix);
        }
        self.backup();
        if is_number_end(r) {
            self.emit(ItemKind::Integer);
            return self.pop();
        }
        // v2.15.1: `1m30s`, `1k5` and the like are strings.
        self.string_state = State::BareString;
        Some(State::BareString)
    }

    /// The rest of a `YYYY-MM-DDTHH:MM:SSZ` datetime after `YYYY-`.
    fn date_after_year(&mut self) -> Next {
        // `0` stands for any digit, everything else must match exactly.
        const FORMAT: &[u8] = b"00-00T00:00:00Z";
        for &want in FORMAT {
            let r = self.next();
            if want == b'0' {
                if !r.is_ascii_digit() {
                    return self.error(format!(
                        "Expected digit in ISO8601 datetime, but found '{}' instead.",
                        show(r)
                    ));
                }
            } else if r != char::from(want) {
                return self.error(format!(
                    "Expected '{}' in ISO8601 datetime, but found '{}' instead.",
                    char::from(want),
                    show(r)
                ));
            }
        }
        self.emit(ItemKind::Datetime);
        self.pop()
    }

    fn neg_number(&mut self) -> Next {
        let r = self.next();
        if r.is_ascii_digit() {
            return Some(State::NegNumber);
        }
        if r == '.' {
            return Some(State::FloatStart);
        }
        if is_size_suffix(r) {
            return Some(State::SizeSuffix);
        }
        self.backup();
        self.emit(ItemKind::Integer);
        self.pop()
    }

    fn float_start(&mut self) -> Next {
        let r = self.next();
        if !r.is_ascii_digit() {
            return self.error(format!(
                "Floats must have a digit after the '.', but got '{}' instead.",
                show(r)
            ));
        }
        Some(State::Float)
    }

    fn float(&mut self) -> Next {
        let r = self.next();
        if r.is_ascii_digit() {
            return Some(State::Float);
        }
        if r == '.' {
            // A second dot: an IP address such as 127.0.0.1:4222.
            return Some(State::IpAddr);
        }
        self.backup();
        self.emit(ItemKind::Float);
        self.pop()
    }

    fn ip_addr(&mut self) -> Next {
        let r = self.next();
        if r.is_ascii_digit() || matches!(r, '.' | ':' | '-') {
            return Some(State::IpAddr);
        }
        self.backup();
        self.emit(ItemKind::Str);
        self.pop()
    }

    // ----- Comments -----

    fn comment_start(&mut self) -> Next {
        self.ignore();
        self.emit(ItemKind::CommentStart);
        Some(State::Comment)
    }

    fn comment(&mut self) -> Next {
        let r = self.peek();
        if is_newline(r) || r == EOF {
            self.emit(ItemKind::Text);
            return self.pop();
        }
        self.next();
        Some(State::Comment)
    }
}

/// Decodes one UTF-8 character; invalid input decodes as U+FFFD, one byte
/// wide, like Go's `utf8.DecodeRuneInString`.
fn decode_char(bytes: &[u8]) -> (char, usize) {
    let len = match bytes[0] {
        0x00..=0x7f => return (char::from(bytes[0]), 1),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (char::REPLACEMENT_CHARACTER, 1),
    };
    match bytes.get(..len).map(std::str::from_utf8) {
        Some(Ok(s)) => match s.chars().next() {
            Some(c) => (c, len),
            None => (char::REPLACEMENT_CHARACTER, 1),
        },
        _ => (char::REPLACEMENT_CHARACTER, 1),
    }
}

fn decode_hex_pair(digits: &[u8]) -> Option<u8> {
    if digits.len() != 2 {
        return None;
    }
    let hi = char::from(digits[0]).to_digit(16)?;
    let lo = char::from(digits[1]).to_digit(16)?;
    u8::try_from(hi * 16 + lo).ok()
}

/// Renders a character for an error message; a newline shows as `\n`.
fn show(r: char) -> String {
    if r == '\n' {
        "\\n".to_string()
    } else {
        r.to_string()
    }
}

fn is_key_separator(r: char) -> bool {
    r == '=' || r == ':'
}

/// Spaces and tabs; newlines are handled separately.
fn is_blank(r: char) -> bool {
    r == ' ' || r == '\t'
}

fn is_newline(r: char) -> bool {
    r == '\n' || r == '\r'
}

fn is_size_suffix(r: char) -> bool {
    matches!(r.to_ascii_lowercase(), 'k' | 'm' | 'g' | 't' | 'p' | 'e')
}

/// Characters that end a number (or a number with a size suffix).
fn is_number_end(r: char) -> bool {
    is_newline(r) || r == EOF || r == '}' || r == ';' || r == ',' || is_blank(r)
}

fn is_bool_word(word: &[u8]) -> bool {
    const WORDS: [&[u8]; 6] = [b"true", b"false", b"yes", b"no", b"on", b"off"];
    WORDS.iter().any(|w| word.eq_ignore_ascii_case(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lexes `input` up to and including the first `Error` or `Eof`.
    fn lex(input: &str) -> Vec<(ItemKind, String, usize, usize)> {
        let mut lexer = Lexer::new(input.as_bytes());
        let mut out = Vec::new();
        loop {
            let item = lexer.next_item();
            let done = matches!(item.kind, ItemKind::Error | ItemKind::Eof);
            if !matches!(item.kind, ItemKind::CommentStart | ItemKind::Text) {
                out.push((item.kind, item.val, item.line, item.col));
            }
            if done {
                return out;
            }
        }
    }

    /// Kind and value of each item, without positions.
    fn kinds(input: &str) -> Vec<(ItemKind, String)> {
        lex(input).into_iter().map(|(k, v, _, _)| (k, v)).collect()
    }

    fn item(kind: ItemKind, val: &str) -> (ItemKind, String) {
        (kind, val.to_string())
    }

    use ItemKind::*;

    #[test]
    fn key_separators() {
        for input in [
            "foo = bar",
            "foo: bar",
            "foo bar",
            "foo=bar",
            "foo:bar",
            "foo\tbar",
        ] {
            assert_eq!(
                kinds(input),
                vec![item(Key, "foo"), item(Str, "bar"), item(Eof, "")],
                "{input}"
            );
        }
    }

    #[test]
    fn positions_are_zero_based_on_line_one() {
        assert_eq!(
            lex("foo = 3xyz"),
            vec![
                (Key, "foo".into(), 1, 0),
                (Str, "3xyz".into(), 1, 6),
                (Eof, "".into(), 1, 10)
            ]
        );
        let items = lex("\n  foo = 1\n");
        assert_eq!(items[0], (Key, "foo".into(), 2, 3));
        assert_eq!(items[1], (Integer, "1".into(), 2, 9));
    }

    #[test]
    fn top_level_terminators() {
        assert_eq!(
            kinds("port 4222; debug true, trace: yes"),
            vec![
                item(Key, "port"),
                item(Integer, "4222"),
                item(Key, "debug"),
                item(Bool, "true"),
                item(Key, "trace"),
                item(Bool, "yes"),
                item(Eof, "")
            ]
        );
    }

    #[test]
    fn top_level_value_needs_terminator() {
        let items = lex("a = 1 b = 2");
        assert_eq!(
            items.last().unwrap().1,
            "Expected a top-level value to end with a new line, comment or EOF, but got 'b' instead."
        );
    }

    #[test]
    fn bools_are_bare_and_case_insensitive() {
        for word in ["true", "TRUE", "Yes", "no", "ON", "off", "False"] {
            assert_eq!(kinds(&format!("b = {word}"))[1], item(Bool, word));
        }
        assert_eq!(kinds("b = 'true'")[1], item(Str, "true"));
        assert_eq!(kinds("b = \"yes\"")[1], item(Str, "yes"));
        assert_eq!(kinds("b = trueish")[1], item(Str, "trueish"));
    }

    #[test]
    fn integers_floats_and_suffixes() {
        assert_eq!(kinds("a = 42")[1], item(Integer, "42"));
        assert_eq!(kinds("a = -42")[1], item(Integer, "-42"));
        assert_eq!(kinds("a = 4.5")[1], item(Float, "4.5"));
        assert_eq!(kinds("a = -4.5")[1], item(Float, "-4.5"));
        assert_eq!(kinds("a = 8k")[1], item(Integer, "8k"));
        assert_eq!(kinds("a = 1MB")[1], item(Integer, "1MB"));
        assert_eq!(kinds("a = 64MiB")[1], item(Integer, "64MiB"));
        assert_eq!(kinds("a = -1k")[1], item(Integer, "-1k"));
        assert_eq!(kinds("a = 1Mbb")[1], item(Integer, "1Mbb"));
        assert_eq!(kinds("m { a = 1k }")[3], item(Integer, "1k"));
    }

    #[test]
    fn suffix_followed_by_more_is_a_string() {
        for word in ["1m30s", "1m3", "1k5", "0K1abc", "5e7bcd", "4e2abc", "3Gyz"] {
            assert_eq!(kinds(&format!("a = {word}"))[1], item(Str, word), "{word}");
        }
        assert_eq!(kinds("a = 4e2abc,")[1], item(Str, "4e2abc"));
    }

    #[test]
    fn digits_then_letters_are_strings() {
        assert_eq!(kinds("a = 10s")[1], item(Str, "10s"));
        assert_eq!(kinds("a = 250ms")[1], item(Str, "250ms"));
        assert_eq!(kinds("a = 3xyz")[1], item(Str, "3xyz"));
        assert_eq!(kinds("a = 3xyz;")[1], item(Str, "3xyz"));
    }

    #[test]
    fn ip_addresses_are_strings() {
        assert_eq!(
            kinds("listen: 127.0.0.1:4222")[1],
            item(Str, "127.0.0.1:4222")
        );
        assert_eq!(kinds("listen: 127.0.0.1")[1], item(Str, "127.0.0.1"));
        assert_eq!(
            kinds("listen: localhost:4222")[1],
            item(Str, "localhost:4222")
        );
        assert_eq!(kinds("listen: :-1")[1], item(Str, ":-1"));
        assert_eq!(kinds("listen = :80")[1], item(Str, ":80"));
        assert_eq!(kinds("listen: -1")[1], item(Integer, "-1"));
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            kinds("d = 2016-05-04T18:53:41Z")[1],
            item(Datetime, "2016-05-04T18:53:41Z")
        );
        assert_eq!(
            kinds("d = 201-05-04T18:53:41Z")[1],
            item(Error, "All ISO8601 dates must be in full Zulu form.")
        );
        assert_eq!(
            kinds("d = 2016-05-04T18:53:41")[1],
            item(
                Error,
                "Expected 'Z' in ISO8601 datetime, but found '\0' instead."
            )
        );
    }

    #[test]
    fn bad_numbers() {
        assert_eq!(
            kinds("a = .2")[1],
            item(Error, "Floats must start with a digit")
        );
        assert_eq!(
            kinds("a = 1.x")[1],
            item(
                Error,
                "Floats must have a digit after the '.', but got 'x' instead."
            )
        );
        assert_eq!(
            kinds("a = -x")[1],
            item(Error, "Expected a digit but got 'x'.")
        );
        assert_eq!(
            kinds("a = -.5")[1],
            item(Error, "Floats must start with a digit, not '.'.")
        );
    }

    #[test]
    fn double_quoted_escapes() {
        assert_eq!(
            kinds(r#"s = "a\tb\nc\rd\"e\\f\x41""#)[1],
            item(Str, "a\tb\nc\rd\"e\\fA")
        );
        assert_eq!(kinds(r#"s = "\xc3\xa9""#)[1], item(Str, "é"));
        assert_eq!(kinds(r#"s = """#)[1], item(Str, ""));
    }

    #[test]
    fn bad_escapes() {
        assert_eq!(
            kinds(r#"s = "\q""#)[1],
            item(
                Error,
                r#"Invalid escape character 'q'. Only the following escape characters are allowed: \xXX, \t, \n, \r, \", \\."#
            )
        );
        assert_eq!(
            kinds("s = \"\\x4\n\"")[1],
            item(
                Error,
                "Expected two hexadecimal digits after '\\x', but hit end of line"
            )
        );
        assert_eq!(
            kinds(r#"s = "\xzz""#)[1],
            item(
                Error,
                "Expected two hexadecimal digits after '\\x', but got 'zz'"
            )
        );
    }

    #[test]
    fn single_quotes_are_raw() {
        assert_eq!(kinds(r"s = 'a\tb'")[1], item(Str, r"a\tb"));
        assert_eq!(kinds("s = ''")[1], item(Str, ""));
    }

    #[test]
    fn quoted_keys() {
        assert_eq!(kinds("\"port\": 4222")[0], item(Key, "port"));
        assert_eq!(kinds("'port': 4222")[0], item(Key, "port"));
        assert_eq!(kinds("'a key' = 1")[0], item(Key, "a key"));
        assert_eq!(kinds("m { 'x y': 1 }")[2], item(Key, "x y"));
        assert_eq!(kinds("m { \"x\": 1 }")[2], item(Key, "x"));
    }

    #[test]
    fn unexpected_key_separator() {
        assert_eq!(
            kinds(" :foo = 22")[0],
            item(Error, "Unexpected key separator ':'")
        );
        assert_eq!(
            kinds("m { = 1 }")[2],
            item(Error, "Unexpected key separator '='.")
        );
    }

    #[test]
    fn variables_and_bcrypt() {
        assert_eq!(kinds("a = $foo")[1], item(Variable, "foo"));
        assert_eq!(kinds("a = $HOST:4222")[1], item(Variable, "HOST:4222"));
        assert_eq!(kinds("a = '$foo'")[1], item(Str, "$foo"));
        assert_eq!(kinds("a = $2a$11$ooo")[1], item(Variable, "2a$11$ooo"));
    }

    #[test]
    fn arrays() {
        assert_eq!(
            kinds("a = [1, 2,3, 'bar', [x]]"),
            vec![
                item(Key, "a"),
                item(ArrayStart, ""),
                item(Integer, "1"),
                item(Integer, "2"),
                item(Integer, "3"),
                item(Str, "bar"),
                item(ArrayStart, ""),
                item(Str, "x"),
                item(ArrayEnd, ""),
                item(ArrayEnd, ""),
                item(Eof, "")
            ]
        );
        assert_eq!(
            kinds("a = [\n  1 # one\n  2 // two\n  3,\n]"),
            vec![
                item(Key, "a"),
                item(ArrayStart, ""),
                item(Integer, "1"),
                item(Integer, "2"),
                item(Integer, "3"),
                item(ArrayEnd, ""),
                item(Eof, "")
            ]
        );
        assert_eq!(
            kinds("a = [1 2]")[3],
            item(
                Error,
                "Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead."
            )
        );
        assert_eq!(
            kinds("a = [,1]")[2],
            item(Error, "Unexpected array value terminator ','.")
        );
    }

    #[test]
    fn digit_before_array_end_is_kept_in_a_string() {
        // The Go lexer does not treat `]` as the end of a number.
        assert_eq!(kinds("a = [1]\n")[2], item(Str, "1]"));
    }

    #[test]
    fn maps() {
        assert_eq!(
            kinds("m { a: 1, b = two; c three\n d 4 }"),
            vec![
                item(Key, "m"),
                item(MapStart, ""),
                item(Key, "a"),
                item(Integer, "1"),
                item(Key, "b"),
                item(Str, "two"),
                item(Key, "c"),
                item(Str, "three"),
                item(Key, "d"),
                item(Integer, "4"),
                item(MapEnd, ""),
                item(Eof, "")
            ]
        );
        assert_eq!(kinds("m = {a: 1,}")[4], item(MapEnd, ""));
        assert_eq!(kinds("m: {}")[2], item(MapEnd, ""));
    }

    #[test]
    fn map_entries_need_separators() {
        assert_eq!(
            kinds("m {user: c password: d}")[4],
            item(
                Error,
                "Expected a map value terminator \",\" or a map terminator \"}\", but got 'p' instead."
            )
        );
        assert_eq!(
            kinds("m {a: , b: 2}")[3],
            item(Error, "Unexpected map value terminator \",\".")
        );
    }

    #[test]
    fn map_eof_errors() {
        let items = lex("listen = 4222\n\ncluster = {\n\n  foo = bar\n\n");
        assert_eq!(
            items.last().unwrap(),
            &(Error, "Unexpected EOF processing map.".into(), 7, 1)
        );
        assert_eq!(
            kinds("m { foo").last().unwrap(),
            &item(Error, "Unexpected EOF processing map key.")
        );
    }

    #[test]
    fn dangling_quotes() {
        let items = lex("\nlisten: \"localhost:4242\n\nhttp: localhost:8222\n");
        assert_eq!(
            items.last().unwrap(),
            &(Error, "Unexpected EOF.".into(), 5, 1)
        );
        let items = lex("\nlisten: 'localhost:4242\n");
        assert_eq!(items.last().unwrap().1, "Unexpected EOF.");
    }

    #[test]
    fn comments_everywhere() {
        let input =
            "# top\n// also top\na = 1 # after\nb = 2 // after\nm {\n # in map\n c = 3 # x\n}\n";
        assert_eq!(
            kinds(input),
            vec![
                item(Key, "a"),
                item(Integer, "1"),
                item(Key, "b"),
                item(Integer, "2"),
                item(Key, "m"),
                item(MapStart, ""),
                item(Key, "c"),
                item(Integer, "3"),
                item(MapEnd, ""),
                item(Eof, "")
            ]
        );
    }

    #[test]
    fn whole_file_in_braces() {
        assert_eq!(
            kinds("{\n  \"port\": 4222,\n  \"debug\": true\n}\n"),
            vec![
                item(Key, "port"),
                item(Integer, "4222"),
                item(Key, "debug"),
                item(Bool, "true"),
                item(Eof, "")
            ]
        );
        assert_eq!(kinds("{}"), vec![item(Eof, "")]);
        assert_eq!(
            kinds("{ listen: 0.0.0.0:4222 }")[1],
            item(Str, "0.0.0.0:4222")
        );
    }

    #[test]
    fn block_strings() {
        let input = "\nnumbers (\n1234567890\n)\n";
        assert_eq!(kinds(input)[1], item(Str, "\n1234567890\n"));
        let input = "\nnumbers (\n  12(34)56\n  (\n    7890\n  )\n)\n";
        assert_eq!(
            kinds(input)[1],
            item(Str, "\n  12(34)56\n  (\n    7890\n  )\n")
        );
        assert_eq!(
            kinds("q = (\n  foo\n").last().unwrap(),
            &item(Error, "Unexpected EOF processing block.")
        );
    }

    #[test]
    fn include_directives() {
        assert_eq!(kinds("include ./x.conf")[0], item(Include, "./x.conf"));
        assert_eq!(kinds("INCLUDE 'x.conf'")[0], item(Include, "x.conf"));
        assert_eq!(kinds("include \"x y.conf\"")[0], item(Include, "x y.conf"));
        assert_eq!(
            kinds("m { include x.conf }"),
            vec![
                item(Key, "m"),
                item(MapStart, ""),
                item(Include, "x.conf"),
                item(MapEnd, ""),
                item(Eof, "")
            ]
        );
        // With a separator, `include` is an ordinary key.
        assert_eq!(kinds("include: x")[0], item(Key, "include"));
        assert_eq!(
            kinds("include [x]")[0],
            item(Error, "Expected include value but found start of an array")
        );
        assert_eq!(
            kinds("include 5")[0],
            item(Error, "Expected include value but found start of a number")
        );
    }

    #[test]
    fn errors_after_newline_report_the_next_line() {
        assert_eq!(
            lex("a = 1\nb =\n").last().unwrap(),
            &(Error, "Expected value but found new line".into(), 3, 1)
        );
    }

    #[test]
    fn nul_byte_reads_as_end_of_input() {
        let items = kinds("numbers (\n1234567890\n)\0");
        assert_eq!(items[1], item(Str, "\n1234567890\n"));
    }

    #[test]
    fn garbage_does_not_loop_forever() {
        for input in [
            "A@@Føøøø?˛ø:{øøøø˙˙",
            "include \"9/\u{fffd}",
            "{{{{",
            "[[[",
            "a=(((",
        ] {
            let items = lex(input);
            assert!(matches!(items.last().unwrap().0, Error | Eof), "{input}");
        }
        assert_eq!(
            lex("A@@Føøøø?˛ø:{øøøø˙˙").last().unwrap().1,
            "Unexpected EOF processing map key."
        );
    }
}
