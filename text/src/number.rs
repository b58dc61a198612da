//! Numbers as JavaScript prints them.
//!
//! Every runtime renders a number in a message or a param the same way, and the browser is the
//! runtime whose printing cannot be changed, so the others print as `Number.prototype.toString`
//! does.

use std::fmt::Write as _;

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
