//! Counters and a latency histogram, rendered as Prometheus text (`GET /metrics`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds (seconds) of the event latency histogram.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
pub struct Metrics {
    /// (route, status code) → count.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Error code → count, for `POST /v1/events`.
    event_errors: Mutex<BTreeMap<String, u64>>,
    pub events: AtomicU64,
    pub decisions: AtomicU64,
    pub limit_fuel: AtomicU64,
    pub limit_memory: AtomicU64,
    pub limit_timeout: AtomicU64,
    pub instances: AtomicU64,
    pub bundle_loads: AtomicU64,
    pub bundle_load_failures: AtomicU64,
    /// Histogram of `POST /v1/events` latency: cumulative counts per bucket, then +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
}

/// Values read from elsewhere when rendering.
pub struct Gauges<'a> {
    pub bundle_hash: Option<&'a str>,
    pub module_hash: &'a str,
    pub customers: Option<i64>,
    pub locks_active: usize,
    pub db_commits: u64,
    pub db_rows: u64,
    pub db_failures: u64,
}

impl Metrics {
    pub fn request(&self, route: &'static str, status: u16) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((route, status))
            .or_default() += 1;
    }

    pub fn event_error(&self, code: &str) {
        *self
            .event_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(code.to_string())
            .or_default() += 1;
    }

    pub fn event_latency(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Relaxed);
        }
        self.latency_sum_us
            .fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    pub fn render(&self, g: &Gauges<'_>) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            "omnirule_events_total",
            "Events evaluated and stored (acknowledged with 200).",
            self.events.load(Relaxed),
        );
        counter(
            "omnirule_decisions_total",
            "Decisions returned for acknowledged events.",
            self.decisions.load(Relaxed),
        );
        counter(
            "omnirule_instances_created_total",
            "Engine module instances created.",
            self.instances.load(Relaxed),
        );
        counter(
            "omnirule_bundle_loads_total",
            "Bundles loaded (start, PUT /v1/bundle, file watch).",
            self.bundle_loads.load(Relaxed),
        );
        counter(
            "omnirule_bundle_load_failures_total",
            "Bundles refused (decode error or limits).",
            self.bundle_load_failures.load(Relaxed),
        );
        counter(
            "omnirule_db_commits_total",
            "SQLite commits (each groups one or more writes).",
            g.db_commits,
        );
        counter(
            "omnirule_db_rows_written_total",
            "Rows written or deleted.",
            g.db_rows,
        );
        counter(
            "omnirule_db_commit_failures_total",
            "SQLite transactions that failed (nothing of them was acknowledged).",
            g.db_failures,
        );
        let _ = writeln!(
            out,
            "# HELP omnirule_limit_stops_total Engine calls stopped by a limit.\n# TYPE omnirule_limit_stops_total counter"
        );
        for (kind, v) in [
            ("fuel", &self.limit_fuel),
            ("memory", &self.limit_memory),
            ("timeout", &self.limit_timeout),
        ] {
            let _ = writeln!(
                out,
                "omnirule_limit_stops_total{{limit=\"{kind}\"}} {}",
                v.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP omnirule_http_requests_total HTTP requests by route and status.\n# TYPE omnirule_http_requests_total counter"
        );
        for ((route, status), v) in self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "omnirule_http_requests_total{{route=\"{route}\",code=\"{status}\"}} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP omnirule_event_errors_total Refused events by error code.\n# TYPE omnirule_event_errors_total counter"
        );
        for (code, v) in self
            .event_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let code = code.replace(['"', '\\', '\n'], "_");
            let _ = writeln!(out, "omnirule_event_errors_total{{code=\"{code}\"}} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP omnirule_event_duration_seconds Latency of POST /v1/events, durable write included.\n# TYPE omnirule_event_duration_seconds histogram"
        );
        let mut cumulative = 0u64;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Relaxed);
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |v| v.to_string());
            let _ = writeln!(
                out,
                "omnirule_event_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "omnirule_event_duration_seconds_sum {}\nomnirule_event_duration_seconds_count {cumulative}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP omnirule_bundle_info The loaded bundle (hash) and engine module (hash).\n# TYPE omnirule_bundle_info gauge\nomnirule_bundle_info{{bundle=\"{}\",module=\"{}\"}} 1",
            g.bundle_hash.unwrap_or(""),
            g.module_hash
        );
        if let Some(n) = g.customers {
            let _ = writeln!(
                out,
                "# HELP omnirule_customers Customers stored.\n# TYPE omnirule_customers gauge\nomnirule_customers {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP omnirule_customers_in_flight Customers with a request running or waiting.\n# TYPE omnirule_customers_in_flight gauge\nomnirule_customers_in_flight {}",
            g.locks_active
        );
        out
    }
}
