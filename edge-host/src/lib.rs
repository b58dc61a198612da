//! The in-store host: the Omnirule engine, as a wasm module inside wasmtime, behind an HTTP API
//! for beacons, POS terminals, kiosks and staff tablets, with customers' memory and profiles in
//! SQLite. See `edge-host/README.md` for the API and `docs/abi.md` for the module's ABI.
//!
//! - [`guest`]: wasmtime (one engine, the module compiled once and cached, instances, limits).
//! - [`bundles`]: the current bundle, its instance pool, hot reload with an atomic swap.
//! - [`db`]: SQLite (WAL, `synchronous=FULL`, group commit).
//! - [`locks`]: per-customer serialisation.
//! - [`server`]: the API's operations (blocking: engine calls, SQLite).
//! - [`service`]: the HTTP service (axum on hyper and tokio, tower layers), TLS, shutdown.
//! - [`auth`]: tokens and scopes; [`config`]: the config file and the environment.
//! - [`metrics`]: Prometheus (OpenMetrics) text, process metrics; [`logs`]: tracing to stderr.
//! - [`fleet`]: one customer view across the sites, over NATS JetStream (optional).

pub mod auth;
pub mod bundles;
pub mod config;
pub mod db;
pub mod fleet;
pub mod guest;
pub mod locks;
pub mod logs;
pub mod metrics;
pub mod server;
pub mod service;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The command that builds the engine module.
pub const BUILD_MODULE: &str =
    "cargo build -p omnirule-abi --target wasm32-unknown-unknown --profile wasm";

/// Everything the host is started with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (127.0.0.1 by default).
    pub listen: SocketAddr,
    /// Directory of the database (`store.db`) and of the compiled-module cache (`cache/`).
    pub data_dir: PathBuf,
    /// The bundle file: loaded at start, watched for changes, written by `PUT /v1/bundle`.
    pub bundle: PathBuf,
    /// The engine module (`omnirule_abi.wasm`).
    pub module: PathBuf,
    /// Cache the compiled module on disk, in `cache_dir`.
    pub module_cache: bool,
    pub cache_dir: PathBuf,
    /// Tokens and their scopes (none: every route but `/livez` answers 401).
    pub tokens: auth::Tokens,
    pub limits: guest::Limits,
    /// Largest request body, except bundles.
    pub max_body: usize,
    /// Largest bundle (`PUT /v1/bundle`).
    pub max_bundle: usize,
    /// Read connections kept open (requests beyond that open more).
    pub workers: usize,
    /// How often the bundle file is checked for changes.
    pub watch_every: Duration,
    /// Longest time for a whole request (body included).
    pub request_timeout: Duration,
    /// Longest time for a connection to send a request head (idle keep-alive included).
    pub header_timeout: Duration,
    /// API requests served at once; more wait their turn (within `request_timeout`).
    pub max_concurrent: usize,
    /// Events evaluated at once (the engine's turns); the commit waits outside them.
    pub engine_concurrency: usize,
    /// At shutdown, how long in-flight requests get to finish.
    pub shutdown_grace: Duration,
    /// How far ahead of this host's clock an event's `time` may be; later ones are refused
    /// (422 `event_in_future`), so one wrong clock cannot prune a customer's memory away.
    pub max_future: Duration,
    /// Serve HTTPS with these files.
    pub tls: Option<config::TlsFiles>,
    /// Public keys (text, `ed25519:...`): when set, only bundles signed by one of them load
    /// (at start, from the watched file, and by `PUT /v1/bundle`).
    pub trusted_keys: Option<String>,
    /// Join a fleet (NATS JetStream): share memory, deletions and bundles with the other
    /// sites. `None`: this host stands alone.
    pub fleet: Option<fleet::FleetConfig>,
    /// Append an exposure line per decision to this file (docs/report.md).
    pub exposure_log: Option<PathBuf>,
    /// The channel this host's exposures are logged under (`store`; the online node: `web`).
    pub channel: String,
}

impl Config {
    /// Defaults for a data directory.
    pub fn new(data_dir: &Path, module: PathBuf) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data_dir: data_dir.to_path_buf(),
            bundle: data_dir.join("bundle.bin"),
            module,
            module_cache: true,
            cache_dir: data_dir.join("cache"),
            tokens: auth::Tokens::default(),
            limits: guest::Limits::default(),
            max_body: 1 << 20,
            max_bundle: 16 << 20,
            workers: 16,
            watch_every: Duration::from_millis(500),
            request_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_concurrent: 256,
            engine_concurrency: server::cpu_slots(),
            shutdown_grace: Duration::from_secs(8),
            max_future: Duration::from_secs(5 * 60),
            tls: None,
            trusted_keys: None,
            fleet: None,
            exposure_log: None,
            channel: "store".to_string(),
        }
    }
}

