#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Hostile input: the parser must never panic, overflow its stack or hang. These run on the
//! default 2 MiB test threads on purpose.

use omnirule_dsl::diagnostic::Diagnostic;
use omnirule_dsl::format::format;
use omnirule_dsl::parser::{parse, parse_bytes, parse_expr};
use std::time::{Duration, Instant};

fn codes(r: Result<impl Sized, Vec<Diagnostic>>) -> Vec<&'static str> {
    match r {
        Ok(_) => vec!["ok"],
        Err(ds) => ds.iter().map(|d| d.code).collect(),
    }
}

fn first_code(text: &str) -> &'static str {
    codes(parse(0, text))[0]
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn timed<T>(limit: Duration, what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    assert!(start.elapsed() < limit, "{what} took {:?}", start.elapsed());
    out
}

#[test]
fn deep_nesting_is_refused_before_pest() {
    for (open, close) in [("(", ")"), ("[", "]"), ("lower(", ")")] {
        let text = format!(
            "segment s = {}x{}",
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let c = timed(Duration::from_secs(30), "deep nesting", || {
            first_code(&text)
        });
        assert_eq!(c, "E0006", "{open}");
    }
    // Unbalanced: only openers.
    assert_eq!(first_code(&"(".repeat(100_000)), "E0006");
    assert_eq!(first_code(&"{".repeat(100_000)), "E0006");
    // parse_expr too.
    let e = parse_expr(
        0,
        &format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
    );
    assert_eq!(codes(e), ["E0006"]);
    // 100 levels are fine.
    let text = format!("segment s = {}x{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(first_code(&text), "ok");
}

#[test]
fn deep_interpolation() {
    let nest = |n: usize| format!("segment s = {}x{}", "\"{".repeat(n), "}\"".repeat(n));
    assert_eq!(first_code(&nest(20)), "ok");
    assert_eq!(first_code(&nest(100_000)), "E0006");
}

#[test]
fn long_operator_chains_do_not_overflow() {
    // Prefix runs would recurse in the Pratt parser: refused first.
    for prefix in ["not ", "-", "- "] {
        let text = format!("segment s = {}x", prefix.repeat(100_000));
        assert_eq!(first_code(&text), "E0006", "{prefix}");
    }
    // A left-associative chain is parsed iteratively but would build a 100k-deep tree.
    for op in [" + ", " or ", " and ", " ?? ", " == "] {
        let text = format!("segment s = x{}", format!("{op}x").repeat(100_000));
        let c = timed(Duration::from_secs(20), op, || first_code(&text));
        assert_eq!(c, "E0006", "{op}");
    }
    // Moderate chains are fine, and format back.
    let text = format!("segment s = x{}", " or x".repeat(200));
    let f = parse(0, &text).unwrap();
    assert_eq!(parse(0, &format(&f)).unwrap().items, f.items);
}

#[test]
fn deep_seen_where_and_types() {
    let text = format!("segment s = {}x", "seen a where ".repeat(50_000));
    let c = timed(Duration::from_secs(20), "seen", || first_code(&text));
    assert_eq!(c, "E0006");
    let text = format!(
        "schema {{ profile {{ x: {}string{} }} }}",
        "list<".repeat(50_000),
        ">".repeat(50_000)
    );
    let c = timed(Duration::from_secs(20), "types", || first_code(&text));
    assert!(c == "E0006" || c == "E0004", "{c}");
    let text = format!(
        "schema {{ profile {{ x: {}string{} }} }}",
        "set<".repeat(10),
        ">".repeat(10)
    );
    assert_eq!(first_code(&text), "ok");
}

#[test]
fn huge_files_are_refused() {
    let big = vec![b' '; 10 * 1024 * 1024];
    let e = parse_bytes(0, &big).unwrap_err();
    assert_eq!(e[0].code, "E0001");
    assert!(e[0].message.contains("10485760 bytes"), "{}", e[0].message);
    assert!(e[0].message.contains("4194304"), "{}", e[0].message);
    let text = String::from_utf8(big).unwrap();
    assert_eq!(codes(parse(0, &text)), ["E0001"]);
    // Exactly at the limit is accepted (and blank).
    assert_eq!(codes(parse_bytes(0, &vec![b'\n'; 4 * 1024 * 1024])), ["ok"]);
}

#[test]
fn invalid_utf8_and_nul() {
    let mut bytes = b"segment s = \"caf".to_vec();
    bytes.push(0xE9);
    bytes.extend_from_slice(b"\"\n");
    let e = parse_bytes(0, &bytes).unwrap_err();
    assert_eq!(e[0].code, "E0002");
    assert_eq!(e[0].span.start, 16);
    assert!(e[0].message.contains("offset 16"));
    let e = parse_bytes(0, b"rule r {\0}").unwrap_err();
    assert_eq!(e[0].code, "E0003");
    assert_eq!(e[0].span.start, 8);
    assert_eq!(codes(parse(0, "segment s = \"\0\"")), ["E0003"]);
}

#[test]
fn unterminated_strings() {
    let text = "segment a = \"open\nsegment b = \"ok\"\nsegment c = \"{x\nsegment d = \"";
    let e = parse(0, text).unwrap_err();
    let starts: Vec<(&str, u32)> = e.iter().map(|d| (d.code, d.span.start)).collect();
    assert_eq!(
        starts,
        [("E0005", 12), ("E0005", 47), ("E0005", 63)],
        "{e:#?}"
    );
    assert_eq!(codes(parse_expr(0, "\"abc")), ["E0005"]);
    assert_eq!(codes(parse(0, "segment s = \"a\\")), ["E0005"]);
}

#[test]
fn very_long_identifiers_and_strings() {
    let name = "a".repeat(1_000_000);
    let text = format!(
        "segment {name} = {name}.{name} == \"{}\"",
        "z".repeat(1_000_000)
    );
    let f = timed(Duration::from_secs(20), "long names", || {
        parse(0, &text).unwrap()
    });
    assert_eq!(parse(0, &format(&f)).unwrap().items, f.items);
}

#[test]
fn byte_soup_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300 {
        let len = rng.below(600);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = parse_bytes(0, &bytes);
    }
}

/// Random sequences of the language's own tokens reach deep into the grammar.
#[test]
fn token_soup_never_panics() {
    const TOKENS: &[&str] = &[
        "rule",
        "segment",
        "group",
        "schema",
        "test",
        "on",
        "when",
        "do",
        "limit",
        "per",
        "once",
        "priority",
        "active",
        "hours",
        "days",
        "consent",
        "seen",
        "as",
        "within",
        "since",
        "where",
        "and",
        "or",
        "not",
        "in",
        "is",
        "present",
        "missing",
        "split",
        "by",
        "control",
        "expect",
        "no",
        "nothing",
        "at",
        "profile",
        "event",
        "action",
        "retain",
        "timezone",
        "count(",
        "sum(",
        "x",
        "y.z",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ",",
        ":",
        "=",
        "==",
        "<",
        "+",
        "-",
        "*",
        "/",
        "??",
        "..",
        "\"",
        "\"a{x}b\"",
        "{{",
        "7d",
        "20",
        "50%",
        "0.5",
        "2026-12-01",
        "2026-11-20T10:00Z",
        "09:00",
        "24:00",
        "mon",
        "string",
        "list<",
        ">",
        "?",
        "pii",
        "#c\n",
        "\n",
        "\\",
        "é",
    ];
    let mut rng = Rng(42);
    for _ in 0..1500 {
        let n = rng.below(40);
        let text: Vec<&str> = (0..n).map(|_| TOKENS[rng.below(TOKENS.len())]).collect();
        let text = text.join(" ");
        if let Ok(f) = parse(0, &text) {
            let out = format(&f);
            let back = parse(0, &out).unwrap_or_else(|e| panic!("{text}\n=>\n{out}\n{e:#?}"));
            assert_eq!(back.items, f.items, "{text}\n=>\n{out}");
        }
    }
}

/// Mutations of valid files: whatever parses must format and parse back to the same tree.
#[test]
fn mutated_corpus_never_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    files.sort();
    let mut rng = Rng(7);
    let mut parsed = 0;
    for i in 0..400 {
        let mut bytes = files[i % files.len()].clone().into_bytes();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => {
                    let end = (at + rng.below(20)).min(bytes.len());
                    bytes.drain(at..end);
                }
                1 => {
                    let from = rng.below(bytes.len());
                    let end = (from + rng.below(30)).min(bytes.len());
                    let chunk: Vec<u8> = bytes[from..end].to_vec();
                    bytes.splice(at..at, chunk);
                }
                2 => {
                    let pool = b"{}()[]\"#,:.=-+<>?%\n \\{";
                    let b = pool[rng.below(pool.len())];
                    bytes.insert(at, b);
                }
                _ => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b = rng.next() as u8;
                    }
                }
            }
        }
        if let Ok(f) = parse_bytes(0, &bytes) {
            parsed += 1;
            let out = format(&f);
            let back = parse(0, &out).unwrap_or_else(|e| {
                panic!("{}\n=>\n{out}\n{e:#?}", String::from_utf8_lossy(&bytes))
            });
            assert_eq!(back.items, f.items);
            assert_eq!(format(&back), out);
        }
    }
    assert!(parsed > 0);
}

#[test]
fn a_large_valid_file_parses_in_time() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/history.rules"),
    )
    .unwrap();
    let rules: String = unit
        .split("\nrule ")
        .skip(1)
        .map(|r| format!("\nrule {r}"))
        .collect();
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 512 * 1024 {
        text.push_str(
            &rules
                .replace("rule every_operator", &format!("rule r{i}"))
                .replace("rule bound_history", &format!("rule b{i}")),
        );
        i += 1;
    }
    let f = timed(Duration::from_secs(60), "512 KiB", || {
        parse(0, &text).unwrap()
    });
    assert!(f.items.len() > 100);
}
