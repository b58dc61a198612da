//! The compiler: lowers a checked [`Model`] into the engine's rule [`Graph`].
//!
//! What makes it a graph rather than a list of rules:
//! - expressions and history queries are hash-consed: the same expression or query written in
//!   several rules (or segments) becomes one node, which the engine evaluates once per event;
//! - rules are indexed by event type ([`Trigger`]s), already in decision order;
//! - per event type, the compiler works out how long history must be kept and which fields
//!   queries read ([`Retention`]), and for whom (the consents of the rules that read it): memory
//!   keeps nothing else;
//! - the rule set's timezone becomes a table of UTC offset transitions for the span the rules
//!   need, so the engine needs no tz database.

use crate::ast::HistoryFunc;
use crate::hir::*;
use crate::source::Sources;
use crate::time;
use omnirule_engine::graph::{
    self, Cond, CondId, ConsentId, Graph, Limits, Millis, Node, NodeId, Piece, Query, QueryId,
    Retention, Rule, Segment, Trigger, TzTable,
};
use std::collections::{BTreeSet, HashMap};

/// Lower a checked model. `sources` provides the condition texts used by explanations.
pub fn compile(model: &Model, sources: &Sources) -> Graph {
    let mut l = Lower {
        sources,
        nodes: Vec::new(),
        node_ids: HashMap::new(),
        queries: Vec::new(),
        query_ids: HashMap::new(),
        conds: Vec::new(),
        cond_sources: graph::CondSources::default(),
    };
    let segments: Vec<Segment> = model
        .segments
        .iter()
        .map(|s| Segment {
            name: s.name.clone(),
            cond: l.condition(&s.expr),
            slots: s.slots,
        })
        .collect();
    let rules: Vec<Rule> = model.rules.iter().map(|r| l.rule(r)).collect();
    let mut goals = Vec::new();
    for (rid, r) in model.rules.iter().enumerate() {
        for goal in &r.goals {
            goals.push(graph::Goal {
                rule: index(rid),
                name: goal.name.clone(),
                event: goal.event,
                within: goal.within,
                primary: goal.primary,
                value: goal.value.clone(),
                captures: goal.captures.iter().map(|c| l.expr(c)).collect(),
                filter: goal.filter.as_ref().map(|f| l.expr(f)),
            });
        }
    }
    let triggers = triggers(model);
    let retention = retention(model);
    let timezone = timezone(model);
    Graph {
        schema: model.schema.clone(),
        nodes: l.nodes,
        queries: l.queries,
        conds: l.conds,
        cond_sources: l.cond_sources,
        segments,
        groups: model
            .groups
            .iter()
            .map(|g| graph::Group {
                name: g.name.clone(),
                cap: g.cap,
            })
            .collect(),
        rules,
        triggers,
        retention,
        timezone,
        limits: Limits::default(),
        goals,
    }
}

struct Lower<'a> {
    sources: &'a Sources,
    nodes: Vec<Node>,
    node_ids: HashMap<String, NodeId>,
    queries: Vec<Query>,
    query_ids: HashMap<String, QueryId>,
    conds: Vec<Cond>,
    cond_sources: graph::CondSources,
}

