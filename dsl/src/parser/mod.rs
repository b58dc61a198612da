//! `.rules` text → owned [`ast`] (pest grammar in `grammar.pest`).
//!
//! Pipeline: size/UTF-8/NUL checks ([`parse_bytes`]) → a linear pre-scan (comments,
//! unterminated strings, nesting depth; see `scan`) → pest → the AST builder (`build`), which
//! also validates literals and reports repeated clauses. pest's pairs never leave this module.
//!
//! Robustness: the input is bounded (4 MiB), bracket nesting is refused beyond
//! [`MAX_NESTING`](scan::MAX_NESTING) before pest runs, pest runs under a call limit, and the
//! builder bounds its own recursion and the height of every expression tree
//! ([`MAX_EXPR_HEIGHT`]), so later passes that recurse over the AST cannot overflow the stack.
//!
//! Error recovery: after a syntax error the parser resumes at the next line that starts (in
//! column 0) with `rule`, `segment`, `group`, `schema` or `test`, so one run reports several
//! syntax errors.

mod build;
mod scan;

use crate::ast::{self, FileId, Span};
use crate::diagnostic::{Diagnostic, codes};
use grammar::{Rule, RulesParser};
use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use std::num::NonZeroUsize;

#[allow(clippy::all, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[allow(clippy::indexing_slicing, missing_docs)]
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub struct RulesParser;
}

/// Largest accepted source file.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Highest expression tree the parser builds (and so the deepest recursion any pass over an
/// expression needs).
pub const MAX_EXPR_HEIGHT: u32 = 256;

/// pest's cumulative call budget per parse (defence in depth: far above what any accepted file
/// needs, low enough to stop a pathological one).
const PEST_CALL_LIMIT: usize = 200_000_000;

/// Parses raw file bytes: checks size, UTF-8 and NUL bytes first.
pub fn parse_bytes(file: FileId, bytes: &[u8]) -> Result<ast::SourceFile, Vec<Diagnostic>> {
    if let Some(d) = check_size(file, bytes.len()) {
        return Err(vec![d]);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.valid_up_to();
            let len = e.error_len().unwrap_or(1);
            return Err(vec![
                Diagnostic::error(
                    codes::INVALID_UTF8,
                    Span::new(file, at, at + len),
                    format!("the file is not valid UTF-8 (invalid byte at offset {at})"),
                )
                .with_label("invalid UTF-8")
                .with_help("save the file as UTF-8"),
            ]);
        }
    };
    parse(file, text)
}

/// Parses one `.rules` file.
pub fn parse(file: FileId, text: &str) -> Result<ast::SourceFile, Vec<Diagnostic>> {
    let scan = precheck(file, text)?;
    let mut builder = build::Builder::new(file, text);
    let mut items = Vec::new();
    let mut start = 0usize;
    loop {
        let chunk = text.get(start..).unwrap_or("");
        match run_pest(Rule::file, chunk) {
            Ok(pairs) => {
                builder.set_offset(start);
                for pair in pairs.flat_map(|file| file.into_inner()) {
                    if pair.as_rule() == Rule::EOI {
                        continue;
                    }
                    if let Some(item) = builder.item(pair) {
                        items.push(item);
                    }
                }
                break;
            }
            Err(e) => {
                let pos = start + error_pos(&e);
                let covered = scan
                    .unterminated
                    .iter()
                    .any(|&quote| quote >= start && quote <= pos);
                if !covered {
                    builder.push(syntax_error(file, text, pos, &e));
                }
                let token_at = found_at(text, pos).1.0;
                match scan::next_resync(text, token_at, start) {
                    Some(next) => start = next,
                    None => break,
                }
            }
        }
    }
    let mut diags = builder.finish();
    diags.extend(
        scan.unterminated
            .iter()
            .map(|&quote| unterminated(file, quote)),
    );
    diags.sort_by_key(|d| d.span.start);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    Ok(ast::SourceFile {
        items,
        comments: scan.comments,
    })
}

