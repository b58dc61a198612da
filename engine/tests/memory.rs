//! Memory: encoding round trips, pruning, merge laws, bounded growth.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::evaluate;
use omnirule_engine::graph::*;
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use omnirule_engine::value::Value;
use proptest::prelude::*;
use serde_json::json;

/// The rich graph with small windows and limits, so that pruning matters in small examples.
fn small_limits_bundle() -> Bundle {
    let mut g = rich_graph();
    g.limits = Limits {
        max_events_per_type: 3,
        dedup_window: 20 * HOUR,
        max_dedup_ids: 5,
    };
    g.retention[PAGE_VIEW as usize].keep = Some(10 * HOUR);
    g.retention[PURCHASE as usize].keep = Some(50 * HOUR);
    g.rules[0].cap = Some(Cap::Limit {
        count: 1,
        per: 30 * HOUR,
    });
    g.groups[0].cap = Some(Cap::Limit {
        count: 2,
        per: 5 * HOUR,
    });
    Bundle::new(g).unwrap()
}

/// [`small_limits_bundle`] with goals: two on `sweater_in_store` (12 h and 30 h), one on
/// `win_back` (5 h), so merged exposures are pruned by different windows.
fn goals_bundle() -> Bundle {
    let mut g = small_limits_bundle().graph().clone();
    let rule = |name: &str| g.rules.iter().position(|r| r.name == name).unwrap() as u32;
    let goal = |rule: u32, name: &str, within: i64, primary: bool| Goal {
        rule,
        name: name.into(),
        event: PURCHASE,
        within,
        primary,
        value: Some("amount".into()),
        captures: vec![],
        filter: None,
    };
    let (sweater, win_back) = (rule("sweater_in_store"), rule("win_back"));
    let mut goals = vec![
        goal(sweater, "purchase", 12 * HOUR, true),
        goal(sweater, "visit", 30 * HOUR, false),
        goal(win_back, "purchase", 5 * HOUR, true),
    ];
    goals.sort_by_key(|x| x.rule);
    g.goals = goals;
    Bundle::new(g).unwrap()
}

fn some_memory(b: &Bundle) -> Memory {
    let profile = Profile::from_json(
        b,
        &json!({"id": "c3", "tier": "t", "labels": ["a"], "consents": ["marketing", "location"]}),
    )
    .unwrap();
    let mut m = Memory::default();
    let base = t("2026-11-20T10:00:00Z");
    for i in 0..12i64 {
        let (ty, fields) = match i % 3 {
            0 => (
                PAGE_VIEW,
                vec![
                    ("sku".to_string(), Value::string("SW-1")),
                    ("category".into(), Value::string("knit")),
                    ("price".into(), Value::Number(79.9)),
                    ("tags".into(), Value::List(vec![Value::string("a")])),
                    ("dwell".into(), Value::Duration(5000)),
                    ("seen_at".into(), Value::Time(base)),
                ],
            ),
            1 => (
                PURCHASE,
                vec![
                    ("sku".to_string(), Value::string("X")),
                    ("amount".into(), Value::Number(12.0)),
                    ("channel".into(), Value::string("web")),
                ],
            ),
            _ => (
                BEACON,
                vec![
                    ("store".to_string(), Value::string("p")),
                    ("zone".into(), Value::string("z")),
                ],
            ),
        };
        let e = Event::new(ty, &format!("e{i}"), base + i * 600_000, fields);
        m = evaluate(b, &m, &profile, &e).memory;
    }
    m
}

#[test]
fn bytes_and_json_round_trip() {
    let b = Bundle::new(rich_graph()).unwrap();
    let m = some_memory(&b);
    assert!(m.event_count() > 0 && !m.firings().is_empty());
    let bytes = m.to_bytes();
    assert_eq!(&bytes[..7], b"OMNIMEM");
    assert_eq!(Memory::from_bytes(&bytes).unwrap(), m);
    let json = m.to_json();
    assert_eq!(Memory::from_json(&json).unwrap(), m);
    assert!(json.contains("\"format\": \"omnirule-memory\""), "{json}");
    assert!(json.contains("2026-11-20T10:00:00Z"), "{json}");
    assert!(
        json.contains("{\n              \"time\": \"2026-11-20T10:00:00Z\"\n            }")
            || json.contains("\"seen_at\""),
        "{json}"
    );
    assert_eq!(
        Memory::from_bytes(&Memory::default().to_bytes()).unwrap(),
        Memory::default()
    );
    assert!(Memory::default().is_empty());
}