/// A structural key for hash-consing (graph types hold floats, so they are not `Hash`).
fn key<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn index(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl Lower<'_> {
    fn node(&mut self, node: Node) -> NodeId {
        let k = key(&node);
        if let Some(id) = self.node_ids.get(&k) {
            return *id;
        }
        let id = index(self.nodes.len());
        self.nodes.push(node);
        self.node_ids.insert(k, id);
        id
    }

    fn query(&mut self, q: &HQuery) -> QueryId {
        let filter = q.filter.as_ref().map(|f| self.expr(f));
        let query = Query {
            event: q.event,
            within: q.within,
            since: q.since,
            slot: q.slot,
            filter,
        };
        let k = key(&query);
        if let Some(id) = self.query_ids.get(&k) {
            return *id;
        }
        let id = index(self.queries.len());
        self.queries.push(query);
        self.query_ids.insert(k, id);
        id
    }

    fn expr(&mut self, e: &HExpr) -> NodeId {
        let node = match &e.kind {
            HKind::Lit(l) => Node::Lit(l.clone()),
            HKind::Now => Node::Now,
            HKind::EventField(f) => Node::EventField(f.clone()),
            HKind::EventMeta(m) => Node::EventMeta(*m),
            HKind::Profile(f) => Node::ProfileField(f.clone()),
            HKind::Bound(s) => Node::Bound(*s),
            HKind::Captured(i) => Node::Captured(*i),
            HKind::Field(of, name) => Node::Field {
                of: self.expr(of),
                name: name.clone(),
            },
            HKind::FieldMeta(of, meta) => Node::FieldMeta {
                of: self.expr(of),
                meta: *meta,
            },
            HKind::Segment(s) => Node::Segment(*s),
            HKind::Neg(x) => Node::Neg(self.expr(x)),
            HKind::Not(x) => Node::Not(self.expr(x)),
            HKind::And(a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                Node::And(a, b)
            }
            HKind::Or(a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                Node::Or(a, b)
            }
            HKind::Cmp(op, a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                Node::Cmp(*op, a, b)
            }
            HKind::Arith(op, a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                Node::Arith(*op, a, b)
            }
            HKind::Coalesce(a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                Node::Coalesce(a, b)
            }
            HKind::Present(x) => Node::Present(self.expr(x)),
            HKind::Missing(x) => Node::Missing(self.expr(x)),
            HKind::In(a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                Node::In(a, b)
            }
            HKind::Call(f, args) => Node::Call(*f, args.iter().map(|a| self.expr(a)).collect()),
            HKind::Interp(pieces) => Node::Interp(
                pieces
                    .iter()
                    .map(|p| match p {
                        HPiece::Text(t) => Piece::Text(t.clone()),
                        HPiece::Value(v) => Piece::Value(self.expr(v)),
                    })
                    .collect(),
            ),
            HKind::List(items) => Node::List(items.iter().map(|i| self.expr(i)).collect()),
            HKind::History(h) => {
                let q = self.query(&h.query);
                match h.func {
                    HistoryFunc::Seen => Node::Seen(q),
                    HistoryFunc::Count => Node::Count(q),
                    HistoryFunc::Sum => Node::Sum(q, h.field.clone().unwrap_or_default()),
                    HistoryFunc::Last => Node::Last(q),
                    HistoryFunc::TimeSince => Node::TimeSince(q),
                }
            }
            // Never reached: a model exists only without errors.
            HKind::Error => Node::Lit(graph::Literal::Bool(false)),
        };
        self.node(node)
    }

    fn push_cond(&mut self, cond: Cond, e: &HExpr) -> CondId {
        let id = index(self.conds.len());
        self.conds.push(cond);
        self.cond_sources
            .push(&collapse_whitespace(self.sources.snippet(e.span)));
        id
    }

    /// A rule's or segment's condition. A top-level conjunction is kept as separate parts,
    /// so an explanation can name the part that was false.
    fn condition(&mut self, e: &HExpr) -> CondId {
        if matches!(e.kind, HKind::And(..)) {
            let mut parts = Vec::new();
            conjuncts(e, &mut parts);
            let children = parts.into_iter().map(|p| self.cond(p)).collect();
            return self.push_cond(Cond::And(children), e);
        }
        self.cond(e)
    }

    /// Only subtrees that bind names need the backtracking structure; everything else is one
    /// test of a (shared, memoised) node.
    fn cond(&mut self, e: &HExpr) -> CondId {
        if !binds(e) {
            let node = self.expr(e);
            return self.push_cond(Cond::Test(node), e);
        }
        let cond = match &e.kind {
            HKind::And(..) => {
                let mut parts = Vec::new();
                conjuncts(e, &mut parts);
                Cond::And(parts.into_iter().map(|p| self.cond(p)).collect())
            }
            HKind::Or(a, b) => {
                let (a, b) = (self.cond(a), self.cond(b));
                Cond::Or(vec![a, b])
            }
            HKind::Not(x) => Cond::Not(self.cond(x)),
            HKind::History(h) => match h.bind {
                Some(slot) => Cond::Bind {
                    query: self.query(&h.query),
                    slot,
                },
                None => Cond::Test(self.expr(e)),
            },
            _ => Cond::Test(self.expr(e)),
        };
        self.push_cond(cond, e)
    }

    fn actions(&mut self, actions: &[HAction]) -> Vec<graph::ActionCall> {
        actions
            .iter()
            .map(|a| graph::ActionCall {
                action: a.action,
                params: a
                    .params
                    .iter()
                    .map(|(n, v)| (n.clone(), self.expr(v)))
                    .collect(),
            })
            .collect()
    }

    fn rule(&mut self, r: &HRule) -> Rule {
        let when = r.when.as_ref().map(|w| self.condition(w));
        let outcome = match &r.outcome {
            HOutcome::Actions(a) => graph::Outcome::Actions(self.actions(a)),
            HOutcome::Split { name, unit, arms } => graph::Outcome::Split {
                name: name.clone(),
                unit: self.expr(unit),
                arms: arms
                    .iter()
                    .map(|a| graph::Arm {
                        basis_points: a.basis_points,
                        variant: a.variant.clone(),
                        actions: self.actions(&a.actions),
                    })
                    .collect(),
            },
        };
        Rule {
            name: r.name.clone(),
            title: r.title.clone(),
            on: r.on.clone(),
            consents: r.consents.clone(),
            when,
            outcome,
            cap: r.cap,
            priority: r.priority,
            group: r.group,
            schedule: r.schedule.clone(),
            slots: r.slots,
        }
    }
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn conjuncts<'e>(e: &'e HExpr, out: &mut Vec<&'e HExpr>) {
    match &e.kind {
        HKind::And(a, b) => {
            conjuncts(a, out);
            conjuncts(b, out);
        }
        _ => out.push(e),
    }
}

