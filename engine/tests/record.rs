//! Records: a profile or event written as a record decodes to what the JSON path builds from
//! the JSON text of the same values, or to nothing (and then the host sends that text).
//!
//! The writer here follows the browser package's (`web/js/edge.js`): JavaScript values per
//! member, `undefined`/`null`/non-finite numbers absent, strings, finite numbers, booleans and
//! arrays of strings in the record, anything else sent as JSON text instead. The JSON text is
//! what `JSON.stringify` makes of the same values (numbers printed as JavaScript prints them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::input::record::{event_keys, profile_keys};
use omnirule_engine::input::{Event, Profile};
use omnirule_text::number::format_number;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A JavaScript value, as far as crossing is concerned.
#[derive(Debug, Clone)]
enum Js {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Strings(Vec<String>),
    /// An object or a mixed array: sent as JSON text, never in a record.
    Other(&'static str),
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

impl Js {
    /// `JSON.stringify` of the value; `None` where a member is left out (`undefined`).
    fn json(&self) -> Option<String> {
        Some(match self {
            Js::Undefined => return None,
            Js::Null => "null".into(),
            Js::Bool(b) => b.to_string(),
            Js::Number(n) if n.is_finite() => format_number(*n),
            Js::Number(_) => "null".into(),
            Js::String(s) => json_string(s),
            Js::Strings(items) => {
                let items: Vec<String> = items.iter().map(|s| json_string(s)).collect();
                format!("[{}]", items.join(","))
            }
            Js::Other(text) => (*text).into(),
        })
    }

    /// The value in a record, as the browser package writes it; `None`: not representable.
    fn write(&self, out: &mut Vec<u8>) -> Option<()> {
        let string = |out: &mut Vec<u8>, s: &str| {
            out.extend((s.len() as u32).to_le_bytes());
            out.extend(s.as_bytes());
        };
        match self {
            Js::Undefined | Js::Null => out.push(0),
            Js::Number(n) if !n.is_finite() => out.push(0),
            Js::Bool(false) => out.push(1),
            Js::Bool(true) => out.push(2),
            Js::Number(n) => {
                out.push(3);
                out.extend(n.to_le_bytes());
            }
            Js::String(s) => {
                out.push(4);
                string(out, s);
            }
            Js::Strings(items) => {
                out.push(5);
                out.extend((items.len() as u32).to_le_bytes());
                for s in items {
                    string(out, s);
                }
            }
            Js::Other(_) => return None,
        }
        Some(())
    }
}

/// An object: members by name, the last of a name counting (as in JavaScript).
type Object = Vec<(&'static str, Js)>;

fn get<'a>(object: &'a Object, key: &str) -> &'a Js {
    object
        .iter()
        .rev()
        .find(|(k, _)| *k == key)
        .map_or(&Js::Undefined, |(_, v)| v)
}

fn json_text(object: &Object) -> String {
    let mut seen = std::collections::BTreeMap::new();
    for (k, v) in object {
        seen.insert(*k, v);
    }
    let members: Vec<String> = seen
        .iter()
        .filter_map(|(k, v)| v.json().map(|j| format!("{}:{j}", json_string(k))))
        .collect();
    format!("{{{}}}", members.join(","))
}

fn profile_record(bundle: &Bundle, object: &Object) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for key in profile_keys(bundle) {
        get(object, key).write(&mut out)?;
    }
    Some(out)
}

fn event_record(bundle: &Bundle, object: &Object) -> Option<Vec<u8>> {
    let Js::String(name) = get(object, "type") else {
        return None;
    };
    let event_type = bundle.event_type(name)?;
    let mut out = event_type.to_le_bytes().to_vec();
    for key in event_keys(bundle, event_type as usize)? {
        get(object, key).write(&mut out)?;
    }
    Some(out)
}

const KEYS: &[&str] = &[
    "id",
    "type",
    "time",
    "consents",
    "sku",
    "category",
    "price",
    "tag",
    "tags",
    "dwell",
    "seen_at",
    "amount",
    "channel",
    "store",
    "zone",
    "first_name",
    "tier",
    "score",
    "labels",
    "birthday",
    "extra",
];

