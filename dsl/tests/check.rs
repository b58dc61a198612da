//! Golden diagnostics: every checker error code has an input under `golden/check/` whose
//! rendered diagnostics (plain text) are pinned in a `.stderr` file next to it.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p omnirule-dsl --test check`, then read the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_dsl::RuleSet;
use omnirule_dsl::diagnostic::codes;
use omnirule_dsl::render::{self, Style};
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/check")
}

fn inputs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    v.sort();
    v
}

fn diagnose(path: &Path) -> (String, Vec<&'static str>) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let set = RuleSet::from_texts([(name, text)]);
    let diags = match set.compile() {
        Ok(c) => c.warnings,
        Err(d) => d,
    };
    let codes = diags.iter().map(|d| d.code).collect();
    (
        render::render_all(&diags, &set.sources, Style { color: false }),
        codes,
    )
}

#[test]
fn golden_diagnostics() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for input in inputs() {
        let (rendered, codes) = diagnose(&input);
        // The file is named after the code it demonstrates; that code must be reported.
        let stem = input.file_stem().unwrap().to_string_lossy().into_owned();
        let code = stem.split('_').next().unwrap();
        assert!(
            codes.contains(&code),
            "{stem}: expected {code}, got {codes:?}\n{rendered}"
        );
        let expected_path = input.with_extension("stderr");
        if update {
            std::fs::write(&expected_path, &rendered).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != rendered {
            mismatches.push(format!(
                "--- {}\n+++ actual\n{rendered}",
                expected_path.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden mismatches:\n{}",
        mismatches.join("\n")
    );
}

/// Every code a rule set's text can produce has a golden file (the byte-level codes are
/// covered by the hostile-input tests).
#[test]
fn every_checker_code_has_a_golden_file() {
    let names: Vec<String> = inputs()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let all = [
        codes::TOO_DEEP,
        codes::BAD_LITERAL,
        codes::UNKNOWN_EVENT,
        codes::UNKNOWN_FIELD,
        codes::UNKNOWN_SEGMENT,
        codes::UNKNOWN_ACTION,
        codes::UNKNOWN_PARAM,
        codes::UNKNOWN_GROUP,
        codes::UNKNOWN_CONSENT,
        codes::UNKNOWN_NAME,
        codes::UNKNOWN_FUNCTION,
        codes::DUPLICATE_NAME,
        codes::MISSING_SCHEMA,
        codes::DUPLICATE_SCHEMA,
        codes::RESERVED_NAME,
        codes::SEGMENT_CYCLE,
        codes::TYPE_MISMATCH,
        codes::MISSING_PARAM,
        codes::WRONG_ARITY,
        codes::NOT_BOOLEAN,
        codes::MISSING_ON,
        codes::MISSING_DO,
        codes::SPLIT_SUM,
        codes::BAD_TIMEZONE,
        codes::EMPTY_HOURS,
        codes::EMPTY_ACTIVE,
        codes::BAD_LIMIT,
        codes::UNBOUNDED_HISTORY,
        codes::SINCE_UNBOUND,
        codes::BINDING_POSITION,
        codes::DUPLICATE_BINDING,
        codes::PII_WITHOUT_CONSENT,
        codes::BAD_TEST,
        codes::GOAL_WITHOUT_WINDOW,
        codes::GOAL_PRIMARY,
        codes::GOAL_VALUE,
        codes::GOAL_FILTER,
    ];
    for code in all {
        assert!(
            names.iter().any(|n| n.starts_with(code)),
            "no golden file demonstrates {code}"
        );
    }
}

#[test]
fn several_errors_are_reported_in_one_run() {
    let (_, codes) = diagnose(&golden_dir().join("E0102_unknown_field.rules"));
    assert!(codes.len() >= 3, "{codes:?}");
}

#[test]
fn json_diagnostics_carry_positions_and_help() {
    let path = golden_dir().join("E0102_unknown_field.rules");
    let text = std::fs::read_to_string(&path).unwrap();
    let set = RuleSet::from_texts([("x.rules", text)]);
    let diags = set.compile().unwrap_err();
    let json = render::to_json(&diags, &set.sources);
    let first = &json[0];
    assert_eq!(first["code"], "E0102");
    assert_eq!(first["file"], "x.rules");
    assert!(first["line"].as_u64().unwrap() > 1);
    assert_eq!(first["help"], "did you mean `category`?");
}

#[test]
fn byte_level_problems_are_diagnostics() {
    let mut set = RuleSet::default();
    set.add_bytes("bad.rules".into(), b"rule r {\xff\xfe}");
    let diags = set.compile().unwrap_err();
    assert_eq!(diags[0].code, codes::INVALID_UTF8);
    let mut set = RuleSet::default();
    set.add_bytes("big.rules".into(), &vec![b'#'; 10 * 1024 * 1024]);
    let diags = set.compile().unwrap_err();
    assert_eq!(diags[0].code, codes::FILE_TOO_LARGE);
    assert!(diags[0].message.contains("10.0 MB"), "{}", diags[0].message);
}

/// Terminal columns as a terminal lays out these golden files: a tab is shown as four spaces,
/// CJK characters and emoji code points take two columns (written out here rather than taken
/// from the renderer's own width table, so the check is independent of it).
fn columns(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '\t' => 4,
            '\u{1100}'..='\u{115F}'
            | '\u{2E80}'..='\u{303E}'
            | '\u{3041}'..='\u{33FF}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{AC00}'..='\u{D7A3}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{FF00}'..='\u{FF60}'
            | '\u{FFE0}'..='\u{FFE6}'
            | '\u{1F300}'..='\u{1F64F}'
            | '\u{1F900}'..='\u{1F9FF}' => 2,
            _ => 1,
        })
        .sum()
}

/// Marketing copy has emoji with skin-tone modifiers, East Asian text and tabs: in the golden
/// file for them, every caret sits under the first character of the misspelt name, counted in
/// terminal columns, and the ` --> ` column counts characters from the start of the line.
#[test]
fn carets_sit_under_the_name_after_tabs_emoji_and_east_asian_text() {
    let input = golden_dir().join("E0102_wide_characters.rules");
    let source = std::fs::read_to_string(&input).unwrap();
    assert!(source.contains("Bonjour 👋🏻 {profile.first_nme}"));
    assert!(source.contains('\t'));
    let (rendered, codes) = diagnose(&input);
    assert_eq!(codes, ["E0102", "E0102", "E0105"], "{rendered}");
    let lines: Vec<&str> = rendered.lines().collect();
    let mut checked = 0;
    for (i, name) in ["first_nme", "frist_name", "sloot"].into_iter().enumerate() {
        // The source line as written, and where the name is in it.
        let (number, written) = source
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(&format!("{name}}}")) || l.contains(&format!("{name}:")))
            .unwrap();
        let before = &written[..written.find(name).unwrap()];
        let origin = format!(
            "--> E0102_wide_characters.rules:{}:{}",
            number + 1,
            before.chars().count() + 1
        );
        let at = lines.iter().position(|l| l.ends_with(&origin)).unwrap();
        assert!(at > 0 && lines[at - 1].contains(name), "{i}: {rendered}");
        // ` --> `, the bar line, the source line (tabs shown as four spaces), the carets.
        let shown = lines[at + 2];
        let carets = lines[at + 3];
        let gutter = shown.find(" | ").unwrap() + 3;
        assert_eq!(
            &shown[gutter..],
            written.replace('\t', "    "),
            "{rendered}"
        );
        let caret = carets.find('^').unwrap();
        assert_eq!(
            caret - gutter,
            columns(before),
            "the caret under `{name}` is off:\n{shown}\n{carets}"
        );
        assert_eq!(
            carets.trim_end_matches(|c| c != '^').matches('^').count(),
            name.len()
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}
