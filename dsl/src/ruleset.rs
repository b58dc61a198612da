//! A rule set: the `.rules` files compiled together, from a folder, a file or memory.
//!
//! This is the front end's one entry point: load → parse every file → check → compile.
//! Each phase reports all it finds; the compiler runs only on a rule set without errors.

use crate::ast::{SourceFile, Span};
use crate::diagnostic::{Diagnostic, codes};
use crate::hir::Model;
use crate::source::Sources;
use crate::{check, compile, parser};
use omnirule_engine::graph::Graph;
use std::path::{Path, PathBuf};

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Why a path could not be read at all (as opposed to diagnostics about its contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for LoadError {}

/// The sources of one rule set, plus problems found while reading their bytes.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub sources: Sources,
    /// Per file: whether its bytes were readable text (else it is not parsed).
    readable: Vec<bool>,
    byte_errors: Vec<Diagnostic>,
}

/// A compiled rule set: the checked model (tests live there) and the rule graph.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub model: Model,
    pub graph: Graph,
    /// Warnings (a compiled rule set has no errors).
    pub warnings: Vec<Diagnostic>,
}

impl RuleSet {
    /// Read a `.rules` file, or every `.rules` file directly inside a folder (sorted by name).
    pub fn from_path(path: &Path) -> Result<RuleSet, LoadError> {
        let err = |message: String| LoadError {
            path: path.to_path_buf(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(io_message(&e)))?;
        let files: Vec<PathBuf> = if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| err(io_message(&e)))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "rules") && p.is_file())
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(err("no `.rules` files in this folder".into()));
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut set = RuleSet::default();
        for f in files {
            let bytes = std::fs::read(&f).map_err(|e| LoadError {
                path: f.clone(),
                message: io_message(&e),
            })?;
            set.add_bytes(f.display().to_string(), &bytes);
        }
        Ok(set)
    }

    /// A rule set from in-memory files `(name, text)`.
    pub fn from_texts<N: Into<String>, T: Into<String>>(
        files: impl IntoIterator<Item = (N, T)>,
    ) -> RuleSet {
        let mut set = RuleSet::default();
        for (name, text) in files {
            set.sources.add(name, text);
            set.readable.push(true);
        }
        set
    }

    /// Add a file from raw bytes: oversized or non-UTF-8 input is reported, not parsed.
    pub fn add_bytes(&mut self, name: String, bytes: &[u8]) {
        let problem = if bytes.len() > MAX_FILE_BYTES {
            Some((
                codes::FILE_TOO_LARGE,
                0,
                format!(
                    "file is {:.1} MB; the limit is {} MB per file",
                    bytes.len() as f64 / 1_048_576.0,
                    MAX_FILE_BYTES / 1_048_576
                ),
            ))
        } else {
            std::str::from_utf8(bytes).err().map(|e| {
                (
                    codes::INVALID_UTF8,
                    e.valid_up_to(),
                    format!(
                        "file is not valid UTF-8 (bad byte at offset {})",
                        e.valid_up_to()
                    ),
                )
            })
        };
        match problem {
            None => {
                let text = String::from_utf8_lossy(bytes).into_owned();
                self.sources.add(name, text);
                self.readable.push(true);
            }
            Some((code, at, message)) => {
                // Keep a readable prefix so the error can still point at a line.
                let shown = bytes.get(..at.min(64 * 1024)).unwrap_or(&[]);
                let file = self
                    .sources
                    .add(name, String::from_utf8_lossy(shown).into_owned());
                self.readable.push(false);
                self.byte_errors.push(Diagnostic::error(
                    code,
                    Span::new(file, at.min(shown.len()), at.min(shown.len())),
                    message,
                ));
            }
        }
    }

    /// Parse every readable file. Files that fail to parse are left out of the result.
    pub fn parse(&self) -> (Vec<SourceFile>, Vec<Diagnostic>) {
        let mut diags = self.byte_errors.clone();
        let mut files = Vec::new();
        for (id, src) in self.sources.iter() {
            if !self.readable.get(id as usize).copied().unwrap_or(false) {
                continue;
            }
            match parser::parse(id, &src.text) {
                Ok(f) => files.push(f),
                Err(mut d) => diags.append(&mut d),
            }
        }
        (files, diags)
    }

    /// Parse and check. The model exists only when there is no error anywhere.
    ///
    /// When a file does not parse, its names are unknown to the checker, and checking the rest
    /// would report every reference into it (and a missing `schema`) as errors of their own:
    /// noise that hides the one real mistake. So a syntax error stops before checking.
    pub fn check(&self) -> (Option<Model>, Vec<Diagnostic>) {
        let (files, mut diags) = self.parse();
        if diags.iter().any(Diagnostic::is_error) {
            return (None, diags);
        }
        let (model, mut more) = check::check(&files);
        diags.append(&mut more);
        (model, diags)
    }

    /// Parse, check and compile. `Err` holds every diagnostic when there is any error.
    pub fn compile(&self) -> Result<Compiled, Vec<Diagnostic>> {
        match self.check() {
            (Some(model), warnings) => {
                let graph = compile::compile(&model, &self.sources);
                Ok(Compiled {
                    model,
                    graph,
                    warnings,
                })
            }
            (None, diags) => Err(diags),
        }
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
