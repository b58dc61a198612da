//! Remembered events grouped by a field's value, so that many queries over one event type
//! with `where x.f == "literal"` each visit only their own group.
//!
//! Why: a store's rule set asks the same history the same kind of question many times over
//! ("viewed category c3 within 30 days", "… c4 …", one rule per category), and a loyal
//! customer's memory holds thousands of events. Scanning the type's events once per query
//! made an event cost (queries × remembered events) filter evaluations; grouping them by the
//! field once per event makes it one pass plus each query's own matches.
//!
//! The groups are known at load: per (event type, field), one bucket for each literal the
//! queries compare that field with. An event whose value no query asks for goes in none.
//!
//! The grouping only narrows the candidates: every candidate still passes the query's window
//! and `since`, and its filter unless the filter is that one comparison; results are those of
//! the plain scan, in the same order (newest first). A filter `… == lit` can only hold when
//! the field *is* that literal (`Value::lang_eq` equates a string only with the same string,
//! a number only with an equal number), so the events left out of a bucket are exactly ones
//! the filter refuses.

use crate::graph::{CmpOp, EventTypeId, Node, NodeId, Query, QueryId, Slot};
use crate::memory::RememberedEvent;
use crate::value::Value;
use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::Arc;

/// Nesting of `and` looked through for a key; filters are short, and a key found deeper would
/// only be a missed shortcut, never a wrong answer.
const MAX_AND_DEPTH: u32 = 8;

/// The keyed queries of a graph, worked out at load.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    /// Per query: its bucket, when it has one.
    of_query: Vec<Option<QueryKey>>,
    /// The (event type, field) pairs that two or more queries are keyed on.
    fields: Vec<KeyedField>,
}

/// Where a keyed query's candidates are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueryKey {
    /// Index into [`Keys::fields`].
    field: u32,
    /// Index into that field's literals.
    bucket: u32,
    /// The filter is that comparison and nothing else: a bucket's events pass it without
    /// evaluating it.
    pub whole_filter: bool,
}

#[derive(Debug, Clone)]
struct KeyedField {
    event_type: EventTypeId,
    /// A `Node::Field` naming the field.
    node: NodeId,
    /// Literal nodes, one per distinct key, in key order.
    literals: Vec<NodeId>,
}

/// A value as a bucket's key: strings by their text, numbers by value (`-0` is `0`; NaN, equal
/// to nothing, has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key<'v> {
    Str(&'v str),
    Num(u64),
}

