//! `omnirule-store-vectors DIR`: the wasmtime runner of the conformance vectors. It runs every
//! prepared case (`DIR/cases.jsonl`, see tests/vectors/README.md) through the engine's wasm
//! module exactly as the store host does (the same [`Runtime`], limits and ABI calls) and
//! writes `DIR/out/wasmtime.jsonl`.

// `serde_json::Value` indexing returns `Null` for a missing key or index; it never panics.
#![allow(clippy::indexing_slicing)]

use omnirule_store::guest::{GuestError, Limits, Runtime};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn module_path() -> PathBuf {
    std::env::var_os("OMNIRULE_ABI_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/wasm32-unknown-unknown/wasm/omnirule_abi.wasm")
        })
}

/// The error text of a refused call, as the other runners report it (the engine's message).
fn message(e: &GuestError) -> String {
    if let GuestError::Refused { error, .. } = e
        && let Ok(v) = serde_json::from_str::<Value>(error)
        && let Some(m) = v["error"]["message"].as_str()
    {
        return m.to_string();
    }
    e.to_string()
}

fn run(dir: &Path) -> Result<usize, String> {
    let path = module_path();
    let wasm = std::fs::read(&path).map_err(|e| {
        format!(
            "{}: {e} (build it: cargo build -p omnirule-abi --target wasm32-unknown-unknown --profile wasm)",
            path.display()
        )
    })?;
    let runtime = Runtime::new(&wasm, None, Limits::default())?;
    let cases = std::fs::read_to_string(dir.join("cases.jsonl")).map_err(|e| e.to_string())?;
    let mut guests = BTreeMap::new();
    let mut out = String::new();
    let mut n = 0;
    for line in cases.lines() {
        let case: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let name = case["bundle"].as_str().unwrap_or_default().to_string();
        if !guests.contains_key(&name) {
            let bytes = std::fs::read(dir.join(&name)).map_err(|e| format!("{name}: {e}"))?;
            let mut guest = runtime.instantiate().map_err(|e| e.to_string())?;
            guest
                .load_bundle(&bytes)
                .map_err(|e| format!("{name}: {e}"))?;
            guests.insert(name.clone(), guest);
        }
        let guest = guests.get_mut(&name).ok_or("no guest")?;
        let profile = case["profile"].to_string();
        let mut memory: Vec<u8> = match &case["memory"] {
            Value::Null => Vec::new(),
            m => m.to_string().into_bytes(),
        };
        let mut steps = Vec::new();
        for (i, event) in case["events"].as_array().into_iter().flatten().enumerate() {
            // Where the step happens (a vector's `places`); none: unknown.
            let place = match &case["places"][i] {
                Value::Object(_) => case["places"][i].to_string().into_bytes(),
                _ => Vec::new(),
            };
            guest.set_place(&place).map_err(|e| e.to_string())?;
            match guest.track(
                profile.as_bytes(),
                event.to_string().as_bytes(),
                &memory,
                false,
            ) {
                Ok(o) => {
                    let result: Value =
                        serde_json::from_slice(&o.result).map_err(|e| e.to_string())?;
                    steps.push(result);
                    memory = o.memory;
                }
                Err(e) => steps.push(json!({"error": message(&e)})),
            }
        }
        let shown = guest.memory_json(&memory).map_err(|e| e.to_string())?;
        let memory: Value = serde_json::from_slice(&shown.result).map_err(|e| e.to_string())?;
        let line = json!({"id": case["id"], "steps": steps, "memory": memory});
        out.push_str(&line.to_string());
        out.push('\n');
        n += 1;
    }
    let dir = dir.join("out");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("wasmtime.jsonl"), out).map_err(|e| e.to_string())?;
    Ok(n)
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: omnirule-store-vectors DIR (prepared by omnirule-vectors prepare)");
        return ExitCode::from(2);
    };
    match run(Path::new(&dir)) {
        Ok(n) => {
            println!("wasmtime: ran {n} vectors");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("omnirule-store-vectors: {e}");
            ExitCode::from(2)
        }
    }
}
