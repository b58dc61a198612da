//! The API's operations, as blocking functions (engine calls and SQLite): [`crate::service`]
//! runs them on tokio's blocking pool (see `edge-host/README.md` for the API).
//!
//! Every error is a JSON body `{"error":{"code":"..","message":".."}}` with a 4xx status for
//! bad input (nothing stored changes) and 5xx when the host cannot serve (no bundle loaded, a
//! limit stopped the engine, the database failed).

use crate::Config;
use crate::bundles::{BundleSlot, LoadedBundle, ReplaceError, new_guest, write_atomically};
use crate::db::{Db, Reader, Write};
use crate::guest::{GuestError, Runtime, status};
use crate::locks::KeyedLocks;
use crate::metrics::Metrics;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest customer id, in bytes.
const MAX_CUSTOMER_ID: usize = 256;

/// The host's shared state.
pub struct App {
    pub config: Config,
    /// This host's membership in the fleet, if it joined one.
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
    /// The exposure log file (`--exposure-log`), if any.
    pub exposure_log: Option<Mutex<std::io::LineWriter<std::fs::File>>>,
    pub runtime: Arc<Runtime>,
    pub bundle: Arc<BundleSlot>,
    pub db: Db,
    pub locks: KeyedLocks,
    pub metrics: Arc<Metrics>,
    /// Idle read connections (one is taken per request).
    pub readers: Mutex<Vec<Reader>>,
    /// Set when shutdown starts: not ready any more.
    pub stopping: AtomicBool,
    /// Turns on the engine for events (`engine_concurrency`: twice the cores), taken in arrival order (tokio's
    /// semaphore is fair) and given back before the commit: the cores are not shared among
    /// dozens of runnable threads, so latency is a queue's, not a scheduler lottery's, while
    /// requests waiting for the disk still share one fsync (group commit).
    pub cpu: Arc<tokio::sync::Semaphore>,
}

/// Engine turns: twice the cores.
pub fn cpu_slots() -> usize {
    std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .saturating_mul(2)
}

