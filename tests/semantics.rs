//! The language and runtime contracts (`language.md`, `runtime.md`), one test per rule,
//! over compiled rule sets evaluated by the engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_engine::input::Event;
use omnirule_engine::memory::Memory;
use omnirule_engine::{evaluate, explain};
use omnirule_tests::*;
use serde_json::{Value, json};

fn banner_rule(name: &str, on: &str, when: &str) -> String {
    format!(
        "rule {name} {{\n  on {on}\n  when {when}\n  do banner {{ slot: \"s\", text: \"{name}\" }}\n}}\n"
    )
}

// ----- history ------------------------------------------------------------------------------

#[test]
fn the_current_event_is_not_part_of_its_own_history() {
    let b = bundle(&banner_rule("r", "page_view", "seen page_view within 1d"));
    let mut j = Journey::new(b, customer());
    assert!(j.send(view("2026-11-20T10:00:00Z", "A", "x")).is_empty());
    assert_eq!(
        rules(&j.send(view("2026-11-20T10:01:00Z", "B", "x"))),
        ["r"]
    );
}

#[test]
fn within_includes_an_event_exactly_that_old_and_nothing_older() {
    let b = bundle(&banner_rule(
        "r",
        "beacon_enter",
        "seen page_view within 1h",
    ));
    let mut j = Journey::new(b.clone(), customer());
    j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(rules(&j.send(beacon("2026-11-20T11:00:00Z"))), ["r"]);
    let mut j = Journey::new(b, customer());
    j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert!(j.send(beacon("2026-11-20T11:00:00.001Z")).is_empty());
}

#[test]
fn since_means_after_the_bound_event() {
    let b = bundle(&banner_rule(
        "r",
        "beacon_enter",
        "seen page_view as v within 7d and not seen purchase since v",
    ));
    let mut j = Journey::new(b.clone(), customer());
    // A purchase before the view does not count.
    let d = j.play([
        purchase("2026-11-19T10:00:00Z", "A"),
        view("2026-11-20T10:00:00Z", "A", "x"),
        beacon("2026-11-21T10:00:00Z"),
    ]);
    assert_eq!(rules(&d), ["r"]);
    // A purchase after it does.
    let mut j = Journey::new(b, customer());
    let d = j.play([
        view("2026-11-20T10:00:00Z", "A", "x"),
        purchase("2026-11-20T11:00:00Z", "A"),
        beacon("2026-11-21T10:00:00Z"),
    ]);
    assert!(d.is_empty());
}

