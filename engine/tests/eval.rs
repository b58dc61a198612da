//! Evaluation semantics (language.md, runtime.md) over hand-built graphs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use omnirule_engine::canonical::canonical_json;
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

/// `seen page_view within D` as a plain boolean test.
fn seen_view_within(g: &mut G, within: Millis) -> NodeId {
    let q = g.query(PAGE_VIEW, Some(within), None, 0, None);
    g.node(Node::Seen(q))
}

// ----- de-duplication and order --------------------------------------------------------------

#[test]
fn an_event_whose_id_was_seen_yields_nothing_and_changes_nothing() {
    let mut g = G::new();
    let r = g.rule("r", &[PAGE_VIEW, BEACON], None);
    g.add(r);
    let q = seen_view_within(&mut g, DAY); // page views are remembered
    test_rule(&mut g, "uses_history", BEACON, q);
    let mut j = Journey::new(g.bundle(), customer());
    // A remembered event type and one that is only kept as an id.
    for e in [
        view("2026-11-20T10:00:00Z", "A", "x"),
        beacon("2026-11-20T10:05:00Z"),
    ] {
        assert_eq!(
            rules(&j.send(e.clone())),
            ["r"]
                .iter()
                .copied()
                .chain(if e["type"] == "beacon_enter" {
                    Some("uses_history")
                } else {
                    None
                })
                .collect::<Vec<_>>()
        );
        let before = j.memory.to_bytes();
        assert!(j.send(e.clone()).is_empty());
        assert_eq!(j.memory.to_bytes(), before);
        // Even when it comes back later with other content.
        let mut later = e.clone();
        later["time"] = json!("2026-11-21T10:00:00Z");
        assert!(j.send(later).is_empty());
        assert_eq!(j.memory.to_bytes(), before);
    }
}

#[test]
fn the_current_event_is_not_part_of_its_own_history_and_empty_history_is_fine() {
    let mut g = G::new();
    let s = seen_view_within(&mut g, DAY);
    test_rule(&mut g, "r", PAGE_VIEW, s);
    let mut j = Journey::new(g.bundle(), customer());
    assert!(j.send(view("2026-11-20T10:00:00Z", "A", "x")).is_empty());
    assert_eq!(
        rules(&j.send(view("2026-11-20T10:01:00Z", "B", "x"))),
        ["r"]
    );
}

#[test]
fn within_includes_an_event_exactly_that_old_and_nothing_older() {
    let mut g = G::new();
    let s = seen_view_within(&mut g, HOUR);
    test_rule(&mut g, "r", BEACON, s);
    let b = g.bundle();
    let mut j = Journey::new(b.clone(), customer());
    j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(rules(&j.send(beacon("2026-11-20T11:00:00Z"))), ["r"]);
    let mut j = Journey::new(b, customer());
    j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert!(j.send(beacon("2026-11-20T11:00:00.001Z")).is_empty());
}

/// `seen page_view as v within 7d [where v.category == cat] and not seen purchase since v
/// where purchase.sku == v.sku`, doing `offer { code: "K", sku: v.sku }`.
fn knit_graph(category: Option<&str>) -> G {
    let mut g = G::new();
    let filter = category.map(|c| {
        let cat = g.bf(4, "category");
        let lit = g.s(c);
        g.eq(cat, lit)
    });
    let q1 = g.query(PAGE_VIEW, Some(7 * DAY), None, 4, filter);
    let bind = g.cond(
        Cond::Bind { query: q1, slot: 4 },
        "seen page_view as v within 7d",
    );
    let psku = g.bf(0, "sku");
    let vsku = g.bf(4, "sku");
    let same = g.eq(psku, vsku);
    let q2 = g.query(PURCHASE, None, Some(4), 0, Some(same));
    let seen = g.node(Node::Seen(q2));
    let not = g.node(Node::Not(seen));
    let test = g.test(not, "not seen purchase since v where purchase.sku == v.sku");
    let both = g.cond(Cond::And(vec![bind, test]), "whole");
    let code = g.s("K");
    let mut r = g.rule("r", &[BEACON], Some(both));
    r.outcome = Outcome::Actions(vec![ActionCall {
        action: OFFER,
        params: vec![("code".into(), code), ("sku".into(), vsku)],
    }]);
    g.add(r);
    g
}

#[test]
fn since_means_after_the_bound_event() {
    let b = knit_graph(None).bundle();
    let mut j = Journey::new(b.clone(), customer());
    let d = j.play([
        purchase("2026-11-19T10:00:00Z", "A"),
        view("2026-11-20T10:00:00Z", "A", "x"),
        beacon("2026-11-21T10:00:00Z"),
    ]);
    assert_eq!(param(&d, "r", "sku"), "A");
    let mut j = Journey::new(b, customer());
    let d = j.play([
        view("2026-11-20T10:00:00Z", "A", "x"),
        purchase("2026-11-20T11:00:00Z", "A"),
        beacon("2026-11-21T10:00:00Z"),
    ]);
    assert!(d.is_empty());
}

