//! Prints an AST back in the one canonical layout (`omnirule fmt`).
//!
//! Layout: 2-space indentation; one blank line between items; schema entries one per line
//! (a blank line between kinds: header, profile, events, actions, retains); field lists,
//! action params and test objects on one line when they fit in 100 columns, else one per line
//! with trailing commas; rule clauses in the order `on consent when do limit/once priority group
//! active hours days`; a `when` (or segment) that does not fit is broken before its top-level
//! `and`/`or` with a continuation indent. Parentheses are printed only where precedence needs
//! them (and around a `seen ... where` that something at comparison level follows, since that
//! `where` would swallow it).
//!
//! Comments are never dropped. A comment on its own line before an item, entry, clause, field,
//! param, arm or step stays before it; a comment that ends a line stays at the end of that line;
//! a comment inside an expression that is printed on one line moves before the line.
//! `format(format(x)) == format(x)`, and `parse(format(parse(x))) == parse(x)`.

use crate::ast::*;

/// Target line width.
pub const WIDTH: usize = 100;

/// Prints a file in the canonical layout.
pub fn format(file: &SourceFile) -> String {
    let mut f = Fmt {
        comments: &file.comments,
        used: vec![false; file.comments.len()],
    };
    let mut out = String::new();
    let spans: Vec<Span> = file.items.iter().map(item_span).collect();
    let att = f.attach(0, u32::MAX, &spans);
    let mut prev: Option<&Item> = None;
    for (i, item) in file.items.iter().enumerate() {
        let together = matches!(
            (prev, item),
            (Some(Item::Segment(_)), Item::Segment(_)) | (Some(Item::Group(_)), Item::Group(_))
        );
        if prev.is_some() && !together {
            out.push('\n');
        }
        prev = Some(item);
        let body = f.item(item);
        let loose = f.take_within(item_span(item));
        let leading = att.leading.get(i).cloned().unwrap_or_default();
        emit(
            &mut out,
            0,
            &leading,
            &loose,
            &body,
            att.trailing.get(i).copied().flatten(),
        );
    }
    let mut rest: Vec<&Comment> = att.open_trailing.into_iter().collect();
    rest.extend(att.end);
    rest.extend(f.take_all());
    if !rest.is_empty() {
        if !file.items.is_empty() {
            out.push('\n');
        }
        emit_comments(&mut out, 0, &rest, false);
    }
    out
}

/// Comments attached to the children of one block.
#[derive(Default)]
struct Attach<'a> {
    /// A comment at the end of the block's opening line.
    open_trailing: Option<&'a Comment>,
    /// Per child (in the order given): own-line comments before it.
    leading: Vec<Vec<&'a Comment>>,
    /// Per child: the comment ending its last line.
    trailing: Vec<Option<&'a Comment>>,
    /// Comments after the last child, before the block closes.
    end: Vec<&'a Comment>,
}

struct Fmt<'a> {
    comments: &'a [Comment],
    used: Vec<bool>,
}

