//! The fleet: one customer view across every store and the web shop, over NATS JetStream.
//!
//! Every site (a store host, or the online node that serves the web shop and the edge: the
//! same binary, `--site web`) keeps deciding from its own SQLite memory, and shares through
//! three JetStream resources on the hub (see `docs/fleet.md` for the design and its sizing):
//!
//! - the key-value bucket [`CUSTOMERS_BUCKET`]: per customer (key: [`customer_key`], a hash,
//!   so ids never appear in subjects), the join of every site's memory of them. A site folds
//!   its memory in after every change ([`fold`]: read the entry, merge, write it back only if
//!   the revision is still the one read; on a conflict read and merge again). Merge is a join
//!   (commutative, associative, idempotent), so folding the same memory twice, in any order,
//!   from any number of sites, leaves the same value: no ordering or exactly-once delivery is
//!   needed, only that every change is folded at least once.
//! - the outbox (a table of the site's SQLite, written in the same transaction as the
//!   customer's row, see [`crate::db`]): the customers changed here and not yet folded. It is
//!   what makes a cut link harmless: the store acknowledges events durably while cut, and
//!   [`Fleet`]'s drain task folds the queue when the link is back (also after a crash: the
//!   queue is on disk). A queue entry names a customer, not an event: a thousand events of
//!   one customer during a cut are one fold.
//! - before deciding for a customer, a site reads their entry (bounded by `read_wait`, skipped
//!   while the link is down) and merges it into its own copy, so the offer in store B knows
//!   the web's browsing and store C knows the purchase in B; caps fired anywhere hold
//!   everywhere the fold has reached.
//! - the stream [`ERASURES_STREAM`]: a deletion is a tombstone in the merged memory (so no
//!   stale copy brings the customer back) and a message to every site (a durable consumer per
//!   site, so a site that was cut catches up), which erases its own copy and the profile.
//!   The message id (`Nats-Msg-Id`) makes retried publishes one message.
//! - the bucket [`BUNDLES_BUCKET`]: the fleet's bundle (key [`BUNDLE_KEY`]); a `PUT
//!   /v1/bundle` on any host publishes it, every host watches the key and hot-reloads it.
//!
//! Privacy: only memory travels (profiles stay at the site that was sent them), and a
//! customer about whom the engine keeps nothing (no consent) is never stored, so never queued.

use crate::db::{Queued, Write};
use crate::server::App;
use async_nats::jetstream::{self, kv};
use futures_util::StreamExt as _;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The customers' merged memory.
pub const CUSTOMERS_BUCKET: &str = "omnirule-customers";
/// The fleet's bundle.
pub const BUNDLES_BUCKET: &str = "omnirule-bundles";
/// The key of the current bundle in [`BUNDLES_BUCKET`].
pub const BUNDLE_KEY: &str = "current";
/// Deletions, one message per deleted customer, subject `omnirule.erase.<site>`.
pub const ERASURES_STREAM: &str = "OMNIRULE_ERASURES";
/// Exposures (docs/report.md), one message per line, subject `omnirule.exposure.<site>`: what
/// `omnirule report` reads, gathered from every site.
pub const EXPOSURES_STREAM: &str = "OMNIRULE_EXPOSURES";
const EXPOSURES_SUBJECT: &str = "omnirule.exposure";
/// How long exposures are kept in the stream (goal windows are days to weeks; reports run
/// after the campaign).
const EXPOSURES_KEPT: Duration = Duration::from_secs(90 * 24 * 3600);
const ERASURES_SUBJECT: &str = "omnirule.erase";
/// How long deletions are kept for sites that were away.
const ERASURES_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);
/// Revision conflicts on one customer before a fold is given up (and retried later).
pub const MAX_ATTEMPTS: u32 = 32;
/// Outbox entries folded per batch, and at once.
const BATCH: usize = 256;
const IN_FLIGHT: usize = 32;
/// After a read of the fleet's view timed out, reads are skipped for this long (decisions are
/// made from the local copy), so a slow hub costs one wait, not one per event.
const READ_PAUSE: Duration = Duration::from_secs(1);
/// How long the drain lets changes gather before it folds them (a bound on what it adds to the
/// time from an event here to the fleet knowing it).
const LINGER: Duration = Duration::from_millis(20);
/// A call to the hub other than the pre-decision read.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How this host joins the fleet.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The NATS server(s) (`nats://127.0.0.1:4222`, comma-separated for several).
    pub url: String,
    /// This site's name (`[A-Za-z0-9_-]`, 1 to 64): message ids, the deletion consumer, logs.
    pub site: String,
    /// A NATS token, if the server wants one.
    pub token: Option<String>,
    /// Longest wait for the fleet's view of a customer before a decision.
    pub read_wait: Duration,
    /// A customer whose view was read less than this long ago is decided on from the local
    /// copy (which holds that view): one read per customer per window, not one per event. The
    /// cost: a change made elsewhere within the window is seen at the next read. Zero: read
    /// before every decision.
    pub fresh_for: Duration,
    /// JetStream replicas for the buckets and the stream (3 on a hub cluster).
    pub replicas: usize,
}

