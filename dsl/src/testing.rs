//! Runs the `test` blocks of a rule set against its compiled bundle.
//!
//! Each test starts from empty memory with its `profile`, feeds its `at` events in order
//! through the real engine (the same code every runtime uses), and checks each `expect` line
//! against the decisions of the event just before it (`expect conversion` against the goals
//! it met). Test events go through the engine's
//! wire-format parser, so a test cannot pass with an event a host would reject.

use crate::ast::{Expr, ExprKind, ObjectLit, Span, StrPart, TestDef, TestStep};
use omnirule_engine::bundle::Bundle;
use omnirule_engine::decision::Conversion;
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use omnirule_engine::{Decision, evaluate};
use serde_json::{Map, Value};

/// The outcome of one test block.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub name: String,
    pub span: Span,
    /// Empty when the test passed.
    pub failures: Vec<TestFailure>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct TestFailure {
    /// The failing step.
    pub span: Span,
    pub message: String,
    /// The decisions the step was checked against.
    pub actual: Vec<Decision>,
}

/// The customer id used when a test's profile does not give one.
pub const DEFAULT_TEST_CUSTOMER: &str = "test-customer";

pub fn run_tests(tests: &[TestDef], bundle: &Bundle) -> Vec<TestResult> {
    tests.iter().map(|t| run_test(t, bundle)).collect()
}

pub fn run_test(test: &TestDef, bundle: &Bundle) -> TestResult {
    let mut result = TestResult {
        name: test.name.value.clone(),
        span: test.span,
        failures: Vec::new(),
    };
    let mut profile_json = test.profile.as_ref().map_or_else(Map::new, object);
    profile_json
        .entry("id")
        .or_insert_with(|| Value::String(DEFAULT_TEST_CUSTOMER.into()));
    let profile = match Profile::from_json(bundle, &Value::Object(profile_json)) {
        Ok(p) => p,
        Err(e) => {
            result.failures.push(TestFailure {
                span: test.profile.as_ref().map_or(test.span, |p| p.span),
                message: format!("the test's profile is not valid: {e}"),
                actual: Vec::new(),
            });
            return result;
        }
    };
    let mut memory = Memory::default();
    let mut last: Option<Vec<Decision>> = None;
    let mut converted: Vec<Conversion> = Vec::new();
    let mut n = 0usize;
    for step in &test.steps {
        let fail = |span: Span, message: String, actual: &[Decision]| TestFailure {
            span,
            message,
            actual: actual.to_vec(),
        };
        match step {
            TestStep::At {
                time,
                event,
                fields,
                span,
            } => {
                n += 1;
                let mut json = object(fields);
                json.entry("id")
                    .or_insert_with(|| Value::String(format!("e{n}")));
                json.insert("type".into(), Value::String(event.name.clone()));
                json.insert("time".into(), Value::from(time.millis));
                let ev = match Event::from_json(bundle, &Value::Object(json)) {
                    Ok(e) => e,
                    Err(e) => {
                        result.failures.push(fail(
                            *span,
                            format!("the event is not valid: {e}"),
                            &[],
                        ));
                        return result;
                    }
                };
                let out = evaluate(bundle, &memory, &profile, &ev);
                memory = out.memory;
                last = Some(out.decisions);
                converted = out.conversions;
            }
            TestStep::ExpectConversion {
                rule,
                fields,
                negated,
                span,
            } => {
                if last.is_none() {
                    result.failures.push(fail(
                        *span,
                        "`expect` comes before any event".into(),
                        &[],
                    ));
                    continue;
                }
                let want = fields.as_ref().map(object).unwrap_or_default();
                let found = converted.iter().any(|c| {
                    *c.rule == *rule.name
                        && want.iter().all(|(k, v)| {
                            let got = c.to_json();
                            match (k.as_str(), v) {
                                // Instants compare as instants, whatever their offset.
                                ("exposed_at", Value::String(s)) => {
                                    omnirule_text::time::parse_time(s).ok() == Some(c.exposed_at)
                                }
                                _ => got.get(k).is_some_and(|g| same(g, v)),
                            }
                        })
                });
                if found == *negated {
                    let got: Vec<Value> = converted.iter().map(Conversion::to_json).collect();
                    result.failures.push(fail(
                        *span,
                        format!(
                            "expected {}conversion for `{}`{}; the event met: {}",
                            if *negated { "no " } else { "a " },
                            rule.name,
                            describe(&want),
                            if got.is_empty() {
                                "no goal".to_string()
                            } else {
                                Value::Array(got).to_string()
                            }
                        ),
                        last.as_deref().unwrap_or_default(),
                    ));
                }
            }
            TestStep::Expect {
                action,
                params,
                span,
            } => {
                let Some(decisions) = &last else {
                    result.failures.push(fail(
                        *span,
                        "`expect` comes before any event".into(),
                        &[],
                    ));
                    continue;
                };
                let want = params.as_ref().map(object).unwrap_or_default();
                if !decisions.iter().any(|d| matches(d, &action.name, &want)) {
                    result.failures.push(fail(
                        *span,
                        format!("expected a decision `{}`{}", action.name, describe(&want)),
                        decisions,
                    ));
                }
            }
            TestStep::ExpectNo {
                action,
                params,
                span,
            } => {
                let Some(decisions) = &last else {
                    result.failures.push(fail(
                        *span,
                        "`expect` comes before any event".into(),
                        &[],
                    ));
                    continue;
                };
                let want = params.as_ref().map(object).unwrap_or_default();
                if decisions.iter().any(|d| matches(d, &action.name, &want)) {
                    result.failures.push(fail(
                        *span,
                        format!("expected no decision `{}`{}", action.name, describe(&want)),
                        decisions,
                    ));
                }
            }
            TestStep::ExpectNothing(span) => match &last {
                None => {
                    result
                        .failures
                        .push(fail(*span, "`expect` comes before any event".into(), &[]))
                }
                Some(d) if !d.is_empty() => {
                    result
                        .failures
                        .push(fail(*span, "expected no decision at all".into(), d))
                }
                Some(_) => {}
            },
        }
    }
    result
}