#[test]
fn the_newest_binding_wins_and_older_ones_are_tried_when_the_rest_fails() {
    let mut j = Journey::new(knit_graph(Some("knit")).bundle(), customer());
    let d = j.play([
        view("2026-11-18T10:00:00Z", "OLD", "knit"),
        view("2026-11-19T10:00:00Z", "NEW", "knit"),
        view("2026-11-19T11:00:00Z", "TEE", "tshirt"),
        beacon("2026-11-20T10:00:00Z"),
    ]);
    assert_eq!(param(&d, "r", "sku"), "NEW");
    assert_eq!(param(&d, "r", "code"), "K");
    j.send(purchase("2026-11-20T11:00:00Z", "NEW"));
    let d = j.send(beacon("2026-11-20T12:00:00Z"));
    assert_eq!(param(&d, "r", "sku"), "OLD");
    j.send(purchase("2026-11-20T13:00:00Z", "OLD"));
    assert!(j.send(beacon("2026-11-20T14:00:00Z")).is_empty());
}

#[test]
fn history_is_ordered_by_time_then_id() {
    let mut g = G::new();
    let q = g.query(PAGE_VIEW, Some(DAY), None, 4, None);
    let bind = g.cond(
        Cond::Bind { query: q, slot: 4 },
        "seen page_view as v within 1d",
    );
    let sku = g.bf(4, "sku");
    let text = g.text_of(sku);
    let mut r = g.rule("r", &[BEACON], Some(bind));
    r.outcome = Outcome::Actions(vec![g.banner(text)]);
    g.add(r);
    let mut j = Journey::new(g.bundle(), customer());
    let t = "2026-11-20T10:00:00Z";
    j.send(
        json!({"type": "page_view", "id": "b", "time": t, "sku": "B", "category": "x", "price": 1}),
    );
    j.send(
        json!({"type": "page_view", "id": "a", "time": t, "sku": "A", "category": "x", "price": 1}),
    );
    let d = j.send(beacon("2026-11-20T11:00:00Z"));
    assert_eq!(param(&d, "r", "text"), "B");
}

#[test]
fn an_out_of_order_event_is_evaluated_at_its_own_time_against_the_history_before_it() {
    let mut g = G::new();
    let q = g.query(PAGE_VIEW, Some(7 * DAY), None, 4, None);
    let bind = g.cond(
        Cond::Bind { query: q, slot: 4 },
        "seen page_view as v within 7d",
    );
    let sku = g.bf(4, "sku");
    let text = g.text_of(sku);
    let mut r = g.rule("r", &[BEACON], Some(bind));
    r.outcome = Outcome::Actions(vec![g.banner(text)]);
    g.add(r);
    let mut j = Journey::new(g.bundle(), customer());
    j.send(view("2026-11-18T10:00:00Z", "EARLY", "x"));
    j.send(view("2026-11-20T10:00:00Z", "LATE", "x"));
    let d = j.send(beacon("2026-11-19T10:00:00Z"));
    assert_eq!(param(&d, "r", "text"), "EARLY");
    // A late event before everything sees nothing.
    assert!(j.send(beacon("2026-11-10T10:00:00Z")).is_empty());
}

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
    // not (seen page_view as v) and v is missing: bindings do not escape a `not`.
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

// ----- history functions -----------------------------------------------------------------------

#[test]
fn count_sum_last_and_time_since() {
    let mut g = G::new();
    let q = g.query(PURCHASE, Some(30 * DAY), None, 0, None);
    let count = g.node(Node::Count(q));
    let sum = g.node(Node::Sum(q, "amount".into()));
    let last = g.node(Node::Last(q));
    let last_sku = g.node(Node::Field {
        of: last,
        name: "sku".into(),
    });
    let last_time = g.node(Node::FieldMeta {
        of: last,
        meta: Meta::Time,
    });
    let qall = g.query(PURCHASE, None, None, 0, None);
    let since = g.node(Node::TimeSince(qall));
    let hour = g.dur(HOUR);
    let hours = g.node(Node::Arith(ArithOp::Div, since, hour));
    let two = g.n(2.0);
    let enough = g.cmp(CmpOp::Ge, count, two);
    let sp = g.s(" ");
    let text = g.interp(vec![
        Piece::Value(count),
        Piece::Value(sp),
        Piece::Value(sum),
        Piece::Value(sp),
        Piece::Value(last_sku),
        Piece::Value(sp),
        Piece::Value(hours),
        Piece::Value(sp),
        Piece::Value(last_time),
    ]);
    let c = g.test(enough, "count(purchase within 30d) >= 2");
    let mut r = g.rule("r", &[BEACON], Some(c));
    r.outcome = Outcome::Actions(vec![g.banner(text)]);
    g.add(r);
    // empty history: count 0, sum 0, time_since missing
    let zero = g.n(0.0);
    let c0 = g.eq(count, zero);
    let s0 = g.eq(sum, zero);
    let tm = g.node(Node::Missing(since));
    let lm = g.node(Node::Missing(last));
    let a1 = g.and(c0, s0);
    let a2 = g.and(tm, lm);
    let all = g.and(a1, a2);
    test_rule(&mut g, "empty", BEACON, all);
    let mut j = Journey::new(g.bundle(), customer());
    assert_eq!(rules(&j.send(beacon("2026-11-17T10:00:00Z"))), ["empty"]);
    let mut p2 = purchase("2026-11-19T10:00:00Z", "B");
    p2["amount"] = json!(12.5);
    let d = j.play([
        purchase("2026-11-18T10:00:00Z", "A"),
        p2,
        beacon("2026-11-19T13:00:00Z"),
    ]);
    assert_eq!(param(&d, "r", "text"), "2 22.5 B 3 2026-11-19T10:00:00Z");
}

