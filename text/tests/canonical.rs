//! Canonical JSON: sorted keys, no whitespace, numbers and strings as JavaScript writes them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_text::canonical::canonical_json;
use serde_json::json;

#[test]
fn canonical_json_sorts_keys_drops_whitespace_and_prints_numbers_like_javascript() {
    let v: serde_json::Value = serde_json::from_str(
        r#"{ "b": [1.0, 2.5, 1e21, -0.0, 1e-7], "a": {"z": null, "y": "é\n\"\u0001"}, "c": true }"#,
    )
    .unwrap();
    assert_eq!(
        canonical_json(&v),
        r#"{"a":{"y":"é\n\"\u0001","z":null},"b":[1,2.5,1e+21,0,1e-7],"c":true}"#
    );
    assert_eq!(
        canonical_json(&json!(12345678901234567890u64)),
        "12345678901234567000"
    );
}

proptest::proptest! {
    /// Strings are escaped as `JSON.stringify` escapes them; serde_json's writer makes the
    /// same choices (short escapes, `\u00XX` for other control characters, the rest raw), so
    /// it is the oracle for the hand-written fast path.
    #[test]
    fn canonical_strings_are_escaped_like_json_stringify(s in "(\\PC|[\\x00-\\x1f\"\\\\])*") {
        let v = serde_json::Value::String(s.clone());
        proptest::prop_assert_eq!(canonical_json(&v), serde_json::to_string(&s).unwrap());
    }
}
