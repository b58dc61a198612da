//! The fleet, end to end on 127.0.0.1: a NATS JetStream hub, store hosts and the online node
//! (the same binary, `--site web`), each with its own data directory, joined with `--fleet`.
//! The journey of the O2O loop through them; bundles rolled out from any host; deletion
//! fleet-wide against stale copies; privacy; a store cut from the hub (a TCP proxy) that keeps
//! deciding, is SIGKILLed during the cut, and converges after the heal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fleet::{Nats, Proxy, nats_or_skip};
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const O2O: &str = "10-o2o-loop";

fn ana() -> Value {
    json!({"id": "ana", "tier": "silver", "first_name": "Ana", "consents": ["marketing", "location"]})
}

fn profile(id: &str, consents: &[&str]) -> Value {
    json!({"id": id, "tier": "silver", "consents": consents})
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A host of the fleet: `site` joined at `url`.
fn site(dir: &Path, url: &str, name: &str, bundle: Option<&[u8]>) -> Host {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    Host::start(
        &data,
        bundle,
        HostOptions {
            extra: vec![
                "--fleet".into(),
                url.into(),
                "--site".into(),
                name.into(),
                // Generous for a loaded CI machine: a read that times out is not a failure of
                // the fleet, but it would make these tests' decisions depend on timing.
                "--fleet-read-wait-ms".into(),
                "2000".into(),
                // The journey crosses sites within milliseconds (a customer takes minutes):
                // read the fleet's view before every decision.
                "--fleet-fresh-ms".into(),
                "0".into(),
                "--exposure-log".into(),
                data.join("exposures.jsonl").display().to_string(),
                "--channel".into(),
                if name == "web" { "web" } else { "store" }.into(),
            ],
            ..HostOptions::default()
        },
    )
}

fn ready(h: &Host) -> Value {
    h.get("/readyz").json()
}

/// Every host is connected, runs `bundle`, and has folded everything it changed.
fn settled(hosts: &[&Host], bundle: &str) {
    eventually(
        60,
        "every host connected, on the bundle, outbox empty",
        || {
            hosts.iter().all(|h| {
                let r = ready(h);
                r["bundle"] == bundle
                    && r["fleet"]["connected"] == true
                    && r["fleet"]["outbox"] == 0
            })
        },
    );
}

fn decisions(r: &Response) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["decisions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn actions(r: &Response) -> Vec<String> {
    decisions(r)
        .iter()
        .map(|d| {
            format!(
                "{}:{}",
                d["rule"].as_str().unwrap_or(""),
                d["params"]["code"]
                    .as_str()
                    .or(d["params"]["text"].as_str())
                    .unwrap_or("")
            )
        })
        .collect()
}

fn view(h: &Host, id: &str) -> Value {
    let r = h.get(&format!("/v1/customers/{id}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn event_ids(customer: &Value) -> BTreeSet<String> {
    customer["memory"]["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn count(customer: &Value, kind: &str) -> usize {
    customer["memory"]["events"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["type"] == kind).count())
        .unwrap_or(0)
}

fn put_bundle(h: &Host, bytes: &[u8]) -> String {
    let r = h.admin("PUT", "/v1/bundle", bytes);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["published"], true);
    r.json()["hash"].as_str().unwrap().to_string()
}

/// The exposure lines a host wrote to its log file.
fn exposure_log(h: &Host) -> Vec<Value> {
    std::fs::read_to_string(h.data.join("exposures.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Messages in the fleet's exposure stream.
fn exposures_in_stream(url: &str) -> u64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut stream = js
            .get_stream(omnirule_store::fleet::EXPOSURES_STREAM)
            .await
            .unwrap();
        stream.info().await.unwrap().state.messages
    })
}

/// Whether the fleet's bucket holds anything for `id` (read with the Rust client directly).
fn in_fabric(url: &str, id: &str) -> bool {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let kv = js
            .get_key_value(omnirule_store::fleet::CUSTOMERS_BUCKET)
            .await
            .unwrap();
        kv.get(omnirule_store::fleet::customer_key(id))
            .await
            .unwrap()
            .is_some()
    })
}

