#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Parser tests: corpus files, precedence, history, strings, literals, clause errors, syntax
//! error messages (golden), error recovery.

use omnirule_dsl::ast::*;
use omnirule_dsl::diagnostic::Diagnostic;
use omnirule_dsl::parser::{parse, parse_expr};
use omnirule_dsl::source::Source;
use std::path::{Path, PathBuf};

fn dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn rules_files(rel: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir(rel))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    out.sort();
    out
}

fn ok(text: &str) -> SourceFile {
    match parse(0, text) {
        Ok(f) => f,
        Err(ds) => panic!("parse failed:\n{}", render(text, &ds)),
    }
}

fn errs(text: &str) -> Vec<Diagnostic> {
    match parse(0, text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(ds) => ds,
    }
}

/// code line:col: message (the plain rendering used by the syntax golden files).
fn render(text: &str, ds: &[Diagnostic]) -> String {
    let src = Source::new("t", text);
    let mut out = String::new();
    for d in ds {
        let (l, c) = src.line_col(d.span.start as usize);
        out.push_str(&format!("{} {l}:{c}: {}\n", d.code, d.message));
        for s in &d.secondary {
            let (l, c) = src.line_col(s.span.start as usize);
            out.push_str(&format!("  note {l}:{c}: {}\n", s.message));
        }
    }
    out
}

fn expr(text: &str) -> Expr {
    match parse_expr(0, text) {
        Ok(e) => e,
        Err(ds) => panic!("parse_expr({text:?}) failed:\n{}", render(text, &ds)),
    }
}

/// Fully parenthesised rendering of an expression: shows the tree shape.
fn sx(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number(n) => format!("{n}"),
        ExprKind::Bool(b) => format!("{b}"),
        ExprKind::Str(parts) => {
            let mut s = String::from("\"");
            for p in parts {
                match p {
                    StrPart::Text(t) => s.push_str(t),
                    StrPart::Interp(e) => s.push_str(&format!("{{{}}}", sx(e))),
                }
            }
            s + "\""
        }
        ExprKind::Duration(d) => format!("{}{}", d.amount, d.unit.suffix()),
        ExprKind::Date(d) => format!("{}-{}-{}", d.year, d.month, d.day),
        ExprKind::Instant(i) => format!("@{}", i.millis),
        ExprKind::List(xs) => format!("[{}]", xs.iter().map(sx).collect::<Vec<_>>().join(" ")),
        ExprKind::Path(p) => p
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join("."),
        ExprKind::Now => "now".into(),
        ExprKind::Neg(x) => format!("(neg {})", sx(x)),
        ExprKind::Not(x) => format!("(not {})", sx(x)),
        ExprKind::Binary(op, l, r) => format!("({} {} {})", op.symbol(), sx(l), sx(r)),
        ExprKind::IsPresent(x) => format!("(present {})", sx(x)),
        ExprKind::IsMissing(x) => format!("(missing {})", sx(x)),
        ExprKind::Call(f, args) => format!(
            "({}{})",
            f.name,
            args.iter()
                .map(|a| format!(" {}", sx(a)))
                .collect::<String>()
        ),
        ExprKind::History(h) => {
            let mut s = format!("({} {}", h.func.keyword(), h.event.name);
            if let Some(f) = &h.field {
                s += &format!(".{}", f.name);
            }
            if let Some(a) = &h.alias {
                s += &format!(" as {}", a.name);
            }
            if let Some(d) = &h.within {
                s += &format!(" within {}{}", d.amount, d.unit.suffix());
            }
            if let Some(y) = &h.since {
                s += &format!(" since {}", y.name);
            }
            if let Some(f) = &h.filter {
                s += &format!(" where {}", sx(f));
            }
            s + ")"
        }
    }
}

fn shape(text: &str) -> String {
    sx(&expr(text))
}

fn rule(f: &SourceFile, name: &str) -> RuleDef {
    f.items
        .iter()
        .find_map(|i| match i {
            Item::Rule(r) if r.name.name == name => Some(r.clone()),
            _ => None,
        })
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Corpus

#[test]
fn corpus_files_parse() {
    let files = rules_files("tests/corpus");
    assert!(files.len() >= 4);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(ds) = parse(0, &text) {
            panic!("{}:\n{}", path.display(), render(&text, &ds));
        }
    }
}