fn js_value() -> impl Strategy<Value = Js> + Clone {
    let strings = prop_oneof![
        Just("page_view".to_string()),
        Just("purchase".to_string()),
        Just("beacon_enter".to_string()),
        Just("nope".to_string()),
        Just("SW-1".to_string()),
        Just("2026-11-20T10:00:00Z".to_string()),
        Just("2026-11-20T10:00:00.5+01:00".to_string()),
        Just("2026-13-01T00:00:00Z".to_string()),
        Just(String::new()),
        "[a-z\u{e9}\u{1F600} \"\\\\]{0,6}",
    ];
    let numbers = prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(1.5),
        Just(-7.0),
        Just(1_795_168_800_000.0),
        Just(8_640_000_000_000_000.0),
        Just(8_640_000_000_000_001.0),
        Just(9_007_199_254_740_992.0),
        Just(9_007_199_254_740_994.0),
        Just(1.152_921_504_606_847e18),
        Just(1e21),
        Just(f64::NAN),
        Just(f64::INFINITY),
        any::<f64>(),
        (-1e6..1e6f64),
        (-100i64..100).prop_map(|n| n as f64),
    ];
    prop_oneof![
        Just(Js::Undefined),
        Just(Js::Null),
        any::<bool>().prop_map(Js::Bool),
        numbers.prop_map(Js::Number),
        strings.clone().prop_map(Js::String),
        prop::collection::vec(strings, 0..4).prop_map(Js::Strings),
        Just(Js::Other("[\"a\",1]")),
        Just(Js::Other("[[\"a\"]]")),
        Just(Js::Other("{\"a\":1}")),
    ]
}

fn time_value() -> impl Strategy<Value = Js> + Clone {
    prop_oneof![
        Just(Js::Number(1_795_168_800_000.0)),
        Just(Js::Number(-0.0)),
        Just(Js::Number(8_640_000_000_000_000.0)),
        Just(Js::Number(8_640_000_000_000_001.0)),
        Just(Js::Number(1.5)),
        Just(Js::String("2026-11-20T10:00:00Z".into())),
        Just(Js::String("2026-11-20T10:00:00.25-03:30".into())),
        Just(Js::String("20 Nov 2026".into())),
    ]
}

/// A value of the type a member of that name has somewhere in the shop schema (so that most
/// objects type-check), with the edge cases of each type.
fn well_typed(key: &'static str) -> BoxedStrategy<Js> {
    let text = || "[a-zA-Z0-9\u{e9}\u{1F600} \"-]{0,5}".prop_map(Js::String);
    let texts = || prop::collection::vec("[a-c]{0,2}", 0..4).prop_map(Js::Strings);
    let number = || {
        prop_oneof![
            Just(-0.0),
            Just(0.1 + 0.2),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE / 8.0),
            Just(1e21),
            Just(9_007_199_254_740_994.0),
            (-1e9..1e9f64),
            any::<f64>(),
        ]
        .prop_map(Js::Number)
    };
    match key {
        "type" => prop_oneof![
            Just(Js::String("page_view".into())),
            Just(Js::String("purchase".into())),
            Just(Js::String("beacon_enter".into())),
        ]
        .boxed(),
        "time" | "seen_at" | "birthday" => time_value().boxed(),
        "consents" | "tags" | "labels" => texts().boxed(),
        "price" | "amount" | "score" => number().boxed(),
        "dwell" => prop_oneof![
            (-100_000i64..100_000).prop_map(|n| Js::Number(n as f64)),
            Just(Js::Number(-0.0)),
            Just(Js::Number(2.5)),
            Just(Js::Number(9_007_199_254_740_992.0)),
            Just(Js::Number(1.152_921_504_606_847e18)),
        ]
        .boxed(),
        _ => text().boxed(),
    }
}

