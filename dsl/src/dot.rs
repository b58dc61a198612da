//! The rule graph drawn for people: as Graphviz DOT (`omnirule graph`) and as JSON nodes and
//! edges (the playground draws it itself, and links rules and segments back to their source).
//!
//! A marketer should see what feeds what: which events trigger which rules, which history
//! (remembered events) and segments each rule reads, what it decides, what it is judged by (its
//! goals), and which rules compete in a group. A history query shared by several rules is drawn
//! once, with an edge to each, which is also how the graph is evaluated. Both forms are written
//! from one [`Drawing`], so they cannot disagree.

use crate::hir::Model;
use crate::source::Sources;
use omnirule_engine::graph::{Cap, Cond, CondId, Graph, Node, NodeId, Outcome, QueryId, SegmentId};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// What one rule (or segment) reads, found by walking its conditions and expressions.
#[derive(Default)]
struct Reads {
    queries: BTreeSet<QueryId>,
    segments: BTreeSet<SegmentId>,
    profile: BTreeSet<String>,
}

fn walk_node(g: &Graph, id: NodeId, out: &mut Reads, seen: &mut BTreeSet<NodeId>) {
    if !seen.insert(id) {
        return;
    }
    let Some(node) = g.nodes.get(id as usize) else {
        return;
    };
    let mut kids: Vec<NodeId> = Vec::new();
    match node {
        Node::ProfileField(f) => {
            out.profile.insert(f.clone());
        }
        Node::Segment(s) => {
            out.segments.insert(*s);
        }
        Node::Seen(q) | Node::Count(q) | Node::Sum(q, _) | Node::Last(q) | Node::TimeSince(q) => {
            walk_query(g, *q, out, seen);
        }
        Node::Field { of, .. } | Node::FieldMeta { of, .. } => kids.push(*of),
        Node::Neg(x) | Node::Not(x) | Node::Present(x) | Node::Missing(x) => kids.push(*x),
        Node::And(a, b)
        | Node::Or(a, b)
        | Node::Cmp(_, a, b)
        | Node::Arith(_, a, b)
        | Node::Coalesce(a, b)
        | Node::In(a, b) => kids.extend([*a, *b]),
        Node::Call(_, xs) | Node::List(xs) => kids.extend(xs),
        Node::Interp(pieces) => kids.extend(pieces.iter().filter_map(|p| match p {
            omnirule_engine::graph::Piece::Value(v) => Some(*v),
            omnirule_engine::graph::Piece::Text(_) => None,
        })),
        Node::Lit(_)
        | Node::Now
        | Node::EventField(_)
        | Node::EventMeta(_)
        | Node::Bound(_)
        | Node::Captured(_) => {}
    }
    for k in kids {
        walk_node(g, k, out, seen);
    }
}

fn walk_query(g: &Graph, q: QueryId, out: &mut Reads, seen: &mut BTreeSet<NodeId>) {
    out.queries.insert(q);
    if let Some(f) = g.queries.get(q as usize).and_then(|q| q.filter) {
        walk_node(g, f, out, seen);
    }
}

