//! Unicode case mapping for the language's `lower()` and `upper()`: exactly what the standard
//! library's `str::to_lowercase` and `str::to_uppercase` return (which is what JavaScript's
//! `toLowerCase`/`toUpperCase` return for the same Unicode version), final sigma included.
//!
//! Not the standard library's functions themselves: their tables (a pair of `(char, u32)` per
//! mapped character) were a large share of the browser package's data (`docs/performance.md`).
//! Most mappings are runs: a block of letters each a fixed distance from its other case, every
//! letter or every other one. [`tables`] holds those runs, the few mappings to several
//! characters, and the two properties the final sigma rule reads; it is generated from the
//! standard library by a test in this module, which checks every character against it (and
//! says how to regenerate the tables when a new toolchain brings a new Unicode version).

#[rustfmt::skip]
mod tables;

use tables::{CASE_IGNORABLE, CASED, LOWER, LOWER_MULTI, UPPER, UPPER_MULTI};

/// A run of mappings: `count` characters from `first`, `stride` apart, each mapped to the
/// character `offset` away.
type Run = (u32, u16, u8, i32);

/// `s.to_lowercase()`.
pub fn to_lowercase(s: &str) -> String {
    // Most strings a rule lowers are ASCII: no table to search.
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if c == 'Σ' {
            // σ, or ς at the end of a word (Unicode's Final_Sigma, as the standard library
            // reads it).
            let before = s.get(..i).unwrap_or("").chars().rev();
            let after = s.get(i + 'Σ'.len_utf8()..).unwrap_or("").chars();
            let word_final = cased_after_ignorables(before) && !cased_after_ignorables(after);
            out.push(if word_final { 'ς' } else { 'σ' });
        } else {
            push_mapped(c, LOWER, LOWER_MULTI, &mut out);
        }
    }
    out
}

/// `s.to_uppercase()`.
pub fn to_uppercase(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_mapped(c, UPPER, UPPER_MULTI, &mut out);
    }
    out
}

fn push_mapped(c: char, runs: &[Run], multi: &[(u32, &str)], out: &mut String) {
    let cp = u32::from(c);
    match multi.binary_search_by_key(&cp, |m| m.0) {
        Ok(i) => out.push_str(multi.get(i).map_or("", |m| m.1)),
        Err(_) => out.push(mapped(c, runs)),
    }
}

fn mapped(c: char, runs: &[Run]) -> char {
    let cp = u32::from(c);
    let i = runs.partition_point(|r| r.0 <= cp);
    let Some(&(first, count, stride, offset)) = i.checked_sub(1).and_then(|i| runs.get(i)) else {
        return c;
    };
    let (step, n) = (u32::from(stride), u32::from(count));
    let k = cp - first;
    match (k.checked_rem(step), k.checked_div(step)) {
        (Some(0), Some(i)) if i < n => {}
        _ => return c,
    }
    cp.checked_add_signed(offset)
        .and_then(char::from_u32)
        .unwrap_or(c)
}