#[test]
fn the_o2o_journey_through_a_hub_three_stores_and_the_online_node() {
    let Some(nats) = nats_or_skip("fleet journey") else {
        return;
    };
    let dir = temp_dir("fleet-journey");
    let hub = Nats::start(&nats, &dir.join("hub"));
    let url = hub.url();
    // No host starts with a bundle: one PUT on the online node rolls it out to all.
    let web = site(&dir, &url, "web", None);
    let a = site(&dir, &url, "store-a", None);
    let b = site(&dir, &url, "store-b", None);
    let c = site(&dir, &url, "store-c", None);
    let all = [&web, &a, &b, &c];
    eventually(60, "every host joined the fleet", || {
        all.iter().all(|h| ready(h)["fleet"]["connected"] == true)
    });
    let bundle = example_bundle(O2O).to_bytes();
    let hash = put_bundle(&web, &bundle);
    settled(&all, &hash);

    let t0 = now_ms();
    let ana = ana();
    // Two real page views; the edge and the page both report each (same event id), the first
    // to the online node, the second again to store A (as a retried or duplicated delivery).
    let views = [
        json!({"type": "page_view", "id": "view-1", "time": t0, "sku": "SW-1", "category": "knitwear", "price": 79}),
        json!({"type": "page_view", "id": "view-2", "time": t0 + 1, "sku": "SC-2", "category": "scarves", "price": 29}),
    ];
    for v in &views {
        let first = web.event("ana", Some(&ana), v);
        assert!(
            actions(&first)
                .iter()
                .any(|a| a.starts_with("knitwear_promo"))
                || v["sku"] == "SC-2"
        );
        let again = web.event("ana", Some(&ana), v);
        assert_eq!(again.status, 200);
        assert_eq!(a.event("ana", Some(&ana), v).status, 200);
    }
    settled(&all, &hash);
    for h in all {
        assert_eq!(
            count(&view(h, "ana"), "page_view"),
            2,
            "one event, one id, on every host"
        );
    }

    // Ana walks into store B: its beacon knows what she browsed on the web.
    let beacon = json!({"type": "beacon_enter", "id": "beacon-b-1", "time": t0 + 10, "store": "paris-01", "zone": "entrance"});
    let offer = b.event("ana", Some(&ana), &beacon);
    assert_eq!(
        actions(&offer),
        vec!["sweater_in_store:KNIT20"],
        "{}",
        offer.text()
    );
    // She buys the sweater at B's till.
    let purchase = json!({"type": "purchase", "id": "pos-b-1", "time": t0 + 20, "sku": "SW-1", "category": "knitwear", "amount": 63.2, "channel": "store", "store": "paris-01"});
    assert!(decisions(&b.event("ana", Some(&ana), &purchase)).is_empty());
    settled(&all, &hash);
    // Store C knows the purchase; the web thanks her for it.
    let at_c = view(&c, "ana");
    assert_eq!(at_c["fleet"], true);
    assert!(event_ids(&at_c).contains("pos-b-1"), "{at_c}");
    assert_eq!(
        at_c["profile"],
        Value::Null,
        "profiles stay where they were sent"
    );
    let back = web.event(
        "ana",
        None,
        &json!({"type": "page_view", "id": "view-3", "time": t0 + 30, "sku": "SW-2", "category": "knitwear", "price": 89}),
    );
    assert_eq!(
        actions(&back),
        vec!["thank_you:Thank you for your visit to our paris-01 store!"]
    );
    settled(&all, &hash);
    let views_now: Vec<Value> = all
        .iter()
        .map(|h| view(h, "ana")["memory"].clone())
        .collect();
    assert!(
        views_now.windows(2).all(|w| w[0] == w[1]),
        "every host sees the same memory: {views_now:?}"
    );

    // A cap fired in one store holds in another: Bea gets the offer in A, not again in C.
    let bea = json!({"id": "bea", "tier": "gold", "first_name": "Bea", "consents": ["marketing", "location"]});
    web.event("bea", Some(&bea), &json!({"type": "page_view", "id": "bea-view", "time": t0 + 40, "sku": "SW-9", "category": "knitwear", "price": 99}));
    settled(&all, &hash);
    let first = a.event("bea", Some(&bea), &json!({"type": "beacon_enter", "id": "bea-a", "time": t0 + 50, "store": "lyon-02", "zone": "entrance"}));
    assert_eq!(actions(&first), vec!["sweater_in_store:KNIT20"]);
    settled(&all, &hash);
    let second = c.event("bea", Some(&bea), &json!({"type": "beacon_enter", "id": "bea-c", "time": t0 + 60, "store": "nice-03", "zone": "entrance"}));
    assert!(
        decisions(&second).is_empty(),
        "the cap (1 per 30d) fired in A holds in C: {}",
        second.text()
    );

    // Jon gave no consent: nothing about him is kept anywhere, nor in the fabric.
    let jon = profile("jon", &[]);
    web.event("jon", Some(&jon), &json!({"type": "page_view", "id": "jon-view", "time": t0 + 70, "sku": "SW-1", "category": "knitwear", "price": 79}));
    b.event("jon", Some(&jon), &json!({"type": "beacon_enter", "id": "jon-beacon", "time": t0 + 71, "store": "paris-01", "zone": "entrance"}));
    settled(&all, &hash);
    assert!(
        !in_fabric(&url, "jon"),
        "a customer without consent leaves nothing in the fabric"
    );
    assert!(in_fabric(&url, "ana"));
    for h in all {
        assert_eq!(h.get("/v1/customers/jon").status, 404);
    }

    // Ana asks to be forgotten, at the web shop: every store forgets her, and a stale copy
    // merged later (here B's copy from before) brings nothing back.
    let stale = view(&b, "ana");
    let r = web.admin("DELETE", "/v1/customers/ana", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    settled(&all, &hash);
    eventually(30, "B applied the deletion (profile gone)", || {
        let v = view(&b, "ana");
        v["profile"].is_null() && event_ids(&v).is_empty()
    });
    assert!(
        b.get("/metrics")
            .text()
            .contains("omnirule_fleet_erasures_applied_total 1"),
        "B applied one deletion from the fleet"
    );
    let r = c.admin(
        "POST",
        "/v1/customers/ana/merge",
        stale["memory"].to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    settled(&all, &hash);
    for h in all {
        let v = view(h, "ana");
        assert!(event_ids(&v).is_empty(), "forgotten everywhere: {v}");
        assert!(v["memory"]["erased"].is_string(), "{v}");
    }
    // Back at B's beacon, she is a stranger: no offer built on what was deleted.
    let after = b.event("ana", Some(&ana), &json!({"type": "beacon_enter", "id": "beacon-b-2", "time": now_ms(), "store": "paris-01", "zone": "entrance"}));
    assert!(decisions(&after).is_empty(), "{}", after.text());

    // Every decision was logged as an exposure where it was made, and every line reached the
    // fleet's exposure stream once: the stream holds exactly the lines of the four logs.
    let logged: Vec<Value> = all.iter().flat_map(|h| exposure_log(h)).collect();
    let offer_at_b = exposure_log(&b)
        .into_iter()
        .find(|l| l["rule"] == "sweater_in_store")
        .expect("B logged the offer it made");
    assert_eq!(offer_at_b["host"], "store-b");
    assert_eq!(offer_at_b["channel"], "store");
    assert_eq!(offer_at_b["customer"], "ana");
    assert_eq!(offer_at_b["event"], "beacon-b-1");
    assert!(exposure_log(&web).iter().all(|l| l["channel"] == "web"));
    // The purchase at B converted both offers: the in-store one, and the web banner, whose
    // exposure reached B in the memory the fleet carries (with where it happened).
    let converted: Vec<Value> = exposure_log(&b)
        .into_iter()
        .filter(|l| l["kind"] == "conversion")
        .collect();
    let of = |rule: &str| {
        converted
            .iter()
            .find(|l| l["rule"] == rule)
            .unwrap_or_else(|| panic!("B logged no conversion of {rule}: {converted:?}"))
    };
    let web_banner = of("knitwear_promo");
    // Linked to the first view; which host's record of it is kept is the merge's (min) choice:
    // the view was delivered to the online node and again to store A.
    assert_eq!(web_banner["exposure_event"], "view-1");
    assert!(
        [json!("web"), json!("store-a")].contains(&web_banner["exposure_host"]),
        "{web_banner}"
    );
    assert_eq!(
        (&web_banner["channel"], &web_banner["host"]),
        (&json!("store"), &json!("store-b"))
    );
    assert_eq!(web_banner["event"], "pos-b-1");
    let in_store = of("sweater_in_store");
    assert_eq!(in_store["exposure_host"], "store-b");
    assert_eq!(in_store["value"], 63.2);
    assert_eq!(converted.len(), 2, "each goal met once: {converted:?}");
    assert!(
        logged.iter().all(|l| l["customer"] != "jon"),
        "no consent, no exposure logged"
    );
    settled(&all, &hash);
    eventually(30, "every exposure in the stream", || {
        exposures_in_stream(&url) == logged.len() as u64
    });

    // A new bundle from any host (here a store) reaches every host, which reports it.
    let source = example_rules(O2O).replace("retain purchase 365d", "retain purchase 400d");
    let next = bundle_of(&source).to_bytes();
    let next_hash = put_bundle(&c, &next);
    assert_ne!(next_hash, hash);
    settled(&all, &next_hash);
    for h in all {
        let metrics = h.get("/metrics").text();
        assert!(
            metrics.contains(&format!("bundle=\"{next_hash}\"")),
            "{metrics}"
        );
        assert_eq!(
            std::fs::read(&h.bundle).unwrap(),
            next,
            "the bundle file follows"
        );
    }
}

#[test]
fn a_cut_store_decides_alone_survives_sigkill_and_converges_after_the_heal() {
    let Some(nats) = nats_or_skip("fleet cut") else {
        return;
    };
    let dir = temp_dir("fleet-cut");
    let hub = Nats::start(&nats, &dir.join("hub"));
    let url = hub.url();
    let bundle = example_bundle(O2O).to_bytes();
    let web = site(&dir, &url, "web", Some(&bundle));
    let a = site(&dir, &url, "store-a", Some(&bundle));
    // Store B reaches the hub through a proxy that the test cuts.
    let proxy = Proxy::start(hub.addr);
    let mut b = site(&dir, &proxy.url(), "store-b", Some(&bundle));
    let hash = ready(&web)["bundle"].as_str().unwrap().to_string();
    settled(&[&web, &a, &b], &hash);

    let customers: Vec<String> = (0..4).map(|i| format!("cust-{i}")).collect();
    let t0 = now_ms();
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut n = 0u64;
    let mut send = |h: &Host, who: &str, tag: &str, acked: &mut BTreeSet<String>| {
        n += 1;
        let id = format!("{tag}-{n}");
        let p = profile(who, &["marketing", "location"]);
        let e = if n.is_multiple_of(2) {
            json!({"type": "page_view", "id": id, "time": t0 + n, "sku": format!("SW-{n}"), "category": "knitwear", "price": 50})
        } else {
            json!({"type": "beacon_enter", "id": id, "time": t0 + n, "store": tag, "zone": "entrance"})
        };
        let r = h.event(who, Some(&p), &e);
        assert_eq!(r.status, 200, "{}", r.text());
        acked.insert(id);
    };
    for who in &customers {
        send(&web, who, "web", &mut acked);
        send(&b, who, "b", &mut acked);
    }
    settled(&[&web, &a, &b], &hash);

    // The cut: B keeps deciding and acknowledging; the others go on too.
    proxy.cut();
    eventually(30, "B sees the link down", || {
        ready(&b)["fleet"]["connected"] == false
    });
    for who in &customers {
        send(&b, who, "b", &mut acked);
        send(&a, who, "a", &mut acked);
        send(&web, who, "web", &mut acked);
    }
    let queued = ready(&b)["fleet"]["outbox"].as_i64().unwrap();
    assert_eq!(
        queued,
        customers.len() as i64,
        "one outbox entry per customer changed"
    );
    // SIGKILL during the cut, restart (still cut), more events.
    b.kill();
    let mut b = site(&dir, &proxy.url(), "store-b", None);
    assert_eq!(
        ready(&b)["fleet"]["outbox"],
        customers.len(),
        "the outbox survived the kill"
    );
    for who in &customers {
        send(&b, who, "b", &mut acked);
    }
    assert_eq!(ready(&b)["fleet"]["connected"], false);

    // The heal: every host converges on the merge of everything acknowledged.
    proxy.heal();
    settled(&[&web, &a, &b], &hash);
    let hosts = [&web, &a, &b];
    let mut seen = BTreeSet::new();
    for who in &customers {
        let views: Vec<Value> = hosts
            .iter()
            .map(|h| view(h, who)["memory"].clone())
            .collect();
        assert!(views.windows(2).all(|w| w[0] == w[1]), "{who}: {views:?}");
        // Beacons are not kept as events (no rule looks back at them), only their ids.
        seen.extend(seen_ids(&view(&a, who)));
    }
    assert_eq!(
        seen, acked,
        "every acknowledged event is in the fleet's view, nothing else"
    );
    b.kill();
}

/// Percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

/// The fleet's figures for docs/fleet.md (`scripts/bench-fleet.sh` runs it): the time from a
/// web event to a store deciding on it, and the catch-up after a cut with events queued.
/// Ignored in the test run: figures, not pass/fail (bounded: `FLEET_LATENCY_SAMPLES`,
/// `FLEET_QUEUED_EVENTS` at most 50,000).
#[test]
#[ignore = "a benchmark: scripts/bench-fleet.sh"]
fn figures() {
    let Some(nats) = nats_or_skip("fleet figures") else {
        return;
    };
    let samples: usize = std::env::var("FLEET_LATENCY_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
        .min(5_000);
    let queued: u64 = std::env::var("FLEET_QUEUED_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
        .min(50_000);
    let dir = temp_dir("fleet-figures");
    let hub = Nats::start(&nats, &dir.join("hub"));
    let bundle = example_bundle(O2O).to_bytes();
    let web = site(&dir, &hub.url(), "web", Some(&bundle));
    let proxy = Proxy::start(hub.addr);
    let store = site(&dir, &proxy.url(), "store-b", Some(&bundle));
    let hash = ready(&web)["bundle"].as_str().unwrap().to_string();
    settled(&[&web, &store], &hash);

    // Web event → a store decision that includes it: the web's 200, then the store's view
    // (what a decision there reads) polled until it holds the event.
    let t0 = now_ms();
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let who = format!("lat-{i}");
        let p = profile(&who, &["marketing", "location"]);
        let id = format!("lat-view-{i}");
        let e = json!({"type": "page_view", "id": id, "time": t0 + i as u64, "sku": "SW-1", "category": "knitwear", "price": 79});
        let r = web.event(&who, Some(&p), &e);
        assert_eq!(r.status, 200);
        let acked = std::time::Instant::now();
        let deadline = acked + std::time::Duration::from_secs(10);
        loop {
            let v = store.get(&format!("/v1/customers/{who}"));
            if v.status == 200 && seen_ids(&v.json()).contains(&id) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{who} never reached the store"
            );
        }
        lat.push(acked.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);

    // Catch-up: the store cut, `queued` events acknowledged there (over
    // `FLEET_QUEUED_CUSTOMERS`, 1,000 by default),
    // then the heal, timed until its outbox is empty.
    proxy.cut();
    eventually(30, "the store sees the link down", || {
        ready(&store)["fleet"]["connected"] == false
    });
    let customers: u64 = std::env::var("FLEET_QUEUED_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
        .clamp(1, queued.max(1));
    let started = std::time::Instant::now();
    let addr = store.addr;
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut n = t;
                while n < queued {
                    let who = format!("cut-{}", n % customers);
                    let p = profile(&who, &["marketing", "location"]);
                    let e = json!({"type": "page_view", "id": format!("cut-{n}"), "time": t0 + 10_000 + n, "sku": format!("SW-{}", n % 50), "category": "knitwear", "price": 79});
                    let body = json!({"customer": who, "profile": p, "event": e}).to_string();
                    let r = request(addr, "POST", "/v1/events", &[], body.as_bytes());
                    assert_eq!(r.status, 200, "{}", r.text());
                    n += 8;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let cut_rate = queued as f64 / started.elapsed().as_secs_f64();
    let outbox = ready(&store)["fleet"]["outbox"].as_i64().unwrap();
    let healed = std::time::Instant::now();
    proxy.heal();
    eventually(600, "the outbox drained", || {
        let r = ready(&store);
        r["fleet"]["connected"] == true && r["fleet"]["outbox"] == 0
    });
    let catch_up = healed.elapsed().as_secs_f64();
    let line = json!({
        "latency_samples": samples,
        "web_to_store_p50_ms": pct(&lat, 0.5),
        "web_to_store_p99_ms": pct(&lat, 0.99),
        "web_to_store_max_ms": lat.last(),
        "queued_events": queued,
        "queued_customers": outbox,
        "events_per_s_while_cut": cut_rate,
        "catch_up_s": catch_up,
    });
    println!("FLEET_FIGURES {line}");
}

/// How far a cut store can overshoot a cap, measured: an offer capped 1 per 30 days fired in
/// store A; store B, cut from the hub, cannot know and fires it once more (the overshoot is
/// one per cut store); after the heal the merged firings hold the cap everywhere, B included.
#[test]
fn a_cut_store_overshoots_a_cap_at_most_once_and_the_merge_holds_it_after_the_heal() {
    let Some(nats) = nats_or_skip("fleet cap during a cut") else {
        return;
    };
    let dir = temp_dir("fleet-cap");
    let hub = Nats::start(&nats, &dir.join("hub"));
    let url = hub.url();
    let bundle = example_bundle(O2O).to_bytes();
    let web = site(&dir, &url, "web", Some(&bundle));
    let a = site(&dir, &url, "store-a", Some(&bundle));
    let c = site(&dir, &url, "store-c", Some(&bundle));
    let proxy = Proxy::start(hub.addr);
    let b = site(&dir, &proxy.url(), "store-b", Some(&bundle));
    let hash = ready(&web)["bundle"].as_str().unwrap().to_string();
    settled(&[&web, &a, &b, &c], &hash);
    let t0 = now_ms();
    let cleo = json!({"id": "cleo", "tier": "gold", "first_name": "Cleo", "consents": ["marketing", "location"]});
    let beacon = |id: &str, n: u64, store: &str| json!({"type": "beacon_enter", "id": id, "time": t0 + n, "store": store, "zone": "entrance"});
    web.event("cleo", Some(&cleo), &json!({"type": "page_view", "id": "cleo-view", "time": t0, "sku": "SW-7", "category": "knitwear", "price": 89}));
    settled(&[&web, &a, &b, &c], &hash);
    // Cleo buys socks in B while it is connected: B's own copy now holds the web's page view.
    let socks = json!({"type": "purchase", "id": "cleo-socks", "time": t0 + 5, "sku": "SO-1", "category": "socks", "amount": 9, "channel": "store", "store": "paris-01"});
    assert!(decisions(&b.event("cleo", Some(&cleo), &socks)).is_empty());
    settled(&[&web, &a, &b, &c], &hash);
    proxy.cut();
    eventually(30, "B sees the link down", || {
        ready(&b)["fleet"]["connected"] == false
    });
    // The offer fires in A (connected), and once more in B (cut: it cannot know).
    assert_eq!(
        actions(&a.event("cleo", Some(&cleo), &beacon("cleo-a", 10, "lyon-02"))),
        vec!["sweater_in_store:KNIT20"]
    );
    settled(&[&web, &a, &c], &hash);
    let in_b = actions(&b.event("cleo", Some(&cleo), &beacon("cleo-b", 20, "paris-01")));
    assert_eq!(
        in_b,
        vec!["sweater_in_store:KNIT20"],
        "the overshoot: one, in the cut store"
    );
    let again_in_b = actions(&b.event("cleo", Some(&cleo), &beacon("cleo-b2", 30, "paris-01")));
    assert!(
        again_in_b.is_empty(),
        "B's own firing holds the cap there: {again_in_b:?}"
    );
    // The heal: the firings merge; the cap holds in every store.
    proxy.heal();
    settled(&[&web, &a, &b, &c], &hash);
    for (h, id, n) in [(&a, "cleo-a2", 40), (&b, "cleo-b3", 50), (&c, "cleo-c", 60)] {
        let r = h.event("cleo", Some(&cleo), &beacon(id, n, "nice-03"));
        assert!(
            decisions(&r).is_empty(),
            "the cap holds after the heal: {}",
            r.text()
        );
    }
    let firings = view(&c, "cleo")["memory"]["firings"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        firings,
        1 + in_b.len(),
        "A's firing and B's overshoot (if any), merged"
    );
}

/// A memory larger than the hub takes in one message (its `max_payload`) cannot be folded: the
/// store keeps deciding and acknowledging, the customer stays in its outbox (counted as a push
/// failure, retried), and nothing is lost; the others are folded as usual.
#[test]
fn a_memory_over_the_hubs_max_payload_stays_queued_and_the_store_keeps_working() {
    let Some(nats) = nats_or_skip("fleet max payload") else {
        return;
    };
    let dir = temp_dir("fleet-payload");
    let hub = Nats::start_with(&nats, &dir.join("hub"), Some("max_payload: 4096\n"));
    let bundle = example_bundle(O2O).to_bytes();
    let b = site(&dir, &hub.url(), "store-b", Some(&bundle));
    let hash = ready(&b)["bundle"].as_str().unwrap().to_string();
    settled(&[&b], &hash);
    let t0 = now_ms();
    let big = profile("big", &["marketing", "location"]);
    for n in 0..120u64 {
        let e = json!({"type": "page_view", "id": format!("big-view-{n}"), "time": t0 + n,
                       "sku": format!("SW-{n}-{}", "x".repeat(40)), "category": "knitwear", "price": 79});
        assert_eq!(b.event("big", Some(&big), &e).status, 200);
    }
    let small = profile("small", &["marketing", "location"]);
    let e = json!({"type": "page_view", "id": "small-view", "time": t0 + 500, "sku": "SW-1", "category": "knitwear", "price": 79});
    assert_eq!(b.event("small", Some(&small), &e).status, 200);
    eventually(
        30,
        "the fold of the big memory failed and was counted",
        || {
            b.get("/metrics")
                .text()
                .lines()
                .any(|l| l.starts_with("omnirule_fleet_push_failures_total") && !l.ends_with(" 0"))
        },
    );
    eventually(30, "the others are folded", || {
        in_fabric(&hub.url(), "small")
    });
    // (The fleet holds the last version of "big" small enough to fold; the rest waits.)
    // The exposures are not held up by the failing fold.
    let logged = exposure_log(&b).len() as u64;
    assert!(logged > 0);
    eventually(30, "every exposure in the stream", || {
        exposures_in_stream(&hub.url()) == logged
    });
    let r = ready(&b);
    assert_eq!(r["fleet"]["outbox"], 1, "the big one stays queued: {r}");
    assert_eq!(
        event_ids(&view(&b, "big")).len(),
        120,
        "nothing lost locally"
    );
}