#[test]
fn history_is_ordered_by_time_then_id() {
    // Two events at the same instant: the one with the larger id comes later.
    let b = bundle(
        "rule r {\n  on beacon_enter\n  when seen page_view as v within 1d\n  do banner { slot: \"s\", text: \"{v.sku}\" }\n}\n",
    );
    let mut j = Journey::new(b, customer());
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
fn the_newest_binding_wins_and_older_ones_are_tried_when_it_fails() {
    let b = bundle(
        "rule r {\n  on beacon_enter\n  when seen page_view as v within 7d where v.category == \"knit\"\n   and not seen purchase since v where purchase.sku == v.sku\n  do offer { code: \"K\", sku: v.sku }\n}\n",
    );
    let mut j = Journey::new(b, customer());
    let d = j.play([
        view("2026-11-18T10:00:00Z", "OLD", "knit"),
        view("2026-11-19T10:00:00Z", "NEW", "knit"),
        view("2026-11-19T11:00:00Z", "TEE", "tshirt"),
    ]);
    assert!(d.is_empty());
    let d = j.send(beacon("2026-11-20T10:00:00Z"));
    assert_eq!(param(&d, "r", "sku"), "NEW");
    // Buying NEW makes the rule fall back to the older view.
    j.send(purchase("2026-11-20T11:00:00Z", "NEW"));
    let d = j.send(beacon("2026-11-20T12:00:00Z"));
    assert_eq!(param(&d, "r", "sku"), "OLD");
}

#[test]
fn where_names_the_candidate_by_its_event_type() {
    let b = bundle(&banner_rule(
        "r",
        "beacon_enter",
        "seen page_view within 1d where page_view.price > 50",
    ));
    let mut j = Journey::new(b, customer());
    let mut cheap = view("2026-11-20T10:00:00Z", "A", "x");
    cheap["price"] = json!(20);
    let d = j.play([cheap, beacon("2026-11-20T11:00:00Z")]);
    assert!(d.is_empty());
    let mut dear = view("2026-11-20T12:00:00Z", "B", "x");
    dear["price"] = json!(80);
    let d = j.play([dear, beacon("2026-11-20T13:00:00Z")]);
    assert_eq!(rules(&d), ["r"]);
}

#[test]
fn count_sum_last_and_time_since() {
    let b = bundle(
        r#"rule r {
  on beacon_enter
  when count(purchase within 30d) >= 2
  do banner { slot: "s", text: "{count(purchase within 30d)} {sum(purchase.amount within 30d)} {last(purchase within 30d) is present} {time_since(purchase) / 1h}" }
}
"#,
    );
    let mut j = Journey::new(b, customer());
    let d = j.play([
        purchase("2026-11-18T10:00:00Z", "A"),
        purchase("2026-11-19T10:00:00Z", "B"),
        beacon("2026-11-19T13:00:00Z"),
    ]);
    assert_eq!(param(&d, "r", "text"), "2 20 true 3");
}

#[test]
fn empty_history_counts_zero_and_sums_zero() {
    let b = bundle(&banner_rule(
        "r",
        "beacon_enter",
        "count(purchase within 30d) == 0 and sum(purchase.amount within 30d) == 0 and time_since(purchase) is missing",
    ));
    let mut j = Journey::new(b, customer());
    assert_eq!(rules(&j.send(beacon("2026-11-20T10:00:00Z"))), ["r"]);
}

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

fn keyed_twins_bundle() -> &'static omnirule_engine::bundle::Bundle {
    static BUNDLE: std::sync::OnceLock<omnirule_engine::bundle::Bundle> =
        std::sync::OnceLock::new();
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

// ----- missing values -----------------------------------------------------------------------

#[test]
fn any_comparison_with_a_missing_value_is_false_not_equal_too() {
    let b = bundle(&format!(
        "{}{}{}{}",
        banner_rule("eq", "page_view", "event.tag == \"x\""),
        banner_rule("ne", "page_view", "event.tag != \"x\""),
        banner_rule("gt", "page_view", "profile.score > 0 or profile.score <= 0"),
        banner_rule(
            "absent",
            "page_view",
            "event.tag is missing and not (event.tag is present)"
        ),
    ));
    let mut j = Journey::new(b, customer());
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(rules(&d), ["absent"]);
}

#[test]
fn coalesce_binds_tighter_than_comparison() {
    let b = bundle(&banner_rule(
        "r",
        "page_view",
        "event.tag ?? \"none\" == \"none\"",
    ));
    let mut j = Journey::new(b, customer());
    assert_eq!(
        rules(&j.send(view("2026-11-20T10:00:00Z", "A", "x"))),
        ["r"]
    );
    let mut tagged = view("2026-11-20T10:01:00Z", "B", "x");
    tagged["tag"] = json!("sale");
    assert!(j.send(tagged).is_empty());
}

#[test]
fn arithmetic_with_a_missing_value_is_missing() {
    let b = bundle(&format!(
        "{}{}",
        banner_rule("a", "page_view", "(profile.score + 1) is missing"),
        banner_rule("b", "page_view", "(profile.score ?? 0) + 1 == 1"),
    ));
    let mut j = Journey::new(b, customer());
    assert_eq!(
        rules(&j.send(view("2026-11-20T10:00:00Z", "A", "x"))),
        ["a", "b"]
    );
}

// ----- caps, groups, priorities --------------------------------------------------------------

