//! The Omnirule rule language front end.
//!
//! Pipeline (one module per job): [`parser`] (pest → owned [`ast`]) → [`check`] (names and
//! types against the schema) → [`compile`] (checked AST → [`omnirule_engine::graph::Graph`]).
//! [`format`] prints an AST back in the canonical layout; [`render`] turns [`diagnostic`]s
//! into text or JSON at the edge.

pub mod ast;
pub mod diagnostic;
pub mod format;
pub mod parser;
pub mod source;
