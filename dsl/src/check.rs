//! The checker: resolves every name and types every expression against the schema.
//!
//! It reads the parsed files of one rule set and produces a [`Model`] (the resolved, typed
//! form the compiler lowers) plus diagnostics. It keeps going after an error so one run
//! reports as many problems as it can; an expression that failed gets type [`Ty::Error`],
//! which fits anywhere, so a mistake is reported once rather than cascading.
//!
//! Binding slots: a rule (or segment) evaluates in an environment of event slots. The
//! candidate of an anonymous history query nested `d` queries deep uses slot `d`; names bound
//! with `as x` get slots from [`MAX_QUERY_DEPTH`] upwards. So the same anonymous query in two
//! rules lowers to the same graph node and is shared, and no query can overwrite a slot that
//! is still live where it runs.

use crate::ast::*;
use crate::diagnostic::{Diagnostic, codes};
use crate::hir::*;
use crate::suggest::did_you_mean;
use crate::time;
use omnirule_engine::graph::{
    self, ActionType, ArithOp, Cap, CmpOp, EventType, EventTypeId, Func, Literal, Meta, Millis,
    Schedule, Schema, SegmentId, Slot,
};
use std::collections::{BTreeSet, HashMap};

/// How deep history queries may nest inside each other's `where` (and the first slot used by
/// bound names).
pub const MAX_QUERY_DEPTH: Slot = 4;

/// The slot that names the goal event inside a goal's `where` while it is checked. Never in a
/// model: [`Checker::split_goal`] turns reads of it into reads of the current event.
const GOAL_SLOT: Slot = Slot::MAX;

/// Durations longer than this (about 100 years) are refused: they are mistakes, and they
/// keep every window far from overflow.
const MAX_DURATION: Millis = 100 * 366 * 86_400_000;

/// Check the parsed files of one rule set. The model is returned only when there is no error.
pub fn check(files: &[SourceFile]) -> (Option<Model>, Vec<Diagnostic>) {
    let mut c = Checker::default();
    c.run(files);
    let has_errors = c.diags.iter().any(Diagnostic::is_error);
    let diags = std::mem::take(&mut c.diags);
    let model = (!has_errors).then(|| c.into_model());
    (model, diags)
}

#[derive(Clone)]
struct Binding {
    name: String,
    slot: Slot,
    event: EventTypeId,
    window: Millis,
}

/// Where an expression stands: only a condition position may bind names (`seen E as x`), and
/// there `and` carries bindings forward while `or`/`not` keep them inside.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pos {
    Cond,
    Value,
}

#[derive(Default)]
struct Scope {
    /// The event types of the rule (`event.x` must exist on all of them); `None` in segments.
    on: Option<Vec<EventTypeId>>,
    bindings: Vec<Binding>,
    candidates: Vec<Binding>,
    depth: Slot,
    next_alias: Slot,
    slots: Slot,
    pii: Vec<Span>,
    segments: BTreeSet<SegmentId>,
}

impl Scope {
    fn new(on: Option<Vec<EventTypeId>>) -> Scope {
        Scope {
            on,
            next_alias: MAX_QUERY_DEPTH,
            ..Scope::default()
        }
    }

    fn use_slot(&mut self, slot: Slot) {
        self.slots = self.slots.max(slot.saturating_add(1));
    }

    fn lookup(&self, name: &str) -> Option<&Binding> {
        self.candidates
            .iter()
            .rev()
            .chain(self.bindings.iter().rev())
            .find(|b| b.name == name)
    }
}

#[derive(Default)]
struct Checker {
    diags: Vec<Diagnostic>,
    schema: Option<Schema>,
    events: HashMap<String, EventTypeId>,
    actions: HashMap<String, u32>,
    consents: HashMap<String, u32>,
    tz: Option<jiff::tz::TimeZone>,
    segment_ids: HashMap<String, SegmentId>,
    groups: HashMap<String, u32>,
    reads: Vec<BTreeSet<String>>,
    segments: Vec<HSegment>,
    /// Per segment: the segments it uses directly, and where it reads a `pii` field.
    segment_deps: Vec<BTreeSet<SegmentId>>,
    segment_pii: Vec<Option<Span>>,
    hgroups: Vec<HGroup>,
    rules: Vec<HRule>,
    tests: Vec<TestDef>,
    active_span: Option<(i32, i32)>,
    uses_local_time: bool,
}

fn ident_names<'a>(it: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
    it.into_iter().map(String::as_str).collect()
}

impl Checker {
    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn schema(&self) -> &Schema {
        static EMPTY: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
        self.schema.as_ref().unwrap_or_else(|| {
            EMPTY.get_or_init(|| Schema {
                timezone: "UTC".into(),
                consents: Vec::new(),
                profile: Vec::new(),
                events: Vec::new(),
                actions: Vec::new(),
            })
        })
    }

    fn run(&mut self, files: &[SourceFile]) {
        // 1. Exactly one schema.
        let schemas: Vec<&Schema_> = files
            .iter()
            .flat_map(|f| f.items.iter())
            .filter_map(|i| match i {
                Item::Schema(s) => Some(s),
                _ => None,
            })
            .collect();
        match schemas.as_slice() {
            [] => {
                let span = files
                    .iter()
                    .flat_map(|f| f.items.first())
                    .map(item_span)
                    .next()
                    .unwrap_or_default();
                self.error(
                    Diagnostic::error(codes::MISSING_SCHEMA, span, "the rule set has no `schema`")
                        .with_help("add one `schema { ... }` block declaring the timezone, profile, events and actions"),
                );
                // Without a schema every event, field and action would be "unknown": one
                // error says it all.
                return;
            }
            [first, rest @ ..] => {
                for extra in rest {
                    self.error(
                        Diagnostic::error(
                            codes::DUPLICATE_SCHEMA,
                            extra.span,
                            "a rule set has exactly one `schema`",
                        )
                        .with_label("second schema")
                        .with_secondary(first.span, "first schema here"),
                    );
                }
                self.schema_block(first);
            }
        }
        self.reads = vec![BTreeSet::new(); self.schema().events.len()];

        // 2. Names of segments and groups first, so they may be used before their definition.
        let mut seen_names: HashMap<(&str, &str), Span> = HashMap::new();
        let mut segment_defs = Vec::new();
        for item in files.iter().flat_map(|f| f.items.iter()) {
            let (kind, name) = match item {
                Item::Segment(s) => ("segment", &s.name),
                Item::Group(g) => ("group", &g.name),
                Item::Rule(r) => ("rule", &r.name),
                Item::Schema(_) | Item::Test(_) => continue,
            };
            if let Some(first) = seen_names.get(&(kind, name.name.as_str())) {
                self.error(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        name.span,
                        format!("{kind} `{}` is defined twice", name.name),
                    )
                    .with_label("defined again here")
                    .with_secondary(*first, "first defined here"),
                );
                continue;
            }
            seen_names.insert((kind, name.name.as_str()), name.span);
            match item {
                Item::Segment(s) => {
                    let id = u32::try_from(segment_defs.len()).unwrap_or(u32::MAX);
                    self.segment_ids.insert(s.name.name.clone(), id);
                    segment_defs.push(s);
                }
                Item::Group(g) => {
                    let cap = g.limit.as_ref().and_then(|c| self.cap(c));
                    let id = u32::try_from(self.hgroups.len()).unwrap_or(u32::MAX);
                    self.groups.insert(g.name.name.clone(), id);
                    self.hgroups.push(HGroup {
                        name: g.name.name.clone(),
                        cap,
                    });
                }
                _ => {}
            }
        }

        // 3. Segments, then the cycles between them.
        for def in &segment_defs {
            self.segment(def);
        }
        self.segment_cycles(&segment_defs);