fn walk_cond(g: &Graph, c: CondId, out: &mut Reads, seen: &mut BTreeSet<NodeId>) {
    match g.conds.get(c as usize) {
        Some(Cond::Test(n)) => walk_node(g, *n, out, seen),
        Some(Cond::And(cs) | Cond::Or(cs)) => {
            for c in cs {
                walk_cond(g, *c, out, seen);
            }
        }
        Some(Cond::Not(c)) => walk_cond(g, *c, out, seen),
        Some(Cond::Bind { query, .. }) => walk_query(g, *query, out, seen),
        None => {}
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A duration as the language writes it, in its largest whole unit (`1w`, `30d`, `90m`; `ms`
/// when no unit divides it): for pictures and summaries of compiled rules.
pub fn duration(ms: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (7 * 86_400_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    UNITS
        .iter()
        .find(|(u, _)| ms % u == 0)
        .map_or(format!("{ms}ms"), |(u, s)| format!("{}{s}", ms / u))
}

fn cap_text(c: &Cap) -> String {
    match c {
        Cap::Once => "once".into(),
        Cap::Limit { count, per } => format!("limit {count} per {}", duration(*per)),
    }
}

/// What a drawn node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Event,
    Query,
    Segment,
    Rule,
    Action,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Query => "query",
            Kind::Segment => "segment",
            Kind::Rule => "rule",
            Kind::Action => "action",
        }
    }
}

/// One node: its id (`rule:NAME`, `event:NAME`, `query:N`, ...), kind and label lines.
#[derive(Debug, Clone)]
pub struct DrawnNode {
    pub id: String,
    pub kind: Kind,
    pub lines: Vec<String>,
    /// The group a rule competes in.
    pub group: Option<usize>,
}

/// What an edge means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The event triggers the rule.
    On,
    /// Remembered events of a type feed a history query.
    Remembered,
    /// A query or segment is read by a rule or segment.
    Reads,
    /// A rule decides an action.
    Decides,
    /// A rule is judged by a later event (its goal).
    Goal,
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub link: Link,
    pub label: Option<String>,
}

/// The rule graph as nodes and edges, in a stable order.
#[derive(Debug, Clone, Default)]
pub struct Drawing {
    pub nodes: Vec<DrawnNode>,
    pub edges: Vec<Edge>,
    /// Groups: name and the label of their box.
    pub groups: Vec<(String, String)>,
}

impl Drawing {
    fn node(&mut self, id: String, kind: Kind, lines: Vec<String>) {
        self.nodes.push(DrawnNode {
            id,
            kind,
            lines,
            group: None,
        });
    }

    fn edge(&mut self, from: String, to: String, link: Link, label: Option<String>) {
        self.edges.push(Edge {
            from,
            to,
            link,
            label,
        });
    }
}

