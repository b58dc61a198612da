//! Contracts over compiled rule sets that the conformance vectors cannot state. The language's
//! semantics (what decides, in which order, what memory keeps) are tested once, by the vectors
//! in `tests/vectors/` on every runtime; here are properties over random histories, what the
//! compiler makes of a rule set, memory's contents and merge, explanations, input errors, the
//! host protocol, and the fast path's hints (prepared triggers, constant decision numbers,
//! field presence).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_engine::bundle::Bundle;
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use omnirule_engine::{evaluate, explain};
use omnirule_tests::*;
use serde_json::{Value, json};

fn banner_rule(name: &str, on: &str, when: &str) -> String {
    format!(
        "rule {name} {{\n  on {on}\n  when {when}\n  do banner {{ slot: \"s\", text: \"{name}\" }}\n}}\n"
    )
}

// ----- keyed history queries: a property --------------------------------------------------

/// Queries keyed on a field (`where x.f == "literal"`, alone or in an `and`) next to twins
/// that say the same without a key (`(x.f == "literal") == true`). Several keyed queries share
/// a field, so the engine groups remembered events by it (`engine/src/history.rs`); the twins
/// take the plain scan. A field is grouped from its second query in an event on (the first
/// one scans), so the first three pairs put a query on each field before the others.
const KEYED_TWINS: [(&str, &str); 11] = [
    (
        "seen page_view within 1d where page_view.price == 10",
        "seen page_view within 1d where (page_view.price == 10) == true",
    ),
    (
        r#"seen page_view within 1d where page_view.tag == "y""#,
        r#"seen page_view within 1d where (page_view.tag == "y") == true"#,
    ),
    (
        r#"seen page_view within 1d where page_view.category == "c""#,
        r#"seen page_view within 1d where (page_view.category == "c") == true"#,
    ),
    (
        r#"count(page_view within 2d where page_view.category == "a") >= 2"#,
        r#"count(page_view within 2d where (page_view.category == "a") == true) >= 2"#,
    ),
    (
        r#"count(page_view within 2d where page_view.category == "b") >= 1"#,
        r#"count(page_view within 2d where (page_view.category == "b") == true) >= 1"#,
    ),
    (
        r#"count(page_view within 30d where "a" == page_view.category and page_view.price > 5) >= 1"#,
        r#"count(page_view within 30d where ("a" == page_view.category) == true and page_view.price > 5) >= 1"#,
    ),
    (
        r#"seen page_view as v within 1d where v.tag == "x" and not seen purchase since v where purchase.sku == v.sku"#,
        r#"seen page_view as v within 1d where (v.tag == "x") == true and not seen purchase since v where purchase.sku == v.sku"#,
    ),
    (
        "seen page_view as v within 3d where v.price == 0",
        "seen page_view as v within 3d where (v.price == 0) == true",
    ),
    (
        r#"seen page_view as v within 3d where v.sku == "s1" and seen page_view since v where page_view.category == "c""#,
        r#"seen page_view as v within 3d where (v.sku == "s1") == true and seen page_view since v where (page_view.category == "c") == true"#,
    ),
    (
        r#"time_since(page_view within 3d where page_view.tag == "y") < 1d"#,
        r#"time_since(page_view within 3d where (page_view.tag == "y") == true) < 1d"#,
    ),
    (
        r#"count(page_view within 3d where page_view.price == 7 and page_view.category == "a") >= 1"#,
        r#"count(page_view within 3d where (page_view.price == 7) == true and (page_view.category == "a") == true) >= 1"#,
    ),
];

fn keyed_twins_bundle() -> &'static Bundle {
    static BUNDLE: std::sync::OnceLock<Bundle> = std::sync::OnceLock::new();
    BUNDLE.get_or_init(|| {
        let mut src = String::new();
        for (i, (keyed, plain)) in KEYED_TWINS.iter().enumerate() {
            src += &banner_rule(&format!("k{i}"), "beacon_enter", keyed);
            src += &banner_rule(&format!("u{i}"), "beacon_enter", plain);
        }
        bundle(&src)
    })
}

