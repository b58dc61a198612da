//! JSON text: the engine's own reader and writers for [`serde_json::Value`]s.
//!
//! Values stay `serde_json::Value` (the type hosts already hold); only the conversion from and
//! to text lives here. serde_json's deserializer, serializer and number printer and parser
//! were a large share of the browser package's code (`docs/performance.md`), and the runtimes
//! use a small part of what they do: the engine reads profiles, events and memories and writes
//! memories and explanations. Built with the wasm crates in mind: no generics, no serde.
//!
//! The reader accepts exactly the texts `serde_json::from_str` accepts and builds the same
//! values (property-tested against it below): the same grammar, nesting limit and string
//! escapes (no lone surrogates), integers as `u64`/`i64` when they fit and correctly rounded
//! `f64`s otherwise, a number too large for an `f64` an error, the last of duplicate keys.
//! The pretty writer writes what `serde_json::to_string_pretty` writes.

use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// How deeply arrays and objects may nest: serde_json's limit, so that both read the same
/// texts (and no hostile text exhausts the stack).
const MAX_DEPTH: usize = 128;

/// Why a text is not JSON, and where (1-based line and column, as serde_json reports them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    what: &'static str,
    line: usize,
    column: usize,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.what, self.line, self.column
        )
    }
}

impl std::error::Error for Error {}

/// Parses JSON text (all of it: trailing characters are an error).
pub fn parse(text: &str) -> Result<Value, Error> {
    let mut p = Parser::new(text);
    let v = p.value()?;
    p.end()?;
    Ok(v)
}

