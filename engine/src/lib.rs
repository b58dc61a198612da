//! The Omnirule engine: evaluates a compiled rule graph against one customer's event.
//!
//! `evaluate(bundle, memory, profile, event) -> (decisions, memory')` is a pure function: no
//! clock, no randomness, no I/O, no global state. The same bundle and inputs give
//! byte-identical decisions and memory on every runtime (native, browser, edge, wasmtime).

pub mod bundle;
pub mod canonical;
mod case;
mod decimal;
pub mod eval;
pub mod explain;
pub mod graph;
mod graph_serde;
mod history;
pub mod host;
mod index;
pub mod input;
pub mod json;
pub mod memory;
mod pred;
mod program;
pub mod schedule;
pub mod sort;
pub mod validate;
pub mod value;

pub use eval::{Decision, Evaluation, evaluate, evaluate_in_place, explain, explain_in_place};
pub use explain::{Explanation, RuleExplanation, RuleOutcome};
