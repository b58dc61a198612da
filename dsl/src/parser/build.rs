//! pest pairs → owned AST. Validates literals (E0008), reports repeated clauses (E0007) and
//! bounds recursion and expression height (E0006).

// A syntax error ends the parse of its file, so the error path runs once per file: a large
// `Err` costs nothing measurable, and boxing it would only add noise at every `?`.
#![allow(clippy::result_large_err)]

use super::MAX_EXPR_HEIGHT;
use super::grammar::Rule;
use crate::ast::*;
use crate::diagnostic::{Diagnostic, codes};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::collections::VecDeque;
use std::sync::OnceLock;

type P<'i> = Pair<'i, Rule>;

/// A problem that abandons the current item (the diagnostic is kept, the item dropped).
type R<T> = Result<T, Diagnostic>;

/// Deepest recursion of the builder into nested expressions (parentheses, calls, strings).
const MAX_RECURSION: u32 = 200;
/// Longest run of prefix operators (`not not - - x`) before the PrattParser recurses on it.
const MAX_PREFIX_RUN: usize = 64;
/// Deepest `list<list<...>>` type.
const MAX_TYPE_DEPTH: u32 = 16;

/// An expression and the height of its tree.
struct Built {
    expr: Expr,
    height: u32,
}

pub(super) struct Builder<'t> {
    file: FileId,
    text: &'t str,
    /// Byte offset of the chunk pest parsed (after error recovery) in `text`.
    offset: usize,
    diags: Vec<Diagnostic>,
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_active
            | Rule::kw_action
            | Rule::kw_as
            | Rule::kw_at
            | Rule::kw_by
            | Rule::kw_consent
            | Rule::kw_control
            | Rule::kw_days
            | Rule::kw_do
            | Rule::kw_event
            | Rule::kw_expect
            | Rule::kw_group
            | Rule::kw_hours
            | Rule::kw_limit
            | Rule::kw_no
            | Rule::kw_nothing
            | Rule::kw_on
            | Rule::kw_once
            | Rule::kw_per
            | Rule::kw_priority
            | Rule::kw_profile
            | Rule::kw_retain
            | Rule::kw_rule
            | Rule::kw_schema
            | Rule::kw_seen
            | Rule::kw_segment
            | Rule::kw_since
            | Rule::kw_split
            | Rule::kw_test
            | Rule::kw_timezone
            | Rule::kw_when
            | Rule::kw_where
            | Rule::kw_within
            | Rule::kw_is
            | Rule::kw_present
            | Rule::kw_missing
            | Rule::kw_goal
            | Rule::kw_value
            | Rule::kw_primary
            | Rule::kw_conversion
    )
}

/// The children of a pair, keywords left out.
fn kids(p: P<'_>) -> VecDeque<P<'_>> {
    p.into_inner()
        .filter(|k| !is_keyword(k.as_rule()))
        .collect()
}

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Assoc::Left))
            .op(Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::prefix(Rule::op_not))
            .op(Op::infix(Rule::op_eq, Assoc::Left)
                | Op::infix(Rule::op_ne, Assoc::Left)
                | Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_le, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_ge, Assoc::Left)
                | Op::infix(Rule::op_in, Assoc::Left)
                | Op::postfix(Rule::is_present)
                | Op::postfix(Rule::is_missing))
            .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
            .op(Op::infix(Rule::op_mul, Assoc::Left) | Op::infix(Rule::op_div, Assoc::Left))
            .op(Op::infix(Rule::op_coalesce, Assoc::Left))
            .op(Op::prefix(Rule::op_neg))
    })
}

/// The span of a pair, without the trailing whitespace and comments pest leaves in a rule that
/// ends with an optional or repeated part that matched nothing.
fn span_of(file: FileId, offset: usize, p: &P<'_>) -> Span {
    let s = p.as_span();
    Span::new(file, offset + s.start(), offset + true_end(p))
}

fn true_end(p: &P<'_>) -> usize {
    let input = p.as_span().get_input();
    let mut cur = p.clone();
    loop {
        let end = cur.as_span().end();
        match cur.clone().into_inner().last() {
            Some(last) if is_trivia(input.get(last.as_span().end()..end).unwrap_or("")) => {
                cur = last;
            }
            _ => return end,
        }
    }
}

/// Only whitespace and comments.
fn is_trivia(mut s: &str) -> bool {
    loop {
        s = s.trim_start_matches([' ', '\t', '\r', '\n']);
        match s.strip_prefix('#') {
            Some(rest) => s = rest.find('\n').and_then(|n| rest.get(n..)).unwrap_or(""),
            None => return s.is_empty(),
        }
    }
}

fn internal(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        codes::SYNTAX,
        span,
        format!("internal parser error: unexpected {what} (please report this)"),
    )
}

fn too_deep_expr(span: Span) -> Diagnostic {
    Diagnostic::error(
        codes::TOO_DEEP,
        span,
        format!("this expression is nested too deeply (more than {MAX_EXPR_HEIGHT} levels)"),
    )
    .with_help("split it into segments")
}

fn node(kind: ExprKind, span: Span, height: u32) -> R<Built> {
    if height > MAX_EXPR_HEIGHT {
        return Err(too_deep_expr(span));
    }
    Ok(Built {
        expr: Expr { kind, span },
        height,
    })
}