        // 4. Rules and tests.
        for item in files.iter().flat_map(|f| f.items.iter()) {
            match item {
                Item::Rule(r)
                    if seen_names.get(&("rule", r.name.name.as_str())) == Some(&r.name.span) =>
                {
                    self.rule(r)
                }
                Item::Test(t) => self.test(t),
                _ => {}
            }
        }
        let mut test_names: HashMap<&str, Span> = HashMap::new();
        for t in files
            .iter()
            .flat_map(|f| f.items.iter())
            .filter_map(|i| match i {
                Item::Test(t) => Some(t),
                _ => None,
            })
        {
            if let Some(first) = test_names.insert(&t.name.value, t.name.span) {
                self.error(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        t.name.span,
                        format!("test \"{}\" is defined twice", t.name.value),
                    )
                    .with_secondary(first, "first defined here"),
                );
            }
        }
    }

    fn into_model(self) -> Model {
        Model {
            schema: self.schema.unwrap_or_else(|| Schema {
                timezone: "UTC".into(),
                consents: Vec::new(),
                profile: Vec::new(),
                events: Vec::new(),
                actions: Vec::new(),
            }),
            segments: self.segments,
            groups: self.hgroups,
            rules: self.rules,
            reads: self.reads,
            active_span: self.active_span,
            uses_local_time: self.uses_local_time,
            tests: self.tests,
        }
    }

    // ----- schema -------------------------------------------------------------------------

    fn schema_block(&mut self, s: &Schema_) {
        let mut schema = Schema {
            timezone: String::new(),
            consents: Vec::new(),
            profile: Vec::new(),
            events: Vec::new(),
            actions: Vec::new(),
        };
        let mut timezone: Option<&StringLit> = None;
        let mut profile_seen: Option<Span> = None;
        let mut names: HashMap<(&str, &str), Span> = HashMap::new();
        let mut retains: Vec<(&Ident, &DurationLit)> = Vec::new();
        for entry in &s.entries {
            match entry {
                SchemaEntry::Timezone(tz) => {
                    if let Some(first) = timezone {
                        self.error(
                            Diagnostic::error(
                                codes::DUPLICATE_CLAUSE,
                                tz.span,
                                "`timezone` is given twice",
                            )
                            .with_secondary(first.span, "first given here"),
                        );
                    } else {
                        timezone = Some(tz);
                    }
                }
                SchemaEntry::Consent(list, _) => {
                    for p in list {
                        if let Some(first) = names.insert(("consent", &p.name), p.span) {
                            self.duplicate("consent purpose", p, first);
                        } else {
                            schema.consents.push(p.name.clone());
                        }
                    }
                }
                SchemaEntry::Profile(fields, span) => {
                    if let Some(first) = profile_seen {
                        self.error(
                            Diagnostic::error(
                                codes::DUPLICATE_CLAUSE,
                                *span,
                                "`profile` is declared twice",
                            )
                            .with_secondary(first, "first declared here"),
                        );
                        continue;
                    }
                    profile_seen = Some(*span);
                    schema.profile = self.fields(fields, "profile", &["id", "consents"], true);
                }
                SchemaEntry::Event { name, fields, .. } => {
                    if let Some(first) = names.insert(("event", &name.name), name.span) {
                        self.duplicate("event", name, first);
                        continue;
                    }
                    let fields = self.fields(fields, "event", &["id", "time", "type"], false);
                    schema.events.push(EventType {
                        name: name.name.clone(),
                        fields,
                        retain: None,
                    });
                }
                SchemaEntry::Action { name, params, .. } => {
                    if let Some(first) = names.insert(("action", &name.name), name.span) {
                        self.duplicate("action", name, first);
                        continue;
                    }
                    let params = self.fields(params, "action", &[], false);
                    schema.actions.push(ActionType {
                        name: name.name.clone(),
                        params,
                    });
                }
                SchemaEntry::Retain {
                    event, duration, ..
                } => retains.push((event, duration)),
            }
        }
        for (i, e) in schema.events.iter().enumerate() {
            self.events
                .insert(e.name.clone(), u32::try_from(i).unwrap_or(u32::MAX));
        }
        for (i, a) in schema.actions.iter().enumerate() {
            self.actions
                .insert(a.name.clone(), u32::try_from(i).unwrap_or(u32::MAX));
        }
        for (i, c) in schema.consents.iter().enumerate() {
            self.consents
                .insert(c.clone(), u32::try_from(i).unwrap_or(u32::MAX));
        }
        for (event, duration) in retains {
            let ms = self.duration(duration);
            match self.events.get(&event.name).copied() {
                Some(id) => {
                    if let Some(e) = schema.events.get_mut(id as usize) {
                        if e.retain.is_some() {
                            self.error(Diagnostic::error(
                                codes::DUPLICATE_CLAUSE,
                                event.span,
                                format!("`retain {}` is given twice", event.name),
                            ));
                        }
                        e.retain = Some(ms);
                    }
                }
                None => self.unknown_event_in(event, &schema),
            }
        }
        match timezone {
            None => {
                self.error(
                    Diagnostic::error(
                        codes::BAD_TIMEZONE,
                        s.span,
                        "the schema declares no `timezone`",
                    )
                    .with_help("add `timezone \"Europe/Paris\"` (an IANA name) to the schema"),
                );
                schema.timezone = "UTC".into();
            }
            Some(tz) => {
                match jiff::tz::TimeZone::get(&tz.value) {
                    Ok(zone) => {
                        self.tz = Some(zone);
                        schema.timezone = tz.value.clone();
                    }
                    Err(_) => {
                        let names: Vec<String> = time::zone_names();
                        let mut d = Diagnostic::error(
                            codes::BAD_TIMEZONE,
                            tz.span,
                            format!("unknown timezone \"{}\"", tz.value),
                        )
                        .with_label("not an IANA timezone name");
                        d.help = did_you_mean(&tz.value, names.iter().map(String::as_str))
                        .or_else(|| Some("use an IANA name such as \"Europe/Paris\" or \"America/New_York\"".into()));
                        self.error(d);
                        schema.timezone = tz.value.clone();
                    }
                }
            }
        }
        self.schema = Some(schema);
    }

    fn duplicate(&mut self, what: &str, name: &Ident, first: Span) {
        self.error(
            Diagnostic::error(
                codes::DUPLICATE_NAME,
                name.span,
                format!("{what} `{}` is declared twice", name.name),
            )
            .with_label("declared again here")
            .with_secondary(first, "first declared here"),
        );
    }

    fn fields(
        &mut self,
        decls: &[FieldDecl],
        owner: &str,
        reserved: &[&str],
        pii_allowed: bool,
    ) -> Vec<graph::Field> {
        let mut out: Vec<graph::Field> = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for d in decls {
            if reserved.contains(&d.name.name.as_str()) {
                self.error(
                    Diagnostic::error(
                        codes::RESERVED_NAME,
                        d.name.span,
                        format!(
                            "`{}` is implicit on every {owner}; it cannot be declared",
                            d.name.name
                        ),
                    )
                    .with_help("remove this field: the host supplies it"),
                );
                continue;
            }
            if let Some(first) = seen.insert(&d.name.name, d.name.span) {
                self.duplicate("field", &d.name, first);
                continue;
            }
            if d.pii && !pii_allowed {
                self.error(
                    Diagnostic::warning(
                        codes::PII_WITHOUT_CONSENT,
                        d.span,
                        format!("`pii` has no effect on {owner} fields"),
                    )
                    .with_help("mark personal data on profile fields"),
                );
            }
            out.push(graph::Field {
                name: d.name.name.clone(),
                ty: schema_type(&d.ty),
                optional: d.ty.optional,
                pii: d.pii && pii_allowed,
            });
        }
        out
    }

    fn unknown_event_in(&mut self, name: &Ident, schema: &Schema) {
        let mut d = Diagnostic::error(
            codes::UNKNOWN_EVENT,
            name.span,
            format!("unknown event `{}`", name.name),
        )
        .with_label("not declared in the schema");
        d.help = did_you_mean(&name.name, schema.events.iter().map(|e| e.name.as_str()));
        self.error(d);
    }

    fn event_id(&mut self, name: &Ident) -> Option<EventTypeId> {
        if let Some(id) = self.events.get(&name.name) {
            return Some(*id);
        }
        let schema = self.schema().clone();
        self.unknown_event_in(name, &schema);
        None
    }

    fn event_type(&self, id: EventTypeId) -> Option<&EventType> {
        self.schema().events.get(id as usize)
    }

    fn duration(&mut self, d: &DurationLit) -> Millis {
        let ms = d.millis();
        if ms <= 0 || ms > MAX_DURATION {
            self.error(
                Diagnostic::error(
                    codes::BAD_LITERAL,
                    d.span,
                    "durations must be positive and at most 100 years",
                )
                .with_label("out of range"),
            );
            return ms.clamp(1, MAX_DURATION);
        }
        ms
    }

    fn cap(&mut self, c: &CapClause) -> Option<Cap> {
        match c {
            CapClause::Once(_) => Some(Cap::Once),
            CapClause::Limit { count, per, span } => {
                let per = self.duration(per);
                match u32::try_from(*count) {
                    Ok(n) if n >= 1 => Some(Cap::Limit { count: n, per }),
                    _ => {
                        self.error(
                            Diagnostic::error(codes::BAD_LIMIT, *span, "a limit allows between 1 and 4294967295 firings")
                                .with_help("to stop a rule from firing, remove it or give it an `active` range in the past"),
                        );
                        None
                    }
                }
            }
        }
    }

    // ----- segments -----------------------------------------------------------------------

    fn segment(&mut self, def: &SegmentDef) {
        let mut scope = Scope::new(None);
        let expr = self.expr(&def.expr, &mut scope, Pos::Cond);
        self.expect_bool(&expr);
        self.segment_deps.push(scope.segments.clone());
        self.segment_pii.push(scope.pii.first().copied());
        self.segments.push(HSegment {
            name: def.name.name.clone(),
            expr,
            slots: scope.slots,
            span: def.span,
        });
    }

    fn segment_cycles(&mut self, defs: &[&SegmentDef]) {
        // Depth-first search with colours; a back edge is a cycle.
        fn visit(
            s: usize,
            deps: &[BTreeSet<SegmentId>],
            colour: &mut [u8],
            cycle: &mut Option<usize>,
        ) {
            if let Some(c) = colour.get_mut(s) {
                *c = 1;
            }
            for &d in deps.get(s).into_iter().flatten() {
                match colour.get(d as usize) {
                    Some(1) => {
                        cycle.get_or_insert(s);
                    }
                    Some(0) => visit(d as usize, deps, colour, cycle),
                    _ => {}
                }
            }
            if let Some(c) = colour.get_mut(s) {
                *c = 2;
            }
        }
        let mut colour = vec![0u8; defs.len()];
        for s in 0..defs.len() {
            let mut cycle = None;
            if colour.get(s) == Some(&0) {
                visit(s, &self.segment_deps, &mut colour, &mut cycle);
            }
            if let Some(at) = cycle
                && let Some(def) = defs.get(at)
            {
                self.error(
                    Diagnostic::error(
                        codes::SEGMENT_CYCLE,
                        def.name.span,
                        format!("segment `{}` is defined in terms of itself", def.name.name),
                    )
                    .with_help("segments may use other segments, but not in a circle"),
                );
            }
        }
    }

    /// Segments used directly or through other segments.
    fn segment_closure(&self, direct: &BTreeSet<SegmentId>) -> BTreeSet<SegmentId> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<SegmentId> = direct.iter().copied().collect();
        while let Some(s) = todo.pop() {
            if out.insert(s) {
                todo.extend(self.segment_deps.get(s as usize).into_iter().flatten());
            }
        }
        out
    }

    // ----- rules --------------------------------------------------------------------------

    fn rule(&mut self, r: &RuleDef) {
        let on: Vec<EventTypeId> = match &r.on {
            None => {
                self.error(
                    Diagnostic::error(
                        codes::MISSING_ON,
                        r.name.span,
                        format!("rule `{}` has no `on` clause", r.name.name),
                    )
                    .with_help("say which events trigger it, e.g. `on page_view`"),
                );
                Vec::new()
            }
            Some((events, _)) => {
                let mut ids = Vec::new();
                for e in events {
                    if let Some(id) = self.event_id(e) {
                        if ids.contains(&id) {
                            self.error(Diagnostic::error(
                                codes::DUPLICATE_NAME,
                                e.span,
                                format!("event `{}` is listed twice", e.name),
                            ));
                        } else {
                            ids.push(id);
                        }
                    }
                }
                ids
            }
        };
        let mut consents = Vec::new();
        if let Some((list, _)) = &r.consent {
            for p in list {
                match self.consents.get(&p.name) {
                    Some(id) => consents.push(*id),
                    None => {
                        let mut d = Diagnostic::error(
                            codes::UNKNOWN_CONSENT,
                            p.span,
                            format!("unknown consent purpose `{}`", p.name),
                        )
                        .with_label("not declared in the schema's `consent` line");
                        d.help = did_you_mean(&p.name, ident_names(&self.schema().consents))
                            .or_else(|| {
                                Some(format!("declare it: `consent {}` in the schema", p.name))
                            });
                        self.error(d);
                    }
                }
            }
        }
        let mut scope = Scope::new(Some(on.clone()));
        let when = r.when.as_ref().map(|w| {
            let h = self.expr(w, &mut scope, Pos::Cond);
            self.expect_bool(&h);
            h
        });
        let outcome = match &r.action {
            None => {
                self.error(
                    Diagnostic::error(
                        codes::MISSING_DO,
                        r.name.span,
                        format!("rule `{}` has no `do` clause", r.name.name),
                    )
                    .with_help(
                        "say what it decides, e.g. `do banner { slot: \"hero\", text: \"Hello\" }`",
                    ),
                );
                HOutcome::Actions(Vec::new())
            }
            Some(DoClause::Actions(calls, _)) => HOutcome::Actions(
                calls
                    .iter()
                    .filter_map(|c| self.action_call(c, &mut scope))
                    .collect(),
            ),
            Some(DoClause::Split {
                name,
                unit,
                arms,
                span,
            }) => self.split(name, unit, arms, *span, &mut scope),
        };
        let goals = self.goals(r, &mut scope);
        let cap = r.cap.as_ref().and_then(|c| self.cap(c));
        let group = r
            .group
            .as_ref()
            .and_then(|g| match self.groups.get(&g.name) {
                Some(id) => Some(*id),
                None => {
                    let names: Vec<String> = self.hgroups.iter().map(|g| g.name.clone()).collect();
                    let mut d = Diagnostic::error(
                        codes::UNKNOWN_GROUP,
                        g.span,
                        format!("unknown group `{}`", g.name),
                    );
                    d.help = did_you_mean(&g.name, ident_names(&names))
                        .or_else(|| Some(format!("declare it: `group {}`", g.name)));
                    self.error(d);
                    None
                }
            });
        let schedule = self.schedule(r);

        // Privacy: reading personal data needs a consent clause.
        let segments = self.segment_closure(&scope.segments);
        let pii = scope.pii.first().copied().or_else(|| {
            segments
                .iter()
                .find_map(|s| self.segment_pii.get(*s as usize).copied().flatten())
        });
        if let Some(at) = pii
            && consents.is_empty()
            && r.consent.is_none()
        {
            self.error(
                Diagnostic::error(
                    codes::PII_WITHOUT_CONSENT,
                    at,
                    format!(
                        "rule `{}` reads personal data but declares no `consent`",
                        r.name.name
                    ),
                )
                .with_label("a `pii` field")
                .with_secondary(r.name.span, "in this rule")
                .with_help(match self.schema().consents.first() {
                    Some(p) => format!(
                        "add `consent {p}` (or the purpose that covers this use) to the rule"
                    ),
                    None => {
                        "declare a consent purpose in the schema and require it in the rule".into()
                    }
                }),
            );
        }

        self.rules.push(HRule {
            name: r.name.name.clone(),
            title: r.title.as_ref().map(|t| t.value.clone()),
            on,
            consents,
            when,
            outcome,
            cap,
            priority: r.priority.map_or(0, |(p, _)| p),
            group,
            schedule,
            slots: scope.slots,
            goals,
            segments,
            span: r.span,
        });
    }

    /// A rule's `goal` clauses: event, window, value field, the one primary goal, and the
    /// `where` checked in the rule's scope (its bound names, `event`, `profile`) with the goal
    /// event named by the goal's name, then split into captures and filter.
    fn goals(&mut self, r: &RuleDef, scope: &mut Scope) -> Vec<HGoal> {
        let mut out = Vec::new();
        let mut names: Vec<&Ident> = Vec::new();
        for g in &r.goals {
            let name = g.name();
            if let Some(first) = names.iter().find(|n| n.name == name.name) {
                self.error(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        name.span,
                        format!("rule `{}` has two goals named `{}`", r.name.name, name.name),
                    )
                    .with_secondary(first.span, "first goal of this name")
                    .with_help("name one of them: `goal purchase as big_purchase within ...`"),
                );
                continue;
            }
            names.push(name);
            if let Some(goal) = self.goal(g, scope) {
                out.push(goal);
            }
        }
        match r.goals.iter().filter(|g| g.primary.is_some()).count() {
            0 if r.goals.len() > 1 => {
                let mut d = Diagnostic::error(
                    codes::GOAL_PRIMARY,
                    r.name.span,
                    format!(
                        "rule `{}` has {} goals but none is `primary`",
                        r.name.name,
                        r.goals.len()
                    ),
                )
                .with_help(
                    "mark the goal the rule is judged by: `goal purchase within 7d primary`",
                );
                for g in &r.goals {
                    d = d.with_secondary(g.span, "a goal");
                }
                self.error(d);
            }
            0 | 1 => {}
            _ => {
                let mut spans = r.goals.iter().filter_map(|g| g.primary);
                let first = spans.next();
                if let (Some(first), Some(second)) = (first, spans.next()) {
                    self.error(
                        Diagnostic::error(
                            codes::GOAL_PRIMARY,
                            second,
                            format!("rule `{}` has more than one primary goal", r.name.name),
                        )
                        .with_label("a second `primary`")
                        .with_secondary(first, "the first")
                        .with_help(
                            "a rule is judged by one goal; the others are reported beside it",
                        ),
                    );
                }
            }
        }
        if out.len() == 1
            && let Some(only) = out.first_mut()
        {
            only.primary = true;
        }
        out
    }

    fn goal(&mut self, g: &GoalClause, sc: &mut Scope) -> Option<HGoal> {
        let ev = self.event_id(&g.event)?;
        let within = match &g.within {
            Some(d) => self.duration(d),
            None => {
                self.error(
                    Diagnostic::error(
                        codes::GOAL_WITHOUT_WINDOW,
                        g.span,
                        format!("goal `{}` has no window", g.name().name),
                    )
                    .with_label("a conversion must follow its exposure within a bounded time")
                    .with_help(format!(
                        "say how long after the offer it counts: `goal {} within 7d`",
                        g.event.name
                    )),
                );
                return None;
            }
        };
        let et = self.event_type(ev).cloned()?;
        let value = match &g.value {
            None => None,
            Some(f) => match et.fields.iter().find(|x| x.name == f.name) {
                Some(x) if x.ty == omnirule_engine::graph::Type::Number => Some(x.name.clone()),
                Some(x) => {
                    self.error(
                        Diagnostic::error(
                            codes::GOAL_VALUE,
                            f.span,
                            format!(
                                "`value {}`: the field is a {}, not a number",
                                f.name,
                                Ty::from_schema(&x.ty)
                            ),
                        )
                        .with_label("a conversion's value is a number (revenue)")
                        .with_help("name a number field of the goal event, such as its amount"),
                    );
                    None
                }
                None => {
                    self.unknown_field(f, &et.name, et.fields.iter().map(|x| x.name.as_str()));
                    None
                }
            },
        };
        let filter = g.filter.as_ref().map(|w| {
            sc.candidates.push(Binding {
                name: g.name().name.clone(),
                slot: GOAL_SLOT,
                event: ev,
                window: within,
            });
            let h = self.expr(w, sc, Pos::Value);
            sc.candidates.pop();
            self.expect_bool(&h);
            h
        });
        let mut captures = Vec::new();
        let filter = filter.map(|f| self.split_goal(f, &mut captures));
        if captures.len() > omnirule_engine::graph::MAX_GOAL_CAPTURES {
            self.error(Diagnostic::error(
                codes::GOAL_FILTER,
                g.span,
                format!(
                    "goal `{}` keeps {} values from the exposure (at most {})",
                    g.name().name,
                    captures.len(),
                    omnirule_engine::graph::MAX_GOAL_CAPTURES
                ),
            ));
        }
        Some(HGoal {
            name: g.name().name.clone(),
            event: ev,
            within,
            primary: g.primary.is_some(),
            value,
            captures,
            filter,
        })
    }

    /// Splits a goal's checked `where`: each largest part that does not mention the goal
    /// event is read when the rule fires and kept with the exposure (a capture); the goal
    /// event's fields become the current event's (the goal event is the event being
    /// evaluated when the goal is met).
    fn split_goal(&mut self, e: HExpr, captures: &mut Vec<HExpr>) -> HExpr {
        if !mentions_goal(&e) {
            if matches!(e.kind, HKind::Lit(_) | HKind::Error) {
                return e;
            }
            if let Ty::Event(_) = e.ty {
                self.error(
                    Diagnostic::error(
                        codes::GOAL_FILTER,
                        e.span,
                        "a goal cannot keep an event until the conversion",
                    )
                    .with_label("an event")
                    .with_help("compare one of its fields, e.g. `v.sku`"),
                );
                return e;
            }
            let i = u16::try_from(captures.len()).unwrap_or(u16::MAX);
            let (ty, span) = (e.ty.clone(), e.span);
            captures.push(e);
            return HExpr {
                kind: HKind::Captured(i),
                ty,
                span,
            };
        }
        let HExpr { kind, ty, span } = e;
        let b = |x: Box<HExpr>, me: &mut Self, c: &mut Vec<HExpr>| Box::new(me.split_goal(*x, c));
        let kind = match kind {
            HKind::Field(base, name) if is_goal(&base) => HKind::EventField(name),
            HKind::FieldMeta(base, meta) if is_goal(&base) => HKind::EventMeta(meta),
            HKind::Bound(_) => {
                self.error(
                    Diagnostic::error(
                        codes::GOAL_FILTER,
                        span,
                        "the goal event is used as a whole here",
                    )
                    .with_label("the goal event")
                    .with_help("compare its fields, e.g. `purchase.sku == v.sku`"),
                );
                HKind::Error
            }
            HKind::History(_) => {
                self.error(
                    Diagnostic::error(
                        codes::GOAL_FILTER,
                        span,
                        "a goal's `where` cannot query history about the goal event",
                    )
                    .with_label("history that reads the goal event")
                    .with_help("compare the goal event's fields with values from the rule"),
                );
                HKind::Error
            }
            HKind::Field(x, name) => HKind::Field(b(x, self, captures), name),
            HKind::FieldMeta(x, meta) => HKind::FieldMeta(b(x, self, captures), meta),
            HKind::Neg(x) => HKind::Neg(b(x, self, captures)),
            HKind::Not(x) => HKind::Not(b(x, self, captures)),
            HKind::Present(x) => HKind::Present(b(x, self, captures)),
            HKind::Missing(x) => HKind::Missing(b(x, self, captures)),
            HKind::And(x, y) => HKind::And(b(x, self, captures), b(y, self, captures)),
            HKind::Or(x, y) => HKind::Or(b(x, self, captures), b(y, self, captures)),
            HKind::Cmp(op, x, y) => HKind::Cmp(op, b(x, self, captures), b(y, self, captures)),
            HKind::Arith(op, x, y) => HKind::Arith(op, b(x, self, captures), b(y, self, captures)),
            HKind::Coalesce(x, y) => HKind::Coalesce(b(x, self, captures), b(y, self, captures)),
            HKind::In(x, y) => HKind::In(b(x, self, captures), b(y, self, captures)),
            HKind::Call(f, args) => HKind::Call(
                f,
                args.into_iter()
                    .map(|a| self.split_goal(a, captures))
                    .collect(),
            ),
            HKind::List(items) => HKind::List(
                items
                    .into_iter()
                    .map(|a| self.split_goal(a, captures))
                    .collect(),
            ),
            HKind::Interp(pieces) => HKind::Interp(
                pieces
                    .into_iter()
                    .map(|p| match p {
                        HPiece::Value(v) => HPiece::Value(self.split_goal(v, captures)),
                        text => text,
                    })
                    .collect(),
            ),
            other => other,
        };
        HExpr { kind, ty, span }
    }

    fn schedule(&mut self, r: &RuleDef) -> Schedule {
        let mut s = Schedule::default();
        if let Some((from, to, span)) = &r.active {
            let (a, b) = (time::days_from_date(from), time::days_from_date(to));
            if a > b {
                self.error(
                    Diagnostic::error(
                        codes::EMPTY_ACTIVE,
                        *span,
                        "this `active` range ends before it starts",
                    )
                    .with_help("write the earlier date first: `active FROM .. TO`"),
                );
            }
            s.active = Some((a, b));
            self.active_span = Some(match self.active_span {
                None => (a, b),
                Some((x, y)) => (x.min(a), y.max(b)),
            });
            self.uses_local_time = true;
        }
        if let Some((from, to, span)) = &r.hours {
            let a = u16::from(from.hour) * 60 + u16::from(from.minute);
            let b = u16::from(to.hour) * 60 + u16::from(to.minute);
            if a >= 1440 {
                self.error(Diagnostic::error(
                    codes::BAD_LITERAL,
                    from.span,
                    "`hours` cannot start at 24:00",
                ));
            } else if a == b % 1440 && !(a == 0 && b == 1440) {
                self.error(
                    Diagnostic::error(codes::EMPTY_HOURS, *span, "this `hours` range is empty")
                        .with_label("starts and ends at the same time")
                        .with_help("hours include the start and exclude the end; for all day, drop the clause"),
                );
            }
            // `00:00 .. 24:00` is the whole day: no restriction at all.
            s.hours = (!(a == 0 && b == 1440)).then_some((a, b % 1440));
            self.uses_local_time = true;
        }
        if let Some((specs, _)) = &r.days {
            let mut mask = 0u8;
            for d in specs {
                let from = d.from.index();
                let to = d.to.map_or(from, Weekday::index);
                let mut i = from;
                loop {
                    mask |= 1 << i;
                    if i == to {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            s.days = Some(mask);
            self.uses_local_time = true;
        }
        s
    }

    fn action_call(&mut self, call: &ActionCall, scope: &mut Scope) -> Option<HAction> {
        let Some(&id) = self.actions.get(&call.action.name) else {
            let mut d = Diagnostic::error(
                codes::UNKNOWN_ACTION,
                call.action.span,
                format!("unknown action `{}`", call.action.name),
            )
            .with_label("not declared in the schema");
            d.help = did_you_mean(
                &call.action.name,
                self.schema().actions.iter().map(|a| a.name.as_str()),
            );
            self.error(d);
            // Still check the params' expressions for errors of their own.
            for p in &call.params {
                self.expr(&p.value, scope, Pos::Value);
            }
            return None;
        };
        let decl = self.schema().actions.get(id as usize)?.clone();
        let mut given: HashMap<&str, (Span, HExpr)> = HashMap::new();
        for p in &call.params {
            let value = self.expr(&p.value, scope, Pos::Value);
            let Some(field) = decl.params.iter().find(|f| f.name == p.name.name) else {
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_PARAM,
                    p.name.span,
                    format!("action `{}` has no param `{}`", decl.name, p.name.name),
                );
                d.help = did_you_mean(&p.name.name, decl.params.iter().map(|f| f.name.as_str()))
                    .or_else(|| Some(format!("its params are: {}", param_list(&decl))));
                self.error(d);
                continue;
            };
            let want = Ty::from_schema(&field.ty);
            if !value.ty.fits(&want) {
                self.error(
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        p.value.span,
                        format!(
                            "param `{}` of `{}` is a {want}, but this is a {}",
                            field.name, decl.name, value.ty
                        ),
                    )
                    .with_label(format!("expected {want}")),
                );
            }
            if let Some((first, _)) = given.insert(&p.name.name, (p.name.span, value)) {
                self.error(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        p.name.span,
                        format!("param `{}` is given twice", p.name.name),
                    )
                    .with_secondary(first, "first given here"),
                );
            }
        }
        let mut params = Vec::new();
        for f in &decl.params {
            match given.remove(f.name.as_str()) {
                Some((_, v)) => params.push((f.name.clone(), v)),
                None if !f.optional => self.error(
                    Diagnostic::error(
                        codes::MISSING_PARAM,
                        call.action.span,
                        format!("action `{}` needs param `{}`", decl.name, f.name),
                    )
                    .with_label(format!("`{}` is missing", f.name))
                    .with_help(format!(
                        "add `{}: ...` ({}{})",
                        f.name,
                        Ty::from_schema(&f.ty),
                        if f.optional { "?" } else { "" }
                    )),
                ),
                None => {}
            }
        }
        Some(HAction { action: id, params })
    }

    fn split(
        &mut self,
        name: &Ident,
        unit: &Expr,
        arms: &[SplitArm],
        span: Span,
        scope: &mut Scope,
    ) -> HOutcome {
        let unit_h = self.expr(unit, scope, Pos::Value);
        if !matches!(unit_h.ty, Ty::String | Ty::Number | Ty::Error) {
            self.error(
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    unit.span,
                    format!(
                        "a split unit must be a string or a number, not a {}",
                        unit_h.ty
                    ),
                )
                .with_help("split by a stable customer key, e.g. `by profile.id`"),
            );
        }
        let mut total: u64 = 0;
        let mut out = Vec::new();
        let mut variants: HashMap<&str, Span> = HashMap::new();
        for arm in arms {
            let bp = arm.percent * 100.0;
            if !(0.0..=10_000.0).contains(&bp) || (bp - bp.round()).abs() > 1e-9 {
                self.error(
                    Diagnostic::error(
                        codes::SPLIT_SUM,
                        arm.span,
                        "a split share is a percentage with at most two decimals",
                    )
                    .with_label("not a valid share"),
                );
            }
            let bp = bp.round().clamp(0.0, 10_000.0) as u32;
            total += u64::from(bp);
            if let Some(v) = &arm.variant
                && let Some(first) = variants.insert(&v.value, v.span)
            {
                self.error(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        v.span,
                        format!("variant \"{}\" appears twice", v.value),
                    )
                    .with_secondary(first, "first here"),
                );
            }
            let actions = arm
                .actions
                .iter()
                .filter_map(|c| self.action_call(c, scope))
                .collect();
            out.push(HArm {
                basis_points: bp,
                variant: arm.variant.as_ref().map(|v| v.value.clone()),
                actions,
            });
        }
        if total != 10_000 {
            self.error(
                Diagnostic::error(
                    codes::SPLIT_SUM,
                    span,
                    format!(
                        "the shares of split `{}` sum to {}%, not 100%",
                        name.name,
                        fmt_percent(total)
                    ),
                )
                .with_help("adjust the percentages so they add up to exactly 100%"),
            );
        }
        HOutcome::Split {
            name: name.name.clone(),
            unit: unit_h,
            arms: out,
        }
    }

    fn expect_bool(&mut self, e: &HExpr) {
        if !e.ty.fits(&Ty::Bool) {
            self.error(
                Diagnostic::error(
                    codes::NOT_BOOLEAN,
                    e.span,
                    format!("a condition must be true or false, but this is a {}", e.ty),
                )
                .with_label("not a condition")
                .with_help("compare it: `x == ...`, `x > ...`, or test `x is present`"),
            );
        }
    }

    // ----- expressions --------------------------------------------------------------------

    fn lit(&self, l: Literal, ty: Ty, span: Span) -> HExpr {
        HExpr {
            kind: HKind::Lit(l),
            ty,
            span,
        }
    }

    fn err(span: Span) -> HExpr {
        HExpr {
            kind: HKind::Error,
            ty: Ty::Error,
            span,
        }
    }

    fn expr(&mut self, e: &Expr, sc: &mut Scope, pos: Pos) -> HExpr {
        let span = e.span;
        match &e.kind {
            ExprKind::Number(n) => self.lit(Literal::Number(*n), Ty::Number, span),
            ExprKind::Bool(b) => self.lit(Literal::Bool(*b), Ty::Bool, span),
            ExprKind::Duration(d) => {
                let ms = self.duration(d);
                self.lit(Literal::Duration(ms), Ty::Duration, span)
            }
            ExprKind::Date(d) => {
                let ms = time::local_midnight(self.tz.as_ref(), d);
                self.lit(Literal::Time(ms), Ty::Time, span)
            }
            ExprKind::Instant(i) => self.lit(Literal::Time(i.millis), Ty::Time, span),
            ExprKind::Now => HExpr {
                kind: HKind::Now,
                ty: Ty::Time,
                span,
            },
            ExprKind::Str(parts) => self.string(parts, sc, span),
            ExprKind::List(items) => self.list(items, sc, span),
            ExprKind::Path(idents) => self.path(idents, sc, span),
            ExprKind::Neg(x) => {
                let h = self.expr(x, sc, Pos::Value);
                if !matches!(h.ty, Ty::Number | Ty::Duration | Ty::Error) {
                    self.mismatch(x.span, "`-` needs a number or a duration", &h.ty);
                }
                if let HKind::Lit(Literal::Number(n)) = h.kind {
                    return self.lit(Literal::Number(-n), Ty::Number, span);
                }
                let ty = h.ty.clone();
                HExpr {
                    kind: HKind::Neg(Box::new(h)),
                    ty,
                    span,
                }
            }
            ExprKind::Not(x) => {
                let mark = sc.bindings.len();
                let h = self.expr(x, sc, pos);
                sc.bindings.truncate(mark);
                self.expect_bool(&h);
                HExpr {
                    kind: HKind::Not(Box::new(h)),
                    ty: Ty::Bool,
                    span,
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, sc, pos, span),
            ExprKind::IsPresent(x) | ExprKind::IsMissing(x) => {
                let h = Box::new(self.expr(x, sc, Pos::Value));
                let kind = if matches!(e.kind, ExprKind::IsPresent(_)) {
                    HKind::Present(h)
                } else {
                    HKind::Missing(h)
                };
                HExpr {
                    kind,
                    ty: Ty::Bool,
                    span,
                }
            }
            ExprKind::Call(name, args) => self.call(name, args, sc, span),
            ExprKind::History(h) => self.history(h, sc, pos, span),
        }
    }

    fn mismatch(&mut self, span: Span, what: &str, got: &Ty) {
        self.error(
            Diagnostic::error(
                codes::TYPE_MISMATCH,
                span,
                format!("{what}, but this is a {got}"),
            )
            .with_label(format!("{got}")),
        );
    }

    fn string(&mut self, parts: &[StrPart], sc: &mut Scope, span: Span) -> HExpr {
        if parts.iter().all(|p| matches!(p, StrPart::Text(_))) {
            let text: String = parts
                .iter()
                .filter_map(|p| match p {
                    StrPart::Text(t) => Some(t.as_str()),
                    StrPart::Interp(_) => None,
                })
                .collect();
            return self.lit(Literal::String(text), Ty::String, span);
        }
        let mut pieces = Vec::new();
        for p in parts {
            match p {
                StrPart::Text(t) => pieces.push(HPiece::Text(t.clone())),
                StrPart::Interp(x) => {
                    let h = self.expr(x, sc, Pos::Value);
                    if !matches!(
                        h.ty,
                        Ty::String | Ty::Number | Ty::Bool | Ty::Duration | Ty::Time | Ty::Error
                    ) {
                        self.mismatch(x.span, "only strings, numbers, booleans, durations and times can be interpolated", &h.ty);
                    }
                    pieces.push(HPiece::Value(h));
                }
            }
        }
        HExpr {
            kind: HKind::Interp(pieces),
            ty: Ty::String,
            span,
        }
    }

    fn list(&mut self, items: &[Expr], sc: &mut Scope, span: Span) -> HExpr {
        let hs: Vec<HExpr> = items.iter().map(|i| self.expr(i, sc, Pos::Value)).collect();
        let elem = hs.iter().map(|h| h.ty.clone()).find(|t| *t != Ty::Error);
        if let Some(elem) = &elem {
            if matches!(elem, Ty::Event(_) | Ty::List(_) | Ty::Set(_) | Ty::Empty) {
                self.mismatch(
                    span,
                    "list elements must be strings, numbers, booleans, durations or times",
                    elem,
                );
            }
            for h in &hs {
                if !h.ty.fits(elem) {
                    self.error(
                        Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            h.span,
                            format!("all elements of a list have one type: this is a {}, the first is a {elem}", h.ty),
                        )
                        .with_label(format!("expected {elem}")),
                    );
                }
            }
        }
        let ty = elem.map_or(Ty::Empty, |t| Ty::List(Box::new(t)));
        let lits: Option<Vec<Literal>> = hs
            .iter()
            .map(|h| match &h.kind {
                HKind::Lit(l) => Some(l.clone()),
                _ => None,
            })
            .collect();
        match lits {
            Some(l) => self.lit(Literal::List(l), ty, span),
            None => HExpr {
                kind: HKind::List(hs),
                ty,
                span,
            },
        }
    }

    fn path(&mut self, idents: &[Ident], sc: &mut Scope, span: Span) -> HExpr {
        let Some(first) = idents.first() else {
            return Self::err(span);
        };
        let rest = idents.get(1..).unwrap_or(&[]);
        match first.name.as_str() {
            "event" => self.event_path(first, rest, sc, span),
            "profile" => self.profile_path(first, rest, sc, span),
            name => {
                if let Some(b) = sc.lookup(name).cloned() {
                    let base = HExpr {
                        kind: HKind::Bound(b.slot),
                        ty: Ty::Event(b.event),
                        span: first.span,
                    };
                    return self.member(base, rest, span);
                }
                if let Some(&id) = self.segment_ids.get(name) {
                    if let Some(extra) = rest.first() {
                        self.error(Diagnostic::error(
                            codes::UNKNOWN_FIELD,
                            extra.span,
                            format!("segment `{name}` is a condition; it has no fields"),
                        ));
                    }
                    sc.segments.insert(id);
                    return HExpr {
                        kind: HKind::Segment(id),
                        ty: Ty::Bool,
                        span,
                    };
                }
                let mut visible: Vec<String> = sc
                    .bindings
                    .iter()
                    .chain(sc.candidates.iter())
                    .map(|b| b.name.clone())
                    .collect();
                visible.extend(self.segment_ids.keys().cloned());
                visible.extend(["event", "profile", "now"].map(String::from));
                // A near-miss of a segment name is most likely a misspelt segment.
                let segment_hint = did_you_mean(name, self.segment_ids.keys().map(String::as_str));
                let mut d = match segment_hint {
                    Some(_) if idents.len() == 1 => Diagnostic::error(
                        codes::UNKNOWN_SEGMENT,
                        first.span,
                        format!("unknown segment `{name}`"),
                    )
                    .with_label("no segment of this name"),
                    _ => Diagnostic::error(
                        codes::UNKNOWN_NAME,
                        first.span,
                        format!("unknown name `{name}`"),
                    )
                    .with_label("not a segment, a bound name or `event`/`profile`"),
                };
                d.help = did_you_mean(name, ident_names(&visible));
                if d.help.is_none() && self.events.contains_key(name) {
                    d.help = Some(format!(
                        "an event is named by its type only inside a `where`; elsewhere bind it: `seen {name} as x`"
                    ));
                }
                self.error(d);
                Self::err(span)
            }
        }
    }

    /// `.field` accesses on an event-valued expression.
    fn member(&mut self, base: HExpr, rest: &[Ident], span: Span) -> HExpr {
        let Some(field) = rest.first() else {
            return base;
        };
        if let Some(extra) = rest.get(1) {
            self.error(Diagnostic::error(
                codes::UNKNOWN_FIELD,
                extra.span,
                format!("`{}` is not an event; it has no fields", field.name),
            ));
            return Self::err(span);
        }
        let Ty::Event(ev) = base.ty else {
            return Self::err(span);
        };
        let meta = event_meta(&field.name);
        if let Some((meta, ty)) = meta {
            return HExpr {
                kind: HKind::FieldMeta(Box::new(base), meta),
                ty,
                span,
            };
        }
        let Some(et) = self.event_type(ev).cloned() else {
            return Self::err(span);
        };
        match et.fields.iter().find(|f| f.name == field.name) {
            Some(f) => {
                if let Some(r) = self.reads.get_mut(ev as usize) {
                    r.insert(f.name.clone());
                }
                HExpr {
                    kind: HKind::Field(Box::new(base), f.name.clone()),
                    ty: Ty::from_schema(&f.ty),
                    span,
                }
            }
            None => {
                self.unknown_field(
                    field,
                    &et.name,
                    et.fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .chain(["id", "time"]),
                );
                Self::err(span)
            }
        }
    }

    fn unknown_field<'a>(
        &mut self,
        field: &Ident,
        owner: &str,
        names: impl IntoIterator<Item = &'a str>,
    ) {
        let names: Vec<&str> = names.into_iter().collect();
        let mut d = Diagnostic::error(
            codes::UNKNOWN_FIELD,
            field.span,
            format!("`{owner}` has no field `{}`", field.name),
        )
        .with_label("unknown field");
        d.help = did_you_mean(&field.name, names.iter().copied())
            .or_else(|| Some(format!("its fields are: {}", names.join(", "))));
        self.error(d);
    }

    fn event_path(&mut self, first: &Ident, rest: &[Ident], sc: &mut Scope, span: Span) -> HExpr {
        let Some(on) = sc.on.clone() else {
            self.error(
                Diagnostic::error(
                    codes::UNKNOWN_NAME,
                    first.span,
                    "a segment cannot read `event`",
                )
                .with_help("segments hold for any event; read the event in the rule's `when`"),
            );
            return Self::err(span);
        };
        let Some(field) = self.one_field("event", first, rest) else {
            return Self::err(span);
        };
        let meta = event_meta(&field.name);
        if let Some((m, ty)) = meta {
            return HExpr {
                kind: HKind::EventMeta(m),
                ty,
                span,
            };
        }
        let mut ty: Option<Ty> = None;
        for ev in &on {
            let Some(et) = self.event_type(*ev).cloned() else {
                continue;
            };
            match et.fields.iter().find(|f| f.name == field.name) {
                None => {
                    self.unknown_field(
                        field,
                        &et.name,
                        et.fields
                            .iter()
                            .map(|f| f.name.as_str())
                            .chain(["id", "time"]),
                    );
                    return Self::err(span);
                }
                Some(f) => {
                    let t = Ty::from_schema(&f.ty);
                    if let Some(prev) = &ty
                        && *prev != t
                    {
                        self.error(Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            field.span,
                            format!(
                                "`{}` has different types on the rule's events ({prev} and {t})",
                                field.name
                            ),
                        ));
                        return Self::err(span);
                    }
                    ty = Some(t);
                }
            }
        }
        HExpr {
            kind: HKind::EventField(field.name.clone()),
            ty: ty.unwrap_or(Ty::Error),
            span,
        }
    }

    /// The one field of `event.NAME` or `profile.NAME`; a missing or an extra one is reported.
    fn one_field<'i>(&mut self, what: &str, first: &Ident, rest: &'i [Ident]) -> Option<&'i Ident> {
        let Some(field) = rest.first() else {
            self.error(Diagnostic::error(
                codes::UNKNOWN_FIELD,
                first.span,
                format!("`{what}` needs a field: `{what}.NAME`"),
            ));
            return None;
        };
        if let Some(extra) = rest.get(1) {
            self.error(Diagnostic::error(
                codes::UNKNOWN_FIELD,
                extra.span,
                format!("`{what}.{}` has no fields", field.name),
            ));
            return None;
        }
        Some(field)
    }

    fn profile_path(&mut self, first: &Ident, rest: &[Ident], sc: &mut Scope, span: Span) -> HExpr {
        let Some(field) = self.one_field("profile", first, rest) else {
            return Self::err(span);
        };
        let ty = match field.name.as_str() {
            "id" => Ty::String,
            "consents" => Ty::Set(Box::new(Ty::String)),
            name => match self.schema().profile.iter().find(|f| f.name == name) {
                Some(f) => {
                    if f.pii {
                        sc.pii.push(span);
                    }
                    Ty::from_schema(&f.ty)
                }
                None => {
                    let names: Vec<String> = self
                        .schema()
                        .profile
                        .iter()
                        .map(|f| f.name.clone())
                        .chain(["id".to_string(), "consents".to_string()])
                        .collect();
                    self.unknown_field(field, "profile", ident_names(&names));
                    return Self::err(span);
                }
            },
        };
        HExpr {
            kind: HKind::Profile(field.name.clone()),
            ty,
            span,
        }
    }

    fn binary(
        &mut self,
        op: BinOp,
        a: &Expr,
        b: &Expr,
        sc: &mut Scope,
        pos: Pos,
        span: Span,
    ) -> HExpr {
        match op {
            BinOp::And => {
                // Bindings made on the left are visible on the right (and after, in `do`).
                let ha = self.expr(a, sc, pos);
                let hb = self.expr(b, sc, pos);
                self.expect_bool(&ha);
                self.expect_bool(&hb);
                HExpr {
                    kind: HKind::And(Box::new(ha), Box::new(hb)),
                    ty: Ty::Bool,
                    span,
                }
            }
            BinOp::Or => {
                // Each branch binds for itself; nothing escapes an `or`.
                let mark = sc.bindings.len();
                let ha = self.expr(a, sc, pos);
                sc.bindings.truncate(mark);
                let hb = self.expr(b, sc, pos);
                sc.bindings.truncate(mark);
                self.expect_bool(&ha);
                self.expect_bool(&hb);
                HExpr {
                    kind: HKind::Or(Box::new(ha), Box::new(hb)),
                    ty: Ty::Bool,
                    span,
                }
            }
            _ => {
                let ha = self.expr(a, sc, Pos::Value);
                let hb = self.expr(b, sc, Pos::Value);
                self.typed_binary(op, ha, hb, span)
            }
        }
    }

    fn typed_binary(&mut self, op: BinOp, a: HExpr, b: HExpr, span: Span) -> HExpr {
        let (ta, tb) = (a.ty.clone(), b.ty.clone());
        let either_error = ta == Ty::Error || tb == Ty::Error;
        let (kind_ty, ok): (Ty, bool) = match op {
            BinOp::Eq | BinOp::Ne => (Ty::Bool, ta.fits(&tb) || tb.fits(&ta)),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => (
                Ty::Bool,
                either_error
                    || (ta == tb
                        && matches!(ta, Ty::Number | Ty::String | Ty::Time | Ty::Duration)),
            ),
            BinOp::In => (
                Ty::Bool,
                either_error || tb == Ty::Empty || tb.element().is_some_and(|e| ta.fits(e)),
            ),
            BinOp::Coalesce => (
                if ta == Ty::Error || ta == Ty::Empty {
                    tb.clone()
                } else {
                    ta.clone()
                },
                ta.fits(&tb) || tb.fits(&ta),
            ),
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => match arith_type(op, &ta, &tb) {
                Some(t) => (t, true),
                None => (Ty::Error, either_error),
            },
            BinOp::And | BinOp::Or => (Ty::Bool, true),
        };
        if !ok {
            let help = match op {
                BinOp::In if ta == Ty::String && tb == Ty::String => {
                    Some("for text inside text, use `contains(a, b)`".to_string())
                }
                BinOp::Add if ta == Ty::String || tb == Ty::String => {
                    Some("join text with interpolation: \"{a}{b}\"".to_string())
                }
                _ => None,
            };
            let mut d = Diagnostic::error(
                codes::TYPE_MISMATCH,
                span,
                format!("`{}` cannot combine a {ta} and a {tb}", op.symbol()),
            )
            .with_label(format!("{ta} {} {tb}", op.symbol()));
            d.help = help;
            self.error(d);
        }
        let (a, b) = (Box::new(a), Box::new(b));
        let kind = match op {
            BinOp::Eq => HKind::Cmp(CmpOp::Eq, a, b),
            BinOp::Ne => HKind::Cmp(CmpOp::Ne, a, b),
            BinOp::Lt => HKind::Cmp(CmpOp::Lt, a, b),
            BinOp::Le => HKind::Cmp(CmpOp::Le, a, b),
            BinOp::Gt => HKind::Cmp(CmpOp::Gt, a, b),
            BinOp::Ge => HKind::Cmp(CmpOp::Ge, a, b),
            BinOp::In => HKind::In(a, b),
            BinOp::Coalesce => HKind::Coalesce(a, b),
            BinOp::Add => HKind::Arith(ArithOp::Add, a, b),
            BinOp::Sub => HKind::Arith(ArithOp::Sub, a, b),
            BinOp::Mul => HKind::Arith(ArithOp::Mul, a, b),
            BinOp::Div => HKind::Arith(ArithOp::Div, a, b),
            BinOp::And => HKind::And(a, b),
            BinOp::Or => HKind::Or(a, b),
        };
        HExpr {
            kind,
            ty: if ok { kind_ty } else { Ty::Error },
            span,
        }
    }

    fn call(&mut self, name: &Ident, args: &[Expr], sc: &mut Scope, span: Span) -> HExpr {
        let hs: Vec<HExpr> = args.iter().map(|a| self.expr(a, sc, Pos::Value)).collect();
        let func = match name.name.as_str() {
            "lower" => Func::Lower,
            "upper" => Func::Upper,
            "len" => Func::Len,
            "contains" => Func::Contains,
            "starts_with" => Func::StartsWith,
            "ends_with" => Func::EndsWith,
            other => {
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_FUNCTION,
                    name.span,
                    format!("unknown function `{other}`"),
                );
                d.help = did_you_mean(
                    other,
                    ["lower", "upper", "len", "contains", "starts_with", "ends_with", "count", "sum", "last", "time_since"],
                )
                .or_else(|| Some("functions: lower upper len contains starts_with ends_with, and count sum last time_since over history".into()));
                self.error(d);
                return Self::err(span);
            }
        };
        let arity = match func {
            Func::Lower | Func::Upper | Func::Len => 1,
            _ => 2,
        };
        if hs.len() != arity {
            self.error(Diagnostic::error(
                codes::WRONG_ARITY,
                span,
                format!(
                    "`{}` takes {arity} argument{}, not {}",
                    name.name,
                    if arity == 1 { "" } else { "s" },
                    hs.len()
                ),
            ));
            return Self::err(span);
        }
        let t: Vec<&Ty> = hs.iter().map(|h| &h.ty).collect();
        let (ok, ty) = match (func, t.as_slice()) {
            (_, ts) if ts.iter().any(|t| **t == Ty::Error) => (true, Ty::Error),
            (Func::Lower | Func::Upper, [Ty::String]) => (true, Ty::String),
            (Func::Len, [Ty::String | Ty::List(_) | Ty::Set(_) | Ty::Empty]) => (true, Ty::Number),
            (Func::Contains, [Ty::String, Ty::String]) => (true, Ty::Bool),
            (Func::Contains, [c, x])
                if c.element().is_some_and(|e| x.fits(e)) || **c == Ty::Empty =>
            {
                (true, Ty::Bool)
            }
            (Func::StartsWith | Func::EndsWith, [Ty::String, Ty::String]) => (true, Ty::Bool),
            _ => (false, Ty::Error),
        };
        if !ok {
            let sig = match func {
                Func::Lower | Func::Upper => "(string)",
                Func::Len => "(string or list)",
                Func::Contains => "(string, string) or (list, element)",
                Func::StartsWith | Func::EndsWith => "(string, string)",
            };
            let got: Vec<String> = t.iter().map(|t| t.to_string()).collect();
            self.error(Diagnostic::error(
                codes::TYPE_MISMATCH,
                span,
                format!("`{}` takes {sig}, not ({})", name.name, got.join(", ")),
            ));
        }
        HExpr {
            kind: HKind::Call(func, hs),
            ty,
            span,
        }
    }

    fn history(&mut self, h: &HistoryExpr, sc: &mut Scope, pos: Pos, span: Span) -> HExpr {
        let Some(ev) = self.event_id(&h.event) else {
            return Self::err(span);
        };
        if sc.depth >= MAX_QUERY_DEPTH {
            self.error(Diagnostic::error(
                codes::TOO_DEEP,
                span,
                format!("history queries nest at most {MAX_QUERY_DEPTH} deep"),
            ));
            return Self::err(span);
        }
        if let Some(alias) = &h.alias {
            if pos != Pos::Cond {
                self.error(
                    Diagnostic::error(
                        codes::BINDING_POSITION,
                        alias.span,
                        format!("`as {}` cannot bind here", alias.name),
                    )
                    .with_label("binding inside a value")
                    .with_help(
                        "bind names only in a rule's or segment's condition, joined by `and`",
                    ),
                );
            } else if sc.lookup(&alias.name).is_some()
                || alias.name == h.event.name
                || self.segment_ids.contains_key(&alias.name)
            {
                self.error(
                    Diagnostic::error(
                        codes::DUPLICATE_BINDING,
                        alias.span,
                        format!("`{}` is already a name here", alias.name),
                    )
                    .with_help("choose another name for the binding"),
                );
            }
        }
        let within = h.within.as_ref().map(|d| self.duration(d));
        let since = match &h.since {
            None => None,
            Some(name) => match sc.lookup(&name.name).cloned() {
                Some(b) => Some(b),
                None => {
                    let mut d = Diagnostic::error(
                        codes::SINCE_UNBOUND,
                        name.span,
                        format!("`since {}`: `{}` is not bound here", name.name, name.name),
                    )
                    .with_label("no such binding");
                    let visible: Vec<String> = sc.bindings.iter().map(|b| b.name.clone()).collect();
                    d.help = did_you_mean(&name.name, ident_names(&visible)).or_else(|| {
                        Some(format!(
                            "bind an event first, e.g. `seen page_view as {} within 7d and ...`",
                            name.name
                        ))
                    });
                    self.error(d);
                    None
                }
            },
        };
        let retain = self.event_type(ev).and_then(|e| e.retain);
        let window = match (within, &since, retain) {
            (Some(w), _, _) => Some(w),
            (None, Some(b), _) => Some(b.window),
            (None, None, Some(r)) => Some(r),
            (None, None, None) => None,
        };
        let window = match window {
            Some(w) => w,
            // `since` an unbound name was reported above; the missing bound follows from it.
            None if h.since.is_some() => MAX_DURATION,
            None => {
                self.error(
                    Diagnostic::error(
                        codes::UNBOUNDED_HISTORY,
                        span,
                        format!("this history query over `{}` has no bound", h.event.name),
                    )
                    .with_label("reaches back forever")
                    .with_help(format!(
                        "add `within 30d` (or another window), `since` a bound event, or `retain {} 365d` to the schema",
                        h.event.name
                    )),
                );
                MAX_DURATION
            }
        };
        let binds = h.alias.is_some() && pos == Pos::Cond;
        let slot = if h.alias.is_some() {
            let s = sc.next_alias;
            sc.next_alias = sc.next_alias.saturating_add(1);
            s
        } else {
            sc.depth
        };
        sc.use_slot(slot);
        let filter = h.filter.as_ref().map(|f| {
            let cand = |name: &str| Binding {
                name: name.to_string(),
                slot,
                event: ev,
                window,
            };
            sc.candidates.push(cand(&h.event.name));
            if let Some(a) = &h.alias {
                sc.candidates.push(cand(&a.name));
            }
            sc.depth += 1;
            let hf = self.expr(f, sc, Pos::Value);
            sc.depth -= 1;
            sc.candidates.pop();
            if h.alias.is_some() {
                sc.candidates.pop();
            }
            self.expect_bool(&hf);
            hf
        });
        let mut field = None;
        let ty = match h.func {
            HistoryFunc::Seen => Ty::Bool,
            HistoryFunc::Count => Ty::Number,
            HistoryFunc::Last => Ty::Event(ev),
            HistoryFunc::TimeSince => Ty::Duration,
            HistoryFunc::Sum => {
                match &h.field {
                    None => {
                        self.error(Diagnostic::error(
                            codes::UNKNOWN_FIELD,
                            h.event.span,
                            "`sum` needs a field: `sum(purchase.amount ...)`",
                        ));
                    }
                    Some(f) => {
                        let et = self.event_type(ev).cloned();
                        match et
                            .as_ref()
                            .and_then(|et| et.fields.iter().find(|x| x.name == f.name))
                        {
                            Some(decl) if decl.ty == graph::Type::Number => {
                                if let Some(r) = self.reads.get_mut(ev as usize) {
                                    r.insert(f.name.clone());
                                }
                                field = Some(f.name.clone());
                            }
                            Some(decl) => {
                                let t = Ty::from_schema(&decl.ty);
                                self.mismatch(f.span, "`sum` adds numbers", &t);
                            }
                            None => {
                                if let Some(et) = et {
                                    self.unknown_field(
                                        f,
                                        &et.name,
                                        et.fields.iter().map(|x| x.name.as_str()),
                                    );
                                }
                            }
                        }
                    }
                }
                Ty::Number
            }
        };
        if binds && let Some(alias) = &h.alias {
            sc.bindings.push(Binding {
                name: alias.name.clone(),
                slot,
                event: ev,
                window,
            });
        }
        HExpr {
            kind: HKind::History(Box::new(HHistory {
                func: h.func,
                query: HQuery {
                    event: ev,
                    within,
                    since: since.map(|b| b.slot),
                    slot,
                    filter,
                    window,
                },
                bind: binds.then_some(slot),
                field,
            })),
            ty,
            span,
        }
    }

    // ----- tests --------------------------------------------------------------------------

    fn test(&mut self, t: &TestDef) {
        if let Some(p) = &t.profile {
            let decl = self.schema().profile.clone();
            for e in &p.entries {
                let want = match e.name.name.as_str() {
                    "id" => Some(Ty::String),
                    "consents" => Some(Ty::Set(Box::new(Ty::String))),
                    name => decl
                        .iter()
                        .find(|f| f.name == name)
                        .map(|f| Ty::from_schema(&f.ty)),
                };
                match want {
                    Some(want) => self.test_value(&e.value, &want),
                    None => {
                        let names: Vec<&str> = decl
                            .iter()
                            .map(|f| f.name.as_str())
                            .chain(["id", "consents"])
                            .collect();
                        self.unknown_field(&e.name, "profile", names);
                    }
                }
            }
        }
        for step in &t.steps {
            match step {
                TestStep::ExpectConversion { rule, fields, .. } => {
                    let goals = self
                        .rules
                        .iter()
                        .find(|r| r.name == rule.name)
                        .map(|r| r.goals.len());
                    match goals {
                        None => {
                            let mut d = Diagnostic::error(
                                codes::BAD_TEST,
                                rule.span,
                                format!("unknown rule `{}`", rule.name),
                            )
                            .with_label("`expect conversion` names a rule with goals");
                            let names: Vec<&str> =
                                self.rules.iter().map(|r| r.name.as_str()).collect();
                            d.help = did_you_mean(&rule.name, names);
                            self.error(d);
                        }
                        Some(0) => self.error(
                            Diagnostic::error(
                                codes::BAD_TEST,
                                rule.span,
                                format!("rule `{}` has no goal", rule.name),
                            )
                            .with_help("add one: `goal purchase within 7d`"),
                        ),
                        Some(_) => {}
                    }
                    for p in fields.iter().flat_map(|p| p.entries.iter()) {
                        let want = match p.name.name.as_str() {
                            "goal" | "experiment" | "variant" | "exposure_event"
                            | "exposure_channel" | "exposure_host" => Some(Ty::String),
                            "primary" => Some(Ty::Bool),
                            "value" => Some(Ty::Number),
                            "exposed_at" => Some(Ty::Time),
                            _ => None,
                        };
                        match want {
                            Some(want) => self.test_value(&p.value, &want),
                            None => self.unknown_field(&p.name, "conversion", CONVERSION_FIELDS),
                        }
                    }
                }
                TestStep::At { event, fields, .. } => {
                    let Some(id) = self.event_id(event) else {
                        continue;
                    };
                    let Some(et) = self.event_type(id).cloned() else {
                        continue;
                    };
                    for e in &fields.entries {
                        let want = match e.name.name.as_str() {
                            "id" => Some(Ty::String),
                            name => et
                                .fields
                                .iter()
                                .find(|f| f.name == name)
                                .map(|f| Ty::from_schema(&f.ty)),
                        };
                        match want {
                            Some(want) => self.test_value(&e.value, &want),
                            None => self.unknown_field(
                                &e.name,
                                &et.name,
                                et.fields.iter().map(|f| f.name.as_str()).chain(["id"]),
                            ),
                        }
                    }
                }
                TestStep::Expect { action, params, .. }
                | TestStep::ExpectNo { action, params, .. } => {
                    let Some(&id) = self.actions.get(&action.name) else {
                        let mut d = Diagnostic::error(
                            codes::UNKNOWN_ACTION,
                            action.span,
                            format!("unknown action `{}`", action.name),
                        );
                        d.help = did_you_mean(
                            &action.name,
                            self.schema().actions.iter().map(|a| a.name.as_str()),
                        );
                        self.error(d);
                        continue;
                    };
                    let Some(decl) = self.schema().actions.get(id as usize).cloned() else {
                        continue;
                    };
                    for p in params.iter().flat_map(|p| p.entries.iter()) {
                        match decl.params.iter().find(|f| f.name == p.name.name) {
                            Some(f) => self.test_value(&p.value, &Ty::from_schema(&f.ty)),
                            None => self.unknown_field(
                                &p.name,
                                &decl.name,
                                decl.params.iter().map(|f| f.name.as_str()),
                            ),
                        }
                    }
                }
                TestStep::ExpectNothing(_) => {}
            }
        }
        self.tests.push(t.clone());
    }

    /// Test values are literals of the declared type.
    fn test_value(&mut self, e: &Expr, want: &Ty) {
        let got = literal_type(e);
        match got {
            None => self.error(
                Diagnostic::error(codes::BAD_TEST, e.span, "test values are literals")
                    .with_help("write the value itself: a string, number, true/false, duration, instant or list"),
            ),
            Some(got) if !got.fits(want) => {
                self.error(
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        e.span,
                        format!("expected a {want}, but this is a {got}"),
                    )
                    .with_label(format!("expected {want}")),
                );
            }
            Some(_) => {}
        }
    }
}

