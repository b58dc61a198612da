//! The engine module inside wasmtime: one [`Engine`], the module compiled once (and cached on
//! disk), instances created from an [`InstancePre`] and reused, and limits on every call.
//!
//! Limits: every operation (load a bundle, track an event, merge, render a memory) runs with a
//! fuel budget ([`Limits::fuel`], deterministic), an epoch deadline ([`Limits::timeout`],
//! wall-clock, a ticker thread advances the epoch every [`EPOCH_TICK`]) and a cap on the
//! instance's linear memory ([`Limits::max_memory`], through [`StoreLimits`]). Exceeding any
//! of them ends the call with a [`GuestError::Limit`]; the instance is then dropped (a trapped
//! instance is never reused), and the host carries on.
//!
//! The module must be the ABI of `docs/abi.md`: it may not import anything ([`Runtime::new`]
//! refuses a module with imports).

use sha2::{Digest, Sha256};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{
    Config, Engine, InstancePre, Linker, Memory, Module, OptLevel, Store, StoreLimits,
    StoreLimitsBuilder, Trap, TypedFunc,
};

/// How often the epoch advances: the resolution of [`Limits::timeout`].
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Per-call limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) for one operation.
    pub fuel: u64,
    /// Largest linear memory an instance may grow to, in bytes.
    pub max_memory: usize,
    /// Wall-clock time for one operation.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 2_000_000_000,
            max_memory: 256 << 20,
            timeout: Duration::from_secs(2),
        }
    }
}

/// Which limit stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Fuel,
    Memory,
    Timeout,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Fuel => "fuel",
            LimitKind::Memory => "memory",
            LimitKind::Timeout => "timeout",
        }
    }
}

/// Why a guest operation did not produce a result.
#[derive(Debug, Clone)]
pub enum GuestError {
    /// The module refused the input: its status and error JSON
    /// (`{"error":{"code":..,"message":..}}`).
    Refused { status: i32, error: String },
    /// A limit stopped the call.
    Limit { kind: LimitKind, message: String },
    /// Any other trap or wasmtime error (a bug in the module, or a module that breaks the ABI).
    Trap(String),
}

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestError::Refused { status, error } => {
                write!(f, "the engine refused the input (status {status}): {error}")
            }
            GuestError::Limit { kind, message } => {
                write!(
                    f,
                    "the {} limit stopped the engine: {message}",
                    kind.as_str()
                )
            }
            GuestError::Trap(m) => write!(f, "the engine module failed: {m}"),
        }
    }
}

impl std::error::Error for GuestError {}

/// ABI statuses (see `docs/abi.md`).
pub mod status {
    pub const OK: i32 = 0;
    pub const BAD_INPUT: i32 = 1;
    pub const NO_BUNDLE: i32 = 2;
    pub const BAD_BUNDLE: i32 = 3;
    pub const BAD_MEMORY: i32 = 4;
    pub const BAD_POINTER: i32 = 5;
}

fn classify(e: &wasmtime::Error) -> GuestError {
    let message = format!("{e:#}");
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            return GuestError::Limit {
                kind: LimitKind::Fuel,
                message,
            };
        }
        Some(Trap::Interrupt) => {
            return GuestError::Limit {
                kind: LimitKind::Timeout,
                message,
            };
        }
        _ => {}
    }
    let grow = e.chain().any(|c| {
        let s = c.to_string();
        s.contains("growing memory") || s.contains("memory growth") || s.contains("memory minimum")
    });
    if grow {
        GuestError::Limit {
            kind: LimitKind::Memory,
            message,
        }
    } else {
        GuestError::Trap(message)
    }
}