/// JSON text parsed one level deep: an object's members in order (duplicates kept, keys
/// borrowed from the text when they hold no escapes), or any other value whole.
#[derive(Debug, Clone, PartialEq)]
pub enum Top<'a> {
    Object(Vec<(Cow<'a, str>, Value)>),
    Other(Value),
}

/// Parses JSON text one level deep (see [`Top`]).
pub fn parse_top(text: &str) -> Result<Top<'_>, Error> {
    let mut p = Parser::new(text);
    p.skip_ws();
    let top = if p.peek() == Some(b'{') {
        let mut members = Vec::with_capacity(12);
        p.object(&mut |k, v| members.push((k, v)))?;
        Top::Object(members)
    } else {
        Top::Other(p.value()?)
    };
    p.end()?;
    Ok(top)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// Arrays and objects that may still open.
    depth_left: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            text,
            pos: 0,
            depth_left: MAX_DEPTH,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.pos += 1;
        }
    }

    /// An error at the current position (the character at `pos` is in the column).
    fn error(&self, what: &'static str) -> Error {
        self.error_at(self.pos + 1, what)
    }

    /// An error after the first `upto` bytes, located as serde_json locates it.
    fn error_at(&self, upto: usize, what: &'static str) -> Error {
        let seen = self
            .text
            .as_bytes()
            .get(..upto.min(self.text.len()))
            .unwrap_or(&[]);
        let line = 1 + seen.iter().filter(|&&b| b == b'\n').count();
        let column = seen.iter().rev().take_while(|&&b| b != b'\n').count();
        Error { what, line, column }
    }

    fn end(&mut self) -> Result<(), Error> {
        self.skip_ws();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters")),
        }
    }

    fn value(&mut self) -> Result<Value, Error> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error_at(self.pos, "EOF while parsing a value")),
            Some(b'n') => self.word("null").map(|()| Value::Null),
            Some(b't') => self.word("true").map(|()| Value::Bool(true)),
            Some(b'f') => self.word("false").map(|()| Value::Bool(false)),
            Some(b'"') => self.string().map(|s| Value::String(s.into_owned())),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b'[') => {
                let mut items = Vec::new();
                self.array(&mut items)?;
                Ok(Value::Array(items))
            }
            Some(b'{') => {
                let mut map = Map::new();
                self.object(&mut |k, v| {
                    map.insert(k.into_owned(), v);
                })?;
                Ok(Value::Object(map))
            }
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn word(&mut self, word: &'static str) -> Result<(), Error> {
        for &want in word.as_bytes() {
            match self.peek() {
                None => return Err(self.error_at(self.pos, "EOF while parsing a value")),
                Some(b) if b == want => self.pos += 1,
                Some(_) => return Err(self.error("expected ident")),
            }
        }
        Ok(())
    }

    fn open(&mut self) -> Result<(), Error> {
        self.depth_left -= 1;
        if self.depth_left == 0 {
            return Err(self.error("recursion limit exceeded"));
        }
        self.pos += 1;
        Ok(())
    }

    /// Past the closing bracket of what [`Parser::open`] opened.
    fn close(&mut self) {
        self.pos += 1;
        self.depth_left += 1;
    }

    fn array(&mut self, items: &mut Vec<Value>) -> Result<(), Error> {
        self.open()?;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.close();
            return Ok(());
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        return Err(self.error("trailing comma"));
                    }
                }
                Some(b']') => {
                    self.close();
                    return Ok(());
                }
                None => return Err(self.error_at(self.pos, "EOF while parsing a list")),
                Some(_) => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    /// An object's members, handed to `member` in order.
    fn object(&mut self, member: &mut dyn FnMut(Cow<'a, str>, Value)) -> Result<(), Error> {
        self.open()?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.close();
            return Ok(());
        }
        let mut first = true;
        loop {
            match self.peek() {
                Some(b'"') => {}
                Some(b'}') if !first => return Err(self.error("trailing comma")),
                None => return Err(self.error_at(self.pos, "EOF while parsing an object")),
                Some(_) => return Err(self.error("key must be a string")),
            }
            first = false;
            let key = self.string()?;
            self.skip_ws();
            match self.peek() {
                Some(b':') => self.pos += 1,
                None => return Err(self.error_at(self.pos, "EOF while parsing an object")),
                Some(_) => return Err(self.error("expected `:`")),
            }
            let value = self.value()?;
            member(key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.close();
                    return Ok(());
                }
                None => return Err(self.error_at(self.pos, "EOF while parsing an object")),
                Some(_) => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    /// A string (at its opening quote), borrowed from the text when it holds no escape.
    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        self.pos += 1;
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            let Some(b) = bytes.get(self.pos).copied() else {
                return Err(self.error_at(self.pos, "EOF while parsing a string"));
            };
            match b {
                b'"' => {
                    let tail = self.text.get(run..self.pos).unwrap_or("");
                    self.pos += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                    });
                }
                b'\\' => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(self.text.get(run..self.pos).unwrap_or(""));
                    self.pos += 1;
                    let c = self.escape()?;
                    owned.get_or_insert_with(String::new).push(c);
                    run = self.pos;
                }
                0..=0x1f => {
                    self.pos += 1;
                    return Err(self.error_at(
                        self.pos,
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
                _ => self.pos += 1,
            }
        }
    }

    /// The character an escape stands for (after its backslash).
    fn escape(&mut self) -> Result<char, Error> {
        let Some(b) = self.peek() else {
            return Err(self.error_at(self.pos, "EOF while parsing a string"));
        };
        self.pos += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.error_at(self.pos, "invalid escape")),
        })
    }

    /// A `\u` escape: a character of the basic plane or a surrogate pair (lone surrogates
    /// are refused, as strings must be Unicode).
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        if (0xDC00..=0xDFFF).contains(&first) {
            return Err(self.error_at(self.pos, "lone leading surrogate in hex escape"));
        }
        if !(0xD800..=0xDBFF).contains(&first) {
            return char::from_u32(first).ok_or_else(|| self.error("invalid unicode code point"));
        }
        for want in [b'\\', b'u'] {
            match self.peek() {
                None => return Err(self.error_at(self.pos, "EOF while parsing a string")),
                Some(b) if b == want => self.pos += 1,
                Some(_) => {
                    self.pos += 1;
                    return Err(self.error_at(self.pos, "unexpected end of hex escape"));
                }
            }
        }
        let second = self.hex4()?;
        if !(0xDC00..=0xDFFF).contains(&second) {
            return Err(self.error_at(self.pos, "lone leading surrogate in hex escape"));
        }
        let c = 0x1_0000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        char::from_u32(c).ok_or_else(|| self.error("invalid unicode code point"))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut n = 0;
        for _ in 0..4 {
            let Some(b) = self.peek() else {
                return Err(self.error_at(self.pos, "EOF while parsing a string"));
            };
            self.pos += 1;
            let digit = char::from(b)
                .to_digit(16)
                .ok_or_else(|| self.error_at(self.pos, "invalid escape"))?;
            n = n * 16 + digit;
        }
        Ok(n)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number: `u64` or `i64` when it is an integer that fits (`-0` is the float `-0.0`,
    /// as in serde_json), the nearest `f64` otherwise ([`crate::decimal`]).
    fn number(&mut self) -> Result<Number, Error> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            None => return Err(self.error_at(self.pos, "EOF while parsing a value")),
            Some(_) => return Err(self.error("invalid number")),
        }
        let int_end = self.pos;
        let mut frac = (int_end, int_end);
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let start = self.pos;
            if self.digits() == 0 {
                return Err(self.fraction_error());
            }
            frac = (start, self.pos);
        }
        let mut exp: Option<i64> = None;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            let minus = self.peek() == Some(b'-');
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let start = self.pos;
            if self.digits() == 0 {
                return Err(self.fraction_error());
            }
            // Saturated: far beyond any double's range either way.
            let n = self
                .text
                .as_bytes()
                .get(start..self.pos)
                .unwrap_or(&[])
                .iter();
            let n = n.fold(0i64, |n, &d| (n * 10 + i64::from(d - b'0')).min(1 << 40));
            exp = Some(if minus { -n } else { n });
        }
        let bytes = self.text.as_bytes();
        let int = bytes.get(int_start..int_end).unwrap_or(&[]);
        if frac.0 == frac.1
            && exp.is_none()
            && let Some(n) = int.iter().try_fold(0u64, |n, &d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
        {
            if !negative {
                return Ok(Number::from(n));
            }
            if n != 0
                && let Some(i) = 0i64.checked_sub_unsigned(n)
            {
                return Ok(Number::from(i));
            }
        }
        let frac = bytes.get(frac.0..frac.1).unwrap_or(&[]);
        let x = crate::decimal::to_f64(negative, int, frac, exp.unwrap_or(0));
        match Number::from_f64(x) {
            Some(n) => Ok(n),
            None => Err(self.error_at(self.pos, "number out of range")),
        }
    }

    /// A fraction or exponent without digits.
    fn fraction_error(&self) -> Error {
        match self.peek() {
            None => self.error_at(self.pos, "EOF while parsing a value"),
            Some(_) => self.error("invalid number"),
        }
    }
}

