//! Input: the shallow text path (`Document`) checks profiles and events exactly as the tree
//! path (`serde_json::Value`) does, for valid and invalid inputs alike.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use omnirule_engine::input::{Document, Event, Profile};
use proptest::prelude::*;

/// Member names: the wire format's own, the shop schema's declared fields (of both kinds),
/// and one nobody declares.
const KEYS: &[&str] = &[
    "id",
    "type",
    "time",
    "consents",
    "sku",
    "price",
    "tags",
    "dwell",
    "seen_at",
    "tag",
    "category",
    "tier",
    "score",
    "labels",
    "birthday",
    "first_name",
    "amount",
    "channel",
    "store",
    "zone",
    "extra",
    "ty\\u0070e",
];

/// Values of every JSON kind, right and wrong for the fields above.
const VALUES: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1.5",
    "1e400",
    "12.0",
    "9007199254740993",
    "1795168800000",
    "-9223372036854775808",
    "9223372036854775807",
    "8640000000000000",
    "-8640000000000001",
    "\"\"",
    "\"page_view\"",
    "\"purchase\"",
    "\"beacon_enter\"",
    "\"nope\"",
    "\"SW-1\"",
    "\"2026-11-20T10:00:00Z\"",
    "\"2026-13-01T00:00:00Z\"",
    "\"caf\\u00e9 \\\"x\\\"\"",
    "[]",
    "[\"a\",\"b\",\"a\"]",
    "[\"a\",1]",
    "[[1]]",
    "{}",
    "{\"a\":{\"b\":[1,2]}}",
];

fn object(members: &[(usize, usize)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|&(k, v)| format!("\"{}\": {}", KEYS[k], VALUES[v]))
        .collect();
    format!("{{ {} }}", body.join(", "))
}

fn documents() -> impl Strategy<Value = String> {
    prop_oneof![
        // Objects, duplicate names included (the last one counts).
        prop::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..14).prop_map(|m| object(&m)),
        // Well-formed events and profiles with one member changed or added.
        (0..KEYS.len(), 0..VALUES.len()).prop_map(|(k, v)| {
            object(&[
                (0, 18),
                (1, 14),
                (2, 8),
                (4, 18),
                (10, 18),
                (5, 4),
                (13, 18),
                (k, v),
            ])
        }),
        // Documents that are not objects, and text that is not JSON.
        (0..VALUES.len()).prop_map(|v| VALUES[v].to_string()),
        Just("{\"id\": \"c1\"".to_string()),
        Just("{\"id\": \"c1\"} trailing".to_string()),
    ]
}

proptest! {
    #[test]
    fn the_text_path_and_the_tree_path_agree(text in documents()) {
        let bundle = G::new().bundle();
        let tree = serde_json::from_str::<serde_json::Value>(&text);
        let doc = Document::parse(&text);
        prop_assert_eq!(tree.is_ok(), doc.is_ok(), "{}", text);
        if let (Ok(tree), Ok(doc)) = (tree, doc) {
            prop_assert_eq!(
                Event::from_json(&bundle, &tree),
                Event::from_document(&bundle, &doc),
                "{}", text
            );
            prop_assert_eq!(
                Profile::from_json(&bundle, &tree),
                Profile::from_document(&bundle, &doc),
                "{}", text
            );
        }
    }
}

#[test]
fn the_last_of_duplicate_members_counts_and_escaped_names_are_names() {
    let bundle = G::new().bundle();
    let text = r#"{"id": "c1", "tier": "silver", "ti\u0065r": "gold", "consents": ["b", "a"]}"#;
    let p = Profile::from_document(&bundle, &Document::parse(text).unwrap()).unwrap();
    assert_eq!(
        p.field("tier"),
        Some(&omnirule_engine::value::Value::string("gold"))
    );
    assert_eq!(p.consents().collect::<Vec<_>>(), ["a", "b"]);
    let err = Event::from_document(&bundle, &Document::parse("[1, 2]").unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the event must be a JSON object, got an array"
    );
}

/// Times at and past the ends of the range, and the ends of `i64`: refused with a sentence, in
/// every build profile (the range check must not overflow), by the tree and the text path.
#[test]
fn times_at_the_ends_of_i64_are_refused_not_overflowed() {
    let bundle = G::new().bundle();
    for (time, ok) in [
        ("-9223372036854775808", false),
        ("9223372036854775807", false),
        ("-8640000000000001", false),
        ("8640000000000001", false),
        ("-8640000000000000", true),
        ("8640000000000000", true),
        ("-9.3e18", false),
    ] {
        let text = format!(
            r#"{{"type": "page_view", "id": "e1", "time": {time}, "sku": "S", "category": "c", "price": 1}}"#
        );
        let tree = Event::from_json(&bundle, &serde_json::from_str(&text).unwrap());
        let doc = Event::from_document(&bundle, &Document::parse(&text).unwrap());
        assert_eq!(tree, doc, "{time}");
        assert_eq!(tree.is_ok(), ok, "{time}: {tree:?}");
        if let Err(e) = tree {
            assert!(e.to_string().contains("time"), "{time}: {e}");
        }
    }
}
