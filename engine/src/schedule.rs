//! Local time for schedules (`active`, `hours`, `days`), without a timezone database.
//!
//! The compiler resolves the rule set's timezone into a table of UTC offset transitions
//! ([`TzTable`]); here an instant's offset is a binary search in that table, and the local date
//! and weekday come from Howard Hinnant's civil-date algorithms ([`crate::value`]). Keeping this
//! tiny and table-driven is what lets the same answer come out of every runtime, including
//! wasm hosts that have no tz data at all.

use crate::graph::{Millis, Schedule, TzTable};
use omnirule_text::time::{DAY_MS, weekday};

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
/// or before it, or the initial offset before the first.
pub fn offset_at(tz: &TzTable, utc: Millis) -> i32 {
    let i = tz.transitions.partition_point(|(t, _)| *t <= utc);
    match i.checked_sub(1).and_then(|i| tz.transitions.get(i)) {
        Some((_, offset)) => *offset,
        None => tz.initial_offset,
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
