//! Canonical JSON: the byte-exact form in which every runtime's outputs are compared.
//!
//! Conformance vectors are checked by comparing text, so the text must not depend on the JSON
//! library of a runtime: object keys sorted (by code point), no insignificant whitespace,
//! numbers printed as JavaScript prints them ([`crate::number::format_number`]), strings escaped
//! as `JSON.stringify` escapes them. It is written by hand; its recursion follows the depth of the
//! input (both JSON readers, serde_json's and [`crate::json`], limit nesting to 128).

use crate::json::write_string;
use crate::number::format_number;
use std::fmt::Write as _;

/// Canonical JSON text of a value.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// Appends the canonical JSON text of `value` to `out`.
pub fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Null => out.push_str("null"),
        serde_json::Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        serde_json::Value::Number(n) => {
            // Integers that an f64 holds exactly print as integers either way; larger ones
            // print as JavaScript would print the parsed double.
            match (n.as_i64(), n.as_f64()) {
                (Some(i), _) if i.unsigned_abs() <= 9_007_199_254_740_991 => {
                    let _ = write!(out, "{i}");
                }
                (_, Some(f)) => out.push_str(&format_number(f)),
                (_, None) => out.push_str("null"),
            }
        }
        serde_json::Value::String(s) => write_string(s, out),
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
            crate::sort::sort_by(&mut entries, |a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
    }
}