/// Draws the graph.
pub fn drawing(g: &Graph) -> Drawing {
    let mut d = Drawing::default();
    let event_name = |e: u32| {
        g.schema
            .events
            .get(e as usize)
            .map_or("?", |e| e.name.as_str())
    };
    // Every event type, with what memory keeps of it.
    for (i, e) in g.schema.events.iter().enumerate() {
        let mut lines = vec![e.name.clone()];
        if let Some((k, f)) = g
            .retention
            .get(i)
            .and_then(|r| r.keep.map(|k| (k, r.fields.join(", "))))
        {
            lines.push(if f.is_empty() {
                format!("remembered {}", duration(k))
            } else {
                format!("remembered {}: {f}", duration(k))
            });
        }
        d.node(format!("event:{}", e.name), Kind::Event, lines);
    }
    for (i, q) in g.queries.iter().enumerate() {
        let mut label = format!("history: {}", event_name(q.event));
        if let Some(w) = q.within {
            let _ = write!(label, " within {}", duration(w));
        }
        if q.since.is_some() {
            label.push_str(" since a bound event");
        }
        if q.filter.is_some() {
            label.push_str(" where …");
        }
        d.node(format!("query:{i}"), Kind::Query, vec![label]);
        d.edge(
            format!("event:{}", event_name(q.event)),
            format!("query:{i}"),
            Link::Remembered,
            Some("remembered".into()),
        );
    }
    for (i, s) in g.segments.iter().enumerate() {
        d.node(
            format!("segment:{}", s.name),
            Kind::Segment,
            vec![format!("segment {}", s.name)],
        );
        let mut r = Reads::default();
        walk_cond(g, s.cond, &mut r, &mut BTreeSet::new());
        for q in &r.queries {
            d.edge(
                format!("query:{q}"),
                format!("segment:{}", s.name),
                Link::Reads,
                None,
            );
        }
        for dep in r.segments.iter().filter(|x| **x as usize != i) {
            if let Some(dep) = g.segments.get(*dep as usize) {
                d.edge(
                    format!("segment:{}", dep.name),
                    format!("segment:{}", s.name),
                    Link::Reads,
                    None,
                );
            }
        }
    }
    for a in &g.schema.actions {
        d.node(
            format!("action:{}", a.name),
            Kind::Action,
            vec![a.name.clone()],
        );
    }
    for grp in &g.groups {
        let cap = grp
            .cap
            .as_ref()
            .map(|c| format!(" ({})", cap_text(c)))
            .unwrap_or_default();
        d.groups.push((
            grp.name.clone(),
            format!("group {}{cap}: one winner per event", grp.name),
        ));
    }
    for (ri, r) in g.rules.iter().enumerate() {
        let mut lines = vec![format!("rule {}", r.name)];
        if let Some(t) = &r.title {
            lines.push(t.clone());
        }
        if r.priority != 0 {
            lines.push(format!("priority {}", r.priority));
        }
        if let Some(c) = &r.cap {
            lines.push(cap_text(c));
        }
        if !r.consents.is_empty() {
            let names: Vec<&str> = r
                .consents
                .iter()
                .filter_map(|c| g.schema.consents.get(*c as usize).map(String::as_str))
                .collect();
            lines.push(format!("consent {}", names.join(", ")));
        }
        let id = format!("rule:{}", r.name);
        d.nodes.push(DrawnNode {
            id: id.clone(),
            kind: Kind::Rule,
            lines,
            group: r.group.map(|x| x as usize),
        });
        for e in &r.on {
            d.edge(
                format!("event:{}", event_name(*e)),
                id.clone(),
                Link::On,
                Some("on".into()),
            );
        }
        let mut reads = Reads::default();
        let mut seen = BTreeSet::new();
        if let Some(c) = r.when {
            walk_cond(g, c, &mut reads, &mut seen);
        }
        let action = |a: u32| {
            g.schema
                .actions
                .get(a as usize)
                .map_or("?", |a| a.name.as_str())
        };
        let mut decides: Vec<(u32, String)> = Vec::new();
        match &r.outcome {
            Outcome::Actions(calls) => {
                for c in calls {
                    for (_, n) in &c.params {
                        walk_node(g, *n, &mut reads, &mut seen);
                    }
                    if !decides.iter().any(|(a, _)| *a == c.action) {
                        decides.push((c.action, "do".into()));
                    }
                }
            }
            Outcome::Split { name, arms, .. } => {
                for arm in arms {
                    let variant = arm.variant.as_deref().unwrap_or("control");
                    for c in &arm.actions {
                        let pct = f64::from(arm.basis_points) / 100.0;
                        decides.push((c.action, format!("{pct}% {name}: {variant}")));
                    }
                }
            }
        }
        for q in &reads.queries {
            d.edge(format!("query:{q}"), id.clone(), Link::Reads, None);
        }
        for s in &reads.segments {
            if let Some(s) = g.segments.get(*s as usize) {
                d.edge(format!("segment:{}", s.name), id.clone(), Link::Reads, None);
            }
        }
        // Split arms first, in written order, as the engine tries them.
        decides.sort_by_key(|(_, label)| label == "do");
        for (a, label) in decides {
            d.edge(
                id.clone(),
                format!("action:{}", action(a)),
                Link::Decides,
                Some(label),
            );
        }
        for goal in g.goals.iter().filter(|x| x.rule as usize == ri) {
            let mut label = format!("goal {} within {}", goal.name, duration(goal.within));
            if goal.primary {
                label.push_str(" (primary)");
            }
            d.edge(
                id.clone(),
                format!("event:{}", event_name(goal.event)),
                Link::Goal,
                Some(label),
            );
        }
    }
    d
}

