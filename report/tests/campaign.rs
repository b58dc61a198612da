//! The report on simulated campaigns whose truth is known: it recovers the rates and lifts as
//! often as its intervals promise, sees the O2O share, and flags a skewed split.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_report::report::{Builder, Report};
use omnirule_report::simulate::Campaign;
use std::io::Cursor;

fn report_of(campaign: &Campaign) -> Report {
    let text: String = campaign.lines().map(|l| l + "\n").collect();
    let mut builder = Builder::default();
    omnirule_report::read(&mut builder, "sim", Cursor::new(text)).unwrap();
    builder.finish(0.95)
}

#[test]
fn one_campaign_reads_like_its_truth() {
    let c = Campaign::standard(7);
    let r = report_of(&c);
    assert_eq!(r.rules.len(), 1);
    let rule = &r.rules[0];
    assert_eq!(rule.experiment.as_deref(), Some("coat_discount"));
    let exposed: u64 = rule.arms.iter().map(|a| a.exposed).sum();
    assert_eq!(exposed, c.customers, "every customer exposed once");
    let srm = rule.srm.as_ref().unwrap();
    assert!(!srm.flagged, "an honest split is not flagged: {srm:?}");
    let control = rule.arms.iter().find(|a| a.control).unwrap();
    assert!(control.vs_control.is_none());
    for a in rule.arms.iter().filter(|a| !a.control) {
        let vs = a.vs_control.as_ref().unwrap();
        assert!(vs.p_value.is_some() && vs.chance_to_beat.is_some());
        assert!(a.revenue_per_exposed.unwrap() > 0.0);
    }
    // The O2O share: of the web-exposed conversions, about 40 % happened in a store.
    let (mut web_web, mut web_store) = (0, 0);
    for a in &rule.arms {
        for row in &a.channels {
            match (
                row.exposure_channel.as_str(),
                row.conversion_channel.as_str(),
            ) {
                ("web", "web") => web_web += row.conversions,
                ("web", "store") => web_store += row.conversions,
                _ => {}
            }
        }
    }
    let share = web_store as f64 / (web_web + web_store) as f64;
    assert!((0.32..0.48).contains(&share), "O2O share {share}");
    // The three renderings of it.
    let table = omnirule_report::render::table(&r);
    assert!(table.contains("coat_price_test / split coat_discount") && table.contains("twenty"));
    let html = omnirule_report::render::html(&r);
    assert!(
        html.starts_with("<!doctype html>") && html.contains("<svg") && !html.contains("<script")
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["rules"][0]["arms"].as_array().unwrap().len(), 3);
}

/// Over many campaigns, about 95 % of the 95 % intervals hold the truth: of each arm's rate,
/// and of each offer's lift over control. (With 600 intervals, the share's standard error is
/// 0.9 points: the bounds are more than three of them away from 95 %.)
#[test]
fn the_intervals_cover_the_truth_about_95_percent_of_the_time() {
    let mut held = 0u32;
    let mut total = 0u32;
    for seed in 0..120u64 {
        let c = Campaign::standard(1_000 + seed);
        let r = report_of(&c);
        let rule = &r.rules[0];
        let truth = |variant: &str| {
            c.arms
                .iter()
                .find(|a| a.variant == variant)
                .map(|a| a.rate)
                .unwrap()
        };
        let control = truth("control");
        for a in &rule.arms {
            let variant = a.variant.as_deref().unwrap();
            total += 1;
            if a.interval.unwrap().contains(truth(variant)) {
                held += 1;
            }
            if let Some(vs) = &a.vs_control {
                total += 1;
                let (_, i) = vs.absolute.unwrap();
                if i.contains(truth(variant) - control) {
                    held += 1;
                }
            }
        }
    }
    let coverage = f64::from(held) / f64::from(total);
    eprintln!("coverage: {held} of {total} intervals held the truth ({coverage:.3})");
    assert!(
        (0.92..=0.98).contains(&coverage),
        "coverage {coverage} over {total} intervals"
    );
}

#[test]
fn a_skewed_split_is_flagged() {
    let mut c = Campaign::standard(11);
    // The split says 34/33/33; the assignment actually gives control 40 %.
    c.arms[0].assigned = 40.0;
    c.arms[1].assigned = 30.0;
    c.arms[2].assigned = 30.0;
    let r = report_of(&c);
    let srm = r.rules[0].srm.as_ref().unwrap();
    assert!(srm.flagged && srm.p_value < 0.001, "{srm:?}");
    assert!(omnirule_report::render::table(&r).contains("MISMATCH"));
}

#[test]
fn a_bad_line_is_reported_with_its_source_and_number() {
    let text = "{\"kind\":\"exposure\",\"time\":1,\"customer\":\"a\",\"rule\":\"r\",\"channel\":\"web\"}\n\n{\"kind\":\"exposure\"}\n";
    let mut b = Builder::default();
    let e = omnirule_report::read(&mut b, "day1.jsonl", Cursor::new(text)).unwrap_err();
    assert_eq!((e.source.as_str(), e.line), ("day1.jsonl", 3));
    assert!(e.to_string().starts_with("day1.jsonl:3: "), "{e}");
}

#[test]
fn order_does_not_matter_and_conversions_imply_exposure() {
    // The conversion comes first in the file and its exposure line is missing: the customer
    // still counts as exposed (on the conversion's exposure channel), converted once.
    let lines = [
        r#"{"kind":"conversion","time":"2026-11-22T10:00:00Z","customer":"a","rule":"r","goal":"purchase","exposure_channel":"web","channel":"store","value":10}"#,
        r#"{"kind":"conversion","time":"2026-11-23T10:00:00Z","customer":"a","rule":"r","goal":"purchase","exposure_channel":"web","channel":"web","value":99}"#,
        r#"{"kind":"exposure","time":"2026-11-20T10:00:00Z","customer":"b","rule":"r","channel":"store"}"#,
    ];
    let mut b = Builder::default();
    omnirule_report::read(&mut b, "x", Cursor::new(lines.join("\n"))).unwrap();
    let r = b.finish(0.95);
    let arm = &r.rules[0].arms[0];
    assert_eq!((arm.exposed, arm.conversions), (2, 1));
    // The first conversion (by time) counts: in the store, worth 10.
    assert_eq!(arm.revenue_per_exposed, Some(5.0));
    assert_eq!(arm.channels[0].conversion_channel, "store");
}
