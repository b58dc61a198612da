//! `omnirule-store`: the in-store host. See `edge-host/README.md`.

use clap::Parser;
use omnirule_store::config::{self, LogFormat, TlsFiles};
use omnirule_store::{Config, default_module_candidates, guest::Limits, start};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The Omnirule in-store host: the engine as a wasm module in wasmtime, an HTTP API for
/// beacons, POS terminals and kiosks, customers' memory and profiles in SQLite.
///
/// Settings come from the built-in defaults, then the config file (--config), then the
/// environment, then these flags.
#[derive(Parser)]
#[command(name = "omnirule-store", version)]
struct Args {
    /// Config file (TOML; see edge-host/omnirule-store.example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8787; env OMNIRULE_LISTEN]. Port 0 picks a
    /// free port; the bound address is printed on stdout.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory for the database (store.db) and the compiled-module cache (cache/)
    /// [default: omnirule-store-data; env OMNIRULE_DATA_DIR].
    #[arg(long)]
    data_dir: Option<PathBuf>,
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
    /// The admin token (every scope). Default: $OMNIRULE_ADMIN_TOKEN (prefer it, or the config
    /// file: arguments are visible to other users).
    #[arg(long)]
    admin_token: Option<String>,
    /// Fuel for one engine call (roughly, wasm instructions) [default: 2000000000].
    #[arg(long)]
    fuel: Option<u64>,
    /// Largest linear memory of an engine instance, in MiB [default: 256].
    #[arg(long)]
    max_memory_mib: Option<usize>,
    /// Wall-clock limit of one engine call, in milliseconds [default: 2000].
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Largest request body in bytes, bundles excepted [default: 1048576].
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Largest bundle in bytes [default: 16777216].
    #[arg(long)]
    max_bundle_bytes: Option<usize>,
    /// Longest time for a whole request, body included, in milliseconds [default: 10000].
    #[arg(long)]
    request_timeout_ms: Option<u64>,
    /// Longest time for a connection to send a request head, in milliseconds (idle keep-alive
    /// connections are closed after it) [default: 10000].
    #[arg(long)]
    header_timeout_ms: Option<u64>,
    /// API requests served at once; more wait their turn [default: 256].
    #[arg(long)]
    max_concurrent_requests: Option<usize>,
    /// Events evaluated at once (taken in arrival order; the durable write waits outside)
    /// [default: twice the cores].
    #[arg(long)]
    engine_concurrency: Option<usize>,
    /// How far ahead of this host's clock an event's `time` may be, in milliseconds; later
    /// events are refused with 422 [default: 300000, five minutes].
    #[arg(long)]
    max_future_ms: Option<u64>,
    /// At SIGTERM or SIGINT, how long requests in flight get to finish, in milliseconds
    /// [default: 8000].
    #[arg(long)]
    shutdown_grace_ms: Option<u64>,
    /// SQLite read connections kept open (each request borrows one) [default: 16].
    #[arg(long)]
    workers: Option<usize>,
    /// How often the bundle file is checked for changes, in milliseconds [default: 500].
    #[arg(long)]
    watch_ms: Option<u64>,
    /// Log format [default: text; env OMNIRULE_LOG_FORMAT]. The filter is RUST_LOG (default
    /// info).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// TLS certificate chain (PEM) [env OMNIRULE_TLS_CERT]; with --tls-key, serve HTTPS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) [env OMNIRULE_TLS_KEY].
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Accept only bundles signed by this public key (`ed25519:...`, from `omnirule keygen`),
    /// or by a key listed in this file; repeat for several (a rotation)
    /// [env OMNIRULE_TRUSTED_KEYS, comma-separated].
    #[arg(long = "trusted-key", value_name = "KEY")]
    trusted_keys: Vec<String>,
    /// Join the fleet at this NATS server (`nats://host:4222`) [env OMNIRULE_FLEET_URL]:
    /// share memory, deletions and bundles with the other sites (docs/fleet.md). The NATS token,
    /// if any: env OMNIRULE_FLEET_TOKEN.
    #[arg(long = "fleet", value_name = "URL")]
    fleet_url: Option<String>,
    /// This site's name in the fleet (`store-042`, `web`) [env OMNIRULE_SITE].
    #[arg(long)]
    site: Option<String>,
    /// Longest wait for the fleet's view of a customer before deciding (default 50).
    #[arg(long)]
    fleet_read_wait_ms: Option<u64>,
    /// Read the fleet's view of a customer at most once in this many ms (default 0: before
    /// every decision; see docs/fleet.md for the trade).
    #[arg(long)]
    fleet_fresh_ms: Option<u64>,
    /// Append an exposure line per decision to this file (JSON lines, the format `omnirule
    /// report` reads; docs/report.md). In a fleet, exposures also flow to the fleet's
    /// `OMNIRULE_EXPOSURES` stream, durably.
    #[arg(long)]
    exposure_log: Option<PathBuf>,
    /// The channel this host's exposures are logged under (default `store`; `web` for the
    /// online node).
    #[arg(long)]
    channel: Option<String>,
    /// JetStream replicas of the fleet's buckets and stream (3 on a hub cluster; default 1).
    #[arg(long)]
    fleet_replicas: Option<usize>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Defaults < file < environment < flags.
fn configure(args: Args) -> Result<Config, String> {
    let file = match &args.config {
        Some(p) => config::File::read(p)?,
        None => config::File::default(),
    };
    let parse_env = |name: &str| -> Result<Option<SocketAddr>, String> {
        env(name)
            .map(|v| v.parse().map_err(|e| format!("{name}={v}: {e}")))
            .transpose()
    };
    let data_dir = args
        .data_dir
        .or_else(|| env("OMNIRULE_DATA_DIR").map(PathBuf::from))
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("omnirule-store-data"));
    let module = match args.module.or(file.module) {
        Some(m) => m,
        None => {
            let candidates = default_module_candidates();
            match candidates.iter().find(|p| p.is_file()) {
                Some(p) => p.clone(),
                None => {
                    return Err(format!(
                        "the engine module was not found (looked at: {}); build it with `{}` or pass --module",
                        candidates
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        omnirule_store::BUILD_MODULE
                    ));
                }
            }
        }
    };
    let mut config = Config::new(&data_dir, module);
    if let Some(l) = args
        .listen
        .or(parse_env("OMNIRULE_LISTEN")?)
        .or(file.listen)
    {
        config.listen = l;
    }
    if let Some(b) = args.bundle.or(file.bundle) {
        config.bundle = b;
    }
    if let Some(dir) = args.cache_dir.or(file.cache_dir) {
        config.cache_dir = dir;
    }
    config.module_cache = !args.no_module_cache && file.module_cache.unwrap_or(true);
    config.tokens = config::tokens(&file.tokens, &env, args.admin_token)?;
    // Flags win over the environment, which wins over the file (as for every setting).
    let keys: Vec<String> = if !args.trusted_keys.is_empty() {
        args.trusted_keys
            .iter()
            .map(|k| {
                if k.starts_with("ed25519:") {
                    Ok(k.clone())
                } else {
                    std::fs::read_to_string(k).map_err(|e| format!("--trusted-key {k}: {e}"))
                }
            })
            .collect::<Result<_, _>>()?
    } else if let Some(v) = env("OMNIRULE_TRUSTED_KEYS") {
        vec![v]
    } else {
        file.trusted_keys.clone()
    };
    config.trusted_keys = (!keys.is_empty()).then(|| keys.join("\n"));
    let defaults = Limits::default();
    config.limits = Limits {
        fuel: args.fuel.or(file.limits.fuel).unwrap_or(defaults.fuel),
        max_memory: args
            .max_memory_mib
            .or(file.limits.max_memory_mib)
            .map_or(defaults.max_memory, |m| m.saturating_mul(1 << 20)),
        timeout: Duration::from_millis(args.timeout_ms.or(file.limits.timeout_ms).unwrap_or(2000)),
    };
    let http = &file.http;
    config.max_body = args
        .max_body_bytes
        .or(http.max_body_bytes)
        .unwrap_or(config.max_body);
    config.max_bundle = args
        .max_bundle_bytes
        .or(http.max_bundle_bytes)
        .unwrap_or(config.max_bundle);
    let ms = |flag: Option<u64>, file: Option<u64>, default: Duration| {
        flag.or(file)
            .map_or(default, |v| Duration::from_millis(v.max(1)))
    };
    config.request_timeout = ms(
        args.request_timeout_ms,
        http.request_timeout_ms,
        config.request_timeout,
    );
    config.header_timeout = ms(
        args.header_timeout_ms,
        http.header_timeout_ms,
        config.header_timeout,
    );
    config.shutdown_grace = ms(
        args.shutdown_grace_ms,
        http.shutdown_grace_ms,
        config.shutdown_grace,
    );
    config.max_concurrent = args
        .max_concurrent_requests
        .or(http.max_concurrent_requests)
        .unwrap_or(config.max_concurrent)
        .max(1);
    config.engine_concurrency = args
        .engine_concurrency
        .or(http.engine_concurrency)
        .unwrap_or(config.engine_concurrency)
        .max(1);
    if let Some(ms) = args.max_future_ms.or(http.max_future_ms) {
        config.max_future = Duration::from_millis(ms);
    }
    config.workers = args
        .workers
        .or(file.workers)
        .unwrap_or(config.workers)
        .max(1);
    config.watch_every =
        Duration::from_millis(args.watch_ms.or(file.watch_ms).unwrap_or(500).max(10));
    let cert = args
        .tls_cert
        .or_else(|| env("OMNIRULE_TLS_CERT").map(PathBuf::from));
    let key = args
        .tls_key
        .or_else(|| env("OMNIRULE_TLS_KEY").map(PathBuf::from));
    let fleet_file = file.fleet.unwrap_or_default();
    let fleet_url = args
        .fleet_url
        .or_else(|| env("OMNIRULE_FLEET_URL"))
        .or(fleet_file.url);
    let site = args
        .site
        .or_else(|| env("OMNIRULE_SITE"))
        .or(fleet_file.site);
    config.fleet = match (fleet_url, site) {
        (Some(url), Some(site)) => {
            let mut f = omnirule_store::fleet::FleetConfig::new(&url, &site)?;
            f.token = env("OMNIRULE_FLEET_TOKEN").or(fleet_file.token);
            if let Some(ms) = args.fleet_read_wait_ms.or(fleet_file.read_wait_ms) {
                f.read_wait = Duration::from_millis(ms.max(1));
            }
            if let Some(ms) = args.fleet_fresh_ms.or(fleet_file.fresh_ms) {
                f.fresh_for = Duration::from_millis(ms);
            }
            f.replicas = args
                .fleet_replicas
                .or(fleet_file.replicas)
                .unwrap_or(1)
                .max(1);
            Some(f)
        }
        (Some(_), None) => {
            return Err("joining a fleet needs this site's name: --site (or OMNIRULE_SITE)".into());
        }
        (None, _) => None,
    };
    config.exposure_log = args.exposure_log.or(file.exposure_log);
    if let Some(c) = args.channel.or(file.channel) {
        config.channel = c;
    }
    config.tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => file.tls,
        _ => return Err("TLS needs both a certificate and a key".to_string()),
    };
    Ok(config)
}

