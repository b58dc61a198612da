//! The seed scenarios in `examples/`: each compiles, is formatted, has a story, events to
//! play, and tests that pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_dsl::{RuleSet, format, parser, testing};
use omnirule_engine::bundle::Bundle;
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn there_are_the_nine_seed_scenarios_the_o2o_loop_and_the_campaign() {
    assert_eq!(examples().len(), 11);
}

#[test]
fn every_example_passes_its_tests() {
    for dir in examples() {
        let set = RuleSet::from_path(&dir).unwrap();
        let compiled = set.compile().unwrap_or_else(|d| {
            panic!(
                "{}:\n{}",
                dir.display(),
                omnirule_dsl::render::render_all(&d, &set.sources, Default::default())
            )
        });
        assert!(
            compiled.model.tests.len() >= 3,
            "{}: too few tests",
            dir.display()
        );
        let bundle = Bundle::new(compiled.graph).unwrap();
        for r in testing::run_tests(&compiled.model.tests, &bundle) {
            assert!(
                r.passed(),
                "{} :: {}: {:#?}",
                dir.display(),
                r.name,
                r.failures
            );
        }
    }
}

#[test]
fn every_example_has_a_story_and_events_that_play() {
    for dir in examples() {
        for f in ["README.md", "profile.json", "events.jsonl"] {
            assert!(dir.join(f).is_file(), "{} lacks {f}", dir.display());
        }
        let set = RuleSet::from_path(&dir).unwrap();
        let bundle = Bundle::new(set.compile().unwrap().graph).unwrap();
        let profile: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("profile.json")).unwrap())
                .unwrap();
        let profile = Profile::from_json(&bundle, &profile).unwrap();
        let mut memory = Memory::default();
        let mut decided = 0;
        for line in std::fs::read_to_string(dir.join("events.jsonl"))
            .unwrap()
            .lines()
        {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            let e = Event::from_json(&bundle, &e).unwrap();
            let out = omnirule_engine::evaluate(&bundle, &memory, &profile, &e);
            decided += out.decisions.len();
            memory = out.memory;
        }
        assert!(decided > 0, "{}: the events decide nothing", dir.display());
    }
}

#[test]
fn every_example_is_formatted() {
    for dir in examples() {
        for f in std::fs::read_dir(&dir).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|x| x == "rules") {
                let text = std::fs::read_to_string(&p).unwrap();
                let ast = parser::parse(0, &text).unwrap();
                assert_eq!(
                    format::format(&ast),
                    text,
                    "{} is not formatted",
                    p.display()
                );
            }
        }
    }
}