#[test]
fn damaged_memory_is_an_error_never_a_panic() {
    let b = Bundle::new(rich_graph()).unwrap();
    let bytes = some_memory(&b).to_bytes();
    assert_eq!(
        Memory::from_bytes(b"nope").unwrap_err().to_string(),
        "not an Omnirule memory"
    );
    let mut v4 = bytes.clone();
    v4[7] = 4;
    assert!(
        Memory::from_bytes(&v4)
            .unwrap_err()
            .to_string()
            .contains("format 4")
    );
    // Format 3 carries an optional tombstone and the exposures after the entries: format 1
    // bytes labelled 3 are truncated.
    let mut v3 = bytes.clone();
    v3[7] = 3;
    assert!(
        Memory::from_bytes(&v3)
            .unwrap_err()
            .to_string()
            .contains("truncated")
    );
    // Format 2 carries a tombstone after the entries: format 1 bytes labelled 2 are truncated.
    let mut v2 = bytes.clone();
    v2[7] = 2;
    assert!(Memory::from_bytes(&v2).is_err());
    for cut in 0..bytes.len() {
        let _ = Memory::from_bytes(&bytes[..cut]);
    }
    for i in 0..bytes.len() {
        let mut d = bytes.clone();
        d[i] ^= 0xA5;
        if let Ok(m) = Memory::from_bytes(&d) {
            // Whatever decoded is normalised and usable.
            let _ = m.merge(&Memory::default(), &b);
            assert_eq!(Memory::from_bytes(&m.to_bytes()).unwrap(), m);
        }
    }
    assert!(
        Memory::from_json("{\"format\": \"omnirule-memory\", \"version\": 1, \"events\": 3}")
            .is_err()
    );
    assert!(Memory::from_json("[]").is_err());
}

#[test]
fn over_the_bound_of_remembered_ids_the_newest_are_kept() {
    // Two memories of five event ids each, merged under a bound of five: the five newest by
    // (time, id) stay; at a tie in time the larger id is the newer.
    let b = small_limits_bundle();
    let memory = |ids: &[(&str, &str)]| {
        let seen: Vec<_> = ids
            .iter()
            .map(|(id, time)| json!({"id": id, "time": time}))
            .collect();
        let newest = ids.iter().map(|(_, time)| *time).max().unwrap();
        Memory::from_json(
            &json!({"format": "omnirule-memory", "version": 1, "newest": newest,
                    "events": [], "firings": [], "seen": seen})
            .to_string(),
        )
        .unwrap()
    };
    let a = memory(&[
        ("a0", "2026-11-20T00:00:00Z"),
        ("a1", "2026-11-20T02:00:00Z"),
        ("a2", "2026-11-20T05:00:00Z"),
        ("a3", "2026-11-20T06:00:00Z"),
        ("a4", "2026-11-20T08:00:00Z"),
    ]);
    let c = memory(&[
        ("b0", "2026-11-20T01:00:00Z"),
        ("b1", "2026-11-20T03:00:00Z"),
        ("b2", "2026-11-20T05:00:00Z"),
        ("b3", "2026-11-20T07:00:00Z"),
        ("b4", "2026-11-20T09:00:00Z"),
    ]);
    for merged in [a.merge(&c, &b), c.merge(&a, &b)] {
        let mut kept: Vec<&str> = merged.seen_ids().map(|(id, _)| id).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["a3", "a4", "b2", "b3", "b4"]);
    }
}