#[test]
fn repository_examples_parse() {
    let root = dir("../examples");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&path).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "rules") {
                let text = std::fs::read_to_string(&file).unwrap();
                if let Err(ds) = parse(0, &text) {
                    panic!("{}:\n{}", file.display(), render(&text, &ds));
                }
                n += 1;
            }
        }
    }
    assert!(n > 0);
}

#[test]
fn knitwear_example_tree() {
    let text = std::fs::read_to_string(dir("tests/corpus/knitwear.rules")).unwrap();
    let f = ok(&text);
    assert_eq!(f.items.len(), 8);
    assert_eq!(f.comments.len(), 1);
    assert_eq!(f.comments[0].text, " knitwear.rules");
    assert!(f.comments[0].own_line);

    let Item::Schema(schema) = &f.items[0] else {
        panic!()
    };
    assert_eq!(schema.entries.len(), 11);
    let SchemaEntry::Profile(fields, _) = &schema.entries[2] else {
        panic!()
    };
    assert_eq!(fields.len(), 5);
    assert!(fields[0].pii && fields[0].ty.optional);
    assert_eq!(fields[0].ty.kind, TypeKind::String);
    assert!(!fields[2].pii);
    let TypeKind::Set(inner) = &fields[4].ty.kind else {
        panic!()
    };
    assert_eq!(inner.kind, TypeKind::String);
    let SchemaEntry::Retain {
        event, duration, ..
    } = &schema.entries[10]
    else {
        panic!()
    };
    assert_eq!(event.name, "purchase");
    assert_eq!((duration.amount, duration.unit), (365, DurationUnit::Days));

    let r = rule(&f, "sweater_in_store");
    assert_eq!(
        r.title.unwrap().value,
        "Browsed knitwear online, now in a store"
    );
    assert_eq!(r.on.unwrap().0[0].name, "beacon_enter");
    assert_eq!(r.consent.unwrap().0.len(), 2);
    assert_eq!(
        sx(r.when.as_ref().unwrap()),
        "(and (seen page_view as v within 7d where (== v.category \"knitwear\")) \
         (not (seen purchase since v where (== purchase.sku v.sku))))"
    );
    let Some(DoClause::Actions(calls, _)) = &r.action else {
        panic!()
    };
    assert_eq!(calls[0].action.name, "offer");
    let names: Vec<&str> = calls[0]
        .params
        .iter()
        .map(|p| p.name.name.as_str())
        .collect();
    assert_eq!(names, ["code", "sku", "percent", "message"]);
    assert_eq!(
        sx(&calls[0].params[3].value),
        "\"Hi {(?? profile.first_name \"there\")}, the {v.sku} you liked is 20% off here today\""
    );
    let Some(CapClause::Limit { count, per, .. }) = &r.cap else {
        panic!()
    };
    assert_eq!((*count, per.amount, per.unit), (1, 30, DurationUnit::Days));
    assert_eq!(r.priority.unwrap().0, 10);
    assert_eq!(r.group.unwrap().name, "entrance_screen");
    let (a, b, _) = r.active.unwrap();
    assert_eq!(
        (a.year, a.month, a.day, b.year, b.month, b.day),
        (2026, 11, 1, 2027, 1, 31)
    );
    let (h1, h2, _) = r.hours.unwrap();
    assert_eq!((h1.hour, h1.minute, h2.hour, h2.minute), (9, 0, 21, 0));

    let r = rule(&f, "win_back");
    let Some(DoClause::Split {
        name, unit, arms, ..
    }) = &r.action
    else {
        panic!()
    };
    assert_eq!(name.name, "win_back_test");
    assert_eq!(sx(unit), "profile.id");
    assert_eq!(arms.len(), 2);
    assert_eq!((arms[0].percent, arms[0].variant.is_none()), (50.0, true));
    assert_eq!(arms[1].variant.as_ref().unwrap().value, "ten");
    assert_eq!(arms[1].actions[0].params.len(), 3);

    let Item::Test(t) = &f.items[7] else { panic!() };
    assert_eq!(t.name.value, "knitwear browsed online is offered in store");
    assert_eq!(t.profile.as_ref().unwrap().entries.len(), 6);
    assert_eq!(t.steps.len(), 3);
    let TestStep::At {
        time,
        event,
        fields,
        ..
    } = &t.steps[0]
    else {
        panic!()
    };
    assert_eq!(time.millis, 1_795_168_800_000); // 2026-11-20T10:00:00Z
    assert_eq!(time.text, "2026-11-20T10:00Z");
    assert_eq!(event.name, "page_view");
    assert_eq!(fields.entries.len(), 3);
}