/// A response.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            body: body.into(),
            content_type: "application/json",
            headers: Vec::new(),
        }
    }

    pub fn value(status: u16, v: &serde_json::Value) -> Reply {
        Reply::json(status, v.to_string())
    }

    pub fn error(status: u16, code: &str, message: impl AsRef<str>) -> Reply {
        Reply::value(
            status,
            &serde_json::json!({"error": {"code": code, "message": message.as_ref()}}),
        )
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// A 422 for an event dated more than `ahead` past this host's clock. Only the `time` member
/// is read here (the engine checks the rest, and a malformed `time` is its error to report).
fn refuse_future(event: &RawValue, ahead: std::time::Duration) -> Option<Reply> {
    #[derive(Deserialize)]
    struct Time {
        time: Option<serde_json::Value>,
    }
    let time = serde_json::from_str::<Time>(event.get()).ok()?.time?;
    let at = match &time {
        serde_json::Value::String(s) => omnirule_text::time::parse_time(s).ok()?,
        serde_json::Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    let limit = now_ms().saturating_add(i64::try_from(ahead.as_millis()).unwrap_or(i64::MAX));
    (at > limit).then(|| {
        Reply::error(
            422,
            "event_in_future",
            format!(
                "the event's time {time} is more than {} ms ahead of this host's clock",
                ahead.as_millis()
            ),
        )
    })
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl App {
    /// Runs `f` with a read connection from the pool.
    pub fn with_reader(&self, f: impl FnOnce(&Reader) -> Reply) -> Reply {
        match self.reader() {
            Ok(reader) => {
                let reply = f(&reader);
                self.put_reader(reader);
                reply
            }
            Err(m) => db_error(&m),
        }
    }

    /// Runs `f` with a read connection from the pool.
    pub fn with_reader_value<T>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, String>,
    ) -> Result<T, String> {
        let reader = self.reader()?;
        let out = f(&reader);
        self.put_reader(reader);
        out
    }

    /// A write that queued the customer for the fleet is committed: let the drain know.
    fn shared(&self) {
        if let Some(f) = &self.fleet {
            f.queued();
        }
    }

    fn reader(&self) -> Result<Reader, String> {
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(r) => Ok(r),
            None => self.db.reader(),
        }
    }

    fn put_reader(&self, reader: Reader) {
        let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < 64 {
            idle.push(reader);
        }
    }
}

/// Percent-decodes and checks a customer id from the path.
pub fn with_id(raw: &str, f: impl FnOnce(&str) -> Reply) -> Reply {
    match decode_id(raw) {
        Ok(id) => f(&id),
        Err(m) => Reply::error(400, "bad_customer_id", m),
    }
}

fn decode_id(raw: &str) -> Result<String, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in the customer id `{raw}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    let id = String::from_utf8(out).map_err(|_| "the customer id is not UTF-8".to_string())?;
    check_id(&id)?;
    Ok(id)
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the customer id is empty".into());
    }
    if id.len() > MAX_CUSTOMER_ID {
        return Err(format!(
            "the customer id is {} bytes long; at most {MAX_CUSTOMER_ID} are allowed",
            id.len()
        ));
    }
    if id.chars().any(char::is_control) {
        return Err("the customer id contains control characters".into());
    }
    Ok(())
}

fn guest_error(e: &GuestError) -> Reply {
    match e {
        GuestError::Refused { status: s, error } => {
            let http = match *s {
                status::BAD_INPUT => 422,
                status::NO_BUNDLE => 503,
                status::BAD_BUNDLE | status::BAD_MEMORY => 400,
                _ => 500,
            };
            // The module's error JSON is passed through as it is.
            if serde_json::from_str::<serde_json::Value>(error).is_ok() {
                Reply::json(http, error.clone())
            } else {
                Reply::error(http, "engine_error", error)
            }
        }
        GuestError::Limit { kind, message } => Reply::value(
            503,
            &serde_json::json!({"error": {
                "code": "limit_exceeded",
                "limit": kind.as_str(),
                "message": format!("the engine was stopped by the {} limit: {message}", kind.as_str()),
            }}),
        ),
        GuestError::Trap(m) => Reply::error(500, "engine_trap", m),
    }
}

fn no_bundle() -> Reply {
    Reply::error(
        503,
        "no_bundle",
        "no bundle is loaded: PUT one to /v1/bundle or write the bundle file",
    )
}

/// The customer's memory joined with the fleet's view of them, when this host is in a fleet
/// and the view answers in time; `None` otherwise (decide from the local copy). A view this
/// engine cannot merge is logged and ignored.
fn fleet_view(
    app: &App,
    bundle: &LoadedBundle,
    id: &str,
    local: &[u8],
    read: Option<crate::fleet::Read>,
) -> Option<Vec<u8>> {
    let fleet = app.fleet.as_ref()?;
    let read = read.unwrap_or_else(|| fleet.read(app, id));
    let crate::fleet::Read::Found(shared) = read else {
        return None;
    };
    match bundle.with_guest(&app.metrics, |g| g.merge(local, &shared)) {
        Ok(o) => Some(o.memory),
        Err(e) => {
            tracing::warn!(error = %e, customer_key = %crate::fleet::customer_key(id), "the fleet's view of a customer cannot be merged; using the local copy");
            None
        }
    }
}

fn db_error(m: &str) -> Reply {
    tracing::error!(error = %m, "storage error");
    Reply::error(503, "storage_error", m)
}

/// `GET /readyz` (and `/healthz`): 200 when a bundle is loaded and the storage takes a write
/// lock, 503 otherwise (and from the start of a shutdown).
pub fn readiness(app: &App) -> Reply {
    let bundle = app.bundle.current();
    let storage = app.db.write(Write::Probe);
    let stopping = app.stopping.load(std::sync::atomic::Ordering::SeqCst);
    let ready = bundle.is_some() && storage.is_ok() && !stopping;
    Reply::value(
        if ready { 200 } else { 503 },
        &serde_json::json!({
            "status": if ready { "ok" } else if stopping { "stopping" } else { "not_ready" },
            "ready": ready,
            "bundle": bundle.as_ref().map(|b| b.hash.clone()),
            "storage": match &storage { Ok(_) => "writable".to_string(), Err(e) => e.clone() },
            "module": app.runtime.module_hash(),
            "module_from_cache": app.runtime.from_cache(),
            "fleet": app.fleet.as_ref().map(|f| serde_json::json!({
                "site": f.config.site,
                "connected": f.is_connected(),
                "outbox": app.metrics.writer.outbox.get(),
            })),
        }),
    )
}

/// `GET /metrics`: counters and gauges kept as things happen (nothing is counted here).
pub fn metrics(app: &App) -> Reply {
    let bundle = app.bundle.current();
    let text = app.metrics.render(
        bundle.as_ref().map(|b| b.hash.as_str()),
        app.runtime.module_hash(),
        app.locks.active(),
    );
    Reply {
        status: 200,
        body: text.into_bytes(),
        content_type: crate::metrics::CONTENT_TYPE,
        headers: Vec::new(),
    }
}

pub fn bundle_info(app: &App) -> Reply {
    match app.bundle.current() {
        Some(b) => Reply::value(
            200,
            &serde_json::json!({"hash": b.hash, "bytes": b.bytes.len()}),
        ),
        None => no_bundle(),
    }
}

/// The `customer` member of an event request, for reading the fleet's view before the request
/// takes its turn (`None` when the body is not even that: the full parse reports it).
pub fn customer_of(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Customer {
        customer: String,
    }
    serde_json::from_slice::<Customer>(body)
        .ok()
        .map(|c| c.customer)
        .filter(|c| check_id(c).is_ok())
}

/// `POST /v1/events`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest<'a> {
    customer: String,
    #[serde(borrow, default)]
    profile: Option<&'a RawValue>,
    #[serde(borrow)]
    event: &'a RawValue,
    #[serde(default)]
    explain: bool,
}

/// `cpu`: the request's turn on the engine (see [`App::cpu`]), given back before the durable
/// write, so that requests waiting for a commit do not hold the cores. `prefetched`: the
/// fleet's view of the customer, read before the turn was taken (`None`: read it here).
pub fn track_event(
    app: &App,
    reader: &Reader,
    body: &[u8],
    cpu: Option<tokio::sync::OwnedSemaphorePermit>,
    prefetched: Option<crate::fleet::Read>,
) -> Reply {
    let reply = track_event_inner(app, reader, body, cpu, prefetched);
    if reply.status == 200 {
        app.metrics.events.inc();
    } else {
        let code = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| {
                v.pointer("/error/code")
                    .and_then(|c| c.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "unknown".into());
        app.metrics.event_error(&code);
    }
    reply
}

fn track_event_inner(
    app: &App,
    reader: &Reader,
    body: &[u8],
    cpu: Option<tokio::sync::OwnedSemaphorePermit>,
    prefetched: Option<crate::fleet::Read>,
) -> Reply {
    let request: EventRequest<'_> = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) if e.is_syntax() || e.is_eof() => {
            return Reply::error(
                400,
                "malformed_json",
                format!("the body is not valid JSON: {e}"),
            );
        }
        Err(e) => {
            return Reply::error(
                400,
                "bad_request",
                format!(
                    "the body must be {{\"customer\": string, \"profile\"?: object, \"event\": object, \"explain\"?: bool}}: {e}"
                ),
            );
        }
    };
    if let Err(m) = check_id(&request.customer) {
        return Reply::error(400, "bad_customer_id", m);
    }
    if let Some(reply) = refuse_future(request.event, app.config.max_future) {
        return reply;
    }
    let profile = match request.profile.map(|p| profile_for(&request.customer, p)) {
        Some(Ok(p)) => Some(p),
        Some(Err(r)) => return r,
        None => None,
    };
    let Some(bundle) = app.bundle.current() else {
        return no_bundle();
    };

    let _customer = app.locks.lock(&request.customer);
    let row = match reader.customer(&request.customer) {
        Ok(r) => r,
        Err(m) => return db_error(&m),
    };
    let stored_profile = row.as_ref().and_then(|r| r.profile.clone());
    let Some(profile_text) = profile.clone().or(stored_profile.clone()) else {
        return Reply::error(
            422,
            "no_profile",
            format!(
                "no profile is stored for customer `{}`: send `profile` with the event",
                request.customer
            ),
        );
    };
    let stored = row
        .as_ref()
        .map(|r| r.memory.as_slice())
        .unwrap_or_default();
    // Decide on what the whole fleet knows of the customer, when it answers in time.
    let joined = fleet_view(app, &bundle, &request.customer, stored, prefetched);
    let memory = joined.as_deref().unwrap_or(stored);
    let out = match bundle.with_guest(&app.metrics, |g| {
        g.track(
            profile_text.as_bytes(),
            request.event.get().as_bytes(),
            memory,
            request.explain,
        )
    }) {
        Ok(o) => o,
        Err(e) => return guest_error(&e),
    };
    let profile_changed = profile.is_some() && profile != stored_profile;
    // A new customer about whom the engine keeps nothing (no consent for any rule) is not
    // stored at all, not even the profile sent with the event: nothing about them is kept.
    let nothing_kept = row.is_none()
        && bundle
            .with_guest(&app.metrics, |g| g.memory_json(&out.memory))
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.result).ok())
            .is_some_and(|m| {
                ["events", "firings", "seen"].iter().all(|k| {
                    m.get(k)
                        .and_then(|v| v.as_array())
                        .is_some_and(Vec::is_empty)
                })
            });
    drop(cpu);
    // Every decision is an exposure (docs/report.md), logged for customers about whom
    // something is kept: one who gave no consent to be remembered is not logged either.
    // The module's result, read once: the decisions for the exposure lines and the count.
    let result = serde_json::from_slice::<serde_json::Value>(&out.result).ok();
    let decided = result
        .as_ref()
        .and_then(|v| v.get("decisions"))
        .and_then(|d| d.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let converted = result
        .as_ref()
        .and_then(|v| v.get("conversions"))
        .and_then(|d| d.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let exposures = if nothing_kept || (app.fleet.is_none() && app.exposure_log.is_none()) {
        Vec::new()
    } else {
        let mut lines = exposure_lines(app, &bundle, &request.customer, request.event, decided);
        lines.extend(conversion_lines(
            app,
            &request.customer,
            request.event,
            converted,
        ));
        lines
    };
    let queue_exposures = app.fleet.is_some() && !exposures.is_empty();
    if !nothing_kept
        && (row.is_none() || profile_changed || out.memory != stored || queue_exposures)
    {
        // Shared when the event added to what this host and the fleet knew.
        let share = app.fleet.is_some() && out.memory != memory;
        let write = Write::Upsert {
            id: request.customer.clone(),
            profile: profile.filter(|_| profile_changed),
            memory: out.memory,
            now_ms: now_ms(),
            new: row.is_none(),
            share,
            exposures: if queue_exposures {
                exposures.clone()
            } else {
                Vec::new()
            },
        };
        if let Err(m) = app.db.write(write) {
            return db_error(&m);
        }
        if share || queue_exposures {
            app.shared();
        }
    }
    if let Some(log) = &app.exposure_log
        && !exposures.is_empty()
    {
        use std::io::Write as _;
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        for line in &exposures {
            if let Err(e) = writeln!(log, "{line}") {
                tracing::warn!(error = %e, "writing the exposure log failed");
                break;
            }
        }
    }
    app.metrics
        .decisions
        .inc_by(u64::try_from(decided.len()).unwrap_or(0));
    Reply::json(200, out.result)
        .header("X-Omnirule-Bundle", bundle.hash.clone())
        .header("X-Omnirule-Fuel", out.fuel.to_string())
}

/// The event's id and time (RFC 3339), as the log lines carry them.
fn event_id_and_time(event: &RawValue) -> (Option<serde_json::Value>, Option<String>) {
    #[derive(Deserialize)]
    struct Ids {
        id: Option<serde_json::Value>,
        time: Option<serde_json::Value>,
    }
    let ids: Option<Ids> = serde_json::from_str(event.get()).ok();
    let (event_id, time) = ids.map_or((None, None), |i| (i.id, i.time));
    let time = match time {
        Some(serde_json::Value::Number(n)) => n.as_i64().map(omnirule_text::time::format_time),
        Some(serde_json::Value::String(t)) => Some(t),
        _ => None,
    };
    (event_id, time)
}

/// The conversion lines of one event's conversions (docs/report.md; the engine's
/// `host::write_conversions` writes the same for the Rust hosts that link it). The
/// exposure's place comes from the module (from memory); the conversion's is this host's.
fn conversion_lines(
    app: &App,
    customer: &str,
    event: &RawValue,
    conversions: &[serde_json::Value],
) -> Vec<String> {
    if conversions.is_empty() {
        return Vec::new();
    }
    let (event_id, time) = event_id_and_time(event);
    let host = app.fleet.as_ref().map(|f| f.config.site.clone());
    conversions
        .iter()
        .map(|c| {
            let at = |k: &str| c.get(k).cloned().unwrap_or(serde_json::Value::Null);
            serde_json::json!({
                "kind": "conversion",
                "time": time,
                "customer": customer,
                "rule": at("rule"),
                "experiment": at("experiment"),
                "variant": at("variant"),
                "goal": at("goal"),
                "primary": at("primary"),
                "exposed_at": at("exposed_at"),
                "exposure_event": at("exposure_event"),
                "exposure_channel": at("exposure_channel"),
                "exposure_host": at("exposure_host"),
                "channel": app.config.channel,
                "host": host,
                "event": event_id,
                "value": at("value"),
            })
            .to_string()
        })
        .collect()
}

/// The exposure lines of one event's decisions (the format of docs/report.md; the engine's
/// `host::exposures` writes the same for the Rust hosts that link it).
fn exposure_lines(
    app: &App,
    bundle: &LoadedBundle,
    customer: &str,
    event: &RawValue,
    decisions: &[serde_json::Value],
) -> Vec<String> {
    if decisions.is_empty() {
        return Vec::new();
    }
    let (event_id, time) = event_id_and_time(event);
    let host = app.fleet.as_ref().map(|f| f.config.site.clone());
    decisions
        .iter()
        .map(|d| {
            let rule = d.get("rule").and_then(|r| r.as_str()).unwrap_or_default();
            let variant = d.get("variant").and_then(|v| v.as_str());
            let weight = variant.and_then(|v| bundle.splits.get(rule).and_then(|arms| arms.get(v)));
            serde_json::json!({
                "kind": "exposure",
                "time": time,
                "customer": customer,
                "rule": rule,
                "experiment": d.get("experiment"),
                "variant": variant,
                "weight": weight,
                "channel": app.config.channel,
                "host": host,
                "event": event_id,
            })
            .to_string()
        })
        .collect()
}

/// The profile text to evaluate and store: the object as sent when its `id` is the customer,
/// with `id` added when absent; an error when it names another customer or is not an object.
fn profile_for(customer: &str, raw: &RawValue) -> Result<String, Reply> {
    let value: serde_json::Value = serde_json::from_str(raw.get())
        .map_err(|e| Reply::error(400, "malformed_json", e.to_string()))?;
    let serde_json::Value::Object(mut obj) = value else {
        return Err(Reply::error(
            400,
            "bad_request",
            "`profile` must be a JSON object",
        ));
    };
    match obj.get("id") {
        None | Some(serde_json::Value::Null) => {
            obj.insert("id".into(), serde_json::Value::String(customer.to_string()));
            Ok(serde_json::Value::Object(obj).to_string())
        }
        Some(serde_json::Value::String(id)) if id == customer => Ok(raw.get().to_string()),
        Some(other) => Err(Reply::error(
            400,
            "profile_mismatch",
            format!("the profile's id {other} is not the customer `{customer}`"),
        )),
    }
}

/// Runs `f` on an instance: the current bundle's, or a fresh one when no bundle is loaded
/// (memory rendering needs no bundle).
fn with_any_guest<R>(
    app: &App,
    bundle: Option<&Arc<LoadedBundle>>,
    f: impl FnOnce(&mut crate::guest::Guest) -> Result<R, GuestError>,
) -> Result<R, GuestError> {
    match bundle {
        Some(b) => b.with_guest(&app.metrics, f),
        None => {
            let mut g = new_guest(&app.runtime, &app.metrics)?;
            f(&mut g)
        }
    }
}

/// `GET /v1/customers/{id}`: what is kept about a customer.
pub fn customer(app: &App, reader: &Reader, id: &str) -> Reply {
    let row = match reader.customer(id) {
        Ok(r) => r,
        Err(m) => return db_error(&m),
    };
    let bundle = app.bundle.current();
    // In a fleet: this host's copy joined with the fleet's view (what a decision here would
    // see now).
    let joined = bundle.as_ref().and_then(|b| {
        fleet_view(
            app,
            b,
            id,
            row.as_ref()
                .map(|r| r.memory.as_slice())
                .unwrap_or_default(),
            None,
        )
    });
    let fleet = joined.is_some();
    let (row, memory_bytes) = match (row, joined) {
        (Some(r), j) => {
            let m = j.unwrap_or_else(|| r.memory.clone());
            (r, m)
        }
        (None, Some(j)) => (
            crate::db::CustomerRow {
                profile: None,
                memory: Vec::new(),
                created_ms: 0,
                updated_ms: 0,
            },
            j,
        ),
        (None, None) => {
            return Reply::error(
                404,
                "unknown_customer",
                format!("nothing is stored for `{id}`"),
            );
        }
    };
    let memory = match with_any_guest(app, bundle.as_ref(), |g| g.memory_json(&memory_bytes)) {
        Ok(o) => o.result,
        Err(e) => return guest_error(&e),
    };
    let memory: serde_json::Value = match serde_json::from_slice(&memory) {
        Ok(v) => v,
        Err(e) => return Reply::error(500, "engine_error", format!("memory JSON: {e}")),
    };
    let profile = row
        .profile
        .as_deref()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
    Reply::value(
        200,
        &serde_json::json!({
            "customer": id,
            "profile": profile,
            "memory": memory,
            "created_ms": row.created_ms,
            "updated_ms": row.updated_ms,
            "fleet": fleet,
        }),
    )
}

/// `DELETE /v1/customers/{id}`: forget a customer. The profile goes and the memory becomes a
/// tombstone (the engine's `Memory::erase`), kept so that no later merge of an older copy
/// (a browser's, the edge's, another store's) brings anything back. `deleted`: whether
/// anything was kept before.
pub fn forget(app: &App, reader: &Reader, id: &str) -> Reply {
    let _customer = app.locks.lock(id);
    let row = match reader.customer(id) {
        Ok(r) => r,
        Err(m) => return db_error(&m),
    };
    let memory = row
        .as_ref()
        .map(|r| r.memory.as_slice())
        .unwrap_or_default();
    let now = now_ms();
    let bundle = app.bundle.current();
    let out = match with_any_guest(app, bundle.as_ref(), |g| g.erase(memory, now)) {
        Ok(o) => o,
        Err(e) => return guest_error(&e),
    };
    let erased = serde_json::from_slice::<serde_json::Value>(&out.result).unwrap_or_default();
    let had_data = erased
        .get("had_data")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(true);
    let had_profile = row.as_ref().is_some_and(|r| r.profile.is_some());
    let write = Write::Erase {
        id: id.to_string(),
        memory: out.memory,
        now_ms: now,
        new: row.is_none(),
        share: app.fleet.is_some(),
    };
    match app.db.write(write) {
        Ok(_) => {
            app.shared();
            Reply::value(
                200,
                &serde_json::json!({
                    "customer": id,
                    "deleted": had_data || had_profile,
                    "erased": erased.get("erased").and_then(serde_json::Value::as_i64)
                        .map(omnirule_text::time::format_time),
                }),
            )
        }
        Err(m) => db_error(&m),
    }
}

/// `POST /v1/customers/{id}/merge`: merge memory from another channel. The body is a memory:
/// its bytes (`OMNIMEM...`), its JSON form, or an object with a `memory` member holding the
/// JSON form (e.g. what `GET /v1/customers/{id}` returns elsewhere).
pub fn merge(app: &App, reader: &Reader, body: &[u8], id: &str) -> Reply {
    let incoming = if body.starts_with(b"OMNIMEM") {
        body.to_vec()
    } else {
        let value: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Reply::error(
                    400,
                    "malformed_json",
                    format!("the body is neither memory bytes nor valid JSON: {e}"),
                );
            }
        };
        match value.get("memory") {
            Some(m) if value.get("format").is_none() => m.to_string().into_bytes(),
            _ => value.to_string().into_bytes(),
        }
    };
    let Some(bundle) = app.bundle.current() else {
        return no_bundle();
    };
    let _customer = app.locks.lock(id);
    let row = match reader.customer(id) {
        Ok(r) => r,
        Err(m) => return db_error(&m),
    };
    let current = row
        .as_ref()
        .map(|r| r.memory.as_slice())
        .unwrap_or_default();
    let out = match bundle.with_guest(&app.metrics, |g| g.merge(current, &incoming)) {
        Ok(o) => o,
        Err(e) => return guest_error(&e),
    };
    let changed = row.is_none() || out.memory != current;
    if changed {
        let write = Write::Upsert {
            id: id.to_string(),
            profile: None,
            memory: out.memory,
            now_ms: now_ms(),
            new: row.is_none(),
            share: app.fleet.is_some(),
            exposures: Vec::new(),
        };
        if let Err(m) = app.db.write(write) {
            return db_error(&m);
        }
        app.shared();
    }
    // A hand-off (the web's memory given to the online node) is in the fleet's view when the
    // answer says `folded`: the store the customer walks into next reads it.
    let fleet = app.fleet.as_ref().map(|f| {
        if f.fold_now(app, id) {
            "folded"
        } else {
            "queued"
        }
    });
    let events = serde_json::from_slice::<serde_json::Value>(&out.result)
        .ok()
        .and_then(|v| v.get("events").cloned())
        .unwrap_or(serde_json::Value::Null);
    Reply::value(
        200,
        &serde_json::json!({"customer": id, "changed": changed, "remembered_events": events, "fleet": fleet}),
    )
}

const FLEET_ERROR: &str = "the fleet refused it: ";

/// `PUT /v1/bundle`: validate in a fresh instance, write the bundle file, swap.
pub fn put_bundle(app: &App, bytes: Vec<u8>) -> Reply {
    let path = app.config.bundle.clone();
    let fleet = app.fleet.clone();
    // In a fleet, the bundle is published before it is made current here: if the fleet cannot
    // take it, nothing changes anywhere (503), rather than this host running another bundle
    // than the rest.
    match app.bundle.replace(&app.runtime, bytes, &app.metrics, |b| {
        if let Some(f) = &fleet {
            f.publish_bundle(b)
                .map_err(|e| format!("{FLEET_ERROR}{e}"))?;
        }
        write_atomically(&path, b)
    }) {
        Ok(r) => {
            tracing::info!(bundle = %r.hash, previous = r.previous.as_deref().unwrap_or("none"), load_fuel = r.load_fuel, published = fleet.is_some(), "bundle loaded (PUT /v1/bundle)");
            Reply::value(
                200,
                &serde_json::json!({"hash": r.hash, "previous": r.previous, "load_fuel": r.load_fuel, "published": fleet.is_some()}),
            )
        }
        Err(ReplaceError::Commit(m)) if m.starts_with(FLEET_ERROR) => Reply::error(
            503,
            "fleet_unavailable",
            format!("the bundle was not loaded: {m}"),
        ),
        Err(ReplaceError::Guest(e)) => {
            tracing::warn!(error = %e, "a bundle was refused (PUT /v1/bundle)");
            let mut reply = guest_error(&e);
            // Whatever stopped it, a bundle that cannot be loaded is the client's bad input.
            if reply.status >= 500 {
                reply.status = 400;
            }
            reply
        }
        Err(ReplaceError::Commit(m)) => db_error(&m),
    }
}
