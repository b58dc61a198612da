//! `omnirule-store`: the in-store host. See `edge-host/README.md`.

use clap::Parser;
use omnirule_store::{Config, default_module_candidates, guest::Limits, start};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The Omnirule in-store host: the engine as a wasm module in wasmtime, an HTTP API for
/// beacons, POS terminals and kiosks, customers' memory and profiles in SQLite.
#[derive(Parser)]
#[command(name = "omnirule-store", version)]
struct Args {
    /// Address to listen on. Port 0 picks a free port; the bound address is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Directory for the database (store.db) and the compiled-module cache (cache/).
    #[arg(long, default_value = "omnirule-store-data")]
    data_dir: PathBuf,
    /// Bundle file: loaded at start, watched for changes, replaced by PUT /v1/bundle.
    /// Default: DATA_DIR/bundle.bin.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// The engine module. Default: $OMNIRULE_MODULE, omnirule_abi.wasm beside this program,
    /// or the cargo build output.
    #[arg(long)]
    module: Option<PathBuf>,
    /// Do not cache the compiled module on disk.
    #[arg(long)]
    no_module_cache: bool,
    /// Directory of the compiled-module cache. Default: DATA_DIR/cache.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Token for the admin endpoints (PUT /v1/bundle, DELETE and merge of customers).
    /// Default: $OMNIRULE_ADMIN_TOKEN (prefer it: arguments are visible to other users).
    #[arg(long)]
    admin_token: Option<String>,
    /// Fuel for one engine call (roughly, wasm instructions).
    #[arg(long, default_value_t = Limits::default().fuel)]
    fuel: u64,
    /// Largest linear memory of an engine instance, in MiB.
    #[arg(long, default_value_t = Limits::default().max_memory >> 20)]
    max_memory_mib: usize,
    /// Wall-clock limit of one engine call, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Largest request body in bytes (bundles excepted).
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Largest bundle in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_bundle_bytes: usize,
    /// SQLite read connections kept open (each request borrows one).
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// How often the bundle file is checked for changes, in milliseconds.
    #[arg(long, default_value_t = 500)]
    watch_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let module = match args.module {
        Some(m) => m,
        None => {
            let candidates = default_module_candidates();
            match candidates.iter().find(|p| p.is_file()) {
                Some(p) => p.clone(),
                None => {
                    eprintln!(
                        "error: the engine module was not found (looked at: {}); build it with `{}` or pass --module",
                        candidates
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        omnirule_store::BUILD_MODULE
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let mut config = Config::new(&args.data_dir, module);
    config.listen = args.listen;
    if let Some(b) = args.bundle {
        config.bundle = b;
    }
    if let Some(dir) = args.cache_dir {
        config.cache_dir = dir;
    }
    config.module_cache = !args.no_module_cache;
    config.admin_token = args
        .admin_token
        .or_else(|| std::env::var("OMNIRULE_ADMIN_TOKEN").ok())
        .filter(|t| !t.is_empty());
    config.limits = Limits {
        fuel: args.fuel,
        max_memory: args.max_memory_mib.saturating_mul(1 << 20),
        timeout: Duration::from_millis(args.timeout_ms),
    };
    config.max_body = args.max_body_bytes;
    config.max_bundle = args.max_bundle_bytes;
    config.workers = args.workers.max(1);
    config.watch_every = Duration::from_millis(args.watch_ms.max(10));
    match start(config) {
        Ok(running) => {
            let bundle = running.app.bundle.current();
            eprintln!(
                "omnirule-store: module {} ({}), bundle {}",
                running.app.runtime.module_hash(),
                if running.app.runtime.from_cache() {
                    "compiled module from cache"
                } else {
                    "compiled"
                },
                bundle.as_ref().map_or("none", |b| b.hash.as_str()),
            );
            // Tests and scripts read the bound address from this line.
            let mut out = std::io::stdout();
            let _ = writeln!(out, "listening on http://{}", running.addr);
            let _ = out.flush();
            running.wait();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