#[test]
fn spans_point_at_the_source() {
    let text = "segment vip = profile.tier == \"gold\"\n";
    let f = ok(text);
    let Item::Segment(s) = &f.items[0] else {
        panic!()
    };
    assert_eq!(&text[s.name.span.range()], "vip");
    assert_eq!(&text[s.expr.span.range()], "profile.tier == \"gold\"");
    assert_eq!(
        &text[s.span.range()],
        "segment vip = profile.tier == \"gold\""
    );
    // A rule ending in an optional part: no trailing whitespace or comment in the span.
    let text = "rule r { on a, b   # c\n  do x }";
    let f = ok(text);
    let r = rule(&f, "r");
    assert_eq!(&text[r.on.unwrap().1.range()], "on a, b");
}

// ---------------------------------------------------------------------------------------------
// Precedence

#[test]
fn precedence_tightest_first() {
    assert_eq!(
        shape("event.tag ?? \"none\" == \"none\""),
        "(== (?? event.tag \"none\") \"none\")"
    );
    assert_eq!(shape("a + b * c"), "(+ a (* b c))");
    assert_eq!(shape("a * b ?? c"), "(* a (?? b c))");
    assert_eq!(shape("-a ?? b"), "(?? (neg a) b)");
    assert_eq!(shape("-a.b.c"), "(neg a.b.c)");
    assert_eq!(shape("a - b - c"), "(- (- a b) c)");
    assert_eq!(shape("a / b * c"), "(* (/ a b) c)");
    assert_eq!(shape("a + b < c * d"), "(< (+ a b) (* c d))");
    assert_eq!(shape("not a == b"), "(not (== a b))");
    assert_eq!(shape("not a and b"), "(and (not a) b)");
    assert_eq!(shape("a or b and c"), "(or a (and b c))");
    assert_eq!(shape("a and b or c and d"), "(or (and a b) (and c d))");
    assert_eq!(shape("x in [1, 2] and y"), "(and (in x [1 2]) y)");
    assert_eq!(shape("a + b is present"), "(present (+ a b))");
    assert_eq!(shape("not x is missing"), "(not (missing x))");
    assert_eq!(shape("x is present == true"), "(== (present x) true)");
    assert_eq!(shape("(a or b) and c"), "(and (or a b) c)");
    assert_eq!(shape("- - 3"), "(neg (neg 3))");
    assert_eq!(shape("not not a"), "(not (not a))");
    assert_eq!(shape("a == b == c"), "(== (== a b) c)");
    assert_eq!(
        shape("lower(a ?? \"x\") != upper(b)"),
        "(!= (lower (?? a \"x\")) (upper b))"
    );
    assert_eq!(
        shape("event.category ?? \"none\" == \"none\" or not vip and event.price * 2 > 100"),
        "(or (== (?? event.category \"none\") \"none\") (and (not vip) (> (* event.price 2) 100)))"
    );
    assert_eq!(shape("now - 1d < 2026-12-01"), "(< (- now 1d) 2026-12-1)");
}

#[test]
fn seen_where_takes_one_comparison() {
    assert_eq!(
        shape("seen a as a where a.x == 1 and not seen b since a"),
        "(and (seen a as a where (== a.x 1)) (not (seen b since a)))"
    );
    assert_eq!(
        shape("seen a where a.x == 1 or b"),
        "(or (seen a where (== a.x 1)) b)"
    );
    assert_eq!(
        shape("seen a as v where (v.x == 1 and v.y > 2) and c"),
        "(and (seen a as v where (and (== v.x 1) (> v.y 2))) c)"
    );
    assert_eq!(
        shape("seen a where a.x + 1 > -2 ?? 3"),
        "(seen a where (> (+ a.x 1) (?? (neg 2) 3)))"
    );
    assert_eq!(
        shape("seen a where a.x is present"),
        "(seen a where (present a.x))"
    );
    // `where` with `not` directly after `seen` is not a comparison: parentheses are needed.
    assert!(parse_expr(0, "seen a where not a.x").is_err());
    assert_eq!(shape("seen a where (not a.x)"), "(seen a where (not a.x))");
    // Inside count(...) the filter runs to the closing parenthesis.
    assert_eq!(
        shape("count(a within 1d where a.x == 1 and not a.y or a.z) > 2"),
        "(> (count a within 1d where (or (and (== a.x 1) (not a.y)) a.z)) 2)"
    );
    assert_eq!(
        shape("sum(purchase.amount since v where purchase.amount > 0)"),
        "(sum purchase.amount since v where (> purchase.amount 0))"
    );
    assert_eq!(shape("last(p)"), "(last p)");
    assert_eq!(
        shape("time_since(p within 2h) / 1d"),
        "(/ (time_since p within 2h) 1d)"
    );
    // `count` without parentheses is an ordinary name (a segment).
    assert_eq!(shape("count and sum"), "(and count sum)");
}

