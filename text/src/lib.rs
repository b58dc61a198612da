//! Domain-free text code shared by the Omnirule engine and its hosts: JSON text, decimals,
//! numbers as JavaScript prints them, Unicode case mapping, substring search, stable sorting,
//! and RFC 3339 time.
//!
//! Why a crate of its own: none of this knows about rules, and the engine's `src/` should read
//! as the engine. Why hand-written rather than serde_json's reader and printer, `str::parse`,
//! `char::to_lowercase` or `slice::sort_by`: the engine is compiled into the browser package,
//! whose download size is a product figure, and those standard pieces bring large tables and
//! generic code per type (see `docs/performance.md`). Each module is property-tested against
//! the standard library or serde_json, the implementation it replaces, so the hand-written
//! version stays exactly equivalent.
//!
//! Every function here is deterministic and platform-independent: the same input gives the
//! same output in native code, wasm in a browser, workerd and wasmtime.

pub mod canonical;
mod case;
mod decimal;
pub mod json;
pub mod number;
pub mod search;
pub mod sort;
pub mod time;

pub use case::{to_lowercase, to_uppercase};

use std::fmt::Write as _;

/// Hex of bytes, lower case.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
