//! The rule graph drawn for people, as Graphviz DOT.
//!
//! A marketer should see what feeds what: which events trigger which rules, which history
//! (remembered events) and segments each rule reads, what it decides, and which rules compete
//! in a group. A history query shared by several rules is drawn once, with an edge to each,
//! which is also how the graph is evaluated.

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

fn duration(ms: i64) -> String {
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

/// The rule graph as DOT.
pub fn to_dot(g: &Graph) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "digraph omnirule {{");
    let _ = writeln!(o, "  rankdir=LR;");
    let _ = writeln!(o, "  node [fontname=\"Helvetica\", fontsize=11];");
    let _ = writeln!(o, "  edge [fontname=\"Helvetica\", fontsize=9];");
    let event_name = |e: u32| {
        g.schema
            .events
            .get(e as usize)
            .map_or("?", |e| e.name.as_str())
    };

    // Events that trigger rules or are remembered.
    for (i, e) in g.schema.events.iter().enumerate() {
        let kept = g
            .retention
            .get(i)
            .and_then(|r| r.keep.map(|k| (k, r.fields.join(", "))));
        let label = match kept {
            Some((k, f)) if f.is_empty() => format!("{}\\nremembered {}", e.name, duration(k)),
            Some((k, f)) => format!("{}\\nremembered {}: {}", e.name, duration(k), esc(&f)),
            None => e.name.clone(),
        };
        let _ = writeln!(
            o,
            "  \"event:{}\" [shape=ellipse, style=filled, fillcolor=\"#dbeafe\", label=\"{label}\"];",
            e.name
        );
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
        let _ = writeln!(
            o,
            "  \"query:{i}\" [shape=cylinder, style=filled, fillcolor=\"#fef3c7\", label=\"{}\"];",
            esc(&label)
        );
        let _ = writeln!(
            o,
            "  \"event:{}\" -> \"query:{i}\" [style=dashed, label=\"remembered\"];",
            event_name(q.event)
        );
    }
    for (i, s) in g.segments.iter().enumerate() {
        let _ = writeln!(
            o,
            "  \"segment:{}\" [shape=hexagon, style=filled, fillcolor=\"#dcfce7\", label=\"segment {}\"];",
            s.name, s.name
        );
        let mut r = Reads::default();
        walk_cond(g, s.cond, &mut r, &mut BTreeSet::new());
        for q in &r.queries {
            let _ = writeln!(o, "  \"query:{q}\" -> \"segment:{}\";", s.name);
        }
        for d in r.segments.iter().filter(|d| **d as usize != i) {
            if let Some(d) = g.segments.get(*d as usize) {
                let _ = writeln!(o, "  \"segment:{}\" -> \"segment:{}\";", d.name, s.name);
            }
        }
    }
    for a in &g.schema.actions {
        let _ = writeln!(
            o,
            "  \"action:{}\" [shape=note, style=filled, fillcolor=\"#fce7f3\", label=\"{}\"];",
            a.name, a.name
        );
    }
    // Groups as clusters around their rules.
    let mut grouped: Vec<Vec<usize>> = vec![Vec::new(); g.groups.len()];
    for (i, r) in g.rules.iter().enumerate() {
        if let Some(gr) = r.group.and_then(|gr| grouped.get_mut(gr as usize)) {
            gr.push(i);
        }
    }
    let rule_node = |i: usize| -> String {
        let Some(r) = g.rules.get(i) else {
            return String::new();
        };
        let mut label = format!("rule {}", r.name);
        if let Some(t) = &r.title {
            let _ = write!(label, "\\n{}", esc(t));
        }
        if r.priority != 0 {
            let _ = write!(label, "\\npriority {}", r.priority);
        }
        if let Some(c) = &r.cap {
            let _ = write!(label, "\\n{}", cap_text(c));
        }
        if !r.consents.is_empty() {
            let names: Vec<&str> = r
                .consents
                .iter()
                .filter_map(|c| g.schema.consents.get(*c as usize).map(String::as_str))
                .collect();
            let _ = write!(label, "\\nconsent {}", names.join(", "));
        }
        format!(
            "\"rule:{}\" [shape=box, style=\"rounded,filled\", fillcolor=\"#e5e7eb\", label=\"{label}\"];",
            r.name
        )
    };
    for (gi, members) in grouped.iter().enumerate() {
        let Some(group) = g.groups.get(gi) else {
            continue;
        };
        let _ = writeln!(o, "  subgraph \"cluster_{}\" {{", group.name);
        let cap = group
            .cap
            .as_ref()
            .map(|c| format!(" ({})", cap_text(c)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "    label=\"group {}{cap}: one winner per event\"; style=dashed;",
            group.name
        );
        for m in members {
            let _ = writeln!(o, "    {}", rule_node(*m));
        }
        let _ = writeln!(o, "  }}");
    }
    for (i, r) in g.rules.iter().enumerate() {
        if r.group.is_none() {
            let _ = writeln!(o, "  {}", rule_node(i));
        }
        for e in &r.on {
            let _ = writeln!(
                o,
                "  \"event:{}\" -> \"rule:{}\" [label=\"on\", penwidth=2];",
                event_name(*e),
                r.name
            );
        }
        let mut reads = Reads::default();
        let mut seen = BTreeSet::new();
        if let Some(c) = r.when {
            walk_cond(g, c, &mut reads, &mut seen);
        }
        let mut actions: BTreeSet<u32> = BTreeSet::new();
        match &r.outcome {
            Outcome::Actions(calls) => {
                for c in calls {
                    actions.insert(c.action);
                    for (_, n) in &c.params {
                        walk_node(g, *n, &mut reads, &mut seen);
                    }
                }
            }
            Outcome::Split { name, arms, .. } => {
                for a in arms {
                    let variant = a.variant.as_deref().unwrap_or("control");
                    for c in &a.actions {
                        actions.insert(c.action);
                        let an = g
                            .schema
                            .actions
                            .get(c.action as usize)
                            .map_or("?", |a| a.name.as_str());
                        let _ = writeln!(
                            o,
                            "  \"rule:{}\" -> \"action:{an}\" [label=\"{}% {}: {}\"];",
                            r.name,
                            f64::from(a.basis_points) / 100.0,
                            esc(name),
                            esc(variant)
                        );
                    }
                }
                actions.clear();
            }
        }
        for q in &reads.queries {
            let _ = writeln!(o, "  \"query:{q}\" -> \"rule:{}\";", r.name);
        }
        for s in &reads.segments {
            if let Some(s) = g.segments.get(*s as usize) {
                let _ = writeln!(o, "  \"segment:{}\" -> \"rule:{}\";", s.name, r.name);
            }
        }
        for a in actions {
            let an = g
                .schema
                .actions
                .get(a as usize)
                .map_or("?", |a| a.name.as_str());
            let _ = writeln!(
                o,
                "  \"rule:{}\" -> \"action:{an}\" [label=\"do\"];",
                r.name
            );
        }
    }
    let _ = writeln!(o, "}}");
    o
}