fn objects() -> impl Strategy<Value = Object> {
    let member = || (0..KEYS.len(), js_value()).prop_map(|(k, v)| (KEYS[k], v));
    // Mostly well-typed objects: each member present and well-typed, absent, or anything.
    let mostly_valid: Vec<BoxedStrategy<(&'static str, Js)>> = KEYS
        .iter()
        .map(|&key| {
            prop_oneof![
                8 => well_typed(key),
                1 => Just(Js::Undefined),
                1 => js_value(),
            ]
            .prop_map(move |v| (key, v))
            .boxed()
        })
        .collect();
    prop_oneof![
        2 => prop::collection::vec(member(), 0..14),
        6 => mostly_valid,
    ]
}

/// A number the record does not carry exactly as JSON text would (durations and times past
/// 2^53 are sent as text).
fn has_big_integer(object: &Object) -> bool {
    object
        .iter()
        .any(|(_, v)| matches!(v, Js::Number(n) if n.fract() == 0.0 && n.abs() > 9.007e15))
}

#[test]
fn a_record_decodes_to_what_the_json_path_builds() {
    let bundle = G::new().bundle();
    // How many records decoded: the property says little unless many do.
    let decoded = AtomicUsize::new(0);
    let mut runner = TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(3000)
    });
    let result = runner.run(&objects(), |object| {
        let text = json_text(&object);
        let tree: serde_json::Value = serde_json::from_str(&text).unwrap();
        if let Some(record) = profile_record(&bundle, &object) {
            let via_json = Profile::from_json(&bundle, &tree);
            match Profile::from_record(&bundle, &record) {
                Some(p) => {
                    decoded.fetch_add(1, Ordering::Relaxed);
                    // Compared as debug text too: `==` on numbers cannot tell -0 from 0.
                    prop_assert_eq!(
                        format!("{:?}", Ok::<_, ()>(&p)),
                        format!("{:?}", via_json.as_ref().map_err(|_| ())),
                        "{}",
                        text
                    );
                    prop_assert_eq!(Ok(p), via_json, "{}", text);
                }
                None => prop_assert!(via_json.is_err() || has_big_integer(&object), "{}", text),
            }
        }
        if let Some(record) = event_record(&bundle, &object) {
            let via_json = Event::from_json(&bundle, &tree);
            match Event::from_record(&bundle, &record) {
                Some(e) => {
                    decoded.fetch_add(1, Ordering::Relaxed);
                    prop_assert_eq!(
                        format!("{:?}", Ok::<_, ()>(&e)),
                        format!("{:?}", via_json.as_ref().map_err(|_| ())),
                        "{}",
                        text
                    );
                    prop_assert_eq!(Ok(e), via_json, "{}", text);
                }
                None => prop_assert!(via_json.is_err() || has_big_integer(&object), "{}", text),
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let decoded = decoded.into_inner();
    assert!(decoded > 600, "only {decoded} of 6,000 records decoded");
}

proptest! {
    /// Bytes that are no record at all are refused, never misread or a panic.
    #[test]
    fn arbitrary_bytes_are_refused_or_decode(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let bundle = G::new().bundle();
        let _ = Profile::from_record(&bundle, &bytes);
        let _ = Event::from_record(&bundle, &bytes);
    }
}

#[test]
fn a_record_is_exactly_its_members() {
    let bundle = G::new().bundle();
    let object: Object = vec![
        ("id", Js::String("c1".into())),
        ("tier", Js::String("gold".into())),
        (
            "consents",
            Js::Strings(vec!["marketing".into(), "location".into()]),
        ),
        (
            "labels",
            Js::Strings(vec!["b".into(), "a".into(), "b".into()]),
        ),
    ];
    let record = profile_record(&bundle, &object).unwrap();
    let profile = Profile::from_record(&bundle, &record).unwrap();
    assert_eq!(
        profile.consents().collect::<Vec<_>>(),
        ["location", "marketing"]
    );
    assert_eq!(
        Ok(profile),
        Profile::from_json(&bundle, &serde_json::from_str(&json_text(&object)).unwrap())
    );
    // A byte more or less is another layout: refused.
    let mut longer = record.clone();
    longer.push(0);
    assert_eq!(Profile::from_record(&bundle, &longer), None);
    assert_eq!(
        Profile::from_record(&bundle, &record[..record.len() - 1]),
        None
    );
    // A count no bytes could hold is refused before anything is reserved for it.
    let mut huge = Vec::new();
    Js::String("c1".into()).write(&mut huge).unwrap();
    huge.push(5);
    huge.extend(u32::MAX.to_le_bytes());
    assert_eq!(Profile::from_record(&bundle, &huge), None);
}

/// Ids at the limit decode either way; one byte more is refused by the JSON path with a
/// sentence, and the record path declines (so the host sends JSON and gets that sentence).
#[test]
fn ids_longer_than_the_limit_are_refused_by_both_paths() {
    use omnirule_engine::input::MAX_ID_BYTES;
    let bundle = G::new().bundle();
    for len in [MAX_ID_BYTES, MAX_ID_BYTES + 1, 1 << 20] {
        let id = "é".repeat(len / 2) + &"x".repeat(len % 2);
        assert_eq!(id.len(), len);
        let profile: Object = vec![("id", Js::String(id.clone()))];
        let event: Object = vec![
            ("type", Js::String("purchase".into())),
            ("id", Js::String(id.clone())),
            ("time", Js::Number(1_795_168_800_000.0)),
            ("sku", Js::String("SW-1".into())),
            ("amount", Js::Number(79.0)),
            ("channel", Js::String("pos".into())),
        ];
        let ok = len <= MAX_ID_BYTES;
        let p_json = Profile::from_json(
            &bundle,
            &serde_json::from_str(&json_text(&profile)).unwrap(),
        );
        let p_record = Profile::from_record(&bundle, &profile_record(&bundle, &profile).unwrap());
        assert_eq!(p_json.is_ok(), ok, "{len}: {p_json:?}");
        assert_eq!(p_record.is_some(), ok, "{len}");
        let e_json = Event::from_json(&bundle, &serde_json::from_str(&json_text(&event)).unwrap());
        let e_record = Event::from_record(&bundle, &event_record(&bundle, &event).unwrap());
        assert_eq!(e_json.is_ok(), ok, "{len}: {e_json:?}");
        assert_eq!(e_record.is_some(), ok, "{len}");
        if !ok {
            assert_eq!(
                e_json.unwrap_err().to_string(),
                format!("the event's field `id` is {len} bytes long; at most 256 are accepted")
            );
        }
    }
}
