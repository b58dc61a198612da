//! Conformance vectors: loading, preparing for the runtimes, running natively, checking.
//!
//! A vector file (`tests/vectors/*.json`, `tests/vectors/generated/*.json`; format in
//! `tests/vectors/README.md`) holds one rule set and many vectors: a profile, an initial memory,
//! events, and the decisions expected after each event (plus, optionally, the event ids and
//! firings the final memory must hold). Every runtime reads the same prepared cases and writes
//! one output line per vector; [`check`] compares each runtime with the expectations and with
//! the native engine, byte for byte in canonical JSON.

use omnirule_dsl::RuleSet;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::host::{Place, track_at};
use omnirule_engine::memory::Memory;
use omnirule_text::canonical::canonical_json;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One vector file.
pub struct VectorFile {
    pub path: PathBuf,
    pub topic: String,
    pub rules: String,
    pub vectors: Vec<Value>,
}

/// The vector files under `dir` (and `dir/generated`), sorted by topic.
pub fn load(dir: &Path) -> Result<Vec<VectorFile>, String> {
    let mut paths = Vec::new();
    for d in [dir.to_path_buf(), dir.join("generated"), dir.join("found")] {
        if !d.exists() {
            continue;
        }
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for e in entries {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.extension().is_some_and(|x| x == "json") {
                paths.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if doc["format"] != "omnirule-vectors" || doc["version"] != 1 {
            return Err(format!(
                "{}: not an omnirule-vectors v1 file",
                path.display()
            ));
        }
        let field = |k: &str| {
            doc.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{}: missing `{k}`", path.display()))
        };
        files.push(VectorFile {
            topic: field("topic")?,
            rules: field("rules")?,
            vectors: doc["vectors"].as_array().cloned().unwrap_or_default(),
            path,
        });
    }
    files.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(files)
}

/// A vector's stable id: `topic/NNN name`.
pub fn vector_id(topic: &str, index: usize, v: &Value) -> String {
    format!("{topic}/{index:03} {}", v["name"].as_str().unwrap_or(""))
}

/// Compiles every file's rules into `out/bundles/TOPIC.bundle` and writes `out/cases.jsonl`:
/// one line per vector with the bundle's file name, the profile, the memory and the events.
/// This is all a runtime without the compiler needs.
pub fn prepare(files: &[VectorFile], out: &Path) -> Result<usize, String> {
    let bundles = out.join("bundles");
    std::fs::create_dir_all(&bundles).map_err(|e| e.to_string())?;
    let mut lines = String::new();
    let mut n = 0;
    for f in files {
        let bundle = compile(f)?;
        let name = format!("{}.bundle", f.topic);
        std::fs::write(bundles.join(&name), bundle.to_bytes()).map_err(|e| e.to_string())?;
        for (i, v) in f.vectors.iter().enumerate() {
            let case = json!({
                "id": vector_id(&f.topic, i, v),
                "bundle": format!("bundles/{name}"),
                "profile": v["profile"],
                "memory": v["memory"],
                "events": v["events"],
                "places": v["places"],
            });
            lines.push_str(&serde_json::to_string(&case).map_err(|e| e.to_string())?);
            lines.push('\n');
            n += 1;
        }
    }
    std::fs::write(out.join("cases.jsonl"), lines).map_err(|e| e.to_string())?;
    Ok(n)
}

pub fn compile(f: &VectorFile) -> Result<Bundle, String> {
    let set = RuleSet::from_texts([(f.path.display().to_string(), f.rules.clone())]);
    let compiled = set
        .compile()
        .map_err(|d| omnirule_dsl::render::render_all(&d, &set.sources, Default::default()))?;
    Bundle::new(compiled.graph).map_err(|e| e.to_string())
}

/// Runs one prepared case natively: the output line every runtime writes.
///
/// `{"id": .., "steps": [{"decisions": [..]} | {"error": ".."}], "memory": <memory JSON>}`.
pub fn run_case(bundle: &Bundle, case: &Value) -> Value {
    let mut memory = match &case["memory"] {
        Value::Null => Memory::default(),
        m => Memory::from_json(&m.to_string()).unwrap_or_default(),
    };
    let mut steps = Vec::new();
    for (i, event) in case["events"].as_array().into_iter().flatten().enumerate() {
        let place = &case["places"][i];
        let place = place["channel"].as_str().map(|channel| Place {
            channel,
            host: place["host"].as_str(),
        });
        match track_at(bundle, &memory, &case["profile"], event, place, false) {
            Ok(t) => {
                steps.push(t.output());
                memory = t.memory;
            }
            Err(e) => steps.push(json!({"error": e.to_string()})),
        }
    }
    let memory: Value = serde_json::from_str(&memory.to_json()).unwrap_or(Value::Null);
    json!({"id": case["id"], "steps": steps, "memory": memory})
}

/// Runs every prepared case in `dir` natively; returns the output lines.
pub fn run_native(dir: &Path) -> Result<String, String> {
    let cases = std::fs::read_to_string(dir.join("cases.jsonl")).map_err(|e| e.to_string())?;
    let mut bundles: BTreeMap<String, Bundle> = BTreeMap::new();
    let mut out = String::new();
    for line in cases.lines() {
        let case: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let name = case["bundle"].as_str().unwrap_or_default().to_string();
        if !bundles.contains_key(&name) {
            let bytes = std::fs::read(dir.join(&name)).map_err(|e| format!("{name}: {e}"))?;
            let b = Bundle::from_bytes(&bytes).map_err(|e| format!("{name}: {e}"))?;
            bundles.insert(name.clone(), b);
        }
        let Some(bundle) = bundles.get(&name) else {
            continue;
        };
        out.push_str(&canonical_json(&run_case(bundle, &case)));
        out.push('\n');
    }
    Ok(out)
}

/// Fills a generated vector file's expectations with the native engine's decisions; `Err` when
/// its rules do not compile (the generator may write rules the checker refuses).
pub fn fill_with_native(doc: &mut Value) -> Result<(), String> {
    let file = VectorFile {
        path: PathBuf::from("generated.rules"),
        topic: doc["topic"].as_str().unwrap_or_default().to_string(),
        rules: doc["rules"].as_str().unwrap_or_default().to_string(),
        vectors: Vec::new(),
    };
    let bundle = compile(&file)?;
    for v in doc["vectors"].as_array_mut().into_iter().flatten() {
        let out = run_case(&bundle, v);
        let expect: Vec<Value> = out["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let mut step =
                    json!({"decisions": s.get("decisions").cloned().unwrap_or(Value::Null)});
                if let Some(c) = s.get("conversions") {
                    step["conversions"] = c.clone();
                }
                step
            })
            .collect();
        v["expect"] = Value::Array(expect);
    }
    Ok(())
}

/// The first difference between what a runtime produced for a vector and what the vector
/// expects, as "where: expected X, got Y".
pub fn expectation_mismatch(expected: &Value, got: &Value) -> Option<String> {
    let want = expected["expect"].as_array().cloned().unwrap_or_default();
    let steps = got["steps"].as_array().cloned().unwrap_or_default();
    if want.len() != steps.len() {
        return Some(format!(
            "{} steps expected, {} produced",
            want.len(),
            steps.len()
        ));
    }
    for (i, (w, g)) in want.iter().zip(&steps).enumerate() {
        // An expected error: the event is refused with a message containing this text.
        if let Some(text) = w.get("error").and_then(Value::as_str) {
            let got_error = g.get("error").and_then(Value::as_str).unwrap_or_default();
            if !got_error.contains(text) {
                return Some(format!(
                    "event {}: expected an error containing {text:?}, got {g}",
                    i + 1
                ));
            }
            continue;
        }
        let (w_step, g_step) = (w, g);
        let (w, g) = (
            canonical_json(&w["decisions"]),
            canonical_json(&g["decisions"]),
        );
        if w == g {
            // Conversions: compared whole; a step that expects none must have none.
            let (w, g) = (
                canonical_json(w_step.get("conversions").unwrap_or(&Value::Null)),
                canonical_json(g_step.get("conversions").unwrap_or(&Value::Null)),
            );
            if w != g {
                return Some(format!(
                    "event {}: conversions\n      expected {w}\n      got      {g}",
                    i + 1
                ));
            }
        } else {
            let err = steps
                .get(i)
                .and_then(|s| s.get("error"))
                .map(|e| format!(" ({e})"));
            return Some(format!(
                "event {}: decisions\n      expected {w}\n      got      {g}{}",
                i + 1,
                err.unwrap_or_default()
            ));
        }
    }
    let memory = &got["memory"];
    if let Some(ids) = expected.get("remembered") {
        let kept: Vec<Value> = memory["events"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["id"].clone())
            .collect();
        let kept = Value::Array(kept);
        if canonical_json(ids) != canonical_json(&kept) {
            return Some(format!(
                "final memory: remembered events\n      expected {}\n      got      {}",
                canonical_json(ids),
                canonical_json(&kept)
            ));
        }
    }
    if let Some(fired) = expected.get("fired") {
        let mut kept: Vec<(String, String)> = memory["firings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                (s("rule"), s("event"))
            })
            .collect();
        kept.sort();
        let kept = json!(kept.iter().map(|(r, e)| json!([r, e])).collect::<Vec<_>>());
        if canonical_json(fired) != canonical_json(&kept) {
            return Some(format!(
                "final memory: firings\n      expected {}\n      got      {}",
                canonical_json(fired),
                canonical_json(&kept)
            ));
        }
    }
    None
}

