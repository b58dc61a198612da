//! Rendering diagnostics for people (rustc-style, optionally coloured) and for tools (JSON).
//!
//! This is the only place diagnostics become text: everything before works with
//! [`Diagnostic`] values.
//!
//! The text form is drawn by `annotate-snippets` (the Rust project's diagnostic renderer), which
//! lays the carets out in terminal columns: a tab is shown as four spaces, a wide character
//! (CJK, emoji) takes two columns and a zero-width one none, each code point on its own (`👋🏻`
//! is a hand and a skin tone, two columns each, as `wcwidth` counts it; tmux lays it out the
//! same). Control and bidirectional-override characters in the source are shown as visible
//! stand-ins so that they cannot disturb the layout. A line wider than 140 columns is cut around
//! the span, with `...`, as rustc does.
//!
//! The position printed after ` --> ` is not a terminal column: it is [`Source::line_col`]'s,
//! 1-based, the column counting characters (Unicode scalar values) from the start of the line,
//! the same numbers as the JSON form's `line` and `column`.

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{Source, Sources};
use annotate_snippets::{Annotation, AnnotationKind, Group, Level, Renderer, Snippet};
use std::fmt::Write as _;

/// Render options: colour only on a terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
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
///
/// The source line shown is the one the span starts on; a span running onto later lines is
/// underlined to the end of its first line. Secondary places are listed as notes with their
/// `file:line:col`. ANSI colours only when `style.color`.
pub fn render(d: &Diagnostic, sources: &Sources, style: Style) -> String {
    let renderer = if style.color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let mut group = Group::with_title(level.primary_title(d.message.as_str()).id(d.code));
    if let Some(src) = sources.get(d.span.file) {
        group = group.element(snippet(src, d));
    }
    let notes = d.secondary.iter().filter_map(|s| {
        let ssrc = sources.get(s.span.file)?;
        let (l, c) = ssrc.line_col(s.span.start as usize);
        Some(
            Level::NOTE.message(annotate_snippets::normalize_untrusted_str(&format!(
                "{} ({}:{l}:{c})",
                s.message, ssrc.name
            ))),
        )
    });
    let help = d
        .help
        .iter()
        .map(|h| Level::HELP.message(annotate_snippets::normalize_untrusted_str(h)));
    group = group.elements(notes.chain(help));
    let mut out = renderer.render(&[group]);
    out.push('\n');
    out
}

/// The line the diagnostic's span starts on, with the span (cut at the end of that line)
/// annotated. The snippet is that one line (with its line end), numbered as in the file, so
/// rendering costs the same in a large file as in a small one.
fn snippet<'a>(src: &'a Source, d: &'a Diagnostic) -> Snippet<'a, Annotation<'a>> {
    let text = src.text.as_str();
    // As `Source::line_col`: offsets past the end clamp.
    let start = (d.span.start as usize).min(text.len());
    let (line, _) = src.line_col(start);
    let range = src.line_range(line);
    let line_text = text.get(range.clone()).unwrap_or("");
    let content = line_text
        .strip_suffix('\n')
        .map_or(line_text, |l| l.strip_suffix('\r').unwrap_or(l));
    let from = floor_char_boundary(line_text, start.saturating_sub(range.start));
    let to = floor_char_boundary(
        line_text,
        (d.span.end as usize)
            .saturating_sub(range.start)
            .min(content.len()),
    )
    .max(from);
    Snippet::source(line_text)
        .line_start(line)
        .path(src.name.as_str())
        .annotation(
            AnnotationKind::Primary
                .span(from..to)
                .label(d.label.as_deref()),
        )
}

