//! Runtime values and their text and JSON forms.
//!
//! Why it is shaped this way:
//! - One enum covers every value an expression can produce, including *missing* (absent
//!   fields, empty bindings, `last` with no match, division by zero) so that the missing-value
//!   rules of the language are a matter of matching on [`Value::Missing`].
//! - Strings are `Arc<str>`: memory is copied on every evaluation (evaluation is a pure
//!   function returning a new memory) and values are copied out of events and memoisation
//!   caches, so cloning a string must be a reference-count increment, not an allocation.
//! - Remembered events are referred to by index ([`Value::Event`]) into the memory the
//!   evaluation reads; they are never copied.
//! - Numbers print exactly as JavaScript's `Number.prototype.toString` prints them and times as
//!   RFC 3339 UTC, so every runtime (native, browser, edge, wasmtime) renders the same text and
//!   JSON. The formatting is written here by hand because no runtime may differ.

use crate::graph::{Literal, Millis};
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::sync::Arc;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Instants outside ±8.64e15 ms (JavaScript's `Date` range, about ±273,790 years) are refused
/// on input, so times always format and round-trip.
pub const MAX_TIME_MS: i64 = 8_640_000_000_000_000;

/// A runtime value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Absent: an undeclared or unset field, an empty binding, no match, division by zero.
    #[default]
    Missing,
    Bool(bool),
    /// Always finite: arithmetic that would give NaN or an infinity gives missing instead.
    Number(f64),
    String(Arc<str>),
    /// Milliseconds.
    Duration(Millis),
    /// Milliseconds since the Unix epoch, UTC.
    Time(Millis),
    /// Lists keep their order; sets are lists sorted by [`Value::total_cmp`] without duplicates.
    List(Vec<Value>),
    /// A remembered event: its index in the memory being read by the current evaluation.
    Event(u32),
}

impl Value {
    pub fn string(s: &str) -> Value {
        Value::String(Arc::from(s))
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, Value::Missing)
    }

    /// `and`/`or`/`not` and conditions: only `true` is true; missing and anything else is false.
    pub fn truthy(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// From a graph literal. Non-finite numbers become missing (validation refuses them anyway).
    pub fn from_literal(l: &Literal) -> Value {
        match l {
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Number(n) => number(*n),
            Literal::String(s) => Value::string(s),
            Literal::Duration(d) => Value::Duration(*d),
            Literal::Time(t) => Value::Time(*t),
            Literal::List(items) => Value::List(items.iter().map(Value::from_literal).collect()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Missing => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Duration(_) => 4,
            Value::Time(_) => 5,
            Value::List(_) => 6,
            Value::Event(_) => 7,
        }
    }

    /// A total order over all values (kind first, then value; numbers by IEEE total order).
    /// Used to sort sets and to order stored data deterministically, never for `<` in rules.
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Number(a), Value::Number(b)) => a.total_cmp(b),
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::Duration(a), Value::Duration(b)) | (Value::Time(a), Value::Time(b)) => a.cmp(b),
            (Value::List(a), Value::List(b)) => {
                for (x, y) in a.iter().zip(b.iter()) {
                    let o = x.total_cmp(y);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            (Value::Event(a), Value::Event(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }

    /// `==` of the language for two present values: same kind and equal (numbers by IEEE
    /// equality, so `0 == -0` and `NaN != NaN`; strings by code points). Values of different
    /// kinds are not equal.
    pub fn lang_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) | (Value::Time(a), Value::Time(b)) => a == b,
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.lang_eq(y))
            }
            (Value::Event(a), Value::Event(b)) => a == b,
            _ => false,
        }
    }

    /// `<`-style ordering of the language: numbers, strings (by code points), durations, times
    /// and booleans of the same kind. `None` when not comparable (a different kind, NaN, lists,
    /// missing), which makes every ordering comparison false.
    pub fn lang_cmp(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
            // `str`'s order is byte order of UTF-8, which is code point order.
            (Value::String(a), Value::String(b)) => Some(a.as_ref().cmp(b.as_ref())),
            (Value::Duration(a), Value::Duration(b)) | (Value::Time(a), Value::Time(b)) => {
                Some(a.cmp(b))
            }
            _ => None,
        }
    }

    /// Text for interpolation and split units: strings raw, numbers as JavaScript prints them,
    /// booleans `true`/`false`, times RFC 3339, durations as milliseconds, lists as their
    /// elements joined by `", "`, missing as the empty string. Events have no text of their
    /// own (the evaluator renders them by id).
    pub fn render(&self, out: &mut String) {
        match self {
            Value::Missing | Value::Event(_) => {}
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&format_number(*n)),
            Value::String(s) => out.push_str(s),
            Value::Duration(d) => {
                let _ = write!(out, "{d}");
            }
            Value::Time(t) => out.push_str(&format_time(*t)),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.render(out);
                }
            }
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }

    /// The wire-format JSON of a value: numbers as JSON numbers (integral values without a
    /// fraction), times as RFC 3339 strings, durations as millisecond numbers, lists as arrays,
    /// missing as `null`. Events have no JSON of their own here (`null`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Missing | Value::Event(_) => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => number_json(*n),
            Value::String(s) => serde_json::Value::String(String::from(&**s)),
            Value::Duration(d) => serde_json::Value::from(*d),
            Value::Time(t) => serde_json::Value::String(format_time(*t)),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
        }
    }
}

