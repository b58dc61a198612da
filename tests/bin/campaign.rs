//! `omnirule-campaign`: plays `examples/11-campaign`'s simulated campaign through the engine
//! and prints the exposure and conversion log (JSON lines) that `omnirule report` reads.
//!
//! ```text
//! omnirule-campaign [CUSTOMERS] [SEED] [--lose ARM:SHARE]
//! cargo run -q -p omnirule-tests --bin omnirule-campaign -- 20000 7 > campaign.jsonl
//! cargo run -q -p omnirule-cli -- report campaign.jsonl --format html -o campaign.html
//! ```
//!
//! `--lose twenty:0.15` makes a collector lose 15 % of the `twenty` arm's exposure lines:
//! the report's sample-ratio check flags it.

use omnirule_tests::campaign::{Truth, bundle, play};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut truth = Truth::standard(7);
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--lose" => {
                let Some((arm, share)) = it.next().and_then(|v| v.split_once(':')) else {
                    eprintln!("--lose takes ARM:SHARE, e.g. twenty:0.15");
                    return ExitCode::from(2);
                };
                let Ok(share) = share.parse::<f64>() else {
                    eprintln!("--lose: {share} is not a number");
                    return ExitCode::from(2);
                };
                truth.lose_exposures = Some((arm.to_string(), share));
            }
            "-h" | "--help" => {
                eprintln!("usage: omnirule-campaign [CUSTOMERS] [SEED] [--lose ARM:SHARE]");
                return ExitCode::SUCCESS;
            }
            other => positional.push(other.to_string()),
        }
    }
    let number = |i: usize, default: u64| -> Result<u64, String> {
        positional.get(i).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("{v} is not a whole number"))
        })
    };
    match (number(0, 20_000), number(1, 7)) {
        (Ok(customers), Ok(seed)) => {
            truth.customers = customers;
            truth.seed = seed;
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }
    let mut log = String::new();
    let played = play(&bundle(), &truth, &mut log);
    if std::io::stdout().lock().write_all(log.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    eprintln!(
        "{} customers, {} purchases that convert ({} bought in a store after the web), {} that must not, {} lines",
        truth.customers, played.planned_conversions, played.planned_o2o, played.noise, played.lines
    );
    ExitCode::SUCCESS
}
