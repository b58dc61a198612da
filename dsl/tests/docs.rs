//! Every ```rules block of `docs/language.md` compiles, and its test blocks pass; every rendered
//! diagnostic `docs/errors.md` shows is real.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_dsl::{RuleSet, testing};
use omnirule_engine::bundle::Bundle;

fn blocks(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```rules") => current = Some(String::new()),
            (Some(_), "```") => out.extend(current.take()),
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn the_language_reference_examples_compile_and_their_tests_pass() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let blocks = blocks(&doc);
    assert!(blocks.len() >= 6, "found {} blocks", blocks.len());
    let files: Vec<(String, String)> = blocks
        .into_iter()
        .enumerate()
        .map(|(i, b)| (format!("language.md#block{i}"), b))
        .collect();
    let set = RuleSet::from_texts(files);
    let compiled = set.compile().unwrap_or_else(|d| {
        panic!(
            "{}",
            omnirule_dsl::render::render_all(&d, &set.sources, Default::default())
        )
    });
    let bundle = Bundle::new(compiled.graph).unwrap();
    let results = testing::run_tests(&compiled.model.tests, &bundle);
    assert_eq!(results.len(), 2);
    for r in results {
        assert!(r.passed(), "{}: {:#?}", r.name, r.failures);
    }
}

/// The rendered diagnostics `docs/errors.md` shows are the renderer's real output: each is in
/// a golden `.stderr` file (which `tests/check.rs` pins).
#[test]
fn the_error_reference_shows_real_diagnostics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let golden_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/check");
    let goldens: Vec<String> = std::fs::read_dir(golden_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "stderr"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut shown = 0;
    let mut block: Option<String> = None;
    for line in doc.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```text") => block = Some(String::new()),
            (Some(b), "```") => {
                if b.starts_with("error[") || b.starts_with("warning[") {
                    assert!(
                        goldens.iter().any(|g| g.contains(b.as_str())),
                        "docs/errors.md shows a diagnostic no golden file has:\n{b}"
                    );
                    shown += 1;
                }
                block = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(shown >= 1, "docs/errors.md shows no diagnostic");
}