#[test]
fn limit_counts_firings_in_the_window_before_now() {
    let b = bundle(
        "rule r {\n  on page_view\n  do banner { slot: \"s\", text: \"t\" }\n  limit 2 per 1h\n}\n",
    );
    let mut j = Journey::new(b, customer());
    let fired: Vec<bool> = [
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:10:00Z",
        "2026-11-20T10:20:00Z",
        "2026-11-20T11:00:00Z", // the 10:00 firing is exactly 1h old: still inside
        "2026-11-20T11:10:01Z", // 10:00 and 10:10 are now outside the hour
    ]
    .iter()
    .enumerate()
    .map(|(i, t)| !j.send(view(t, &format!("S{i}"), "x")).is_empty())
    .collect();
    assert_eq!(fired, [true, true, false, false, true]);
}

#[test]
fn once_means_once_ever() {
    let b =
        bundle("rule r {\n  on page_view\n  do banner { slot: \"s\", text: \"t\" }\n  once\n}\n");
    let mut j = Journey::new(b, customer());
    assert_eq!(j.send(view("2026-11-20T10:00:00Z", "A", "x")).len(), 1);
    assert!(j.send(view("2027-11-20T10:00:00Z", "B", "x")).is_empty());
}

#[test]
fn decisions_come_in_priority_order_then_file_order() {
    let b = bundle(
        r#"rule low { on page_view do banner { slot: "a", text: "low" } priority -1 }
rule first { on page_view do banner { slot: "b", text: "first" } }
rule high { on page_view do banner { slot: "c", text: "high" } priority 5 }
rule second { on page_view do banner { slot: "d", text: "second" } }
"#,
    );
    let mut j = Journey::new(b, customer());
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(rules(&d), ["high", "first", "second", "low"]);
}

#[test]
fn a_group_lets_one_rule_fire_per_event_ties_go_to_file_order() {
    let b = bundle(
        r#"group hero
rule a { on page_view do banner { slot: "hero", text: "a" } group hero priority 1 }
rule b { on page_view do banner { slot: "hero", text: "b" } group hero priority 1 }
rule c { on page_view do banner { slot: "hero", text: "c" } group hero }
rule free { on page_view do banner { slot: "side", text: "free" } }
"#,
    );
    let mut j = Journey::new(b, customer());
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(rules(&d), ["a", "free"]);
    assert_eq!(d[0].group.as_deref(), Some("hero"));
}

#[test]
fn a_rule_whose_condition_fails_leaves_the_group_to_the_next() {
    let b = bundle(
        r#"group hero
rule a { on page_view when event.category == "knit" do banner { slot: "hero", text: "a" } group hero priority 9 }
rule b { on page_view do banner { slot: "hero", text: "b" } group hero }
"#,
    );
    let mut j = Journey::new(b, customer());
    assert_eq!(
        rules(&j.send(view("2026-11-20T10:00:00Z", "A", "tee"))),
        ["b"]
    );
    assert_eq!(
        rules(&j.send(view("2026-11-20T10:01:00Z", "B", "knit"))),
        ["a"]
    );
}

#[test]
fn a_group_cap_applies_across_its_rules() {
    let b = bundle(
        r#"group hero limit 2 per 1d
rule a { on page_view when event.category == "knit" do banner { slot: "hero", text: "a" } group hero priority 9 }
rule b { on page_view do banner { slot: "hero", text: "b" } group hero }
"#,
    );
    let mut j = Journey::new(b, customer());
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
}

// ----- schedules and timezones ---------------------------------------------------------------

#[test]
fn hours_include_the_start_and_exclude_the_end_in_local_time() {
    let b = bundle(
        "rule r { on page_view do banner { slot: \"s\", text: \"t\" } hours 09:00 .. 21:00 }\n",
    );
    let mut j = Journey::new(b, customer());
    // Paris is UTC+1 in November.
    let at = |j: &mut Journey, t: &str| !j.send(view(t, t, "x")).is_empty();
    assert!(!at(&mut j, "2026-11-20T07:59:59Z"));
    assert!(at(&mut j, "2026-11-20T08:00:00Z"));
    assert!(at(&mut j, "2026-11-20T19:59:59Z"));
    assert!(!at(&mut j, "2026-11-20T20:00:00Z"));
}