fn binop(rule: Rule) -> Option<BinOp> {
    Some(match rule {
        Rule::op_or => BinOp::Or,
        Rule::op_and => BinOp::And,
        Rule::op_eq => BinOp::Eq,
        Rule::op_ne => BinOp::Ne,
        Rule::op_lt => BinOp::Lt,
        Rule::op_le => BinOp::Le,
        Rule::op_gt => BinOp::Gt,
        Rule::op_ge => BinOp::Ge,
        Rule::op_in => BinOp::In,
        Rule::op_add => BinOp::Add,
        Rule::op_sub => BinOp::Sub,
        Rule::op_mul => BinOp::Mul,
        Rule::op_div => BinOp::Div,
        Rule::op_coalesce => BinOp::Coalesce,
        _ => return None,
    })
}

/// Clause names, for E0007.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClauseKind {
    On,
    Consent,
    When,
    Do,
    Cap,
    Priority,
    Group,
    Active,
    Hours,
    Days,
}

impl ClauseKind {
    fn name(self) -> &'static str {
        match self {
            ClauseKind::On => "on",
            ClauseKind::Consent => "consent",
            ClauseKind::When => "when",
            ClauseKind::Do => "do",
            ClauseKind::Cap => "limit`/`once",
            ClauseKind::Priority => "priority",
            ClauseKind::Group => "group",
            ClauseKind::Active => "active",
            ClauseKind::Hours => "hours",
            ClauseKind::Days => "days",
        }
    }
}