/// The rule graph as DOT.
pub fn to_dot(g: &Graph) -> String {
    let d = drawing(g);
    let mut o = String::new();
    let _ = writeln!(o, "digraph omnirule {{");
    let _ = writeln!(o, "  rankdir=LR;");
    let _ = writeln!(o, "  node [fontname=\"Helvetica\", fontsize=11];");
    let _ = writeln!(o, "  edge [fontname=\"Helvetica\", fontsize=9];");
    let node_line = |n: &DrawnNode| {
        let label = n
            .lines
            .iter()
            .map(|l| esc(l))
            .collect::<Vec<_>>()
            .join("\\n");
        let style = match n.kind {
            Kind::Event => "shape=ellipse, style=filled, fillcolor=\"#dbeafe\"",
            Kind::Query => "shape=cylinder, style=filled, fillcolor=\"#fef3c7\"",
            Kind::Segment => "shape=hexagon, style=filled, fillcolor=\"#dcfce7\"",
            Kind::Rule => "shape=box, style=\"rounded,filled\", fillcolor=\"#e5e7eb\"",
            Kind::Action => "shape=note, style=filled, fillcolor=\"#fce7f3\"",
        };
        format!("\"{}\" [{style}, label=\"{label}\"];", esc(&n.id))
    };
    for n in d.nodes.iter().filter(|n| n.group.is_none()) {
        let _ = writeln!(o, "  {}", node_line(n));
    }
    for (gi, (name, label)) in d.groups.iter().enumerate() {
        let _ = writeln!(o, "  subgraph \"cluster_{}\" {{", esc(name));
        let _ = writeln!(o, "    label=\"{}\"; style=dashed;", esc(label));
        for n in d.nodes.iter().filter(|n| n.group == Some(gi)) {
            let _ = writeln!(o, "    {}", node_line(n));
        }
        let _ = writeln!(o, "  }}");
    }
    for e in &d.edges {
        let mut attrs = Vec::new();
        if let Some(l) = &e.label {
            attrs.push(format!("label=\"{}\"", esc(l)));
        }
        match e.link {
            Link::On => attrs.push("penwidth=2".into()),
            Link::Remembered => attrs.push("style=dashed".into()),
            Link::Goal => attrs.push("style=dotted, color=\"#059669\", constraint=false".into()),
            Link::Reads | Link::Decides => {}
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(o, "  \"{}\" -> \"{}\"{attrs};", esc(&e.from), esc(&e.to));
    }
    let _ = writeln!(o, "}}");
    o
}

/// The drawing as JSON, for the playground: `{"nodes": [{"id", "kind", "lines", "group",
/// "source": {"file", "line"}?}], "edges": [{"from", "to", "link", "label"}], "groups": [..]}`;
/// rules and segments carry where they are written (from the checked model).
pub fn to_json(g: &Graph, model: &Model, sources: &Sources) -> serde_json::Value {
    use serde_json::json;
    let d = drawing(g);
    let at = |span: crate::ast::Span| {
        sources.get(span.file).map(|s| {
            let (line, column) = s.line_col(span.start as usize);
            json!({"file": s.name, "line": line, "column": column})
        })
    };
    let source_of = |n: &DrawnNode| -> Option<serde_json::Value> {
        let name = n.id.split_once(':').map_or("", |(_, name)| name);
        match n.kind {
            Kind::Rule => model
                .rules
                .iter()
                .find(|r| r.name == name)
                .and_then(|r| at(r.span)),
            Kind::Segment => model
                .segments
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| at(s.span)),
            _ => None,
        }
    };
    let link = |l: Link| match l {
        Link::On => "on",
        Link::Remembered => "remembered",
        Link::Reads => "reads",
        Link::Decides => "decides",
        Link::Goal => "goal",
    };
    json!({
        "nodes": d.nodes.iter().map(|n| json!({
            "id": n.id, "kind": n.kind.name(), "lines": n.lines,
            "group": n.group.and_then(|gi| d.groups.get(gi)).map(|(name, _)| name),
            "source": source_of(n),
        })).collect::<Vec<_>>(),
        "edges": d.edges.iter().map(|e| json!({
            "from": e.from, "to": e.to, "link": link(e.link), "label": e.label,
        })).collect::<Vec<_>>(),
        "groups": d.groups.iter().map(|(name, label)| json!({"name": name, "label": label})).collect::<Vec<_>>(),
    })
}