/// Parses a standalone expression (tests, tools).
pub fn parse_expr(file: FileId, text: &str) -> Result<ast::Expr, Vec<Diagnostic>> {
    let scan = precheck(file, text)?;
    if let Some(&quote) = scan.unterminated.first() {
        return Err(vec![unterminated(file, quote)]);
    }
    let mut builder = build::Builder::new(file, text);
    let pair = match run_pest(Rule::expr_only, text) {
        Ok(pairs) => pairs
            .flat_map(|p| p.into_inner())
            .find(|p| p.as_rule() == Rule::expr),
        Err(e) => {
            return Err(vec![syntax_error(file, text, error_pos(&e), &e)]);
        }
    };
    let expr = pair.and_then(|p| builder.top_expr(p));
    let diags = builder.finish();
    match expr {
        Some(expr) if diags.is_empty() => Ok(expr),
        _ => Err(diags),
    }
}

/// Size, NUL bytes, nesting: everything refused before pest runs.
fn precheck(file: FileId, text: &str) -> Result<scan::Scan, Vec<Diagnostic>> {
    if let Some(d) = check_size(file, text.len()) {
        return Err(vec![d]);
    }
    if let Some(at) = text.find('\0') {
        return Err(vec![
            Diagnostic::error(
                codes::NUL_BYTE,
                Span::new(file, at, at + 1),
                format!("the file contains a NUL byte (at offset {at}); is it a binary file?"),
            )
            .with_label("NUL byte"),
        ]);
    }
    let scan = scan::scan(file, text);
    if let Some(at) = scan.too_deep {
        return Err(vec![
            Diagnostic::error(
                codes::TOO_DEEP,
                Span::new(file, at, at + 1),
                format!(
                    "brackets are nested too deeply (more than {} levels)",
                    scan::MAX_NESTING
                ),
            )
            .with_label("too deep"),
        ]);
    }
    Ok(scan)
}

/// Runs pest on `text`. pest's settings are process-wide, so every run holds one lock while it
/// sets them and parses.
///
/// A valid file is parsed without pest's error detail: recording every attempted token is a
/// large part of a parse's cost (`docs/performance.md`). Only when that parse fails does the
/// same text go through again with the detail on, so the diagnostics (which name the expected
/// tokens) are the same as if the detail had always been on.
fn run_pest(
    rule: Rule,
    text: &str,
) -> Result<pest::iterators::Pairs<'_, Rule>, pest::error::Error<Rule>> {
    static PEST: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A panic elsewhere while holding the lock leaves nothing half-done: the settings are
    // written again below.
    let _guard = PEST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Defence in depth; the value is the same every time, so concurrent parses agree.
    pest::set_call_limit(NonZeroUsize::new(PEST_CALL_LIMIT));
    pest::set_error_detail(false);
    RulesParser::parse(rule, text).or_else(|_| {
        pest::set_error_detail(true);
        RulesParser::parse(rule, text)
    })
}

fn check_size(file: FileId, len: usize) -> Option<Diagnostic> {
    (len > MAX_FILE_BYTES).then(|| {
        Diagnostic::error(
            codes::FILE_TOO_LARGE,
            Span::new(file, 0, 0),
            format!(
                "the file is too large: {len} bytes ({}), the limit is {MAX_FILE_BYTES} bytes (4 MiB)",
                human_size(len)
            ),
        )
        .with_help("split the rule set into several files")
    })
}

fn human_size(len: usize) -> String {
    let mib = len as f64 / (1024.0 * 1024.0);
    format!("{mib:.1} MiB")
}

fn unterminated(file: FileId, quote: usize) -> Diagnostic {
    Diagnostic::error(
        codes::UNTERMINATED_STRING,
        Span::new(file, quote, quote + 1),
        "unterminated string: a string must end with `\"` on the line it starts",
    )
    .with_label("this string is never closed")
    .with_help("add the closing `\"`; write `\\n` for a line break inside a string")
}

fn error_pos(e: &pest::error::Error<Rule>) -> usize {
    match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
}