#[test]
fn history_misuse_is_reported() {
    let e = parse_expr(0, "sum(purchase)").unwrap_err();
    assert!(e[0].message.contains("`sum` needs the field"), "{e:?}");
    let e = parse_expr(0, "count(purchase.amount)").unwrap_err();
    assert!(e[0].message.contains("takes an event type"), "{e:?}");
    assert!(parse_expr(0, "count(purchase as p)").is_err());
}

// ---------------------------------------------------------------------------------------------
// Strings and literals

#[test]
fn interpolation_and_escapes() {
    assert_eq!(
        shape(r#""Hi {profile.first_name ?? "there"}, {v.sku}!""#),
        r#""Hi {(?? profile.first_name "there")}, {v.sku}!""#
    );
    assert_eq!(shape(r#""{{literal}} {x}}} {{""#), r#""{literal} {x}} {""#);
    assert_eq!(
        shape(r#""a\"b\\c\nd\te\u{1F600}\u{e9}""#),
        "\"a\"b\\c\nd\te\u{1F600}\u{e9}\""
    );
    // Nested interpolation.
    assert_eq!(shape(r#""a{"b{"c{d}"}"}""#), r#""a{"b{"c{d}"}"}""#);
    // Interpolating a whole expression with spaces.
    assert_eq!(shape(r#""{ a + 1 }""#), r#""{(+ a 1)}""#);
    // Adjacent text is merged; the empty string has no parts.
    let ExprKind::Str(parts) = expr(r#""a{{b}}c""#).kind else {
        panic!()
    };
    assert_eq!(parts, vec![StrPart::Text("a{b}c".into())]);
    let ExprKind::Str(parts) = expr(r#""""#).kind else {
        panic!()
    };
    assert!(parts.is_empty());
}

#[test]
fn bad_escapes_and_plain_strings() {
    let e = parse_expr(0, r#""a\qb""#).unwrap_err();
    assert_eq!(e[0].code, "E0008");
    let e = parse_expr(0, r#""\u{D800}""#).unwrap_err();
    assert_eq!(e[0].code, "E0008");
    let e = parse_expr(0, r#""\u{1234567}""#).unwrap_err();
    assert_eq!(e[0].code, "E0008");
    // Titles, timezones, test names and variants cannot interpolate.
    let e = errs("rule r \"hi {x}\" { on a do b }");
    assert_eq!(e[0].code, "E0004");
    assert!(e[0].message.contains("a rule title cannot interpolate"));
}

#[test]
fn every_literal_kind() {
    let n = |t: &str| match expr(t).kind {
        ExprKind::Number(v) => v,
        k => panic!("{k:?}"),
    };
    assert_eq!(n("20"), 20.0);
    assert_eq!(n("0.5"), 0.5);
    assert_eq!(n("007.250"), 7.25);
    assert_eq!(shape("-3"), "(neg 3)");
    assert_eq!(shape("true"), "true");
    assert_eq!(shape("false"), "false");
    assert_eq!(shape("now"), "now");
    assert_eq!(shape("[]"), "[]");
    assert_eq!(shape("[1, \"a\", [2],]"), "[1 \"a\" [2]]");
    for (text, amount, unit) in [
        ("30s", 30, DurationUnit::Seconds),
        ("15m", 15, DurationUnit::Minutes),
        ("2h", 2, DurationUnit::Hours),
        ("7d", 7, DurationUnit::Days),
        ("4w", 4, DurationUnit::Weeks),
    ] {
        let ExprKind::Duration(d) = expr(text).kind else {
            panic!()
        };
        assert_eq!((d.amount, d.unit), (amount, unit));
    }
    let ExprKind::Date(d) = expr("2026-12-01").kind else {
        panic!()
    };
    assert_eq!((d.year, d.month, d.day), (2026, 12, 1));
    let millis = |t: &str| match expr(t).kind {
        ExprKind::Instant(i) => {
            assert_eq!(i.text, t);
            i.millis
        }
        k => panic!("{k:?}"),
    };
    assert_eq!(millis("1970-01-01T00:00Z"), 0);
    assert_eq!(millis("2026-12-01T09:00Z"), 1_796_115_600_000);
    assert_eq!(millis("2026-12-01T09:00:30Z"), 1_796_115_630_000);
    assert_eq!(millis("2026-12-01T10:00+01:00"), 1_796_115_600_000);
    assert_eq!(millis("2026-12-01T03:30-05:30"), 1_796_115_600_000);
    assert_eq!(millis("2028-02-29T00:00Z"), 1_835_395_200_000);
    assert_eq!(millis("1969-12-31T23:59:59Z"), -1000);
    // A subtraction of numbers is not a date when spaced.
    assert_eq!(shape("2026 - 12 - 1"), "(- (- 2026 12) 1)");
}

#[test]
fn bad_literals_are_e0008() {
    for (text, needle) in [
        ("2026-02-29", "February 2026 has 28 days"),
        ("2026-13-01", "month"),
        ("2026-04-31", "April 2026 has 30 days"),
        ("2026-00-10", "month"),
        ("2026-12-01T24:00Z", "hour"),
        ("2026-12-01T10:60Z", "minute"),
        ("2026-12-01T10:00:61Z", "second"),
        ("2026-12-01T10:00+24:00", "offset"),
        ("99999999999999999999d", "too large"),
        (
            "1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "too large",
        ),
    ] {
        let e = parse_expr(0, text).unwrap_err();
        assert_eq!(e[0].code, "E0008", "{text}");
        assert!(e[0].message.contains(needle), "{text}: {}", e[0].message);
    }
    let hours = |h: &str| parse(0, &format!("rule r {{ on a do b hours {h} }}"));
    assert!(hours("09:00 .. 24:00").is_ok());
    assert!(hours("00:00 .. 23:59").is_ok());
    for bad in [
        "24:00 .. 09:00",
        "09:00 .. 24:01",
        "25:00 .. 26:00",
        "09:60 .. 10:00",
    ] {
        let e = hours(bad).unwrap_err();
        assert_eq!(e[0].code, "E0008", "{bad}");
    }
    let e = errs("rule r { on a do b active 2026-11-31 .. 2027-01-01 }");
    assert_eq!(e[0].code, "E0008");
    assert!(e[0].message.contains("November 2026 has 30 days"));
    let e = errs("rule r { on a do b limit 99999999999999999999 per 1d }");
    assert_eq!(e[0].code, "E0008");
    let e = errs("rule r { on a do b priority -99999999999999999999 }");
    assert_eq!(e[0].code, "E0008");
}

// ---------------------------------------------------------------------------------------------
// Rules, clauses, schema

#[test]
fn clauses_in_any_order_and_every_form() {
    let f = ok(r#"
rule r "t" {
  days mon .. wed, sat, fri .. sun
  hours 22:00 .. 02:00
  active 2026-01-01 .. 2026-12-31
  group g
  priority -7
  once
  do a { x: 1 }, b {}, c
  when true
  consent p, q
  on e1, e2, e3
}
group g limit 3 per 2h
group h once
group i
"#);
    let r = rule(&f, "r");
    assert_eq!(r.on.unwrap().0.len(), 3);
    assert_eq!(r.priority.unwrap().0, -7);
    assert!(matches!(r.cap, Some(CapClause::Once(_))));
    let (days, _) = r.days.unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(
        (days[0].from, days[0].to),
        (Weekday::Mon, Some(Weekday::Wed))
    );
    assert_eq!((days[1].from, days[1].to), (Weekday::Sat, None));
    assert_eq!(
        (days[2].from, days[2].to),
        (Weekday::Fri, Some(Weekday::Sun))
    );
    let Some(DoClause::Actions(calls, _)) = r.action else {
        panic!()
    };
    assert_eq!(calls.len(), 3);
    assert!(calls[1].params.is_empty() && calls[2].params.is_empty());
    let groups: Vec<&GroupDef> = f
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Group(g) => Some(g),
            _ => None,
        })
        .collect();
    assert!(matches!(
        groups[0].limit,
        Some(CapClause::Limit { count: 3, .. })
    ));
    assert!(matches!(groups[1].limit, Some(CapClause::Once(_))));
    assert!(groups[2].limit.is_none());
}

#[test]
fn split_arms() {
    let f = ok(r#"rule r { on e do split t by profile.id {
        12.5% control
        37.5% "a": x { p: 1 }
        50% "b": x { p: 2 }, y { q: "z" }
    } }"#);
    let Some(DoClause::Split { arms, .. }) = rule(&f, "r").action else {
        panic!()
    };
    assert_eq!(arms.len(), 3);
    assert_eq!(arms[0].percent, 12.5);
    assert!(arms[0].actions.is_empty());
    assert_eq!(arms[2].actions.len(), 2);
}

#[test]
fn field_names_may_be_keywords_but_names_may_not() {
    // Keywords are fine after `.` and before `:`.
    let f = ok(r#"
schema {
  event e { limit: number, on: string, group: string, store: string }
  action offer { code: string, slot: string, template: string, message: string, percent: number }
}
rule r { on e when event.limit > 1 and event.on == "x" and profile.tier == "gold"
  do offer { code: "C", slot: "s", template: "t", message: "m", percent: 1, when: 2 } }
"#);
    assert_eq!(f.items.len(), 2);
    // ... but not as names.
    let e = errs("segment limit = true");
    assert_eq!(e[0].code, "E0004");
    let e = errs("rule r { on once do x }");
    assert_eq!(e[0].code, "E0004");
    // `once` is not `on` + `ce`.
    let r = rule(&ok("rule r { once on ce do x }"), "r");
    assert!(matches!(r.cap, Some(CapClause::Once(_))));
    assert_eq!(r.on.unwrap().0[0].name, "ce");
}

#[test]
fn schema_fields_by_comma_or_newline() {
    let f = ok(
        "schema {\n  profile {\n    a: string\n    b: number, c: bool,\n    d: list<set<time>>? pii\n    pii: duration\n  }\n}\n",
    );
    let Item::Schema(s) = &f.items[0] else {
        panic!()
    };
    let SchemaEntry::Profile(fields, _) = &s.entries[0] else {
        panic!()
    };
    let names: Vec<&str> = fields.iter().map(|f| f.name.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "pii"]);
    assert!(fields[3].pii && fields[3].ty.optional && !fields[4].pii);
    // Two fields on one line need a comma.
    let e = errs("schema { event e { a: string b: number } }");
    assert_eq!(e[0].code, "E0004");
    assert!(e[0].message.contains("expected `,` or a new line"));
    let e = errs("test \"t\" { at 2026-01-01T00:00Z e { a: 1 b: 2 } }");
    assert!(e[0].message.contains("expected `,` or a new line"));
}

#[test]
fn duplicate_clauses_are_e0007_and_parsing_goes_on() {
    let text = "rule r {\n  on a\n  when x\n  do b\n  when y\n  once\n  limit 1 per 1d\n}\nrule s { on a on b do c }\n";
    let e = errs(text);
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e.iter().all(|d| d.code == "E0007"));
    assert_eq!(e[0].message, "rule `r` has more than one `when` clause");
    assert_eq!(&text[e[0].span.range()], "when y");
    assert_eq!(&text[e[0].secondary[0].span.range()], "when x");
    assert_eq!(
        e[1].message,
        "rule `r` has more than one `limit`/`once` clause"
    );
    assert_eq!(e[2].message, "rule `s` has more than one `on` clause");
    let e = errs("test \"t\" { profile {} profile {} }");
    assert_eq!(e[0].code, "E0007");
}

#[test]
fn test_steps() {
    let f = ok(r#"test "t" {
  at 2026-11-20T10:00Z e
  expect no
  expect no x { a: 1 }
  expect nothing
  expect y {}
  profile { id: "c" }
}"#);
    let Item::Test(t) = &f.items[0] else { panic!() };
    assert!(t.profile.is_some());
    assert!(matches!(&t.steps[0], TestStep::At { fields, .. } if fields.entries.is_empty()));
    // `expect no` followed by a step: `no` is an action name.
    assert!(
        matches!(&t.steps[1], TestStep::Expect { action, params: None, .. } if action.name == "no")
    );
    assert!(
        matches!(&t.steps[2], TestStep::ExpectNo { action, params: Some(p), .. } if action.name == "x" && p.entries.len() == 1)
    );
    assert!(matches!(&t.steps[3], TestStep::ExpectNothing(_)));
    assert!(
        matches!(&t.steps[4], TestStep::Expect { params: Some(p), .. } if p.entries.is_empty())
    );
}

#[test]
fn comments_are_collected_with_layout() {
    let text = "# head\n\nrule r { # open\n  on a # after on\n  # own\n  do b \"# not a comment\" \n}\n# tail";
    let text = text.replace(" \"# not a comment\" ", " { s: \"# not {1} a comment\" }");
    let f = ok(&text);
    let c: Vec<(&str, bool, bool)> = f
        .comments
        .iter()
        .map(|c| (c.text.as_str(), c.own_line, c.blank_after))
        .collect();
    assert_eq!(
        c,
        [
            (" head", true, true),
            (" open", false, false),
            (" after on", false, false),
            (" own", true, false),
            (" tail", true, false)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Syntax errors

#[test]
fn syntax_error_names_what_was_expected() {
    let e = errs("rule r {\n  on a\n  wen x\n}\n");
    assert_eq!(e[0].code, "E0004");
    assert_eq!(
        render("rule r {\n  on a\n  wen x\n}\n", &e[..1]),
        "E0004 3:3: expected `}`, `,` or a clause (`on`, `consent`, `when`, `do`, `limit`, ...), found `wen`\n"
    );
}

#[test]
fn unterminated_string_points_at_the_quote() {
    let text = "rule r {\n  on a\n  do b { t: \"oops }\n}\n";
    let e = errs(text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].code, "E0005");
    assert_eq!(e[0].span.start as usize, text.find('"').unwrap());
    // In an interpolation, the inner string is reported.
    let text = "segment s = \"a {\"b}\"\n";
    let e = errs(text);
    assert_eq!(e[0].code, "E0005");
}

#[test]
fn recovery_reports_several_syntax_errors() {
    let text = "rule a {\n  on x\n  when ==\n}\n\nrule b {\n  on y\n  do z\n}\n\nsegment c = (1 +\n\ngroup d limit per 1d\n\nrule e { on x do y z }\n";
    let e = errs(text);
    let lines: Vec<usize> = e
        .iter()
        .map(|d| Source::new("t", text).line_col(d.span.start as usize).0)
        .collect();
    assert_eq!(lines, [3, 13, 13, 15], "{}", render(text, &e));
}

/// Golden syntax errors: tests/golden/syntax/*.rules → *.txt (`UPDATE_GOLDEN=1` rewrites).
#[test]
fn golden_syntax_errors() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let files = rules_files("tests/golden/syntax");
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let got = match parse(0, &text) {
            Ok(_) => "ok\n".to_string(),
            Err(ds) => render(&text, &ds),
        };
        let expected_path = path.with_extension("txt");
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
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A valid file is parsed without pest's error detail and a failing one again with it; the
/// setting is process-wide, so parses on several threads at once (valid and failing mixed)
/// must still give every failing file its golden, detailed message.
#[test]
fn syntax_errors_are_the_same_when_parses_run_at_once() {
    let mut cases: Vec<(String, String)> = rules_files("tests/golden/syntax")
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let expected = std::fs::read_to_string(p.with_extension("txt")).unwrap();
            (text, expected)
        })
        .collect();
    for p in rules_files("tests/corpus") {
        cases.push((std::fs::read_to_string(p).unwrap(), "ok\n".to_string()));
    }
    std::thread::scope(|s| {
        for t in 0..4 {
            let cases = &cases;
            s.spawn(move || {
                for round in 0..25 {
                    for (i, (text, expected)) in cases.iter().enumerate() {
                        // Each thread walks the cases in its own order.
                        if (i + t + round) % 2 == 0 {
                            continue;
                        }
                        let got = match parse(0, text) {
                            Ok(_) => "ok\n".to_string(),
                            Err(ds) => render(text, &ds),
                        };
                        assert_eq!(&got, expected, "thread {t}, round {round}:\n{text}");
                    }
                }
            });
        }
    });
}