impl<'t> Builder<'t> {
    pub(super) fn new(file: FileId, text: &'t str) -> Builder<'t> {
        Builder {
            file,
            text,
            offset: 0,
            diags: Vec::new(),
        }
    }

    pub(super) fn set_offset(&mut self, offset: usize) {
        self.offset = offset;
    }

    pub(super) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(super) fn finish(self) -> Vec<Diagnostic> {
        self.diags
    }

    fn sp(&self, p: &P<'_>) -> Span {
        span_of(self.file, self.offset, p)
    }

    /// Takes the next child, which must be `rule`.
    fn take<'i>(&self, q: &mut VecDeque<P<'i>>, rule: Rule, parent: Span) -> R<P<'i>> {
        match q.pop_front() {
            Some(p) if p.as_rule() == rule => Ok(p),
            Some(p) => Err(internal(self.sp(&p), &format!("{:?}", p.as_rule()))),
            None => Err(internal(parent, &format!("end (wanted {rule:?})"))),
        }
    }

    /// Takes the next child if it is `rule`.
    fn opt<'i>(q: &mut VecDeque<P<'i>>, rule: Rule) -> Option<P<'i>> {
        if q.front().is_some_and(|p| p.as_rule() == rule) {
            q.pop_front()
        } else {
            None
        }
    }

    fn ident(&self, p: &P<'_>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.sp(p),
        }
    }

    fn bad_literal(&mut self, span: Span, message: String) {
        self.diags.push(
            Diagnostic::error(codes::BAD_LITERAL, span, message).with_label("invalid literal"),
        );
    }

    // -----------------------------------------------------------------------------------------
    // Items

    pub(super) fn item(&mut self, p: P<'_>) -> Option<Item> {
        let result = match p.as_rule() {
            Rule::schema => self.schema(p).map(Item::Schema),
            Rule::segment => self.segment(p).map(Item::Segment),
            Rule::group_def => self.group_def(p).map(Item::Group),
            Rule::rule_item => self.rule(p).map(Item::Rule),
            Rule::test => self.test(p).map(Item::Test),
            other => Err(internal(self.sp(&p), &format!("{other:?}"))),
        };
        match result {
            Ok(item) => Some(item),
            Err(d) => {
                self.diags.push(d);
                None
            }
        }
    }

    fn schema(&mut self, p: P<'_>) -> R<Schema> {
        let span = self.sp(&p);
        let mut entries = Vec::new();
        for e in kids(p) {
            let espan = self.sp(&e);
            let rule = e.as_rule();
            let mut q = kids(e);
            let entry = match rule {
                Rule::timezone => {
                    let s = self.take(&mut q, Rule::string, espan)?;
                    SchemaEntry::Timezone(self.plain_string(s, "a timezone name")?)
                }
                Rule::consent_decl => SchemaEntry::Consent(self.idents(q), espan),
                Rule::profile_decl => {
                    let f = self.take(&mut q, Rule::fields, espan)?;
                    SchemaEntry::Profile(self.fields(f)?, espan)
                }
                Rule::event_decl | Rule::action_decl => {
                    let name = self.take(&mut q, Rule::ident, espan)?;
                    let name = self.ident(&name);
                    let f = self.take(&mut q, Rule::fields, espan)?;
                    let fields = self.fields(f)?;
                    if rule == Rule::event_decl {
                        SchemaEntry::Event {
                            name,
                            fields,
                            span: espan,
                        }
                    } else {
                        SchemaEntry::Action {
                            name,
                            params: fields,
                            span: espan,
                        }
                    }
                }
                Rule::retain => {
                    let event = self.take(&mut q, Rule::ident, espan)?;
                    let event = self.ident(&event);
                    let d = self.take(&mut q, Rule::duration, espan)?;
                    SchemaEntry::Retain {
                        event,
                        duration: self.duration(&d),
                        span: espan,
                    }
                }
                other => return Err(internal(espan, &format!("{other:?}"))),
            };
            entries.push(entry);
        }
        Ok(Schema { entries, span })
    }

    fn idents(&self, q: VecDeque<P<'_>>) -> Vec<Ident> {
        q.iter().map(|p| self.ident(p)).collect()
    }

    /// Reports two entries of a brace list with neither a comma nor a line break between.
    fn check_separator(&mut self, prev_end: Option<usize>, had_comma: bool, next: Span) {
        let Some(prev_end) = prev_end else { return };
        if had_comma {
            return;
        }
        let between = self.text.get(prev_end..next.start as usize).unwrap_or("");
        if !between.contains('\n') {
            self.diags.push(
                Diagnostic::error(
                    codes::SYNTAX,
                    next,
                    "expected `,` or a new line before this entry",
                )
                .with_label("missing separator"),
            );
        }
    }

    fn fields(&mut self, p: P<'_>) -> R<Vec<FieldDecl>> {
        let mut out = Vec::new();
        let mut prev_end = None;
        let mut had_comma = false;
        for f in kids(p) {
            if f.as_rule() == Rule::comma {
                had_comma = true;
                continue;
            }
            let span = self.sp(&f);
            self.check_separator(prev_end, had_comma, span);
            had_comma = false;
            prev_end = Some(span.end as usize);
            let mut q = kids(f);
            let name = self.take(&mut q, Rule::field_name, span)?;
            let name = self.ident(&name);
            let ty = self.take(&mut q, Rule::type_expr, span)?;
            let ty = self.type_expr(ty, 0)?;
            let pii = Self::opt(&mut q, Rule::pii).is_some();
            out.push(FieldDecl {
                name,
                ty,
                pii,
                span,
            });
        }
        Ok(out)
    }

    fn type_expr(&mut self, p: P<'_>, depth: u32) -> R<TypeExpr> {
        let span = self.sp(&p);
        if depth > MAX_TYPE_DEPTH {
            return Err(Diagnostic::error(
                codes::TOO_DEEP,
                span,
                format!("this type is nested too deeply (more than {MAX_TYPE_DEPTH} levels)"),
            ));
        }
        let mut q = kids(p);
        let base = q.pop_front().ok_or_else(|| internal(span, "empty type"))?;
        let bspan = self.sp(&base);
        let kind = match base.as_rule() {
            Rule::ty_string => TypeKind::String,
            Rule::ty_number => TypeKind::Number,
            Rule::ty_bool => TypeKind::Bool,
            Rule::ty_duration => TypeKind::Duration,
            Rule::ty_time => TypeKind::Time,
            r @ (Rule::ty_list | Rule::ty_set) => {
                let mut inner = kids(base);
                let t = self.take(&mut inner, Rule::type_expr, bspan)?;
                let t = Box::new(self.type_expr(t, depth + 1)?);
                if r == Rule::ty_list {
                    TypeKind::List(t)
                } else {
                    TypeKind::Set(t)
                }
            }
            other => return Err(internal(bspan, &format!("{other:?}"))),
        };
        let optional = Self::opt(&mut q, Rule::optional_mark).is_some();
        Ok(TypeExpr {
            kind,
            optional,
            span,
        })
    }

    fn segment(&mut self, p: P<'_>) -> R<SegmentDef> {
        let span = self.sp(&p);
        let mut q = kids(p);
        let name = self.take(&mut q, Rule::ident, span)?;
        let name = self.ident(&name);
        let e = self.take(&mut q, Rule::expr, span)?;
        let expr = self.expr(e, 0)?.expr;
        Ok(SegmentDef { name, expr, span })
    }

    fn group_def(&mut self, p: P<'_>) -> R<GroupDef> {
        let span = self.sp(&p);
        let mut q = kids(p);
        let name = self.take(&mut q, Rule::ident, span)?;
        let name = self.ident(&name);
        let limit = match q.pop_front() {
            Some(c) => Some(self.cap(c)?),
            None => None,
        };
        Ok(GroupDef { name, limit, span })
    }

    fn cap(&mut self, p: P<'_>) -> R<CapClause> {
        let span = self.sp(&p);
        match p.as_rule() {
            Rule::once_cap => Ok(CapClause::Once(span)),
            Rule::limit_cap => {
                let mut q = kids(p);
                let n = self.take(&mut q, Rule::uint, span)?;
                let count = self.uint(&n);
                let d = self.take(&mut q, Rule::duration, span)?;
                Ok(CapClause::Limit {
                    count,
                    per: self.duration(&d),
                    span,
                })
            }
            other => Err(internal(span, &format!("{other:?}"))),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Rules

    fn rule(&mut self, p: P<'_>) -> R<RuleDef> {
        let span = self.sp(&p);
        let mut q = kids(p);
        let name = self.take(&mut q, Rule::ident, span)?;
        let name = self.ident(&name);
        let title = match Self::opt(&mut q, Rule::string) {
            Some(s) => Some(self.plain_string(s, "a rule title")?),
            None => None,
        };
        let mut rule = RuleDef {
            name,
            title,
            on: None,
            consent: None,
            when: None,
            action: None,
            cap: None,
            priority: None,
            group: None,
            active: None,
            hours: None,
            days: None,
            goals: Vec::new(),
            span,
        };
        let mut seen: Vec<(ClauseKind, Span)> = Vec::new();
        for c in q {
            let cspan = self.sp(&c);
            if c.as_rule() == Rule::goal_clause {
                let goal = self.goal(c, cspan)?;
                rule.goals.push(goal);
                continue;
            }
            let kind = match c.as_rule() {
                Rule::on_clause => ClauseKind::On,
                Rule::consent_clause => ClauseKind::Consent,
                Rule::when_clause => ClauseKind::When,
                Rule::do_clause => ClauseKind::Do,
                Rule::limit_cap | Rule::once_cap => ClauseKind::Cap,
                Rule::priority_clause => ClauseKind::Priority,
                Rule::group_clause => ClauseKind::Group,
                Rule::active_clause => ClauseKind::Active,
                Rule::hours_clause => ClauseKind::Hours,
                Rule::days_clause => ClauseKind::Days,
                other => return Err(internal(cspan, &format!("{other:?}"))),
            };
            if let Some(&(_, first)) = seen.iter().find(|(k, _)| *k == kind) {
                self.diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_CLAUSE,
                        cspan,
                        format!(
                            "rule `{}` has more than one `{}` clause",
                            rule.name.name,
                            kind.name()
                        ),
                    )
                    .with_label("repeated clause")
                    .with_secondary(first, "first given here")
                    .with_help("each clause may appear at most once in a rule"),
                );
                continue;
            }
            seen.push((kind, cspan));
            self.clause(&mut rule, kind, c, cspan)?;
        }
        Ok(rule)
    }

    fn clause(&mut self, rule: &mut RuleDef, kind: ClauseKind, c: P<'_>, span: Span) -> R<()> {
        if kind == ClauseKind::Cap {
            rule.cap = Some(self.cap(c)?);
            return Ok(());
        }
        let mut q = kids(c);
        match kind {
            ClauseKind::On => rule.on = Some((self.idents(q), span)),
            ClauseKind::Consent => rule.consent = Some((self.idents(q), span)),
            ClauseKind::When => {
                let e = self.take(&mut q, Rule::expr, span)?;
                rule.when = Some(self.expr(e, 0)?.expr);
            }
            ClauseKind::Do => rule.action = Some(self.do_clause(q, span)?),
            ClauseKind::Priority => {
                let n = self.take(&mut q, Rule::int, span)?;
                let value = match n.as_str().parse::<i64>() {
                    Ok(v) => v,
                    Err(_) => {
                        self.bad_literal(
                            self.sp(&n),
                            format!("priority `{}` is out of range", n.as_str()),
                        );
                        0
                    }
                };
                rule.priority = Some((value, span));
            }
            ClauseKind::Group => {
                let g = self.take(&mut q, Rule::ident, span)?;
                rule.group = Some(self.ident(&g));
            }
            ClauseKind::Active => {
                let a = self.take(&mut q, Rule::date, span)?;
                let b = self.take(&mut q, Rule::date, span)?;
                rule.active = Some((self.date(&a), self.date(&b), span));
            }
            ClauseKind::Hours => {
                let a = self.take(&mut q, Rule::clock, span)?;
                let b = self.take(&mut q, Rule::clock, span)?;
                rule.hours = Some((self.clock(&a, false), self.clock(&b, true), span));
            }
            ClauseKind::Days => {
                let mut days = Vec::new();
                for d in q {
                    let dspan = self.sp(&d);
                    let mut dq = kids(d);
                    let from = self.take(&mut dq, Rule::weekday, dspan)?;
                    let from = weekday(from.as_str());
                    let to = Self::opt(&mut dq, Rule::weekday).map(|w| weekday(w.as_str()));
                    days.push(DaySpec {
                        from,
                        to,
                        span: dspan,
                    });
                }
                rule.days = Some((days, span));
            }
            ClauseKind::Cap => {}
        }
        Ok(())
    }

    /// The duration of a `within D` part.
    fn within(&mut self, w: P<'_>, span: Span) -> R<DurationLit> {
        let mut wq = kids(w);
        let d = self.take(&mut wq, Rule::duration, span)?;
        Ok(self.duration(&d))
    }

    /// The name inside an optional clause part (`as x`, `since y`, `value f`): `None` when the
    /// next pair is not `outer`.
    fn wrapped_ident(
        &mut self,
        q: &mut VecDeque<P<'_>>,
        outer: Rule,
        inner: Rule,
        span: Span,
    ) -> R<Option<Ident>> {
        match Self::opt(q, outer) {
            Some(p) => {
                let mut pq = kids(p);
                let name = self.take(&mut pq, inner, span)?;
                Ok(Some(self.ident(&name)))
            }
            None => Ok(None),
        }
    }

    fn goal(&mut self, c: P<'_>, span: Span) -> R<GoalClause> {
        let mut q = kids(c);
        let e = self.take(&mut q, Rule::ident, span)?;
        let event = self.ident(&e);
        let alias = self.wrapped_ident(&mut q, Rule::h_as, Rule::ident, span)?;
        let within = match Self::opt(&mut q, Rule::h_within) {
            Some(w) => Some(self.within(w, span)?),
            None => None,
        };
        let value = self.wrapped_ident(&mut q, Rule::goal_value, Rule::field_name, span)?;
        let primary = Self::opt(&mut q, Rule::goal_primary).map(|p| self.sp(&p));
        let filter = match Self::opt(&mut q, Rule::h_where) {
            Some(w) => {
                let mut wq = kids(w);
                let e = self.take(&mut wq, Rule::expr, span)?;
                Some(self.expr(e, 0)?.expr)
            }
            None => None,
        };
        Ok(GoalClause {
            event,
            alias,
            within,
            value,
            primary,
            filter,
            span,
        })
    }

    fn do_clause(&mut self, mut q: VecDeque<P<'_>>, span: Span) -> R<DoClause> {
        if let Some(s) = Self::opt(&mut q, Rule::split) {
            let sspan = self.sp(&s);
            let mut sq = kids(s);
            let name = self.take(&mut sq, Rule::ident, sspan)?;
            let name = self.ident(&name);
            let unit = self.take(&mut sq, Rule::expr, sspan)?;
            let unit = self.expr(unit, 0)?.expr;
            let mut arms = Vec::new();
            for arm in sq {
                let aspan = self.sp(&arm);
                let mut aq = kids(arm);
                let pct = self.take(&mut aq, Rule::percent, aspan)?;
                let percent = self.percent(&pct);
                let variant = match Self::opt(&mut aq, Rule::string) {
                    Some(s) => Some(self.plain_string(s, "a variant name")?),
                    None => None,
                };
                let actions = self.action_calls(aq)?;
                arms.push(SplitArm {
                    percent,
                    variant,
                    actions,
                    span: aspan,
                });
            }
            return Ok(DoClause::Split {
                name,
                unit,
                arms,
                span,
            });
        }
        Ok(DoClause::Actions(self.action_calls(q)?, span))
    }

    fn action_calls(&mut self, q: VecDeque<P<'_>>) -> R<Vec<ActionCall>> {
        let mut out = Vec::new();
        for a in q {
            let span = self.sp(&a);
            let mut aq = kids(a);
            let action = self.take(&mut aq, Rule::ident, span)?;
            let action = self.ident(&action);
            let params = match Self::opt(&mut aq, Rule::object) {
                Some(o) => self.object(o)?.entries,
                None => Vec::new(),
            };
            out.push(ActionCall {
                action,
                params,
                span,
            });
        }
        Ok(out)
    }

    fn object(&mut self, p: P<'_>) -> R<ObjectLit> {
        let span = self.sp(&p);
        let mut entries = Vec::new();
        let mut prev_end = None;
        let mut had_comma = false;
        for e in kids(p) {
            if e.as_rule() == Rule::comma {
                had_comma = true;
                continue;
            }
            let espan = self.sp(&e);
            self.check_separator(prev_end, had_comma, espan);
            had_comma = false;
            prev_end = Some(espan.end as usize);
            let mut q = kids(e);
            let name = self.take(&mut q, Rule::field_name, espan)?;
            let name = self.ident(&name);
            let v = self.take(&mut q, Rule::expr, espan)?;
            let value = self.expr(v, 0)?.expr;
            entries.push(Param {
                name,
                value,
                span: espan,
            });
        }
        Ok(ObjectLit { entries, span })
    }

    // -----------------------------------------------------------------------------------------
    // Tests

    fn test(&mut self, p: P<'_>) -> R<TestDef> {
        let span = self.sp(&p);
        let mut q = kids(p);
        let name = self.take(&mut q, Rule::string, span)?;
        let name = self.plain_string(name, "a test name")?;
        let mut profile: Option<ObjectLit> = None;
        let mut steps = Vec::new();
        for s in q {
            let sspan = self.sp(&s);
            let rule = s.as_rule();
            let mut sq = kids(s);
            match rule {
                Rule::test_profile => {
                    let o = self.take(&mut sq, Rule::object, sspan)?;
                    let o = self.object(o)?;
                    if let Some(first) = &profile {
                        self.diags.push(
                            Diagnostic::error(
                                codes::DUPLICATE_CLAUSE,
                                sspan,
                                format!("test \"{}\" has more than one `profile`", name.value),
                            )
                            .with_label("repeated profile")
                            .with_secondary(first.span, "first given here"),
                        );
                    } else {
                        profile = Some(o);
                    }
                }
                Rule::at_step => {
                    let t = self.take(&mut sq, Rule::instant, sspan)?;
                    let time = self.instant(&t);
                    let e = self.take(&mut sq, Rule::ident, sspan)?;
                    let event = self.ident(&e);
                    let fields = match Self::opt(&mut sq, Rule::object) {
                        Some(o) => self.object(o)?,
                        None => ObjectLit {
                            entries: Vec::new(),
                            span: Span::new(
                                self.file,
                                event.span.end as usize,
                                event.span.end as usize,
                            ),
                        },
                    };
                    steps.push(TestStep::At {
                        time,
                        event,
                        fields,
                        span: sspan,
                    });
                }
                Rule::expect_nothing => steps.push(TestStep::ExpectNothing(sspan)),
                Rule::expect | Rule::expect_no => {
                    let a = self.take(&mut sq, Rule::ident, sspan)?;
                    let action = self.ident(&a);
                    let params = match Self::opt(&mut sq, Rule::object) {
                        Some(o) => Some(self.object(o)?),
                        None => None,
                    };
                    steps.push(if rule == Rule::expect {
                        TestStep::Expect {
                            action,
                            params,
                            span: sspan,
                        }
                    } else {
                        TestStep::ExpectNo {
                            action,
                            params,
                            span: sspan,
                        }
                    });
                }
                Rule::expect_conversion | Rule::expect_no_conversion => {
                    let r = self.take(&mut sq, Rule::ident, sspan)?;
                    let fields = match Self::opt(&mut sq, Rule::object) {
                        Some(o) => Some(self.object(o)?),
                        None => None,
                    };
                    steps.push(TestStep::ExpectConversion {
                        rule: self.ident(&r),
                        fields,
                        negated: rule == Rule::expect_no_conversion,
                        span: sspan,
                    });
                }
                other => return Err(internal(sspan, &format!("{other:?}"))),
            }
        }
        Ok(TestDef {
            name,
            profile,
            steps,
            span,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Expressions

    /// An expression at the top of a clause; problems are recorded.
    pub(super) fn top_expr(&mut self, p: P<'_>) -> Option<Expr> {
        match self.expr(p, 0) {
            Ok(b) => Some(b.expr),
            Err(d) => {
                self.diags.push(d);
                None
            }
        }
    }

    /// An `expr` or `cmp_expr` pair: a flat operator sequence for the PrattParser.
    fn expr(&mut self, p: P<'_>, depth: u32) -> R<Built> {
        let span = self.sp(&p);
        if depth > MAX_RECURSION {
            return Err(too_deep_expr(span));
        }
        let pairs: Vec<P<'_>> = p.into_inner().collect();
        let mut run = 0usize;
        for q in &pairs {
            if matches!(q.as_rule(), Rule::op_neg | Rule::op_not) {
                run += 1;
                if run > MAX_PREFIX_RUN {
                    return Err(Diagnostic::error(
                        codes::TOO_DEEP,
                        self.sp(q),
                        format!("more than {MAX_PREFIX_RUN} `-`/`not` in a row"),
                    ));
                }
            } else {
                run = 0;
            }
        }
        if pairs.is_empty() {
            return Err(internal(span, "empty expression"));
        }
        let (file, offset) = (self.file, self.offset);
        pratt()
            .map_primary(|q| self.primary(q, depth))
            .map_prefix(|op, rhs| {
                let rhs = rhs?;
                let span = span_of(file, offset, &op).to(rhs.expr.span);
                let inner = Box::new(rhs.expr);
                let kind = match op.as_rule() {
                    Rule::op_neg => ExprKind::Neg(inner),
                    Rule::op_not => ExprKind::Not(inner),
                    other => return Err(internal(span, &format!("{other:?}"))),
                };
                node(kind, span, rhs.height + 1)
            })
            .map_postfix(|lhs, op| {
                let lhs = lhs?;
                let span = lhs.expr.span.to(span_of(file, offset, &op));
                let inner = Box::new(lhs.expr);
                let kind = match op.as_rule() {
                    Rule::is_present => ExprKind::IsPresent(inner),
                    Rule::is_missing => ExprKind::IsMissing(inner),
                    other => return Err(internal(span, &format!("{other:?}"))),
                };
                node(kind, span, lhs.height + 1)
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let span = lhs.expr.span.to(rhs.expr.span);
                let Some(bop) = binop(op.as_rule()) else {
                    return Err(internal(span, &format!("{:?}", op.as_rule())));
                };
                let height = lhs.height.max(rhs.height) + 1;
                node(
                    ExprKind::Binary(bop, Box::new(lhs.expr), Box::new(rhs.expr)),
                    span,
                    height,
                )
            })
            .parse(pairs.into_iter())
    }

    fn primary(&mut self, p: P<'_>, depth: u32) -> R<Built> {
        let span = self.sp(&p);
        let leaf = |kind| node(kind, span, 1);
        match p.as_rule() {
            Rule::expr => self.expr(p, depth + 1),
            Rule::seen | Rule::history_call => self.history(p, depth),
            Rule::call => {
                let mut q = kids(p);
                let name = self.take(&mut q, Rule::ident, span)?;
                let name = self.ident(&name);
                let mut args = Vec::new();
                let mut height = 0;
                for a in q {
                    let b = self.expr(a, depth + 1)?;
                    height = height.max(b.height);
                    args.push(b.expr);
                }
                node(ExprKind::Call(name, args), span, height + 1)
            }
            Rule::list => {
                let mut items = Vec::new();
                let mut height = 0;
                for a in kids(p) {
                    let b = self.expr(a, depth + 1)?;
                    height = height.max(b.height);
                    items.push(b.expr);
                }
                node(ExprKind::List(items), span, height + 1)
            }
            Rule::string => {
                let (parts, height) = self.string_parts(p, depth)?;
                node(ExprKind::Str(parts), span, height + 1)
            }
            Rule::instant => leaf(ExprKind::Instant(self.instant(&p))),
            Rule::date => leaf(ExprKind::Date(self.date(&p))),
            Rule::duration => leaf(ExprKind::Duration(self.duration(&p))),
            Rule::number => {
                let v = match p.as_str().parse::<f64>() {
                    Ok(v) if v.is_finite() => v,
                    _ => {
                        self.bad_literal(span, "this number is too large".to_string());
                        0.0
                    }
                };
                leaf(ExprKind::Number(v))
            }
            Rule::lit_true => leaf(ExprKind::Bool(true)),
            Rule::lit_false => leaf(ExprKind::Bool(false)),
            Rule::lit_now => leaf(ExprKind::Now),
            Rule::path => {
                let segs: Vec<Ident> = kids(p).iter().map(|s| self.ident(s)).collect();
                leaf(ExprKind::Path(segs))
            }
            other => Err(internal(span, &format!("{other:?}"))),
        }
    }

    fn history(&mut self, p: P<'_>, depth: u32) -> R<Built> {
        let span = self.sp(&p);
        let is_seen = p.as_rule() == Rule::seen;
        let mut q = kids(p);
        let func = if is_seen {
            HistoryFunc::Seen
        } else {
            let f = self.take(&mut q, Rule::history_fn, span)?;
            match f.as_str() {
                "count" => HistoryFunc::Count,
                "sum" => HistoryFunc::Sum,
                "last" => HistoryFunc::Last,
                _ => HistoryFunc::TimeSince,
            }
        };
        let event = self.take(&mut q, Rule::ident, span)?;
        let event = self.ident(&event);
        let field = Self::opt(&mut q, Rule::field_name).map(|f| self.ident(&f));
        match (&field, func) {
            (None, HistoryFunc::Sum) => self.diags.push(
                Diagnostic::error(codes::SYNTAX, event.span, "`sum` needs the field to add up")
                    .with_help(format!("write `sum({}.FIELD ...)`", event.name)),
            ),
            (Some(f), func) if func != HistoryFunc::Sum => self.diags.push(Diagnostic::error(
                codes::SYNTAX,
                f.span,
                format!("`{}` takes an event type, not a field", func.keyword()),
            )),
            _ => {}
        }
        let alias = self.wrapped_ident(&mut q, Rule::h_as, Rule::ident, span)?;
        let within = match Self::opt(&mut q, Rule::h_within) {
            Some(w) => Some(self.within(w, span)?),
            None => None,
        };
        let since = self.wrapped_ident(&mut q, Rule::h_since, Rule::ident, span)?;
        let mut height = 0;
        let filter = match q.pop_front() {
            Some(w) => {
                let mut wq = kids(w);
                let e = wq
                    .pop_front()
                    .ok_or_else(|| internal(span, "empty where"))?;
                let b = self.expr(e, depth + 1)?;
                height = b.height;
                Some(Box::new(b.expr))
            }
            None => None,
        };
        node(
            ExprKind::History(HistoryExpr {
                func,
                event,
                field,
                alias,
                within,
                since,
                filter,
            }),
            span,
            height + 1,
        )
    }

    // -----------------------------------------------------------------------------------------
    // Strings

    /// The parts of a string literal, adjacent text merged, and the height of its tallest
    /// interpolation.
    fn string_parts(&mut self, p: P<'_>, depth: u32) -> R<(Vec<StrPart>, u32)> {
        let mut parts: Vec<StrPart> = Vec::new();
        let mut height = 0;
        let push_text = |parts: &mut Vec<StrPart>, s: &str| {
            if let Some(StrPart::Text(t)) = parts.last_mut() {
                t.push_str(s);
            } else if !s.is_empty() {
                parts.push(StrPart::Text(s.to_string()));
            }
        };
        for part in p.into_inner() {
            match part.as_rule() {
                Rule::str_text => push_text(&mut parts, part.as_str()),
                Rule::str_lbrace => push_text(&mut parts, "{"),
                Rule::str_rbrace => push_text(&mut parts, "}"),
                Rule::str_escape => {
                    let s = self.escape(&part);
                    push_text(&mut parts, &s);
                }
                Rule::interp => {
                    let span = self.sp(&part);
                    let mut q = kids(part);
                    let e = self.take(&mut q, Rule::expr, span)?;
                    let b = self.expr(e, depth + 1)?;
                    height = height.max(b.height);
                    parts.push(StrPart::Interp(b.expr));
                }
                other => return Err(internal(self.sp(&part), &format!("{other:?}"))),
            }
        }
        Ok((parts, height))
    }

    fn escape(&mut self, p: &P<'_>) -> String {
        let text = p.as_str();
        let span = self.sp(p);
        let body = text.get(1..).unwrap_or("");
        match body {
            "\"" => "\"".to_string(),
            "\\" => "\\".to_string(),
            "n" => "\n".to_string(),
            "t" => "\t".to_string(),
            _ => {
                if let Some(hex) = body.strip_prefix("u{").and_then(|b| b.strip_suffix('}')) {
                    let c = (!hex.is_empty() && hex.len() <= 6)
                        .then(|| u32::from_str_radix(hex, 16).ok())
                        .flatten()
                        .and_then(char::from_u32);
                    if let Some(c) = c {
                        return c.to_string();
                    }
                    self.bad_literal(
                        span,
                        format!("`{text}` is not a Unicode scalar value (1 to 6 hex digits)"),
                    );
                    return String::new();
                }
                self.diags.push(
                    Diagnostic::error(
                        codes::BAD_LITERAL,
                        span,
                        format!("unknown escape `{text}` in a string"),
                    )
                    .with_label("unknown escape")
                    .with_help("the escapes are \\\" \\\\ \\n \\t \\u{...}; write `{{` and `}}` for braces"),
                );
                String::new()
            }
        }
    }

    /// A string literal that may not interpolate (names, titles, timezones).
    fn plain_string(&mut self, p: P<'_>, what: &str) -> R<StringLit> {
        let span = self.sp(&p);
        let (parts, _) = self.string_parts(p, 0)?;
        let mut value = String::new();
        for part in parts {
            match part {
                StrPart::Text(t) => value.push_str(&t),
                StrPart::Interp(e) => self.diags.push(
                    Diagnostic::error(
                        codes::SYNTAX,
                        e.span,
                        format!("{what} cannot interpolate `{{...}}`"),
                    )
                    .with_label("interpolation not allowed here")
                    .with_help("write `{{` and `}}` for literal braces"),
                ),
            }
        }
        Ok(StringLit { value, span })
    }

    // -----------------------------------------------------------------------------------------
    // Literals

    fn uint(&mut self, p: &P<'_>) -> u64 {
        match p.as_str().parse::<u64>() {
            Ok(v) => v,
            Err(_) => {
                self.bad_literal(self.sp(p), format!("`{}` is too large", p.as_str()));
                0
            }
        }
    }

    fn percent(&mut self, p: &P<'_>) -> f64 {
        let text = p.as_str().trim_end_matches('%');
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.bad_literal(self.sp(p), format!("`{}` is not a percentage", p.as_str()));
                0.0
            }
        }
    }

    fn duration(&mut self, p: &P<'_>) -> DurationLit {
        let text = p.as_str();
        let span = self.sp(p);
        let split = text.len().saturating_sub(1);
        let (digits, unit) = (
            text.get(..split).unwrap_or(""),
            text.get(split..).unwrap_or(""),
        );
        let unit = match unit {
            "s" => DurationUnit::Seconds,
            "m" => DurationUnit::Minutes,
            "h" => DurationUnit::Hours,
            "w" => DurationUnit::Weeks,
            _ => DurationUnit::Days,
        };
        let amount = match digits.parse::<u64>() {
            Ok(v) => v,
            Err(_) => {
                self.bad_literal(span, format!("duration `{text}` is too large"));
                0
            }
        };
        DurationLit { amount, unit, span }
    }

    fn date(&mut self, p: &P<'_>) -> DateLit {
        let span = self.sp(p);
        let text = p.as_str();
        let (year, month, day) = (num(text, 0, 4), num(text, 5, 7), num(text, 8, 10));
        if let Err(why) = check_date(year, month, day) {
            self.bad_literal(span, format!("invalid date `{text}`: {why}"));
        }
        DateLit {
            year: i32::try_from(year).unwrap_or(0),
            month: u8::try_from(month).unwrap_or(0),
            day: u8::try_from(day).unwrap_or(0),
            span,
        }
    }

    fn clock(&mut self, p: &P<'_>, end: bool) -> ClockLit {
        let span = self.sp(p);
        let text = p.as_str();
        let (hour, minute) = (num(text, 0, 2), num(text, 3, 5));
        let ok = (hour <= 23 && minute <= 59) || (end && hour == 24 && minute == 0);
        if !ok {
            let why = if hour == 24 && minute == 0 {
                "`24:00` is allowed only as the end of `hours`"
            } else if hour > 23 {
                "the hour must be between 00 and 23"
            } else {
                "the minute must be between 00 and 59"
            };
            self.bad_literal(span, format!("invalid clock time `{text}`: {why}"));
        }
        ClockLit {
            hour: u8::try_from(hour).unwrap_or(0),
            minute: u8::try_from(minute).unwrap_or(0),
            span,
        }
    }

    fn instant(&mut self, p: &P<'_>) -> InstantLit {
        let span = self.sp(p);
        let text = p.as_str();
        let millis = match instant_millis(text) {
            Ok(m) => m,
            Err(why) => {
                self.bad_literal(span, format!("invalid instant `{text}`: {why}"));
                0
            }
        };
        InstantLit {
            millis,
            text: text.to_string(),
            span,
        }
    }
}

