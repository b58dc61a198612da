//! Diagnostics: every error the front end reports, as data.
//!
//! Errors are values with a stable code, a message, a primary span and optional help; they are
//! collected (several per run) and rendered once, at the edge, by [`crate::render`].
//! The codes are listed in `docs/errors.md`; a code never changes meaning once released.

use crate::ast::Span;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A secondary location with its own short message ("first defined here").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    #[serde(skip)]
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code, e.g. `E0101`.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Where the problem is. Rendered with a caret underline.
    #[serde(skip)]
    pub span: Span,
    /// Text under the caret, short ("unknown field").
    pub label: Option<String>,
    /// Other relevant places.
    pub secondary: Vec<Label>,
    /// A suggestion ("did you mean `category`?").
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The stable error codes. Grouped by phase: E00xx input and syntax, E01xx names, E02xx types,
/// E03xx rules and schedules, E04xx history, E05xx privacy, E06xx tests.
pub mod codes {
    // Input and syntax.
    pub const FILE_TOO_LARGE: &str = "E0001";
    pub const INVALID_UTF8: &str = "E0002";
    pub const NUL_BYTE: &str = "E0003";
    pub const SYNTAX: &str = "E0004";
    pub const UNTERMINATED_STRING: &str = "E0005";
    pub const TOO_DEEP: &str = "E0006";
    pub const DUPLICATE_CLAUSE: &str = "E0007";
    pub const BAD_LITERAL: &str = "E0008";

    // Names.
    pub const UNKNOWN_EVENT: &str = "E0101";
    pub const UNKNOWN_FIELD: &str = "E0102";
    pub const UNKNOWN_SEGMENT: &str = "E0103";
    pub const UNKNOWN_ACTION: &str = "E0104";
    pub const UNKNOWN_PARAM: &str = "E0105";
    pub const UNKNOWN_GROUP: &str = "E0106";
    pub const UNKNOWN_CONSENT: &str = "E0107";
    pub const UNKNOWN_NAME: &str = "E0108";
    pub const UNKNOWN_FUNCTION: &str = "E0109";
    pub const DUPLICATE_NAME: &str = "E0110";
    pub const MISSING_SCHEMA: &str = "E0111";
    pub const DUPLICATE_SCHEMA: &str = "E0112";
    pub const RESERVED_NAME: &str = "E0113";
    pub const SEGMENT_CYCLE: &str = "E0114";

    // Types.
    pub const TYPE_MISMATCH: &str = "E0201";
    pub const MISSING_PARAM: &str = "E0202";
    pub const WRONG_ARITY: &str = "E0203";
    pub const NOT_BOOLEAN: &str = "E0204";

    // Rules and schedules.
    pub const MISSING_ON: &str = "E0301";
    pub const MISSING_DO: &str = "E0302";
    pub const SPLIT_SUM: &str = "E0303";
    pub const BAD_TIMEZONE: &str = "E0304";
    pub const EMPTY_HOURS: &str = "E0305";
    pub const EMPTY_ACTIVE: &str = "E0306";
    pub const BAD_LIMIT: &str = "E0307";

    // History.
    pub const UNBOUNDED_HISTORY: &str = "E0401";
    pub const SINCE_UNBOUND: &str = "E0402";
    pub const BINDING_POSITION: &str = "E0403";
    pub const DUPLICATE_BINDING: &str = "E0404";

    // Privacy.
    pub const PII_WITHOUT_CONSENT: &str = "E0501";

    // Tests.
    pub const BAD_TEST: &str = "E0601";

    // Goals
    pub const GOAL_WITHOUT_WINDOW: &str = "E0701";
    pub const GOAL_PRIMARY: &str = "E0702";
    pub const GOAL_VALUE: &str = "E0703";
    pub const GOAL_FILTER: &str = "E0704";
}
