#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Formatter tests: golden files, round trip, idempotence, random ASTs (proptest).

use omnirule_dsl::ast::*;
use omnirule_dsl::format::format;
use omnirule_dsl::parser::parse;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn rules_files(rel: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir(rel)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    out.sort();
    out
}

fn parse_ok(what: &str, text: &str) -> SourceFile {
    match parse(0, text) {
        Ok(f) => f,
        Err(ds) => panic!("{what}: parse failed: {ds:#?}\n{text}"),
    }
}

/// format → parse gives the same tree, the same comments (as a multiset: clause reordering
/// may reorder them), and formatting again changes nothing.
fn check_round_trip(what: &str, text: &str) -> String {
    let a = parse_ok(what, text);
    let once = format(&a);
    let b = parse_ok(&format!("{what} (formatted)"), &once);
    assert_eq!(
        a.items, b.items,
        "{what}: tree changed by formatting\n{once}"
    );
    let texts = |f: &SourceFile| {
        let mut t: Vec<String> = f.comments.iter().map(|c| c.text.clone()).collect();
        t.sort();
        t
    };
    assert_eq!(texts(&a), texts(&b), "{what}: comments changed\n{once}");
    let twice = format(&b);
    assert_eq!(once, twice, "{what}: not idempotent");
    once
}

#[test]
fn golden_format() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let files = rules_files("tests/golden/format");
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let got = check_round_trip(&path.display().to_string(), &text);
        let expected_path = path.with_extension("formatted");
        if update {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                path.display()
            ));
        }
        // The expected output is itself canonical.
        assert_eq!(format(&parse_ok("expected", &expected)), expected);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn corpus_and_examples_round_trip() {
    let mut files = rules_files("tests/corpus");
    assert!(files.len() >= 4);
    if let Ok(entries) = std::fs::read_dir(dir("../examples")) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                files.extend(
                    std::fs::read_dir(&p)
                        .unwrap()
                        .map(|f| f.unwrap().path())
                        .filter(|f| f.extension().is_some_and(|e| e == "rules")),
                );
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        check_round_trip(&path.display().to_string(), &text);
    }
}

#[test]
fn layout_details() {
    let f = |t: &str| format(&parse_ok(t, t));
    assert_eq!(f("segment s = 20.0 + 0.50"), "segment s = 20 + 0.5\n");
    assert_eq!(
        f("segment s = ((a and b)) or (c)"),
        "segment s = a and b or c\n"
    );
    assert_eq!(
        f("segment s = (a or b) and c"),
        "segment s = (a or b) and c\n"
    );
    assert_eq!(f("segment s = a - (b - c)"), "segment s = a - (b - c)\n");
    assert_eq!(f("segment s = (a - b) - c"), "segment s = a - b - c\n");
    assert_eq!(f("segment s = -(-x)"), "segment s = --x\n");
    assert_eq!(f("segment s = (not a) == b"), "segment s = (not a) == b\n");
    assert_eq!(
        f("segment s = a == (b is present)"),
        "segment s = a == (b is present)\n"
    );
    // A compound seen-where filter keeps its parentheses; a seen-where that a comparison
    // follows gets its own.
    assert_eq!(
        f("segment s = seen a where (a.x == 1 and a.y == 2)"),
        "segment s = seen a where (a.x == 1 and a.y == 2)\n"
    );
    assert_eq!(
        f("segment s = (seen a where a.x == 1) == false"),
        "segment s = (seen a where a.x == 1) == false\n"
    );
    assert_eq!(
        f("segment s = x == (seen a where a.x == 1)"),
        "segment s = x == seen a where a.x == 1\n"
    );
    assert_eq!(
        f("segment s = (x == (seen a where a.x == 1)) == y"),
        "segment s = x == (seen a where a.x == 1) == y\n"
    );
    assert_eq!(
        f("segment s = \"a\\u{7}\\\"{{}}{x}\""),
        "segment s = \"a\\u{7}\\\"{{}}{x}\"\n"
    );
    assert_eq!(
        f("group a\ngroup b once\nsegment c = d"),
        "group a\ngroup b once\n\nsegment c = d\n"
    );
    assert_eq!(f("rule r {}"), "rule r {}\n");
    assert_eq!(f("# only a comment"), "# only a comment\n");
    assert_eq!(f(""), "");
}

