//! Prints a simulated campaign's log (JSON lines) on standard output: the standard campaign of
//! `omnirule_report::simulate` (a control and two offers with known true rates, web and five
//! stores), with `CUSTOMERS` customers (default 20,000) and seed `SEED` (default 1).
//!
//!     cargo run --release -p omnirule-report --example simulate -- 4700000 7 > big.jsonl
//!     omnirule report big.jsonl
use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let customers = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000u64);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1u64);
    let mut campaign = omnirule_report::simulate::Campaign::standard(seed);
    campaign.customers = customers;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for line in campaign.lines() {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}
