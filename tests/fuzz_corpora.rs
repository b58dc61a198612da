//! Replays the committed fuzz seeds, corpora and crash regressions (`fuzz/seeds/TARGET/`,
//! `fuzz/corpus/TARGET/`, `fuzz/regressions/TARGET/`) through the targets' bodies: every input libFuzzer kept, and
//! every crash it found, runs on each CI build without libFuzzer or a nightly compiler.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omnirule_tests::fuzz_targets::TARGETS;
use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn every_committed_fuzz_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut total = 0;
    for (name, target) in TARGETS {
        let mut n = 0;
        for kind in ["seeds", "corpus", "regressions"] {
            for path in inputs(&root.join(kind).join(name)) {
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{name}: {} fails", path.display());
                n += 1;
            }
        }
        assert!(n > 0, "no corpus for the fuzz target `{name}`");
        total += n;
    }
    println!("{total} fuzz inputs replayed");
}

// ----- seeds -------------------------------------------------------------------------------------

/// Writes the seed corpora from the examples and the conformance vectors (run once, then
/// `cargo fuzz cmin` minimises; see `fuzz/README.md`):
/// `cargo test -p omnirule-tests --test fuzz_corpora -- --ignored write_seeds`.
#[test]
#[ignore = "writes fuzz/seeds; run by hand"]
fn write_seeds() {
    use omnirule_dsl::RuleSet;
    use omnirule_engine::bundle::Bundle;
    use omnirule_engine::host::track;
    use omnirule_engine::input::record::{event_keys, profile_keys};
    use omnirule_engine::memory::Memory;
    use serde_json::Value;

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seeds = root.join("fuzz/seeds");
    let put = |target: &str, name: &str, data: &[u8]| {
        let dir = seeds.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    // A value as the browser package writes it into a record (engine/src/input/record.rs).
    fn write_value(v: &Value, out: &mut Vec<u8>) {
        let string = |out: &mut Vec<u8>, s: &str| {
            out.extend((s.len() as u32).to_le_bytes());
            out.extend(s.as_bytes());
        };
        match v {
            Value::Bool(false) => out.push(1),
            Value::Bool(true) => out.push(2),
            Value::Number(n) => {
                out.push(3);
                out.extend(n.as_f64().unwrap().to_le_bytes());
            }
            Value::String(s) => {
                out.push(4);
                string(out, s);
            }
            Value::Array(items) => {
                out.push(5);
                out.extend((items.len() as u32).to_le_bytes());
                for s in items {
                    string(out, s.as_str().unwrap_or(""));
                }
            }
            _ => out.push(0),
        }
    }

    let mut examples: Vec<_> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    examples.sort();
    for dir in &examples {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for file in inputs(dir) {
            if file.extension().is_some_and(|e| e == "rules") {
                let fname = file.file_name().unwrap().to_string_lossy().into_owned();
                put(
                    "dsl",
                    &format!("{name}-{fname}"),
                    &std::fs::read(&file).unwrap(),
                );
            }
        }
        let Ok(compiled) = RuleSet::from_path(dir).unwrap().compile() else {
            continue;
        };
        let bundle = Bundle::new(compiled.graph).unwrap();
        put("bundle", &format!("{name}.bundle"), &bundle.to_bytes());
        put(
            "bundle",
            &format!("{name}.json"),
            bundle.to_json().as_bytes(),
        );
        let (Ok(profile), Ok(events)) = (
            std::fs::read_to_string(dir.join("profile.json")),
            std::fs::read_to_string(dir.join("events.jsonl")),
        ) else {
            continue;
        };
        let profile: Value = serde_json::from_str(&profile).unwrap();
        put(
            "json",
            &format!("{name}-profile.json"),
            profile.to_string().as_bytes(),
        );
        let mut memory = Memory::default();
        for (i, line) in events.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let event: Value = serde_json::from_str(line).unwrap();
            put("json", &format!("{name}-event-{i}.json"), line.as_bytes());
            put(
                "track",
                &format!("{name}-{i}"),
                format!("{profile}\n{event}").as_bytes(),
            );
            // Records as the browser package writes them, for the fixed bundle's schema.
            let fixed = omnirule_tests::fuzz_targets::fixed_bundle();
            if let Some(ty) = event["type"].as_str().and_then(|t| fixed.event_type(t)) {
                let mut rec = vec![1u8];
                rec.extend(ty.to_le_bytes());
                for key in event_keys(fixed, ty as usize).unwrap() {
                    write_value(event.get(key).unwrap_or(&Value::Null), &mut rec);
                }
                put("record", &format!("{name}-event-{i}"), &rec);
            }
            if let Ok(t) = track(&bundle, &memory, &profile, &event, false) {
                memory = t.memory;
            }
        }
        let fixed = omnirule_tests::fuzz_targets::fixed_bundle();
        let mut rec = vec![0u8];
        for key in profile_keys(fixed) {
            write_value(profile.get(key).unwrap_or(&Value::Null), &mut rec);
        }
        put("record", &format!("{name}-profile"), &rec);
        put("memory_bytes", &format!("{name}.mem"), &memory.to_bytes());
        put(
            "memory_json",
            &format!("{name}.json"),
            memory.to_json().as_bytes(),
        );
        let erased = memory.erase(memory.newest().unwrap_or(0));
        put(
            "memory_bytes",
            &format!("{name}-erased.mem"),
            &erased.to_bytes(),
        );
        put(
            "memory_json",
            &format!("{name}-erased.json"),
            erased.to_json().as_bytes(),
        );
    }
    // Every conformance family's rule set.
    for file in inputs(&root.join("tests/vectors/generated")) {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        if let Some(rules) = doc["rules"].as_str() {
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            put("dsl", &format!("vectors-{stem}.rules"), rules.as_bytes());
        }
    }
}
