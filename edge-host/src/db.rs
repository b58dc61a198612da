//! Customers' memory and profiles in SQLite.
//!
//! Durability: the database is in WAL mode with `synchronous=FULL`, so every commit syncs the
//! write-ahead log to disk before it returns; the HTTP layer acknowledges an event (200) only
//! after the commit that stores its memory returned. An acknowledged event therefore survives
//! a crash of the host (SIGKILL) and of the machine (power loss), as far as the disk honours
//! `fsync`.
//!
//! Writes go through one writer thread that groups whatever writes are waiting into one
//! transaction (group commit): one `fsync` acknowledges many concurrent events, and every
//! request still waits for the commit that holds its write. Reads use pooled
//! connections, one per request in flight (WAL readers do not block the writer, nor it them).
//!
//! The fleet's outbox lives here too (`outbox`: the customers whose memory this site changed
//! and has not yet folded into the fleet's view), written in the same transaction as the
//! customer's row: an acknowledged event is never stored without being queued for the fleet,
//! whatever crashes (see [`crate::fleet`]).

use crate::metrics::WriterStats;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

/// Most writes grouped into one transaction.
const MAX_BATCH: usize = 512;

/// One customer's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRow {
    /// The profile as JSON text, if one was ever sent.
    pub profile: Option<String>,
    /// The engine's memory bytes (`OMNIMEM` format).
    pub memory: Vec<u8>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A write for the writer thread.
#[derive(Debug, Clone)]
pub enum Write {
    /// Store a customer's memory and, when `profile` is `Some`, profile. `new`: no row existed
    /// when the request read it (under the customer's lock), for the customer count.
    Upsert {
        id: String,
        profile: Option<String>,
        memory: Vec<u8>,
        now_ms: i64,
        new: bool,
        /// Queue the customer for the fleet (in the same transaction).
        share: bool,
        /// Exposure lines to queue for the fleet's exposure stream (in the same transaction).
        exposures: Vec<String>,
    },
    /// Forget a customer: the profile goes, the memory becomes `memory` (a tombstone), the
    /// row is created if there was none (a deletion must stick even where the customer was
    /// never seen, against a later merge from another channel).
    Erase {
        id: String,
        memory: Vec<u8>,
        now_ms: i64,
        new: bool,
        /// Queue the deletion for the fleet (in the same transaction).
        share: bool,
    },
    /// The fleet holds these customers' memory as of outbox entry `seq` (customer id, seq):
    /// drop the entries, except those a later write queued again (their `seq` is higher).
    Dequeue { done: Vec<(String, i64)> },
    /// The exposure lines up to `through` (their `seq`) are in the fleet's stream.
    Published { through: i64 },
    /// Take the write lock and roll back: the readiness check (storage writable).
    Probe,
}

struct Job {
    write: Write,
    /// Rows changed, or the error.
    reply: mpsc::SyncSender<Result<usize, String>>,
}

/// The database: its path (readers open their own connections) and the writer's queue.
pub struct Db {
    path: PathBuf,
    /// `None` once [`Db::close`] ran: writes are refused.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn sql_err(e: rusqlite::Error) -> String {
    format!("sqlite: {e}")
}