/// SIGTERM or SIGINT.
async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The log format and filter are needed before anything else is reported.
    let file_log = args
        .config
        .as_ref()
        .and_then(|p| config::File::read(p).ok())
        .map(|f| f.log)
        .unwrap_or_default();
    let format = args
        .log_format
        .or_else(|| match env("OMNIRULE_LOG_FORMAT").as_deref() {
            Some("json") => Some(LogFormat::Json),
            Some("text") => Some(LogFormat::Text),
            _ => None,
        })
        .or(file_log.format)
        .unwrap_or_default();
    let logs = omnirule_store::logs::init(format, file_log.filter.as_deref());
    let code = run(args);
    logs.flush();
    code
}

fn run(args: Args) -> ExitCode {
    let config = match configure(args) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if config.tokens.is_empty() {
        tracing::warn!(
            "no token is configured: every route but /livez answers 401 (set OMNIRULE_ADMIN_TOKEN or [[tokens]] in --config)"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("omnirule-http")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tokens = config.tokens.describe();
    let tls = config.tls.is_some();
    let prepared = match start(config) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bundle = prepared.app.bundle.current();
    tracing::info!(
        addr = %prepared.addr,
        tls,
        module = prepared.app.runtime.module_hash(),
        module_from_cache = prepared.app.runtime.from_cache(),
        bundle = bundle.as_ref().map_or("none", |b| b.hash.as_str()),
        tokens = ?tokens,
        "omnirule-store listening"
    );
    drop(bundle);
    // Tests and scripts read the bound address from this line.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "listening on {}://{}",
        if tls { "https" } else { "http" },
        prepared.addr
    );
    let _ = out.flush();
    let outcome = runtime.block_on(prepared.run(signal()));
    // Requests that outlived the grace period are abandoned (their writes were either
    // committed or never acknowledged).
    runtime.shutdown_timeout(Duration::from_millis(500));
    match outcome {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
