//! Calendar arithmetic and RFC 3339 text of instants in UTC milliseconds.
//!
//! Instants are `i64` milliseconds since 1970-01-01T00:00:00Z, proleptic Gregorian, no leap
//! seconds: JavaScript's `Date` model, so the browser and every other runtime agree on the
//! text of a time. Written by hand (no calendar crate) because the engine's wasm module carries
//! it and needs only these few functions.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day number (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// Weekday of a day number, Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday).
pub fn weekday(days: i64) -> u32 {
    u32::try_from((days + 3).rem_euclid(7)).unwrap_or(0)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// RFC 3339 UTC text of an instant: `2026-11-20T10:00:00Z`, with `.sss` only when the
/// milliseconds are not zero. Years outside 0000..=9999 use the signed six-digit form of
/// JavaScript's `toISOString` (`+275760-09-13T00:00:00Z`).
pub fn format_time(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_time(ms, &mut out);
    out
}

/// [`format_time`], appended to `out`. Written into a fixed buffer and appended once: this
/// runs for every log line a host writes, and through `core::fmt` the time was most of an
/// exposure line's cost.
pub fn write_time(ms: i64, out: &mut String) {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (min, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    let mut text = *b"+000000-00-00T00:00:00.000Z";
    // The year: four digits, or JavaScript's signed six for years outside 0000..=9999.
    let from = if (0..=9999).contains(&y) {
        put_digits(&mut text, 3, y, 4);
        3
    } else {
        if y < 0
            && let Some(sign) = text.first_mut()
        {
            *sign = b'-';
        }
        put_digits(&mut text, 1, y.abs(), 6);
        0
    };
    put_digits(&mut text, 8, i64::from(m), 2);
    put_digits(&mut text, 11, i64::from(d), 2);
    put_digits(&mut text, 14, h, 2);
    put_digits(&mut text, 17, min, 2);
    put_digits(&mut text, 20, s, 2);
    let to = if milli != 0 {
        put_digits(&mut text, 23, milli, 3);
        text.len()
    } else {
        if let Some(z) = text.get_mut(22) {
            *z = b'Z';
        }
        23
    };
    // Only ASCII was written: always UTF-8.
    if let Some(Ok(time)) = text.get(from..to).map(std::str::from_utf8) {
        out.push_str(time);
    }
}

/// Writes `n` (not negative) as `width` decimal digits, zero-padded, at `at` in `text`.
fn put_digits(text: &mut [u8], at: usize, mut n: i64, width: usize) {
    if let Some(slots) = text.get_mut(at..at + width) {
        for slot in slots.iter_mut().rev() {
            *slot = b'0' + u8::try_from(n % 10).unwrap_or(0);
            n /= 10;
        }
    }
}

/// Parses an RFC 3339 date-time (`2026-11-20T10:00:00Z`, `2026-11-20T11:00:00.5+01:00`) into
/// UTC milliseconds. `T`/`Z` may be lower case; seconds are required; fractions beyond
/// milliseconds are truncated; leap seconds (`:60`) are refused.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = b
            .get(from..from + len)
            .ok_or_else(|| "it is too short".to_string())?;
        let mut v = 0i64;
        for c in part {
            if !c.is_ascii_digit() {
                return Err(format!("expected a digit at position {}", from + 1));
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Ok(v)
    };
    let expect = |at: usize, what: &[u8]| -> Result<(), String> {
        match b.get(at) {
            Some(c) if what.contains(c) => Ok(()),
            _ => Err(format!(
                "expected `{}` at position {}",
                what.first().map_or('?', |c| char::from(*c)),
                at + 1
            )),
        }
    };
    let year = num(0, 4)?;
    expect(4, b"-")?;
    let month = num(5, 2)?;
    expect(7, b"-")?;
    let day = num(8, 2)?;
    expect(10, b"Tt")?;
    let hour = num(11, 2)?;
    expect(13, b":")?;
    let minute = num(14, 2)?;
    expect(16, b":")?;
    let second = num(17, 2)?;
    let month_u = u32::try_from(month).unwrap_or(0);
    if !(1..=12).contains(&month_u) {
        return Err(format!("month {month} is out of range"));
    }
    let day_u = u32::try_from(day).unwrap_or(0);
    if day_u < 1 || day_u > days_in_month(year, month_u) {
        return Err(format!("day {day} is out of range"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("the time of day is out of range".into());
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(c - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err("expected digits after `.`".into());
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(c @ (b'+' | b'-')) => {
            let sign = if *c == b'-' { -1 } else { 1 };
            let oh = num(i + 1, 2)?;
            expect(i + 3, b":")?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err("the offset is out of range".into());
            }
            i += 6;
            sign * (oh * 60 + om)
        }
        _ => return Err("expected `Z` or an offset like `+01:00`".into()),
    };
    if i != b.len() {
        return Err("unexpected text after the offset".into());
    }
    let days = days_from_civil(year, month_u, day_u);
    let ms = days * DAY_MS + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis
        - offset_min * 60_000;
    Ok(ms)
}
