//! The Omnirule engine: evaluates a compiled rule graph against one customer's event.
//!
//! `evaluate(bundle, memory, profile, event) -> (decisions, memory')` is a pure function: no
//! clock, no randomness, no I/O, no global state. The same bundle and inputs give
//! byte-identical decisions and memory on every runtime (native, browser, edge, wasmtime).
//!
//! The modules form a stack, declared below bottom first; each uses only those declared before
//! it (`ARCHITECTURE.md` has the map and where to start reading):
//!
//! - [`graph`], [`validate`]: the rule graph the compiler emits, and what makes it safe to run.
//! - [`value`]: runtime values. [`decision`]: what a rule tells a host to do; [`explain`]: why
//!   each rule did or did not fire.
//! - `names`, `fields`, `plan`: shared names, an input's fields, facts derived at load.
//! - `fast`: the lazily compiled fast path of each trigger.
//! - [`bundle`]: the container (bytes, hash, JSON form) holding a graph, its plan and fast path.
//! - [`input`]: profiles and events decoded against a bundle. [`memory`]: what is kept about a
//!   customer. `history`: remembered events grouped for keyed queries. `schedule`: local time.
//! - [`eval`]: evaluation. [`host`]: the JSON protocol every runtime calls.
//!
//! `tests/architecture.rs` holds the stack to this order.

pub mod graph;
mod graph_serde;
pub mod validate;

pub mod value;

pub mod decision;
pub mod explain;

mod fields;
mod names;
mod plan;

mod fast;

pub mod bundle;

pub mod input;
pub mod memory;

mod history;
mod schedule;

pub mod eval;

pub mod host;

pub use bundle::Bundle;
pub use decision::{Decision, Params};
pub use eval::{Evaluation, evaluate, evaluate_in_place, explain, explain_in_place};
pub use explain::{Explanation, RuleExplanation, RuleOutcome};
pub use input::{Event, Profile};
pub use memory::Memory;