type Schema_ = crate::ast::Schema;

/// What `expect conversion RULE { ... }` may compare.
const CONVERSION_FIELDS: [&str; 9] = [
    "goal",
    "variant",
    "experiment",
    "primary",
    "value",
    "exposed_at",
    "exposure_event",
    "exposure_channel",
    "exposure_host",
];

/// Whether `e` reads the goal event (the [`GOAL_SLOT`] binding), anywhere inside.
fn mentions_goal(e: &HExpr) -> bool {
    let mut found = false;
    e.walk(&mut |x| {
        if matches!(x.kind, HKind::Bound(GOAL_SLOT)) {
            found = true;
        }
        if let HKind::History(h) = &x.kind
            && h.query.since == Some(GOAL_SLOT)
        {
            found = true;
        }
    });
    found
}

fn is_goal(e: &HExpr) -> bool {
    matches!(e.kind, HKind::Bound(GOAL_SLOT))
}

fn item_span(i: &Item) -> Span {
    match i {
        Item::Schema(s) => s.span,
        Item::Segment(s) => s.span,
        Item::Group(g) => g.span,
        Item::Rule(r) => r.span,
        Item::Test(t) => t.span,
    }
}

fn schema_type(t: &TypeExpr) -> graph::Type {
    match &t.kind {
        TypeKind::String => graph::Type::String,
        TypeKind::Number => graph::Type::Number,
        TypeKind::Bool => graph::Type::Bool,
        TypeKind::Duration => graph::Type::Duration,
        TypeKind::Time => graph::Type::Time,
        TypeKind::List(t) => graph::Type::List(Box::new(schema_type(t))),
        TypeKind::Set(t) => graph::Type::Set(Box::new(schema_type(t))),
    }
}

