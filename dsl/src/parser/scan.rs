//! A linear pre-scan of the source, run before pest.
//!
//! It knows just enough of the lexical structure (comments, strings with escapes and `{...}`
//! interpolation) to:
//! - collect every comment (with its layout facts, for the formatter);
//! - find unterminated strings (a string ends at its line's end at the latest), so they are
//!   reported as E0005 at the opening quote instead of a confusing syntax error;
//! - measure the nesting depth of `(`, `[`, `{` and interpolations, and refuse absurd nesting
//!   before pest (which recurses) ever sees it.

use crate::ast::{Comment, FileId, Span};

/// Deepest bracket/interpolation nesting accepted.
pub(crate) const MAX_NESTING: usize = 128;

pub(crate) struct Scan {
    pub comments: Vec<Comment>,
    /// Byte offsets of the opening quotes of unterminated strings.
    pub unterminated: Vec<usize>,
    /// Byte offset of the first bracket beyond [`MAX_NESTING`].
    pub too_deep: Option<usize>,
}

enum Frame {
    /// Inside a string literal that opened at `start`.
    Str { start: usize },
    /// Inside a `{...}` interpolation; `brackets` counts brackets opened inside it.
    Interp { brackets: usize },
}

pub(crate) fn scan(file: FileId, text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut out = Scan {
        comments: Vec::new(),
        unterminated: Vec::new(),
        too_deep: None,
    };
    let mut stack: Vec<Frame> = Vec::new();
    // Brackets open at top level (outside any string).
    let mut top_brackets = 0usize;
    let mut depth = 0usize;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        match stack.last_mut() {
            Some(Frame::Str { start }) => {
                let start = *start;
                match b {
                    b'\\' => {
                        i += if matches!(bytes.get(i + 1), Some(b'\n' | b'\r') | None) {
                            1
                        } else {
                            2
                        };
                    }
                    b'"' => {
                        stack.pop();
                        i += 1;
                    }
                    b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
                    b'{' => {
                        stack.push(Frame::Interp { brackets: 0 });
                        depth += 1;
                        if depth > MAX_NESTING {
                            out.too_deep = Some(i);
                            return out;
                        }
                        i += 1;
                    }
                    b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
                    b'\n' | b'\r' => {
                        out.unterminated.push(start);
                        stack.clear();
                        depth = top_brackets;
                        i += 1;
                    }
                    _ => i += 1,
                }
            }
            frame => {
                // Code: top level (None) or inside an interpolation.
                let in_interp = frame.is_some();
                match b {
                    b'#' => {
                        let end = text
                            .get(i..)
                            .and_then(|rest| rest.find('\n'))
                            .map_or(text.len(), |n| i + n);
                        if in_interp {
                            // The comment swallows the rest of the string's line.
                            i = end;
                            continue;
                        }
                        out.comments.push(comment(file, text, i, end));
                        i = end;
                    }
                    b'"' => {
                        stack.push(Frame::Str { start: i });
                        i += 1;
                    }
                    b'(' | b'[' | b'{' => {
                        depth += 1;
                        match frame {
                            Some(Frame::Interp { brackets }) => *brackets += 1,
                            _ => top_brackets += 1,
                        }
                        if depth > MAX_NESTING {
                            out.too_deep = Some(i);
                            return out;
                        }
                        i += 1;
                    }
                    b'}' if matches!(frame, Some(Frame::Interp { brackets: 0 })) => {
                        stack.pop();
                        depth = depth.saturating_sub(1);
                        i += 1;
                    }
                    b')' | b']' | b'}' => {
                        depth = depth.saturating_sub(1);
                        match frame {
                            Some(Frame::Interp { brackets }) => {
                                *brackets = brackets.saturating_sub(1);
                            }
                            _ => top_brackets = top_brackets.saturating_sub(1),
                        }
                        i += 1;
                    }
                    b'\n' if in_interp => {
                        if let Some(start) = innermost_string(&stack) {
                            out.unterminated.push(start);
                        }
                        stack.clear();
                        depth = top_brackets;
                        i += 1;
                    }
                    _ => i += 1,
                }
            }
        }
    }
    if let Some(start) = innermost_string(&stack) {
        out.unterminated.push(start);
    }
    out
}

fn innermost_string(stack: &[Frame]) -> Option<usize> {
    stack.iter().rev().find_map(|f| match f {
        Frame::Str { start } => Some(*start),
        Frame::Interp { .. } => None,
    })
}

fn comment(file: FileId, text: &str, hash: usize, end: usize) -> Comment {
    let body = text.get(hash + 1..end).unwrap_or("");
    let body = body.strip_suffix('\r').unwrap_or(body);
    let line_start = text
        .get(..hash)
        .and_then(|before| before.rfind('\n'))
        .map_or(0, |n| n + 1);
    let own_line = text
        .get(line_start..hash)
        .is_some_and(|s| s.bytes().all(|b| b == b' ' || b == b'\t'));
    // A blank line follows when the next line holds only whitespace.
    let blank_after = text.get(end..).is_some_and(|rest| {
        let mut lines = rest.split('\n');
        lines.next();
        matches!((lines.next(), lines.next()), (Some(l), Some(_)) if l.trim().is_empty())
    });
    Comment {
        text: body.to_string(),
        span: Span::new(file, hash, end),
        own_line,
        blank_after,
    }
}

/// Where parsing resumes after a syntax error at `pos` (in a chunk that started at
/// `chunk_start`): the next line that begins (column 0) with an item keyword. When the error
/// is itself at the start of such a line (the previous item was cut short), that line.
pub(crate) fn next_resync(text: &str, pos: usize, chunk_start: usize) -> Option<usize> {
    let line_start = text
        .get(..pos)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |n| n + 1);
    if line_start == pos && pos > chunk_start && text.get(pos..).is_some_and(starts_item) {
        return Some(pos);
    }
    let mut at = text.get(pos..)?.find('\n').map(|n| pos + n + 1)?;
    loop {
        let line = text.get(at..)?;
        if starts_item(line) {
            return Some(at);
        }
        at = line.find('\n').map(|n| at + n + 1)?;
    }
}

fn starts_item(line: &str) -> bool {
    ["rule", "segment", "group", "schema", "test"]
        .iter()
        .any(|kw| {
            line.strip_prefix(kw).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with([' ', '\t', '{', '\n', '\r', '"', '#'])
            })
        })
}