#[test]
fn pruning_keeps_only_what_retention_caps_and_limits_allow() {
    let b = small_limits_bundle();
    let m = some_memory(&b);
    // At most three per type, none older than its window below the newest time.
    let newest = m.newest().unwrap();
    let mut per_type = std::collections::BTreeMap::new();
    for e in m.events() {
        *per_type.entry(e.event_type.to_string()).or_insert(0) += 1;
        assert!(
            e.event_type.as_ref() != "beacon_enter",
            "beacon_enter is never read"
        );
        assert!(newest - e.time <= 50 * HOUR);
    }
    assert!(per_type.values().all(|n| *n <= 3), "{per_type:?}");
    assert!(m.seen_ids().count() <= 5);
    // Under a bundle where the capped rules are gone, their firing records go too.
    let mut g = rich_graph();
    g.rules[0].name = "renamed".into();
    g.rules[1].cap = None;
    let b2 = Bundle::new(g).unwrap();
    let pruned = m.merge(&Memory::default(), &b2);
    assert!(pruned.firings().is_empty(), "{:?}", pruned.firings());
    // `once` records outlive every window.
    let b3 = small_limits_bundle();
    let mut far = m.clone();
    let profile = Profile::new("c1", ["marketing"], []);
    far = evaluate(
        &b3,
        &far,
        &profile,
        &Event::new(PURCHASE, "late", t("2030-01-01T00:00:00Z"), []),
    )
    .memory;
    assert!(
        far.firings().iter().all(|f| f.rule.as_ref() == "win_back"),
        "{:?}",
        far.firings()
    );
}

#[test]
fn a_million_events_keep_memory_bounded() {
    // One page view a second for 1,000,000 seconds (about 11.5 days); page views are kept for
    // an hour, ids for ten minutes and at most 100 of them.
    let mut g = G::new();
    let q = g.query(PAGE_VIEW, Some(HOUR), None, 0, None);
    let c = g.node(Node::Count(q));
    let three = g.n(3.0);
    let many = g.cmp(CmpOp::Gt, c, three);
    let cond = g.test(many, "count(page_view within 1h) > 3");
    let mut r = g.rule("r", &[BEACON], Some(cond));
    r.cap = Some(Cap::Limit { count: 1, per: DAY });
    g.add(r);
    g.g.limits = Limits {
        max_events_per_type: 500,
        dedup_window: 10 * MIN,
        max_dedup_ids: 100,
    };
    let b = g.bundle();
    let profile = Profile::from_json(&b, &customer()).unwrap();
    let mut memory = Memory::default();
    let start = t("2026-11-20T00:00:00Z");
    let fields = [
        ("sku".to_string(), Value::string("A")),
        ("category".to_string(), Value::string("x")),
        ("price".to_string(), Value::Number(1.0)),
    ];
    let mut ids = Vec::with_capacity(1);
    for i in 0..1_000_000i64 {
        ids.clear();
        ids.push(i);
        let (ty, id) = if i % 1000 == 999 {
            (BEACON, format!("b{i}"))
        } else {
            (PAGE_VIEW, format!("e{i}"))
        };
        let e = Event::new(ty, &id, start + i * 1000, fields.clone());
        memory = evaluate(&b, &memory, &profile, &e).memory;
        assert!(memory.event_count() <= 500);
    }
    assert_eq!(
        memory.event_count(),
        500,
        "max_events_per_type bounds the hour's 3,600 views"
    );
    assert!(memory.seen_ids().count() <= 100);
    // A cap of one a day, and firings kept for two windows (late events need them): two.
    assert!(memory.firings().len() <= 2);
    assert!(
        memory.to_bytes().len() < 64 * 1024,
        "{}",
        memory.to_bytes().len()
    );
}

// ----- deletion ------------------------------------------------------------------------------