impl FleetConfig {
    pub fn new(url: &str, site: &str) -> Result<FleetConfig, String> {
        check_site(site)?;
        if url.trim().is_empty() {
            return Err("the fleet's URL is empty".into());
        }
        Ok(FleetConfig {
            url: url.to_string(),
            site: site.to_string(),
            token: None,
            read_wait: Duration::from_millis(50),
            fresh_for: Duration::ZERO,
            replicas: 1,
        })
    }
}

/// A site name: a NATS subject token and consumer name.
pub fn check_site(site: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&site.len())
        && site
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the site name `{site}` must be 1 to 64 of A-Z, a-z, 0-9, `_` and `-`"
        ))
    }
}

/// A customer's key in [`CUSTOMERS_BUCKET`]: the SHA-256 of the id, in hex. Keys are seen by
/// every operator of the hub (and in its subjects); ids are not, and any id fits.
pub fn customer_key(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    let mut key = String::with_capacity(64);
    for b in digest {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

/// The shared view as [`fold`] sees it: a key-value store whose writes are checked against
/// the revision read.
pub trait SharedView {
    /// The value and revision under `key`, if any.
    fn entry(&self, key: &str) -> impl Future<Output = Result<Option<(Vec<u8>, u64)>, String>>;
    /// Writes `value` under `key` if its revision is still `revision` (`None`: if the key has
    /// no value): the new revision, or `None` when someone wrote first.
    fn swap(
        &self,
        key: &str,
        value: Vec<u8>,
        revision: Option<u64>,
    ) -> impl Future<Output = Result<Option<u64>, String>>;
}

/// The result of a [`fold`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    /// The shared value as of `revision` (it includes `local`).
    pub view: Vec<u8>,
    pub revision: u64,
    /// Conflicts met (another writer came between the read and the write).
    pub conflicts: u32,
    /// Whether this fold wrote (false: the view already held everything of `local`).
    pub wrote: bool,
}

/// Folds `local` into the shared value under `key`: merge with the value, write it if nobody
/// wrote since that value's revision, else read and merge again. `known`: a value and revision
/// this site read or wrote earlier, tried first, which saves the read when nobody else wrote
/// since (if someone did, the write meets a conflict and the fold reads). Because `merge` is a
/// join, and every write a join over the value before it, a fold repeated, started from a stale
/// value, or racing with other folds, leaves the join of everything folded.
pub async fn fold<V: SharedView>(
    view: &V,
    key: &str,
    local: &[u8],
    known: Option<(Vec<u8>, u64)>,
    merge: &mut impl FnMut(&[u8], &[u8]) -> Result<Vec<u8>, String>,
) -> Result<Folded, String> {
    let mut known = known;
    for conflicts in 0..MAX_ATTEMPTS {
        let current = match known.take() {
            Some(k) => Some(k),
            None => view.entry(key).await?,
        };
        let (merged, revision) = match current {
            None => (local.to_vec(), None),
            Some((shared, revision)) => {
                let merged = merge(&shared, local)?;
                // Nothing to add: `local` is in this value, so in every later one too.
                if merged == shared {
                    return Ok(Folded {
                        view: merged,
                        revision,
                        conflicts,
                        wrote: false,
                    });
                }
                (merged, Some(revision))
            }
        };
        if let Some(revision) = view.swap(key, merged.clone(), revision).await? {
            return Ok(Folded {
                view: merged,
                revision,
                conflicts,
                wrote: true,
            });
        }
    }
    Err(format!(
        "{MAX_ATTEMPTS} revision conflicts in a row on one customer"
    ))
}

impl SharedView for kv::Store {
    async fn entry(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, String> {
        match kv::Store::entry(self, key).await {
            Ok(Some(e)) if e.operation == kv::Operation::Put => {
                Ok(Some((e.value.to_vec(), e.revision)))
            }
            Ok(_) => Ok(None),
            Err(e) => Err(format!("reading {key}: {e}")),
        }
    }

    async fn swap(
        &self,
        key: &str,
        value: Vec<u8>,
        revision: Option<u64>,
    ) -> Result<Option<u64>, String> {
        match revision {
            None => match self.create(key, value.into()).await {
                Ok(r) => Ok(Some(r)),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(format!("creating {key}: {e}")),
            },
            Some(r) => match self.update(key, value.into(), r).await {
                Ok(r) => Ok(Some(r)),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
                Err(e) => Err(format!("updating {key}: {e}")),
            },
        }
    }
}

/// The connection and the JetStream resources.
struct Link {
    client: async_nats::Client,
    js: jetstream::Context,
    customers: kv::Store,
    bundles: kv::Store,
}

/// This host's membership in the fleet.
pub struct Fleet {
    pub config: FleetConfig,
    link: RwLock<Option<Arc<Link>>>,
    /// The outbox has work (a write queued a customer, or the link came back).
    wake: Arc<tokio::sync::Notify>,
    reads_paused_until: Mutex<Option<Instant>>,
    /// When each customer's view was last read (see [`FleetConfig::fresh_for`]).
    read_at: Mutex<std::collections::HashMap<String, Instant>>,
    /// The last value and revision this site read or wrote per customer key: a fold tries its
    /// write against it first (see [`fold`]), so a customer this site read before deciding is
    /// folded in one write rather than a read and a write.
    known: Mutex<std::collections::HashMap<String, (Vec<u8>, u64)>>,
}

/// Customers kept in `known` (values of a few KiB: tens of MiB at most); beyond, it starts over.
const KNOWN_ENTRIES: usize = 10_000;

/// Customers remembered in `read_at` before the stale ones are dropped.
const FRESH_ENTRIES: usize = 100_000;

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("site", &self.config.site)
            .field("url", &self.config.url)
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// What the fleet's view added to a decision.
pub enum Read {
    /// The fleet's memory of the customer.
    Found(Vec<u8>),
    /// The fleet has nothing of them.
    Nothing,
    /// Not asked or not answered in time: decide from the local copy.
    Unavailable,
}

impl Fleet {
    pub fn new(config: FleetConfig) -> Arc<Fleet> {
        Arc::new(Fleet {
            config,
            link: RwLock::new(None),
            wake: Arc::new(tokio::sync::Notify::new()),
            reads_paused_until: Mutex::new(None),
            read_at: Mutex::new(std::collections::HashMap::new()),
            known: Mutex::new(std::collections::HashMap::new()),
        })
    }

    fn link(&self) -> Option<Arc<Link>> {
        self.link
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .filter(|l| l.client.connection_state() == async_nats::connection::State::Connected)
    }

    pub fn is_connected(&self) -> bool {
        self.link().is_some()
    }

    /// A write queued a customer: wake the drain.
    pub fn queued(&self) {
        self.wake.notify_one();
    }

    /// Before a decision: the fleet's view of `id`, unless it was read within `fresh_for`
    /// (then the local copy holds it). Called by the HTTP handler before the request takes an
    /// engine turn or a blocking thread, so that waiting for the hub holds neither (merging
    /// the view later, under the customer's lock, is as good as reading it there: a join).
    pub async fn read_before_deciding(&self, app: &App, id: &str) -> Read {
        let fresh_for = self.config.fresh_for;
        if !fresh_for.is_zero() {
            let now = Instant::now();
            let mut read_at = self.read_at.lock().unwrap_or_else(PoisonError::into_inner);
            if read_at
                .get(id)
                .is_some_and(|at| now.duration_since(*at) < fresh_for)
            {
                app.metrics.fleet.read("fresh");
                return Read::Unavailable;
            }
            if read_at.len() >= FRESH_ENTRIES {
                read_at.retain(|_, at| now.duration_since(*at) < fresh_for);
            }
        }
        let read = self.read_async(app, id).await;
        if !fresh_for.is_zero() && !matches!(read, Read::Unavailable) {
            self.read_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id.to_string(), Instant::now());
        }
        read
    }

    /// The fleet's memory of `id`, waited for at most `read_wait`. Blocking (call it from the
    /// blocking pool, inside the runtime).
    pub fn read(&self, app: &App, id: &str) -> Read {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(self.read_async(app, id)),
            Err(_) => Read::Unavailable,
        }
    }

    /// The fleet's memory of `id`, waited for at most `read_wait`.
    pub async fn read_async(&self, app: &App, id: &str) -> Read {
        let stats = &app.metrics.fleet;
        let Some(link) = self.link() else {
            stats.read("offline");
            return Read::Unavailable;
        };
        {
            let mut paused = self
                .reads_paused_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match *paused {
                Some(until) if Instant::now() < until => {
                    stats.read("paused");
                    return Read::Unavailable;
                }
                Some(_) => *paused = None,
                None => {}
            }
        }
        let key = customer_key(id);
        let got = tokio::time::timeout(
            self.config.read_wait,
            SharedView::entry(&link.customers, &key),
        )
        .await;
        match got {
            Ok(Ok(Some((value, revision)))) => {
                stats.read("found");
                self.remember(key, value.clone(), revision);
                Read::Found(value)
            }
            Ok(Ok(None)) => {
                stats.read("nothing");
                Read::Nothing
            }
            Ok(Err(e)) => {
                stats.read("error");
                tracing::warn!(error = %e, "reading the fleet's view failed; deciding from the local copy");
                Read::Unavailable
            }
            Err(_) => {
                stats.read("timeout");
                *self
                    .reads_paused_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + READ_PAUSE);
                tracing::warn!(wait = ?self.config.read_wait, "the fleet's view did not answer in time; deciding from the local copy");
                Read::Unavailable
            }
        }
    }

    fn remember(&self, key: String, value: Vec<u8>, revision: u64) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= KNOWN_ENTRIES && !known.contains_key(&key) {
            known.clear();
        }
        known.insert(key, (value, revision));
    }

    fn known(&self, key: &str) -> Option<(Vec<u8>, u64)> {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Folds customer `id` into the fleet's view now rather than at the drain's next turn
    /// (blocking, bounded by the call timeout): for hand-offs, whose caller expects the fleet to
    /// know when they return. `false`: not folded (the link is down or slow); the outbox still
    /// holds it.
    pub fn fold_now(&self, app: &App, id: &str) -> bool {
        let Some(link) = self.link() else {
            return false;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        // Not dequeued here (the entry's sequence is the drain's to check): the drain's fold
        // of it then finds nothing to add and writes nothing.
        let queued = Queued {
            id: id.to_string(),
            seq: -1,
            erase: false,
        };
        match handle.block_on(self.push(app, &link, queued)) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "folding a hand-off into the fleet failed; it stays queued");
                false
            }
        }
    }

    /// Publishes a bundle to every host (blocking). Fails when the link is down.
    pub fn publish_bundle(&self, bytes: &[u8]) -> Result<(), String> {
        let link = self
            .link()
            .ok_or_else(|| "the fleet is not connected".to_string())?;
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "no async runtime to publish from".to_string())?;
        handle
            .block_on(tokio::time::timeout(
                CALL_TIMEOUT,
                link.bundles.put(BUNDLE_KEY, bytes.to_vec().into()),
            ))
            .map_err(|_| "the fleet did not acknowledge the bundle in time".to_string())?
            .map_err(|e| format!("publishing the bundle: {e}"))?;
        Ok(())
    }

    /// Starts the fleet's tasks: connecting (and reconnecting), the outbox drain, the
    /// deletions consumer and the bundle watch. They run until aborted.
    pub fn spawn(self: &Arc<Self>, app: Arc<App>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        let me = self.clone();
        let a = app.clone();
        tasks.push(tokio::spawn(async move { me.connect(&a).await }));
        let me = self.clone();
        let a = app.clone();
        tasks.push(tokio::spawn(async move { me.drain_loop(a).await }));
        let me = self.clone();
        let a = app.clone();
        tasks.push(tokio::spawn(async move { me.erasures_loop(a).await }));
        let me = self.clone();
        tasks.push(tokio::spawn(async move { me.bundles_loop(app).await }));
        tasks
    }

    /// Connects, retrying until it works; the client then reconnects by itself.
    async fn connect(&self, app: &App) {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.open(app).await {
                Ok(link) => {
                    tracing::info!(site = %self.config.site, url = %self.config.url, "joined the fleet");
                    *self.link.write().unwrap_or_else(PoisonError::into_inner) =
                        Some(Arc::new(link));
                    app.metrics.fleet.connected.set(1);
                    self.wake.notify_one();
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, url = %self.config.url, retry_in = ?delay, "cannot join the fleet yet; deciding locally");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn open(&self, app: &App) -> Result<Link, String> {
        let connected = app.metrics.fleet.connected.clone();
        let wake = self.wake.clone();
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("omnirule-store/{}", self.config.site))
            .connection_timeout(Duration::from_secs(2))
            .request_timeout(Some(CALL_TIMEOUT))
            .max_reconnects(None)
            // Loopback and LAN links: come back quickly after a cut (the default backs off to
            // seconds), at most every 2 s.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100u64.saturating_mul(attempts as u64).min(2000))
            })
            .event_callback(move |event| {
                let connected = connected.clone();
                let wake = wake.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            connected.set(1);
                            // Whatever queued up while cut flows now.
                            wake.notify_one();
                            tracing::info!("the link to the fleet is up");
                        }
                        async_nats::Event::Disconnected => {
                            connected.set(0);
                            tracing::warn!(
                                "the link to the fleet is down; deciding locally, queueing changes"
                            );
                        }
                        other => tracing::debug!(event = %other, "fleet connection event"),
                    }
                }
            });
        if let Some(t) = &self.config.token {
            options = options.token(t.clone());
        }
        let client = tokio::time::timeout(CALL_TIMEOUT, options.connect(self.config.url.as_str()))
            .await
            .map_err(|_| "connecting timed out".to_string())?
            .map_err(|e| format!("connecting: {e}"))?;
        let js = jetstream::new(client.clone());
        let replicas = self.config.replicas.max(1);
        // History 1 for memories: a value is a join, so the latest holds everything before it.
        let customers = bucket(
            &js,
            CUSTOMERS_BUCKET,
            "each customer's merged memory",
            1,
            replicas,
        )
        .await?;
        let bundles = bucket(&js, BUNDLES_BUCKET, "the fleet's bundle", 5, replicas).await?;
        for (name, subject, kept) in [
            (ERASURES_STREAM, ERASURES_SUBJECT, ERASURES_KEPT),
            (EXPOSURES_STREAM, EXPOSURES_SUBJECT, EXPOSURES_KEPT),
        ] {
            js.get_or_create_stream(jetstream::stream::Config {
                name: name.into(),
                subjects: vec![format!("{subject}.>")],
                max_age: kept,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("the stream {name}: {e}"))?;
        }
        Ok(Link {
            client,
            js,
            customers,
            bundles,
        })
    }

    async fn drain_loop(self: Arc<Self>, app: Arc<App>) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            if self.link().is_none() || app.bundle.current().is_none() {
                continue;
            }
            // Let a burst gather: the events of one customer in it become one fold, and the
            // outbox entries done, one commit.
            tokio::time::sleep(LINGER).await;
            let me = self.clone();
            let a = app.clone();
            match tokio::task::spawn_blocking(move || me.drain(&a)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "folding the outbox into the fleet stopped; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => tracing::error!(error = %e, "the outbox drain failed"),
            }
        }
    }

    /// Folds the outbox into the fleet until it is empty or the link fails, then publishes
    /// the queued exposures (blocking).
    fn drain(&self, app: &App) -> Result<(), String> {
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| "no async runtime".to_string())?;
        // One customer's fold failing (a memory over the hub's max_payload) must not hold up
        // the exposures: both run, the first error is reported.
        let folded = self.drain_outbox(app, &handle);
        let published = self.publish_exposures(app, &handle);
        folded.and(published)
    }

    /// Publishes the queued exposure lines to [`EXPOSURES_STREAM`], oldest first, and drops
    /// them once the stream acknowledged them. A line's message id is `<site>:<seq>`, so a
    /// batch published again after a crash between the acknowledgement and the delete is one
    /// message each in the stream.
    fn publish_exposures(&self, app: &App, handle: &tokio::runtime::Handle) -> Result<(), String> {
        loop {
            let Some(link) = self.link() else {
                return Ok(());
            };
            let batch = app.with_reader_value(|r| r.exposures(BATCH))?;
            let Some(through) = batch.last().map(|(seq, _)| *seq) else {
                return Ok(());
            };
            let subject = format!("{EXPOSURES_SUBJECT}.{}", self.config.site);
            handle.block_on(async {
                let mut acks = Vec::with_capacity(batch.len());
                for (seq, line) in batch {
                    let publish = jetstream::message::PublishMessage::build()
                        .payload(line.into_bytes().into())
                        .message_id(format!("{}:{seq}", self.config.site));
                    acks.push(
                        link.js
                            .send_publish(subject.clone(), publish)
                            .await
                            .map_err(|e| format!("publishing exposures: {e}"))?,
                    );
                }
                for ack in acks {
                    tokio::time::timeout(CALL_TIMEOUT, ack)
                        .await
                        .map_err(|_| "exposures were not acknowledged in time".to_string())?
                        .map_err(|e| format!("publishing exposures: {e}"))?;
                }
                Ok::<(), String>(())
            })?;
            app.db.write(Write::Published { through })?;
            app.metrics.fleet.exposures_published.inc();
        }
    }

    fn drain_outbox(&self, app: &App, handle: &tokio::runtime::Handle) -> Result<(), String> {
        loop {
            let Some(link) = self.link() else {
                return Ok(());
            };
            let batch = app.with_reader_value(|r| r.outbox(BATCH))?;
            if batch.is_empty() {
                return Ok(());
            }
            let results: Vec<Result<Option<(String, i64)>, String>> = handle.block_on(async {
                futures_util::stream::iter(batch)
                    .map(|q| self.push(app, &link, q))
                    .buffer_unordered(IN_FLIGHT)
                    .collect()
                    .await
            });
            let mut done = Vec::new();
            let mut failure = None;
            for r in results {
                match r {
                    Ok(Some(d)) => done.push(d),
                    Ok(None) => {}
                    Err(e) => {
                        app.metrics.fleet.push_failures.inc();
                        failure = Some(e);
                    }
                }
            }
            if !done.is_empty() {
                let n = done.len() as u64;
                app.db.write(Write::Dequeue { done })?;
                app.metrics.fleet.pushed.inc_by(n);
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
    }

    /// Folds one outbox entry; `Some((id, seq))` when the entry can be dropped.
    async fn push(
        &self,
        app: &App,
        link: &Link,
        queued: Queued,
    ) -> Result<Option<(String, i64)>, String> {
        let row = app.with_reader_value(|r| r.customer(&queued.id))?;
        let Some(row) = row else {
            // Nothing is stored (it cannot happen: rows are never removed); nothing to share.
            return Ok(Some((queued.id, queued.seq)));
        };
        let bundle = app
            .bundle
            .current()
            .ok_or_else(|| "no bundle is loaded".to_string())?;
        let key = customer_key(&queued.id);
        let mut merge = |shared: &[u8], local: &[u8]| {
            bundle
                .with_guest(&app.metrics, |g| g.merge(shared, local))
                .map(|o| o.memory)
                .map_err(|e| format!("merging: {e}"))
        };
        let folded = tokio::time::timeout(
            CALL_TIMEOUT,
            fold(
                &link.customers,
                &key,
                &row.memory,
                self.known(&key),
                &mut merge,
            ),
        )
        .await
        .map_err(|_| "the fleet did not answer in time".to_string())??;
        self.remember(key.clone(), folded.view, folded.revision);
        app.metrics
            .fleet
            .conflicts
            .inc_by(u64::from(folded.conflicts));
        if queued.erase {
            // Every site erases its copy; the message id makes a retried publish one message.
            let publish = jetstream::message::PublishMessage::build()
                .payload(queued.id.clone().into_bytes().into())
                .message_id(format!("{}:{key}:{}", self.config.site, queued.seq));
            let ack = link
                .js
                .send_publish(format!("{ERASURES_SUBJECT}.{}", self.config.site), publish)
                .await
                .map_err(|e| format!("publishing a deletion: {e}"))?;
            tokio::time::timeout(CALL_TIMEOUT, ack)
                .await
                .map_err(|_| "the deletion was not acknowledged in time".to_string())?
                .map_err(|e| format!("publishing a deletion: {e}"))?;
        }
        Ok(Some((queued.id, queued.seq)))
    }

    /// Runs `task` whenever the link is up, again a second after it stops (logging why).
    async fn keep_running<'a, F, Fut>(&'a self, what: &str, task: F)
    where
        F: Fn(Arc<Link>) -> Fut + 'a,
        Fut: Future<Output = Result<(), String>> + 'a,
    {
        loop {
            if let Some(link) = self.link()
                && let Err(e) = task(link).await
            {
                tracing::warn!(error = %e, "{what} stopped; retrying");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Applies the other sites' deletions, from a durable consumer of this site (so those
    /// published while this site was away arrive when it is back).
    async fn erasures_loop(self: Arc<Self>, app: Arc<App>) {
        self.keep_running("reading the fleet's deletions", |link| {
            self.erasures(&app, link)
        })
        .await;
    }

    async fn erasures(&self, app: &Arc<App>, link: Arc<Link>) -> Result<(), String> {
        use jetstream::consumer::{AckPolicy, pull};
        let stream = link
            .js
            .get_stream(ERASURES_STREAM)
            .await
            .map_err(|e| format!("the stream {ERASURES_STREAM}: {e}"))?;
        let name = format!("erase-{}", self.config.site);
        let consumer = stream
            .get_or_create_consumer(
                &name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(10),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("the consumer {name}: {e}"))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| format!("the consumer {name}: {e}"))?;
        let own = format!("{ERASURES_SUBJECT}.{}", self.config.site);
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| format!("the consumer {name}: {e}"))?;
            if message.subject.as_str() != own {
                let id = String::from_utf8_lossy(&message.payload).into_owned();
                let a = app.clone();
                let me_id = id.clone();
                let applied = tokio::task::spawn_blocking(move || apply_erasure(&a, &me_id))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r);
                if let Err(e) = applied {
                    // Not acknowledged: redelivered after `ack_wait`.
                    tracing::warn!(error = %e, "a deletion from the fleet could not be applied yet");
                    continue;
                }
            }
            message
                .ack()
                .await
                .map_err(|e| format!("acknowledging a deletion: {e}"))?;
        }
        Ok(())
    }

    /// Loads the fleet's bundle at connection and whenever it changes.
    async fn bundles_loop(self: Arc<Self>, app: Arc<App>) {
        self.keep_running("watching the fleet's bundle", |link| {
            self.bundles(&app, link)
        })
        .await;
    }

    async fn bundles(&self, app: &Arc<App>, link: Arc<Link>) -> Result<(), String> {
        // The watch starts with the key's current value, then every change.
        let mut watch = link
            .bundles
            .watch_with_history(BUNDLE_KEY)
            .await
            .map_err(|e| format!("watching the bundle: {e}"))?;
        while let Some(entry) = watch.next().await {
            let entry = entry.map_err(|e| format!("watching the bundle: {e}"))?;
            if entry.operation != kv::Operation::Put {
                continue;
            }
            let a = app.clone();
            let bytes = entry.value.to_vec();
            let _ = tokio::task::spawn_blocking(move || apply_bundle(&a, bytes)).await;
        }
        Ok(())
    }
}