/// E0004 from a pest error, with rule names turned into words.
fn syntax_error(file: FileId, text: &str, pos: usize, e: &pest::error::Error<Rule>) -> Diagnostic {
    let (found, found_span) = found_at(text, pos);
    let span = Span::new(file, found_span.0, found_span.1);
    match &e.variant {
        ErrorVariant::CustomError { message } if message.contains("limit reached") => {
            Diagnostic::error(
                codes::TOO_DEEP,
                span,
                "this file is too deeply nested or too complex to parse",
            )
            .with_label("the parser gave up here")
        }
        ErrorVariant::CustomError { message } => {
            Diagnostic::error(codes::SYNTAX, span, format!("syntax error: {message}"))
        }
        ErrorVariant::ParsingError { positives, .. } => {
            let tokens: Vec<String> = e
                .parse_attempts()
                .map(|a| a.expected_tokens().iter().map(|t| t.to_string()).collect())
                .unwrap_or_default();
            let expected = describe_expected(positives, &tokens);
            let message = if expected.is_empty() {
                format!("unexpected {found}")
            } else {
                format!("expected {expected}, found {found}")
            };
            let d = Diagnostic::error(codes::SYNTAX, span, message)
                .with_label(format!("unexpected {found}"));
            let after_where = text
                .get(..found_span.0)
                .is_some_and(|t| t.trim_end().ends_with("where"));
            if after_where && matches!(found.as_str(), "`not`" | "`and`" | "`or`") {
                d.with_help(
                    "after `seen ... where`, the filter is one comparison: \
                     put a condition with `not`, `and` or `or` in parentheses",
                )
            } else {
                d
            }
        }
    }
}

/// What stands at `pos` (after whitespace and comments), for "found ...".
fn found_at(text: &str, pos: usize) -> (String, (usize, usize)) {
    let mut at = pos.min(text.len());
    loop {
        let rest = text.get(at..).unwrap_or("");
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        at += rest.len() - trimmed.len();
        if trimmed.starts_with('#') {
            at += trimmed.find('\n').unwrap_or(trimmed.len());
            continue;
        }
        break;
    }
    let rest = text.get(at..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return ("end of file".to_string(), (text.len(), text.len()));
    };
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let len = if is_word(first) {
        rest.find(|c: char| !is_word(c)).unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    let token = rest.get(..len.min(40)).unwrap_or("");
    let shown = if first == '"' {
        "a string".to_string()
    } else if token.len() < len {
        format!("`{token}...`")
    } else {
        format!("`{token}`")
    };
    (shown, (at, at + len))
}

/// Tokens worth naming when pest says they would have been accepted.
const PUNCTUATION: [&str; 8] = ["}", ")", "]", "{", ":", "=", "..", ","];

fn describe_expected(positives: &[Rule], tokens: &[String]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let add = |parts: &mut Vec<String>, s: &str| {
        if !parts.iter().any(|p| p == s) {
            parts.push(s.to_string());
        }
    };
    for p in PUNCTUATION {
        if tokens.iter().any(|t| t == p) {
            add(&mut parts, &format!("`{p}`"));
        }
    }
    let has = |rules: &[Rule]| rules.iter().any(|r| positives.contains(r));
    let in_rule = has(&[Rule::on_clause, Rule::kw_on]);
    let in_schema = has(&[Rule::timezone, Rule::kw_timezone]);
    let at_item = has(&[Rule::rule_item, Rule::kw_rule]);
    let in_test = has(&[Rule::at_step, Rule::kw_at]);
    let expr_context = has(&[
        Rule::expr,
        Rule::cmp_expr,
        Rule::path,
        Rule::path_root,
        Rule::op_neg,
        Rule::op_not,
        Rule::seen,
        Rule::kw_seen,
        Rule::call,
        Rule::list,
    ]);
    let mut descriptions: Vec<&str> = Vec::new();
    for &r in positives {
        let d = if in_rule && is_clause(r) {
            CLAUSE
        } else if in_schema && is_schema_entry(r) {
            SCHEMA_ENTRY
        } else if at_item && is_item(r) {
            ITEM
        } else if in_test && is_step(r) {
            STEP
        } else if expr_context && (starts_expr(r) || r == Rule::ident) {
            "an expression"
        } else {
            match describe(r) {
                Some(d) => d,
                None => continue,
            }
        };
        if !descriptions.contains(&d) {
            descriptions.push(d);
        }
    }
    for d in descriptions {
        add(&mut parts, d);
    }
    if parts.is_empty() {
        // No rule names: fall back to keywords pest tried (`by`, `per`, ...).
        for t in tokens {
            if !t.is_empty() && t.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                add(&mut parts, &format!("`{t}`"));
            }
        }
    }
    parts.truncate(7);
    match parts.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, init)) => format!("{} or {last}", init.join(", ")),
    }
}