// ----- missing values and operators --------------------------------------------------------------

#[test]
fn any_comparison_with_a_missing_value_is_false_not_equal_too() {
    let mut g = G::new();
    let tag = g.ev("tag");
    let x = g.s("x");
    let eq = g.eq(tag, x);
    test_rule(&mut g, "eq", PAGE_VIEW, eq);
    let ne = g.cmp(CmpOp::Ne, tag, x);
    test_rule(&mut g, "ne", PAGE_VIEW, ne);
    let score = g.prof("score");
    let zero = g.n(0.0);
    let gt = g.cmp(CmpOp::Gt, score, zero);
    let le = g.cmp(CmpOp::Le, score, zero);
    let either = g.node(Node::Or(gt, le));
    test_rule(&mut g, "gt_or_le", PAGE_VIEW, either);
    let m = g.node(Node::Missing(tag));
    let p = g.node(Node::Present(tag));
    let np = g.node(Node::Not(p));
    let both = g.and(m, np);
    test_rule(&mut g, "missing", PAGE_VIEW, both);
    // not(missing) is true: `not` treats missing as false
    let nm = g.node(Node::Not(tag));
    test_rule(&mut g, "not_missing", PAGE_VIEW, nm);
    // `and`/`or` with a missing operand
    let t = g.b(true);
    let and_m = g.and(t, tag);
    test_rule(&mut g, "and_missing", PAGE_VIEW, and_m);
    let or_m = g.node(Node::Or(tag, t));
    test_rule(&mut g, "or_missing", PAGE_VIEW, or_m);
    let mut j = Journey::new(g.bundle(), customer());
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(rules(&d), ["missing", "not_missing", "or_missing"]);
    let mut tagged = view("2026-11-20T10:01:00Z", "B", "x");
    tagged["tag"] = json!("y");
    let d = j.send(tagged);
    // (`not` of a non-boolean is true: only `true` is true.)
    assert_eq!(rules(&d), ["ne", "not_missing", "or_missing"]);
}

#[test]
fn arithmetic_coalesce_division_and_functions() {
    let mut g = G::new();
    let score = g.prof("score");
    let one = g.n(1.0);
    let zero = g.n(0.0);
    let plus = g.node(Node::Arith(ArithOp::Add, score, one));
    let plus_missing = g.node(Node::Missing(plus));
    test_rule(&mut g, "arith_missing", PAGE_VIEW, plus_missing);
    let co = g.node(Node::Coalesce(score, zero));
    let co1 = g.node(Node::Arith(ArithOp::Add, co, one));
    let is1 = g.eq(co1, one);
    test_rule(&mut g, "coalesce", PAGE_VIEW, is1);
    let price = g.ev("price");
    let div0 = g.node(Node::Arith(ArithOp::Div, price, zero));
    let div0m = g.node(Node::Missing(div0));
    test_rule(&mut g, "div_by_zero_is_missing", PAGE_VIEW, div0m);
    // functions and `in`
    let sku = g.ev("sku");
    let lower = g.node(Node::Call(Func::Lower, vec![sku]));
    let upper = g.node(Node::Call(Func::Upper, vec![sku]));
    let len = g.node(Node::Call(Func::Len, vec![sku]));
    let sw = g.s("sw");
    let dash = g.s("-");
    let starts = g.node(Node::Call(Func::StartsWith, vec![lower, sw]));
    let contains = g.node(Node::Call(Func::Contains, vec![sku, dash]));
    let one_str = g.s("1");
    let ends = g.node(Node::Call(Func::EndsWith, vec![upper, one_str]));
    let four = g.n(4.0);
    let len4 = g.eq(len, four);
    let tags = g.ev("tags");
    let sale = g.s("sale");
    let in_tags = g.node(Node::In(sale, tags));
    let contains_tag = g.node(Node::Call(Func::Contains, vec![tags, sale]));
    let list = g.node(Node::List(vec![sku, sale]));
    let in_list = g.node(Node::In(sku, list));
    let tag_count = g.node(Node::Call(Func::Len, vec![tags]));
    let two = g.n(2.0);
    let two_tags = g.eq(tag_count, two);
    let mut all = starts;
    for n in [
        contains,
        ends,
        len4,
        in_tags,
        contains_tag,
        in_list,
        two_tags,
    ] {
        all = g.and(all, n);
    }
    test_rule(&mut g, "functions", PAGE_VIEW, all);
    // `in` with a missing element or list is false
    let tag = g.ev("tag");
    let in_missing = g.node(Node::In(tag, list));
    test_rule(&mut g, "in_missing", PAGE_VIEW, in_missing);
    // time and duration arithmetic
    let now = g.node(Node::Now);
    let dwell = g.ev("dwell");
    let seen_at = g.ev("seen_at");
    let diff = g.node(Node::Arith(ArithOp::Sub, now, seen_at));
    let back = g.node(Node::Arith(ArithOp::Sub, now, diff));
    let same = g.eq(back, seen_at);
    let dwell2 = g.node(Node::Arith(ArithOp::Mul, dwell, two));
    let minute2 = g.dur(2 * MIN);
    let d_ok = g.eq(dwell2, minute2);
    let ratio = g.node(Node::Arith(ArithOp::Div, dwell2, dwell));
    let r_ok = g.eq(ratio, two);
    let a1 = g.and(same, d_ok);
    let times = g.and(a1, r_ok);
    test_rule(&mut g, "times", PAGE_VIEW, times);
    let mut j = Journey::new(g.bundle(), customer());
    let mut e = view("2026-11-20T10:00:00Z", "SW-1", "x");
    e["tags"] = json!(["sale", "new", "sale"]);
    e["dwell"] = json!(60_000);
    e["seen_at"] = json!("2026-11-20T09:00:00+01:00");
    let d = j.send(e);
    assert_eq!(
        rules(&d),
        [
            "arith_missing",
            "coalesce",
            "div_by_zero_is_missing",
            "functions",
            "times"
        ]
    );
}