// ---------------------------------------------------------------------------------------------
// Random ASTs

fn sp() -> Span {
    Span::default()
}

fn id(name: &str) -> Ident {
    Ident {
        name: name.to_string(),
        span: sp(),
    }
}

fn e(kind: ExprKind) -> Expr {
    Expr { kind, span: sp() }
}

fn arb_name() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        Just("a".to_string()),
        Just("sku".to_string()),
        Just("v".to_string()),
        Just("count".to_string()),
        Just("_x9".to_string()),
        Just("mon".to_string()),
        Just("string".to_string()),
        Just("pii".to_string()),
    ]
}

/// Names usable after `.` or before `:` (keywords included).
fn arb_field() -> impl Strategy<Value = String> {
    prop_oneof![
        arb_name(),
        Just("limit".to_string()),
        Just("on".to_string()),
        Just("time".to_string()),
        Just("event".to_string()),
    ]
}

fn arb_duration() -> impl Strategy<Value = DurationLit> {
    (
        0u64..100_000,
        prop_oneof![
            Just(DurationUnit::Seconds),
            Just(DurationUnit::Minutes),
            Just(DurationUnit::Hours),
            Just(DurationUnit::Days),
            Just(DurationUnit::Weeks),
        ],
    )
        .prop_map(|(amount, unit)| DurationLit {
            amount,
            unit,
            span: sp(),
        })
}

fn arb_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("\t".to_string()),
            Just("\u{7}".to_string()),
            Just("é😀".to_string()),
            Just("# not a comment".to_string()),
            "[a-z ]{1,5}",
        ],
        1..4,
    )
    .prop_map(|v| v.concat())
}

fn arb_leaf() -> BoxedStrategy<Expr> {
    prop_oneof![
        prop_oneof![
            (0u32..1000).prop_map(f64::from),
            (0u32..10_000).prop_map(|n| f64::from(n) / 8.0),
            Just(0.1),
            Just(1e21),
            Just(123_456_789.123),
        ]
        .prop_map(|n| e(ExprKind::Number(n))),
        any::<bool>().prop_map(|b| e(ExprKind::Bool(b))),
        arb_text().prop_map(|t| e(ExprKind::Str(vec![StrPart::Text(t)]))),
        Just(e(ExprKind::Str(vec![]))),
        arb_duration().prop_map(|d| e(ExprKind::Duration(d))),
        (2000i32..2100, 1u8..13, 1u8..29).prop_map(|(year, month, day)| e(ExprKind::Date(
            DateLit {
                year,
                month,
                day,
                span: sp()
            }
        ))),
        Just(e(ExprKind::Instant(InstantLit {
            millis: 1_796_115_630_000,
            text: "2026-12-01T10:00:30+01:00".into(),
            span: sp()
        }))),
        Just(e(ExprKind::Now)),
        (
            prop_oneof![
                Just("profile".to_string()),
                Just("event".to_string()),
                arb_name()
            ],
            proptest::collection::vec(arb_field(), 0..3)
        )
            .prop_map(|(root, rest)| {
                let mut segs = vec![id(&root)];
                segs.extend(rest.iter().map(|s| id(s)));
                e(ExprKind::Path(segs))
            }),
    ]
    .boxed()
}

fn arb_op() -> impl Strategy<Value = BinOp> {
    prop_oneof![
        Just(BinOp::Or),
        Just(BinOp::And),
        Just(BinOp::Eq),
        Just(BinOp::Ne),
        Just(BinOp::Lt),
        Just(BinOp::Le),
        Just(BinOp::Gt),
        Just(BinOp::Ge),
        Just(BinOp::In),
        Just(BinOp::Add),
        Just(BinOp::Sub),
        Just(BinOp::Mul),
        Just(BinOp::Div),
        Just(BinOp::Coalesce),
    ]
}

