//! `omnirule-vectors`: prepares the conformance vectors for every runtime, runs them natively,
//! and checks every runtime's output.
//!
//! ```text
//! omnirule-vectors prepare OUT          compile bundles, write OUT/cases.jsonl
//! omnirule-vectors native OUT           write OUT/out/native.jsonl
//! omnirule-vectors check OUT            compare OUT/out/*.jsonl with the vectors and native
//! omnirule-vectors fuzz OUT SEED COUNT   write COUNT random vector files to OUT/vectors
//! omnirule-vectors minimise OUT FILE     shrink a vector file on which runtimes disagree
//! ```
//! Vectors are read from tests/vectors (override with OMNIRULE_VECTORS).

use omnirule_tests::vectors;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn vectors_dir() -> PathBuf {
    std::env::var_os("OMNIRULE_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("fuzz") => return report(fuzz(&args)),
        Some("minimise") => return report(minimise(&args)),
        _ => {}
    }
    let (Some(verb), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: omnirule-vectors prepare|native|check OUT_DIR");
        return ExitCode::from(2);
    };
    let out = PathBuf::from(out);
    match run(verb, &out) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("omnirule-vectors: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(verb: &str, out: &Path) -> Result<ExitCode, String> {
    let files = vectors::load(&vectors_dir())?;
    match verb {
        "prepare" => {
            let n = vectors::prepare(&files, out)?;
            println!(
                "prepared {n} vectors from {} files in {}",
                files.len(),
                out.display()
            );
        }
        "native" => {
            let text = vectors::run_native(out)?;
            let dir = out.join("out");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            std::fs::write(dir.join("native.jsonl"), text).map_err(|e| e.to_string())?;
        }
        "check" => {
            let dir = out.join("out");
            let native = std::fs::read_to_string(dir.join("native.jsonl"))
                .map_err(|e| format!("{}: {e} (run `native` first)", dir.display()))?;
            let mut runtimes: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| e.to_string())?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            runtimes.sort();
            let total: usize = files.iter().map(|f| f.vectors.len()).sum();
            let mut ok = true;
            for path in runtimes {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
                let reference = (name != "native").then_some(native.as_str());
                let report = vectors::check(&name, &files, &text, reference);
                println!(
                    "{:<10} {}/{} vectors passed",
                    report.runtime, report.passed, total
                );
                if let Some((id, why)) = report.failures.first() {
                    ok = false;
                    println!("  first failure: {id}\n    {why}");
                    if report.failures.len() > 1 {
                        println!("  ({} more failures)", report.failures.len() - 1);
                    }
                }
            }
            if !ok {
                return Ok(ExitCode::from(1));
            }
        }
        other => return Err(format!("unknown verb `{other}`")),
    }
    Ok(ExitCode::SUCCESS)
}

fn report(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omnirule-vectors: {e}");
            ExitCode::from(1)
        }
    }
}

/// `fuzz OUT SEED COUNT`: random rule sets and events, expectations from the native engine.
fn fuzz(args: &[String]) -> Result<(), String> {
    let (Some(out), Some(seed), Some(count)) = (args.get(1), args.get(2), args.get(3)) else {
        return Err("usage: omnirule-vectors fuzz OUT SEED COUNT".into());
    };
    let seed: u64 = seed.parse().map_err(|_| "SEED must be a number")?;
    let count: usize = count.parse().map_err(|_| "COUNT must be a number")?;
    let dir = Path::new(out).join("vectors");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (mut written, mut skipped) = (0, 0);
    let mut s = seed;
    while written < count && skipped < 3 * count + 10 {
        let mut doc = omnirule_tests::fuzz::generate(s);
        s += 1;
        if let Err(e) = vectors::fill_with_native(&mut doc) {
            if std::env::var_os("OMNIRULE_FUZZ_VERBOSE").is_some() {
                eprintln!("seed {}: {e}", s - 1);
            }
            skipped += 1;
            continue;
        }
        let name = format!("{}.json", doc["topic"].as_str().unwrap_or("fuzz"));
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(dir.join(name), text).map_err(|e| e.to_string())?;
        written += 1;
    }
    println!(
        "fuzz: {written} random rule sets from seed {seed} ({skipped} seeds gave rules the checker refuses)"
    );
    Ok(())
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether the runtimes disagree on a vector file: prepares it alone, runs native, Node and
/// wasmtime, and checks them against native.
fn disagrees(doc: &serde_json::Value, work: &Path) -> Result<bool, String> {
    let _ = std::fs::remove_dir_all(work);
    let vdir = work.join("vectors");
    std::fs::create_dir_all(&vdir).map_err(|e| e.to_string())?;
    std::fs::write(vdir.join("case.json"), doc.to_string()).map_err(|e| e.to_string())?;
    let files = vectors::load(&vdir)?;
    vectors::prepare(&files, work)?;
    let native = vectors::run_native(work)?;
    let out = work.join("out");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let runners: [(&str, Vec<PathBuf>); 2] = [
        (
            "node",
            vec![
                PathBuf::from("node"),
                root().join("tests/vectors/runners/node.mjs"),
            ],
        ),
        (
            "wasmtime",
            vec![root().join("target/debug/omnirule-store-vectors")],
        ),
    ];
    for (name, cmd) in runners {
        let Some((program, rest)) = cmd.split_first() else {
            continue;
        };
        let status = std::process::Command::new(program)
            .args(rest)
            .arg(work)
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("{name}: {e}"))?;
        if !status.success() {
            return Ok(true);
        }
        let text = std::fs::read_to_string(out.join(format!("{name}.jsonl"))).unwrap_or_default();
        if !vectors::check(name, &files, &text, Some(&native))
            .failures
            .is_empty()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `minimise OUT FILE`: drops events while the runtimes still disagree, then saves the smallest
/// disagreeing vector in tests/vectors/found/ for a person to decide the right answer.
fn minimise(args: &[String]) -> Result<(), String> {
    let (Some(out), Some(file)) = (args.get(1), args.get(2)) else {
        return Err("usage: omnirule-vectors minimise OUT FILE".into());
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let mut doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let work = Path::new(out).join("minimise");
    if !disagrees(&doc, &work)? {
        println!("minimise: the runtimes agree on {file}");
        return Ok(());
    }
    loop {
        let events = doc["vectors"][0]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut shrunk = false;
        for i in (0..events.len()).rev() {
            let mut candidate = doc.clone();
            let mut fewer = events.clone();
            fewer.remove(i);
            candidate["vectors"][0]["events"] = serde_json::Value::Array(fewer);
            if vectors::fill_with_native(&mut candidate).is_ok() && disagrees(&candidate, &work)? {
                doc = candidate;
                shrunk = true;
                break;
            }
        }
        if !shrunk {
            break;
        }
    }
    let found = root().join("tests/vectors/found");
    std::fs::create_dir_all(&found).map_err(|e| e.to_string())?;
    let name = format!("{}.json", doc["topic"].as_str().unwrap_or("found"));
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(found.join(&name), text).map_err(|e| e.to_string())?;
    println!(
        "minimise: the runtimes disagree; the smallest case is tests/vectors/found/{name} (check its expectations by hand)"
    );
    Err("runtimes disagree".into())
}
