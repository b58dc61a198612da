//! The plan: facts derived from a valid graph once, at load time, so that evaluation does not
//! recompute them per event.
//!
//! Name indexes, which expression nodes and history queries are independent of binding slots
//! (and so can be memoised per event), literal values, the rules' consent sets, and the keyed
//! history queries ([`keys`]). Everything here is read-only after load; the fast path's
//! per-trigger compile, which is lazy, lives in [`crate::fast`].

pub(crate) mod keys;

use crate::graph::{ConsentId, EventTypeId, Graph, GroupId, Node, NodeId, Query, QueryId, RuleId};
use crate::names::{ByName, Names};
use crate::validate;
use crate::value::Value;
use keys::Keys;
use std::sync::OnceLock;

/// Facts derived from a valid graph once, at load time.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    event_by_name: ByName,
    /// Built on first use (pruning a memory with firings of capped rules): a bundle's load
    /// need not sort every rule's name.
    rule_by_name: OnceLock<ByName>,
    group_by_name: ByName,
    /// Per event type: index into `graph.triggers`.
    trigger_of: Vec<Option<usize>>,
    /// Per query: its matches do not depend on binding slots.
    query_pure: Vec<bool>,
    /// The queries whose filters require a field to equal a literal, and their buckets
    /// (see `history`).
    keys: Keys,
    /// The distinct consent sets of the rules (empty when a rule needs no consent). A
    /// customer who holds none of them can be decided nothing, so nothing is kept about them.
    rule_consents: Vec<Vec<ConsentId>>,
    /// Per node: worth memoising. It reads no binding slot (directly or through a query's
    /// `since`/`where`), so its value is the same everywhere during one event; and it is more
    /// than a leaf, whose lookup costs what recomputing it does.
    node_memo: Vec<bool>,
    /// Per node: the value of a literal node, built once here rather than on every event
    /// (`Missing` for other nodes).
    literal: Vec<Value>,
    names: Names,
}

/// A set of binding slots (at most [`validate::MAX_SLOTS`](crate::validate::MAX_SLOTS)).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Slots([u64; 5]);

/// The pseudo slot a [`Node::Captured`] reads: past every real one (`MAX_SLOTS`), so a node
/// that reads a goal's captured values is never memoised per event (they change per exposure).
const CAPTURED: u16 = crate::validate::MAX_SLOTS;

impl Slots {
    fn with(mut self, s: u16) -> Self {
        let s = usize::from(s);
        if let Some(w) = self.0.get_mut(s / 64) {
            *w |= 1u64 << (s % 64);
        }
        self
    }
    fn without(mut self, s: u16) -> Self {
        let s = usize::from(s);
        if let Some(w) = self.0.get_mut(s / 64) {
            *w &= !(1u64 << (s % 64));
        }
        self
    }
    fn union(mut self, o: Slots) -> Self {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a |= *b;
        }
        self
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

/// The binding slots a query's matches depend on: its filter's, less the slot the query binds
/// itself, plus the one its `since` reads.
fn query_free(query: &Query, free: &[Slots]) -> Slots {
    let qf = query
        .filter
        .and_then(|n| free.get(n as usize).copied())
        .unwrap_or_default()
        .without(query.slot);
    match query.since {
        Some(s) => qf.with(s),
        None => qf,
    }
}

impl Plan {
    /// The index into `graph.triggers` of the trigger of event type `e`.
    pub(crate) fn trigger_of(&self, e: EventTypeId) -> Option<usize> {
        self.trigger_of.get(e as usize).copied().flatten()
    }

    /// Whether query `q`'s matches depend on no binding slot (so they can be memoised).
    pub(crate) fn query_pure(&self, q: QueryId) -> bool {
        self.query_pure.get(q as usize).copied().unwrap_or(false)
    }

    /// Whether node `n` is worth memoising per event.
    pub(crate) fn node_memo(&self, n: NodeId) -> bool {
        self.node_memo.get(n as usize).copied().unwrap_or(false)
    }

    /// Per node, the value of a literal node (`Missing` for other nodes).
    pub(crate) fn literals(&self) -> &[Value] {
        &self.literal
    }

    /// The keyed history queries.
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The distinct consent sets of the rules.
    pub(crate) fn rule_consents(&self) -> &[Vec<ConsentId>] {
        &self.rule_consents
    }

    /// The bundle's shared names.
    pub(crate) fn names(&self) -> &Names {
        &self.names
    }
    /// The rule named `name`.
    pub(crate) fn rule_id(&self, g: &Graph, name: &str) -> Option<RuleId> {
        let rule = |i: usize| g.rules.get(i).map(|r| r.name.as_str());
        self.rule_by_name
            .get_or_init(|| ByName::new(g.rules.len(), rule))
            .get(name, rule)
    }

