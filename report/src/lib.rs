//! `omnirule-report`: conversion reports from the exposure and conversion logs the hosts write.
//!
//! Per rule × variant (and per exposure channel × conversion channel): exposed customers,
//! conversions, the conversion rate with its interval, the lift against the split's control
//! with its interval, a p-value and a Bayesian chance to beat control, the sample-ratio check,
//! revenue per exposed customer. A stage per module:
//!
//! - [`log`]: the log's line format (JSON lines; `docs/report.md`);
//! - [`report`]: streaming aggregation into a [`report::Report`] (memory grows with customers,
//!   not lines);
//! - [`stats`]: the statistics, on `statrs`'s distributions, checked against published values;
//! - [`render`]: a terminal table and a self-contained HTML page (JSON is the report's serde
//!   form);
//! - [`simulate`]: a campaign with known true rates, for the tests that check the report
//!   recovers them.

pub mod log;
pub mod render;
pub mod report;
pub mod simulate;
pub mod stats;

use std::io::BufRead;

/// A line of a log that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub source: String,
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.message)
    }
}

/// Adds every line of `input` (named `source` in errors) to `builder`, one line in memory at a
/// time. Stops at the first bad line.
pub fn read(
    builder: &mut report::Builder,
    source: &str,
    input: impl BufRead,
) -> Result<(), LineError> {
    let mut input = input;
    let mut buf = String::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        n += 1;
        let read = input.read_line(&mut buf).map_err(|e| LineError {
            source: source.to_string(),
            line: n,
            message: e.to_string(),
        })?;
        if read == 0 {
            return Ok(());
        }
        match log::parse(&buf) {
            Ok(Some(line)) => builder.add(line),
            Ok(None) => {}
            Err(message) => {
                return Err(LineError {
                    source: source.to_string(),
                    line: n,
                    message,
                });
            }
        }
    }
}
