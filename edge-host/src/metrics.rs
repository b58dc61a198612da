//! Metrics (`GET /metrics`), kept with `prometheus-client` and rendered as OpenMetrics text.
//!
//! Everything is a counter or gauge updated where it happens (the customer count too: the
//! writer adds and removes as it commits), so a scrape reads atomics and never touches the
//! database. Process metrics (`process_*`) are read from `/proc/self` at each scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Upper bounds (seconds) of the event latency histogram.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BundleLabels {
    pub bundle: String,
    pub module: String,
}

/// The writer's counters (shared with [`crate::db`]).
#[derive(Clone, Debug, Default)]
pub struct WriterStats {
    /// SQLite commits (each groups one or more writes).
    pub commits: Counter,
    /// Rows written or deleted.
    pub rows: Counter,
    /// Transactions that failed (nothing of them was acknowledged).
    pub failures: Counter,
    /// Customers stored: counted once at start, then kept by the writer.
    pub customers: Gauge,
    /// Customers in the fleet's outbox (changed here, not yet in the fleet's view).
    pub outbox: Gauge,
}

/// The fleet's figures (see [`crate::fleet`]); all zero when the host runs alone.
#[derive(Clone, Debug, Default)]
pub struct FleetStats {
    /// 1 while the link to the fleet is up.
    pub connected: Gauge,
    /// Customers folded into the fleet's view (outbox entries done).
    pub pushed: Counter,
    /// Revision conflicts met while folding (another site wrote first; merged again).
    pub conflicts: Counter,
    /// Pushes that failed (left in the outbox, retried).
    pub push_failures: Counter,
    /// Reads of the fleet's view before a decision, by outcome.
    pub reads: Family<CodeLabels, Counter>,
    /// Deletions received from other sites and applied here.
    pub erasures_applied: Counter,
    /// Bundles received from the fleet and loaded.
    pub bundles_applied: Counter,
    /// Batches of exposure lines published to the fleet's stream.
    pub exposures_published: Counter,
}