#[test]
fn a_deletion_sticks_whatever_stale_copy_is_merged_later() {
    let b = small_limits_bundle();
    let before = some_memory(&b);
    assert!(!before.is_empty());
    let erased_at = before.newest().unwrap() + 1;
    let tombstone = before.erase(erased_at);
    assert!(tombstone.is_empty());
    assert_eq!(tombstone.erased(), Some(erased_at));

    // A browser's or an edge's copy taken before the deletion, merged in either order.
    for m in [tombstone.merge(&before, &b), before.merge(&tombstone, &b)] {
        assert!(m.is_empty(), "{}", m.to_json());
        assert_eq!(m.erased(), Some(erased_at));
    }
    // Through both encodings, too.
    let bytes = Memory::from_bytes(&tombstone.to_bytes()).unwrap();
    let json = Memory::from_json(&tombstone.to_json()).unwrap();
    assert_eq!(bytes, tombstone);
    assert_eq!(json, tombstone);
    assert!(bytes.merge(&before, &b).is_empty());

    // An event after the deletion is remembered as usual; one dated before it is evaluated
    // but leaves nothing behind.
    let profile = Profile::new("c3", ["marketing", "location"], []);
    let later = Event::new(
        PURCHASE,
        "after",
        erased_at + HOUR,
        [("sku".to_string(), Value::string("a"))],
    );
    let m = evaluate(&b, &tombstone, &profile, &later).memory;
    assert!(m.contains_id("after"));
    let late = Event::new(
        PURCHASE,
        "before",
        erased_at - HOUR,
        [("sku".to_string(), Value::string("a"))],
    );
    let m2 = evaluate(&b, &m, &profile, &late).memory;
    assert!(!m2.contains_id("before"));
    assert_eq!(m2.merge(&before, &b).to_bytes(), m.to_bytes());
}

#[test]
fn a_memory_without_a_deletion_keeps_format_1_and_one_with_it_needs_format_2() {
    let b = small_limits_bundle();
    let m = some_memory(&b);
    assert_eq!(m.to_bytes().get(7..9), Some(&[1u8, 0][..]));
    assert!(m.to_json().contains("\"version\": 1"));
    let t = m.erase(0);
    assert_eq!(t.to_bytes().get(7..9), Some(&[2u8, 0][..]));
    assert!(t.to_json().contains("\"version\": 2"));
    // A version-1 JSON memory with `erased` is refused: an older engine would ignore it.
    let forged = t.to_json().replace("\"version\": 2", "\"version\": 1");
    assert!(Memory::from_json(&forged).is_err());
}

// ----- merge laws --------------------------------------------------------------------------------

fn arb_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        "[a-c]{0,2}".prop_map(serde_json::Value::from),
        (0i32..4).prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        (0i64..3).prop_map(|d| json!({"duration_ms": d})),
    ]
}

fn arb_memory() -> impl Strategy<Value = Memory> {
    let time = || (0i64..80).prop_map(|h| json!(t("2026-11-20T00:00:00Z") + h * HOUR));
    let event = (
        prop::sample::select(vec!["page_view", "purchase", "beacon_enter", "gone"]),
        prop::sample::select(vec!["a", "b", "c", "d", "e", "f"]),
        time(),
        prop::collection::btree_map(
            prop::sample::select(vec!["sku", "category", "amount"]),
            arb_value(),
            0..3,
        ),
    )
        .prop_map(
            |(ty, id, time, fields)| json!({"type": ty, "id": id, "time": time, "fields": fields}),
        );
    let firing = (
        prop::sample::select(vec!["sweater_in_store", "win_back", "tagged", "gone"]),
        prop::option::of(prop::sample::select(vec!["entrance_screen", "other"])),
        time(),
        prop::sample::select(vec!["a", "b", "c", "x"]),
    )
        .prop_map(|(rule, group, time, event)| json!({"rule": rule, "group": group, "time": time, "event": event}));
    let seen = (
        prop::sample::select(vec!["a", "b", "c", "d", "x", "y", "z"]),
        time(),
    )
        .prop_map(|(id, time)| json!({"id": id, "time": time}));
    // Few distinct values, so that merges meet the same exposure with other conversions.
    let exposure = (
        prop::sample::select(vec!["sweater_in_store", "win_back", "tagged", "gone"]),
        prop::option::of(prop::sample::select(vec!["ten", "control"])),
        time(),
        prop::sample::select(vec!["a", "b", "x"]),
        prop::option::of(prop::sample::select(vec!["web", "store"])),
        prop::collection::vec(arb_value(), 0..2),
        prop::sample::subsequence(vec!["purchase", "visit"], 0..=2),
    )
        .prop_map(
            |(rule, variant, time, event, channel, captures, converted)| {
                json!({"rule": rule, "variant": variant, "time": time, "event": event,
                   "channel": channel, "host": null, "captures": captures, "converted": converted})
            },
        );
    (
        prop::collection::vec(event, 0..8),
        prop::collection::vec(firing, 0..5),
        prop::collection::vec(seen, 0..8),
        prop::option::of(time()),
        prop::option::of(time()),
        prop::collection::vec(exposure, 0..6),
    )
        .prop_map(|(events, firings, seen, newest, erased, exposures)| {
            let doc = json!({"format": "omnirule-memory", "version": 3, "newest": newest,
                             "erased": erased, "events": events, "firings": firings, "seen": seen,
                             "exposures": exposures});
            Memory::from_json(&doc.to_string()).unwrap()
        })
}

