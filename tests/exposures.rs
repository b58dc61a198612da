//! Exposures, as the hosts log them (`omnirule_engine::host::exposures`, the format of
//! docs/report.md), read back by the report: every decision is one exposure, a split's control
//! arm included, with the arm's weight; and the engine's split assignment, over many customers,
//! matches the declared weights (the report's sample-ratio check does not flag it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_engine::evaluate;
use omnirule_engine::host::{Place, exposures};
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use omnirule_report::report::Builder;
use omnirule_tests::bundle;
use serde_json::json;
use std::io::Cursor;

const SPLIT: &str = r#"
rule coat_price_test {
  on page_view
  consent marketing
  when event.category == "coats"
  do split coat_discount by profile.id {
    SHARES
  }
}
"#;

/// Customer `i` (consenting) and their view of a coat, which the split decides.
fn customer(b: &omnirule_engine::Bundle, i: u32) -> (Profile, Event) {
    let profile = Profile::from_json(
        b,
        &json!({"id": format!("c{i}"), "tier": "silver", "labels": [], "consents": ["marketing"]}),
    )
    .unwrap();
    let event = Event::from_json(
        b,
        &json!({"type": "page_view", "id": format!("v{i}"), "time": "2026-11-20T10:00:00Z",
                "sku": "CO-1", "category": "coats", "price": 120}),
    )
    .unwrap();
    (profile, event)
}

fn campaign(
    shares: &str,
    customers: u32,
) -> (Vec<serde_json::Value>, omnirule_report::report::Report) {
    let b = bundle(&SPLIT.replace("SHARES", shares));
    let mut lines = Vec::new();
    for i in 0..customers {
        let (profile, event) = customer(&b, i);
        let evaluation = evaluate(&b, &Memory::default(), &profile, &event);
        let place = Place {
            channel: "web",
            host: Some("edge"),
        };
        lines.extend(exposures(
            &b,
            &profile,
            &event,
            &evaluation.decisions,
            place,
        ));
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut builder = Builder::default();
    omnirule_report::read(&mut builder, "exposures", Cursor::new(text)).unwrap();
    (lines, builder.finish(0.95))
}

#[test]
fn every_decision_is_an_exposure_with_its_arm_and_weight() {
    let (lines, _) = campaign(
        r#"34% control
    33% "ten": offer { code: "C10", percent: 10 }
    33% "twenty": offer { code: "C20", percent: 20 }"#,
        50,
    );
    assert_eq!(
        lines.len(),
        50,
        "one decision, so one exposure, per customer"
    );
    let control = lines.iter().find(|l| l["variant"] == "control").unwrap();
    assert_eq!(control["weight"], 34.0);
    assert_eq!(control["experiment"], "coat_discount");
    assert_eq!(
        (control["channel"].as_str(), control["host"].as_str()),
        (Some("web"), Some("edge"))
    );
    assert_eq!(control["time"], "2026-11-20T10:00:00Z");
    let ten = lines.iter().find(|l| l["variant"] == "ten").unwrap();
    assert_eq!(ten["weight"], 33.0);
    assert_eq!(ten["kind"], "exposure");
    assert!(ten["customer"].as_str().unwrap().starts_with('c'));
}

/// FNV-1a bucketing over 20,000 customer ids lands on the declared shares, for an even split
/// and a lopsided one: the sample-ratio check (p < 0.001 flags) passes both.
#[test]
fn the_engines_assignment_matches_the_declared_shares() {
    for shares in [
        r#"34% control
    33% "ten": offer { code: "C10", percent: 10 }
    33% "twenty": offer { code: "C20", percent: 20 }"#,
        r#"90% control
    10% "ten": offer { code: "C10", percent: 10 }"#,
    ] {
        let (_, report) = campaign(shares, 20_000);
        let rule = &report.rules[0];
        let exposed: u64 = rule.arms.iter().map(|a| a.exposed).sum();
        assert_eq!(exposed, 20_000);
        let srm = rule
            .srm
            .as_ref()
            .expect("weights are logged, so the check runs");
        assert!(
            !srm.flagged,
            "{shares}: {srm:?} {:?}",
            rule.arms.iter().map(|a| a.exposed).collect::<Vec<_>>()
        );
    }
}

#[test]
fn weights_with_decimals_are_logged_exactly() {
    let (lines, report) = campaign(
        r#"33.33% control
    33.33% "ten": offer { code: "C10", percent: 10 }
    33.34% "twenty": offer { code: "C20", percent: 20 }"#,
        300,
    );
    let weight = |v: &str| lines.iter().find(|l| l["variant"] == v).unwrap()["weight"].as_f64();
    assert_eq!(weight("control"), Some(33.33));
    assert_eq!(weight("twenty"), Some(33.34));
    assert!(report.rules[0].srm.is_some());
}

#[test]
fn a_decision_read_back_from_json_logs_the_same_weight() {
    // The evaluation tells each split decision its arm's share; a decision a host read back
    // from JSON carries none, and the weight is then found in the bundle: the same line.
    let b = bundle(&SPLIT.replace(
        "SHARES",
        r#"33.33% control
    33.33% "ten": offer { code: "C10", percent: 10 }
    33.34% "twenty": offer { code: "C20", percent: 20 }"#,
    ));
    let place = Place {
        channel: "store",
        host: None,
    };
    let mut variants = std::collections::BTreeSet::new();
    for i in 0..60 {
        let (profile, event) = customer(&b, i);
        let decided = evaluate(&b, &Memory::default(), &profile, &event).decisions;
        let read_back: Vec<omnirule_engine::Decision> =
            serde_json::from_value(serde_json::to_value(&decided).unwrap()).unwrap();
        let (mut direct, mut again) = (String::new(), String::new());
        omnirule_engine::host::write_exposures(&b, &profile, &event, &decided, place, &mut direct);
        omnirule_engine::host::write_exposures(&b, &profile, &event, &read_back, place, &mut again);
        assert_eq!(direct, again);
        let line: serde_json::Value = serde_json::from_str(direct.trim()).unwrap();
        assert!(line["weight"].is_number(), "{line}");
        variants.insert(line["variant"].as_str().unwrap().to_string());
    }
    assert_eq!(variants.len(), 3, "every arm seen: {variants:?}");
}
