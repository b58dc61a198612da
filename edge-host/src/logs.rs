//! Logs: `tracing` to stderr, as text or JSON lines, filtered by `RUST_LOG`.
//!
//! A line per request is the bulk of the output, so lines are written into a buffer under a
//! short lock and the buffer goes to stderr when it fills, every 100 ms (a flusher thread),
//! at once for warnings and errors, and at exit. Writing each line with its own system call,
//! or waking a writer thread for each, cost a tenth of the host's throughput at concurrency 64
//! on two cores (`scripts/bench-store.sh`, `RUST_LOG=warn` against `info`).

use crate::config::LogFormat;
use std::io::{BufWriter, Stderr, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How often buffered lines are written out.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The buffer in front of stderr.
#[derive(Clone)]
pub struct Sink {
    out: Arc<Mutex<BufWriter<Stderr>>>,
}

impl Sink {
    fn new() -> Sink {
        Sink {
            out: Arc::new(Mutex::new(BufWriter::with_capacity(
                64 << 10,
                std::io::stderr(),
            ))),
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&self) {
        let _ = self
            .out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush();
    }
}

/// One event's writer: its line goes into the buffer; a warning or an error is flushed at once.
pub struct Line<'a> {
    sink: &'a Sink,
    urgent: bool,
}

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sink
            .out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if self.urgent {
            self.sink.flush();
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            sink: self,
            urgent: true,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Line<'a> {
        Line {
            sink: self,
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

/// Installs the subscriber; the returned sink is to be flushed at exit.
pub fn init(format: LogFormat, filter: Option<&str>) -> Sink {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let sink = Sink::new();
    let flusher = sink.clone();
    // A thread that only sleeps and flushes; if it cannot start, lines still go out when the
    // buffer fills, on warnings and at exit.
    let _ = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                flusher.flush();
            }
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink.clone());
    match format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    sink
}