/// Creates the bucket, or opens it when it exists (another site made it first).
async fn bucket(
    js: &jetstream::Context,
    name: &str,
    what: &str,
    history: i64,
    replicas: usize,
) -> Result<kv::Store, String> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    let config = kv::Config {
        bucket: name.into(),
        description: format!("Omnirule: {what}"),
        history,
        num_replicas: replicas,
        ..Default::default()
    };
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        Err(create) => js
            .get_key_value(name)
            .await
            .map_err(|e| format!("the bucket {name}: {create}; {e}")),
    }
}

/// Another site deleted customer `id`: if this site holds them, their memory gets the
/// fleet's tombstone and their profile goes (blocking).
fn apply_erasure(app: &App, id: &str) -> Result<(), String> {
    let Some(fleet) = app.fleet.as_ref() else {
        return Ok(());
    };
    let _customer = app.locks.lock(id);
    let Some(row) = app.with_reader_value(|r| r.customer(id))? else {
        return Ok(());
    };
    let shared = match fleet.read(app, id) {
        Read::Found(v) => v,
        Read::Nothing => return Ok(()),
        Read::Unavailable => return Err("the fleet's view is unavailable".into()),
    };
    let bundle = app
        .bundle
        .current()
        .ok_or_else(|| "no bundle is loaded".to_string())?;
    let merged = bundle
        .with_guest(&app.metrics, |g| g.merge(&row.memory, &shared))
        .map_err(|e| format!("merging: {e}"))?
        .memory;
    app.db.write(Write::Erase {
        id: id.to_string(),
        memory: merged,
        now_ms: crate::server::now_ms(),
        new: false,
        share: false,
    })?;
    app.metrics.fleet.erasures_applied.inc();
    tracing::info!(customer_key = %customer_key(id), "a deletion from the fleet was applied");
    Ok(())
}

