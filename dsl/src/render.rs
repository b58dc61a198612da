//! Rendering diagnostics for people (rustc-style, optionally coloured) and for tools (JSON).
//!
//! This is the only place diagnostics become text: everything before works with
//! [`Diagnostic`] values.

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::Sources;
use std::fmt::Write as _;

/// Render options: colour only on a terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn red(&self, s: &str) -> String {
        self.wrap("1;31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("1;33", s)
    }
    fn blue(&self, s: &str) -> String {
        self.wrap("1;34", s)
    }
}

/// One diagnostic the way rustc prints it:
///
/// ```text
/// error[E0102]: `page_view` has no field `categry`
///   --> knitwear.rules:12:40
///    |
/// 12 |   when seen page_view as v within 7d where v.categry == "knitwear"
///    |                                              ^^^^^^^ unknown field
///    |
///    = help: did you mean `category`?
/// ```
pub fn render(d: &Diagnostic, sources: &Sources, style: Style) -> String {
    let p = Paint { on: style.color };
    let mut out = String::new();
    let head = match d.severity {
        Severity::Error => p.red(&format!("error[{}]", d.code)),
        Severity::Warning => p.yellow(&format!("warning[{}]", d.code)),
    };
    let _ = writeln!(out, "{head}{}", p.bold(&format!(": {}", d.message)));
    let Some(src) = sources.get(d.span.file) else {
        return out;
    };
    let (line, col) = src.line_col(d.span.start as usize);
    let (end_line, end_col) = src.line_col(d.span.end as usize);
    let gutter = line.max(end_line).to_string().len();
    let pad = " ".repeat(gutter);
    let bar = p.blue("|");
    let _ = writeln!(out, "{pad}{} {}:{line}:{col}", p.blue("-->"), src.name);
    let _ = writeln!(out, "{pad} {bar}");
    let text = src.line(line);
    let _ = writeln!(out, "{} {bar} {text}", p.blue(&format!("{line:>gutter$}")));
    // Underline to the end of the span on its first line (at least one caret).
    let width = if end_line == line {
        end_col.saturating_sub(col).max(1)
    } else {
        text.chars().count().saturating_sub(col - 1).max(1)
    };
    let marker = match d.severity {
        Severity::Error => p.red(&"^".repeat(width)),
        Severity::Warning => p.yellow(&"^".repeat(width)),
    };
    let label = d
        .label
        .as_deref()
        .map(|l| format!(" {l}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{pad} {bar} {}{marker}{}",
        " ".repeat(col - 1),
        match d.severity {
            Severity::Error => p.red(&label),
            Severity::Warning => p.yellow(&label),
        }
    );
    let notes: Vec<String> = d
        .secondary
        .iter()
        .filter_map(|s| {
            let ssrc = sources.get(s.span.file)?;
            let (l, c) = ssrc.line_col(s.span.start as usize);
            Some(format!(
                "{}: {} ({}:{l}:{c})",
                p.bold("note"),
                s.message,
                ssrc.name
            ))
        })
        .chain(
            d.help
                .iter()
                .map(|help| format!("{}: {help}", p.bold("help"))),
        )
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "{pad} {bar}");
    }
    for note in notes {
        let _ = writeln!(out, "{pad} {} {note}", p.blue("="));
    }
    out
}

/// All diagnostics plus a closing summary line ("error: 2 errors, 1 warning").
pub fn render_all(diags: &[Diagnostic], sources: &Sources, style: Style) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render(d, sources, style));
        out.push('\n');
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if errors + warnings > 0 {
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        let _ = writeln!(
            out,
            "{}",
            match (errors, warnings) {
                (0, w) => plural(w, "warning"),
                (e, 0) => plural(e, "error"),
                (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
            }
        );
    }
    out
}

/// Diagnostics as a JSON array for editors, CI and the browser:
/// `[{"code","severity","message","file","line","column","end_line","end_column","label",
/// "help","secondary":[{"file","line","column","message"}]}]`.
pub fn to_json(diags: &[Diagnostic], sources: &Sources) -> serde_json::Value {
    let pos = |span: crate::ast::Span| {
        sources.get(span.file).map(|s| {
            let (l, c) = s.line_col(span.start as usize);
            let (el, ec) = s.line_col(span.end as usize);
            (s.name.clone(), l, c, el, ec)
        })
    };
    serde_json::Value::Array(
        diags
            .iter()
            .map(|d| {
                let (file, line, column, end_line, end_column) =
                    pos(d.span).unwrap_or_default();
                serde_json::json!({
                    "code": d.code,
                    "severity": d.severity,
                    "message": d.message,
                    "file": file,
                    "line": line,
                    "column": column,
                    "end_line": end_line,
                    "end_column": end_column,
                    "label": d.label,
                    "help": d.help,
                    "secondary": d.secondary.iter().map(|s| {
                        let (file, line, column, _, _) = pos(s.span).unwrap_or_default();
                        serde_json::json!({"file": file, "line": line, "column": column, "message": s.message})
                    }).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}
