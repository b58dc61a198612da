//! The host's outputs equal the native engine's, byte for byte, for every example; and the
//! engine module imports nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use omnirule_engine::host::{Place, track_at};
use omnirule_engine::memory::Memory;
use serde_json::{Value, json};

fn examples() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(workspace().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("events.jsonl").is_file() && p.join("profile.json").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn outputs_equal_the_native_engine_for_every_example() {
    let list = examples();
    assert!(list.len() >= 5, "examples not found: {list:?}");
    let mut compared = 0;
    for example in &list {
        let bundle = example_bundle(example);
        let profile = example_profile(example);
        let customer = profile["id"].as_str().unwrap().to_string();
        for explain in [false, true] {
            // A fresh host each pass: a deletion leaves a tombstone dated now, after the
            // examples' events.
            let host = Host::start(
                &temp_dir("native"),
                Some(&bundle.to_bytes()),
                HostOptions::default(),
            );
            let mut memory = Memory::default();
            for event in example_events(example) {
                // A store host stands alone here: its events happen in the channel `store`,
                // with no site name.
                let store = Place {
                    channel: "store",
                    host: None,
                };
                let expected = track_at(&bundle, &memory, &profile, &event, Some(store), explain);
                let r = host.post_json(
                    "/v1/events",
                    &json!({"customer": customer, "profile": profile, "event": event, "explain": explain}),
                );
                match expected {
                    Ok(t) => {
                        assert_eq!(r.status, 200, "{example}: {}", r.text());
                        assert_eq!(r.text(), t.to_json(), "{example}: event {event}");
                        memory = t.memory;
                    }
                    Err(e) => {
                        assert_eq!(r.status, 422, "{example}: {event} should be refused ({e})");
                        assert_eq!(r.json()["error"]["message"], e.to_string());
                    }
                }
                compared += 1;
            }
            let stored = host.get(&format!("/v1/customers/{customer}")).json();
            let native: Value = serde_json::from_str(&memory.to_json()).unwrap();
            assert_eq!(stored["memory"], native, "{example}: memory");
            let r = host.admin("DELETE", &format!("/v1/customers/{customer}"), b"");
            assert_eq!(r.status, 200);
        }
    }
    assert!(compared > 20, "{compared}");
}

#[test]
fn the_engine_module_imports_nothing_and_exports_the_abi() {
    let wasm = std::fs::read(module()).unwrap();
    let engine = wasmtime::Engine::default();
    let m = wasmtime::Module::new(&engine, &wasm).unwrap();
    let imports: Vec<String> = m
        .imports()
        .map(|i| format!("{}.{}", i.module(), i.name()))
        .collect();
    assert!(imports.is_empty(), "the module imports {imports:?}");
    let exports: Vec<&str> = m.exports().map(|e| e.name()).collect();
    for name in [
        "memory",
        "omnirule_abi_version",
        "omnirule_alloc",
        "omnirule_free",
        "omnirule_load_bundle",
        "omnirule_track",
        "omnirule_merge",
        "omnirule_memory_json",
        "omnirule_erase",
        "omnirule_trust_keys",
        "omnirule_set_place",
        "omnirule_result_ptr",
        "omnirule_result_len",
        "omnirule_memory_ptr",
        "omnirule_memory_len",
    ] {
        assert!(
            exports.contains(&name),
            "missing export {name}: {exports:?}"
        );
    }
}
