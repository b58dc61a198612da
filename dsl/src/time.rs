//! Calendar and timezone work done at compile time, so the engine carries no tz database:
//! local dates to day numbers, and a timezone to its table of UTC offset transitions.

use crate::ast::DateLit;
use omnirule_engine::graph::{Millis, TzTable};

use omnirule_text::time::DAY_MS;

/// Days since 1970-01-01 of a proleptic Gregorian date, as the compiler stores dates
/// (`i32` day numbers; a date literal's year has four digits, so it always fits).
pub fn days_from_civil(year: i32, month: u8, day: u8) -> i32 {
    let days =
        omnirule_text::time::days_from_civil(i64::from(year), u32::from(month), u32::from(day));
    i32::try_from(days).unwrap_or(i32::MAX)
}

pub fn days_from_date(d: &DateLit) -> i32 {
    days_from_civil(d.year, d.month, d.day)
}

/// The instant of local midnight at the start of a date (UTC when the zone is unknown).
pub fn local_midnight(tz: Option<&jiff::tz::TimeZone>, d: &DateLit) -> Millis {
    let utc = i64::from(days_from_date(d)) * DAY_MS;
    let Some(tz) = tz else {
        return utc;
    };
    let date = jiff::civil::date(
        i16::try_from(d.year).unwrap_or(1970),
        d.month as i8,
        d.day as i8,
    );
    date.to_datetime(jiff::civil::Time::midnight())
        .to_zoned(tz.clone())
        .map_or(utc, |z| z.timestamp().as_millisecond())
}

/// All IANA zone names this build knows (for "did you mean").
pub fn zone_names() -> Vec<String> {
    jiff::tz::db().available().map(|n| n.to_string()).collect()
}

/// The offset table of `name` covering `[from_day, to_day]` (days since the epoch).
/// Outside that span the engine uses the nearest known offset.
pub fn offset_table(name: &str, tz: &jiff::tz::TimeZone, from_day: i32, to_day: i32) -> TzTable {
    let start_ms = i64::from(from_day) * DAY_MS;
    let end_ms = (i64::from(to_day) + 1) * DAY_MS;
    let Ok(start) = jiff::Timestamp::from_millisecond(start_ms) else {
        return TzTable {
            name: name.to_string(),
            initial_offset: 0,
            transitions: Vec::new(),
        };
    };
    let initial_offset = tz.to_offset(start).seconds();
    let transitions = tz
        .following(start)
        .map(|t| (t.timestamp().as_millisecond(), t.offset().seconds()))
        .take_while(|(ms, _)| *ms <= end_ms)
        .collect();
    TzTable {
        name: name.to_string(),
        initial_offset,
        transitions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2026, 11, 20), 20_777);
    }

    #[test]
    fn paris_2026_transitions() {
        let tz = jiff::tz::TimeZone::get("Europe/Paris").unwrap_or(jiff::tz::TimeZone::UTC);
        let t = offset_table(
            "Europe/Paris",
            &tz,
            days_from_civil(2026, 1, 1),
            days_from_civil(2026, 12, 31),
        );
        assert_eq!(t.initial_offset, 3600);
        // 2026-03-29T01:00Z to +2h, 2026-10-25T01:00Z back to +1h.
        assert_eq!(
            t.transitions,
            vec![(1_774_746_000_000, 7200), (1_792_890_000_000, 3600)]
        );
    }
}
