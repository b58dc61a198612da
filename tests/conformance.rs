//! The conformance vectors, natively: every vector's expectations hold for the Rust engine.
//! (scripts/test.sh runs the same vectors in Node, Chromium, workerd and wasmtime.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_tests::vectors;
use std::path::Path;

#[test]
fn every_vector_holds_natively() {
    let files = vectors::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")).unwrap();
    let total: usize = files.iter().map(|f| f.vectors.len()).sum();
    let dir = std::env::temp_dir().join(format!("omnirule-vectors-{}", std::process::id()));
    vectors::prepare(&files, &dir).unwrap();
    let out = vectors::run_native(&dir).unwrap();
    let report = vectors::check("native", &files, &out, None);
    let _ = std::fs::remove_dir_all(&dir);
    let shown: Vec<String> = report
        .failures
        .iter()
        .take(8)
        .map(|(id, why)| format!("{id}\n    {why}"))
        .collect();
    assert!(
        report.failures.is_empty(),
        "{} of {total} vectors fail:\n{}",
        report.failures.len(),
        shown.join("\n")
    );
    assert_eq!(report.passed, total);
    assert!(total >= 300, "only {total} vectors");
}

#[test]
fn the_checker_names_the_first_difference() {
    let a = serde_json::json!({"steps": [{"decisions": [{"params": {"text": "0.3"}}]}]});
    let b = serde_json::json!({"steps": [{"decisions": [{"params": {"text": "0.30000000000000004"}}]}]});
    assert_eq!(
        vectors::first_difference(&a, &b, "").unwrap(),
        r#".steps[0].decisions[0].params.text: "0.3" vs "0.30000000000000004""#
    );
    assert_eq!(vectors::first_difference(&a, &a, ""), None);
}

/// Compiled conditions (the fast path for comparisons of fields with literals) decide exactly
/// what the general evaluator decides: every vector and a few hundred fuzzed rule sets, run
/// both ways, give byte-identical steps and memory.
fn vectors_and_fuzz(seeds: u64) -> Vec<vectors::VectorFile> {
    use omnirule_tests::fuzz;
    let mut files = vectors::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")).unwrap();
    for seed in 0..seeds {
        let doc = fuzz::generate(seed);
        files.push(vectors::VectorFile {
            path: format!("fuzz_{seed}.rules").into(),
            topic: format!("fuzz_{seed}"),
            rules: doc["rules"].as_str().unwrap().to_string(),
            vectors: doc["vectors"].as_array().unwrap().clone(),
        });
    }
    files
}

#[test]
fn compiled_conditions_agree_with_the_general_evaluator() {
    let files = vectors_and_fuzz(300);
    let (mut compiled, mut cases) = (0, 0);
    for f in &files {
        // Vector files of refused rule sets test the checker; generated ones may be refused too.
        let Ok(fast) = vectors::compile(f) else {
            continue;
        };
        compiled += fast.compiled_conditions();
        let general = vectors::compile(f).unwrap().with_compiled_conditions(false);
        assert_eq!(general.compiled_conditions(), 0);
        for (i, case) in f.vectors.iter().enumerate() {
            let a = vectors::run_case(&fast, case);
            let b = vectors::run_case(&general, case);
            assert_eq!(a, b, "{} vector {i}: the two paths differ", f.topic);
            cases += 1;
        }
    }
    assert!(cases > 500, "only {cases} cases ran");
    assert!(
        compiled > 300,
        "only {compiled} conditions compiled: the fast path went untested"
    );
}

/// Every rule set's bundle bytes decode to the graph the compiler produced (condition sources,
/// which the bytes share between a condition and its parts, included), and encode back to the
/// same bytes: the hash is a bundle's identity.
#[test]
fn every_compiled_graph_survives_its_bundle_bytes() {
    use omnirule_engine::bundle::Bundle;
    let mut graphs = 0;
    for f in &vectors_and_fuzz(300) {
        let Ok(bundle) = vectors::compile(f) else {
            continue;
        };
        let bytes = bundle.to_bytes();
        let back = Bundle::from_bytes(&bytes).unwrap();
        assert_eq!(back.graph(), bundle.graph(), "{}", f.topic);
        assert_eq!(back.to_bytes(), bytes, "{}", f.topic);
        graphs += 1;
    }
    assert!(graphs > 300, "only {graphs} rule sets compiled");
}

/// Tracking in place (the memory updated where it is) gives what tracking into a new memory
/// gives, and the direct writer of decisions the canonical text of their JSON tree.
#[test]
fn in_place_tracking_and_the_direct_writer_agree_with_the_reference_forms() {
    use omnirule_engine::host::{track, track_in_place};
    use omnirule_engine::input::{Event, Profile};
    use omnirule_engine::memory::Memory;
    use omnirule_text::canonical::canonical_json;
    let mut events = 0;
    for f in &vectors_and_fuzz(100) {
        let Ok(bundle) = vectors::compile(f) else {
            continue;
        };
        for case in &f.vectors {
            let mut memory = match &case["memory"] {
                serde_json::Value::Null => Memory::default(),
                m => Memory::from_json(&m.to_string()).unwrap_or_default(),
            };
            let mut in_place = memory.clone();
            for event in case["events"].as_array().into_iter().flatten() {
                for explain in [false, true] {
                    let Ok(t) = track(&bundle, &memory, &case["profile"], event, explain) else {
                        continue;
                    };
                    assert_eq!(t.to_json(), canonical_json(&t.output()), "{}", f.topic);
                    if explain {
                        continue;
                    }
                    let profile = Profile::from_json(&bundle, &case["profile"]).unwrap();
                    let e = Event::from_json(&bundle, event).unwrap();
                    let d = track_in_place(&bundle, &mut in_place, &profile, &e, false);
                    assert_eq!(d.to_json(), t.to_json(), "{}", f.topic);
                    assert_eq!(in_place, t.memory, "{}: the memories differ", f.topic);
                    memory = t.memory;
                    events += 1;
                }
            }
        }
    }
    assert!(events > 1000, "only {events} events ran");
}