/// Memories whose events are large enough (up to 700 KB each) to reach the per-type byte
/// budget, so that the laws are checked with it in play.
fn arb_big_memory() -> impl Strategy<Value = Memory> {
    let time = || (0i64..80).prop_map(|h| json!(t("2026-11-20T00:00:00Z") + h * HOUR));
    let event = (
        prop::sample::select(vec!["page_view", "purchase"]),
        prop::sample::select(vec!["a", "b", "c", "d", "e", "f"]),
        time(),
        0usize..700_000,
    )
        .prop_map(|(ty, id, time, n)| {
            json!({"type": ty, "id": id, "time": time, "fields": {"sku": "x".repeat(n)}})
        });
    (prop::collection::vec(event, 0..6), prop::option::of(time())).prop_map(|(events, newest)| {
        let doc = json!({"format": "omnirule-memory", "version": 1, "newest": newest,
                         "events": events, "firings": [], "seen": []});
        Memory::from_json(&doc.to_string()).unwrap()
    })
}

fn bytes_per_type(m: &Memory) -> Vec<usize> {
    let mut out = std::collections::BTreeMap::<String, usize>::new();
    for e in m.events() {
        *out.entry(e.event_type.to_string()).or_default() += e.footprint();
    }
    out.into_values().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn the_byte_budget_keeps_merge_a_join(a in arb_big_memory(), b in arb_big_memory(), c in arb_big_memory()) {
        use omnirule_engine::memory::MAX_EVENT_BYTES_PER_TYPE;
        let bundle = small_limits_bundle();
        let ab = a.merge(&b, &bundle);
        prop_assert_eq!(ab.to_bytes(), b.merge(&a, &bundle).to_bytes());
        prop_assert_eq!(ab.merge(&c, &bundle).to_bytes(), a.merge(&b.merge(&c, &bundle), &bundle).to_bytes());
        prop_assert_eq!(ab.merge(&ab, &bundle).to_bytes(), ab.to_bytes());
        // The budget, plus at most one event (here at most 700 KB).
        for n in bytes_per_type(&ab) {
            prop_assert!(n <= MAX_EVENT_BYTES_PER_TYPE + 700_100, "{n} bytes of one type");
        }
    }
}