#[test]
fn hours_follow_daylight_saving_time() {
    let b = bundle(
        "rule r { on page_view do banner { slot: \"s\", text: \"t\" } hours 09:00 .. 10:00 }\n",
    );
    let mut j = Journey::new(b, customer());
    let at = |j: &mut Journey, t: &str| !j.send(view(t, t, "x")).is_empty();
    // Saturday 28 March 2026: UTC+1, so 09:00 local is 08:00 UTC.
    assert!(at(&mut j, "2026-03-28T08:30:00Z"));
    assert!(!at(&mut j, "2026-03-28T07:30:00Z"));
    // Monday 30 March 2026, after the change: UTC+2, so 09:00 local is 07:00 UTC.
    assert!(at(&mut j, "2026-03-30T07:30:00Z"));
    assert!(!at(&mut j, "2026-03-30T08:30:00Z"));
}

#[test]
fn hours_may_wrap_past_midnight() {
    let b = bundle(
        "rule r { on page_view do banner { slot: \"s\", text: \"t\" } hours 22:00 .. 02:00 }\n",
    );
    let mut j = Journey::new(b, customer());
    let at = |j: &mut Journey, t: &str| !j.send(view(t, t, "x")).is_empty();
    assert!(at(&mut j, "2026-11-20T21:00:00Z")); // 22:00 local
    assert!(at(&mut j, "2026-11-21T00:59:00Z")); // 01:59 local
    assert!(!at(&mut j, "2026-11-21T01:00:00Z")); // 02:00 local
    assert!(!at(&mut j, "2026-11-20T12:00:00Z"));
}

#[test]
fn days_and_active_dates_include_both_ends_in_local_time() {
    let b = bundle(
        "rule r { on page_view do banner { slot: \"s\", text: \"t\" } days mon .. fri active 2026-11-02 .. 2026-11-27 }\n",
    );
    let mut j = Journey::new(b, customer());
    let at = |j: &mut Journey, t: &str| !j.send(view(t, t, "x")).is_empty();
    // Sunday 1 November 23:30 UTC is Monday 2 November 00:30 in Paris: first active day.
    assert!(at(&mut j, "2026-11-01T23:30:00Z"));
    assert!(!at(&mut j, "2026-11-01T22:30:00Z"));
    // Saturday 21 November: not a weekday.
    assert!(!at(&mut j, "2026-11-21T12:00:00Z"));
    // Friday 27 November, the last active day, and Saturday 28 November just after.
    assert!(at(&mut j, "2026-11-27T22:59:00Z"));
    assert!(!at(&mut j, "2026-11-30T12:00:00Z"));
}

// ----- splits ---------------------------------------------------------------------------------

#[test]
fn splits_bucket_with_fnv1a_of_name_and_unit() {
    let b = bundle(
        r#"rule r {
  on page_view
  do split win_back_test by profile.id {
    50% control
    50% "ten": offer { code: "BACK10" }
  }
}
"#,
    );
    // Buckets computed by hand: c1 → 5496 ("ten"), c3 → 734 (control).
    let mut j = Journey::new(b.clone(), json!({"id": "c1", "tier": "t", "labels": []}));
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(d[0].variant.as_deref(), Some("ten"));
    assert_eq!(d[0].experiment.as_deref(), Some("win_back_test"));
    assert_eq!(d[0].action.as_deref(), Some("offer"));
    let mut j = Journey::new(b, json!({"id": "c3", "tier": "t", "labels": []}));
    let d = j.send(view("2026-11-20T10:00:00Z", "A", "x"));
    assert_eq!(d.len(), 1, "control is reported so hosts can log exposure");
    assert_eq!(d[0].variant.as_deref(), Some("control"));
    assert_eq!(d[0].action, None);
}