/// A decision matches when it is for `action` and every listed param is present and equal.
fn matches(d: &Decision, action: &str, want: &Map<String, Value>) -> bool {
    d.action.as_deref() == Some(action)
        && want
            .iter()
            .all(|(k, v)| d.params.get(k).is_some_and(|got| same(got, v)))
}

/// JSON equality with numbers compared as numbers (`20` equals `20.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

fn describe(want: &Map<String, Value>) -> String {
    if want.is_empty() {
        String::new()
    } else {
        format!(" with {}", Value::Object(want.clone()))
    }
}

fn object(o: &ObjectLit) -> Map<String, Value> {
    o.entries
        .iter()
        .map(|p| (p.name.name.clone(), literal(&p.value)))
        .collect()
}

/// A test literal as wire-format JSON (the checker already refused non-literals). Instants
/// become RFC 3339 strings, which is how decisions carry times; durations are milliseconds.
fn literal(e: &Expr) -> Value {
    match &e.kind {
        ExprKind::Number(n) => number(*n),
        ExprKind::Neg(x) => match &x.kind {
            ExprKind::Number(n) => number(-n),
            _ => Value::Null,
        },
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::Str(parts) => Value::String(
            parts
                .iter()
                .filter_map(|p| match p {
                    StrPart::Text(t) => Some(t.as_str()),
                    StrPart::Interp(_) => None,
                })
                .collect(),
        ),
        ExprKind::Duration(d) => Value::from(d.millis()),
        ExprKind::Instant(i) => Value::String(omnirule_text::time::format_time(i.millis)),
        ExprKind::List(items) => Value::Array(items.iter().map(literal).collect()),
        _ => Value::Null,
    }
}

fn number(n: f64) -> Value {
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}
