//! The coverage-guided fuzz targets' bodies: one function per input the engine reads from
//! outside. `fuzz/` wraps each in a libFuzzer target (`cargo fuzz run NAME`); the test
//! `fuzz_corpora` replays the committed corpora and crash regressions through the same
//! functions on every CI run, without libFuzzer.
//!
//! Each function panics only when an invariant breaks (a crash for libFuzzer): the input
//! itself may be anything. The invariants are those the engine promises its hosts:
//! - nothing panics, whatever the bytes;
//! - what the compiler accepts loads as a bundle and evaluates;
//! - what decodes re-encodes to something that decodes to the same thing;
//! - the JSON reader accepts what serde_json accepts, with the same values;
//! - a record decodes to nothing or to what evaluation accepts.

use omnirule_dsl::RuleSet;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::graph::{Graph, Type};
use omnirule_engine::host::{track, track_parsed};
use omnirule_engine::input::{Document, Event, Profile};
use omnirule_engine::memory::Memory;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets, by the names `fuzz/` and the corpora use.
pub const TARGETS: &[(&str, Target)] = &[
    ("dsl", dsl),
    ("bundle", bundle),
    ("memory_bytes", memory_bytes),
    ("memory_json", memory_json),
    ("json", json_text),
    ("record", record),
    ("track", track_json),
];

/// The bundle the input-side targets evaluate against: the O2O example, which has every
/// kind of field and rule.
pub fn fixed_bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/10-o2o-loop");
        let compiled = RuleSet::from_path(&dir)
            .expect("the example reads")
            .compile()
            .expect("the example compiles");
        Bundle::new(compiled.graph).expect("the example's graph is valid")
    })
}

/// A value of type `t` (to build an event every schema accepts).
fn sample(t: &Type, i: usize) -> Value {
    match t {
        Type::String => json!(format!("v{i}")),
        Type::Number => json!(i),
        Type::Bool => json!(i.is_multiple_of(2)),
        Type::Duration => json!("1h"),
        Type::Time => json!("2026-11-20T10:00:00Z"),
        Type::List(inner) | Type::Set(inner) => json!([sample(inner, i)]),
    }
}

/// Evaluates one event of every type of the bundle's schema for a profile with every field
/// and consent set, twice (the second a duplicate), and checks that the results are stable.
fn exercise(bundle: &Bundle) {
    let g: &Graph = bundle.graph();
    let mut profile = Map::new();
    profile.insert("id".into(), json!("fuzz"));
    let consents: Vec<Value> = g.schema.consents.iter().map(|c| json!(c)).collect();
    profile.insert("consents".into(), Value::Array(consents));
    for (i, f) in g.schema.profile.iter().enumerate() {
        profile.insert(f.name.clone(), sample(&f.ty, i));
    }
    let profile = Value::Object(profile);
    let mut memory = Memory::default();
    for (n, ty) in g.schema.events.iter().enumerate() {
        let mut event = Map::new();
        event.insert("type".into(), json!(ty.name));
        event.insert("id".into(), json!(format!("e{n}")));
        event.insert(
            "time".into(),
            json!(1_795_168_800_000_i64 + n as i64 * 60_000),
        );
        for (i, f) in ty.fields.iter().enumerate() {
            event.insert(f.name.clone(), sample(&f.ty, i));
        }
        let event = Value::Object(event);
        let Ok(first) = track(bundle, &memory, &profile, &event, true) else {
            // A field type the sample cannot satisfy (a duration written as text, say) is
            // an input error, not a crash.
            continue;
        };
        let again = track(bundle, &first.memory, &profile, &event, false).expect("accepted once");
        assert!(
            again.decisions.is_empty(),
            "a duplicate event decided something: {}",
            again.to_json()
        );
        assert_eq!(
            again.memory.to_bytes(),
            first.memory.to_bytes(),
            "a duplicate changed the memory"
        );
        memory = first.memory;
    }
    let bytes = memory.to_bytes();
    assert_eq!(
        Memory::from_bytes(&bytes).map(|m| m.to_bytes()).ok(),
        Some(bytes)
    );
}

/// Rule text: parse → check → compile; what compiles must load as a bundle, survive its own
/// encoding, and evaluate.
pub fn dsl(data: &[u8]) {
    let mut set = RuleSet::default();
    set.add_bytes("fuzz.rules".into(), data);
    let Ok(compiled) = set.compile() else {
        return;
    };
    let bundle = match Bundle::new(compiled.graph) {
        Ok(b) => b,
        Err(e) => panic!("the compiler made a graph the engine refuses: {e}"),
    };
    let bytes = bundle.to_bytes();
    let back = Bundle::from_bytes(&bytes).expect("a bundle reads back");
    assert_eq!(back.hash_hex(), bundle.hash_hex());
    exercise(&bundle);
}

