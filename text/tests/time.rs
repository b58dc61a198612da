//! RFC 3339 text of instants and civil dates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_text::time::*;

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

proptest::proptest! {
    /// Every instant of the years 0000..=9999 prints as text that parses back to it, and
    /// `write_time` appends exactly what `format_time` returns.
    #[test]
    fn formatted_times_parse_back(ms in -62_167_219_200_000i64..253_402_300_800_000) {
        let text = format_time(ms);
        proptest::prop_assert_eq!(parse_time(&text), Ok(ms));
        let mut out = String::from("x");
        write_time(ms, &mut out);
        proptest::prop_assert_eq!(out, format!("x{text}"));
    }
}
