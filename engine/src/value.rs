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
use omnirule_text::number::format_number;
use omnirule_text::time::format_time;
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::sync::Arc;

/// Instants outside ±8.64e15 ms (JavaScript's `Date` range, about ±273,790 years) are refused
/// on input, so times always format and round-trip.
pub const MAX_TIME_MS: i64 = 8_640_000_000_000_000;

/// Whether `t` is an instant the engine accepts (within ±[`MAX_TIME_MS`]). The one range check
/// for times: `t.abs()` would overflow for `i64::MIN` (a panic in debug builds, a wrap to a
/// negative number, and so acceptance, in release and wasm builds).
pub fn time_in_range(t: i64) -> bool {
    (-MAX_TIME_MS..=MAX_TIME_MS).contains(&t)
}

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

    /// The bytes a value counts for against the limits on input fields
    /// ([`MAX_FIELD_BYTES`](crate::input::MAX_FIELD_BYTES)) and remembered memory: the UTF-8
    /// bytes of its strings, and 8 for any other value and for each list item. The same on
    /// every runtime (it is the engine's own count, not an allocator's).
    pub fn footprint(&self) -> usize {
        match self {
            Value::String(s) => s.len(),
            Value::List(items) => items.iter().fold(0usize, |n, v| {
                n.saturating_add(8).saturating_add(v.footprint())
            }),
            Value::Event(_) => 0,
            _ => 8,
        }
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
