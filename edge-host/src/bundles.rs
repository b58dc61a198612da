//! The loaded bundle, its pool of engine instances, and hot reload with an atomic swap.
//!
//! A request takes an `Arc` of the current [`LoadedBundle`] when it starts and evaluates on it
//! to the end, so a swap never changes the bundle under a request: in-flight requests finish
//! on the old bundle, whose instances are freed when the last of them is done.

use crate::guest::{Guest, GuestError, LimitKind, Runtime};
use crate::metrics::Metrics;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

/// Instances kept idle per bundle.
const MAX_IDLE: usize = 64;

/// A bundle loaded into engine instances.
pub struct LoadedBundle {
    /// The bundle as it was received (file or PUT body).
    pub bytes: Arc<Vec<u8>>,
    /// The bundle's content hash, as the engine reports it.
    pub hash: String,
    /// Each split's arms and their shares in percent (rule → variant → share), from the
    /// module's load result: the exposure log's `weight`.
    pub splits: std::collections::HashMap<String, std::collections::HashMap<String, f64>>,
    /// Fuel the load consumed.
    pub load_fuel: u64,
    runtime: Arc<Runtime>,
    idle: Mutex<Vec<Guest>>,
}

fn count_limit(metrics: &Metrics, e: &GuestError) {
    if let GuestError::Limit { kind, .. } = e {
        metrics.limit_stop(match kind {
            LimitKind::Fuel => "fuel",
            LimitKind::Memory => "memory",
            LimitKind::Timeout => "timeout",
        });
        tracing::warn!(
            limit = kind.as_str(),
            "an engine call was stopped by a limit"
        );
    }
}

/// A fresh instance, counted.
pub fn new_guest(runtime: &Runtime, metrics: &Metrics) -> Result<Guest, GuestError> {
    let guest = runtime.instantiate();
    match &guest {
        Ok(_) => {
            metrics.instances.inc();
        }
        Err(e) => count_limit(metrics, e),
    }
    guest
}

impl LoadedBundle {
    /// Decodes and validates `bytes` in a fresh instance (under the limits).
    pub fn load(
        runtime: Arc<Runtime>,
        bytes: Vec<u8>,
        metrics: &Metrics,
    ) -> Result<LoadedBundle, GuestError> {
        let outcome = (|| {
            let mut guest = new_guest(&runtime, metrics)?;
            let out = guest.load_bundle(&bytes)?;
            let result = serde_json::from_slice::<serde_json::Value>(&out.result).ok();
            let hash = result
                .as_ref()
                .and_then(|v| v.get("hash").and_then(|h| h.as_str()).map(str::to_string))
                .unwrap_or_default();
            let splits = result
                .as_ref()
                .and_then(|v| v.get("splits"))
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .unwrap_or_default();
            Ok((guest, hash, splits, out.fuel))
        })();
        match outcome {
            Ok((guest, hash, splits, load_fuel)) => {
                metrics.bundle_loads.inc();
                Ok(LoadedBundle {
                    bytes: Arc::new(bytes),
                    hash,
                    splits,
                    load_fuel,
                    runtime,
                    idle: Mutex::new(vec![guest]),
                })
            }
            Err(e) => {
                metrics.bundle_load_failures.inc();
                count_limit(metrics, &e);
                Err(e)
            }
        }
    }

    /// Runs `f` on an instance holding this bundle. An instance that trapped (or hit a limit)
    /// is dropped; a healthy one goes back to the pool.
    pub fn with_guest<R>(
        &self,
        metrics: &Metrics,
        f: impl FnOnce(&mut Guest) -> Result<R, GuestError>,
    ) -> Result<R, GuestError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut guest = match pooled {
            Some(g) => g,
            None => {
                let mut g = new_guest(&self.runtime, metrics)?;
                if let Err(e) = g.load_bundle(&self.bytes) {
                    count_limit(metrics, &e);
                    return Err(e);
                }
                g
            }
        };
        let result = f(&mut guest);
        match &result {
            Err(e @ (GuestError::Limit { .. } | GuestError::Trap(_))) => {
                count_limit(metrics, e);
            }
            _ => {
                // An instance that grew large keeps that memory for good: do not keep it.
                if guest.memory_size() <= self.runtime.limits().max_memory / 2 {
                    let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                    if idle.len() < MAX_IDLE {
                        idle.push(guest);
                    }
                }
            }
        }
        result
    }
}