fn configure(conn: &Connection) -> Result<(), String> {
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sql_err)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(sql_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("sqlite refused WAL mode (journal_mode is {mode})"));
    }
    // FULL: sync the WAL at every commit (durable on power loss, not only on a crash).
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;")
        .map_err(sql_err)?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database, checks its integrity, counts the customers
    /// (once: later the writer keeps the count in `stats`), and starts the writer.
    pub fn open(path: &Path, stats: WriterStats) -> Result<Db, String> {
        let conn = Connection::open(path).map_err(sql_err)?;
        configure(&conn)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(sql_err)?;
        if check != "ok" {
            return Err(format!(
                "the database {} is damaged: {check}",
                path.display()
            ));
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS customers (
                 id TEXT PRIMARY KEY NOT NULL,
                 profile TEXT,
                 memory BLOB NOT NULL,
                 created_ms INTEGER NOT NULL,
                 updated_ms INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS outbox (
                 id TEXT PRIMARY KEY NOT NULL,
                 seq INTEGER NOT NULL,
                 erase INTEGER NOT NULL DEFAULT 0
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (seq);
             -- AUTOINCREMENT: a seq is never reused once published and deleted, because it
             -- is the message id the stream de-duplicates on.
             CREATE TABLE IF NOT EXISTS exposures (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 line TEXT NOT NULL
             );
             PRAGMA user_version = 2;",
        )
        .map_err(sql_err)?;
        let customers: i64 = conn
            .query_row("SELECT COUNT(*) FROM customers", [], |r| r.get(0))
            .map_err(sql_err)?;
        stats.customers.set(customers);
        let (queued, last_seq): (i64, i64) = conn
            .query_row(
                "SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql_err)?;
        stats.outbox.set(queued);
        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer(conn, rx, &stats, last_seq))
            .map_err(|e| format!("cannot start the writer thread: {e}"))?;
        Ok(Db {
            path: path.to_path_buf(),
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Stops the writer once the writes already queued are committed, checkpoints the WAL
    /// into the database file and closes it. Later writes are refused.
    pub fn close(&self) {
        drop(
            self.jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// A read connection (one per worker thread).
    pub fn reader(&self) -> Result<Reader, String> {
        let conn = Connection::open(&self.path).map_err(sql_err)?;
        configure(&conn)?;
        Ok(Reader { conn })
    }

    /// Applies `write` and returns once it is committed (durable): rows changed.
    pub fn write(&self, write: Write) -> Result<usize, String> {
        let (reply, answer) = mpsc::sync_channel(1);
        let stopped = || "the database writer has stopped".to_string();
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .ok_or_else(stopped)?
            .send(Job { write, reply })
            .map_err(|_| stopped())?;
        answer
            .recv()
            .map_err(|_| "the database writer has stopped".to_string())?
    }
}

/// Queues `id` for the fleet: a new entry, or the existing one with the new `seq` (and the
/// erase flag kept once set). Returns whether the entry is new.
fn enqueue(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    seq: i64,
    erase: bool,
) -> rusqlite::Result<bool> {
    let new = tx
        .prepare_cached("INSERT OR IGNORE INTO outbox (id, seq, erase) VALUES (?1, ?2, ?3)")?
        .execute(params![id, seq, erase])?
        == 1;
    if !new {
        tx.prepare_cached("UPDATE outbox SET seq = ?2, erase = MAX(erase, ?3) WHERE id = ?1")?
            .execute(params![id, seq, erase])?;
    }
    Ok(new)
}

/// What a write did: rows changed, and the change in the outbox's length.
struct Applied {
    rows: usize,
    queued: i64,
}

fn apply(
    tx: &rusqlite::Transaction<'_>,
    write: &Write,
    seq: &mut i64,
) -> rusqlite::Result<Applied> {
    let mut queue = |id: &str, erase: bool| -> rusqlite::Result<i64> {
        *seq += 1;
        Ok(i64::from(enqueue(tx, id, *seq, erase)?))
    };
    match write {
        Write::Upsert {
            id,
            profile,
            memory,
            now_ms,
            new: _,
            share,
            exposures,
        } => {
            for line in exposures {
                tx.prepare_cached("INSERT INTO exposures (line) VALUES (?1)")?
                    .execute(params![line])?;
            }
            let rows = tx.execute(
                "INSERT INTO customers (id, profile, memory, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (id) DO UPDATE SET
                 profile = COALESCE(excluded.profile, customers.profile),
                 memory = excluded.memory,
                 updated_ms = excluded.updated_ms",
                params![id, profile, memory, now_ms],
            )?;
            let queued = if *share { queue(id, false)? } else { 0 };
            Ok(Applied { rows, queued })
        }
        Write::Erase {
            id,
            memory,
            now_ms,
            new: _,
            share,
        } => {
            let rows = tx.execute(
                "INSERT INTO customers (id, profile, memory, created_ms, updated_ms)
                 VALUES (?1, NULL, ?2, ?3, ?3)
                 ON CONFLICT (id) DO UPDATE SET
                     profile = NULL, memory = excluded.memory, updated_ms = excluded.updated_ms",
                params![id, memory, now_ms],
            )?;
            let queued = if *share { queue(id, true)? } else { 0 };
            Ok(Applied { rows, queued })
        }
        Write::Dequeue { done } => {
            let mut st = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1 AND seq = ?2")?;
            let mut rows = 0;
            for (id, seq) in done {
                rows += st.execute(params![id, seq])?;
            }
            Ok(Applied {
                rows,
                queued: -i64::try_from(rows).unwrap_or(0),
            })
        }
        Write::Published { through } => {
            let rows = tx
                .prepare_cached("DELETE FROM exposures WHERE seq <= ?1")?
                .execute(params![through])?;
            Ok(Applied { rows, queued: 0 })
        }
        Write::Probe => Ok(Applied { rows: 0, queued: 0 }),
    }
}

/// `seq`: the last outbox sequence number given (the writer alone gives them).
fn writer(mut conn: Connection, jobs: mpsc::Receiver<Job>, stats: &WriterStats, mut seq: i64) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let probe_only = batch.iter().all(|j| matches!(j.write, Write::Probe));
        let mut next_seq = seq;
        let outcome = (|| -> rusqlite::Result<(Vec<usize>, i64)> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut changed = Vec::with_capacity(batch.len());
            let mut queued = 0i64;
            for job in &batch {
                let applied = apply(&tx, &job.write, &mut next_seq)?;
                changed.push(applied.rows);
                queued += applied.queued;
            }
            if probe_only {
                tx.rollback()?;
            } else {
                tx.commit()?;
            }
            Ok((changed, queued))
        })();
        match outcome {
            Ok((changed, queued)) => {
                seq = next_seq;
                stats.outbox.inc_by(queued);
                if !probe_only {
                    stats.commits.inc();
                    let mut delta = 0i64;
                    let mut rows = 0u64;
                    for job in &batch {
                        if matches!(
                            job.write,
                            Write::Upsert { new: true, .. } | Write::Erase { new: true, .. }
                        ) {
                            delta += 1;
                        }
                        if !matches!(
                            job.write,
                            Write::Probe | Write::Dequeue { .. } | Write::Published { .. }
                        ) {
                            rows += 1;
                        }
                    }
                    stats.rows.inc_by(rows);
                    stats.customers.inc_by(delta);
                }
                for (job, n) in batch.into_iter().zip(changed) {
                    let _ = job.reply.send(Ok(n));
                }
            }
            Err(e) => {
                // The transaction rolled back: nothing of the batch is stored, nothing acked.
                stats.failures.inc();
                let message = sql_err(e);
                tracing::error!(error = %message, writes = batch.len(), "a SQLite transaction failed");
                for job in batch {
                    let _ = job.reply.send(Err(message.clone()));
                }
            }
        }
    }
    // The queue is closed (shutdown) and everything in it is committed: fold the WAL into the
    // database file so that a copy of `store.db` alone is complete, then close.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!(error = %e, "the WAL checkpoint at shutdown failed");
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the database failed");
    }
}

/// A read connection.
pub struct Reader {
    conn: Connection,
}

impl Reader {
    pub fn customer(&self, id: &str) -> Result<Option<CustomerRow>, String> {
        self.conn
            .prepare_cached(
                "SELECT profile, memory, created_ms, updated_ms FROM customers WHERE id = ?1",
            )
            .and_then(|mut st| {
                st.query_row(params![id], |r| {
                    Ok(CustomerRow {
                        profile: r.get(0)?,
                        memory: r.get(1)?,
                        created_ms: r.get(2)?,
                        updated_ms: r.get(3)?,
                    })
                })
                .optional()
            })
            .map_err(sql_err)
    }

    /// The oldest `limit` entries of the fleet's outbox.
    pub fn outbox(&self, limit: usize) -> Result<Vec<Queued>, String> {
        self.conn
            .prepare_cached("SELECT id, seq, erase FROM outbox ORDER BY seq LIMIT ?1")
            .and_then(|mut st| {
                st.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok(Queued {
                        id: r.get(0)?,
                        seq: r.get(1)?,
                        erase: r.get(2)?,
                    })
                })?
                .collect()
            })
            .map_err(sql_err)
    }
}

impl Reader {
    /// The oldest `limit` exposure lines queued for the fleet's stream: (seq, line).
    pub fn exposures(&self, limit: usize) -> Result<Vec<(i64, String)>, String> {
        self.conn
            .prepare_cached("SELECT seq, line FROM exposures ORDER BY seq LIMIT ?1")
            .and_then(|mut st| {
                st.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
            })
            .map_err(sql_err)
    }
}

/// An entry of the fleet's outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: String,
    pub seq: i64,
    /// The customer was deleted here: the fleet is told to delete them everywhere.
    pub erase: bool,
}