/// The largest char boundary of `s` at or before `i` (clamped to `s.len()`).
fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::ast::Span;

    fn one(name: &str, text: &str, start: usize, end: usize) -> (Sources, Diagnostic) {
        let mut sources = Sources::new();
        let file = sources.add(name, text);
        let d = Diagnostic::error("E0102", Span::new(file, start, end), "m").with_label("here");
        (sources, d)
    }

    /// The ` --> file:line:col` position is `Source::line_col`'s (characters, 1-based) for
    /// every offset, whatever the line holds; rendering never panics.
    #[test]
    fn the_printed_position_is_line_col() {
        let texts = [
            "",
            "a",
            "\n",
            "ab\ncd",
            "ab\ncd\n",
            "\ta\t\"早安\" 👋🏻 x\n\t\tnext",
            "crlf\r\nline two\r\n",
            "é\u{200d}\u{202e}\u{1}z",
            "no end\r",
        ];
        for text in texts {
            let src = Source::new("f.rules", text);
            for start in (0..=text.len() + 2).filter(|&i| text.is_char_boundary(i.min(text.len())))
            {
                for end in [start, start + 1, start + 4, text.len() + 3] {
                    let (sources, d) = one("f.rules", text, start, end);
                    let out = render(&d, &sources, Style::default());
                    let (l, c) = src.line_col(start);
                    let want = format!("--> f.rules:{l}:{c}\n");
                    assert!(out.contains(&want), "{text:?} {start}..{end}: {want}{out}");
                }
            }
        }
    }

    /// Carets sit under the span in terminal columns: a tab is four, a CJK character or an
    /// emoji code point two.
    #[test]
    fn carets_count_terminal_columns() {
        let text = "\tx: \"早安\", y: \"Bonjour 👋🏻 {first_nme}\"\n";
        let start = text.find("first_nme").unwrap();
        let (sources, d) = one("f.rules", text, start, start + "first_nme".len());
        let out = render(&d, &sources, Style::default());
        let expected = concat!(
            "error[E0102]: m\n",
            " --> f.rules:1:27\n",
            "  |\n",
            "1 |     x: \"早安\", y: \"Bonjour 👋🏻 {first_nme}\"\n",
            "  |                                  ^^^^^^^^^ here\n",
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn colour_only_when_asked() {
        let (sources, d) = one("f.rules", "rule r {}", 5, 6);
        let d = d
            .with_help("did you mean `s`?")
            .with_secondary(Span::new(0, 0, 4), "defined here");
        let plain = render(&d, &sources, Style { color: false });
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(
            plain.contains("  = note: defined here (f.rules:1:1)\n"),
            "{plain}"
        );
        assert!(plain.ends_with("  = help: did you mean `s`?\n"), "{plain}");
        let coloured = render(&d, &sources, Style { color: true });
        assert!(coloured.contains('\x1b'), "{coloured}");
    }

    #[test]
    fn a_span_over_several_lines_is_underlined_to_the_end_of_its_first() {
        let text = "rule r {\n  on x\n}\n";
        let (sources, d) = one("f.rules", text, 5, text.len());
        let out = render(&d, &sources, Style::default());
        assert!(out.contains("1 | rule r {\n  |      ^^^ here\n"), "{out}");
    }

    proptest::proptest! {
        /// Any text, any span (even one cutting a character or past the end): rendering does
        /// not panic, and the position printed is `line_col`'s.
        #[test]
        fn any_span_of_any_text(
            text in "(\\PC|[\t\r\n\u{0}\u{200d}\u{202e}\u{fe0f}👋🏻早]){0,40}",
            start in 0usize..200,
            len in 0usize..200,
        ) {
            let (sources, d) = one("p.rules", &text, start, start + len);
            let out = render(&d, &sources, Style { color: start % 2 == 0 });
            let src = Source::new("p.rules", text.as_str());
            if text.is_char_boundary(start.min(text.len())) {
                let (l, c) = src.line_col(start);
                let want = format!("p.rules:{l}:{c}");
                proptest::prop_assert!(out.contains(&want), "{}\n{}", want, out);
            }
        }
    }

    #[test]
    fn without_its_file_only_the_title() {
        let d = Diagnostic::warning("E0501", Span::new(7, 0, 1), "m");
        assert_eq!(
            render(&d, &Sources::new(), Style::default()),
            "warning[E0501]: m\n"
        );
    }
}
