//! The HTTP API (see `edge-host/README.md`).
//!
//! Every error is a JSON body `{"error":{"code":"..","message":".."}}` with a 4xx status for
//! bad input (nothing stored changes) and 5xx when the host cannot serve (no bundle loaded, a
//! limit stopped the engine, the database failed).

use crate::Config;
use crate::bundles::{BundleSlot, LoadedBundle, ReplaceError, new_guest, write_atomically};
use crate::db::{Db, Reader, Write};
use crate::guest::{GuestError, Runtime, status};
use crate::http::{Handler, Request, Response};
use crate::locks::KeyedLocks;
use crate::metrics::{Gauges, Metrics};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Longest customer id, in bytes.
const MAX_CUSTOMER_ID: usize = 256;

/// The host's shared state.
pub struct App {
    pub config: Config,
    pub runtime: Arc<Runtime>,
    pub bundle: Arc<BundleSlot>,
    pub db: Db,
    pub locks: KeyedLocks,
    pub metrics: Arc<Metrics>,
    /// Idle read connections (one is taken per request).
    pub readers: Mutex<Vec<Reader>>,
}

/// A response.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            body: body.into(),
            content_type: "application/json",
            headers: Vec::new(),
        }
    }

    fn value(status: u16, v: &serde_json::Value) -> Reply {
        Reply::json(status, v.to_string())
    }

    fn error(status: u16, code: &str, message: impl AsRef<str>) -> Reply {
        Reply::value(
            status,
            &serde_json::json!({"error": {"code": code, "message": message.as_ref()}}),
        )
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl App {
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

impl From<Reply> for Response {
    fn from(r: Reply) -> Response {
        Response {
            status: r.status,
            content_type: r.content_type,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl Handler for App {
    fn body_limit(&self, _method: &str, path: &str) -> usize {
        if path == "/v1/bundle" {
            self.config.max_bundle
        } else {
            self.config.max_body
        }
    }

    fn handle(&self, request: Request) -> Response {
        let (route, reply) = match self.reader() {
            Ok(reader) => {
                let out = handle(self, &reader, &request);
                self.put_reader(reader);
                out
            }
            Err(m) => ("other", db_error(&m)),
        };
        self.metrics.request(route, reply.status);
        reply.into()
    }

    fn refuse(&self, status: u16, code: &str, message: &str) -> Response {
        self.metrics.request("refused", status);
        Reply::error(status, code, message).into()
    }
}

/// Routes a request; returns the route label (for the metrics) and the reply.
fn handle(app: &App, reader: &Reader, req: &Request) -> (&'static str, Reply) {
    let (method, path) = (req.method.as_str(), req.path.as_str());
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    const GET: &str = "GET";
    const POST: &str = "POST";
    const PUT: &str = "PUT";
    const DELETE: &str = "DELETE";
    match (segments.as_slice(), method) {
        (["healthz"], GET) => ("healthz", healthz(app)),
        (["metrics"], GET) => ("metrics", metrics(app, reader)),
        (["v1", "events"], POST) => {
            let started = Instant::now();
            let reply = track_event(app, reader, req);
            app.metrics.event_latency(started.elapsed());
            ("events", reply)
        }
        (["v1", "customers", id], GET) => {
            ("customer_get", with_id(id, |id| customer(app, reader, id)))
        }
        (["v1", "customers", id], DELETE) => (
            "customer_delete",
            admin(app, req).unwrap_or_else(|| with_id(id, |id| forget(app, id))),
        ),
        (["v1", "customers", id, "merge"], POST) => (
            "customer_merge",
            admin(app, req).unwrap_or_else(|| with_id(id, |id| merge(app, reader, req, id))),
        ),
        (["v1", "bundle"], GET) => ("bundle_get", bundle_info(app)),
        (["v1", "bundle"], PUT) => (
            "bundle_put",
            admin(app, req).unwrap_or_else(|| put_bundle(app, req)),
        ),
        (["healthz"] | ["metrics"], _) => ("other", not_allowed("GET")),
        (["v1", "events"], _) => ("other", not_allowed("POST")),
        (["v1", "customers", _], _) => ("other", not_allowed("GET, DELETE")),
        (["v1", "customers", _, "merge"], _) => ("other", not_allowed("POST")),
        (["v1", "bundle"], _) => ("other", not_allowed("GET, PUT")),
        _ => (
            "other",
            Reply::error(404, "not_found", format!("no route for {method} {path}")),
        ),
    }
}

fn not_allowed(allow: &'static str) -> Reply {
    Reply::error(405, "method_not_allowed", format!("allowed: {allow}")).header("Allow", allow)
}

/// `None` when the request carries the admin token, else the refusal.
fn admin(app: &App, req: &Request) -> Option<Reply> {
    let Some(token) = app.config.admin_token.as_deref() else {
        return Some(Reply::error(
            403,
            "admin_disabled",
            "admin endpoints are disabled: start the host with --admin-token or OMNIRULE_ADMIN_TOKEN",
        ));
    };
    let given = req
        .header("Authorization")
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), token.as_bytes()) => None,
        Some(_) => Some(
            Reply::error(401, "unauthorized", "the admin token is wrong")
                .header("WWW-Authenticate", "Bearer"),
        ),
        None => Some(
            Reply::error(
                401,
                "unauthorized",
                "this endpoint needs the admin token: `Authorization: Bearer <token>`",
            )
            .header("WWW-Authenticate", "Bearer"),
        ),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Percent-decodes and checks a customer id from the path.
fn with_id(raw: &str, f: impl FnOnce(&str) -> Reply) -> Reply {
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

fn db_error(m: &str) -> Reply {
    Reply::error(503, "storage_error", m)
}

fn healthz(app: &App) -> Reply {
    let bundle = app.bundle.current();
    Reply::value(
        200,
        &serde_json::json!({
            "status": "ok",
            "ready": bundle.is_some(),
            "bundle": bundle.as_ref().map(|b| b.hash.clone()),
            "module": app.runtime.module_hash(),
            "module_from_cache": app.runtime.from_cache(),
        }),
    )
}

fn metrics(app: &App, reader: &Reader) -> Reply {
    let bundle = app.bundle.current();
    let stats = &app.db.stats;
    let text = app.metrics.render(&Gauges {
        bundle_hash: bundle.as_ref().map(|b| b.hash.as_str()),
        module_hash: app.runtime.module_hash(),
        customers: reader.customer_count().ok(),
        locks_active: app.locks.active(),
        db_commits: stats.commits.load(Relaxed),
        db_rows: stats.rows.load(Relaxed),
        db_failures: stats.failures.load(Relaxed),
    });
    Reply {
        status: 200,
        body: text.into_bytes(),
        content_type: "text/plain; version=0.0.4",
        headers: Vec::new(),
    }
}

fn bundle_info(app: &App) -> Reply {
    match app.bundle.current() {
        Some(b) => Reply::value(
            200,
            &serde_json::json!({"hash": b.hash, "bytes": b.bytes.len()}),
        ),
        None => no_bundle(),
    }
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

fn track_event(app: &App, reader: &Reader, req: &Request) -> Reply {
    let reply = track_event_inner(app, reader, req);
    if reply.status == 200 {
        app.metrics.events.fetch_add(1, Relaxed);
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

fn track_event_inner(app: &App, reader: &Reader, req: &Request) -> Reply {
    let request: EventRequest<'_> = match serde_json::from_slice(&req.body) {
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
    let memory = row
        .as_ref()
        .map(|r| r.memory.as_slice())
        .unwrap_or_default();
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
    if !nothing_kept && (row.is_none() || profile_changed || out.memory != memory) {
        let write = Write::Upsert {
            id: request.customer.clone(),
            profile: profile.filter(|_| profile_changed),
            memory: out.memory,
            now_ms: now_ms(),
        };
        if let Err(m) = app.db.write(write) {
            return db_error(&m);
        }
    }
    let decisions = serde_json::from_slice::<serde_json::Value>(&out.result)
        .ok()
        .and_then(|v| v.get("decisions").and_then(|d| d.as_array()).map(Vec::len))
        .unwrap_or(0);
    app.metrics
        .decisions
        .fetch_add(u64::try_from(decisions).unwrap_or(0), Relaxed);
    Reply::json(200, out.result)
        .header("X-Omnirule-Bundle", bundle.hash.clone())
        .header("X-Omnirule-Fuel", out.fuel.to_string())
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
fn customer(app: &App, reader: &Reader, id: &str) -> Reply {
    let row = match reader.customer(id) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Reply::error(
                404,
                "unknown_customer",
                format!("nothing is stored for `{id}`"),
            );
        }
        Err(m) => return db_error(&m),
    };
    let bundle = app.bundle.current();
    let memory = match with_any_guest(app, bundle.as_ref(), |g| g.memory_json(&row.memory)) {
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
        }),
    )
}

/// `DELETE /v1/customers/{id}`: forget a customer (memory and profile).
fn forget(app: &App, id: &str) -> Reply {
    let _customer = app.locks.lock(id);
    match app.db.write(Write::Delete { id: id.to_string() }) {
        Ok(n) => Reply::value(200, &serde_json::json!({"customer": id, "deleted": n > 0})),
        Err(m) => db_error(&m),
    }
}

/// `POST /v1/customers/{id}/merge`: merge memory from another channel. The body is a memory:
/// its bytes (`OMNIMEM...`), its JSON form, or an object with a `memory` member holding the
/// JSON form (e.g. what `GET /v1/customers/{id}` returns elsewhere).
fn merge(app: &App, reader: &Reader, req: &Request, id: &str) -> Reply {
    let incoming = if req.body.starts_with(b"OMNIMEM") {
        req.body.clone()
    } else {
        let value: serde_json::Value = match serde_json::from_slice(&req.body) {
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
        };
        if let Err(m) = app.db.write(write) {
            return db_error(&m);
        }
    }
    let events = serde_json::from_slice::<serde_json::Value>(&out.result)
        .ok()
        .and_then(|v| v.get("events").cloned())
        .unwrap_or(serde_json::Value::Null);
    Reply::value(
        200,
        &serde_json::json!({"customer": id, "changed": changed, "remembered_events": events}),
    )
}

/// `PUT /v1/bundle`: validate in a fresh instance, write the bundle file, swap.
fn put_bundle(app: &App, req: &Request) -> Reply {
    let bytes = req.body.clone();
    let path = app.config.bundle.clone();
    match app.bundle.replace(&app.runtime, bytes, &app.metrics, |b| {
        write_atomically(&path, b)
    }) {
        Ok(r) => Reply::value(
            200,
            &serde_json::json!({"hash": r.hash, "previous": r.previous, "load_fuel": r.load_fuel}),
        ),
        Err(ReplaceError::Guest(e)) => {
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