fn arith_type(op: BinOp, a: &Ty, b: &Ty) -> Option<Ty> {
    use Ty::*;
    match (op, a, b) {
        (_, Error, _) | (_, _, Error) => Some(Error),
        (_, Number, Number) => Some(Number),
        (BinOp::Sub, Time, Time) => Some(Duration),
        (BinOp::Add | BinOp::Sub, Time, Duration) => Some(Time),
        (BinOp::Add, Duration, Time) => Some(Time),
        (BinOp::Add | BinOp::Sub, Duration, Duration) => Some(Duration),
        (BinOp::Mul, Duration, Number) | (BinOp::Mul, Number, Duration) => Some(Duration),
        (BinOp::Div, Duration, Number) => Some(Duration),
        (BinOp::Div, Duration, Duration) => Some(Number),
        _ => None,
    }
}

/// The type of a literal test value, or `None` when it is not a literal.
fn literal_type(e: &Expr) -> Option<Ty> {
    match &e.kind {
        ExprKind::Number(_) => Some(Ty::Number),
        ExprKind::Neg(x) if matches!(x.kind, ExprKind::Number(_)) => Some(Ty::Number),
        ExprKind::Bool(_) => Some(Ty::Bool),
        ExprKind::Str(parts) if parts.iter().all(|p| matches!(p, StrPart::Text(_))) => {
            Some(Ty::String)
        }
        ExprKind::Duration(_) => Some(Ty::Duration),
        ExprKind::Instant(_) => Some(Ty::Time),
        ExprKind::List(items) => {
            let tys: Option<Vec<Ty>> = items.iter().map(literal_type).collect();
            let tys = tys?;
            match tys.first() {
                None => Some(Ty::Empty),
                Some(t) if tys.iter().all(|x| x == t) => Some(Ty::List(Box::new(t.clone()))),
                Some(_) => None,
            }
        }
        _ => None,
    }
}

fn param_list(a: &ActionType) -> String {
    a.params
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_percent(bp: u64) -> String {
    if bp.is_multiple_of(100) {
        format!("{}", bp / 100)
    } else {
        format!("{}.{:02}", bp / 100, bp % 100)
    }
}

/// The implicit fields every event has: `id`, `time`, `type`.
fn event_meta(name: &str) -> Option<(Meta, Ty)> {
    match name {
        "id" => Some((Meta::Id, Ty::String)),
        "time" => Some((Meta::Time, Ty::Time)),
        "type" => Some((Meta::Type, Ty::String)),
        _ => None,
    }
}