/// The shared, compiled engine module and its limits. Cheap to share (`Arc`).
pub struct Runtime {
    engine: Engine,
    pre: InstancePre<StoreLimits>,
    limits: Limits,
    /// SHA-256 of the module bytes, hex.
    module_hash: String,
    /// Whether the compiled module came from the disk cache.
    from_cache: bool,
    stop: Arc<AtomicBool>,
    /// Public keys every instance is told to trust (`omnirule_trust_keys`), with their ids.
    trusted: Option<(Vec<u8>, Vec<String>)>,
    /// Where this host's events are observed (`omnirule_set_place`'s JSON), told to every
    /// instance: exposures remember it, conversions elsewhere report it.
    place: Option<Vec<u8>>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Runtime {
    /// Compiles (or loads from `cache_dir`) the module and starts the epoch ticker.
    pub fn new(wasm: &[u8], cache_dir: Option<&Path>, limits: Limits) -> Result<Runtime, String> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| format!("wasmtime: {e:#}"))?;
        let module_hash = hex(&Sha256::digest(wasm));
        let (module, from_cache) = load_module(&engine, wasm, &module_hash, cache_dir)?;
        if let Some(import) = module.imports().next() {
            return Err(format!(
                "the engine module imports `{}.{}`: it must import nothing (see docs/abi.md)",
                import.module(),
                import.name()
            ));
        }
        let linker: Linker<StoreLimits> = Linker::new(&engine);
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| format!("the engine module cannot be instantiated: {e:#}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| format!("cannot start the epoch thread: {e}"))?;
        }
        let runtime = Runtime {
            engine,
            pre,
            limits,
            module_hash,
            from_cache,
            stop,
            trusted: None,
            place: None,
        };
        // Fail at start, not at the first request, if the module breaks the ABI or the
        // memory limit is below what the module needs to start.
        runtime
            .instantiate()
            .map_err(|e| format!("the engine module cannot be instantiated: {e}"))?;
        Ok(runtime)
    }

    pub fn module_hash(&self) -> &str {
        &self.module_hash
    }

    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Makes every instance accept only bundles signed by one of `keys` (text, see
    /// `omnirule_trust_keys`); `None` trusts any bundle. Malformed keys are an error here, at
    /// start-up, not a surprise at the first bundle.
    pub fn trusting(mut self, keys: Option<String>) -> Result<Runtime, String> {
        let Some(text) = keys else {
            self.trusted = None;
            return Ok(self);
        };
        let mut guest = self
            .instantiate_bare()
            .map_err(|e| format!("the trusted keys: {e}"))?;
        let out = guest
            .trust_keys(text.as_bytes())
            .map_err(|e| format!("the trusted keys: {e}"))?;
        let ids = serde_json::from_slice::<serde_json::Value>(&out.result)
            .ok()
            .and_then(|v| v.get("keys").cloned())
            .and_then(|k| serde_json::from_value::<Vec<String>>(k).ok())
            .unwrap_or_default();
        self.trusted = Some((text.into_bytes(), ids));
        Ok(self)
    }

    /// Tells every instance where its events are observed: the channel (`store`, `web`) and
    /// the host (the site's name), for the exposures and conversions of goals.
    pub fn placed(mut self, channel: &str, host: Option<&str>) -> Runtime {
        self.place = Some(
            serde_json::json!({ "channel": channel, "host": host })
                .to_string()
                .into_bytes(),
        );
        self
    }

    /// The ids of the trusted keys, when only signed bundles load.
    pub fn trusted_key_ids(&self) -> Option<&[String]> {
        self.trusted.as_ref().map(|(_, ids)| ids.as_slice())
    }

    /// A fresh instance (no bundle loaded; told the trusted keys, if any).
    pub fn instantiate(&self) -> Result<Guest, GuestError> {
        let mut guest = self.instantiate_bare()?;
        if let Some((keys, _)) = &self.trusted {
            guest.trust_keys(keys)?;
        }
        if let Some(place) = &self.place {
            guest.set_place(place)?;
        }
        Ok(guest)
    }

    fn instantiate_bare(&self) -> Result<Guest, GuestError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.max_memory)
            .instances(1)
            .memories(1)
            .tables(4)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, limits);
        store.limiter(|l| l);
        store.set_fuel(self.limits.fuel).map_err(|e| classify(&e))?;
        store.set_epoch_deadline(self.deadline_ticks());
        let instance = self.pre.instantiate(&mut store).map_err(|e| classify(&e))?;
        let abi = |e: wasmtime::Error| {
            GuestError::Trap(format!("the engine module breaks the ABI: {e:#}"))
        };
        let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| {
            GuestError::Trap("the engine module breaks the ABI: no exported `memory`".into())
        })?;
        Ok(Guest {
            alloc: instance
                .get_typed_func(&mut store, "omnirule_alloc")
                .map_err(abi)?,
            free: instance
                .get_typed_func(&mut store, "omnirule_free")
                .map_err(abi)?,
            load_bundle: instance
                .get_typed_func(&mut store, "omnirule_load_bundle")
                .map_err(abi)?,
            track: instance
                .get_typed_func(&mut store, "omnirule_track")
                .map_err(abi)?,
            merge: instance
                .get_typed_func(&mut store, "omnirule_merge")
                .map_err(abi)?,
            memory_json: instance
                .get_typed_func(&mut store, "omnirule_memory_json")
                .map_err(abi)?,
            erase: instance
                .get_typed_func(&mut store, "omnirule_erase")
                .map_err(abi)?,
            trust_keys: instance
                .get_typed_func(&mut store, "omnirule_trust_keys")
                .map_err(abi)?,
            set_place: instance
                .get_typed_func(&mut store, "omnirule_set_place")
                .map_err(abi)?,
            result_ptr: instance
                .get_typed_func(&mut store, "omnirule_result_ptr")
                .map_err(abi)?,
            result_len: instance
                .get_typed_func(&mut store, "omnirule_result_len")
                .map_err(abi)?,
            memory_ptr: instance
                .get_typed_func(&mut store, "omnirule_memory_ptr")
                .map_err(abi)?,
            memory_len: instance
                .get_typed_func(&mut store, "omnirule_memory_len")
                .map_err(abi)?,
            memory,
            store,
            limits: self.limits,
            deadline_ticks: self.deadline_ticks(),
        })
    }

    fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_micros().max(1);
        u64::try_from(self.limits.timeout.as_micros() / tick)
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// The module, from the disk cache when a valid entry exists, else compiled (and cached).
fn load_module(
    engine: &Engine,
    wasm: &[u8],
    module_hash: &str,
    cache_dir: Option<&Path>,
) -> Result<(Module, bool), String> {
    let compile = || Module::new(engine, wasm).map_err(|e| format!("invalid engine module: {e:#}"));
    let Some(dir) = cache_dir else {
        return Ok((compile()?, false));
    };
    let path = cache_path(engine, dir, module_hash);
    if path.exists() {
        // SAFETY (why `unsafe` is sound here): `deserialize_file` trusts the file to be
        // wasmtime's own output for a compatible engine. The file is written only by this
        // host (below), atomically (rename), into the host's own cache directory, under a
        // name that includes the SHA-256 of the wasm bytes and this wasmtime build's
        // compatibility hash; wasmtime itself checks version and configuration and refuses a
        // mismatch, which we treat as a cache miss.
        #[allow(unsafe_code)]
        let cached = unsafe { Module::deserialize_file(engine, &path) };
        if let Ok(module) = cached {
            return Ok((module, true));
        }
    }
    let module = compile()?;
    if let Ok(bytes) = module.serialize() {
        // A cache that cannot be written only costs a compile at the next start.
        let _ = std::fs::create_dir_all(dir).and_then(|()| {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path)
        });
    }
    Ok((module, false))
}