fn is_clause(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::on_clause
            | Rule::consent_clause
            | Rule::when_clause
            | Rule::do_clause
            | Rule::limit_cap
            | Rule::once_cap
            | Rule::priority_clause
            | Rule::group_clause
            | Rule::active_clause
            | Rule::hours_clause
            | Rule::days_clause
            | Rule::goal_clause
            | Rule::kw_goal
            | Rule::kw_on
            | Rule::kw_consent
            | Rule::kw_when
            | Rule::kw_do
            | Rule::kw_limit
            | Rule::kw_once
            | Rule::kw_priority
            | Rule::kw_group
            | Rule::kw_active
            | Rule::kw_hours
            | Rule::kw_days
    )
}

const CLAUSE: &str = "a clause (`on`, `consent`, `when`, `do`, `limit`, ...)";
const SCHEMA_ENTRY: &str =
    "a schema entry (`timezone`, `consent`, `profile`, `event`, `action`, `retain`)";
const ITEM: &str = "an item (`schema`, `segment`, `group`, `rule`, `test`)";
const STEP: &str = "a test step (`profile`, `at`, `expect`)";

fn is_item(r: Rule) -> bool {
    matches!(
        r,
        Rule::schema
            | Rule::segment
            | Rule::group_def
            | Rule::rule_item
            | Rule::test
            | Rule::kw_schema
            | Rule::kw_segment
            | Rule::kw_group
            | Rule::kw_rule
            | Rule::kw_test
    )
}

fn is_step(r: Rule) -> bool {
    matches!(
        r,
        Rule::test_profile
            | Rule::at_step
            | Rule::expect
            | Rule::expect_no
            | Rule::expect_nothing
            | Rule::kw_profile
            | Rule::kw_at
            | Rule::kw_expect
    )
}

fn is_schema_entry(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::timezone
            | Rule::consent_decl
            | Rule::profile_decl
            | Rule::event_decl
            | Rule::action_decl
            | Rule::retain
            | Rule::kw_timezone
            | Rule::kw_consent
            | Rule::kw_profile
            | Rule::kw_event
            | Rule::kw_action
            | Rule::kw_retain
    )
}

fn starts_expr(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::expr
            | Rule::cmp_expr
            | Rule::op_neg
            | Rule::op_not
            | Rule::seen
            | Rule::history_call
            | Rule::history_fn
            | Rule::call
            | Rule::instant
            | Rule::date
            | Rule::duration
            | Rule::number
            | Rule::string
            | Rule::lit_true
            | Rule::lit_false
            | Rule::lit_now
            | Rule::list
            | Rule::path
            | Rule::path_root
    )
}

