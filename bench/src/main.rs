//! `omnirule-bench`: the native half of the benchmark suite (scripts/bench.sh runs it with the
//! Node half and the peers).
//!
//! ```text
//! omnirule-bench translate DATA   # DATA/N/rules.json → target/bench/N.rules, bench/src/generated/hand_N.rs
//! omnirule-bench run DATA         # measures; prints Markdown tables; writes target/bench/N.bundle
//! omnirule-bench native DATA      # only the native table (engine beside the hand-written code)
//! omnirule-bench profile DATA [N] # only evaluates N-rule events for ~5 s (with
//!                                 # OMNIRULE_PROFILE_LOAD=1: only loads the bundle): run it
//!                                 # under `perf record` or `valgrind --tool=callgrind`;
//!                                 # with OMNIRULE_PROFILE_PASSES=P: a warm-up pass and then
//!                                 # exactly P passes over the events (what
//!                                 # scripts/bench-instructions.sh counts)
//! ```
//! DATA is the peers' generated workload folder (`N/rules.json`, `events.json`).

mod hand;
mod workload;

use omnirule_dsl::RuleSet;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::evaluate;
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const NS: [usize; 3] = [10, 100, 1000];
/// 2026-11-20T10:00:00Z: the workload's events are spaced a millisecond apart from here.
const T0: i64 = 1_795_168_800_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some("translate"), Some(data)) => translate(Path::new(data)),
        (Some("run"), Some(data)) => run(Path::new(data)),
        (Some("native"), Some(data)) => one_table(Path::new(data), native),
        (Some("profile"), Some(data)) => profile(Path::new(data), args.get(2)),
        (Some("store"), Some(data)) => one_table(Path::new(data), wasmtime),
        (Some("history"), _) => {
            let mut md = String::new();
            history(&mut md).map(|()| print!("{md}"))
        }
        (Some("untriggered"), _) => {
            let mut md = String::new();
            untriggered(&mut md).map(|()| print!("{md}"))
        }
        (Some("signature"), _) => {
            let mut md = String::new();
            signature(&mut md).map(|()| print!("{md}"))
        }
        (Some("exposures"), _) => {
            let mut md = String::new();
            exposures(&mut md).map(|()| print!("{md}"))
        }
        (Some("exposure-passes"), case) => exposure_passes(case, args.get(2), args.get(3)),
        _ => Err(
            "usage: omnirule-bench translate|run|native|store DATA | profile DATA [N] | history | untriggered | signature | exposures | exposure-passes floor|journeys none|alone|logged P"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omnirule-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Prints one table of the shared workload (`table` is given the data folder and its events).
fn one_table(
    data: &Path,
    table: fn(&Path, &[Value], &mut String) -> Result<(), String>,
) -> Result<(), String> {
    let events = read_json(&data.join("events.json"))?;
    let mut md = String::new();
    table(data, events.as_array().map_or(&[], Vec::as_slice), &mut md)?;
    print!("{md}");
    Ok(())
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn out_dir() -> Result<PathBuf, String> {
    let d = root().join("target").join("bench");
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    Ok(d)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn rules_of(data: &Path, n: usize) -> Result<Vec<Value>, String> {
    Ok(read_json(&data.join(n.to_string()).join("rules.json"))?
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn translate(data: &Path) -> Result<(), String> {
    let out = out_dir()?;
    for n in NS {
        let rules = rules_of(data, n)?;
        let src = workload::schema() + &workload::to_rules(&rules, "")?;
        std::fs::write(out.join(format!("{n}.rules")), src).map_err(|e| e.to_string())?;
        let rust = workload::to_rust(&rules, &format!("decide_{n}"))?;
        let path = root().join(format!("bench/src/generated/hand_{n}.rs"));
        std::fs::write(&path, rust).map_err(|e| e.to_string())?;
        println!("wrote {} and target/bench/{n}.rules", path.display());
    }
    Ok(())
}

fn compile(src: &str) -> Result<(Bundle, f64), String> {
    let start = Instant::now();
    let set = RuleSet::from_texts([("workload.rules", src)]);
    let compiled = set
        .compile()
        .map_err(|d| omnirule_dsl::render::render_all(&d, &set.sources, Default::default()))?;
    let bundle = Bundle::new(compiled.graph).map_err(|e| e.to_string())?;
    Ok((bundle, start.elapsed().as_secs_f64() * 1e3))
}

/// The 1,000-rule workload replicated ten times under new names.
fn ten_thousand(data: &Path) -> Result<String, String> {
    let thousand = rules_of(data, 1000)?;
    let mut ten_k = workload::schema();
    for k in 0..10 {
        ten_k.push_str(&workload::to_rules(&thousand, &format!("_{k}"))?);
    }
    Ok(ten_k)
}

/// Milliseconds from bundle bytes to a bundle ready to evaluate (freeing it afterwards is not
/// part of loading: a host keeps its bundle).
fn load_ms(bytes: &[u8]) -> f64 {
    let t = Instant::now();
    let bundle = Bundle::from_bytes(bytes);
    let ms = t.elapsed().as_secs_f64() * 1e3;
    drop(std::hint::black_box(bundle));
    ms
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

struct Timing {
    per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Times `f` over `items`: throughput from the best of `reps` passes with no clock read
/// between calls (two clock reads cost about as much as the hand-written function itself, so
/// timing each call would flatten the engine/hand ratio), then latencies from one more pass
/// that times each call.
fn time_each<T>(items: &[T], reps: usize, mut f: impl FnMut(&T)) -> Timing {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let start = Instant::now();
        for item in items {
            f(item);
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let mut lat = Vec::with_capacity(items.len());
    for item in items {
        let t = Instant::now();
        f(item);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    Timing {
        per_sec: items.len() as f64 / best,
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
    }
}

/// The workload's `i`th item as every runtime here is fed it: the profile with no consents, the
/// event with an id and a time (a millisecond after the previous event's).
fn stamped(x: &Value, i: usize) -> Result<(Value, Value), String> {
    let mut profile = x.get("profile").cloned().unwrap_or_default();
    let mut event = x.get("event").cloned().unwrap_or_default();
    let (Some(p), Some(e)) = (profile.as_object_mut(), event.as_object_mut()) else {
        return Err(format!(
            "item {i} of events.json lacks a profile or an event object"
        ));
    };
    p.insert("consents".into(), json!([]));
    e.insert("id".into(), json!(format!("e{i}")));
    e.insert("time".into(), json!(T0 + i as i64));
    Ok((profile, event))
}

/// Evaluation inputs: each parsed for the engine, and as the hand-written function reads it.
type Inputs = Vec<(Profile, Event, hand::Input)>;

/// The shared workload at `n` rules as evaluation inputs (parsed outside any timing).
fn inputs_of(data: &Path, n: usize, events: &[Value]) -> Result<(Bundle, f64, Inputs), String> {
    let rules = rules_of(data, n)?;
    let src = workload::schema() + &workload::to_rules(&rules, "")?;
    let (bundle, compile_ms) = compile(&src)?;
    let mut inputs = Vec::with_capacity(events.len());
    for (i, x) in events.iter().enumerate() {
        let (p, e) = stamped(x, i)?;
        let profile = Profile::from_json(&bundle, &p).map_err(|e| e.to_string())?;
        let event = Event::from_json(&bundle, &e).map_err(|e| e.to_string())?;
        inputs.push((profile, event, hand::Input::from_json(x)));
    }
    Ok((bundle, compile_ms, inputs))
}

fn profile(data: &Path, n: Option<&String>) -> Result<(), String> {
    let n: usize = n
        .map_or(Ok(1000), |s| s.parse())
        .map_err(|e| format!("N: {e}"))?;
    let events = read_json(&data.join("events.json"))?;
    let events = events.as_array().cloned().unwrap_or_default();
    if std::env::var_os("OMNIRULE_PROFILE_COMPILE").is_some() {
        // Compiling the 10,000-rule source instead of evaluation.
        let src = ten_thousand(data)?;
        let (start, mut count) = (Instant::now(), 0usize);
        while start.elapsed().as_secs_f64() < 10.0 {
            std::hint::black_box(compile(&src)?);
            count += 1;
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / count as f64;
        println!("{count} compiles of 10,000 rules: {ms:.0} ms each");
        return Ok(());
    }
    let (bundle, _, inputs) = inputs_of(data, n, &events)?;
    if std::env::var_os("OMNIRULE_PROFILE_LOAD").is_some() {
        // Bundle loading instead of evaluation.
        let bytes = bundle.to_bytes();
        let (start, mut count) = (Instant::now(), 0usize);
        while start.elapsed().as_secs_f64() < 5.0 {
            std::hint::black_box(Bundle::from_bytes(&bytes).map_err(|e| e.to_string())?);
            count += 1;
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / count as f64;
        println!("{count} loads of the {n}-rule bundle: {ms:.3} ms each");
        return Ok(());
    }
    let empty = Memory::default();
    if let Some(passes) = std::env::var_os("OMNIRULE_PROFILE_PASSES") {
        // A fixed amount of work, for counting instructions: two runs that differ only in
        // `passes` differ only by that many passes of evaluation (the warm-up pass builds the
        // triggers' fast paths in both).
        let passes: usize = passes
            .to_str()
            .and_then(|p| p.parse().ok())
            .ok_or("OMNIRULE_PROFILE_PASSES: a number")?;
        for _ in 0..=passes {
            for (profile, event, _) in &inputs {
                std::hint::black_box(evaluate(&bundle, &empty, profile, event));
            }
        }
        println!("{} events x {passes} passes (+1 warm-up)", inputs.len());
        return Ok(());
    }
    let start = Instant::now();
    let mut count = 0usize;
    while start.elapsed().as_secs_f64() < 5.0 {
        for (profile, event, _) in &inputs {
            std::hint::black_box(evaluate(&bundle, &empty, profile, event));
        }
        count += inputs.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{count} events in {secs:.2} s: {:.0} events/s ({} of the bundle's conditions compiled)",
        count as f64 / secs,
        bundle.compiled_conditions()
    );
    Ok(())
}

/// The shared workload natively, beside the hand-written Rust function.
fn native(data: &Path, events: &[Value], md: &mut String) -> Result<(), String> {
    let out = out_dir()?;
    let _ = writeln!(
        md,
        "### Shared workload, native (10,000 events, stateless: each event for a fresh customer)\n\n\
         | N | compile ms | bundle bytes | load ms | events/s | p50 µs | p99 µs | hand-written events/s | engine / hand | agreement with hand-written |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for n in NS {
        let (bundle, compile_ms, inputs) = inputs_of(data, n, events)?;
        let bytes = bundle.to_bytes();
        std::fs::write(out.join(format!("{n}.bundle")), &bytes).map_err(|e| e.to_string())?;
        let load_ms = median((0..20).map(|_| load_ms(&bytes)).collect());
        let empty = Memory::default();
        // Agreement first (also warms up).
        let decide = hand::for_rules(n).ok_or("no hand-written function")?;
        let mut agree = 0;
        let mut fired = 0usize;
        let mut buf = Vec::new();
        for (profile, event, input) in &inputs {
            let got: Vec<String> = evaluate(&bundle, &empty, profile, event)
                .decisions
                .into_iter()
                .map(|d| d.rule.to_string())
                .collect();
            buf.clear();
            decide(input, &mut buf);
            let want: Vec<String> = buf.iter().map(|i| format!("r{}", i + 1)).collect();
            fired += got.len();
            if got == want {
                agree += 1;
            }
        }
        let engine = time_each(&inputs, 3, |(profile, event, _)| {
            std::hint::black_box(evaluate(&bundle, &empty, profile, event));
        });
        let mut buf = Vec::with_capacity(16);
        let handt = time_each(&inputs, 3, |(_, _, input)| {
            buf.clear();
            decide(std::hint::black_box(input), &mut buf);
            std::hint::black_box(&buf);
        });
        let _ = writeln!(
            md,
            "| {n} | {compile_ms:.1} | {} | {load_ms:.3} | {:.0} | {:.2} | {:.2} | {:.0} | {:.1}× slower | {agree}/{} events ({fired} decisions) |",
            bytes.len(),
            engine.per_sec,
            engine.p50_us,
            engine.p99_us,
            handt.per_sec,
            handt.per_sec / engine.per_sec,
            inputs.len()
        );
    }
    Ok(())
}

fn run(data: &Path) -> Result<(), String> {
    let out = out_dir()?;
    let events = read_json(&data.join("events.json"))?;
    let events = events.as_array().cloned().unwrap_or_default();
    let mut md = String::new();
    native(data, &events, &mut md)?;

    wasmtime(data, &events, &mut md)?;

    // Compile time up to 10,000 rules (the 1,000 replicated ten times under new names).
    let (big, ms) = compile(&ten_thousand(data)?)?;
    let big_bytes = big.to_bytes();
    let load = median((0..10).map(|_| load_ms(&big_bytes)).collect());
    let _ = writeln!(
        md,
        "\n10,000 rules: compile {ms:.0} ms, bundle {} bytes, load {load:.2} ms.\n",
        big_bytes.len()
    );

    untriggered(&mut md)?;
    if std::env::var_os("OMNIRULE_BENCH_SKIP_HISTORY").is_none() {
        history(&mut md)?;
    }
    print!("{md}");
    std::fs::write(out.join("native.md"), &md).map_err(|e| e.to_string())?;
    Ok(())
}

/// The engine's wasm module (`abi/`), as the store host runs it.
fn abi_module() -> PathBuf {
    std::env::var_os("OMNIRULE_ABI_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/wasm32-unknown-unknown/wasm/omnirule_abi.wasm"))
}

/// The shared workload in the store host's runtime: wasmtime with its limits (fuel, epoch
/// deadline, memory cap), one instance per bundle, profile, event and memory crossing as JSON
/// bytes on every call, exactly as `omnirule-store` makes them (without its HTTP and SQLite).
/// Agreement is byte-identical output with the native engine.
fn wasmtime(data: &Path, events: &[Value], md: &mut String) -> Result<(), String> {
    use omnirule_store::guest::{Limits, Runtime};
    let path = abi_module();
    let wasm = std::fs::read(&path).map_err(|e| {
        format!(
            "{}: {e} (build it: cargo build -p omnirule-abi --target wasm32-unknown-unknown --profile wasm)",
            path.display()
        )
    })?;
    let runtime = Runtime::new(&wasm, None, Limits::default())?;
    let _ = writeln!(
        md,
        "\n### Shared workload, store host (wasmtime: the engine's wasm module, JSON bytes in and out per event)\n\n\
         | N | bundle load ms | events/s | p50 µs | p99 µs | agreement with native (byte-identical output) |\n\
         |---:|---:|---:|---:|---:|---|"
    );
    for n in NS {
        let rules = rules_of(data, n)?;
        let src = workload::schema() + &workload::to_rules(&rules, "")?;
        let (bundle, _) = compile(&src)?;
        let bytes = bundle.to_bytes();
        let mut loads = Vec::new();
        let mut guest = runtime.instantiate().map_err(|e| e.to_string())?;
        for _ in 0..5 {
            let t = Instant::now();
            guest.load_bundle(&bytes).map_err(|e| e.to_string())?;
            loads.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let inputs = events
            .iter()
            .enumerate()
            .map(|(i, x)| stamped(x, i).map(|(p, e)| (p.to_string(), e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut agree = 0;
        for (p, e) in &inputs {
            let got = guest
                .track(p.as_bytes(), e.as_bytes(), &[], false)
                .map_err(|e| e.to_string())?;
            let (pj, ej): (Value, Value) = (
                serde_json::from_str(p).map_err(|e| e.to_string())?,
                serde_json::from_str(e).map_err(|e| e.to_string())?,
            );
            let want = omnirule_engine::host::track(&bundle, &Memory::default(), &pj, &ej, false)
                .map_err(|e| e.to_string())?
                .to_json();
            if got.result == want.as_bytes() {
                agree += 1;
            }
        }
        let mut failed = None;
        let t = time_each(&inputs, 3, |(p, e)| {
            if let Err(err) = guest.track(p.as_bytes(), e.as_bytes(), &[], false) {
                failed = Some(err.to_string());
            }
        });
        if let Some(err) = failed {
            return Err(format!("wasmtime, {n} rules: {err}"));
        }
        let _ = writeln!(
            md,
            "| {n} | {:.3} | {:.0} | {:.2} | {:.2} | {agree}/{} events |",
            median(loads),
            t.per_sec,
            t.p50_us,
            t.p99_us,
            inputs.len()
        );
    }
    Ok(())
}

/// Cost per event against rules the event does not trigger: ten rules on `page_view`, then
/// 0 to 10,000 more on other event types; only `page_view` events are evaluated.
fn untriggered(md: &mut String) -> Result<(), String> {
    let _ = writeln!(
        md,
        "### Rules an event does not trigger, native (10 rules on page_view, N on other events)\n\n\
         | other rules | page_view events/s | µs/event | vs. no other rules |\n\
         |---:|---:|---:|---:|"
    );
    let others = ["purchase", "beacon_enter", "app_open"];
    let mut base = None;
    for n in [0usize, 1_000, 10_000] {
        let mut src =
            String::from("schema {\n  timezone \"UTC\"\n  profile { tier: string, ltv: number }\n");
        for e in std::iter::once("page_view").chain(others) {
            let _ = writeln!(src, "  event {e} {{ category: string, price: number }}");
        }
        src.push_str("  action offer { rule: string }\n}\n");
        let mut rule = |name: String, on: &str, i: usize| {
            let _ = write!(
                src,
                "rule {name} {{\n  on {on}\n  when profile.tier == \"t{}\" and event.price > {}\n  do offer {{ rule: \"{name}\" }}\n}}\n",
                i % 4,
                (i % 10) * 10
            );
        };
        for i in 0..10 {
            rule(format!("p{i}"), "page_view", i);
        }
        for i in 0..n {
            rule(
                format!("o{i}"),
                others.get(i % others.len()).copied().unwrap_or("app_open"),
                i,
            );
        }
        let (bundle, _) = compile(&src)?;
        let inputs: Vec<(Profile, Event)> = (0..1000)
            .map(|i| {
                let p = Profile::from_json(&bundle, &json!({"id": format!("c{i}"), "tier": format!("t{}", i % 5), "ltv": i}))?;
                let e = Event::from_json(&bundle, &json!({"type": "page_view", "id": format!("e{i}"), "time": T0 + i, "category": "knitwear", "price": i % 120}))?;
                Ok((p, e))
            })
            .collect::<Result<_, omnirule_engine::input::InputError>>()
            .map_err(|e| e.to_string())?;
        let empty = Memory::default();
        let t = time_each(&inputs, 20, |(p, e)| {
            std::hint::black_box(evaluate(&bundle, &empty, p, e));
        });
        let per = 1e6 / t.per_sec;
        let base = *base.get_or_insert(per);
        let _ = writeln!(
            md,
            "| {n} | {:.0} | {per:.3} | {:.2}× |",
            t.per_sec,
            per / base
        );
    }
    md.push('\n');
    Ok(())
}

/// A history-heavy workload no peer can run: `seen`/`count`/`since` over remembered events.
/// What checking a bundle's signature adds to loading it, natively: the median of 50 loads of
/// a signed bundle of N history rules, without and with `Bundle::verify`.
fn signature(md: &mut String) -> Result<(), String> {
    use omnirule_engine::bundle::signature::{SecretKey, TrustedKeys};
    let _ = writeln!(
        md,
        "### Signed bundles, native (load, then Ed25519 verification)\n\n\
         | rules | bundle bytes | load ms | load + verify ms | verify ms |\n\
         |---:|---:|---:|---:|---:|"
    );
    let key = SecretKey::from_seed([7; 32]);
    let trusted = TrustedKeys::parse_checked(&key.public_text()).map_err(|e| e.to_string())?;
    for n in [10usize, 1_000] {
        let compiled = RuleSet::from_texts([("h.rules", history_rules(n))])
            .compile()
            .map_err(|d| format!("{} diagnostics", d.len()))?;
        let bundle = Bundle::new(compiled.graph).map_err(|e| e.to_string())?;
        let bytes = bundle.signed(&key).to_bytes();
        let load = median((0..50).map(|_| load_ms(&bytes)).collect());
        let verified = median(
            (0..50)
                .map(|_| {
                    let t = Instant::now();
                    let b = Bundle::load(&bytes, Some(&trusted));
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    drop(std::hint::black_box(b));
                    ms
                })
                .collect(),
        );
        let _ = writeln!(
            md,
            "| {n} | {} | {load:.3} | {verified:.3} | {:.3} |",
            bytes.len(),
            verified - load
        );
    }
    Ok(())
}

/// What logging exposures adds to an event: evaluation alone, against evaluation plus the
/// lines of its decisions (`host::write_exposures`, the text a host appends to its log), on two
/// rule sets. The cheap case: 2,000 customers with nothing in memory, three events each, every
/// one decided by a three-arm split and a banner (bench/exposures.rules): the floor of an
/// evaluation. The journeys: the demo's rules (examples/10-o2o-loop) for 1,000 customers with
/// a week of browsing in memory, then a knitwear page view (the web banner), a store visit
/// (the in-store offer) and a purchase (two conversions, whose lines are written too).
fn exposures(md: &mut String) -> Result<(), String> {
    let cases = [
        ("native", exposure_floor()?),
        (
            "native, the demo's rules with a week of history",
            exposure_journeys()?,
        ),
    ];
    for (name, case) in &cases {
        let (mut alone, mut logged) = (Vec::new(), Vec::new());
        let mut written = Written::default();
        for _ in 0..11 {
            // Interleaved, so that a slower moment of the machine touches both.
            let mut memories = case.memories();
            let t = Instant::now();
            case.pass(&mut memories, false, &mut Written::default());
            alone.push(t.elapsed().as_secs_f64() * 1e6 / case.events() as f64);
            let mut memories = case.memories();
            written = Written::default();
            let t = Instant::now();
            case.pass(&mut memories, true, &mut written);
            logged.push(t.elapsed().as_secs_f64() * 1e6 / case.events() as f64);
        }
        let (a, l) = (median(alone), median(logged));
        let _ = writeln!(
            md,
            "### Exposure logging, {name} ({} events, {:.2} lines of {:.0} bytes each)\n",
            case.events(),
            written.lines as f64 / case.events() as f64,
            written.bytes as f64 / written.lines.max(1) as f64
        );
        let _ = writeln!(
            md,
            "| evaluate µs/event | evaluate + lines µs/event | added |\n|---:|---:|---:|"
        );
        let _ = writeln!(md, "| {a:.3} | {l:.3} | {:+.1}% |\n", (l / a - 1.0) * 100.0);
    }
    Ok(())
}

/// `omnirule-bench exposure-passes floor|journeys none|alone|logged P`: a warm-up pass, then
/// exactly P passes of one case (none with `none`), the customers' memories for all P copied
/// first in every mode. For scripts/bench-instructions.sh to count under callgrind: `alone`
/// or `logged` less `none` is P passes' work, whatever else the machine does.
fn exposure_passes(
    case: Option<&String>,
    mode: Option<&String>,
    passes: Option<&String>,
) -> Result<(), String> {
    let case = match case.map(String::as_str) {
        Some("floor") => exposure_floor()?,
        Some("journeys") => exposure_journeys()?,
        _ => return Err("the case is `floor` or `journeys`".into()),
    };
    let logged = match mode.map(String::as_str) {
        Some("none") => None,
        Some("alone") => Some(false),
        Some("logged") => Some(true),
        _ => return Err("the mode is `none`, `alone` or `logged`".into()),
    };
    let passes: usize = passes
        .and_then(|p| p.parse().ok())
        .ok_or("P: a number of passes")?;
    let mut written = Written::default();
    case.pass(&mut case.memories(), logged.unwrap_or(false), &mut written);
    let mut copies: Vec<Vec<Memory>> = (0..passes).map(|_| case.memories()).collect();
    if let Some(logged) = logged {
        for memories in &mut copies {
            case.pass(memories, logged, &mut written);
        }
    }
    println!(
        "{} events a pass, {} lines written",
        case.events(),
        written.lines
    );
    Ok(())
}

/// The customers of an exposure-logging case: each one's profile, memory before the timed
/// events, and those events.
struct ExposureCase {
    bundle: Bundle,
    customers: Vec<(Profile, Memory, Vec<Event>)>,
}

#[derive(Default)]
struct Written {
    lines: usize,
    bytes: usize,
}

impl ExposureCase {
    fn events(&self) -> usize {
        self.customers.iter().map(|(_, _, e)| e.len()).sum()
    }

    /// Copies of the customers' memories before the events, for one pass.
    fn memories(&self) -> Vec<Memory> {
        self.customers.iter().map(|(_, m, _)| m.clone()).collect()
    }

    /// Every customer's events, in `memories` (from [`Self::memories`]; a host keeps one
    /// memory per customer and updates it), with the events' exposure and conversion lines
    /// written when `logged`.
    fn pass(&self, memories: &mut [Memory], logged: bool, written: &mut Written) {
        use omnirule_engine::evaluate_in_place;
        use omnirule_engine::host::{Place, write_conversions, write_exposures};
        let place = Place {
            channel: "store",
            host: Some("paris-01"),
        };
        let mut log = String::with_capacity(1 << 12);
        for ((profile, _, events), memory) in self.customers.iter().zip(memories) {
            for e in events {
                let (decisions, conversions) = evaluate_in_place(&self.bundle, memory, profile, e);
                if logged {
                    log.clear();
                    write_exposures(&self.bundle, profile, e, &decisions, place, &mut log);
                    write_conversions(profile, e, &conversions, place, &mut log);
                    written.lines += decisions.len() + conversions.len();
                    written.bytes += log.len();
                    std::hint::black_box(&log);
                }
                std::hint::black_box((decisions, conversions));
            }
        }
    }
}

fn exposure_bundle(name: &str, source: &str) -> Result<Bundle, String> {
    let compiled = RuleSet::from_texts([(name, source)])
        .compile()
        .map_err(|d| format!("{} diagnostics", d.len()))?;
    Bundle::new(compiled.graph).map_err(|e| e.to_string())
}

/// The cheap case: nothing in memory, every event decided (bench/exposures.rules).
fn exposure_floor() -> Result<ExposureCase, String> {
    let bundle = exposure_bundle("coats.rules", include_str!("../exposures.rules"))?;
    let mut customers = Vec::new();
    for i in 0..2_000 {
        let profile = Profile::from_json(
            &bundle,
            &json!({"id": format!("c{i}"), "tier": "silver", "consents": ["marketing"]}),
        )
        .map_err(|e| e.to_string())?;
        let mut events = Vec::new();
        for n in 0..3 {
            events.push(
                Event::from_json(
                    &bundle,
                    &json!({"type": "page_view", "id": format!("c{i}-{n}"), "time": 1_795_000_000_000u64 + n,
                            "sku": "CO-1", "category": "coats", "price": 90 + 10 * n}),
                )
                .map_err(|e| e.to_string())?,
            );
        }
        // Each event for a fresh customer, as in a memory-less edge.
        for e in events {
            customers.push((profile.clone(), Memory::default(), vec![e]));
        }
    }
    Ok(ExposureCase { bundle, customers })
}

/// The journeys: the demo's rules, a week of browsing in memory, then a knitwear page view, a
/// store visit and a purchase.
fn exposure_journeys() -> Result<ExposureCase, String> {
    use omnirule_engine::evaluate_in_place;
    const DAY: i64 = 86_400_000;
    const CATEGORIES: [&str; 4] = ["knitwear", "coats", "shoes", "accessories"];
    let path = root().join("examples/10-o2o-loop/o2o.rules");
    let source = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bundle = exposure_bundle("o2o.rules", &source)?;
    let event = |v: Value| Event::from_json(&bundle, &v).map_err(|e| e.to_string());
    let mut customers = Vec::new();
    for i in 0..1_000usize {
        let profile = Profile::from_json(
            &bundle,
            &json!({"id": format!("c{i}"), "tier": "silver", "first_name": "Ana",
                    "consents": ["marketing", "location"]}),
        )
        .map_err(|e| e.to_string())?;
        let mut memory = Memory::default();
        // A week of browsing, twenty page views, no knitwear bought.
        for n in 0..20usize {
            let past = event(json!({"type": "page_view", "id": format!("c{i}-p{n}"),
                "time": T0 - 7 * DAY + (n as i64) * 8 * 3_600_000,
                "sku": format!("SK-{}", (i + n) % 50), "category": CATEGORIES.get((i + n) % 4).copied().unwrap_or("coats"),
                "price": 40 + (n % 7) * 10}))?;
            evaluate_in_place(&bundle, &mut memory, &profile, &past);
        }
        let sku = format!("SW-{}", i % 40);
        let journey = vec![
            event(
                json!({"type": "page_view", "id": format!("c{i}-w"), "time": T0,
                "sku": sku, "category": "knitwear", "price": 79}),
            )?,
            event(
                json!({"type": "beacon_enter", "id": format!("c{i}-b"), "time": T0 + DAY,
                "store": "paris-01", "zone": "entrance"}),
            )?,
            event(
                json!({"type": "purchase", "id": format!("c{i}-s"), "time": T0 + DAY + 1_200_000,
                "sku": sku, "category": "knitwear", "amount": 63.2, "channel": "store",
                "store": "paris-01"}),
            )?,
        ];
        customers.push((profile, memory, journey));
    }
    Ok(ExposureCase { bundle, customers })
}

fn history_rules(n: usize) -> String {
    let mut s = String::from(
        "schema {\n  timezone \"UTC\"\n  profile { tier: string }\n  \
         event page_view { sku: string, category: string, price: number }\n  \
         event purchase { sku: string, category: string, amount: number }\n  \
         event beacon_enter { store: string }\n  action offer { rule: string }\n}\n",
    );
    for i in 0..n {
        let cat = i % 20;
        let cond = match i % 4 {
            0 => format!(
                "seen page_view as v within {}d where v.category == \"c{cat}\"\n    and not seen purchase since v where purchase.sku == v.sku",
                7 + (i % 3) * 7
            ),
            1 => format!(
                "count(page_view within 30d where page_view.category == \"c{cat}\") >= {}",
                i % 7 + 1
            ),
            2 => format!(
                "seen purchase within 90d where purchase.amount > {}",
                (i % 10) * 20
            ),
            _ => format!("time_since(purchase within 90d) > {}d", i % 5 + 1),
        };
        let _ = write!(
            s,
            "rule h{i} {{\n  on beacon_enter\n  when {cond}\n  do offer {{ rule: \"h{i}\" }}\n}}\n"
        );
    }
    s
}

fn history(md: &mut String) -> Result<(), String> {
    let _ = writeln!(
        md,
        "### History-heavy workload, native (1,000 rules of `seen`/`count`/`since` on beacon_enter)\n\n\
         | remembered events | memory bytes | beacon_enter µs/event | decisions | page_view µs/event (triggers no rule) |\n\
         |---:|---:|---:|---:|---:|"
    );
    let (bundle, _) = compile(&history_rules(1000))?;
    let profile = Profile::from_json(&bundle, &json!({"id": "c1", "tier": "gold"}))
        .map_err(|e| e.to_string())?;
    for size in [100usize, 1000, 5000] {
        // `size` events over the last 30 days: nine views for every purchase.
        let mut memory = Memory::default();
        let span = 30 * 86_400_000i64;
        for i in 0..size {
            let t = T0 - span + (span / size as i64) * i as i64;
            let cat = i % 20;
            let e = if i % 10 == 9 {
                json!({"type": "purchase", "id": format!("p{i}"), "time": t, "sku": format!("s{}", i % 50), "category": format!("c{cat}"), "amount": (i % 200) as f64})
            } else {
                json!({"type": "page_view", "id": format!("v{i}"), "time": t, "sku": format!("s{}", i % 50), "category": format!("c{cat}"), "price": 10})
            };
            let e = Event::from_json(&bundle, &e).map_err(|e| e.to_string())?;
            memory = evaluate(&bundle, &memory, &profile, &e).memory;
        }
        let beacons: Vec<Event> = (0..200)
            .map(|i| {
                Event::from_json(&bundle, &json!({"type": "beacon_enter", "id": format!("b{i}"), "time": T0 + i, "store": "s"}))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let decisions = evaluate(
            &bundle,
            &memory,
            &profile,
            beacons.first().ok_or("no beacon")?,
        )
        .decisions
        .len();
        let t = time_each(&beacons, 3, |e| {
            std::hint::black_box(evaluate(&bundle, &memory, &profile, e));
        });
        let views: Vec<Event> = (0..200)
            .map(|i| {
                Event::from_json(&bundle, &json!({"type": "page_view", "id": format!("w{i}"), "time": T0 + i, "sku": "x", "category": "y", "price": 1}))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let v = time_each(&views, 3, |e| {
            std::hint::black_box(evaluate(&bundle, &memory, &profile, e));
        });
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {decisions} | {:.1} |",
            memory.event_count(),
            memory.to_bytes().len(),
            1e6 / t.per_sec,
            1e6 / v.per_sec
        );
    }
    Ok(())
}
