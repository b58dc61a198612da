//! Which history queries are keyed on a literal, worked out once at load.
//!
//! A query whose filter requires its candidate's field to equal a literal
//! (`where v.category == "c3"`) can look only at the remembered events with that value. Here
//! the plan finds those queries and, per (event type, field) that two or more of them share,
//! the literals that name its buckets; [`crate::history`] builds the buckets over a memory
//! during an event.

use crate::graph::{CmpOp, EventTypeId, Node, NodeId, Query, QueryId, Slot};
use crate::value::Value;

/// Nesting of `and` looked through for a key; filters are short, and a key found deeper would
/// only be a missed shortcut, never a wrong answer.
const MAX_AND_DEPTH: u32 = 8;

/// The keyed queries of a graph, worked out at load.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    /// Per query: its bucket, when it has one.
    of_query: Vec<Option<QueryKey>>,
    /// The (event type, field) pairs that two or more queries are keyed on.
    pub(crate) fields: Vec<KeyedField>,
}

/// Where a keyed query's candidates are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueryKey {
    /// Index into [`Keys::fields`].
    pub(crate) field: u32,
    /// Index into that field's literals.
    pub(crate) bucket: u32,
    /// The filter is that comparison and nothing else: a bucket's events pass it without
    /// evaluating it.
    pub(crate) whole_filter: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct KeyedField {
    pub(crate) event_type: EventTypeId,
    /// A `Node::Field` naming the field.
    pub(crate) node: NodeId,
    /// Literal nodes, one per distinct key, in key order.
    pub(crate) literals: Vec<NodeId>,
}

/// A value as a bucket's key: strings by their text, numbers by value (`-0` is `0`; NaN, equal
/// to nothing, has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key<'v> {
    Str(&'v str),
    Num(u64),
}

impl<'v> Key<'v> {
    pub(crate) fn of(v: &'v Value) -> Option<Key<'v>> {
        match v {
            Value::String(s) => Some(Key::Str(s)),
            Value::Number(x) if x.is_nan() => None,
            Value::Number(x) => Some(Key::Num(if *x == 0.0 { 0 } else { x.to_bits() })),
            _ => None,
        }
    }
}

/// A query's filter requires its candidate's field (`field`, a `Node::Field`) to equal a
/// literal (`literal`).
struct Found {
    query: usize,
    event_type: EventTypeId,
    field: NodeId,
    literal: NodeId,
    whole_filter: bool,
}

impl Keys {
    /// Of a graph's `nodes` and `queries`; `literals`: per node, its literal value
    /// (`Missing` for other nodes).
    pub(crate) fn new(nodes: &[Node], queries: &[Query], literals: &[Value]) -> Keys {
        let mut found: Vec<Found> = queries
            .iter()
            .enumerate()
            .filter_map(|(i, q)| key_of(nodes, literals, i, q))
            .collect();
        if found.len() < 2 {
            return Keys::default();
        }
        let name = |f: &Found| match nodes.get(f.field as usize) {
            Some(Node::Field { name, .. }) => name.as_str(),
            _ => "",
        };
        let key = |n: NodeId| literals.get(n as usize).and_then(Key::of);
        omnirule_text::sort::sort_by(&mut found, |a, b| {
            (a.event_type, name(a), key(a.literal)).cmp(&(b.event_type, name(b), key(b.literal)))
        });
        let mut keys = Keys {
            of_query: vec![None; queries.len()],
            fields: Vec::new(),
        };
        for run in found.chunk_by(|a, b| a.event_type == b.event_type && name(a) == name(b)) {
            let (Some(first), true) = (run.first(), run.len() >= 2) else {
                continue;
            };
            let field = u32::try_from(keys.fields.len()).unwrap_or(u32::MAX);
            let mut literals: Vec<NodeId> = Vec::new();
            for f in run {
                if literals.last().is_none_or(|&l| key(l) != key(f.literal)) {
                    literals.push(f.literal);
                }
                let bucket = u32::try_from(literals.len() - 1).unwrap_or(u32::MAX);
                if let Some(slot) = keys.of_query.get_mut(f.query) {
                    *slot = Some(QueryKey {
                        field,
                        bucket,
                        whole_filter: f.whole_filter,
                    });
                }
            }
            keys.fields.push(KeyedField {
                event_type: first.event_type,
                node: first.field,
                literals,
            });
        }
        keys
    }

    /// A query's key, when it has one.
    pub(crate) fn of(&self, q: QueryId) -> Option<QueryKey> {
        self.of_query.get(q as usize).copied().flatten()
    }
}

fn key_of(nodes: &[Node], literals: &[Value], query: usize, q: &Query) -> Option<Found> {
    let filter = q.filter?;
    let (field, literal) = key_in(nodes, literals, filter, q.slot, 0)?;
    Some(Found {
        query,
        event_type: q.event,
        field,
        literal,
        whole_filter: matches!(nodes.get(filter as usize), Some(Node::Cmp(..))),
    })
}

/// An `==` between the candidate's field and a string or number literal, on its own or as a
/// conjunct (`and`) of the filter: the field's node and the literal's.
fn key_in(
    nodes: &[Node],
    literals: &[Value],
    n: NodeId,
    slot: Slot,
    depth: u32,
) -> Option<(NodeId, NodeId)> {
    if depth > MAX_AND_DEPTH {
        return None;
    }
    match nodes.get(n as usize)? {
        Node::And(a, b) => key_in(nodes, literals, *a, slot, depth + 1)
            .or_else(|| key_in(nodes, literals, *b, slot, depth + 1)),
        Node::Cmp(CmpOp::Eq, a, b) => {
            let candidate_field = |f: NodeId| match nodes.get(f as usize) {
                Some(Node::Field { of, .. }) => {
                    matches!(nodes.get(*of as usize), Some(Node::Bound(s)) if *s == slot)
                }
                _ => false,
            };
            let keyed_literal = |l: NodeId| {
                matches!(nodes.get(l as usize), Some(Node::Lit(_)))
                    && literals.get(l as usize).and_then(Key::of).is_some()
            };
            if candidate_field(*a) && keyed_literal(*b) {
                Some((*a, *b))
            } else if candidate_field(*b) && keyed_literal(*a) {
                Some((*b, *a))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A keyed query's field: its event type and how many buckets it has.
#[cfg(test)]
impl Keys {
    pub(crate) fn field_of(&self, q: QueryId) -> Option<(EventTypeId, usize)> {
        let k = self.of(q)?;
        let f = self.fields.get(k.field as usize)?;
        Some((f.event_type, f.literals.len()))
    }
}