fn arb_expr() -> BoxedStrategy<Expr> {
    arb_leaf()
        .prop_recursive(5, 48, 4, |inner| {
            let hist = (
                0usize..5,
                arb_name(),
                arb_field(),
                proptest::option::of(arb_name()),
                proptest::option::of(arb_duration()),
                proptest::option::of(arb_name()),
                proptest::option::of(inner.clone()),
            )
                .prop_map(|(f, event, field, alias, within, since, filter)| {
                    let func = [
                        HistoryFunc::Seen,
                        HistoryFunc::Count,
                        HistoryFunc::Sum,
                        HistoryFunc::Last,
                        HistoryFunc::TimeSince,
                    ][f];
                    e(ExprKind::History(HistoryExpr {
                        func,
                        event: id(&event),
                        field: (func == HistoryFunc::Sum).then(|| id(&field)),
                        alias: if func == HistoryFunc::Seen {
                            alias.map(|a| id(&a))
                        } else {
                            None
                        },
                        within,
                        since: since.map(|s| id(&s)),
                        filter: filter.map(Box::new),
                    }))
                });
            prop_oneof![
                (arb_op(), inner.clone(), inner.clone())
                    .prop_map(|(op, l, r)| e(ExprKind::Binary(op, Box::new(l), Box::new(r)))),
                inner.clone().prop_map(|x| e(ExprKind::Not(Box::new(x)))),
                inner.clone().prop_map(|x| e(ExprKind::Neg(Box::new(x)))),
                inner
                    .clone()
                    .prop_map(|x| e(ExprKind::IsPresent(Box::new(x)))),
                inner
                    .clone()
                    .prop_map(|x| e(ExprKind::IsMissing(Box::new(x)))),
                proptest::collection::vec(inner.clone(), 0..3).prop_map(|v| e(ExprKind::List(v))),
                (
                    prop_oneof![Just("lower"), Just("contains"), Just("f")],
                    proptest::collection::vec(inner.clone(), 0..3)
                )
                    .prop_map(|(f, args)| e(ExprKind::Call(id(f), args))),
                // Strings with interpolation (normalised: no empty or adjacent text parts).
                (arb_text(), inner.clone(), proptest::option::of(arb_text())).prop_map(
                    |(a, x, b)| {
                        let mut parts = vec![StrPart::Text(a), StrPart::Interp(x)];
                        if let Some(b) = b {
                            parts.push(StrPart::Text(b));
                        }
                        e(ExprKind::Str(parts))
                    }
                ),
                hist,
            ]
        })
        .boxed()
}

fn arb_params() -> BoxedStrategy<Vec<Param>> {
    proptest::collection::vec((arb_field(), arb_expr()), 0..4)
        .prop_map(|v| {
            v.into_iter()
                .map(|(n, value)| Param {
                    name: id(&n),
                    value,
                    span: sp(),
                })
                .collect()
        })
        .boxed()
}

fn arb_call() -> BoxedStrategy<ActionCall> {
    (arb_name(), arb_params())
        .prop_map(|(a, params)| ActionCall {
            action: id(&a),
            params,
            span: sp(),
        })
        .boxed()
}

fn arb_weekday() -> impl Strategy<Value = Weekday> {
    (0usize..7).prop_map(|i| Weekday::ALL[i])
}

