//! Values: JavaScript-compatible number text, RFC 3339 times, civil dates, canonical JSON,
//! FNV-1a and split buckets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_engine::canonical::canonical_json;
use omnirule_engine::eval::{fnv1a32, split_bucket};
use omnirule_engine::value::*;
use serde_json::json;

#[test]
fn numbers_print_as_javascript_prints_them() {
    // (value, what `String(value)` gives in JavaScript)
    let table: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.0, "-1"),
        (20.0, "20"),
        (79.9, "79.9"),
        (79.9 * 3.0, "239.70000000000002"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0.5, "0.5"),
        (123.456, "123.456"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1.5e21, "1.5e+21"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.000123, "0.000123"),
        (-1.5e-10, "-1.5e-10"),
        (2f64.powi(53), "9007199254740992"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (5e-324, "5e-324"),
        (1e100, "1e+100"),
        (100.0, "100"),
        (1234.5678, "1234.5678"),
        // Exactly halfway between two shortest candidates (…690.25): JavaScript takes the
        // even one; Rust's `{:e}` takes …690.3. (The literal is the exact double, on purpose.)
        #[allow(clippy::excessive_precision)]
        (862841384698690.25, "862841384698690.2"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ];
    for (v, want) in table {
        assert_eq!(format_number(*v), *want, "{v:e}");
    }
}

#[test]
fn numbers_in_json_are_integers_when_integral() {
    assert_eq!(number_json(20.0).to_string(), "20");
    assert_eq!(number_json(-0.0).to_string(), "0");
    assert_eq!(number_json(0.5).to_string(), "0.5");
    assert_eq!(Value::Number(3.0).to_json(), json!(3));
}

#[test]
fn times_format_as_rfc3339_utc_with_millis_only_when_needed() {
    assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
    let t = parse_time("2026-11-20T10:00:00Z").unwrap();
    assert_eq!(format_time(t), "2026-11-20T10:00:00Z");
    assert_eq!(format_time(t + 5), "2026-11-20T10:00:00.005Z");
    assert_eq!(format_time(t + 120), "2026-11-20T10:00:00.120Z");
    assert_eq!(format_time(-1), "1969-12-31T23:59:59.999Z");
    assert_eq!(
        format_time(8_640_000_000_000_000),
        "+275760-09-13T00:00:00Z"
    );
    assert_eq!(format_time(-62_198_755_200_000), "-000001-01-01T00:00:00Z");
}

#[test]
fn rfc3339_parsing_accepts_offsets_and_fractions_and_refuses_nonsense() {
    let z = parse_time("2026-11-20T10:00:00Z").unwrap();
    assert_eq!(z, 1_795_168_800_000);
    assert_eq!(parse_time("2026-11-20T11:00:00+01:00").unwrap(), z);
    assert_eq!(parse_time("2026-11-20T08:30:00-01:30").unwrap(), z);
    assert_eq!(parse_time("2026-11-20t10:00:00z").unwrap(), z);
    assert_eq!(parse_time("2026-11-20T10:00:00.5Z").unwrap(), z + 500);
    assert_eq!(parse_time("2026-11-20T10:00:00.123456Z").unwrap(), z + 123);
    for bad in [
        "",
        "2026-11-20",
        "2026-11-20T10:00Z",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-11-20T24:00:00Z",
        "2026-11-20T10:00:60Z",
        "2026-11-20T10:00:00",
        "2026-11-20T10:00:00.Z",
        "2026-11-20T10:00:00Zjunk",
        "2026-11-20T10:00:00+1:00",
        "２026-11-20T10:00:00Z",
    ] {
        assert!(parse_time(bad).is_err(), "{bad}");
    }
    assert!(parse_time("2024-02-29T00:00:00Z").is_ok());
}

#[test]
fn civil_dates_round_trip() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2026, 11, 20), 20_777);
    assert_eq!(civil_from_days(20_777), (2026, 11, 20));
    assert_eq!(days_from_civil(2026, 1, 1), 20_454);
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    for d in (-800_000..800_000).step_by(997) {
        let (y, m, day) = civil_from_days(d);
        assert_eq!(days_from_civil(y, m, day), d);
    }
    // 2026-11-20 is a Friday (Monday = 0).
    assert_eq!(weekday(20_777), 4);
    assert_eq!(weekday(0), 3);
}

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

/// `String(x)` in JavaScript, from Rust's own shortest round-trip digits (`{:e}`): the layout
/// oracle for `format_number`. Where two shortest candidates are equally close, Rust takes the
/// upper one and JavaScript the even one, so the property below allows exactly that.
fn js_string_oracle(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n == 0.0 {
        return "0".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sign = if n < 0.0 { "-" } else { "" };
    let sci = format!("{:e}", n.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i64;
    let point = exp.parse::<i64>().unwrap() + 1;
    let body = if k <= point && point <= 21 {
        format!("{digits}{}", "0".repeat((point - k) as usize))
    } else if 0 < point && point <= 21 {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    } else if -6 < point && point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else {
        let (first, rest) = digits.split_at(1);
        let e = point - 1;
        let dot = if rest.is_empty() { "" } else { "." };
        format!(
            "{first}{dot}{rest}e{}{}",
            if e >= 0 { "+" } else { "-" },
            e.abs()
        )
    };
    format!("{sign}{body}")
}

proptest::proptest! {
    /// Every double prints as JavaScript prints it: random bit patterns (all magnitudes,
    /// subnormals, NaNs) and short decimals.
    #[test]
    fn numbers_print_like_javascript_for_any_double(bits in proptest::num::u64::ANY, small in -1_000_000i64..1_000_000, scale in 0u32..8) {
        for x in [f64::from_bits(bits), small as f64 / 10f64.powi(scale as i32)] {
            let (ours, oracle) = (format_number(x), js_string_oracle(x));
            if ours != oracle {
                // Only a tie, broken to the even digit, may differ.
                let (a, b) = (ours.as_bytes(), oracle.as_bytes());
                let last = a.iter().zip(b).rposition(|(p, q)| p.is_ascii_digit() && p != q);
                let tie = a.len() == b.len()
                    && last.is_some_and(|i| {
                        a[..i] == b[..i] && a[i + 1..] == b[i + 1..] && (a[i] - b'0').is_multiple_of(2)
                            && b[i] == a[i] + 1
                    });
                proptest::prop_assert!(tie, "{x:e}: {ours} vs {oracle}");
            }
            if x.is_finite() {
                let back: f64 = ours.replace("e+", "e").parse().unwrap();
                proptest::prop_assert_eq!(back, x);
            }
        }
    }
}