/// Whether the first character that is not case-ignorable is cased.
fn cased_after_ignorables(mut chars: impl Iterator<Item = char>) -> bool {
    chars
        .find(|&c| !in_ranges(c, CASE_IGNORABLE))
        .is_some_and(|c| in_ranges(c, CASED))
}

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let cp = u32::from(c);
    let i = ranges.partition_point(|r| r.0 <= cp);
    i.checked_sub(1)
        .and_then(|i| ranges.get(i))
        .is_some_and(|r| cp <= r.1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fmt::Write as _;

    fn chars() -> impl Iterator<Item = char> {
        (0..=0x10_FFFF).filter_map(char::from_u32)
    }

    /// The runs of `map`'s single-character mappings, and its mappings to several characters.
    fn runs_of(map: impl Fn(char) -> String) -> (Vec<Run>, Vec<(u32, String)>) {
        let mut runs: Vec<Run> = Vec::new();
        let mut multi = Vec::new();
        for c in chars() {
            let m = map(c);
            let mut it = m.chars();
            let (Some(first), None) = (it.next(), it.next()) else {
                multi.push((u32::from(c), m));
                continue;
            };
            if first == c {
                continue;
            }
            let (cp, offset) = (
                u32::from(c),
                i32::try_from(i64::from(u32::from(first)) - i64::from(u32::from(c))).unwrap(),
            );
            if let Some(run) = runs.last_mut() {
                let next = run.0 + u32::from(run.1) * u32::from(run.2);
                let stride_ok = if run.1 == 1 {
                    matches!(cp - run.0, 1 | 2)
                } else {
                    cp == next
                };
                if run.3 == offset && stride_ok && run.1 < u16::MAX {
                    if run.1 == 1 {
                        run.2 = u8::try_from(cp - run.0).unwrap();
                    }
                    run.1 += 1;
                    continue;
                }
            }
            runs.push((cp, 1, 1, offset));
        }
        (runs, multi)
    }

    /// Inclusive ranges of the characters for which `has` holds.
    fn ranges_of(has: impl Fn(char) -> bool) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = Vec::new();
        for c in chars().filter(|&c| has(c)) {
            let cp = u32::from(c);
            match out.last_mut() {
                Some(r) if r.1 + 1 == cp => r.1 = cp,
                _ => out.push((cp, cp)),
            }
        }
        out
    }

    /// Whether Σ after "A" and before `c` is word-final: the standard library's reading of
    /// Final_Sigma, probed.
    fn final_before(c: char, then: &str) -> bool {
        format!("AΣ{c}{then}").to_lowercase().chars().nth(1) == Some('ς')
    }

    fn generated() -> String {
        let (lower, lower_multi) = runs_of(|c| c.to_lowercase().collect());
        let (upper, upper_multi) = runs_of(|c| c.to_uppercase().collect());
        // Σ is word-final before a character unless it is cased (and not ignorable), and
        // before it and then "A" unless it is ignorable or cased: the two sets the rule reads.
        let cased = ranges_of(|c| !final_before(c, ""));
        let ignorable = ranges_of(|c| !final_before(c, "A") && final_before(c, ""));
        let mut out = String::from(
            "//! Generated by `case::tests::the_tables_are_the_standard_librarys` from the standard\n\
             //! library's case mappings: do not edit (see `case.rs`).\n\n",
        );
        let runs = |out: &mut String, name: &str, runs: &[Run]| {
            writeln!(out, "/// (first, count, stride, offset)\npub(super) static {name}: &[(u32, u16, u8, i32)] = &[").unwrap();
            for r in runs {
                writeln!(out, "    (0x{:X}, {}, {}, {}),", r.0, r.1, r.2, r.3).unwrap();
            }
            out.push_str("];\n\n");
        };
        let multi = |out: &mut String, name: &str, multi: &[(u32, String)]| {
            writeln!(out, "pub(super) static {name}: &[(u32, &str)] = &[").unwrap();
            for (c, s) in multi {
                let escaped: String = s
                    .chars()
                    .map(|c| format!("\\u{{{:X}}}", u32::from(c)))
                    .collect();
                writeln!(out, "    (0x{c:X}, \"{escaped}\"),").unwrap();
            }
            out.push_str("];\n\n");
        };
        let ranges = |out: &mut String, name: &str, doc: &str, ranges: &[(u32, u32)]| {
            writeln!(
                out,
                "/// {doc} (inclusive ranges)\npub(super) static {name}: &[(u32, u32)] = &["
            )
            .unwrap();
            for r in ranges {
                writeln!(out, "    (0x{:X}, 0x{:X}),", r.0, r.1).unwrap();
            }
            out.push_str("];\n\n");
        };
        runs(&mut out, "LOWER", &lower);
        multi(&mut out, "LOWER_MULTI", &lower_multi);
        runs(&mut out, "UPPER", &upper);
        multi(&mut out, "UPPER_MULTI", &upper_multi);
        ranges(&mut out, "CASE_IGNORABLE", "Case_Ignorable", &ignorable);
        ranges(&mut out, "CASED", "Cased and not Case_Ignorable", &cased);
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    }

    /// The tables are what the standard library's mappings give. With a new Unicode version,
    /// `OMNIRULE_WRITE_CASE_TABLES=1 cargo test -p omnirule-engine case` rewrites them.
    #[test]
    fn the_tables_are_the_standard_librarys() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/case/tables.rs");
        let want = generated();
        if std::env::var_os("OMNIRULE_WRITE_CASE_TABLES").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap();
        assert!(
            have == want,
            "src/case/tables.rs is out of date: set OMNIRULE_WRITE_CASE_TABLES=1 and run this test"
        );
    }

    #[test]
    fn every_character_maps_as_in_the_standard_library() {
        for c in chars() {
            let s = c.to_string();
            assert_eq!(to_lowercase(&s), s.to_lowercase(), "{c:?}");
            assert_eq!(to_uppercase(&s), s.to_uppercase(), "{c:?}");
            // Σ's two neighbours, each character on either side.
            for text in [
                format!("AΣ{c}"),
                format!("AΣ{c}A"),
                format!("{c}Σ"),
                format!("A{c}Σ"),
            ] {
                assert_eq!(to_lowercase(&text), text.to_lowercase(), "{text:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn strings_map_as_in_the_standard_library(s in "[aAσΣς'.\\u{300}\\u{345}ßİ ΐ\\u{10400}-\\u{10428}]{0,12}|\\PC{0,12}") {
            prop_assert_eq!(to_lowercase(&s), s.to_lowercase());
            prop_assert_eq!(to_uppercase(&s), s.to_uppercase());
        }
    }
}
