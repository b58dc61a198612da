//! The `omnirule` command as users run it: every verb, its exit codes, and clear one-line
//! errors naming the file (and line) on bad input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn omnirule(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omnirule"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example(name: &str) -> String {
    root().join("examples").join(name).display().to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("omnirule-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn every_verb_has_help() {
    for verb in [
        "check", "fmt", "test", "build", "run", "graph", "merge", "keygen", "verify", "report",
    ] {
        let out = omnirule(&[verb, "--help"]);
        assert!(out.status.success(), "{verb} --help failed");
        assert!(text(&out.stdout).contains("Usage"), "{verb}");
    }
}

#[test]
fn check_reports_ok_and_errors_with_exit_codes() {
    let ok = omnirule(&["check", &example("02-knitwear-in-store")]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).starts_with("ok: 3 rules"));

    let bad = tmp("bad.rules");
    let src = std::fs::read_to_string(root().join("examples/02-knitwear-in-store/knitwear.rules"))
        .unwrap()
        .replace("v.category == \"knitwear\"", "v.categry == \"knitwear\"");
    std::fs::write(&bad, src).unwrap();
    let out = omnirule(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error[E0102]"), "{err}");
    assert!(err.contains("bad.rules:"), "{err}");
    assert!(err.contains("did you mean `category`?"), "{err}");

    let out = omnirule(&["check", "--format", "json", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["code"], "E0102");
}

#[test]
fn test_runs_every_example_and_ends_with_a_summary() {
    let dirs: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["test"];
    args.extend(dirs.iter().map(String::as_str));
    let out = omnirule(&args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with("passed, 0 failed"), "{last}");
}

#[test]
fn a_failing_test_shows_the_expectation_and_the_actual_decisions() {
    let src = std::fs::read_to_string(root().join("examples/02-knitwear-in-store/knitwear.rules"))
        .unwrap()
        .replacen(
            "expect offer { code: \"KNIT20\", sku: \"SW-1\" }",
            "expect offer { code: \"KNIT30\" }",
            1,
        );
    let f = tmp("failing.rules");
    std::fs::write(&f, src).unwrap();
    let out = omnirule(&["test", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FAILED"), "{stdout}");
    assert!(stdout.contains("KNIT30"), "{stdout}");
    assert!(
        stdout.contains("\"KNIT20\""),
        "actual decisions are shown: {stdout}"
    );
    assert!(
        stdout.lines().last().unwrap().ends_with("1 failed"),
        "{stdout}"
    );
}

#[test]
fn fmt_check_names_unformatted_files() {
    let f = tmp("messy.rules");
    let src = std::fs::read_to_string(root().join("examples/02-knitwear-in-store/knitwear.rules"))
        .unwrap()
        .replace("  on beacon_enter\n", "      on    beacon_enter\n");
    std::fs::write(&f, &src).unwrap();
    let out = omnirule(&["fmt", "--check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("messy.rules"));
    let out = omnirule(&["fmt", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let out = omnirule(&["fmt", "--check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn build_then_run_with_explain_and_memory() {
    let bundle = tmp("k.bundle");
    let out = omnirule(&[
        "build",
        &example("02-knitwear-in-store"),
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json_bundle = tmp("k.json");
    let out = omnirule(&[
        "build",
        &example("02-knitwear-in-store"),
        "-o",
        json_bundle.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let memory = tmp("memory.json");
    for b in [&bundle, &json_bundle] {
        let out = omnirule(&[
            "run",
            b.to_str().unwrap(),
            "--profile",
            &format!("{}/profile.json", example("02-knitwear-in-store")),
            "--events",
            &format!("{}/events.jsonl", example("02-knitwear-in-store")),
            "--explain",
            "--write-memory",
            memory.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let lines: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[2]["decisions"].to_string().contains("KNIT20"));
        assert!(lines[2]["explanation"].is_array() || lines[2]["explanation"].is_object());
        // After the purchase of SW-1 it is not offered again.
        assert!(!lines[4]["decisions"].to_string().contains("KNIT20"));
    }
    let kept = std::fs::read_to_string(&memory).unwrap();
    assert!(kept.contains("SW-1"), "{kept}");
    // Merging a memory with itself changes nothing.
    let out = omnirule(&[
        "merge",
        bundle.to_str().unwrap(),
        memory.to_str().unwrap(),
        memory.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_code_2() {
    let profile = format!("{}/profile.json", example("02-knitwear-in-store"));
    let rules = example("02-knitwear-in-store");
    let events = tmp("bad-events.jsonl");
    std::fs::write(&events, "{\"type\": \"page_view\", \"id\": \"1\", \"time\": 0, \"sku\": \"a\", \"category\": \"b\", \"price\": 1}\n{not json}\n").unwrap();
    let out = omnirule(&[
        "run",
        &rules,
        "--profile",
        &profile,
        "--events",
        events.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad-events.jsonl:2"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing is evaluated when the input is bad"
    );

    std::fs::write(&events, "{\"type\": \"page_view\", \"id\": \"1\", \"time\": 0, \"sku\": 5, \"category\": \"b\", \"price\": 1}\n").unwrap();
    let out = omnirule(&[
        "run",
        &rules,
        "--profile",
        &profile,
        "--events",
        events.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad-events.jsonl:1") && err.contains("sku"),
        "{err}"
    );

    let out = omnirule(&["check", "/no/such/place"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/no/such/place"));

    let corrupt = tmp("corrupt.bundle");
    let out = omnirule(&["build", &rules, "-o", corrupt.to_str().unwrap()]);
    assert!(out.status.success());
    let mut bytes = std::fs::read(&corrupt).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&corrupt, &bytes).unwrap();
    let out = omnirule(&[
        "run",
        corrupt.to_str().unwrap(),
        "--profile",
        &profile,
        "--events",
        events.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("corrupt.bundle"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn graph_draws_events_rules_and_shared_history() {
    let out = omnirule(&["graph", &example("05-segments")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph omnirule {"));
    assert!(
        dot.contains("\"event:page_view\" -> \"rule:hero_loyal\""),
        "{dot}"
    );
    assert!(
        dot.contains("\"segment:loyal\" -> \"rule:hero_loyal\""),
        "{dot}"
    );
    assert!(dot.contains("cluster_home_hero"), "{dot}");
}

#[test]
fn keygen_build_sign_and_verify() {
    let key = tmp("head-office.key");
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(tmp("head-office.key.pub"));
    let out = omnirule(&["keygen", "-o", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = text(&out.stdout).trim().to_string();
    assert!(
        public.starts_with("ed25519:") && public.len() == 8 + 64,
        "{public}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the secret key is readable by others: {mode:o}"
        );
    }
    // A key is never overwritten.
    let again = omnirule(&["keygen", "-o", key.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already exists"));

    let bundle = tmp("signed.bundle");
    let b = bundle.to_str().unwrap();
    let out = omnirule(&[
        "build",
        &example("02-knitwear-in-store"),
        "-o",
        b,
        "--sign",
        key.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("signed with key"));
    let pub_file = format!("{}.pub", key.display());
    for trusted in [public.as_str(), pub_file.as_str()] {
        let ok = omnirule(&["verify", b, "--trusted-key", trusted]);
        assert!(ok.status.success(), "{}", text(&ok.stderr));
        assert!(text(&ok.stdout).contains("signed by trusted key"));
    }
    let other_key = tmp("other.key");
    let _ = std::fs::remove_file(&other_key);
    let _ = std::fs::remove_file(tmp("other.key.pub"));
    let other = text(&omnirule(&["keygen", "-o", other_key.to_str().unwrap()]).stdout)
        .trim()
        .to_string();
    let refused = omnirule(&["verify", b, "--trusted-key", &other]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("does not trust"),
        "{}",
        text(&refused.stderr)
    );
    // An unsigned bundle is refused by verify; a signed one still runs anywhere.
    let plain = tmp("plain.bundle");
    omnirule(&[
        "build",
        &example("02-knitwear-in-store"),
        "-o",
        plain.to_str().unwrap(),
    ]);
    let unsigned = omnirule(&["verify", plain.to_str().unwrap(), "--trusted-key", &public]);
    assert!(text(&unsigned.stderr).contains("not signed"));
    let run = omnirule(&[
        "run",
        b,
        "--profile",
        &format!("{}/profile.json", example("02-knitwear-in-store")),
        "--events",
        &format!("{}/events.jsonl", example("02-knitwear-in-store")),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    // A bad key file names itself.
    let bad = tmp("bad.key");
    std::fs::write(&bad, "not a key").unwrap();
    let out = omnirule(&[
        "build",
        &example("02-knitwear-in-store"),
        "-o",
        b,
        "--sign",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.key"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn report_reads_logs_and_renders_table_json_and_html() {
    let log = tmp("report.jsonl");
    let mut lines = Vec::new();
    for i in 0..200 {
        let variant = if i % 2 == 0 { "control" } else { "ten" };
        lines.push(format!(
            r#"{{"kind":"exposure","time":{},"customer":"c{i}","rule":"r","experiment":"e","variant":"{variant}","weight":50,"channel":"web"}}"#,
            1_795_000_000_000i64 + i
        ));
        if i % 10 == 1 || i % 20 == 0 {
            lines.push(format!(
                r#"{{"kind":"conversion","time":{},"customer":"c{i}","rule":"r","experiment":"e","variant":"{variant}","goal":"purchase","exposure_channel":"web","channel":"store","value":10}}"#,
                1_795_100_000_000i64 + i
            ));
        }
    }
    std::fs::write(&log, lines.join("\n")).unwrap();
    let out = omnirule(&["report", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("r / split e") && table.contains("control") && table.contains("ten"),
        "{table}"
    );
    let out = omnirule(&["report", log.to_str().unwrap(), "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arms = json["rules"][0]["arms"].as_array().unwrap();
    // 100 exposed per arm; control (even i) converts 10 (i % 20 == 0), ten (odd i) 20 (i % 10 == 1).
    assert_eq!(
        (arms[0]["exposed"].as_u64(), arms[0]["conversions"].as_u64()),
        (Some(100), Some(10))
    );
    assert_eq!(
        (arms[1]["exposed"].as_u64(), arms[1]["conversions"].as_u64()),
        (Some(100), Some(20))
    );
    let html = tmp("report.html");
    let out = omnirule(&[
        "report",
        log.to_str().unwrap(),
        "--format",
        "html",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
}

#[test]
fn report_names_the_file_and_line_of_a_bad_log_line() {
    let log = tmp("bad-report.jsonl");
    std::fs::write(&log, "{\"kind\":\"exposure\",\"time\":1,\"customer\":\"a\",\"rule\":\"r\",\"channel\":\"web\"}\n{\"kind\":\"view\"}\n").unwrap();
    let out = omnirule(&["report", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad-report.jsonl:2:"), "{err}");
    let out = omnirule(&["report", "/nonexistent/log.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    let out = omnirule(&["report", log.to_str().unwrap(), "--level", "95"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_logs_one_exposure_per_decision_for_the_report() {
    let log = tmp("run-exposures.jsonl");
    let _ = std::fs::remove_file(&log);
    let dir = example("06-win-back");
    let out = omnirule(&[
        "run",
        &dir,
        "--profile",
        &format!("{dir}/profile.json"),
        "--events",
        &format!("{dir}/events.jsonl"),
        "--log",
        log.to_str().unwrap(),
        "--channel",
        "store",
        "--host",
        "paris-01",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let decisions: usize = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["decisions"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert!(decisions > 0);
    let logged = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = logged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), decisions, "one exposure per decision");
    assert!(
        lines
            .iter()
            .all(|l| l["kind"] == "exposure" && l["channel"] == "store" && l["host"] == "paris-01")
    );
    let report = omnirule(&["report", log.to_str().unwrap(), "--format", "json"]);
    assert!(report.status.success(), "{}", text(&report.stderr));
}

fn omnirule_with_input(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_omnirule"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

const MESSY: &str = "schema { timezone \"UTC\"\n event page_view { sku: string }\n action banner { text: string } }\nrule r{on page_view do banner{text:\"hi\"}}\n";

#[test]
fn fmt_reads_standard_input_and_writes_standard_output_for_editors() {
    let out = omnirule_with_input(&["fmt", "-"], MESSY.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let formatted = text(&out.stdout);
    assert!(
        formatted.starts_with("schema {\n  timezone \"UTC\"\n"),
        "{formatted}"
    );
    // Formatting the output again changes nothing; --check says so by its exit code.
    let again = omnirule_with_input(&["fmt", "-"], formatted.as_bytes());
    assert_eq!(text(&again.stdout), formatted);
    assert_eq!(
        omnirule_with_input(&["fmt", "--check", "-"], formatted.as_bytes())
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        omnirule_with_input(&["fmt", "--check", "-"], MESSY.as_bytes())
            .status
            .code(),
        Some(1)
    );
    // A syntax error: exit 1, the diagnostic names <stdin>, nothing on standard output.
    let broken = omnirule_with_input(&["fmt", "-"], b"rule r {");
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        text(&broken.stderr).contains("<stdin>:1:"),
        "{}",
        text(&broken.stderr)
    );
    assert!(broken.stdout.is_empty());
}

#[test]
fn fmt_diff_shows_the_change_and_changes_nothing() {
    let file = tmp("messy-diff.rules");
    std::fs::write(&file, MESSY).unwrap();
    let f = file.display().to_string();
    let out = omnirule(&["fmt", "--diff", &f]);
    assert_eq!(out.status.code(), Some(1));
    let diff = text(&out.stdout);
    assert!(
        diff.starts_with(&format!("--- {f}\n+++ {f}\n@@ ")),
        "{diff}"
    );
    assert!(
        diff.contains("\n-rule r{on page_view do banner{text:\"hi\"}}\n"),
        "{diff}"
    );
    assert!(diff.contains("\n+rule r {\n+  on page_view\n"), "{diff}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        MESSY,
        "--diff changes nothing"
    );
    assert_eq!(omnirule(&["fmt", &f]).status.code(), Some(0));
    let clean = omnirule(&["fmt", "--diff", &f]);
    assert_eq!(clean.status.code(), Some(0));
    assert!(clean.stdout.is_empty());
}

#[test]
fn check_and_build_read_and_write_the_standard_streams() {
    let rules = std::fs::read(root().join("examples/07-consent-first/consent.rules")).unwrap();
    let checked = omnirule_with_input(&["check", "-"], &rules);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stderr));
    let built = omnirule_with_input(&["build", "-", "-o", "-"], &rules);
    assert_eq!(built.status.code(), Some(0));
    assert!(built.stdout.starts_with(b"OMNIRULE"));
    // The bundle on standard input, inspected.
    let inspected = omnirule_with_input(&["inspect", "-", "--format", "json"], &built.stdout);
    assert_eq!(
        inspected.status.code(),
        Some(0),
        "{}",
        text(&inspected.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(v["format"], 3);
    assert_eq!(v["bytes"], built.stdout.len());
    let bad = omnirule_with_input(&["check", "-"], b"rule r { on nothing_declared }");
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("<stdin>"));
}

#[test]
fn test_results_as_json_and_junit_and_filtered() {
    let dir = example("11-campaign");
    let json = omnirule(&["test", &dir, "--format", "json"]);
    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["passed"], 4);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["tests"].as_array().unwrap().len(), 4);
    let filtered = omnirule(&["test", &dir, "--format", "json", "--filter", "control"]);
    let v: serde_json::Value = serde_json::from_slice(&filtered.stdout).unwrap();
    assert_eq!(v["tests"].as_array().unwrap().len(), 1);
    assert!(v["tests"][0]["name"].as_str().unwrap().contains("control"));
    // A failing test: exit 1, and the failure where JUnit readers look for it.
    let src = std::fs::read_to_string(root().join("examples/11-campaign/campaign.rules"))
        .unwrap()
        .replace(
            "expect offer { code: \"COAT20\" }",
            "expect offer { code: \"COAT99\" }",
        );
    let file = tmp("campaign-failing.rules");
    std::fs::write(&file, src).unwrap();
    let junit = omnirule(&["test", &file.display().to_string(), "--format", "junit"]);
    assert_eq!(junit.status.code(), Some(1));
    let xml = text(&junit.stdout);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"omnirule\" tests=\"4\" failures=\"1\" errors=\"0\">"), "{xml}");
    assert!(xml.contains("<failure message=\"expected a decision `offer` with {&quot;code&quot;:&quot;COAT99&quot;}\">"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 4);
    // A rule set that does not compile is an error in the report, not a missing suite.
    let broken = tmp("broken.rules");
    std::fs::write(&broken, "rule r {").unwrap();
    let junit = omnirule(&["test", &broken.display().to_string(), "--format", "junit"]);
    assert_eq!(junit.status.code(), Some(1));
    assert!(text(&junit.stdout).contains("<error message=\"the rule set does not compile"));
}

#[test]
fn inspect_shows_what_a_bundle_holds() {
    let bundle = tmp("o2o-inspect.bundle");
    let b = bundle.display().to_string();
    assert_eq!(
        omnirule(&["build", &example("10-o2o-loop"), "-o", &b])
            .status
            .code(),
        Some(0)
    );
    let out = omnirule(&["inspect", &b]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("format    4 (binary, "), "{t}");
    assert!(t.contains("signed    no"), "{t}");
    assert!(t.contains("consents  marketing, location"), "{t}");
    assert!(t.contains("  purchase { sku: string, category: string, amount: number, channel: string, store: string? }\n    remembered 365d: category, channel, sku, store"), "{t}");
    assert!(t.contains("  sweater_in_store  on beacon_enter  consent marketing, location  limit 1 per 30d  -> offer"), "{t}");
    assert!(
        t.contains("    goal purchase (purchase within 1d), primary"),
        "{t}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&omnirule(&["inspect", &b, "--format", "json"]).stdout).unwrap();
    assert_eq!(json["rules"].as_array().unwrap().len(), 3);
    assert_eq!(json["hash"].as_str().unwrap().len(), 64);
    let not_a_bundle = omnirule(&["inspect", &example("10-o2o-loop/profile.json")]);
    assert_eq!(not_a_bundle.status.code(), Some(2));
    assert!(
        text(&not_a_bundle.stderr).starts_with("error: "),
        "{}",
        text(&not_a_bundle.stderr)
    );
}

#[test]
fn completions_for_each_shell_and_exit_codes_in_help() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = omnirule(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        assert!(
            script.contains("omnirule") && script.contains("inspect"),
            "{shell}: {script}"
        );
    }
    let help = text(&omnirule(&["--help"]).stdout);
    assert!(help.contains("Exit codes:\n  0  success"), "{help}");
    assert!(help.contains("--color <COLOR>"), "{help}");
    // Colour on demand, and never by default into a pipe.
    let bad = "rule r { on nothing_declared }";
    let file = tmp("colour.rules");
    std::fs::write(&file, bad).unwrap();
    let f = file.display().to_string();
    let always = omnirule(&["check", &f, "--color", "always"]);
    assert!(text(&always.stderr).contains("\u{1b}["), "coloured");
    let never = omnirule(&["check", &f, "--color", "never"]);
    assert!(!text(&never.stderr).contains("\u{1b}["));
    let auto = omnirule(&["check", &f]);
    assert!(!text(&auto.stderr).contains("\u{1b}["), "not a terminal");
}
