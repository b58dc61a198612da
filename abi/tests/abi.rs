//! The ABI driven natively: the same functions the wasm module exports, called as Rust.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_abi::*;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::host::track;
use omnirule_engine::memory::Memory;
use serde_json::{Value, json};

const RULES: &str = include_str!("../../examples/02-knitwear-in-store/knitwear.rules");

fn bundle() -> Bundle {
    let set = omnirule_dsl::RuleSet::from_texts([("knitwear.rules", RULES)]);
    Bundle::new(
        set.compile()
            .unwrap_or_else(|_| panic!("the example compiles"))
            .graph,
    )
    .unwrap()
}

fn result() -> Value {
    serde_json::from_slice(&last_outputs().0).unwrap()
}

fn load(bytes: &[u8]) -> i32 {
    let (p, l) = write_input(bytes);
    let s = omnirule_load_bundle(p, l);
    omnirule_free(p, l);
    s
}

fn track_abi(
    profile: &Value,
    event: &Value,
    memory: &[u8],
    explain: bool,
) -> (i32, Vec<u8>, Vec<u8>) {
    let (pp, pl) = write_input(profile.to_string().as_bytes());
    let (ep, el) = write_input(event.to_string().as_bytes());
    let (mp, ml) = write_input(memory);
    let s = omnirule_track(pp, pl, ep, el, mp, ml, i32::from(explain));
    for (p, l) in [(pp, pl), (ep, el), (mp, ml)] {
        omnirule_free(p, l);
    }
    let (r, m) = last_outputs();
    (s, r, m)
}

fn profile() -> Value {
    json!({"id": "c1", "tier": "gold", "lifetime_value": 50, "labels": [],
           "consents": ["marketing", "location"], "first_name": "Ana"})
}