#[test]
fn numbers_in_templates_print_as_javascript_prints_them() {
    let mut g = G::new();
    let price = g.ev("price");
    let three = g.n(3.0);
    let triple = g.node(Node::Arith(ArithOp::Mul, price, three));
    let a = g.n(0.1);
    let b = g.n(0.2);
    let sum = g.node(Node::Arith(ArithOp::Add, a, b));
    let big = g.n(1e21);
    let zero = g.n(0.0);
    let bigsum = g.node(Node::Arith(ArithOp::Add, big, zero));
    let negz = g.n(-0.0);
    let nz = g.node(Node::Arith(ArithOp::Add, negz, zero));
    let tag = g.ev("tag");
    let sp = g.s(" ");
    let text = g.interp(vec![
        Piece::Value(price),
        Piece::Text(" ".into()),
        Piece::Value(triple),
        Piece::Value(sp),
        Piece::Value(sum),
        Piece::Value(sp),
        Piece::Value(bigsum),
        Piece::Value(sp),
        Piece::Value(nz),
        Piece::Text("[".into()),
        Piece::Value(tag),
        Piece::Text("] {x}".into()),
    ]);
    let mut r = g.rule("r", &[PAGE_VIEW], None);
    r.outcome = Outcome::Actions(vec![g.banner(text)]);
    g.add(r);
    let mut j = Journey::new(g.bundle(), customer());
    let mut e = view("2026-11-20T10:00:00Z", "A", "x");
    e["price"] = json!(79.9);
    let d = j.send(e);
    assert_eq!(
        param(&d, "r", "text"),
        "79.9 239.70000000000002 0.30000000000000004 1e+21 0[] {x}"
    );
}

// ----- consent -------------------------------------------------------------------------------

#[test]
fn a_rule_without_its_consents_neither_fires_nor_reads_history_nor_records_it() {
    let mut g = G::new();
    let s = seen_view_within(&mut g, DAY);
    let c = g.test(s, "seen page_view within 1d");
    let mut r = g.rule("r", &[PAGE_VIEW], Some(c));
    r.consents = vec![0];
    g.add(r);
    g.retain(PAGE_VIEW, Some(DAY), &["category"], vec![vec![0]]);
    let b = g.bundle();
    let none = json!({"id": "c2", "tier": "t", "labels": []});
    let mut j = Journey::new(b.clone(), none);
    j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert!(j.send(view("2026-11-20T10:01:00Z", "B", "x")).is_empty());
    assert_eq!(
        j.memory.event_count(),
        0,
        "nothing remembered without consent"
    );
    let mut j = Journey::new(b, customer());
    j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(j.memory.event_count(), 1);
    assert_eq!(
        rules(&j.send(view("2026-11-20T10:01:00Z", "B", "x"))),
        ["r"]
    );
    // Only the retained fields are kept.
    let kept = j.memory.to_json();
    assert!(kept.contains("\"category\""), "{kept}");
    assert!(!kept.contains("\"sku\""), "{kept}");
}

#[test]
fn retention_consents_need_all_purposes_of_one_set() {
    let mut g = G::new();
    let s = seen_view_within(&mut g, DAY);
    test_rule(&mut g, "r", BEACON, s);
    g.retain(PAGE_VIEW, Some(DAY), &["sku"], vec![vec![0, 1]]);
    let b = g.bundle();
    let only_marketing = json!({"id": "c", "tier": "t", "labels": [], "consents": ["marketing"]});
    let mut j = Journey::new(b.clone(), only_marketing);
    j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(j.memory.event_count(), 0);
    let mut j = Journey::new(b, customer());
    j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(j.memory.event_count(), 1);
    // Retention `keep: None`: never remembered.
    let mut g = G::new();
    g.retain(PAGE_VIEW, None, &["sku"], vec![vec![]]);
    let mut j = Journey::new(g.bundle(), customer());
    j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(j.memory.event_count(), 0);
}

// ----- schedules -------------------------------------------------------------------------------

fn paris_2026() -> TzTable {
    TzTable {
        name: "Europe/Paris".into(),
        initial_offset: 3600,
        transitions: vec![
            (t("2026-03-29T01:00:00Z"), 7200),
            (t("2026-10-25T01:00:00Z"), 3600),
        ],
    }
}

