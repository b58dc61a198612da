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
