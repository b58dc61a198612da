//! The Omnirule rule language front end.
//!
//! Pipeline (one module per job): [`parser`] (pest → owned [`ast`]) → [`check`] (names and
//! types against the schema, into the resolved [`hir`]) → [`compile`] (→ the engine's rule
//! graph). [`ruleset`] drives the pipeline over a folder of files; [`format`] prints an AST
//! in the canonical layout; [`render`] turns [`diagnostic`]s into text or JSON at the edge;
//! [`testing`] runs `test` blocks through the engine; [`dot`] draws the graph.

pub mod ast;
pub mod check;
pub mod compile;
pub mod diagnostic;
pub mod dot;
pub mod format;
pub mod hir;
pub mod parser;
pub mod render;
pub mod ruleset;
pub mod source;
pub mod suggest;
pub mod testing;
pub mod time;

pub use ruleset::{Compiled, LoadError, RuleSet};