/// Bundle bytes (or JSON): decode and validate; what loads must re-encode and evaluate.
pub fn bundle(data: &[u8]) {
    let loaded = if data.starts_with(b"{") {
        match std::str::from_utf8(data) {
            Ok(text) => Bundle::from_json(text),
            Err(_) => return,
        }
    } else {
        Bundle::from_bytes(data)
    };
    let Ok(bundle) = loaded else {
        return;
    };
    let again = Bundle::from_bytes(&bundle.to_bytes()).expect("a loaded bundle re-encodes");
    assert_eq!(again.hash_hex(), bundle.hash_hex());
    exercise(&bundle);
}

/// Checks a decoded memory: both encodings round-trip, and merging it is idempotent.
fn memory_invariants(m: &Memory) {
    let bytes = m.to_bytes();
    assert_eq!(
        Memory::from_bytes(&bytes).as_ref(),
        Ok(m),
        "bytes round trip"
    );
    assert_eq!(
        Memory::from_json(&m.to_json()).as_ref(),
        Ok(m),
        "JSON round trip"
    );
    let b = fixed_bundle();
    let once = m.merge(&Memory::default(), b);
    assert_eq!(
        once.merge(&once, b).to_bytes(),
        once.to_bytes(),
        "merge is idempotent"
    );
    assert_eq!(
        m.merge(&once, b).to_bytes(),
        once.to_bytes(),
        "merge absorbs its own pruning"
    );
}

/// Memory bytes (`OMNIMEM…`).
pub fn memory_bytes(data: &[u8]) {
    if let Ok(m) = Memory::from_bytes(data) {
        memory_invariants(&m);
    }
}

/// The memory's JSON form.
pub fn memory_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Memory::from_json(text) {
        memory_invariants(&m);
    }
}

/// JSON text: the engine's reader agrees with serde_json on every input.
pub fn json_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = omnirule_text::json::parse(text);
    let theirs = serde_json::from_str::<Value>(text);
    match (ours, theirs) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "a value differs from serde_json's"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "serde_json and the engine disagree: ours {:?}, serde_json {:?}",
            a.map(|_| ()),
            b.map(|_| ())
        ),
    }
    // The one-level reader (profiles and events) accepts exactly the texts the full reader
    // accepts, and reads an object where it reads one. (The first version of this check
    // wanted objects only; the fuzzer's first input, `1`, showed the reader takes any JSON
    // and leaves "not an object" to the profile and event readers.)
    match (Document::parse(text), omnirule_text::json::parse(text)) {
        (Ok(_), Ok(_)) | (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "the one-level reader and the full reader disagree: {:?} vs {:?}",
            a.map(|_| ()),
            b.map(|_| ())
        ),
    }
}

/// A profile or event record (the browser package's binary layout): the first byte picks
/// which. What decodes must evaluate.
pub fn record(data: &[u8]) {
    let b = fixed_bundle();
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let profile_json = json!({"id": "fuzz", "consents": ["marketing", "location"]});
    let fixed_profile = Profile::from_json(b, &profile_json).expect("the fixed profile");
    let fixed_event = Event::from_json(
        b,
        &json!({"type": "page_view", "id": "e1", "time": 1_795_168_800_000_i64,
                "sku": "SW-1", "category": "knitwear", "price": 79}),
    );
    if kind.is_multiple_of(2) {
        if let (Some(p), Ok(e)) = (Profile::from_record(b, rest), fixed_event) {
            let _ = track_parsed(b, &Memory::default(), &p, &e, true);
        }
    } else if let Some(e) = Event::from_record(b, rest) {
        let first = track_parsed(b, &Memory::default(), &fixed_profile, &e, true);
        let again = track_parsed(b, &first.memory, &fixed_profile, &e, false);
        assert!(again.decisions.is_empty(), "a duplicate decided something");
    }
}

/// `host::track` with arbitrary profile and event JSON (split at the first newline) on the
/// fixed bundle, through the one-level reader the hosts use.
pub fn track_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (profile, event) = text.split_once('\n').unwrap_or((text, "{}"));
    let (Ok(p), Ok(e)) = (Document::parse(profile), Document::parse(event)) else {
        return;
    };
    let b = fixed_bundle();
    let (Ok(p), Ok(e)) = (Profile::from_document(b, &p), Event::from_document(b, &e)) else {
        return;
    };
    let first = track_parsed(b, &Memory::default(), &p, &e, true);
    let out = first.to_json();
    assert!(
        serde_json::from_str::<Value>(&out).is_ok(),
        "the output is not JSON: {out}"
    );
    let again = track_parsed(b, &first.memory, &p, &e, false);
    assert!(again.decisions.is_empty(), "a duplicate decided something");
    memory_invariants(&first.memory);
}