fn describe(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::EOI => "end of file",
        Rule::schema | Rule::segment | Rule::group_def | Rule::rule_item | Rule::test => ITEM,
        Rule::test_profile
        | Rule::at_step
        | Rule::expect
        | Rule::expect_no
        | Rule::expect_nothing
        | Rule::expect_conversion
        | Rule::expect_no_conversion => STEP,
        Rule::on_clause
        | Rule::consent_clause
        | Rule::when_clause
        | Rule::do_clause
        | Rule::priority_clause
        | Rule::group_clause
        | Rule::active_clause
        | Rule::hours_clause
        | Rule::days_clause
        | Rule::goal_clause => CLAUSE,
        Rule::limit_cap => "`limit`",
        Rule::once_cap => "`once`",
        Rule::timezone
        | Rule::consent_decl
        | Rule::profile_decl
        | Rule::event_decl
        | Rule::action_decl
        | Rule::retain => SCHEMA_ENTRY,
        Rule::op_or
        | Rule::op_and
        | Rule::op_in
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_coalesce
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div
        | Rule::is_present
        | Rule::is_missing => "an operator",
        Rule::duration => "a duration (like `7d`)",
        Rule::date => "a date (like `2026-12-01`)",
        Rule::instant => "an instant (like `2026-11-20T10:00Z`)",
        Rule::string => "a string",
        Rule::number => "a number",
        r if starts_expr(r) => "an expression",
        Rule::ident => "a name",
        Rule::field_name | Rule::field_decl | Rule::param => "a field name",
        Rule::type_expr
        | Rule::ty_list
        | Rule::ty_set
        | Rule::ty_string
        | Rule::ty_number
        | Rule::ty_bool
        | Rule::ty_duration
        | Rule::ty_time => {
            "a type (`string`, `number`, `bool`, `duration`, `time`, `list<T>`, `set<T>`)"
        }
        Rule::optional_mark => "`?`",
        Rule::pii => "`pii`",
        Rule::comma => "`,`",
        Rule::fields | Rule::object => "`{`",
        Rule::clock => "a clock time (like `09:00`)",
        Rule::uint | Rule::int => "a whole number",
        Rule::percent => "a percentage (like `50%`)",
        Rule::weekday | Rule::day_spec => "a weekday (`mon` ... `sun`)",
        Rule::split => "`split`",
        Rule::action_call => "an action",
        Rule::split_arm => "a split arm (like `50% control`)",
        Rule::h_as | Rule::kw_as => "`as`",
        Rule::h_within | Rule::kw_within => "`within`",
        Rule::h_since | Rule::kw_since => "`since`",
        Rule::h_where | Rule::h_where_cmp | Rule::kw_where => "`where`",
        Rule::kw_active => "`active`",
        Rule::kw_action => "`action`",
        Rule::kw_at => "`at`",
        Rule::kw_by => "`by`",
        Rule::kw_consent => "`consent`",
        Rule::kw_control => "`control`",
        Rule::kw_days => "`days`",
        Rule::kw_do => "`do`",
        Rule::kw_event => "`event`",
        Rule::kw_expect => "`expect`",
        Rule::kw_group => "`group`",
        Rule::kw_hours => "`hours`",
        Rule::kw_limit => "`limit`",
        Rule::kw_no => "`no`",
        Rule::kw_nothing => "`nothing`",
        Rule::kw_on => "`on`",
        Rule::kw_once => "`once`",
        Rule::kw_per => "`per`",
        Rule::kw_priority => "`priority`",
        Rule::kw_profile => "`profile`",
        Rule::kw_retain => "`retain`",
        Rule::kw_rule => "`rule`",
        Rule::kw_schema => "`schema`",
        Rule::kw_segment => "`segment`",
        Rule::kw_split => "`split`",
        Rule::kw_test => "`test`",
        Rule::kw_timezone => "`timezone`",
        Rule::kw_when => "`when`",
        Rule::kw_is => "`is`",
        Rule::kw_present => "`present`",
        Rule::kw_missing => "`missing`",
        Rule::kw_goal => "`goal`",
        Rule::goal_value | Rule::kw_value => "`value`",
        Rule::goal_primary | Rule::kw_primary => "`primary`",
        Rule::kw_conversion => "`conversion`",
        Rule::str_text | Rule::str_escape | Rule::str_lbrace | Rule::str_rbrace | Rule::interp => {
            "the rest of the string"
        }
        _ => return None,
    })
}