impl<'v> Key<'v> {
    fn of(v: &'v Value) -> Option<Key<'v>> {
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
        crate::sort::sort_by(&mut found, |a, b| {
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

/// One keyed field's buckets over the type's remembered events: per literal, the events'
/// indices into the memory, oldest first.
#[derive(Debug)]
pub(crate) struct Buckets(Vec<Vec<u32>>);

impl Buckets {
    fn build(
        nodes: &[Node],
        literals: &[Value],
        field: &KeyedField,
        mem: &[Arc<RememberedEvent>],
        (lo, hi): (usize, usize),
    ) -> Buckets {
        let mut buckets = vec![Vec::new(); field.literals.len()];
        let Some(Node::Field { name, .. }) = nodes.get(field.node as usize) else {
            return Buckets(buckets);
        };
        let key = |n: NodeId| literals.get(n as usize).and_then(Key::of);
        for (i, e) in mem.iter().enumerate().take(hi).skip(lo) {
            let Some(k) = e.field(name).and_then(Key::of) else {
                continue;
            };
            let Ok(at) = field
                .literals
                .binary_search_by(|&l| key(l).map_or(Ordering::Less, |l| l.cmp(&k)))
            else {
                continue;
            };
            if let (Some(bucket), Ok(i)) = (buckets.get_mut(at), u32::try_from(i)) {
                bucket.push(i);
            }
        }
        Buckets(buckets)
    }

    /// The candidates of a query keyed on this field, oldest first.
    pub(crate) fn of(&self, key: QueryKey) -> &[u32] {
        self.0.get(key.bucket as usize).map_or(&[], Vec::as_slice)
    }
}

/// Per event: the buckets built so far. A field's buckets are built on its second query
/// during the event: one query alone scans as before (it may stop at its first, newest,
/// match); a second one makes the pass pay.
#[derive(Debug, Default)]
pub(crate) struct Grouped {
    /// Per keyed field (sized on first use).
    fields: Vec<Grouping>,
}

#[derive(Debug, Default, Clone)]
enum Grouping {
    #[default]
    NotAsked,
    AskedOnce,
    Built(Rc<Buckets>),
}

impl Grouped {
    /// The buckets of a keyed query's field over its type's events (`range` of `mem`, the
    /// events of `event_type`), unless this is the field's first query during the event.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn get(
        &mut self,
        nodes: &[Node],
        keys: &Keys,
        literals: &[Value],
        key: QueryKey,
        event_type: EventTypeId,
        mem: &[Arc<RememberedEvent>],
        range: (usize, usize),
    ) -> Option<Rc<Buckets>> {
        let field = keys
            .fields
            .get(key.field as usize)
            .filter(|f| f.event_type == event_type)?;
        if self.fields.is_empty() {
            self.fields = vec![Grouping::NotAsked; keys.fields.len()];
        }
        let state = self.fields.get_mut(key.field as usize)?;
        match state {
            Grouping::NotAsked => {
                *state = Grouping::AskedOnce;
                None
            }
            Grouping::AskedOnce => {
                let built = Rc::new(Buckets::build(nodes, literals, field, mem, range));
                *state = Grouping::Built(Rc::clone(&built));
                Some(built)
            }
            Grouping::Built(b) => Some(Rc::clone(b)),
        }
    }
}

/// A keyed query's field: its event type and how many buckets it has.
#[cfg(test)]
impl Keys {
    fn field_of(&self, q: QueryId) -> Option<(EventTypeId, usize)> {
        let k = self.of(q)?;
        let f = self.fields.get(k.field as usize)?;
        Some((f.event_type, f.literals.len()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::graph::Literal;

    /// A graph's nodes and queries: queries over event type 0 with the given filters (each
    /// built over the candidate in slot 0).
    #[derive(Default)]
    struct Graph {
        nodes: Vec<Node>,
        queries: Vec<Query>,
    }

    fn graph(filters: &[fn(&mut Vec<Node>) -> NodeId]) -> (Graph, Vec<Value>) {
        let mut g = Graph::default();
        for make in filters {
            let filter = make(&mut g.nodes);
            g.queries.push(Query {
                event: 0,
                within: None,
                since: None,
                slot: 0,
                filter: Some(filter),
            });
        }
        let literals = g
            .nodes
            .iter()
            .map(|n| match n {
                Node::Lit(l) => Value::from_literal(l),
                _ => Value::Missing,
            })
            .collect();
        (g, literals)
    }

    fn push(nodes: &mut Vec<Node>, n: Node) -> NodeId {
        nodes.push(n);
        NodeId::try_from(nodes.len() - 1).unwrap()
    }

    fn field_eq(nodes: &mut Vec<Node>, name: &str, lit: Literal, flipped: bool) -> NodeId {
        let b = push(nodes, Node::Bound(0));
        let f = push(
            nodes,
            Node::Field {
                of: b,
                name: name.into(),
            },
        );
        let l = push(nodes, Node::Lit(lit));
        let (x, y) = if flipped { (l, f) } else { (f, l) };
        push(nodes, Node::Cmp(CmpOp::Eq, x, y))
    }

    #[test]
    fn equal_literals_share_a_bucket_and_other_filters_have_none() {
        let (g, lits) = graph(&[
            |n| field_eq(n, "category", Literal::String("a".into()), false),
            |n| field_eq(n, "category", Literal::String("b".into()), true),
            |n| {
                let k = field_eq(n, "category", Literal::String("a".into()), false);
                let b = push(n, Node::Bound(0));
                let p = push(
                    n,
                    Node::Field {
                        of: b,
                        name: "price".into(),
                    },
                );
                let five = push(n, Node::Lit(Literal::Number(5.0)));
                let gt = push(n, Node::Cmp(CmpOp::Gt, p, five));
                push(n, Node::And(gt, k))
            },
            |n| field_eq(n, "price", Literal::Number(0.0), false),
            |n| field_eq(n, "price", Literal::Number(-0.0), false),
            |n| field_eq(n, "price", Literal::Number(f64::NAN), false),
            |n| {
                let b = push(n, Node::Bound(0));
                let f = push(
                    n,
                    Node::Field {
                        of: b,
                        name: "category".into(),
                    },
                );
                let l = push(n, Node::Lit(Literal::String("a".into())));
                push(n, Node::Cmp(CmpOp::Ne, f, l))
            },
            |n| field_eq(n, "tag", Literal::String("only one".into()), false),
        ]);
        let keys = Keys::new(&g.nodes, &g.queries, &lits);
        let k = |q| keys.of(q);
        // Two distinct categories; the `and` finds its key in its second conjunct, and is not
        // the whole filter.
        assert_eq!(keys.field_of(0), Some((0, 2)));
        assert!(k(0).unwrap().whole_filter && k(1).unwrap().whole_filter);
        assert_ne!(k(0).unwrap().bucket, k(1).unwrap().bucket);
        assert_eq!(k(2).unwrap().bucket, k(0).unwrap().bucket);
        assert!(!k(2).unwrap().whole_filter);
        // 0 and -0 are one key; NaN equals nothing and `!=` says nothing of the value.
        assert_eq!(keys.field_of(3), Some((0, 1)));
        assert_eq!(k(3).unwrap().bucket, k(4).unwrap().bucket);
        assert_eq!(k(5), None);
        assert_eq!(k(6), None);
        // A field only one query is keyed on is not worth grouping.
        assert_eq!(k(7), None);
    }

    #[test]
    fn buckets_hold_the_events_of_their_literal_in_memory_order() {
        let (g, lits) = graph(&[
            |n| field_eq(n, "price", Literal::Number(0.0), false),
            |n| field_eq(n, "price", Literal::Number(7.0), false),
        ]);
        let keys = Keys::new(&g.nodes, &g.queries, &lits);
        let event = |i: i64, price: Value| {
            Arc::new(RememberedEvent {
                event_type: "e".into(),
                id: format!("{i}").into(),
                time: i,
                fields: vec![("price".into(), price)],
            })
        };
        let mem = vec![
            event(0, Value::Number(-0.0)),
            event(1, Value::Number(7.0)),
            event(2, Value::String("7".into())),
            event(3, Value::Number(0.0)),
            event(4, Value::Missing),
            event(5, Value::Number(7.0)),
        ];
        let mut grouped = Grouped::default();
        let (k0, k7) = (keys.of(0).unwrap(), keys.of(1).unwrap());
        // The first query scans; the second gets the buckets, over the range asked for.
        assert!(
            grouped
                .get(&g.nodes, &keys, &lits, k0, 0, &mem, (0, 5))
                .is_none()
        );
        // Not for another type's range.
        assert!(
            grouped
                .get(&g.nodes, &keys, &lits, k7, 1, &mem, (0, 5))
                .is_none()
        );
        let b = grouped
            .get(&g.nodes, &keys, &lits, k7, 0, &mem, (0, 5))
            .unwrap();
        assert_eq!(b.of(k0), [0, 3]);
        assert_eq!(b.of(k7), [1]);
    }
}