fn scheduled(schedule: Schedule) -> Journey {
    let mut g = G::new();
    g.g.timezone = paris_2026();
    let mut r = g.rule("r", &[PAGE_VIEW], None);
    r.schedule = schedule;
    g.add(r);
    Journey::new(g.bundle(), customer())
}

fn fires(j: &mut Journey, time: &str) -> bool {
    !j.send(view(time, time, "x")).is_empty()
}

#[test]
fn hours_include_the_start_exclude_the_end_and_follow_daylight_saving_time() {
    let mut j = scheduled(Schedule {
        hours: Some((9 * 60, 10 * 60)),
        ..Schedule::default()
    });
    // Saturday 28 March 2026: UTC+1, so 09:00 local is 08:00 UTC.
    assert!(fires(&mut j, "2026-03-28T08:00:00Z"));
    assert!(fires(&mut j, "2026-03-28T08:30:00Z"));
    assert!(!fires(&mut j, "2026-03-28T07:59:59.999Z"));
    assert!(!fires(&mut j, "2026-03-28T09:00:00Z"));
    // Monday 30 March 2026, after the change: UTC+2, so 09:00 local is 07:00 UTC.
    assert!(fires(&mut j, "2026-03-30T07:00:00Z"));
    assert!(!fires(&mut j, "2026-03-30T08:30:00Z"));
    // Back to UTC+1 after 25 October.
    assert!(fires(&mut j, "2026-10-26T08:30:00Z"));
    assert!(!fires(&mut j, "2026-10-26T07:30:00Z"));
    // The transition instant itself: 01:00Z on 29 March is 03:00 local.
    assert_eq!(
        omnirule_engine::schedule::offset_at(&paris_2026(), t("2026-03-29T01:00:00Z")),
        7200
    );
    assert_eq!(
        omnirule_engine::schedule::offset_at(&paris_2026(), t("2026-03-29T00:59:59.999Z")),
        3600
    );
}

#[test]
fn hours_may_wrap_past_midnight() {
    let mut j = scheduled(Schedule {
        hours: Some((22 * 60, 2 * 60)),
        ..Schedule::default()
    });
    assert!(fires(&mut j, "2026-11-20T21:00:00Z")); // 22:00 local
    assert!(fires(&mut j, "2026-11-21T00:59:00Z")); // 01:59 local
    assert!(!fires(&mut j, "2026-11-21T01:00:00Z")); // 02:00 local
    assert!(!fires(&mut j, "2026-11-20T12:00:00Z"));
}

#[test]
fn days_and_active_dates_include_both_ends_in_local_time() {
    let mut j = scheduled(Schedule {
        active: Some((
            omnirule_engine::value::days_from_civil(2026, 11, 2) as i32,
            omnirule_engine::value::days_from_civil(2026, 11, 27) as i32,
        )),
        days: Some(0b001_1111), // mon .. fri
        hours: None,
    });
    // Sunday 1 November 23:30 UTC is Monday 2 November 00:30 in Paris: the first active day.
    assert!(fires(&mut j, "2026-11-01T23:30:00Z"));
    assert!(!fires(&mut j, "2026-11-01T22:30:00Z"));
    // Saturday 21 November.
    assert!(!fires(&mut j, "2026-11-21T12:00:00Z"));
    // Friday 27 November at 23:59 local, the last active day; then Monday 30 November.
    assert!(fires(&mut j, "2026-11-27T22:59:00Z"));
    assert!(!fires(&mut j, "2026-11-30T12:00:00Z"));
}

// ----- caps, groups, priorities ------------------------------------------------------------------

#[test]
fn limit_counts_firings_in_the_window_before_now() {
    let mut g = G::new();
    let mut r = g.rule("r", &[PAGE_VIEW], None);
    r.cap = Some(Cap::Limit {
        count: 2,
        per: HOUR,
    });
    g.add(r);
    let mut j = Journey::new(g.bundle(), customer());
    let fired: Vec<bool> = [
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:10:00Z",
        "2026-11-20T10:20:00Z",
        "2026-11-20T11:00:00Z", // the 10:00 firing is exactly 1h old: still inside
        "2026-11-20T11:10:01Z", // 10:00 and 10:10 are now outside the hour
    ]
    .iter()
    .map(|t| fires(&mut j, t))
    .collect();
    assert_eq!(fired, [true, true, false, false, true]);
}

#[test]
fn once_means_once_ever() {
    let mut g = G::new();
    let mut r = g.rule("r", &[PAGE_VIEW], None);
    r.cap = Some(Cap::Once);
    g.add(r);
    let mut j = Journey::new(g.bundle(), customer());
    assert!(fires(&mut j, "2026-11-20T10:00:00Z"));
    assert!(!fires(&mut j, "2030-11-20T10:00:00Z"));
    assert_eq!(j.memory.firings().len(), 1);
}

#[test]
fn a_rule_without_cap_leaves_no_firing_records() {
    let mut g = G::new();
    let r = g.rule("r", &[PAGE_VIEW], None);
    g.add(r);
    let mut j = Journey::new(g.bundle(), customer());
    assert!(fires(&mut j, "2026-11-20T10:00:00Z"));
    assert!(j.memory.firings().is_empty());
}