/// Where the engine module is looked for when `--module` is not given: `$OMNIRULE_MODULE`,
/// `omnirule_abi.wasm` beside the executable, then the cargo build output
/// (`target/wasm32-unknown-unknown/wasm/omnirule_abi.wasm` relative to `target/<profile>/`).
pub fn default_module_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("OMNIRULE_MODULE") {
        out.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        out.push(dir.join("omnirule_abi.wasm"));
        for up in [dir.parent(), dir.parent().and_then(Path::parent)]
            .into_iter()
            .flatten()
        {
            out.push(
                up.join("wasm32-unknown-unknown")
                    .join("wasm")
                    .join("omnirule_abi.wasm"),
            );
        }
    }
    out
}

/// A host ready to serve: state loaded, address bound.
pub struct Prepared {
    /// The bound address (the port is the real one when 0 was asked for).
    pub addr: SocketAddr,
    pub app: Arc<server::App>,
    listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Prepared {
    /// Serves until `shutdown` resolves, lets the requests in flight finish (within the grace
    /// period), then commits what the writer holds and closes the database. Runs inside a
    /// tokio runtime.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
        let listener = tokio::net::TcpListener::from_std(self.listener)
            .map_err(|e| format!("cannot serve on {}: {e}", self.addr))?;
        let app = self.app.clone();
        let fleet_tasks = match &app.fleet {
            Some(f) => f.spawn(app.clone()),
            None => Vec::new(),
        };
        let stopping = async {
            shutdown.await;
            app.stopping
                .store(true, std::sync::atomic::Ordering::SeqCst);
        };
        service::serve(self.app.clone(), listener, self.tls, stopping).await;
        // What is still queued for the fleet stays in the outbox, on disk, for the next start.
        for t in fleet_tasks {
            t.abort();
        }
        let app = self.app.clone();
        // The writer commits what is queued, checkpoints and closes (blocking: off the executor).
        let _ = tokio::task::spawn_blocking(move || app.db.close()).await;
        tracing::info!("database closed");
        Ok(())
    }
}

/// Opens the database, compiles the module, loads the bundle (if its file exists), reads the
/// TLS files and binds.
pub fn start(config: Config) -> Result<Prepared, String> {
    let wasm = std::fs::read(&config.module).map_err(|e| {
        format!(
            "cannot read the engine module {}: {e}; build it with `{BUILD_MODULE}` or pass --module",
            config.module.display()
        )
    })?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
    let tls = config.tls.as_ref().map(service::tls_acceptor).transpose()?;
    let cache = config.cache_dir.clone();
    let runtime = Arc::new(
        guest::Runtime::new(
            &wasm,
            config.module_cache.then_some(cache.as_path()),
            config.limits,
        )?
        .trusting(config.trusted_keys.clone())?
        .placed(
            &config.channel,
            config.fleet.as_ref().map(|f| f.site.as_str()),
        ),
    );
    if let Some(keys) = runtime.trusted_key_ids() {
        tracing::info!(keys = %keys.join(","), "only bundles signed by these keys load");
    }
    let metrics = Arc::new(metrics::Metrics::new());
    let db = db::Db::open(&config.data_dir.join("store.db"), metrics.writer.clone())?;
    let slot = Arc::new(bundles::BundleSlot::default());
    if config.bundle.exists() {
        let bytes = std::fs::read(&config.bundle)
            .map_err(|e| format!("cannot read the bundle {}: {e}", config.bundle.display()))?;
        let loaded = slot
            .replace(&runtime, bytes, &metrics, |_| Ok(()))
            .map_err(|e| {
                format!(
                    "the bundle {} cannot be loaded: {e}",
                    config.bundle.display()
                )
            })?;
        tracing::info!(bundle = %loaded.hash, load_fuel = loaded.load_fuel, file = %config.bundle.display(), "bundle loaded");
    } else {
        tracing::warn!(file = %config.bundle.display(), "no bundle file: not ready until a bundle is PUT or written");
    }
    bundles::watch(
        config.bundle.clone(),
        config.watch_every,
        slot.clone(),
        runtime.clone(),
        metrics.clone(),
    )
    .map_err(|e| format!("cannot start the bundle watcher: {e}"))?;
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let engine_concurrency = config.engine_concurrency.max(1);
    let mut readers = Vec::with_capacity(config.workers);
    for _ in 0..config.workers.max(1) {
        readers.push(db.reader()?);
    }
    let fleet = config.fleet.clone().map(fleet::Fleet::new);
    let exposure_log = match &config.exposure_log {
        Some(path) => Some(std::sync::Mutex::new(std::io::LineWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the exposure log {}: {e}", path.display()))?,
        ))),
        None => None,
    };
    let app = Arc::new(server::App {
        fleet,
        exposure_log,
        config,
        runtime,
        bundle: slot,
        db,
        locks: locks::KeyedLocks::default(),
        metrics,
        readers: std::sync::Mutex::new(readers),
        stopping: std::sync::atomic::AtomicBool::new(false),
        cpu: Arc::new(tokio::sync::Semaphore::new(engine_concurrency)),
    });
    Ok(Prepared {
        addr,
        app,
        listener,
        tls,
    })
}
