//! Local time for schedules (`active`, `hours`, `days`), without a timezone database.
//!
//! The compiler resolves the rule set's timezone into a table of UTC offset transitions
//! ([`TzTable`]); here an instant's offset is a binary search in that table, and the local date
//! and weekday come from Howard Hinnant's civil-date algorithms ([`crate::value`]). Keeping this
//! tiny and table-driven is what lets the same answer come out of every runtime, including
//! wasm hosts that have no tz data at all.

use crate::graph::{Millis, Schedule, TzDay, TzRule, TzTable};
use omnirule_text::time::{DAY_MS, civil_from_days, days_from_civil, weekday};

/// Why a schedule does not allow an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleMiss {
    /// Outside the `active` dates.
    Inactive,
    /// Outside the `hours`.
    OutsideHours,
    /// Not one of the `days`.
    OutsideDays,
}

/// The UTC offset (seconds east) in force at an instant: the offset of the last transition at
/// or before it, or the initial offset before the first; after the last transition, the
/// zone's recurring rule when the table has one.
pub fn offset_at(tz: &TzTable, utc: Millis) -> i32 {
    let i = tz.transitions.partition_point(|(t, _)| *t <= utc);
    let last = i.checked_sub(1).and_then(|i| tz.transitions.get(i));
    match (last, &tz.rule) {
        (Some(_), Some(rule)) if i == tz.transitions.len() => rule_offset(rule, utc),
        (Some((_, offset)), _) => *offset,
        (None, _) => tz.initial_offset,
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days since the epoch of a rule's day in `year`.
fn rule_day(day: TzDay, year: i64) -> i64 {
    let jan1 = days_from_civil(year, 1, 1);
    match day {
        TzDay::Julian { day } => {
            let n = i64::from(day.clamp(1, 365));
            // February 29 is never counted: from March on, a leap year shifts by one.
            jan1 + n - 1 + i64::from(is_leap(year) && n >= 60)
        }
        TzDay::Ordinal { day } => jan1 + i64::from(day.min(365)),
        TzDay::MonthWeek {
            month,
            week,
            weekday: want,
        } => {
            let month = u32::from(month.clamp(1, 12));
            let first = days_from_civil(year, month, 1);
            let next = if month == 12 {
                days_from_civil(year + 1, 1, 1)
            } else {
                days_from_civil(year, month + 1, 1)
            };
            // `weekday` counts Monday = 0; POSIX counts Sunday = 0.
            let first_wd = (i64::from(weekday(first)) + 1) % 7;
            let mut d = first
                + (i64::from(want % 7) - first_wd).rem_euclid(7)
                + 7 * (i64::from(week.clamp(1, 5)) - 1);
            while d >= next {
                d -= 7;
            }
            d
        }
    }
}

/// The offset a recurring rule gives at an instant: daylight time from its start (local
/// standard time) to its end (local daylight time) in the instant's year, which may wrap past
/// New Year (southern hemisphere).
fn rule_offset(rule: &TzRule, utc: Millis) -> i32 {
    let year = civil_from_days(
        utc.saturating_add(i64::from(rule.std_offset) * 1000)
            .div_euclid(DAY_MS),
    )
    .0;
    let at = |day: TzDay, time: i32, offset: i32| {
        rule_day(day, year)
            .saturating_mul(DAY_MS)
            .saturating_add(i64::from(time) * 1000)
            .saturating_sub(i64::from(offset) * 1000)
    };
    let start = at(rule.start, rule.start_time, rule.std_offset);
    let end = at(rule.end, rule.end_time, rule.dst_offset);
    let dst = if start <= end {
        start <= utc && utc < end
    } else {
        !(end <= utc && utc < start)
    };
    if dst {
        rule.dst_offset
    } else {
        rule.std_offset
    }
}

/// Local wall-clock milliseconds (as if local time were UTC) of an instant.
pub fn local_ms(tz: &TzTable, utc: Millis) -> Millis {
    utc.saturating_add(i64::from(offset_at(tz, utc)) * 1000)
}

/// Checks a rule's schedule at an instant, in the rule set's local time. Dates and days
/// include both ends; hours include the start and exclude the end, and wrap past midnight
/// when the start is after the end.
pub fn check(schedule: &Schedule, tz: &TzTable, utc: Millis) -> Result<(), ScheduleMiss> {
    if *schedule == Schedule::default() {
        return Ok(());
    }
    let local = local_ms(tz, utc);
    let day = local.div_euclid(DAY_MS);
    let minute = local.rem_euclid(DAY_MS) / 60_000;
    if let Some((from, to)) = schedule.active
        && (day < i64::from(from) || day > i64::from(to))
    {
        return Err(ScheduleMiss::Inactive);
    }
    if let Some((from, to)) = schedule.hours {
        let (from, to) = (i64::from(from), i64::from(to));
        let inside = if from <= to {
            from <= minute && minute < to
        } else {
            minute >= from || minute < to
        };
        if !inside {
            return Err(ScheduleMiss::OutsideHours);
        }
    }
    if let Some(days) = schedule.days
        && days & (1u8 << weekday(day)) == 0
    {
        return Err(ScheduleMiss::OutsideDays);
    }
    Ok(())
}
