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
    },
    /// Forget a customer: the profile goes, the memory becomes `memory` (a tombstone), the
    /// row is created if there was none (a deletion must stick even where the customer was
    /// never seen, against a later merge from another channel).
    Erase {
        id: String,
        memory: Vec<u8>,
        now_ms: i64,
        new: bool,
    },
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
             PRAGMA user_version = 1;",
        )
        .map_err(sql_err)?;
        let customers: i64 = conn
            .query_row("SELECT COUNT(*) FROM customers", [], |r| r.get(0))
            .map_err(sql_err)?;
        stats.customers.set(customers);
        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer(conn, rx, &stats))
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

fn apply(tx: &rusqlite::Transaction<'_>, write: &Write) -> rusqlite::Result<usize> {
    match write {
        Write::Upsert {
            id,
            profile,
            memory,
            now_ms,
            new: _,
        } => tx.execute(
            "INSERT INTO customers (id, profile, memory, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (id) DO UPDATE SET
                 profile = COALESCE(excluded.profile, customers.profile),
                 memory = excluded.memory,
                 updated_ms = excluded.updated_ms",
            params![id, profile, memory, now_ms],
        ),
        Write::Erase {
            id,
            memory,
            now_ms,
            new: _,
        } => tx.execute(
            "INSERT INTO customers (id, profile, memory, created_ms, updated_ms)
             VALUES (?1, NULL, ?2, ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET
                 profile = NULL, memory = excluded.memory, updated_ms = excluded.updated_ms",
            params![id, memory, now_ms],
        ),
        Write::Probe => Ok(0),
    }
}

fn writer(mut conn: Connection, jobs: mpsc::Receiver<Job>, stats: &WriterStats) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let probe_only = batch.iter().all(|j| matches!(j.write, Write::Probe));
        let outcome = (|| -> rusqlite::Result<Vec<usize>> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut changed = Vec::with_capacity(batch.len());
            for job in &batch {
                changed.push(apply(&tx, &job.write)?);
            }
            if probe_only {
                tx.rollback()?;
            } else {
                tx.commit()?;
            }
            Ok(changed)
        })();
        match outcome {
            Ok(changed) => {
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
                        if !matches!(job.write, Write::Probe) {
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
}
