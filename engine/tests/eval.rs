//! The evaluator on what the language cannot say: graphs only a hand builds (bindings that
//! outlive an `or` or a `not`, `and`/`or`/`not` over values that are not booleans, fields read
//! from a `last(...)`) and events built in Rust. The language's semantics are tested once, by
//! the conformance vectors (`tests/vectors/`); the fast path's hints, over compiled rule sets,
//! in `tests/semantics.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::graph::*;
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use omnirule_engine::value::Value;
use omnirule_engine::{evaluate, explain};
use serde_json::json;

/// A rule `name` on `on` whose condition is the single test `node`.
fn test_rule(g: &mut G, name: &str, on: EventTypeId, node: NodeId) -> RuleId {
    let c = g.test(node, name);
    let r = g.rule(name, &[on], Some(c));
    g.add(r)
}

// ----- graphs the checker refuses ------------------------------------------------------------

/// The checker keeps a name bound inside an `or` or a `not` from being read outside it; a
/// graph may do it anyway, and then an `or` binds through the first branch that lets the rest
/// of the condition hold, and a `not` leaves its slot unbound.
#[test]
fn an_or_takes_the_first_branch_that_lets_the_rest_hold_and_not_keeps_no_bindings() {
    // (seen page_view as v where v.category == "a" or seen page_view as v where v.category == "b")
    // and v.price > 5 ; do banner { text: v.sku }
    let mut g = G::new();
    let cat = g.bf(4, "category");
    let a = g.s("a");
    let b = g.s("b");
    let is_a = g.eq(cat, a);
    let is_b = g.eq(cat, b);
    let qa = g.query(PAGE_VIEW, Some(DAY), None, 4, Some(is_a));
    let qb = g.query(PAGE_VIEW, Some(DAY), None, 4, Some(is_b));
    let ba = g.cond(Cond::Bind { query: qa, slot: 4 }, "a");
    let bb = g.cond(Cond::Bind { query: qb, slot: 4 }, "b");
    let or = g.cond(Cond::Or(vec![ba, bb]), "a or b");
    let price = g.bf(4, "price");
    let five = g.n(5.0);
    let dear = g.cmp(CmpOp::Gt, price, five);
    let t = g.test(dear, "v.price > 5");
    let all = g.cond(Cond::And(vec![or, t]), "all");
    let sku = g.bf(4, "sku");
    let text = g.text_of(sku);
    let mut r = g.rule("r", &[BEACON], Some(all));
    r.outcome = Outcome::Actions(vec![g.banner(text)]);
    g.add(r);
    // not (seen page_view as w) and w is missing: bindings do not escape a `not`.
    let cat5 = g.bf(5, "category");
    let is_b5 = g.eq(cat5, b);
    let qz = g.query(PAGE_VIEW, Some(DAY), None, 5, Some(is_b5));
    let bz = g.cond(Cond::Bind { query: qz, slot: 5 }, "seen b as w");
    let notz = g.cond(Cond::Not(bz), "not seen b as w");
    let w = g.bound(5);
    let wm = g.node(Node::Missing(w));
    let wt = g.test(wm, "w is missing");
    let both = g.cond(Cond::And(vec![notz, wt]), "not and missing");
    let r2 = g.rule("no_b", &[BEACON], Some(both));
    g.add(r2);
    let mut j = Journey::new(g.bundle(), customer());
    let mut cheap_a = view("2026-11-20T10:00:00Z", "CHEAP_A", "a");
    cheap_a["price"] = json!(1);
    let mut dear_b = view("2026-11-20T09:00:00Z", "DEAR_B", "b");
    dear_b["price"] = json!(9);
    j.play([cheap_a, dear_b]);
    let d = j.send(beacon("2026-11-20T11:00:00Z"));
    assert_eq!(rules(&d), ["r"]);
    assert_eq!(param(&d, "r", "text"), "DEAR_B");
    let mut j2 = Journey::new(j.bundle.clone(), customer());
    let d = j2.send(beacon("2026-11-20T11:00:00Z"));
    assert_eq!(rules(&d), ["no_b"]);
}

