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

use crate::graph::{EventTypeId, Node, NodeId};
use crate::memory::RememberedEvent;
use crate::plan::keys::{Key, KeyedField, Keys, QueryKey};
use crate::value::Value;
use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::Arc;

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::graph::{CmpOp, Literal, Query};

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
            Arc::new(RememberedEvent::new(
                "e".into(),
                format!("{i}").into(),
                i,
                vec![("price".into(), price)],
            ))
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