    /// The event type named `name`.
    pub(crate) fn event_id(&self, g: &Graph, name: &str) -> Option<EventTypeId> {
        let events = &g.schema.events;
        self.event_by_name
            .get(name, |i| events.get(i).map(|e| e.name.as_str()))
    }

    /// The group named `name`.
    pub(crate) fn group_id(&self, g: &Graph, name: &str) -> Option<GroupId> {
        self.group_by_name
            .get(name, |i| g.groups.get(i).map(|x| x.name.as_str()))
    }

    /// Works out the plan of a valid graph.
    pub(crate) fn new(g: &Graph) -> Plan {
        let (free, qfree) = free_slots(g);
        let mut trigger_of = vec![None; g.schema.events.len()];
        for (i, t) in g.triggers.iter().enumerate() {
            if let Some(x) = trigger_of.get_mut(t.event as usize) {
                *x = Some(i);
            }
        }
        let literal: Vec<Value> = g.nodes.iter().map(literal_of).collect();
        let names = Names::new(g);
        let keys = Keys::new(&g.nodes, &g.queries, &literal);
        Plan {
            event_by_name: ByName::new(g.schema.events.len(), |i| {
                g.schema.events.get(i).map(|e| e.name.as_str())
            }),
            rule_by_name: OnceLock::new(),
            group_by_name: ByName::new(g.groups.len(), |i| {
                g.groups.get(i).map(|x| x.name.as_str())
            }),
            trigger_of,
            rule_consents: {
                let mut sets: Vec<Vec<ConsentId>> = g
                    .rules
                    .iter()
                    .map(|r| {
                        let mut c = r.consents.clone();
                        omnirule_text::sort::sort(&mut c);
                        c.dedup();
                        c
                    })
                    .collect();
                omnirule_text::sort::sort(&mut sets);
                sets.dedup();
                sets
            },
            node_memo: g
                .nodes
                .iter()
                .zip(&free)
                .map(|(n, f)| {
                    f.is_empty()
                        && !matches!(
                            n,
                            Node::Lit(_)
                                | Node::Now
                                | Node::EventField(_)
                                | Node::EventMeta(_)
                                | Node::ProfileField(_)
                                | Node::Bound(_)
                        )
                })
                .collect(),
            query_pure: qfree.iter().map(Slots::is_empty).collect(),
            keys,
            names,
            literal,
        }
    }
}

/// Per node and per query, the binding slots it reads (directly or through its children and
/// queries). A function per node, called from a short loop: in a browser a load runs in
/// baseline code, and a long loop with its work inline makes the engine spend a background
/// compile (competing for the page's cores) on a function that is never called again.
fn free_slots(g: &Graph) -> (Vec<Slots>, Vec<Slots>) {
    let mut free = vec![Slots::default(); g.nodes.len()];
    let mut qfree = vec![Slots::default(); g.queries.len()];
    let mut qdone = vec![false; g.queries.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        let f = node_free(g, node, &free, &mut qfree, &mut qdone);
        if let Some(x) = free.get_mut(i) {
            *x = f;
        }
    }
    // Queries only used by binding conditions were not reached through a node.
    for (q, query) in g.queries.iter().enumerate() {
        if qdone.get(q) == Some(&true) {
            continue;
        }
        if let Some(x) = qfree.get_mut(q) {
            *x = query_free(query, &free);
        }
    }
    (free, qfree)
}

/// A node's free slots, given its children's (`free`); records its query's in `qfree`.
#[inline(never)]
fn node_free(
    g: &Graph,
    node: &Node,
    free: &[Slots],
    qfree: &mut [Slots],
    qdone: &mut [bool],
) -> Slots {
    let mut f = Slots::default();
    for c in validate::node_children(node) {
        f = f.union(free.get(c as usize).copied().unwrap_or_default());
    }
    match node {
        Node::Bound(s) => f = f.with(*s),
        Node::Captured(_) => f = f.with(CAPTURED),
        _ => {}
    }
    if let Some(q) = validate::node_query(node) {
        let qf = g
            .queries
            .get(q as usize)
            .map_or_else(Slots::default, |query| query_free(query, free));
        if let Some(x) = qfree.get_mut(q as usize) {
            *x = qf;
        }
        if let Some(x) = qdone.get_mut(q as usize) {
            *x = true;
        }
        f = f.union(qf);
    }
    f
}

/// A literal node's value (`Missing` for other nodes); see [`free_slots`] for why a call each.
#[inline(never)]
fn literal_of(n: &Node) -> Value {
    match n {
        Node::Lit(l) => Value::from_literal(l),
        _ => Value::Missing,
    }
}
