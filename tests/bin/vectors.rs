//! `omnirule-vectors`: prepares the conformance vectors for every runtime, runs them natively,
//! and checks every runtime's output.
//!
//! ```text
//! omnirule-vectors prepare OUT          compile bundles, write OUT/cases.jsonl
//! omnirule-vectors native OUT           write OUT/out/native.jsonl
//! omnirule-vectors check OUT            compare OUT/out/*.jsonl with the vectors and native
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