/// One child of a block: where it sits in the source (for comments) and how to print it.
type Child<'a, 'b> = (Span, Box<dyn FnOnce(&mut Fmt<'a>) -> String + 'b>);

impl<'a> Fmt<'a> {
    /// Unused comments starting in `from..to`, now marked used.
    fn take(&mut self, from: u32, to: u32) -> Vec<&'a Comment> {
        let comments = self.comments;
        let mut out = Vec::new();
        for (c, used) in comments.iter().zip(self.used.iter_mut()) {
            if !*used && c.span.start >= from && c.span.start < to {
                *used = true;
                out.push(c);
            }
        }
        out
    }

    fn take_within(&mut self, span: Span) -> Vec<&'a Comment> {
        self.take(span.start, span.end)
    }

    fn take_all(&mut self) -> Vec<&'a Comment> {
        self.take(0, u32::MAX)
    }

    fn any_within(&self, from: u32, to: u32) -> bool {
        self.comments
            .iter()
            .zip(&self.used)
            .any(|(c, used)| !*used && c.span.start >= from && c.span.start < to)
    }

    /// Distributes the comments between the children of a block spanning `open..close`.
    /// Comments inside a child's span are left for the child.
    fn attach(&mut self, open: u32, close: u32, spans: &[Span]) -> Attach<'a> {
        let mut att = Attach {
            leading: vec![Vec::new(); spans.len()],
            trailing: vec![None; spans.len()],
            ..Attach::default()
        };
        let mut order: Vec<usize> = (0..spans.len()).collect();
        order.sort_by_key(|&i| spans.get(i).map_or(0, |s| s.start));
        let mut prev: Option<usize> = None;
        let mut prev_end = open;
        for &i in &order {
            let Some(span) = spans.get(i).copied() else {
                continue;
            };
            let gap = self.take(prev_end, span.start.max(prev_end));
            let mut gap = gap.into_iter().peekable();
            if let Some(c) = gap.next_if(|c| !c.own_line) {
                match prev.and_then(|p| att.trailing.get_mut(p)) {
                    Some(slot) => *slot = Some(c),
                    None => att.open_trailing = Some(c),
                }
            }
            if let Some(slot) = att.leading.get_mut(i) {
                slot.extend(gap);
            }
            prev = Some(i);
            prev_end = prev_end.max(span.end);
        }
        let gap = self.take(prev_end, close);
        let mut gap = gap.into_iter().peekable();
        if let Some(c) = gap.next_if(|c| !c.own_line) {
            match prev.and_then(|p| att.trailing.get_mut(p)) {
                Some(slot) => *slot = Some(c),
                None => att.open_trailing = Some(c),
            }
        }
        att.end.extend(gap);
        att
    }

    // -----------------------------------------------------------------------------------------
    // Items

    fn item(&mut self, item: &'a Item) -> String {
        match item {
            Item::Schema(s) => self.schema(s),
            Item::Segment(s) => {
                let head = format!("segment {} = ", s.name.name);
                let width = head.chars().count();
                format!("{head}{}", broken(&s.expr, width, 0))
            }
            Item::Group(g) => match &g.limit {
                Some(cap) => format!("group {} {}", g.name.name, cap_str(cap)),
                None => format!("group {}", g.name.name),
            },
            Item::Rule(r) => self.rule(r),
            Item::Test(t) => self.test(t),
        }
    }

    /// Prints `children` (already ordered for output, with their source spans) as the lines of
    /// a `{ ... }` block at `indent`; `blank_between` says where a blank line separates two.
    fn block(
        &mut self,
        head: &str,
        open: u32,
        close: u32,
        indent: usize,
        children: Vec<Child<'a, '_>>,
        blank_before: &[bool],
    ) -> String {
        let spans: Vec<Span> = children.iter().map(|(s, _)| *s).collect();
        let att = self.attach(open, close, &spans);
        if children.is_empty() && att.open_trailing.is_none() && att.end.is_empty() {
            return format!("{head} {{}}");
        }
        let mut out = format!("{head} {{");
        if let Some(c) = att.open_trailing {
            out.push_str(&format!(" #{}", c.text));
        }
        out.push('\n');
        let inner = indent + 2;
        for (i, (span, print)) in children.into_iter().enumerate() {
            if i > 0 && blank_before.get(i).copied().unwrap_or(false) {
                out.push('\n');
            }
            let body = print(self);
            let loose = self.take_within(span);
            let leading = att.leading.get(i).cloned().unwrap_or_default();
            emit(
                &mut out,
                inner,
                &leading,
                &loose,
                &body,
                att.trailing.get(i).copied().flatten(),
            );
        }
        emit_comments(&mut out, inner, &att.end, false);
        out.push_str(&spaces(indent));
        out.push('}');
        out
    }

    fn schema(&mut self, s: &'a Schema) -> String {
        let mut children: Vec<Child<'a, '_>> = Vec::new();
        let mut blank = Vec::new();
        let mut prev_kind = None;
        for e in &s.entries {
            let kind = entry_kind(e);
            blank.push(prev_kind.is_some_and(|k| k != kind));
            prev_kind = Some(kind);
            children.push((
                entry_span(e),
                Box::new(move |f: &mut Fmt<'a>| f.entry(e, 2)),
            ));
        }
        let open = s.span.start;
        self.block("schema", open, s.span.end, 0, children, &blank)
    }

    fn entry(&mut self, e: &'a SchemaEntry, indent: usize) -> String {
        match e {
            SchemaEntry::Timezone(s) => format!("timezone {}", quote_plain(&s.value)),
            SchemaEntry::Consent(names, _) => format!("consent {}", names_str(names)),
            SchemaEntry::Profile(fields, span) => {
                self.fields("profile", fields, span.start, span.end, indent)
            }
            SchemaEntry::Event { name, fields, span } => {
                let head = format!("event {}", name.name);
                self.fields(&head, fields, name.span.end, span.end, indent)
            }
            SchemaEntry::Action { name, params, span } => {
                let head = format!("action {}", name.name);
                self.fields(&head, params, name.span.end, span.end, indent)
            }
            SchemaEntry::Retain {
                event, duration, ..
            } => format!("retain {} {}", event.name, duration_str(duration)),
        }
    }

    fn fields(
        &mut self,
        head: &str,
        fields: &'a [FieldDecl],
        open: u32,
        close: u32,
        indent: usize,
    ) -> String {
        let items: Vec<(Span, String)> = fields.iter().map(|f| (f.span, field_str(f))).collect();
        self.list_block(head, items, (open, close), indent, indent)
    }

    /// `head { a, b }` on one line if it fits and holds no comment, else one entry per line
    /// with trailing commas.
    fn list_block(
        &mut self,
        head: &str,
        items: Vec<(Span, String)>,
        (open, close): (u32, u32),
        col: usize,
        indent: usize,
    ) -> String {
        if items.is_empty() && !self.any_within(open, close) {
            return format!("{head} {{}}");
        }
        let flat = format!(
            "{head} {{ {} }}",
            items
                .iter()
                .map(|(_, s)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if col + width(&flat) <= WIDTH && !self.any_within(open, close) && !flat.contains('\n') {
            return flat;
        }
        let children = items
            .into_iter()
            .map(|(span, s)| {
                let print: Box<dyn FnOnce(&mut Fmt<'a>) -> String> =
                    Box::new(move |_: &mut Fmt<'a>| format!("{s},"));
                (span, print)
            })
            .collect();
        self.block(head, open, close, indent, children, &[])
    }

    // -----------------------------------------------------------------------------------------
    // Rules

    fn rule(&mut self, r: &'a RuleDef) -> String {
        let mut head = format!("rule {}", r.name.name);
        let mut open = r.name.span.end;
        if let Some(t) = &r.title {
            head.push(' ');
            head.push_str(&quote_plain(&t.value));
            open = t.span.end;
        }
        type Print<'a, 'b> = Box<dyn FnOnce(&mut Fmt<'a>) -> String + 'b>;
        let mut children: Vec<(Span, Print<'a, '_>)> = Vec::new();
        let indent = 2;
        if let Some((names, span)) = &r.on {
            children.push((
                *span,
                Box::new(move |_: &mut Fmt<'a>| format!("on {}", names_str(names))),
            ));
        }
        if let Some((names, span)) = &r.consent {
            children.push((
                *span,
                Box::new(move |_: &mut Fmt<'a>| format!("consent {}", names_str(names))),
            ));
        }
        if let Some(e) = &r.when {
            children.push((
                e.span,
                Box::new(move |_: &mut Fmt<'a>| format!("when {}", broken(e, indent + 5, indent))),
            ));
        }
        if let Some(d) = &r.action {
            let span = match d {
                DoClause::Actions(_, s) | DoClause::Split { span: s, .. } => *s,
            };
            children.push((
                span,
                Box::new(move |f: &mut Fmt<'a>| f.do_clause(d, indent)),
            ));
        }
        for goal in &r.goals {
            children.push((
                goal.span,
                Box::new(move |_: &mut Fmt<'a>| goal_str(goal, indent)),
            ));
        }
        if let Some(cap) = &r.cap {
            children.push((cap.span(), Box::new(move |_: &mut Fmt<'a>| cap_str(cap))));
        }
        if let Some((p, span)) = &r.priority {
            children.push((
                *span,
                Box::new(move |_: &mut Fmt<'a>| format!("priority {p}")),
            ));
        }
        if let Some(g) = &r.group {
            children.push((
                g.span,
                Box::new(move |_: &mut Fmt<'a>| format!("group {}", g.name)),
            ));
        }
        if let Some((a, b, span)) = &r.active {
            children.push((
                *span,
                Box::new(move |_: &mut Fmt<'a>| {
                    format!("active {} .. {}", date_str(a), date_str(b))
                }),
            ));
        }
        if let Some((a, b, span)) = &r.hours {
            children.push((
                *span,
                Box::new(move |_: &mut Fmt<'a>| {
                    format!("hours {} .. {}", clock_str(a), clock_str(b))
                }),
            ));
        }
        if let Some((days, span)) = &r.days {
            children.push((
                *span,
                Box::new(move |_: &mut Fmt<'a>| format!("days {}", days_str(days))),
            ));
        }
        self.block(&head, open, r.span.end, 0, children, &[])
    }

    fn do_clause(&mut self, d: &'a DoClause, indent: usize) -> String {
        match d {
            DoClause::Actions(calls, _) => {
                format!("do {}", self.actions(calls, indent, indent + 3))
            }
            DoClause::Split {
                name,
                unit,
                arms,
                span,
            } => {
                let head = format!("do split {} by {}", name.name, expr_str(unit));
                type Print<'a, 'b> = Box<dyn FnOnce(&mut Fmt<'a>) -> String + 'b>;
                let children: Vec<(Span, Print<'a, '_>)> = arms
                    .iter()
                    .map(|arm| {
                        let print: Print<'a, '_> =
                            Box::new(move |f: &mut Fmt<'a>| f.arm(arm, indent + 2));
                        (arm.span, print)
                    })
                    .collect();
                self.block(&head, unit.span.end, span.end, indent, children, &[])
            }
        }
    }

    fn arm(&mut self, arm: &'a SplitArm, indent: usize) -> String {
        let pct = format!("{}%", num_str(arm.percent));
        match &arm.variant {
            None if arm.actions.is_empty() => format!("{pct} control"),
            None => {
                // Not produced by the parser; print something that parses back the same way
                // as far as the grammar allows.
                let head = format!("{pct} control ");
                let col = indent + width(&head);
                format!("{head}{}", self.actions(&arm.actions, indent, col))
            }
            Some(v) => {
                let head = format!("{pct} {}: ", quote_plain(&v.value));
                let col = indent + width(&head);
                format!("{head}{}", self.actions(&arm.actions, indent, col))
            }
        }
    }

    /// `a {..}, b {..}` starting at column `col` of a line indented by `indent`: on one line if
    /// it fits, else one action per line aligned at `col`.
    fn actions(&mut self, calls: &'a [ActionCall], indent: usize, col: usize) -> String {
        let flat: Vec<String> = calls.iter().map(call_flat).collect();
        let joined = flat.join(", ");
        let has_comments = calls
            .iter()
            .any(|c| self.any_within(c.action.span.end, c.span.end));
        if col + width(&joined) <= WIDTH && !has_comments {
            return joined;
        }
        let mut out = String::new();
        for (i, call) in calls.iter().enumerate() {
            let line_indent = if i == 0 {
                indent
            } else {
                out.push_str(",\n");
                out.push_str(&spaces(col));
                col
            };
            let items: Vec<(Span, String)> =
                call.params.iter().map(|p| (p.span, param_str(p))).collect();
            out.push_str(&self.list_block(
                &call.action.name,
                items,
                (call.action.span.end, call.span.end),
                col,
                line_indent,
            ));
        }
        out
    }

    // -----------------------------------------------------------------------------------------
    // Tests

    fn test(&mut self, t: &'a TestDef) -> String {
        let head = format!("test {}", quote_plain(&t.name.value));
        type Print<'a, 'b> = Box<dyn FnOnce(&mut Fmt<'a>) -> String + 'b>;
        let mut children: Vec<(Span, Print<'a, '_>)> = Vec::new();
        let indent = 2;
        if let Some(p) = &t.profile {
            children.push((
                p.span,
                Box::new(move |f: &mut Fmt<'a>| f.object("profile", p, indent)),
            ));
        }
        for step in &t.steps {
            let span = match step {
                TestStep::At { span, .. }
                | TestStep::Expect { span, .. }
                | TestStep::ExpectNo { span, .. }
                | TestStep::ExpectNothing(span)
                | TestStep::ExpectConversion { span, .. } => *span,
            };
            children.push((span, Box::new(move |f: &mut Fmt<'a>| f.step(step, indent))));
        }
        self.block(&head, t.name.span.end, t.span.end, 0, children, &[])
    }

    fn step(&mut self, step: &'a TestStep, indent: usize) -> String {
        match step {
            TestStep::At {
                time,
                event,
                fields,
                ..
            } => {
                let head = format!("at {} {}", time.text, event.name);
                self.object(&head, fields, indent)
            }
            TestStep::Expect { action, params, .. } => {
                let head = format!("expect {}", action.name);
                match params {
                    Some(p) => self.object(&head, p, indent),
                    None => head,
                }
            }
            TestStep::ExpectNo { action, params, .. } => {
                let head = format!("expect no {}", action.name);
                match params {
                    Some(p) => self.object(&head, p, indent),
                    None => head,
                }
            }
            TestStep::ExpectNothing(_) => "expect nothing".to_string(),
            TestStep::ExpectConversion {
                rule,
                fields,
                negated,
                ..
            } => {
                let head = if *negated {
                    format!("expect no conversion {}", rule.name)
                } else {
                    format!("expect conversion {}", rule.name)
                };
                match fields {
                    Some(p) => self.object(&head, p, indent),
                    None => head,
                }
            }
        }
    }

    fn object(&mut self, head: &str, o: &'a ObjectLit, indent: usize) -> String {
        let items: Vec<(Span, String)> = o.entries.iter().map(|p| (p.span, param_str(p))).collect();
        self.list_block(head, items, (o.span.start, o.span.end), indent, indent)
    }
}

/// Writes one block line: leading comments, the body at `indent`, a trailing comment.
fn emit(
    out: &mut String,
    indent: usize,
    leading: &[&Comment],
    loose: &[&Comment],
    body: &str,
    trailing: Option<&Comment>,
) {
    emit_comments(out, indent, leading, true);
    emit_comments(out, indent, loose, false);
    out.push_str(&spaces(indent));
    out.push_str(body);
    if let Some(c) = trailing {
        out.push_str(" #");
        out.push_str(&c.text);
    }
    out.push('\n');
}

/// Own-line comments; `keep_blank_after_last`: a blank line the source had after the last one
/// (before the code that follows) is kept.
fn emit_comments(
    out: &mut String,
    indent: usize,
    comments: &[&Comment],
    keep_blank_after_last: bool,
) {
    for (i, c) in comments.iter().enumerate() {
        out.push_str(&spaces(indent));
        out.push('#');
        out.push_str(&c.text);
        out.push('\n');
        let last = i + 1 == comments.len();
        if c.blank_after && c.own_line && (!last || keep_blank_after_last) {
            out.push('\n');
        }
    }
}

fn spaces(n: usize) -> String {
    " ".repeat(n)
}

fn width(s: &str) -> usize {
    s.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

fn item_span(item: &Item) -> Span {
    match item {
        Item::Schema(s) => s.span,
        Item::Segment(s) => s.span,
        Item::Group(g) => g.span,
        Item::Rule(r) => r.span,
        Item::Test(t) => t.span,
    }
}

fn entry_span(e: &SchemaEntry) -> Span {
    match e {
        SchemaEntry::Timezone(s) => s.span,
        SchemaEntry::Consent(_, span)
        | SchemaEntry::Profile(_, span)
        | SchemaEntry::Event { span, .. }
        | SchemaEntry::Action { span, .. }
        | SchemaEntry::Retain { span, .. } => *span,
    }
}

/// Schema entries of one kind are printed together; a blank line separates kinds.
fn entry_kind(e: &SchemaEntry) -> u8 {
    match e {
        SchemaEntry::Timezone(_) | SchemaEntry::Consent(..) => 0,
        SchemaEntry::Profile(..) => 1,
        SchemaEntry::Event { .. } => 2,
        SchemaEntry::Action { .. } => 3,
        SchemaEntry::Retain { .. } => 4,
    }
}

fn names_str(names: &[Ident]) -> String {
    names
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn field_str(f: &FieldDecl) -> String {
    let mut s = format!("{}: {}", f.name.name, type_str(&f.ty));
    if f.pii {
        s.push_str(" pii");
    }
    s
}

fn type_str(t: &TypeExpr) -> String {
    let base = match &t.kind {
        TypeKind::String => "string".to_string(),
        TypeKind::Number => "number".to_string(),
        TypeKind::Bool => "bool".to_string(),
        TypeKind::Duration => "duration".to_string(),
        TypeKind::Time => "time".to_string(),
        TypeKind::List(inner) => format!("list<{}>", type_str(inner)),
        TypeKind::Set(inner) => format!("set<{}>", type_str(inner)),
    };
    if t.optional { format!("{base}?") } else { base }
}

/// `goal E [as N] within D [value F] [primary] [where C]`, the `where` broken like a `when`.
fn goal_str(goal: &GoalClause, indent: usize) -> String {
    let mut out = format!("goal {}", goal.event.name);
    if let Some(a) = &goal.alias {
        out.push_str(" as ");
        out.push_str(&a.name);
    }
    if let Some(d) = &goal.within {
        out.push_str(" within ");
        out.push_str(&duration_str(d));
    }
    if let Some(v) = &goal.value {
        out.push_str(" value ");
        out.push_str(&v.name);
    }
    if goal.primary.is_some() {
        out.push_str(" primary");
    }
    if let Some(e) = &goal.filter {
        out.push_str(" where ");
        let col = indent + out.chars().count();
        out.push_str(&broken(e, col, indent));
    }
    out
}

fn cap_str(cap: &CapClause) -> String {
    match cap {
        CapClause::Limit { count, per, .. } => format!("limit {count} per {}", duration_str(per)),
        CapClause::Once(_) => "once".to_string(),
    }
}

fn days_str(days: &[DaySpec]) -> String {
    days.iter()
        .map(|d| match d.to {
            Some(to) => format!("{} .. {}", d.from.keyword(), to.keyword()),
            None => d.from.keyword().to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn call_flat(c: &ActionCall) -> String {
    if c.params.is_empty() {
        return format!("{} {{}}", c.action.name);
    }
    let params: Vec<String> = c.params.iter().map(param_str).collect();
    format!("{} {{ {} }}", c.action.name, params.join(", "))
}

fn param_str(p: &Param) -> String {
    format!("{}: {}", p.name.name, expr_str(&p.value))
}

fn duration_str(d: &DurationLit) -> String {
    format!("{}{}", d.amount, d.unit.suffix())
}

fn date_str(d: &DateLit) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

fn clock_str(c: &ClockLit) -> String {
    format!("{:02}:{:02}", c.hour, c.minute)
}

/// Shortest decimal that reads back as the same double (never exponent notation).
fn num_str(v: f64) -> String {
    format!("{v}")
}

// ---------------------------------------------------------------------------------------------
// Strings

fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
}

fn quote_plain(text: &str) -> String {
    let mut out = String::from("\"");
    escape_text(&mut out, text);
    out.push('"');
    out
}

fn quote_parts(parts: &[StrPart]) -> String {
    let mut out = String::from("\"");
    for part in parts {
        match part {
            StrPart::Text(t) => escape_text(&mut out, t),
            StrPart::Interp(e) => {
                out.push('{');
                out.push_str(&expr_str(e));
                out.push('}');
            }
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Expressions

const PREC_OR: u8 = 1;
const PREC_AND: u8 = 2;
const PREC_NOT: u8 = 3;
const PREC_CMP: u8 = 4;
const PREC_NEG: u8 = 8;
const PREC_ATOM: u8 = 9;

fn op_prec(op: BinOp) -> u8 {
    match op {
        BinOp::Or => PREC_OR,
        BinOp::And => PREC_AND,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::In => {
            PREC_CMP
        }
        BinOp::Add | BinOp::Sub => 5,
        BinOp::Mul | BinOp::Div => 6,
        BinOp::Coalesce => 7,
    }
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(op, ..) => op_prec(*op),
        ExprKind::Not(_) => PREC_NOT,
        ExprKind::IsPresent(_) | ExprKind::IsMissing(_) => PREC_CMP,
        ExprKind::Neg(_) => PREC_NEG,
        _ => PREC_ATOM,
    }
}

/// `seen ... where cmp` ends in a comparison-level expression that would absorb a following
/// comparison or arithmetic operator.
fn open_right(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::History(h) if h.func == HistoryFunc::Seen && h.filter.is_some())
}

/// An expression on one line.
pub fn expr_str(e: &Expr) -> String {
    print(e, 0, false)
}

/// `e` where its context needs precedence at least `min`; `tight_follow`: a comparison-level
/// (or tighter) operator follows it in the text.
fn print(e: &Expr, min: u8, tight_follow: bool) -> String {
    if prec(e) < min || (tight_follow && open_right(e)) {
        format!("({})", inner(e, false))
    } else {
        inner(e, tight_follow)
    }
}

fn inner(e: &Expr, follow: bool) -> String {
    match &e.kind {
        ExprKind::Number(v) => num_str(*v),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(parts) => quote_parts(parts),
        ExprKind::Duration(d) => duration_str(d),
        ExprKind::Date(d) => date_str(d),
        ExprKind::Instant(i) => i.text.clone(),
        ExprKind::List(items) => format!(
            "[{}]",
            items.iter().map(expr_str).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Path(segs) => segs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join("."),
        ExprKind::Now => "now".to_string(),
        ExprKind::Neg(x) => format!("-{}", print(x, PREC_NEG, follow)),
        ExprKind::Not(x) => format!("not {}", print(x, PREC_NOT, follow)),
        ExprKind::Binary(op, l, r) => {
            let p = op_prec(*op);
            format!(
                "{} {} {}",
                print(l, p, p >= PREC_CMP),
                op.symbol(),
                print(r, p + 1, follow)
            )
        }
        ExprKind::IsPresent(x) => format!("{} is present", print(x, PREC_CMP + 1, true)),
        ExprKind::IsMissing(x) => format!("{} is missing", print(x, PREC_CMP + 1, true)),
        ExprKind::Call(name, args) => format!(
            "{}({})",
            name.name,
            args.iter().map(expr_str).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::History(h) => history_str(h, follow),
    }
}

fn history_str(h: &HistoryExpr, follow: bool) -> String {
    let mut s = String::new();
    s.push_str(&h.event.name);
    if let Some(f) = &h.field {
        s.push('.');
        s.push_str(&f.name);
    }
    if let Some(a) = &h.alias {
        s.push_str(" as ");
        s.push_str(&a.name);
    }
    if let Some(d) = &h.within {
        s.push_str(" within ");
        s.push_str(&duration_str(d));
    }
    if let Some(y) = &h.since {
        s.push_str(" since ");
        s.push_str(&y.name);
    }
    if h.func == HistoryFunc::Seen {
        if let Some(f) = &h.filter {
            s.push_str(" where ");
            s.push_str(&print(f, PREC_CMP, follow));
        }
        format!("seen {s}")
    } else {
        if let Some(f) = &h.filter {
            s.push_str(" where ");
            s.push_str(&expr_str(f));
        }
        format!("{}({s})", h.func.keyword())
    }
}

/// An expression starting at column `col` in a clause indented by `indent`: on one line if it
/// fits, else broken before each top-level `or`/`and`, continuation lines indented by two more.
fn broken(e: &Expr, col: usize, indent: usize) -> String {
    let flat = expr_str(e);
    if col + flat.chars().count() <= WIDTH {
        return flat;
    }
    chain(e, 0, col, indent + 2).unwrap_or(flat)
}

/// `e` broken at its top-level `and`/`or` chain, if it has one and needs no parentheses at
/// precedence `min`.
fn chain(e: &Expr, min: u8, col: usize, cont: usize) -> Option<String> {
    let ExprKind::Binary(op @ (BinOp::Or | BinOp::And), ..) = &e.kind else {
        return None;
    };
    let p = op_prec(*op);
    if p < min {
        return None;
    }
    // Flatten the left spine of the same operator.
    let mut operands = Vec::new();
    let mut cur = e;
    while let ExprKind::Binary(o, l, r) = &cur.kind {
        if o != op {
            break;
        }
        operands.push((r.as_ref(), p + 1));
        cur = l;
    }
    operands.push((cur, p));
    operands.reverse();
    let mut out = String::new();
    for (i, (operand, min_p)) in operands.into_iter().enumerate() {
        let start = if i == 0 {
            col
        } else {
            out.push('\n');
            out.push_str(&spaces(cont));
            out.push_str(op.symbol());
            out.push(' ');
            cont + op.symbol().len() + 1
        };
        let flat = print(operand, min_p, false);
        let text = if start + flat.chars().count() > WIDTH {
            chain(operand, min_p, start, cont + 2).unwrap_or(flat)
        } else {
            flat
        };
        out.push_str(&text);
    }
    Some(out)
}