/// The current bundle, swapped atomically.
pub struct BundleSlot {
    current: RwLock<Option<Arc<LoadedBundle>>>,
    /// Serialises loads from PUT and from the file watcher.
    swapping: Mutex<()>,
}

impl Default for BundleSlot {
    fn default() -> Self {
        BundleSlot {
            current: RwLock::new(None),
            swapping: Mutex::new(()),
        }
    }
}

impl BundleSlot {
    pub fn current(&self) -> Option<Arc<LoadedBundle>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Loads `bytes`, runs `commit` (e.g. write the file) while holding the swap lock, and makes
    /// it current. Returns the new and the previous hash. On any error the current bundle
    /// stays.
    pub fn replace(
        &self,
        runtime: &Arc<Runtime>,
        bytes: Vec<u8>,
        metrics: &Metrics,
        commit: impl FnOnce(&[u8]) -> Result<(), String>,
    ) -> Result<Replaced, ReplaceError> {
        let _swap = self.swapping.lock().unwrap_or_else(PoisonError::into_inner);
        let loaded =
            LoadedBundle::load(runtime.clone(), bytes, metrics).map_err(ReplaceError::Guest)?;
        commit(&loaded.bytes).map_err(ReplaceError::Commit)?;
        let (hash, load_fuel) = (loaded.hash.clone(), loaded.load_fuel);
        let previous = self
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(Arc::new(loaded))
            .map(|b| b.hash.clone());
        Ok(Replaced {
            hash,
            previous,
            load_fuel,
        })
    }

    /// Whether the current bundle's bytes are `bytes`.
    pub fn is_current(&self, bytes: &[u8]) -> bool {
        self.current().is_some_and(|b| b.bytes.as_slice() == bytes)
    }
}

/// A successful [`BundleSlot::replace`].
#[derive(Debug)]
pub struct Replaced {
    pub hash: String,
    pub previous: Option<String>,
    pub load_fuel: u64,
}

#[derive(Debug)]
pub enum ReplaceError {
    Guest(GuestError),
    Commit(String),
}

impl std::fmt::Display for ReplaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplaceError::Guest(g) => write!(f, "{g}"),
            ReplaceError::Commit(c) => f.write_str(c),
        }
    }
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in the same directory,
/// synced, renamed over `path`, then the directory synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let io = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Polls `path` every `every` and loads it when its content changes. A file that fails to
/// load is logged and counted in the metrics; the current bundle stays.
pub fn watch(
    path: PathBuf,
    every: Duration,
    slot: Arc<BundleSlot>,
    runtime: Arc<Runtime>,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("bundle-watch".into())
        .spawn(move || {
            let stamp = |p: &Path| -> Option<(SystemTime, u64)> {
                let m = std::fs::metadata(p).ok()?;
                Some((m.modified().ok()?, m.len()))
            };
            let mut last = stamp(&path);
            let mut last_failed: Option<Vec<u8>> = None;
            loop {
                std::thread::sleep(every);
                let now = stamp(&path);
                if now.is_none() || now == last {
                    continue;
                }
                last = now;
                let Ok(bytes) = std::fs::read(&path) else {
                    continue;
                };
                if slot.is_current(&bytes) || last_failed.as_deref() == Some(bytes.as_slice()) {
                    continue;
                }
                match slot.replace(&runtime, bytes.clone(), &metrics, |_| Ok(())) {
                    Ok(r) => {
                        last_failed = None;
                        tracing::info!(
                            file = %path.display(),
                            bundle = %r.hash,
                            previous = r.previous.as_deref().unwrap_or("none"),
                            "bundle reloaded from its file"
                        );
                    }
                    Err(e) => {
                        last_failed = Some(bytes);
                        tracing::error!(
                            file = %path.display(),
                            error = %e,
                            "bundle file not loaded, keeping the current bundle"
                        );
                    }
                }
            }
        })
        .map(|_| ())
}