fn events() -> Vec<Value> {
    include_str!("../../examples/02-knitwear-in-store/events.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn track_without_a_bundle_is_refused() {
    // Each test runs on its own thread, hence its own instance state.
    let (s, r, m) = track_abi(&profile(), &events()[0], &[], false);
    assert_eq!(s, Status::NoBundle as i32);
    assert!(String::from_utf8(r).unwrap().contains("no_bundle"));
    assert!(m.is_empty());
}

#[test]
fn outputs_equal_the_native_engine() {
    let b = bundle();
    assert_eq!(load(&b.to_bytes()), Status::Ok as i32);
    assert_eq!(result()["hash"], b.hash_hex());
    let mut native = Memory::default();
    let mut abi_memory = Vec::new();
    for explain in [false, true] {
        for e in events() {
            let expected = track(&b, &native, &profile(), &e, explain).unwrap();
            let (s, r, m) = track_abi(&profile(), &e, &abi_memory, explain);
            assert_eq!(s, 0, "{}", String::from_utf8_lossy(&r));
            assert_eq!(String::from_utf8(r).unwrap(), expected.to_json());
            assert_eq!(m, expected.memory.to_bytes());
            native = expected.memory;
            abi_memory = m;
        }
    }
    // The memory renders as the engine's JSON form.
    let (p, l) = write_input(&abi_memory);
    assert_eq!(omnirule_memory_json(p, l), 0);
    omnirule_free(p, l);
    assert_eq!(
        String::from_utf8(last_outputs().0).unwrap(),
        native.to_json()
    );
}

#[test]
fn bundle_json_form_loads_too() {
    let b = bundle();
    assert_eq!(load(b.to_json().as_bytes()), 0);
    assert_eq!(result()["hash"], b.hash_hex());
}

#[test]
fn bad_bundles_are_refused_and_the_previous_one_kept() {
    let b = bundle();
    assert_eq!(load(&b.to_bytes()), 0);
    let mut corrupt = b.to_bytes();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    for bad in [
        b"not a bundle".to_vec(),
        corrupt,
        b"{\"format\":1}".to_vec(),
    ] {
        assert_eq!(load(&bad), Status::BadBundle as i32);
        assert_eq!(result()["error"]["code"], "bad_bundle");
    }
    let (s, _, _) = track_abi(&profile(), &events()[0], &[], false);
    assert_eq!(s, 0, "the good bundle is still loaded");
}

#[test]
fn bad_input_is_an_error_json_with_a_code() {
    assert_eq!(load(&bundle().to_bytes()), 0);
    let cases = [
        (
            json!({"type": "teleport", "id": "x", "time": 0}),
            "unknown_event_type",
        ),
        (
            json!({"type": "beacon_enter", "id": "x", "time": 0, "store": 5, "zone": "a"}),
            "wrong_type",
        ),
        (
            json!({"type": "beacon_enter", "time": 0, "store": "p", "zone": "a"}),
            "missing_field",
        ),
        (
            json!({"type": "beacon_enter", "id": "x", "time": "yesterday", "store": "p", "zone": "a"}),
            "bad_time",
        ),
        (json!([1, 2]), "not_an_object"),
    ];
    for (event, code) in cases {
        let (s, r, m) = track_abi(&profile(), &event, &[], false);
        assert_eq!(s, Status::BadInput as i32);
        let v: Value = serde_json::from_slice(&r).unwrap();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
        assert!(m.is_empty());
    }
    // Not JSON at all.
    let (pp, pl) = write_input(b"{\"id\":");
    let (ep, el) = write_input(b"{}");
    assert_eq!(
        omnirule_track(pp, pl, ep, el, 0, 0, 0),
        Status::BadInput as i32
    );
    assert_eq!(result()["error"]["code"], "malformed_json");
    // A memory that is not one.
    let (mp, ml) = write_input(b"garbage");
    let (pp, pl) = write_input(profile().to_string().as_bytes());
    let (ep, el) = write_input(events()[0].to_string().as_bytes());
    assert_eq!(
        omnirule_track(pp, pl, ep, el, mp, ml, 0),
        Status::BadMemory as i32
    );
}

#[test]
fn pointers_not_from_alloc_are_refused_not_trusted() {
    assert_eq!(load(&bundle().to_bytes()), 0);
    let (pp, pl) = write_input(profile().to_string().as_bytes());
    let (ep, el) = write_input(events()[0].to_string().as_bytes());
    // Unknown address, a length beyond the buffer, a freed buffer.
    assert_eq!(
        omnirule_track(pp + 1, pl - 1, ep, el, 0, 0, 0),
        Status::BadPointer as i32
    );
    assert_eq!(
        omnirule_track(pp, pl + 1, ep, el, 0, 0, 0),
        Status::BadPointer as i32
    );
    omnirule_free(ep, el);
    assert_eq!(
        omnirule_track(pp, pl, ep, el, 0, 0, 0),
        Status::BadPointer as i32
    );
    assert_eq!(result()["error"]["code"], "bad_pointer");
    // Freeing twice or freeing nonsense is harmless.
    omnirule_free(ep, el);
    omnirule_free(12345, 1);
    assert_eq!(omnirule_alloc(0), 0);
}

#[test]
fn merge_is_the_engine_merge() {
    let b = bundle();
    assert_eq!(load(&b.to_bytes()), 0);
    let evs = events();
    let web = track(&b, &Memory::default(), &profile(), &evs[0], false)
        .unwrap()
        .memory;
    let store = track(&b, &Memory::default(), &profile(), &evs[2], false)
        .unwrap()
        .memory;
    let expected = web.merge(&store, &b);
    // Bytes with JSON, in both orders.
    for (x, y) in [
        (web.to_json().into_bytes(), store.to_bytes()),
        (store.to_bytes(), web.to_json().into_bytes()),
    ] {
        let (ap, al) = write_input(&x);
        let (bp, bl) = write_input(&y);
        assert_eq!(omnirule_merge(ap, al, bp, bl), 0);
        assert_eq!(last_outputs().1, expected.to_bytes());
        assert_eq!(result()["events"], expected.event_count());
    }
    let (ap, al) = write_input(b"OMNIMEM\x07\x00");
    assert_eq!(omnirule_merge(ap, al, 0, 0), Status::BadMemory as i32);
    assert_eq!(result()["error"]["code"], "bad_memory");
}

#[test]
fn erase_is_the_engine_erase_and_needs_no_bundle() {
    let b = bundle();
    let evs = events();
    let web = track(&b, &Memory::default(), &profile(), &evs[0], false)
        .unwrap()
        .memory;
    let newest = web.newest().unwrap();
    // A fresh instance state: nothing loaded is needed. A clock behind the memory's newest
    // time erases at the newest time.
    for (at, erased) in [(newest - 1000, newest), (newest + 5, newest + 5)] {
        let (p, l) = write_input(&web.to_bytes());
        assert_eq!(omnirule_erase(p, l, at), 0);
        assert_eq!(last_outputs().1, web.erase(at).to_bytes());
        assert_eq!(result(), json!({"erased": erased, "had_data": true}));
    }
    let (p, l) = write_input(b"");
    assert_eq!(
        omnirule_erase(p, l, i64::MIN),
        0,
        "out-of-range clocks are clamped"
    );
    assert_eq!(result()["had_data"], false);
    let (p, l) = write_input(b"OMNIMEM\x07\x00");
    assert_eq!(omnirule_erase(p, l, 0), Status::BadMemory as i32);
}

#[test]
fn the_abi_version_is_reported() {
    assert_eq!(omnirule_abi_version(), ABI_VERSION);
}

#[test]
fn with_trusted_keys_only_their_signed_bundles_load() {
    use omnirule_engine::bundle::signature::SecretKey;
    let key = SecretKey::from_seed([9; 32]);
    let plain = bundle();
    let signed = plain.clone().signed(&key);
    let (kp, kl) = write_input(key.public_text().as_bytes());
    assert_eq!(omnirule_trust_keys(kp, kl), 0);
    assert_eq!(result()["keys"], json!([key.key_id().to_string()]));
    // Unsigned: refused, and nothing is loaded.
    assert_eq!(load(&plain.to_bytes()), Status::BadBundle as i32);
    assert_eq!(result()["error"]["code"], "untrusted_bundle");
    assert!(
        result()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not signed")
    );
    assert_eq!(load(&signed.to_bytes()), 0);
    assert_eq!(result()["signed_by"], key.key_id().to_string());
    assert_eq!(load(&signed.to_json().into_bytes()), 0);
    // A bad key is refused and the keys set before stay.
    let (bp, bl) = write_input(b"ed25519:nope");
    assert_eq!(omnirule_trust_keys(bp, bl), Status::BadBundle as i32);
    assert_eq!(result()["error"]["code"], "bad_key");
    assert_eq!(load(&plain.to_bytes()), Status::BadBundle as i32);
    // Empty: any bundle again.
    assert_eq!(omnirule_trust_keys(0, 0), 0);
    assert_eq!(load(&plain.to_bytes()), 0);
    assert_eq!(result()["signed_by"], Value::Null);
}

#[test]
fn the_load_result_names_each_splits_arms_and_shares() {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/06-win-back/win_back.rules"),
    )
    .unwrap();
    let set = omnirule_dsl::RuleSet::from_texts([("win_back.rules", source.as_str())]);
    let graph = set.compile().map_err(|_| "does not compile").unwrap().graph;
    let bundle = Bundle::new(graph).unwrap();
    assert_eq!(load(&bundle.to_bytes()), 0);
    assert_eq!(
        result()["splits"]["win_back_lost"],
        json!({"control": 34.0, "ten": 33.0, "twenty": 33.0})
    );
}