impl FleetStats {
    pub fn read(&self, outcome: &str) {
        self.reads
            .get_or_create(&CodeLabels {
                code: outcome.to_string(),
            })
            .inc();
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    event_errors: Family<CodeLabels, Counter>,
    limit_stops: Family<LimitLabels, Counter>,
    pub events: Counter,
    pub decisions: Counter,
    pub instances: Counter,
    pub bundle_loads: Counter,
    pub bundle_load_failures: Counter,
    auth_refusals: Family<CodeLabels, Counter>,
    event_duration: Histogram,
    pub writer: WriterStats,
    pub customers_in_flight: Gauge,
    bundle_info: Family<BundleLabels, Gauge>,
    pub fleet: FleetStats,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RouteLabels, Counter>::default();
        let event_errors = Family::<CodeLabels, Counter>::default();
        let limit_stops = Family::<LimitLabels, Counter>::default();
        for limit in ["fuel", "memory", "timeout"] {
            // Present (at 0) before any stop.
            drop(limit_stops.get_or_create(&LimitLabels { limit }));
        }
        let m = Metrics {
            registry: Registry::default(),
            requests,
            event_errors,
            limit_stops,
            events: Counter::default(),
            decisions: Counter::default(),
            instances: Counter::default(),
            bundle_loads: Counter::default(),
            bundle_load_failures: Counter::default(),
            auth_refusals: Family::default(),
            event_duration: Histogram::new(BUCKETS),
            writer: WriterStats::default(),
            customers_in_flight: Gauge::default(),
            bundle_info: Family::default(),
            fleet: FleetStats::default(),
        };
        registry.register(
            "omnirule_events",
            "Events evaluated and stored (acknowledged with 200)",
            m.events.clone(),
        );
        registry.register(
            "omnirule_decisions",
            "Decisions returned for acknowledged events",
            m.decisions.clone(),
        );
        registry.register(
            "omnirule_instances_created",
            "Engine module instances created",
            m.instances.clone(),
        );
        registry.register(
            "omnirule_bundle_loads",
            "Bundles loaded (start, PUT /v1/bundle, file watch)",
            m.bundle_loads.clone(),
        );
        registry.register(
            "omnirule_bundle_load_failures",
            "Bundles refused (decode error or limits)",
            m.bundle_load_failures.clone(),
        );
        registry.register(
            "omnirule_db_commits",
            "SQLite commits (each groups one or more writes)",
            m.writer.commits.clone(),
        );
        registry.register(
            "omnirule_db_rows_written",
            "Rows written or deleted",
            m.writer.rows.clone(),
        );
        registry.register(
            "omnirule_db_commit_failures",
            "SQLite transactions that failed (nothing of them was acknowledged)",
            m.writer.failures.clone(),
        );
        registry.register(
            "omnirule_limit_stops",
            "Engine calls stopped by a limit",
            m.limit_stops.clone(),
        );
        registry.register(
            "omnirule_http_requests",
            "HTTP requests by route and status",
            m.requests.clone(),
        );
        registry.register(
            "omnirule_event_errors",
            "Refused events by error code",
            m.event_errors.clone(),
        );
        registry.register(
            "omnirule_auth_refusals",
            "Requests refused by authentication (unauthorized) or scope (forbidden)",
            m.auth_refusals.clone(),
        );
        registry.register(
            "omnirule_event_duration_seconds",
            "Latency of POST /v1/events, durable write included",
            m.event_duration.clone(),
        );
        registry.register(
            "omnirule_bundle_info",
            "The loaded bundle (hash) and engine module (hash)",
            m.bundle_info.clone(),
        );
        registry.register(
            "omnirule_customers",
            "Customers stored",
            m.writer.customers.clone(),
        );
        registry.register(
            "omnirule_customers_in_flight",
            "Customers with a request running or waiting",
            m.customers_in_flight.clone(),
        );
        registry.register(
            "omnirule_fleet_outbox",
            "Customers changed here and not yet folded into the fleet's view",
            m.writer.outbox.clone(),
        );
        registry.register(
            "omnirule_fleet_connected",
            "1 while the link to the fleet (NATS) is up",
            m.fleet.connected.clone(),
        );
        registry.register(
            "omnirule_fleet_pushed",
            "Customers folded into the fleet's view",
            m.fleet.pushed.clone(),
        );
        registry.register(
            "omnirule_fleet_conflicts",
            "Revision conflicts while folding (another site wrote first)",
            m.fleet.conflicts.clone(),
        );
        registry.register(
            "omnirule_fleet_push_failures",
            "Folds that failed and stay in the outbox",
            m.fleet.push_failures.clone(),
        );
        registry.register(
            "omnirule_fleet_reads",
            "Reads of the fleet's view before a decision, by outcome",
            m.fleet.reads.clone(),
        );
        registry.register(
            "omnirule_fleet_erasures_applied",
            "Deletions received from other sites and applied here",
            m.fleet.erasures_applied.clone(),
        );
        registry.register(
            "omnirule_fleet_bundles_applied",
            "Bundles received from the fleet and loaded",
            m.fleet.bundles_applied.clone(),
        );
        registry.register(
            "omnirule_fleet_exposure_batches",
            "Batches of exposure lines published to the fleet's stream",
            m.fleet.exposures_published.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        Metrics { registry, ..m }
    }

    pub fn request(&self, route: &'static str, code: u16) {
        self.requests
            .get_or_create(&RouteLabels { route, code })
            .inc();
    }

    pub fn event_error(&self, code: &str) {
        self.event_errors
            .get_or_create(&CodeLabels {
                code: code.to_string(),
            })
            .inc();
    }

    pub fn auth_refusal(&self, code: &str) {
        self.auth_refusals
            .get_or_create(&CodeLabels {
                code: code.to_string(),
            })
            .inc();
    }

    pub fn limit_stop(&self, limit: &'static str) {
        self.limit_stops.get_or_create(&LimitLabels { limit }).inc();
    }

    pub fn event_latency(&self, took: Duration) {
        self.event_duration.observe(took.as_secs_f64());
    }

    /// The text of a scrape.
    pub fn render(&self, bundle_hash: Option<&str>, module_hash: &str, in_flight: usize) -> String {
        self.bundle_info.clear();
        self.bundle_info
            .get_or_create(&BundleLabels {
                bundle: bundle_hash.unwrap_or("").to_string(),
                module: module_hash.to_string(),
            })
            .set(1);
        self.customers_in_flight
            .set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// `process_*` metrics from `/proc/self` (Linux; nothing elsewhere).
#[derive(Debug)]
struct ProcessCollector;

/// Process figures read at a scrape.
#[derive(Debug, Default)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: i64,
    virtual_bytes: i64,
    start_time_seconds: f64,
    open_fds: i64,
    max_fds: i64,
    threads: i64,
}

fn process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); field n is at index n - 3.
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse::<f64>().ok() };
    // USER_HZ is 100 and pages are 4 KiB on the Linux platforms the host runs on (reading
    // them with sysconf would need libc).
    let ticks = 100.0;
    let page = 4096.0;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok())?;
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| i64::try_from(d.count()).unwrap_or(0))
        .unwrap_or(0);
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<i64>().ok())
        })
        .unwrap_or(0);
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) / ticks,
        threads: field(20)? as i64,
        start_time_seconds: boot_time + field(22)? / ticks,
        virtual_bytes: field(23)? as i64,
        resident_bytes: (field(24)? * page) as i64,
        open_fds,
        max_fds,
    })
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = process_stats() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges: [(&str, &str, ConstGauge<i64>); 5] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                ConstGauge::new(s.resident_bytes),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                ConstGauge::new(s.virtual_bytes),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                ConstGauge::new(s.open_fds),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                ConstGauge::new(s.max_fds),
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                ConstGauge::new(s.threads),
            ),
        ];
        for (name, help, g) in &gauges {
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        let start = ConstGauge::new(s.start_time_seconds);
        start.encode(encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            None,
            start.metric_type(),
        )?)?;
        Ok(())
    }
}