fn cache_path(engine: &Engine, dir: &Path, module_hash: &str) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let prefix = module_hash.get(..32).unwrap_or(module_hash);
    dir.join(format!("engine-{prefix}-{:016x}.cwasm", h.finish()))
}

/// The outputs of a successful call: the result JSON and the memory bytes.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub result: Vec<u8>,
    pub memory: Vec<u8>,
    /// Fuel the operation consumed (how far it was from [`Limits::fuel`]).
    pub fuel: u64,
}

/// `omnirule_track`'s parameters: profile, event and memory as `(ptr, len)`, then `explain`.
type TrackParams = (u32, u32, u32, u32, u32, u32, i32);

/// One instance of the engine module.
pub struct Guest {
    store: Store<StoreLimits>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    load_bundle: TypedFunc<(u32, u32), i32>,
    track: TypedFunc<TrackParams, i32>,
    merge: TypedFunc<(u32, u32, u32, u32), i32>,
    memory_json: TypedFunc<(u32, u32), i32>,
    erase: TypedFunc<(u32, u32, i64), i32>,
    trust_keys: TypedFunc<(u32, u32), i32>,
    set_place: TypedFunc<(u32, u32), i32>,
    result_ptr: TypedFunc<(), u32>,
    result_len: TypedFunc<(), u32>,
    memory_ptr: TypedFunc<(), u32>,
    memory_len: TypedFunc<(), u32>,
    limits: Limits,
    deadline_ticks: u64,
}

