//! Values: their JSON and text forms, the language's comparisons, FNV-1a and split buckets.
//! (Number and time text, and canonical JSON, are tested in `omnirule-text`.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_engine::eval::{fnv1a32, split_bucket};
use omnirule_engine::value::*;
use serde_json::json;

#[test]
fn numbers_in_json_are_integers_when_integral() {
    assert_eq!(number_json(20.0).to_string(), "20");
    assert_eq!(number_json(-0.0).to_string(), "0");
    assert_eq!(number_json(0.5).to_string(), "0.5");
    assert_eq!(Value::Number(3.0).to_json(), json!(3));
}

#[test]
fn fnv1a_known_vectors() {
    assert_eq!(fnv1a32(b""), 0x811c_9dc5);
    assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
    assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
}

#[test]
fn split_buckets_hash_name_colon_unit() {
    assert_eq!(split_bucket("win_back_test", "c1"), 5496);
    assert_eq!(split_bucket("win_back_test", "c3"), 734);
    assert_eq!(split_bucket("x", "y"), fnv1a32(b"x:y") % 10_000);
}

#[test]
fn interpolation_text() {
    assert_eq!(Value::Missing.to_text(), "");
    assert_eq!(Value::Bool(true).to_text(), "true");
    assert_eq!(Value::Number(1e21).to_text(), "1e+21");
    assert_eq!(Value::string("raw \"text\"").to_text(), "raw \"text\"");
    assert_eq!(Value::Duration(3_600_000).to_text(), "3600000");
    assert_eq!(Value::Time(0).to_text(), "1970-01-01T00:00:00Z");
    assert_eq!(
        Value::List(vec![Value::string("a"), Value::Number(2.0)]).to_text(),
        "a, 2"
    );
}

#[test]
fn language_comparisons() {
    use std::cmp::Ordering;
    assert!(Value::Number(0.0).lang_eq(&Value::Number(-0.0)));
    assert!(!Value::Number(1.0).lang_eq(&Value::string("1")));
    assert_eq!(
        Value::string("B").lang_cmp(&Value::string("a")),
        Some(Ordering::Less)
    );
    assert_eq!(
        Value::string("é").lang_cmp(&Value::string("z")),
        Some(Ordering::Greater)
    );
    assert_eq!(Value::Number(1.0).lang_cmp(&Value::string("a")), None);
    assert!(!Value::Missing.lang_eq(&Value::Missing));
}