/// `and`, `or` and `not` take only `true` as true: a missing value and a string alike are
/// false. (The checker admits only booleans; the vectors cover missing booleans.)
#[test]
fn not_and_or_read_anything_but_true_as_false() {
    let mut g = G::new();
    let tag = g.ev("tag");
    let not_tag = g.node(Node::Not(tag));
    test_rule(&mut g, "not_tag", PAGE_VIEW, not_tag);
    let t = g.b(true);
    let and_tag = g.and(t, tag);
    test_rule(&mut g, "and_tag", PAGE_VIEW, and_tag);
    let or_tag = g.node(Node::Or(tag, t));
    test_rule(&mut g, "or_tag", PAGE_VIEW, or_tag);
    let mut j = Journey::new(g.bundle(), customer());
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(rules(&d), ["not_tag", "or_tag"]);
    let mut tagged = view("2026-11-20T10:01:00Z", "B", "x");
    tagged["tag"] = json!("y");
    let d = j.send(tagged);
    assert_eq!(rules(&d), ["not_tag", "or_tag"]);
}

/// The language reads an event's fields through a binding (`seen E as x`, then `x.f`); a graph
/// may read them from a `last(...)` too: the newest match's.
#[test]
fn the_fields_of_last_are_the_newest_matchs() {
    let mut g = G::new();
    let q = g.query(PURCHASE, Some(30 * DAY), None, 0, None);
    let last = g.node(Node::Last(q));
    let sku = g.node(Node::Field {
        of: last,
        name: "sku".into(),
    });
    let time = g.node(Node::FieldMeta {
        of: last,
        meta: Meta::Time,
    });
    let text = g.interp(vec![
        Piece::Value(sku),
        Piece::Text(" ".into()),
        Piece::Value(time),
    ]);
    let mut r = g.rule("r", &[BEACON], None);
    r.outcome = Outcome::Actions(vec![g.banner(text)]);
    g.add(r);
    let mut j = Journey::new(g.bundle(), customer());
    let d = j.send(beacon("2026-11-17T10:00:00Z"));
    assert_eq!(param(&d, "r", "text"), " ");
    let d = j.play([
        purchase("2026-11-18T10:00:00Z", "A"),
        purchase("2026-11-19T10:00:00Z", "B"),
        beacon("2026-11-19T13:00:00Z"),
    ]);
    assert_eq!(param(&d, "r", "text"), "B 2026-11-19T10:00:00Z");
}

// ----- inputs built in Rust ------------------------------------------------------------------

#[test]
fn rust_built_events_with_unknown_types_or_wrong_field_types_never_panic() {
    let b = Bundle::new(rich_graph()).unwrap();
    let p = Profile::new(
        "c1",
        ["marketing", "location"],
        [("tier".to_string(), Value::Number(3.0))],
    );
    let mut memory = Memory::default();
    let weird = [
        Event::new(99, "x1", 0, []),
        Event::new(
            PAGE_VIEW,
            "x2",
            1,
            [
                ("category".to_string(), Value::Number(1.0)),
                ("sku".into(), Value::List(vec![])),
            ],
        ),
        Event::new(
            PAGE_VIEW,
            "x3",
            i64::MAX,
            [("category".to_string(), Value::string("knit"))],
        ),
        Event::new(BEACON, "x4", i64::MIN, []),
        Event::new(
            BEACON,
            "x5",
            2,
            [("store".to_string(), Value::Event(12345))],
        ),
        Event::new(PURCHASE, "x6", 3, [("sku".to_string(), Value::Missing)]),
        Event::new(BEACON, "x7", 4, []),
    ];
    for e in &weird {
        let out = evaluate(&b, &memory, &p, e);
        memory = out.memory;
        let _ = explain(&b, &memory, &p, e);
    }
}