impl Guest {
    /// Refills fuel and resets the deadline: each operation gets the full budget.
    fn arm(&mut self) -> Result<(), GuestError> {
        self.store
            .set_fuel(self.limits.fuel)
            .map_err(|e| GuestError::Trap(format!("{e:#}")))?;
        self.store.set_epoch_deadline(self.deadline_ticks);
        Ok(())
    }

    /// Current size of the instance's linear memory.
    pub fn memory_size(&self) -> usize {
        self.memory.data_size(&self.store)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(u32, u32), GuestError> {
        let len = u32::try_from(bytes.len()).map_err(|_| GuestError::Limit {
            kind: LimitKind::Memory,
            message: format!("an input of {} bytes does not fit in wasm32", bytes.len()),
        })?;
        if len == 0 {
            return Ok((0, 0));
        }
        let ptr = self
            .alloc
            .call(&mut self.store, len)
            .map_err(|e| classify(&e))?;
        let at = usize::try_from(ptr).unwrap_or(usize::MAX);
        self.memory
            .write(&mut self.store, at, bytes)
            .map_err(|e| GuestError::Trap(format!("omnirule_alloc returned {ptr}: {e}")))?;
        Ok((ptr, len))
    }

    fn release(&mut self, bufs: &[(u32, u32)]) -> Result<(), GuestError> {
        for &(ptr, len) in bufs {
            if len > 0 {
                self.free
                    .call(&mut self.store, (ptr, len))
                    .map_err(|e| classify(&e))?;
            }
        }
        Ok(())
    }

    fn read(
        &mut self,
        ptr: &TypedFunc<(), u32>,
        len: &TypedFunc<(), u32>,
    ) -> Result<Vec<u8>, GuestError> {
        let p = ptr.call(&mut self.store, ()).map_err(|e| classify(&e))?;
        let n = len.call(&mut self.store, ()).map_err(|e| classify(&e))?;
        let start = usize::try_from(p).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
        self.memory
            .data(&self.store)
            .get(start..end)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                GuestError::Trap(format!(
                    "the module's output ({n} bytes at {p}) lies outside its memory"
                ))
            })
    }

    /// Runs `call` on buffers holding `inputs`, then collects the outputs.
    fn run(
        &mut self,
        inputs: &[&[u8]],
        call: impl FnOnce(&mut Self, &[(u32, u32)]) -> Result<i32, wasmtime::Error>,
    ) -> Result<Output, GuestError> {
        self.arm()?;
        let mut bufs = Vec::with_capacity(inputs.len());
        for input in inputs {
            bufs.push(self.put(input)?);
        }
        let code = call(self, &bufs).map_err(|e| classify(&e))?;
        let (rp, rl) = (self.result_ptr.clone(), self.result_len.clone());
        let result = self.read(&rp, &rl)?;
        let memory = if code == status::OK {
            let (mp, ml) = (self.memory_ptr.clone(), self.memory_len.clone());
            self.read(&mp, &ml)?
        } else {
            Vec::new()
        };
        self.release(&bufs)?;
        let fuel = self
            .limits
            .fuel
            .saturating_sub(self.store.get_fuel().unwrap_or(0));
        if code == status::OK {
            Ok(Output {
                result,
                memory,
                fuel,
            })
        } else {
            Err(GuestError::Refused {
                status: code,
                error: String::from_utf8_lossy(&result).into_owned(),
            })
        }
    }

    /// Loads a bundle into this instance. The result is `{"hash":".."}`.
    pub fn load_bundle(&mut self, bundle: &[u8]) -> Result<Output, GuestError> {
        let f = self.load_bundle.clone();
        self.run(&[bundle], |g, b| {
            let (p, l) = b.first().copied().unwrap_or_default();
            f.call(&mut g.store, (p, l))
        })
    }

    /// Evaluates one event (see `omnirule_track` in `docs/abi.md`).
    pub fn track(
        &mut self,
        profile: &[u8],
        event: &[u8],
        memory: &[u8],
        explain: bool,
    ) -> Result<Output, GuestError> {
        let f = self.track.clone();
        self.run(&[profile, event, memory], |g, b| {
            let at = |i: usize| b.get(i).copied().unwrap_or_default();
            let ((pp, pl), (ep, el), (mp, ml)) = (at(0), at(1), at(2));
            f.call(&mut g.store, (pp, pl, ep, el, mp, ml, i32::from(explain)))
        })
    }

    /// Merges two memories under the loaded bundle.
    pub fn merge(&mut self, a: &[u8], b: &[u8]) -> Result<Output, GuestError> {
        let f = self.merge.clone();
        self.run(&[a, b], |g, bufs| {
            let at = |i: usize| bufs.get(i).copied().unwrap_or_default();
            let ((ap, al), (bp, bl)) = (at(0), at(1));
            f.call(&mut g.store, (ap, al, bp, bl))
        })
    }

    /// Where this instance's events are observed (`omnirule_set_place`).
    pub fn set_place(&mut self, place: &[u8]) -> Result<Output, GuestError> {
        let f = self.set_place.clone();
        self.run(&[place], |g, b| {
            let (p, l) = b.first().copied().unwrap_or_default();
            f.call(&mut g.store, (p, l))
        })
    }

    /// From now on, only bundles signed by one of `keys` load in this instance.
    pub fn trust_keys(&mut self, keys: &[u8]) -> Result<Output, GuestError> {
        let f = self.trust_keys.clone();
        self.run(&[keys], |g, b| {
            let (p, l) = b.first().copied().unwrap_or_default();
            f.call(&mut g.store, (p, l))
        })
    }

    /// Erases a customer: the memory becomes a tombstone dated `at_ms` or later (see
    /// `omnirule_erase`). Needs no bundle.
    pub fn erase(&mut self, memory: &[u8], at_ms: i64) -> Result<Output, GuestError> {
        let f = self.erase.clone();
        self.run(&[memory], |g, b| {
            let (p, l) = b.first().copied().unwrap_or_default();
            f.call(&mut g.store, (p, l, at_ms))
        })
    }

    /// A memory's readable JSON form (result) and normalised bytes (memory).
    pub fn memory_json(&mut self, memory: &[u8]) -> Result<Output, GuestError> {
        let f = self.memory_json.clone();
        self.run(&[memory], |g, b| {
            let (p, l) = b.first().copied().unwrap_or_default();
            f.call(&mut g.store, (p, l))
        })
    }
}