/// The fleet's bundle changed: load it here (and write the bundle file), unless it is the
/// current one. A bundle this host refuses (unsigned where keys are trusted, undecodable) is
/// logged and the current one stays.
fn apply_bundle(app: &App, bytes: Vec<u8>) {
    if app.bundle.is_current(&bytes) {
        return;
    }
    let path = app.config.bundle.clone();
    match app.bundle.replace(&app.runtime, bytes, &app.metrics, |b| {
        crate::bundles::write_atomically(&path, b)
    }) {
        Ok(r) => {
            app.metrics.fleet.bundles_applied.inc();
            tracing::info!(bundle = %r.hash, previous = r.previous.as_deref().unwrap_or("none"), "bundle loaded from the fleet");
        }
        Err(e) => {
            tracing::warn!(error = ?e, "the fleet's bundle was refused; the current one stays")
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[test]
    fn customer_keys_are_hex_hashes_whatever_the_id() {
        let k = customer_key("ana@example.com");
        assert_eq!(k.len(), 64);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(k, customer_key("ana@example.org"));
        assert_eq!(customer_key("ü/ .>*"), customer_key("ü/ .>*"));
    }

    #[test]
    fn site_names_are_subject_tokens() {
        assert!(check_site("store-b_2").is_ok());
        for bad in ["", "a.b", "a b", "a>", "*", &"x".repeat(65)] {
            assert!(check_site(bad).is_err(), "{bad}");
        }
    }

    /// A shared view in memory that lets another writer in before some writes.
    struct Memory {
        entries: RefCell<BTreeMap<String, (Vec<u8>, u64)>>,
        revision: RefCell<u64>,
        /// Values written by "someone else" just before the next swaps (one per swap).
        intruders: RefCell<Vec<Vec<u8>>>,
    }

    impl SharedView for Memory {
        async fn entry(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, String> {
            Ok(self.entries.borrow().get(key).cloned())
        }
        async fn swap(
            &self,
            key: &str,
            value: Vec<u8>,
            revision: Option<u64>,
        ) -> Result<Option<u64>, String> {
            if let Some(other) = self.intruders.borrow_mut().pop() {
                let mut entries = self.entries.borrow_mut();
                let merged = match entries.get(key) {
                    Some((v, _)) => union(v, &other),
                    None => other,
                };
                *self.revision.borrow_mut() += 1;
                entries.insert(key.to_string(), (merged, *self.revision.borrow()));
            }
            let mut entries = self.entries.borrow_mut();
            if entries.get(key).map(|(_, r)| *r) != revision {
                return Ok(None);
            }
            *self.revision.borrow_mut() += 1;
            let r = *self.revision.borrow();
            entries.insert(key.to_string(), (value, r));
            Ok(Some(r))
        }
    }

    /// A join: the sorted union of byte sets.
    fn union(a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut v: Vec<u8> = a.iter().chain(b).copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap_or_else(|e| std::panic::panic_any(e.to_string()))
    }

    proptest::proptest! {
        /// Whatever order sites fold in, however often a fold is repeated (a retried outbox
        /// entry, a redelivery), and whoever writes between a read and a write, the shared
        /// value ends as the join of everything folded, and every fold's answer holds what it
        /// folded.
        #[test]
        fn folds_in_any_order_with_duplicates_and_races_end_at_the_join(
            locals in proptest::collection::vec(proptest::collection::vec(0u8..40, 0..6), 1..8),
            order in proptest::collection::vec(0usize..8, 1..24),
            intruders in proptest::collection::vec(proptest::collection::vec(0u8..40, 0..4), 0..6),
        ) {
            let view = Memory {
                entries: RefCell::new(BTreeMap::new()),
                revision: RefCell::new(0),
                intruders: RefCell::new(intruders.clone()),
            };
            let mut merge = |a: &[u8], b: &[u8]| Ok(union(a, b));
            // Every site folds once, then duplicates in a random order.
            let schedule: Vec<usize> =
                (0..locals.len()).chain(order.iter().map(|i| i % locals.len())).collect();
            // Each site remembers what it last read or wrote (stale as soon as another
            // writes), and starts its next fold from it, as `Fleet::push` does.
            let mut known: Vec<Option<(Vec<u8>, u64)>> = vec![None; locals.len()];
            for &site in &schedule {
                let local = union(&locals[site], &[]);
                let folded = run(fold(&view, "k", &local, known[site].clone(), &mut merge));
                let folded = folded.map_err(proptest::test_runner::TestCaseError::fail)?;
                proptest::prop_assert_eq!(union(&folded.view, &local), folded.view.clone());
                known[site] = Some((folded.view, folded.revision));
            }
            let expected = locals
                .iter()
                .chain(&intruders)
                .fold(Vec::new(), |acc, l| union(&acc, l));
            let got = view.entries.borrow().get("k").map(|(v, _)| v.clone()).unwrap_or_default();
            // Intruders that never got their turn (fewer swaps than intruders) are not in it.
            let left: Vec<Vec<u8>> = view.intruders.borrow().clone();
            let expected_now = left.iter().fold(got.clone(), |acc, l| union(&acc, l));
            proptest::prop_assert_eq!(expected_now, expected);
        }
    }

    #[test]
    fn a_fold_that_adds_nothing_does_not_write() {
        let view = Memory {
            entries: RefCell::new(BTreeMap::from([("k".to_string(), (vec![1, 2, 3], 7))])),
            revision: RefCell::new(7),
            intruders: RefCell::new(Vec::new()),
        };
        let mut merge = |a: &[u8], b: &[u8]| Ok(union(a, b));
        let folded =
            run(fold(&view, "k", &[2, 3], None, &mut merge)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!folded.wrote);
        assert_eq!(folded.view, vec![1, 2, 3]);
        assert_eq!(*view.revision.borrow(), 7);
    }

    #[test]
    fn a_stale_known_value_meets_a_conflict_and_the_fold_reads_again() {
        let view = Memory {
            entries: RefCell::new(BTreeMap::from([("k".to_string(), (vec![1, 5], 9))])),
            revision: RefCell::new(9),
            intruders: RefCell::new(Vec::new()),
        };
        let mut merge = |a: &[u8], b: &[u8]| Ok(union(a, b));
        // This site last saw [1] at revision 4; someone has written [1, 5] since.
        let folded = run(fold(&view, "k", &[7], Some((vec![1], 4)), &mut merge))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(folded.conflicts, 1);
        assert_eq!(folded.view, vec![1, 5, 7]);
        assert_eq!(view.entries.borrow()["k"].0, vec![1, 5, 7]);
        // A known value that is current saves the read: one write, no conflict.
        let again = run(fold(
            &view,
            "k",
            &[8],
            Some((folded.view, folded.revision)),
            &mut merge,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((again.conflicts, again.wrote), (0, true));
    }

    #[test]
    fn endless_conflicts_give_up_and_leave_the_entry_queued() {
        let view = Memory {
            entries: RefCell::new(BTreeMap::new()),
            revision: RefCell::new(0),
            intruders: RefCell::new((0..100u8).map(|i| vec![i]).collect()),
        };
        let mut merge = |a: &[u8], b: &[u8]| Ok(union(a, b));
        let e = run(fold(&view, "k", &[200], None, &mut merge)).err();
        assert!(e.is_some_and(|m| m.contains("revision conflicts")));
    }
}