#[test]
fn decisions_come_in_priority_order_then_file_order_then_written_order() {
    let mut g = G::new();
    for (name, prio) in [("low", -1), ("first", 0), ("high", 5), ("second", 0)] {
        let mut r = g.rule(name, &[PAGE_VIEW], None);
        r.priority = prio;
        if name == "high" {
            let code = g.s("C");
            let offer = ActionCall {
                action: OFFER,
                params: vec![("code".into(), code)],
            };
            if let Outcome::Actions(calls) = &mut r.outcome {
                calls.push(offer);
            }
        }
        g.add(r);
    }
    let mut j = Journey::new(g.bundle(), customer());
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(rules(&d), ["high", "high", "first", "second", "low"]);
    assert_eq!(d[0].action.as_deref(), Some("banner"));
    assert_eq!(d[1].action.as_deref(), Some("offer"));
    assert_eq!(
        serde_json::to_value(&d[1]).unwrap(),
        json!({"rule": "high", "action": "offer", "params": {"code": "C"}, "group": null,
               "experiment": null, "variant": null})
    );
}

#[test]
fn a_group_lets_one_rule_fire_per_event_and_ties_go_to_file_order() {
    let mut g = G::new();
    let hero = g.group("hero", None);
    for (name, prio, group) in [
        ("a", 1, true),
        ("b", 1, true),
        ("c", 0, true),
        ("free", 0, false),
    ] {
        let mut r = g.rule(name, &[PAGE_VIEW], None);
        r.priority = prio;
        r.group = group.then_some(hero);
        g.add(r);
    }
    let mut j = Journey::new(g.bundle(), customer());
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(rules(&d), ["a", "free"]);
    assert_eq!(d[0].group.as_deref(), Some("hero"));
    assert_eq!(d[1].group, None);
}

#[test]
fn a_group_cap_applies_across_its_rules_and_a_failing_rule_leaves_the_group_to_the_next() {
    let mut g = G::new();
    let hero = g.group("hero", Some(Cap::Limit { count: 2, per: DAY }));
    let cat = g.ev("category");
    let knit = g.s("knit");
    let is_knit = g.eq(cat, knit);
    let c = g.test(is_knit, "event.category == \"knit\"");
    let mut a = g.rule("a", &[PAGE_VIEW], Some(c));
    a.priority = 9;
    a.group = Some(hero);
    g.add(a);
    let mut b = g.rule("b", &[PAGE_VIEW], None);
    b.group = Some(hero);
    g.add(b);
    let mut j = Journey::new(g.bundle(), customer());
    assert_eq!(
        rules(&j.send(view("2026-11-20T10:00:00Z", "A", "knit"))),
        ["a"]
    );
    assert_eq!(
        rules(&j.send(view("2026-11-20T10:01:00Z", "B", "tee"))),
        ["b"]
    );
    assert!(j.send(view("2026-11-20T10:02:00Z", "C", "knit")).is_empty());
    assert_eq!(
        rules(&j.send(view("2026-11-21T10:01:00Z", "D", "knit"))),
        ["a"]
    );
    assert!(
        j.memory
            .firings()
            .iter()
            .all(|f| f.group.as_deref() == Some("hero"))
    );
}

// ----- splits ----------------------------------------------------------------------------------

fn split_graph(unit: &str, cap: Option<Cap>) -> Bundle {
    let mut g = G::new();
    let unit = g.prof(unit);
    let code = g.s("BACK10");
    let mut r = g.rule("r", &[PAGE_VIEW], None);
    r.outcome = Outcome::Split {
        name: "win_back_test".into(),
        unit,
        arms: vec![
            Arm {
                basis_points: 5000,
                variant: None,
                actions: Vec::new(),
            },
            Arm {
                basis_points: 5000,
                variant: Some("ten".into()),
                actions: vec![ActionCall {
                    action: OFFER,
                    params: vec![("code".into(), code)],
                }],
            },
        ],
    };
    r.cap = cap;
    g.add(r);
    g.bundle()
}
use omnirule_engine::bundle::Bundle;

#[test]
fn splits_bucket_with_fnv1a_and_report_control() {
    let b = split_graph("id", None);
    let mut j = Journey::new(b.clone(), json!({"id": "c1", "tier": "t", "labels": []}));
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].variant.as_deref(), Some("ten"));
    assert_eq!(d[0].experiment.as_deref(), Some("win_back_test"));
    assert_eq!(d[0].action.as_deref(), Some("offer"));
    assert_eq!(d[0].params["code"], "BACK10");
    let mut j = Journey::new(b, json!({"id": "c3", "tier": "t", "labels": []}));
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!([{"rule": "r", "action": null, "params": {}, "group": null,
                "experiment": "win_back_test", "variant": "control"}])
    );
}

#[test]
fn a_split_with_a_missing_unit_does_not_fire_and_control_counts_as_a_firing() {
    let b = split_graph("first_name", Some(Cap::Once));
    let profile = json!({"id": "c3", "tier": "t", "labels": []});
    let mut j = Journey::new(b.clone(), profile.clone());
    assert!(j.send(view("2026-11-20T10:00:00Z", "A", "x")).is_empty());
    let p = Profile::from_json(&b, &profile).unwrap();
    let e = Event::from_json(&b, &view("2026-11-20T10:00:01Z", "B", "x")).unwrap();
    let (_, why) = explain(&b, &Memory::default(), &p, &e);
    assert_eq!(
        serde_json::to_value(&why.rules).unwrap(),
        json!([{"rule": "r", "outcome": "split_unit_missing"}])
    );
    // c3 with id as unit lands in control; the control firing uses up `once`.
    let b = split_graph("id", Some(Cap::Once));
    let mut j = Journey::new(b, profile);
    assert_eq!(j.send(view("2026-11-20T10:00:00Z", "A", "x")).len(), 1);
    assert!(j.send(view("2026-11-20T10:01:00Z", "B", "x")).is_empty());
}