/// A number as serde_json prints it: integers as integers, other values in the shortest
/// form that reads back (`1.5`, `1e+21`, `1.5e-7`, `20.0`).
pub fn number_text(n: &Number) -> String {
    let mut out = String::new();
    if let Some(u) = n.as_u64() {
        write_uint(u, &mut out);
    } else if let Some(i) = n.as_i64() {
        out.push('-');
        write_uint(i.unsigned_abs(), &mut out);
    } else {
        out = float_text(n.as_f64().unwrap_or(0.0));
    }
    out
}

/// `n` in decimal, appended to `out`. Why not `to_string`: the formatting machinery is a call
/// through `fmt::write` and a padding pass per number, and in the browser package integers
/// are written on every event (each constant decision crosses into JavaScript as its number).
pub fn write_uint(mut n: u64, out: &mut String) {
    // Least significant digit first (dividing by the constant 10 is a multiplication), then
    // copied out the other way round; u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut len = 0;
    for slot in &mut digits {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    for d in digits.iter().take(len).rev() {
        out.push(char::from(*d));
    }
}

/// A finite float in its shortest form that reads back, as serde_json prints it (with the
/// same printer, zmij). Of two shortest forms equally near, the even one: what JavaScript's
/// `Number.prototype.toString` picks too (the standard library's `{:e}` picks the other).
fn float_text(x: f64) -> String {
    zmij::Buffer::new().format_finite(x).into()
}

/// The shortest decimal digits that read back as `x` (finite, not negative), without
/// leading or trailing zeros, and the position of the decimal point relative to them:
/// `x = 0.digits × 10^point` (`("15", -6)` for 1.5e-7, `("0", 1)` for 0).
pub fn shortest(x: f64) -> (String, i32) {
    let text = float_text(x);
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.trim_start_matches('+').parse().unwrap_or(0);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    let significant = all.trim_start_matches('0');
    let leading_zeros = all.len() - significant.len();
    let digits = significant.trim_end_matches('0');
    if digits.is_empty() {
        return ("0".into(), 1);
    }
    let int_len = i32::try_from(int.len()).unwrap_or(0);
    let point = int_len - i32::try_from(leading_zeros).unwrap_or(0) + exp;
    (digits.into(), point)
}

/// JSON text as `serde_json::to_string_pretty` writes it: two-space indents, `"key": value`.
pub fn to_string_pretty(value: &Value) -> String {
    let mut out = String::with_capacity(128);
    write_pretty(value, 0, &mut out);
    out
}

fn write_pretty(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_text(n)),
        Value::String(s) => write_string(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                push_indent(out, indent + 1);
                write_pretty(item, indent + 1, out);
            }
            out.push('\n');
            push_indent(out, indent);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                push_indent(out, indent + 1);
                write_string(k, out);
                out.push_str(": ");
                write_pretty(v, indent + 1, out);
            }
            out.push('\n');
            push_indent(out, indent);
            out.push('}');
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