/// The first JSON path at which two values differ.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(va, vb, &format!("{path}.{k}"))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{path}[{i}]"))),
        _ if canonical_json(a) == canonical_json(b) => None,
        _ => Some(format!(
            "{path}: {} vs {}",
            canonical_json(a),
            canonical_json(b)
        )),
    }
}

/// A runtime's results: vectors passed, and the failures (id, reason).
pub struct Report {
    pub runtime: String,
    pub passed: usize,
    pub failures: Vec<(String, String)>,
}

/// Checks one runtime's output lines against the vectors' expectations and, when given, the
/// native output (byte-identical canonical JSON, memory included).
pub fn check(runtime: &str, files: &[VectorFile], output: &str, native: Option<&str>) -> Report {
    let parse = |text: &str| -> BTreeMap<String, Value> {
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| (v["id"].as_str().unwrap_or_default().to_string(), v))
            .collect()
    };
    let got = parse(output);
    let reference = native.map(parse);
    let mut report = Report {
        runtime: runtime.to_string(),
        passed: 0,
        failures: Vec::new(),
    };
    for f in files {
        for (i, v) in f.vectors.iter().enumerate() {
            let id = vector_id(&f.topic, i, v);
            let Some(g) = got.get(&id) else {
                report
                    .failures
                    .push((id, "no output for this vector".into()));
                continue;
            };
            if let Some(why) = expectation_mismatch(v, g) {
                report.failures.push((id, why));
                continue;
            }
            if let Some(n) = reference.as_ref().and_then(|r| r.get(&id))
                && canonical_json(n) != canonical_json(g)
            {
                let at = first_difference(n, g, "").unwrap_or_default();
                report
                    .failures
                    .push((id, format!("differs from native at {at}")));
                continue;
            }
            report.passed += 1;
        }
    }
    report
}