fn weekday(s: &str) -> Weekday {
    match s {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

/// The decimal number in `text[from..to]` (the grammar guarantees digits there).
fn num(text: &str, from: usize, to: usize) -> u32 {
    text.get(from..to)
        .and_then(|s| s.parse().ok())
        .unwrap_or(u32::MAX)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn check_date(year: u32, month: u32, day: u32) -> Result<(), String> {
    if !(1..=12).contains(&month) {
        return Err("the month must be between 01 and 12".to_string());
    }
    let max = days_in_month(year, month);
    if !(1..=max).contains(&day) {
        let name = MONTHS
            .get(month.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("");
        return Err(format!("{name} {year} has {max} days"));
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM[:SS](Z|±HH:MM)` → UTC milliseconds.
fn instant_millis(text: &str) -> Result<i64, String> {
    let (year, month, day) = (num(text, 0, 4), num(text, 5, 7), num(text, 8, 10));
    check_date(year, month, day)?;
    let (hour, minute) = (num(text, 11, 13), num(text, 14, 16));
    let (second, zone_at) = if text.get(16..17) == Some(":") {
        (num(text, 17, 19), 19)
    } else {
        (0, 16)
    };
    if hour > 23 {
        return Err("the hour must be between 00 and 23".to_string());
    }
    if minute > 59 {
        return Err("the minute must be between 00 and 59".to_string());
    }
    if second > 59 {
        return Err("the second must be between 00 and 59".to_string());
    }
    let zone = text.get(zone_at..).unwrap_or("Z");
    let offset_minutes = if zone == "Z" {
        0
    } else {
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (oh, om) = (num(zone, 1, 3), num(zone, 4, 6));
        if oh > 23 || om > 59 {
            return Err("the UTC offset must be between -23:59 and +23:59".to_string());
        }
        sign * i64::from(oh * 60 + om)
    };
    let days = omnirule_text::time::days_from_civil(i64::from(year), month, day);
    let local = days * omnirule_text::time::DAY_MS
        + i64::from(hour) * 3_600_000
        + i64::from(minute) * 60_000
        + i64::from(second) * 1_000;
    Ok(local - offset_minutes * 60_000)
}