// ----- consent --------------------------------------------------------------------------------

#[test]
fn a_rule_without_its_consents_neither_fires_nor_records_history() {
    let b = bundle(
        "rule r {\n  on page_view\n  consent marketing\n  when seen page_view within 1d\n  do banner { slot: \"s\", text: \"t\" }\n}\n",
    );
    let no_consent = json!({"id": "c2", "tier": "t", "labels": [], "consents": []});
    let mut j = Journey::new(b.clone(), no_consent);
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
}

// ----- de-duplication and order ----------------------------------------------------------------

#[test]
fn an_event_whose_id_was_seen_changes_nothing() {
    let b = bundle("rule r { on page_view do banner { slot: \"s\", text: \"t\" } }\n");
    let mut j = Journey::new(b, customer());
    let e = view("2026-11-20T10:00:00Z", "A", "x");
    assert_eq!(j.send(e.clone()).len(), 1);
    let before = j.memory.to_bytes();
    assert!(j.send(e).is_empty());
    assert_eq!(j.memory.to_bytes(), before);
}

#[test]
fn an_out_of_order_event_sees_only_the_history_before_it() {
    let b = bundle(
        "rule r {\n  on beacon_enter\n  when seen page_view as v within 7d\n  do banner { slot: \"s\", text: \"{v.sku}\" }\n}\n",
    );
    let mut j = Journey::new(b, customer());
    j.send(view("2026-11-18T10:00:00Z", "EARLY", "x"));
    j.send(view("2026-11-20T10:00:00Z", "LATE", "x"));
    // A beacon that happened on the 19th arrives late.
    let d = j.send(beacon("2026-11-19T10:00:00Z"));
    assert_eq!(param(&d, "r", "text"), "EARLY");
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
fn a_million_events_keep_memory_bounded() {
    let b = bundle(&banner_rule(
        "r",
        "beacon_enter",
        "count(page_view within 1h) > 3",
    ));
    let profile = omnirule_engine::input::Profile::from_json(&b, &customer()).unwrap();
    let mut memory = Memory::default();
    let start = 1_790_000_000_000i64;
    // One event a second for 20,000 seconds in debug builds: memory must stay at one hour.
    for i in 0..20_000i64 {
        let e = json!({"type": "page_view", "id": format!("e{i}"), "time": start + i * 1000,
                       "sku": "A", "category": "x", "price": 1});
        let e = Event::from_json(&b, &e).unwrap();
        memory = evaluate(&b, &memory, &profile, &e).memory;
    }
    assert!(memory.event_count() <= 3601, "{}", memory.event_count());
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
"#,
    );
    let profile = omnirule_engine::input::Profile::from_json(
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

#[test]
fn numbers_in_templates_print_as_javascript_prints_them() {
    let b = bundle(
        r#"rule r { on page_view do banner { slot: "s", text: "{event.price} {event.price * 3} {0.1 + 0.2} {1000000000000000000000 + 0} {-0 + 0}" } }
"#,
    );
    let mut j = Journey::new(b, customer());
    let mut e = view("2026-11-20T10:00:00Z", "A", "x");
    e["price"] = json!(79.9);
    let d = j.send(e);
    assert_eq!(
        param(&d, "r", "text"),
        "79.9 239.70000000000002 0.30000000000000004 1e+21 0"
    );
}

#[test]
fn evaluation_is_deterministic() {
    let b = bundle(
        r#"rule r {
  on beacon_enter
  when seen page_view as v within 7d
  do offer { code: "X", sku: v.sku, message: "{v.sku} at {now}" }
}
"#,
    );
    let run = || {
        let mut j = Journey::new(b.clone(), customer());
        let d = j.play([
            view("2026-11-20T10:00:00Z", "A", "x"),
            beacon("2026-11-21T10:00:00Z"),
        ]);
        (serde_json::to_string(&d).unwrap(), j.memory.to_bytes())
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
