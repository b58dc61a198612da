//! `omnirule test --format json|junit`: the test blocks' outcomes for machines: one JSON
//! document, or JUnit XML (what CI systems show as a test report). The human form is printed
//! as the tests run (`main.rs`).

use serde_json::{Value, json};

/// One test block's outcome.
pub struct Case {
    /// The rule set (path) it belongs to.
    pub suite: String,
    pub name: String,
    pub failures: Vec<Failure>,
}

pub struct Failure {
    /// `file:line:column`
    pub at: String,
    pub message: String,
    /// The decisions of the step it failed on, as JSON.
    pub actual: Vec<Value>,
}

/// A rule set that did not compile (its diagnostics went to standard error).
pub struct Broken {
    pub suite: String,
}

pub fn json(cases: &[Case], broken: &[Broken]) -> String {
    let passed = cases.iter().filter(|c| c.failures.is_empty()).count();
    let value = json!({
        "passed": passed,
        "failed": cases.len() - passed + broken.len(),
        "does_not_compile": broken.iter().map(|b| &b.suite).collect::<Vec<_>>(),
        "tests": cases.iter().map(|c| json!({
            "suite": c.suite,
            "name": c.name,
            "passed": c.failures.is_empty(),
            "failures": c.failures.iter().map(|f| json!({
                "at": f.at, "message": f.message, "actual": f.actual,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    format!("{value}\n")
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: a `testsuite` per rule set, a `testcase` per test block; a rule set that does
/// not compile is a suite with one `error`.
pub fn junit(cases: &[Case], broken: &[Broken]) -> String {
    use std::fmt::Write as _;
    let failures = cases.iter().filter(|c| !c.failures.is_empty()).count();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<testsuites name=\"omnirule\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\">",
        cases.len() + broken.len(),
        broken.len()
    );
    let mut suites: Vec<&str> = cases.iter().map(|c| c.suite.as_str()).collect();
    suites.dedup();
    for suite in suites {
        let members: Vec<&Case> = cases.iter().filter(|c| c.suite == suite).collect();
        let failed = members.iter().filter(|c| !c.failures.is_empty()).count();
        let _ = writeln!(
            o,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">",
            xml(suite),
            members.len()
        );
        for c in members {
            let _ = write!(
                o,
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml(suite),
                xml(&c.name)
            );
            if c.failures.is_empty() {
                let _ = writeln!(o, "/>");
                continue;
            }
            let _ = writeln!(o, ">");
            for f in &c.failures {
                let actual: Vec<String> = f.actual.iter().map(Value::to_string).collect();
                let _ = writeln!(
                    o,
                    "      <failure message=\"{}\">{}: {}\nactual decisions: {}</failure>",
                    xml(&f.message),
                    xml(&f.at),
                    xml(&f.message),
                    xml(&if actual.is_empty() {
                        "none".into()
                    } else {
                        actual.join(", ")
                    })
                );
            }
            let _ = writeln!(o, "    </testcase>");
        }
        let _ = writeln!(o, "  </testsuite>");
    }
    for b in broken {
        let _ = writeln!(
            o,
            "  <testsuite name=\"{0}\" tests=\"1\" failures=\"0\" errors=\"1\">\n    <testcase classname=\"{0}\" name=\"compiles\">\n      <error message=\"the rule set does not compile (see the diagnostics)\"/>\n    </testcase>\n  </testsuite>",
            xml(&b.suite)
        );
    }
    o.push_str("</testsuites>\n");
    o
}