// ----- segments and sharing ----------------------------------------------------------------------

#[test]
fn segments_evaluate_with_their_own_bindings_and_are_shared() {
    let mut g = G::new();
    // segment knit_fan = seen page_view as v within 30d where v.category == "knit"
    let cat = g.bf(4, "category");
    let knit = g.s("knit");
    let is_knit = g.eq(cat, knit);
    let q = g.query(PAGE_VIEW, Some(30 * DAY), None, 4, Some(is_knit));
    let bind = g.cond(Cond::Bind { query: q, slot: 4 }, "seen page_view as v ...");
    let seg = g.segment("knit_fan", bind, 5);
    let fan = g.node(Node::Segment(seg));
    test_rule(&mut g, "a", BEACON, fan);
    // rule b also binds slot 4 itself; the segment must not disturb it.
    let q2 = g.query(PAGE_VIEW, Some(30 * DAY), None, 4, None);
    let bind2 = g.cond(Cond::Bind { query: q2, slot: 4 }, "seen page_view as v");
    let fan_test = g.test(fan, "knit_fan");
    let both = g.cond(Cond::And(vec![bind2, fan_test]), "both");
    let sku = g.bf(4, "sku");
    let text = g.text_of(sku);
    let mut r = g.rule("b", &[BEACON], Some(both));
    r.outcome = Outcome::Actions(vec![g.banner(text)]);
    g.add(r);
    let mut j = Journey::new(g.bundle(), customer());
    let d = j.play([
        view("2026-11-20T10:00:00Z", "K", "knit"),
        view("2026-11-20T11:00:00Z", "T", "tee"),
        beacon("2026-11-20T12:00:00Z"),
    ]);
    assert_eq!(rules(&d), ["a", "b"]);
    assert_eq!(param(&d, "b", "text"), "T");
}

// ----- robustness and determinism ----------------------------------------------------------------