/// A JSON string as `JSON.stringify` (and serde_json) writes it: `"` and `\` escaped,
/// `\b \f \n \r \t` short escapes, other control characters as `\u00xx`, everything else
/// (non-ASCII included) raw.
///
/// Runs of bytes that need no escape are copied whole: names and texts rarely hold any, and
/// this is on the path of every decision a host returns.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let mut rest = s;
    while let Some(at) = first_escape(rest.as_bytes()) {
        let (plain, tail) = rest.split_at(at);
        out.push_str(plain);
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
            }
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    out.push('"');
}

/// Where the first byte that JSON must escape (a control character, `"` or `\`) is. Eight
/// bytes at a time: a byte at a time, this scan was half of what writing an exposure line cost
/// (about 1,200 of its 2,400 instructions, scripts/bench-instructions.sh).
fn first_escape(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        if let Ok(eight) = <[u8; 8]>::try_from(chunk)
            && let Some(i) = first_escape_in(eight)
        {
            return Some(at + i);
        }
        at += 8;
    }
    // The tail, padded with a byte that needs no escape.
    let mut eight = [b' '; 8];
    for (slot, &b) in eight.iter_mut().zip(chunks.remainder()) {
        *slot = b;
    }
    first_escape_in(eight).map(|i| at + i)
}