/// Whether a condition binds a name somewhere outside a value position.
fn binds(e: &HExpr) -> bool {
    match &e.kind {
        HKind::And(a, b) | HKind::Or(a, b) => binds(a) || binds(b),
        HKind::Not(x) => binds(x),
        HKind::History(h) => h.bind.is_some(),
        _ => false,
    }
}

/// Calls `f` for every history query in an expression, nested ones included.
fn each_query(e: &HExpr, f: &mut dyn FnMut(&HQuery)) {
    e.walk(&mut |x| {
        if let HKind::History(h) = &x.kind {
            f(&h.query);
        }
    });
}

fn rule_exprs(r: &HRule) -> Vec<&HExpr> {
    fn actions(a: &[HAction]) -> impl Iterator<Item = &HExpr> {
        a.iter().flat_map(|a| a.params.iter().map(|(_, v)| v))
    }
    let mut out: Vec<&HExpr> = r.when.iter().collect();
    match &r.outcome {
        HOutcome::Actions(a) => out.extend(actions(a)),
        HOutcome::Split { unit, arms, .. } => {
            out.push(unit);
            for arm in arms {
                out.extend(actions(&arm.actions));
            }
        }
    }
    // Captured values are evaluated when the rule fires: their history is the rule's.
    out.extend(r.goals.iter().flat_map(|g| g.captures.iter()));
    out
}

