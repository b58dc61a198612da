//! Durability: SIGKILL the host in the middle of a stream of events, restart it, and check
//! that every event acknowledged with 200 is in the customer's memory and that the database
//! is intact. Three kills on the same data directory; `OMNIRULE_CRASH_ROUNDS` asks for more
//! (`scripts/crash-store.sh` runs 100 and reports).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KNIT: &str = "02-knitwear-in-store";
const SENDERS: usize = 6;

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_event() {
    let dir = temp_dir("crash");
    let bundle = example_bundle(KNIT).to_bytes();
    std::fs::write(dir.join("bundle.bin"), &bundle).unwrap();
    let acked: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
    let mut total_acked = 0;
    let rounds: u64 = std::env::var("OMNIRULE_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut integrity_ok = 0;
    for round in 0..rounds {
        let mut host = Host::start(&dir, None, HostOptions::default());
        let addr = host.addr;
        let stop = Arc::new(AtomicBool::new(false));
        let senders: Vec<_> = (0..SENDERS)
            .map(|t| {
                let (acked, stop) = (acked.clone(), stop.clone());
                std::thread::spawn(move || {
                    let customer = format!("k{t}");
                    let mut profile = example_profile(KNIT);
                    profile["id"] = json!(customer);
                    let mut n = 0u64;
                    // Bounded: stops at the kill, or after 5,000 events.
                    while !stop.load(Ordering::Relaxed) && n < 5_000 {
                        let id = format!("r{round}-{t}-{n}");
                        let time = 1_795_000_000_000u64 + round * 1_000_000 + n * 100;
                        let event = if n.is_multiple_of(2) {
                            json!({"type": "page_view", "id": id, "time": time, "sku": format!("SW-{n}"), "category": "knitwear", "price": 79})
                        } else {
                            json!({"type": "beacon_enter", "id": id, "time": time, "store": "paris-01", "zone": "entrance"})
                        };
                        let body = json!({"customer": customer, "profile": profile, "event": event}).to_string();
                        match try_request(addr, "POST", "/v1/events", &[], body.as_bytes()) {
                            Ok(r) if r.status == 200 => {
                                acked.lock().unwrap().entry(customer.clone()).or_default().push(id);
                            }
                            Ok(r) => panic!("unexpected {}: {}", r.status, r.text()),
                            Err(_) => break, // the host is gone
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700 + (round % 3) * 300));
        host.kill(); // SIGKILL, mid-stream
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            s.join().unwrap();
        }
        let now: usize = acked.lock().unwrap().values().map(Vec::len).sum();
        assert!(
            now > total_acked,
            "round {round}: no event was acknowledged before the kill"
        );
        total_acked = now;

        // The database is intact after the kill (before the host touches it again).
        {
            let conn = rusqlite::Connection::open(dir.join("store.db")).unwrap();
            let check: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(check, "ok", "round {round}: integrity_check");
            integrity_ok += 1;
        }
        let host = Host::start(&dir, None, HostOptions::default());
        for (customer, ids) in acked.lock().unwrap().iter() {
            let r = host.get(&format!("/v1/customers/{customer}"));
            assert_eq!(r.status, 200, "{}", r.text());
            let seen: std::collections::BTreeSet<String> =
                seen_ids(&r.json()).into_iter().collect();
            let missing: Vec<&String> = ids.iter().filter(|id| !seen.contains(*id)).collect();
            assert!(
                missing.is_empty(),
                "round {round}: {customer} lost acknowledged events {missing:?}"
            );
            // An acknowledged event replayed is recognised as already seen.
            let last = ids.last().unwrap();
            let r = host.event(
                customer,
                None,
                &json!({"type": "beacon_enter", "id": last, "time": 0, "store": "x", "zone": "y"}),
            );
            assert_eq!(r.json(), json!({"decisions": []}), "{}", r.text());
        }
    }
    // One line for scripts/crash-store.sh (a loss fails the assertions above first).
    println!(
        "crash-report: rounds={rounds} acknowledged={total_acked} lost=0 integrity_ok={integrity_ok}/{rounds}"
    );
}