fn arb_rule() -> BoxedStrategy<RuleDef> {
    let names = || {
        proptest::collection::vec(arb_name(), 1..3)
            .prop_map(|v| (v.iter().map(|n| id(n)).collect::<Vec<Ident>>(), sp()))
    };
    let do_clause = prop_oneof![
        proptest::collection::vec(arb_call(), 1..3).prop_map(|c| DoClause::Actions(c, sp())),
        (
            arb_name(),
            arb_expr(),
            proptest::collection::vec(
                (
                    (0u32..10_000).prop_map(|n| f64::from(n) / 100.0),
                    proptest::option::of((arb_text(), proptest::collection::vec(arb_call(), 1..3)))
                ),
                0..4
            )
        )
            .prop_map(|(name, unit, arms)| DoClause::Split {
                name: id(&name),
                unit,
                arms: arms
                    .into_iter()
                    .map(|(percent, v)| match v {
                        Some((variant, actions)) => SplitArm {
                            percent,
                            variant: Some(StringLit {
                                value: variant,
                                span: sp()
                            }),
                            actions,
                            span: sp(),
                        },
                        None => SplitArm {
                            percent,
                            variant: None,
                            actions: vec![],
                            span: sp(),
                        },
                    })
                    .collect(),
                span: sp(),
            }),
    ]
    .boxed();
    let cap = prop_oneof![
        (0u64..100, arb_duration()).prop_map(|(count, per)| CapClause::Limit {
            count,
            per,
            span: sp()
        }),
        Just(CapClause::Once(sp())),
    ];
    let clock = |max: u8| {
        (0u8..max, 0u8..60).prop_map(|(hour, minute)| ClockLit {
            hour,
            minute,
            span: sp(),
        })
    };
    let date = (2000i32..2100, 1u8..13, 1u8..29).prop_map(|(year, month, day)| DateLit {
        year,
        month,
        day,
        span: sp(),
    });
    (
        (arb_name(), proptest::option::of(arb_text())),
        (
            proptest::option::of(names()),
            proptest::option::of(names()),
            proptest::option::of(arb_expr()),
            proptest::option::of(do_clause),
            proptest::option::of(cap),
            proptest::option::of(-1000i64..1000),
        )
            .boxed(),
        (
            proptest::option::of(arb_name()),
            proptest::option::of((date.clone(), date)),
            proptest::option::of((clock(24), clock(24))),
            proptest::option::of(proptest::collection::vec(
                (arb_weekday(), proptest::option::of(arb_weekday())),
                1..3,
            )),
        )
            .boxed(),
        proptest::collection::vec(arb_goal(), 0..3),
    )
        .prop_map(
            |(
                (name, title),
                (on, consent, when, action, cap, priority),
                (group, active, hours, days),
                goals,
            )| {
                RuleDef {
                    name: id(&name),
                    title: title.map(|value| StringLit { value, span: sp() }),
                    on,
                    consent,
                    when,
                    action,
                    cap,
                    priority: priority.map(|p| (p, sp())),
                    group: group.map(|g| id(&g)),
                    active: active.map(|(a, b)| (a, b, sp())),
                    hours: hours.map(|(a, b)| (a, b, sp())),
                    days: days.map(|d| {
                        (
                            d.into_iter()
                                .map(|(from, to)| DaySpec {
                                    from,
                                    to,
                                    span: sp(),
                                })
                                .collect(),
                            sp(),
                        )
                    }),
                    goals,
                    span: sp(),
                }
            },
        )
        .boxed()
}

/// `goal E [as N] [within D] [value F] [primary] [where C]`: every part optional but the
/// event, as the parser accepts it (the checker wants `within`).
fn arb_goal() -> impl Strategy<Value = GoalClause> {
    (
        arb_name(),
        proptest::option::of(arb_name()),
        proptest::option::of(arb_duration()),
        proptest::option::of(arb_name()),
        any::<bool>(),
        proptest::option::of(arb_expr()),
    )
        .prop_map(
            |(event, alias, within, value, primary, filter)| GoalClause {
                event: id(&event),
                alias: alias.map(|a| id(&a)),
                within,
                value: value.map(|v| id(&v)),
                primary: primary.then(sp),
                filter,
                span: sp(),
            },
        )
}

fn arb_item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (arb_name(), arb_expr()).prop_map(|(n, expr)| Item::Segment(SegmentDef {
            name: id(&n),
            expr,
            span: sp()
        })),
        arb_rule().prop_map(Item::Rule),
    ]
}

fn check_ast(file: &SourceFile) -> Result<(), TestCaseError> {
    let once = format(file);
    let back = match parse(0, &once) {
        Ok(b) => b,
        Err(ds) => return Err(TestCaseError::fail(format!("{ds:#?}\n{once}"))),
    };
    prop_assert_eq!(&back.items, &file.items, "formatted:\n{}", once);
    prop_assert_eq!(format(&back), once);
    Ok(())
}

/// Runs a property on a thread with a large stack: proptest's deeply nested strategy types
/// need more than the 2 MiB of a test thread in debug builds (the parser and formatter do not).
fn run_property<S>(make: fn() -> S, check: fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy + 'static,
{
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
                cases: 256,
                ..ProptestConfig::default()
            });
            if let Err(e) = runner.run(&make(), check) {
                panic!("{e}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn random_expressions_round_trip() {
    run_property(arb_expr, |expr| {
        check_ast(&SourceFile {
            items: vec![Item::Segment(SegmentDef {
                name: id("s"),
                expr,
                span: sp(),
            })],
            comments: vec![],
        })
    });
}

#[test]
fn random_files_round_trip() {
    run_property(
        || proptest::collection::vec(arb_item(), 1..4),
        |items| {
            check_ast(&SourceFile {
                items,
                comments: vec![],
            })
        },
    );
}