/// One remembered event of the twins' history: (kind, hours after the start, category, tag,
/// price, sku), small sets so that values repeat and groups hold several events.
fn twins_event(i: usize, (kind, hours, cat, tag, price, sku): (u8, u32, u8, u8, u8, u8)) -> Value {
    let time = 1_795_132_800_000_i64 + i64::from(hours) * 3_600_000;
    let sku = format!("s{sku}");
    match kind {
        0 => json!({"type": "purchase", "id": format!("p{i}"), "time": time, "sku": sku,
                    "amount": 1, "channel": "web"}),
        1 => json!({"type": "beacon_enter", "id": format!("b{i}"), "time": time,
                    "store": "S1", "zone": "door"}),
        _ => {
            let category = ["a", "b", "c"][usize::from(cat % 3)];
            let price = [0.0, -0.0, 7.0, 5.5, 10.0][usize::from(price % 5)];
            let mut v = json!({"type": "page_view", "id": format!("v{i}"), "time": time,
                               "sku": sku, "category": category, "price": price});
            if let Some(t) = [Some("x"), Some("y"), None][usize::from(tag % 3)] {
                v["tag"] = json!(t);
            }
            v
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    #[test]
    fn a_query_keyed_on_a_field_decides_what_its_plain_twin_decides(
        events in proptest::collection::vec(
            (0u8..4, 0u32..120, 0u8..3, 0u8..3, 0u8..5, 0u8..3), 1..48),
    ) {
        let b = keyed_twins_bundle().clone();
        let mut j = Journey::new(b, customer());
        let mut sorted: Vec<(usize, _)> = events.into_iter().enumerate().collect();
        sorted.sort_by_key(|(_, e)| e.1);
        for (i, e) in sorted {
            let decided = j.send(twins_event(i, e));
            let fired = |prefix: char| -> Vec<usize> {
                rules(&decided)
                    .iter()
                    .filter_map(|r| r.strip_prefix(prefix)?.parse().ok())
                    .collect()
            };
            let (keyed, plain) = (fired('k'), fired('u'));
            proptest::prop_assert_eq!(keyed, plain, "event {}", i);
        }
    }
}

#[test]
fn the_keyed_twins_do_fire() {
    // The property above compares firings; this shows it compares something: each keyed rule
    // and its twin fire on a history written for them.
    let mut j = Journey::new(keyed_twins_bundle().clone(), customer());
    let at = |h: u32| 1_795_132_800_000_i64 + i64::from(h) * 3_600_000;
    let history = [
        json!({"type": "page_view", "id": "v1", "time": at(1), "sku": "s1", "category": "a", "price": 7, "tag": "y"}),
        json!({"type": "page_view", "id": "v2", "time": at(2), "sku": "s2", "category": "a", "price": -0.0, "tag": "x"}),
        json!({"type": "page_view", "id": "v3", "time": at(3), "sku": "s3", "category": "b", "price": 10}),
        json!({"type": "page_view", "id": "v4", "time": at(4), "sku": "s4", "category": "c", "price": 10}),
    ];
    j.play(history);
    let d = j.send(
        json!({"type": "beacon_enter", "id": "b1", "time": at(5), "store": "S1", "zone": "door"}),
    );
    let mut fired = rules(&d);
    fired.sort_unstable();
    let want: Vec<String> = (0..KEYED_TWINS.len())
        .flat_map(|i| [format!("k{i}"), format!("u{i}")])
        .collect();
    let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(fired, want);
}

// ----- memory: retention, minimisation, merge ---------------------------------------------------

#[test]
fn memory_keeps_only_the_fields_queries_read_and_only_as_long_as_needed() {
    let b = bundle(&banner_rule(
        "r",
        "beacon_enter",
        "seen page_view within 2d where page_view.category == \"knit\"",
    ));
    let retention = &b.graph().retention;
    let pv = &retention[0];
    assert_eq!(pv.keep, Some(2 * 86_400_000));
    assert_eq!(pv.fields, ["category"]);
    // beacon_enter is never read: never remembered.
    assert_eq!(retention[2].keep, None);
    let mut j = Journey::new(b, customer());
    j.send(view("2026-11-20T10:00:00Z", "SECRET-SKU", "knit"));
    let kept = j.memory.to_json();
    let kept: Value = serde_json::from_str(&kept).unwrap();
    let fields = &kept["events"][0]["fields"];
    assert_eq!(
        fields,
        &json!({"category": "knit"}),
        "the sku is not read by any query: {kept}"
    );
    // Four days later the view is older than any query can reach: it is pruned.
    j.send(view("2026-11-24T10:00:00Z", "B", "tee"));
    assert_eq!(j.memory.event_count(), 1);
}

#[test]
fn merged_memory_brings_online_behaviour_into_the_store() {
    let b = bundle(&banner_rule(
        "r",
        "beacon_enter",
        "seen page_view within 7d where page_view.category == \"knit\"",
    ));
    // The browser saw the view...
    let mut web = Journey::new(b.clone(), customer());
    web.send(view("2026-11-20T10:00:00Z", "A", "knit"));
    // ...the store knows nothing of it until the memories merge.
    let mut store = Journey::new(b.clone(), customer());
    assert!(store.send(beacon("2026-11-21T10:00:00Z")).is_empty());
    store.memory = store.memory.merge(&web.memory, &b);
    assert_eq!(rules(&store.send(beacon("2026-11-21T11:00:00Z"))), ["r"]);
    // Merge is symmetric.
    assert_eq!(
        web.memory.merge(&store.memory, &b).to_bytes(),
        store.memory.merge(&web.memory, &b).to_bytes()
    );
}

// ----- the graph ------------------------------------------------------------------------------------

#[test]
fn identical_conditions_and_queries_are_shared_across_rules() {
    let b = bundle(&format!(
        "segment knit_fan = count(page_view within 30d where page_view.category == \"knit\") >= 2\n{}{}{}",
        banner_rule("a", "page_view", "knit_fan and event.price > 10"),
        banner_rule(
            "b",
            "beacon_enter",
            "knit_fan and count(page_view within 30d where page_view.category == \"knit\") >= 2"
        ),
        banner_rule("c", "page_view", "event.price > 10"),
    ));
    let g = b.graph();
    assert_eq!(
        g.queries.len(),
        1,
        "one query shared by a segment and a rule"
    );
    let price_tests = g
        .nodes
        .iter()
        .filter(|n| {
            matches!(
                n,
                omnirule_engine::graph::Node::Cmp(omnirule_engine::graph::CmpOp::Gt, _, _)
            )
        })
        .count();
    assert_eq!(price_tests, 1, "`event.price > 10` is one node");
    // Rules are indexed by event type.
    let pv = g.triggers.iter().find(|t| t.event == 0).unwrap();
    assert_eq!(pv.rules.len(), 2);
}

#[test]
fn timezone_transitions_are_resolved_at_compile_time() {
    let b = bundle(
        "rule r { on page_view do banner { slot: \"s\", text: \"t\" } hours 09:00 .. 18:00 active 2026-01-01 .. 2026-12-31 }\n",
    );
    let tz = &b.graph().timezone;
    assert_eq!(tz.name, "Europe/Paris");
    assert_eq!(tz.transitions.len(), 2, "{:?}", tz.transitions);
}

// ----- explanations -----------------------------------------------------------------------------------

#[test]
fn explain_says_why_each_triggered_rule_fired_or_not() {
    let b = bundle(
        r#"group hero
rule winner { on page_view do banner { slot: "hero", text: "w" } group hero priority 2 }
rule loser { on page_view do banner { slot: "hero", text: "l" } group hero }
rule needs_location { on page_view consent location do banner { slot: "x", text: "x" } }
rule false_condition { on page_view when event.price > 100 and event.category == "x" do banner { slot: "y", text: "y" } }
rule capped { on page_view do banner { slot: "z", text: "z" } once }
rule closed { on page_view do banner { slot: "q", text: "q" } hours 09:00 .. 10:00 }
rule no_unit {
  on page_view
  consent marketing
  do split name_test by profile.first_name { 50% control 50% "ten": offer { code: "N" } }
}
"#,
    );
    let profile = Profile::from_json(
        &b,
        &json!({"id": "c1", "tier": "t", "labels": [], "consents": ["marketing"]}),
    )
    .unwrap();
    let e1 = Event::from_json(&b, &view("2026-11-20T15:00:00Z", "A", "x")).unwrap();
    let first = evaluate(&b, &Memory::default(), &profile, &e1);
    let e2 = Event::from_json(&b, &view("2026-11-20T15:01:00Z", "B", "x")).unwrap();
    let (_, why) = explain(&b, &first.memory, &profile, &e2);
    let text = serde_json::to_string(&why).unwrap();
    for expected in [
        "winner",
        "loser",
        "lost_to",
        "no_consent",
        "location",
        "event.price > 100",
        "cap_reached",
        "outside_hours",
        "split_unit_missing",
    ] {
        assert!(
            text.contains(expected),
            "explanation lacks {expected}: {text}"
        );
    }
}

// ----- input ------------------------------------------------------------------------------------------

#[test]
fn unknown_event_types_and_wrongly_typed_fields_are_clear_errors() {
    let b = bundle("rule r { on page_view do banner { slot: \"s\", text: \"t\" } }\n");
    let err = Event::from_json(&b, &json!({"type": "pageview", "id": "1", "time": 0})).unwrap_err();
    assert!(err.to_string().contains("pageview"), "{err}");
    let err = Event::from_json(
        &b,
        &json!({"type": "page_view", "id": "1", "time": 0, "sku": 5, "category": "x", "price": 1}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("sku"), "{err}");
}

// ----- determinism ----------------------------------------------------------------------------

#[test]
fn evaluation_is_deterministic() {
    let b = bundle(
        r#"rule r {
  on beacon_enter
  when seen page_view as v within 7d where v.category == "knit"
   and not seen purchase since v where purchase.sku == v.sku
  do offer { code: "X", sku: v.sku, message: "{v.sku} at {now}" }
}
"#,
    );
    let run = || {
        let mut j = Journey::new(b.clone(), customer());
        let mut out = Vec::new();
        for e in [
            view("2026-11-18T10:00:00Z", "OLD", "knit"),
            view("2026-11-19T10:00:00Z", "NEW", "knit"),
            beacon("2026-11-20T10:00:00Z"),
            purchase("2026-11-20T11:00:00Z", "NEW"),
            beacon("2026-11-20T12:00:00Z"),
        ] {
            out.push(serde_json::to_string(&j.send(e)).unwrap());
        }
        (out, j.memory.to_bytes(), j.memory.to_json())
    };
    assert_eq!(run(), run());
}

// ----- the host protocol: what every runtime calls ----------------------------------------------

#[test]
fn the_host_protocol_returns_canonical_decisions_and_refuses_bad_input_without_evaluating() {
    use omnirule_engine::host::track;
    let b = bundle(&banner_rule(
        "r",
        "beacon_enter",
        "seen page_view within 1d",
    ));
    let memory = Memory::default();
    let first = track(
        &b,
        &memory,
        &customer(),
        &view("2026-11-20T10:00:00Z", "A", "x"),
        false,
    )
    .unwrap();
    assert_eq!(first.to_json(), r#"{"decisions":[]}"#);
    let second = track(
        &b,
        &first.memory,
        &customer(),
        &beacon("2026-11-20T11:00:00Z"),
        true,
    )
    .unwrap();
    assert_eq!(
        second.to_json(),
        concat!(
            r#"{"decisions":[{"action":"banner","experiment":null,"group":null,"params":{"slot":"s","text":"r"},"rule":"r","variant":null}],"#,
            r#""explanation":{"duplicate":false,"event":"b-2026-11-20T11:00:00Z","rules":[{"outcome":"fired","rule":"r","variant":null}]}}"#
        )
    );
    // A wrongly typed field is an error naming the field; nothing is evaluated.
    let mut bad = view("2026-11-20T12:00:00Z", "B", "x");
    bad["price"] = json!("cheap");
    let err = track(&b, &first.memory, &customer(), &bad, false).unwrap_err();
    assert!(err.to_string().contains("price"), "{err}");
    let err = track(
        &b,
        &memory,
        &json!({"id": 5}),
        &beacon("2026-11-20T11:00:00Z"),
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("id"), "{err}");
}

#[test]
fn a_customer_whose_consents_allow_no_rule_leaves_no_trace_at_all() {
    let consented = |name: &str, consent: &str| {
        format!(
            "rule {name} {{\n  on page_view\n  consent {consent}\n  when seen page_view within 1d\n  do banner {{ slot: \"s\", text: \"x\" }}\n}}\n"
        )
    };
    let b = bundle(&(consented("a", "marketing") + &consented("b", "location")));
    let none = json!({"id": "jon", "tier": "silver", "labels": [], "consents": []});
    let mut j = Journey::new(b.clone(), none);
    j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    j.send(view("2026-11-20T11:00:00Z", "B", "x"));
    // Not the events, not their ids, not even the time of the newest.
    assert!(j.memory.is_empty(), "{}", j.memory.to_json());
    assert_eq!(j.memory, Memory::default());
    // One consent is enough for the ids (de-duplication) and the remembered views.
    let some = json!({"id": "ana", "tier": "silver", "labels": [], "consents": ["location"]});
    let mut k = Journey::new(b.clone(), some);
    k.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert!(!k.memory.is_empty());
    assert_eq!(k.memory.seen_ids().count(), 1);
    // And a rule that needs no consent keeps de-duplication for everyone.
    let open = bundle(&(consented("a", "marketing") + &banner_rule("c", "beacon_enter", "true")));
    let mut l = Journey::new(
        open,
        json!({"id": "jon", "tier": "silver", "labels": [], "consents": []}),
    );
    l.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(l.memory.seen_ids().count(), 1);
    assert_eq!(l.memory.event_count(), 0);
}

// ----- the fast path: built per trigger on first use, and the hints it leaves ------------------

#[test]
fn loading_prepares_no_trigger_and_an_event_prepares_only_its_own() {
    let b = bundle(
        &(banner_rule("cheap_view", "page_view", "event.price <= 10")
            + &banner_rule("big_purchase", "purchase", "event.amount > 100")),
    );
    let mut j = Journey::new(b, customer());
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
    let b = bundle(
        r#"rule constant { on page_view do banner { slot: "s", text: "constant" } }
rule computed { on page_view do banner { slot: "s", text: event.sku } }
"#,
    );
    let mut j = Journey::new(b, customer());
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
    let other = Bundle::from_bytes(&j.bundle.to_bytes()).unwrap();
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
    use omnirule_engine::value::Value as V;
    // page_view's fields in name order: category, dwell, price, seen_at, sku, tag, tags; `aaa`
    // sorts first, so in the other bundle every other field's rank moves by one.
    let build = |extra_field: &str| {
        bundle_of(&format!(
            r#"schema {{
  timezone "Europe/Paris"
  consent marketing, location
  profile {{ tier: string, labels: set<string> }}
  event page_view {{
    {extra_field}sku: string, category: string, price: number, tag: string?,
    tags: set<string>?, dwell: duration?, seen_at: time?
  }}
  action banner {{ slot: string, text: string }}
}}
{}{}{}"#,
            banner_rule("price_10", "page_view", "event.price == 10"),
            banner_rule("sku_a", "page_view", "event.sku == \"A\""),
            banner_rule("tag_new", "page_view", "event.tag == \"new\""),
        ))
    };
    let (bundle, other) = (build(""), build("aaa: number?, "));
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
        bundle.event_type("page_view").unwrap(),
        "v1",
        1_795_168_800_000, // 2026-11-20T10:00:00Z
        [
            ("sku".to_string(), V::string("A")),
            ("price".to_string(), V::Number(10.0)),
            ("tag".to_string(), V::string("new")),
        ],
    );
    assert_eq!(fired(&from_rust), all);
    let mut with_aaa = sparse.clone();
    with_aaa["aaa"] = json!(1);
    let elsewhere = Event::from_json(&other, &with_aaa).unwrap();
    assert_eq!(fired(&elsewhere), all);
    assert_eq!(elsewhere.field("price"), Some(&V::Number(10.0)));
}