#[test]
fn a_customer_sending_large_events_keeps_a_bounded_memory() {
    use omnirule_engine::memory::MAX_EVENT_BYTES_PER_TYPE;
    // The default limits keep 10,000 events a type: with 16 KiB fields that would be 160 MB.
    let mut g = rich_graph();
    g.limits = Limits::default();
    let b = Bundle::new(g).unwrap();
    let profile = Profile::new("c1", ["marketing", "location"], []);
    let mut m = Memory::default();
    let big = "é".repeat(8 * 1024 - 10);
    for i in 0..200i64 {
        let e = Event::new(
            PAGE_VIEW,
            &format!("{i:0>250}"),
            t("2026-11-20T10:00:00Z") + i * 1000,
            [
                ("sku".to_string(), Value::string(&big)),
                ("category".to_string(), Value::string("knit")),
            ],
        );
        m = evaluate(&b, &m, &profile, &e).memory;
    }
    let bytes = m.event_bytes();
    let one_event = m.events().last().unwrap().footprint();
    assert!(bytes <= MAX_EVENT_BYTES_PER_TYPE + one_event, "{bytes}");
    assert!(
        bytes > MAX_EVENT_BYTES_PER_TYPE,
        "the budget is used: {bytes}"
    );
    assert!(m.event_count() < 100, "{} events kept", m.event_count());
    // The newest are the ones kept.
    let last = m.events().last().unwrap();
    assert_eq!(last.id.as_ref(), format!("{:0>250}", 199));
    assert!(m.to_bytes().len() < 2 * MAX_EVENT_BYTES_PER_TYPE + 600_000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merge_is_commutative(a in arb_memory(), b in arb_memory()) {
        let bundle = goals_bundle();
        prop_assert_eq!(a.merge(&b, &bundle).to_bytes(), b.merge(&a, &bundle).to_bytes());
    }

    #[test]
    fn merge_is_associative(a in arb_memory(), b in arb_memory(), c in arb_memory()) {
        let bundle = goals_bundle();
        let left = a.merge(&b, &bundle).merge(&c, &bundle);
        let right = a.merge(&b.merge(&c, &bundle), &bundle);
        prop_assert_eq!(left.to_bytes(), right.to_bytes());
    }

    #[test]
    fn merge_is_idempotent(a in arb_memory()) {
        let bundle = goals_bundle();
        let p = a.merge(&Memory::default(), &bundle);
        prop_assert_eq!(a.merge(&a, &bundle).to_bytes(), p.to_bytes());
        prop_assert_eq!(p.merge(&p, &bundle).to_bytes(), p.to_bytes());
    }

    #[test]
    fn encodings_round_trip(a in arb_memory()) {
        prop_assert_eq!(&Memory::from_bytes(&a.to_bytes()).unwrap(), &a);
        prop_assert_eq!(&Memory::from_json(&a.to_json()).unwrap(), &a);
    }

    #[test]
    fn evaluating_then_merging_agrees_with_merging_then_evaluating_for_memory(a in arb_memory(), b in arb_memory()) {
        // The memory an event leaves behind is itself a join with what it adds.
        let bundle = small_limits_bundle();
        let profile = Profile::new("c1", ["marketing", "location"], []);
        let e = Event::new(PURCHASE, "fresh", t("2026-11-22T00:00:00Z"), [("sku".to_string(), Value::string("a"))]);
        let ab = a.merge(&b, &bundle);
        let after_ab = evaluate(&bundle, &ab, &profile, &e).memory;
        let after_a = evaluate(&bundle, &a, &profile, &e).memory;
        let merged = after_a.merge(&b, &bundle);
        // Decisions may differ (b's history was unknown to the first evaluation), but remembered
        // events and seen ids agree.
        let events = |m: &Memory| m.events().map(|e| (e.event_type.to_string(), e.id.to_string(), e.time)).collect::<Vec<_>>();
        let seen = |m: &Memory| m.seen_ids().map(|(i, t)| (i.to_string(), t)).collect::<Vec<_>>();
        prop_assert_eq!(events(&after_ab), events(&merged));
        prop_assert_eq!(seen(&after_ab), seen(&merged));
    }
}

#[test]
fn times_beyond_four_digit_years_read_back_from_json() {
    // Found by the memory fuzzer: RFC 3339 has four-digit years, so such times are written
    // as integer milliseconds.
    let b = small_limits_bundle();
    for t in [
        257_071_100_607_104_i64,
        -200_000_000_000_000,
        8_640_000_000_000_000,
    ] {
        let m = some_memory(&b).erase(t);
        let back = Memory::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m, "{t}");
    }
}