fn triggers(model: &Model) -> Vec<Trigger> {
    let mut out = Vec::new();
    for ev in 0..model.schema.events.len() {
        let ev = index(ev);
        let mut rules: Vec<(i64, usize)> = model
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.on.contains(&ev))
            .map(|(i, r)| (r.priority, i))
            .collect();
        if rules.is_empty() {
            continue;
        }
        // Priority descending, then file order.
        rules.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        out.push(Trigger {
            event: ev,
            rules: rules.into_iter().map(|(_, i)| index(i)).collect(),
        });
    }
    out
}

fn retention(model: &Model) -> Vec<Retention> {
    let n = model.schema.events.len();
    let mut keep: Vec<Option<Millis>> = vec![None; n];
    let mut consents: Vec<BTreeSet<Vec<ConsentId>>> = vec![BTreeSet::new(); n];
    let mut note = |q: &HQuery, who: &[ConsentId]| {
        let ev = q.event as usize;
        if let Some(k) = keep.get_mut(ev) {
            *k = Some(k.map_or(q.window, |old| old.max(q.window)));
        }
        if let Some(c) = consents.get_mut(ev) {
            let mut set = who.to_vec();
            set.sort_unstable();
            c.insert(set);
        }
    };
    for rule in &model.rules {
        for e in rule_exprs(rule) {
            each_query(e, &mut |q| note(q, &rule.consents));
        }
        // Segments read history on behalf of the rules that use them.
        for s in &rule.segments {
            if let Some(seg) = model.segments.get(*s as usize) {
                each_query(&seg.expr, &mut |q| note(q, &rule.consents));
            }
        }
    }
    (0..n)
        .map(|ev| Retention {
            event: index(ev),
            keep: keep.get(ev).copied().flatten(),
            fields: model
                .reads
                .get(ev)
                .map(|r| r.iter().cloned().collect())
                .unwrap_or_default(),
            consents: consents
                .get(ev)
                .map(|c| c.iter().cloned().collect())
                .unwrap_or_default(),
        })
        .collect()
}

/// Default span of the offset table when a rule uses local time without an `active` range.
const DEFAULT_TZ_SPAN: (i32, u8, u8, i32, u8, u8) = (2020, 1, 1, 2050, 12, 31);

fn timezone(model: &Model) -> TzTable {
    let name = model.schema.timezone.as_str();
    let Ok(tz) = jiff::tz::TimeZone::get(name) else {
        return TzTable {
            name: name.to_string(),
            initial_offset: 0,
            transitions: Vec::new(),
            rule: None,
        };
    };
    let (y0, m0, d0, y1, m1, d1) = DEFAULT_TZ_SPAN;
    let default = (
        time::days_from_civil(y0, m0, d0),
        time::days_from_civil(y1, m1, d1),
    );
    // Only rules with a local-time schedule need offsets. When every such rule is bounded by
    // `active`, the table covers just those dates (one day of margin each side).
    let scheduled: Vec<&HRule> = model
        .rules
        .iter()
        .filter(|r| r.schedule != graph::Schedule::default())
        .collect();
    let span = if scheduled.is_empty() {
        None
    } else if scheduled.iter().all(|r| r.schedule.active.is_some()) {
        scheduled
            .iter()
            .filter_map(|r| r.schedule.active)
            .fold(None, |acc: Option<(i32, i32)>, (a, b)| {
                Some(acc.map_or((a, b), |(x, y)| (x.min(a), y.max(b))))
            })
            .map(|(a, b)| (a.saturating_sub(1), b.saturating_add(1)))
    } else {
        // A schedule without `active` dates can meet any instant (a late import of old
        // history, a bundle that lives for decades): the whole table, and the rule after it.
        let (_, b) = model.active_span.unwrap_or(default);
        return time::full_table(name, &tz, b.max(default.1));
    };
    match span {
        Some((a, b)) => time::offset_table(name, &tz, a, b),
        // No schedule: keep the zone's current-era offset for display and `date` literals.
        None => {
            let mut t = time::offset_table(name, &tz, default.0, default.0);
            t.transitions.clear();
            t
        }
    }
}