#[test]
fn rust_built_events_with_unknown_types_or_wrong_field_types_never_panic() {
    let b = knit_graph(Some("knit")).bundle();
    let p = Profile::new(
        "c1",
        ["marketing"],
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

#[test]
fn evaluation_is_deterministic() {
    let run = || {
        let mut j = Journey::new(knit_graph(Some("knit")).bundle(), customer());
        let mut out = Vec::new();
        for e in [
            view("2026-11-18T10:00:00Z", "OLD", "knit"),
            view("2026-11-19T10:00:00Z", "NEW", "knit"),
            beacon("2026-11-20T10:00:00Z"),
            purchase("2026-11-20T11:00:00Z", "NEW"),
            beacon("2026-11-20T12:00:00Z"),
        ] {
            let d = j.send(e);
            out.push(canonical_json(&serde_json::to_value(&d).unwrap()));
        }
        (out, j.memory.to_bytes(), j.memory.to_json())
    };
    assert_eq!(run(), run());
}

// ----- the fast path is built per trigger, on first use ---------------------------------------

#[test]
fn loading_prepares_no_trigger_and_an_event_prepares_only_its_own() {
    let mut g = G::new();
    let (price, ten) = (g.ev("price"), g.n(10.0));
    let cheap = g.cmp(CmpOp::Le, price, ten);
    test_rule(&mut g, "cheap_view", PAGE_VIEW, cheap);
    let (amount, hundred) = (g.ev("amount"), g.n(100.0));
    let big = g.cmp(CmpOp::Gt, amount, hundred);
    test_rule(&mut g, "big_purchase", PURCHASE, big);
    let mut j = Journey::new(g.bundle(), customer());
    assert_eq!(j.bundle.prepared_triggers(), 0);

    assert_eq!(
        rules(&j.send(view("2026-11-20T10:00:00Z", "A", "x"))),
        ["cheap_view"]
    );
    assert_eq!(j.bundle.prepared_triggers(), 1);
    assert_eq!(
        rules(&j.send(view("2026-11-20T10:01:00Z", "B", "x"))),
        ["cheap_view"]
    );
    assert_eq!(j.bundle.prepared_triggers(), 1);
    assert!(j.send(purchase("2026-11-20T10:02:00Z", "A")).is_empty());
    assert_eq!(j.bundle.prepared_triggers(), 2);
    // Both conditions compiled, each in its own trigger's plan.
    assert_eq!(j.bundle.compiled_conditions(), 2);
}

#[test]
fn decisions_with_literal_params_are_numbered_by_their_action_call() {
    let mut g = G::new();
    let r = g.rule("constant", &[PAGE_VIEW], None);
    g.add(r);
    let mut r = g.rule("computed", &[PAGE_VIEW], None);
    let sku = g.ev("sku");
    r.outcome = Outcome::Actions(vec![g.banner(sku)]);
    g.add(r);
    let mut j = Journey::new(g.bundle(), customer());
    let first = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    let again = j.send(view("2026-11-20T10:01:00Z", "B", "x"));
    assert_eq!(rules(&first), ["constant", "computed"]);
    let number = |d: &omnirule_engine::Decision| j.bundle.constant_decision(d);
    let n = number(&first[0]).expect("literal params are constant");
    assert!((n as usize) < j.bundle.constant_decisions());
    // The same call's decision on another event: the same number, the same shared params.
    assert_eq!(number(&again[0]), Some(n));
    assert!(std::sync::Arc::ptr_eq(&first[0].params, &again[0].params));
    // Params read from the event are computed per event: no number.
    assert_eq!(number(&first[1]), None);
    assert_eq!(param(&again, "computed", "text"), &json!("B"));

    // Explanations take the general evaluator: the same number.
    let profile = Profile::from_json(&j.bundle, &customer()).unwrap();
    let event = Event::from_json(&j.bundle, &view("2026-11-20T10:02:00Z", "C", "x")).unwrap();
    let (explained, _) = explain(&j.bundle, &Memory::default(), &profile, &event);
    assert_eq!(number(&explained.decisions[0]), Some(n));
    // The same rules loaded again are another bundle: its numbers are its own.
    let other = omnirule_engine::bundle::Bundle::from_bytes(&j.bundle.to_bytes()).unwrap();
    assert_eq!(other.constant_decision(&first[0]), None);
    let theirs = evaluate(&other, &Memory::default(), &profile, &event).decisions;
    assert_eq!(other.constant_decision(&theirs[0]), Some(n));
    assert_eq!(number(&theirs[0]), None);
    // A decision read back from its JSON is equal, and carries no number.
    let back: omnirule_engine::Decision =
        serde_json::from_value(serde_json::to_value(&first[0]).unwrap()).unwrap();
    assert_eq!(back, first[0]);
    assert_eq!(number(&back), None);
}

/// Parsed inputs carry a hint of where each declared field sits among their fields; a field is
/// found alike whether the event has every field, lacks some that sort before it, was built
/// from Rust, or was parsed against another bundle whose fields sort differently.
#[test]
fn a_field_is_found_wherever_the_event_came_from() {
    // page_view's fields in name order: category, dwell, price, seen_at, sku, tag, tags.
    let build = |extra_field: bool| {
        let mut g = G::new();
        if extra_field {
            // Sorts first: every other field's rank moves by one in this bundle.
            let aaa = common::field("aaa", Type::Number, true);
            g.g.schema.events[PAGE_VIEW as usize].fields.insert(0, aaa);
        }
        let (price, ten) = (g.ev("price"), g.n(10.0));
        let cheap = g.cmp(CmpOp::Eq, price, ten);
        test_rule(&mut g, "price_10", PAGE_VIEW, cheap);
        let (sku, a) = (g.ev("sku"), g.s("A"));
        let is_a = g.eq(sku, a);
        test_rule(&mut g, "sku_a", PAGE_VIEW, is_a);
        let (tag, new) = (g.ev("tag"), g.s("new"));
        let is_new = g.eq(tag, new);
        test_rule(&mut g, "tag_new", PAGE_VIEW, is_new);
        g.bundle()
    };
    let (bundle, other) = (build(false), build(true));
    let profile = Profile::from_json(&bundle, &customer()).unwrap();
    let fired = |event: &Event| {
        let decisions = evaluate(&bundle, &Memory::default(), &profile, event).decisions;
        rules(&decisions)
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
    };
    let full = json!({"type": "page_view", "id": "v1", "time": "2026-11-20T10:00:00Z",
        "sku": "A", "category": "x", "price": 10, "tag": "new", "dwell": 5000,
        "seen_at": "2026-11-20T09:00:00Z", "tags": ["a"]});
    let all = ["price_10", "sku_a", "tag_new"];
    assert_eq!(fired(&Event::from_json(&bundle, &full).unwrap()), all);

    // Without dwell and seen_at, price, sku and tag sit one or two places earlier.
    let mut sparse = full.clone();
    sparse.as_object_mut().unwrap().remove("dwell");
    sparse.as_object_mut().unwrap().remove("seen_at");
    assert_eq!(fired(&Event::from_json(&bundle, &sparse).unwrap()), all);
    // Without tag, its rule does not fire, and tags (after it) is not mistaken for it.
    let mut no_tag = sparse.clone();
    no_tag.as_object_mut().unwrap().remove("tag");
    assert_eq!(
        fired(&Event::from_json(&bundle, &no_tag).unwrap()),
        ["price_10", "sku_a"]
    );

    // The same event built from Rust, and parsed against the other bundle.
    let from_rust = Event::new(
        PAGE_VIEW,
        "v1",
        t("2026-11-20T10:00:00Z"),
        [
            ("sku".to_string(), Value::string("A")),
            ("price".to_string(), Value::Number(10.0)),
            ("tag".to_string(), Value::string("new")),
        ],
    );
    assert_eq!(fired(&from_rust), all);
    let mut with_aaa = sparse.clone();
    with_aaa["aaa"] = json!(1);
    let elsewhere = Event::from_json(&other, &with_aaa).unwrap();
    assert_eq!(fired(&elsewhere), all);
    assert_eq!(elsewhere.field("price"), Some(&Value::Number(10.0)));
}
