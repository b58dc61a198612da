//! The Omnirule engine: evaluates a compiled rule graph against one customer's event.
//!
//! `evaluate(bundle, memory, profile, event) -> (decisions, memory')` is a pure function: no
//! clock, no randomness, no I/O, no global state. The same bundle and inputs give
//! byte-identical decisions and memory on every runtime (native, browser, edge, wasmtime).

pub mod graph;