/// A number value, or missing when it is not finite.
pub fn number(n: f64) -> Value {
    if n.is_finite() {
        Value::Number(n)
    } else {
        Value::Missing
    }
}

/// Largest integer up to which every integer is exactly representable as an f64.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// A finite f64 as a JSON number: integral values within ±2^53 as integers (so `20` prints as
/// `20`, not `20.0`, and `-0` as `0`), others as floats. Non-finite values become `null`.
pub fn number_json(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
        // Exact: the value is an integer within ±2^53.
        #[allow(clippy::cast_possible_truncation)]
        return serde_json::Value::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Formats a number exactly as JavaScript's `Number.prototype.toString()` does: the shortest
/// digits that round-trip, integers without a fraction, exponent form from 1e21 and below 1e-6
/// (`1e+21`, `1e-7`), `-0` as `0`.
pub fn format_number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n == 0.0 {
        return "0".into();
    }
    if n.is_infinite() {
        return if n > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let mut out = String::new();
    if n < 0.0 {
        out.push('-');
    }
    let (digits, n_exp) = crate::json::shortest(n.abs());
    let digits = digits.as_str();
    let k = i32::try_from(digits.len()).unwrap_or(1);
    if k <= n_exp && n_exp <= 21 {
        out.push_str(digits);
        for _ in 0..(n_exp - k) {
            out.push('0');
        }
    } else if 0 < n_exp && n_exp <= 21 {
        let (a, b) = digits.split_at(usize::try_from(n_exp).unwrap_or(0).min(digits.len()));
        out.push_str(a);
        out.push('.');
        out.push_str(b);
    } else if -6 < n_exp && n_exp <= 0 {
        out.push_str("0.");
        for _ in 0..(-n_exp) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let mut chars = digits.chars();
        if let Some(first) = chars.next() {
            out.push(first);
        }
        let rest: String = chars.collect();
        if !rest.is_empty() {
            out.push('.');
            out.push_str(&rest);
        }
        let e = n_exp - 1;
        let _ = write!(out, "e{}{}", if e >= 0 { "+" } else { "-" }, e.abs());
    }
    out
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day number (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// Weekday of a day number, Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday).
pub fn weekday(days: i64) -> u32 {
    u32::try_from((days + 3).rem_euclid(7)).unwrap_or(0)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// RFC 3339 UTC text of an instant: `2026-11-20T10:00:00Z`, with `.sss` only when the
/// milliseconds are not zero. Years outside 0000..=9999 use the signed six-digit form of
/// JavaScript's `toISOString` (`+275760-09-13T00:00:00Z`).
pub fn format_time(ms: Millis) -> String {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (min, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    let mut out = String::with_capacity(24);
    if (0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}");
    } else {
        let _ = write!(out, "{}{:06}", if y < 0 { '-' } else { '+' }, y.abs());
    }
    let _ = write!(out, "-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}");
    if milli != 0 {
        let _ = write!(out, ".{milli:03}");
    }
    out.push('Z');
    out
}

/// Parses an RFC 3339 date-time (`2026-11-20T10:00:00Z`, `2026-11-20T11:00:00.5+01:00`) into
/// UTC milliseconds. `T`/`Z` may be lower case; seconds are required; fractions beyond
/// milliseconds are truncated; leap seconds (`:60`) are refused.
pub fn parse_time(s: &str) -> Result<Millis, String> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = b
            .get(from..from + len)
            .ok_or_else(|| "it is too short".to_string())?;
        let mut v = 0i64;
        for c in part {
            if !c.is_ascii_digit() {
                return Err(format!("expected a digit at position {}", from + 1));
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Ok(v)
    };
    let expect = |at: usize, what: &[u8]| -> Result<(), String> {
        match b.get(at) {
            Some(c) if what.contains(c) => Ok(()),
            _ => Err(format!(
                "expected `{}` at position {}",
                what.first().map_or('?', |c| char::from(*c)),
                at + 1
            )),
        }
    };
    let year = num(0, 4)?;
    expect(4, b"-")?;
    let month = num(5, 2)?;
    expect(7, b"-")?;
    let day = num(8, 2)?;
    expect(10, b"Tt")?;
    let hour = num(11, 2)?;
    expect(13, b":")?;
    let minute = num(14, 2)?;
    expect(16, b":")?;
    let second = num(17, 2)?;
    let month_u = u32::try_from(month).unwrap_or(0);
    if !(1..=12).contains(&month_u) {
        return Err(format!("month {month} is out of range"));
    }
    let day_u = u32::try_from(day).unwrap_or(0);
    if day_u < 1 || day_u > days_in_month(year, month_u) {
        return Err(format!("day {day} is out of range"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("the time of day is out of range".into());
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(c - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err("expected digits after `.`".into());
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(c @ (b'+' | b'-')) => {
            let sign = if *c == b'-' { -1 } else { 1 };
            let oh = num(i + 1, 2)?;
            expect(i + 3, b":")?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err("the offset is out of range".into());
            }
            i += 6;
            sign * (oh * 60 + om)
        }
        _ => return Err("expected `Z` or an offset like `+01:00`".into()),
    };
    if i != b.len() {
        return Err("unexpected text after the offset".into());
    }
    let days = days_from_civil(year, month_u, day_u);
    let ms = days * DAY_MS + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis
        - offset_min * 60_000;
    Ok(ms)
}

/// Hex of bytes, lower case.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