/// [`first_escape`] in one eight-byte word.
fn first_escape_in(eight: [u8; 8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Sets the high bit of each byte of `x` that is zero; the lowest one set is exact (a
    // borrow only ever runs upwards), and the lowest is all this needs.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let x = u64::from_le_bytes(eight);
    // Bytes below 0x20: x - 0x20 borrows through the high bit only there (ASCII or not).
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    let found = control | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\')));
    (found != 0).then(|| (found.trailing_zeros() / 8) as usize)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The eight-at-a-time scan finds what a byte-at-a-time one finds, on strings full of
        /// what needs escaping, of what is near it (0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f) and of
        /// UTF-8 beyond ASCII.
        #[test]
        fn the_escape_scan_finds_the_first_byte_to_escape(
            s in "[\\x00-\\x22\\x5a-\\x5e\\x7e\\x7fa-z\\u{80}-\\u{10ffff}]{0,40}"
        ) {
            let naive = s.bytes().position(|b| b < 0x20 || b == b'"' || b == b'\\');
            prop_assert_eq!(first_escape(s.as_bytes()), naive);
            let mut out = String::new();
            write_string(&s, &mut out);
            prop_assert_eq!(out, serde_json::to_string(&s).unwrap());
        }

        /// … and a lone byte to escape after a long plain run, wherever it falls in a chunk.
        #[test]
        fn the_escape_scan_finds_a_lone_byte_after_a_plain_run(
            s in "[a-z\\u{80}-\\u{7ff}\\x20!#\\x7f]{0,30}[\\x00-\\x7f]?[a-z]{0,10}"
        ) {
            let naive = s.bytes().position(|b| b < 0x20 || b == b'"' || b == b'\\');
            prop_assert_eq!(first_escape(s.as_bytes()), naive);
        }
    }

    #[test]
    fn integers_are_written_as_the_standard_library_writes_them() {
        let edges = [
            0,
            1,
            9,
            10,
            99,
            100,
            u64::from(u32::MAX),
            10u64.pow(19) - 1,
            10u64.pow(19),
            u64::MAX,
        ];
        for n in edges {
            let mut out = String::from("x");
            write_uint(n, &mut out);
            assert_eq!(out, format!("x{n}"));
        }
        for i in [i64::MIN, -1, i64::MAX] {
            assert_eq!(number_text(&Number::from(i)), i.to_string());
        }
    }

    proptest! {
        #[test]
        fn any_integer_is_written_as_the_standard_library_writes_it(n in any::<u64>(), i in any::<i64>()) {
            let mut out = String::new();
            write_uint(n, &mut out);
            prop_assert_eq!(out, n.to_string());
            prop_assert_eq!(number_text(&Number::from(i)), i.to_string());
        }
    }

    /// Both readers accept the same texts and build the same values.
    fn agrees(text: &str) {
        let ours = parse(text);
        let theirs = serde_json::from_str::<Value>(text);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{text:?}");
                // -0.0 == 0.0: compare the floats' bits too.
                assert_eq!(a.to_string(), b.to_string(), "{text:?}");
            }
            (Err(_), Err(_)) => {}
            _ => panic!("{text:?}: ours {ours:?}, serde_json {theirs:?}"),
        }
        // One level deep, an object's last duplicate wins, as in the tree.
        if let (Ok(Top::Object(members)), Ok(Value::Object(map))) = (parse_top(text), &theirs) {
            for (k, v) in map {
                let last = members.iter().rev().find(|(m, _)| m == k).map(|(_, v)| v);
                assert_eq!(last, Some(v), "{text:?}");
            }
            assert!(members.iter().all(|(k, _)| map.contains_key(k.as_ref())));
        } else {
            assert_eq!(parse_top(text).is_ok(), theirs.is_ok(), "{text:?}");
        }
    }

    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\n",
        "\t",
        "\"a\"",
        "\"k\"",
        "\"\"",
        "\"\\u00e9\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800x\"",
        "\"\\ud800\\n\"",
        "\"\\u12\"",
        "\"\\q\"",
        "\"\u{1}\"",
        "\"é\"",
        "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
        "0",
        "1",
        "-0",
        "-",
        "01",
        "1.",
        ".5",
        "1.5",
        "-1.5e3",
        "1E+2",
        "1e",
        "1e-",
        "1e400",
        "-1e400",
        "1e-400",
        "0e99999999999999999999",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "0.30000000000000004",
        "2.2250738585072011e-308",
        "true",
        "false",
        "null",
        "nul",
        "tru",
        "x",
        "\"unterminated",
    ];

    #[test]
    fn texts_serde_json_accepts_or_refuses_are_read_alike() {
        for piece in PIECES {
            agrees(piece);
            agrees(&format!("[{piece}]"));
            agrees(&format!("{{\"k\":{piece}}}"));
        }
        for text in [
            "",
            " ",
            "{\"a\":1,\"a\":2}",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "{\"a\" 1}",
            "{1:2}",
            "{\"a\":1} x",
            "  [ ] ",
            "{\"a\":{\"b\":[1,{\"c\":null}]}}",
            "[\"a\\u0000b\"]",
        ] {
            agrees(text);
        }
    }

    #[test]
    fn nesting_stops_where_serde_json_stops() {
        for depth in [126, 127, 128, 129, 1000] {
            agrees(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
            agrees(&format!(
                "{}1{}",
                "{\"a\":".repeat(depth),
                "}".repeat(depth)
            ));
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn written_values_read_back_as_serde_json_reads_them(v in arb_json()) {
            agrees(&serde_json::to_string(&v).unwrap());
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            agrees(&pretty);
            prop_assert_eq!(to_string_pretty(&v), pretty);
        }

        #[test]
        fn spliced_pieces_are_read_alike(picks in prop::collection::vec(0..PIECES.len(), 1..12)) {
            let text: String = picks.iter().map(|&i| PIECES[i]).collect();
            agrees(&text);
        }

        #[test]
        fn numbers_print_and_read_as_serde_json_prints_and_reads_them(bits in any::<u64>()) {
            let f = f64::from_bits(bits);
            if let Some(n) = Number::from_f64(f) {
                let text = n.to_string();
                prop_assert_eq!(number_text(&n), text.clone());
                let (digits, point) = shortest(f.abs());
                prop_assert_eq!(format!("0.{digits}e{point}").parse::<f64>().unwrap(), f.abs());
                prop_assert!(!digits.ends_with('0') || digits == "0");
                agrees(&text);
                agrees(&format!("{f:e}"));
            }
        }

        #[test]
        fn decimal_texts_are_read_alike(int in "-?[0-9]{1,25}", frac in "(\\.[0-9]{1,20})?", exp in "([eE][+-]?[0-9]{1,3})?") {
            agrees(&format!("{int}{frac}{exp}"));
        }
    }
}
