//! HTTP-level tests of every endpoint, against the real binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use omnirule_engine::host::track;
use omnirule_engine::memory::Memory;
use serde_json::{Value, json};

const KNIT: &str = "02-knitwear-in-store";

fn knit_host(name: &str) -> Host {
    let dir = temp_dir(name);
    Host::start(
        &dir,
        Some(&example_bundle(KNIT).to_bytes()),
        HostOptions::default(),
    )
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

fn profile(id: &str) -> Value {
    let mut p = example_profile(KNIT);
    p["id"] = json!(id);
    p
}

fn view(id: &str, time: &str) -> Value {
    json!({"type": "page_view", "id": id, "time": time, "sku": "SW-1", "category": "knitwear", "price": 79})
}

fn enter(id: &str, time: &str) -> Value {
    json!({"type": "beacon_enter", "id": id, "time": time, "store": "paris-01", "zone": "entrance"})
}

#[test]
fn healthz_reports_bundle_and_module() {
    let host = knit_host("healthz");
    let r = host.get("/healthz");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["ready"], true);
    assert_eq!(v["bundle"], example_bundle(KNIT).hash_hex());
    assert_eq!(v["module"].as_str().unwrap().len(), 64);
    let r = host.get("/v1/bundle");
    assert_eq!(r.json()["hash"], example_bundle(KNIT).hash_hex());
}

#[test]
fn events_return_decisions_and_are_remembered() {
    let host = knit_host("events");
    let p = profile("c1");
    let r = host.event("c1", Some(&p), &view("w-1", "2026-11-20T10:00:00Z"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("x-omnirule-bundle"),
        Some(example_bundle(KNIT).hash_hex().as_str())
    );
    // The beacon knows only the customer id: the stored profile is used (profile reference).
    let r = host.event("c1", None, &enter("s-1", "2026-11-22T15:30:00Z"));
    assert_eq!(r.status, 200, "{}", r.text());
    let d = &r.json()["decisions"];
    assert_eq!(d.as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d[0]["rule"], "sweater_in_store");
    assert_eq!(d[0]["params"]["code"], "KNIT20");
    assert_eq!(
        d[0]["params"]["message"],
        "Hi Ana, the SW-1 you liked is 20% off here today"
    );
    // A repeated event id changes nothing and decides nothing.
    let before = host.get("/v1/customers/c1").json();
    let r = host.event("c1", None, &enter("s-1", "2026-11-22T15:30:00Z"));
    assert_eq!(r.json(), json!({"decisions": []}));
    assert_eq!(
        host.get("/v1/customers/c1").json()["memory"],
        before["memory"]
    );
    // With an explanation when asked.
    let r = host.post_json(
        "/v1/events",
        &json!({"customer": "c1", "event": enter("s-2", "2026-11-22T16:00:00Z"), "explain": true}),
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["explanation"].is_object(), "{}", r.text());
}

#[test]
fn a_profile_without_id_gets_the_customer_id_and_a_foreign_id_is_refused() {
    let host = knit_host("profile-id");
    let mut p = profile("x");
    p.as_object_mut().unwrap().remove("id");
    let r = host.event("c2", Some(&p), &view("w-1", "2026-11-20T10:00:00Z"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(host.get("/v1/customers/c2").json()["profile"]["id"], "c2");
    let r = host.event(
        "c2",
        Some(&profile("someone-else")),
        &view("w-2", "2026-11-20T10:00:00Z"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "profile_mismatch");
}

#[test]
fn an_event_without_any_profile_is_refused() {
    let host = knit_host("no-profile");
    let r = host.event("new", None, &enter("s-1", "2026-11-22T15:30:00Z"));
    assert_eq!(r.status, 422);
    assert_eq!(r.code(), "no_profile");
    assert_eq!(host.get("/v1/customers/new").status, 404);
}

#[test]
fn bad_input_gets_a_4xx_json_error_and_changes_nothing() {
    let host = knit_host("bad-input");
    let p = profile("c1");
    assert_eq!(
        host.event("c1", Some(&p), &view("w-1", "2026-11-20T10:00:00Z"))
            .status,
        200
    );
    let before = host.get("/v1/customers/c1").body;
    let event = |e: Value| {
        json!({"customer": "c1", "profile": p, "event": e})
            .to_string()
            .into_bytes()
    };
    let big = vec![b' '; (1 << 20) + 10];
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("malformed JSON", b"{\"customer\": \"c1\", ".to_vec(), 400, "malformed_json"),
        ("not JSON", b"hello".to_vec(), 400, "malformed_json"),
        ("oversize body", big, 413, "body_too_large"),
        ("no event", json!({"customer": "c1"}).to_string().into_bytes(), 400, "bad_request"),
        ("customer not a string", json!({"customer": 5, "event": {}}).to_string().into_bytes(), 400, "bad_request"),
        ("unknown envelope field", json!({"customer": "c1", "evnt": {}}).to_string().into_bytes(), 400, "bad_request"),
        ("empty customer", json!({"customer": "", "event": {}}).to_string().into_bytes(), 400, "bad_customer_id"),
        ("profile not an object", json!({"customer": "c1", "profile": [1], "event": {}}).to_string().into_bytes(), 400, "bad_request"),
        ("unknown event type", event(json!({"type": "teleport", "id": "x1", "time": 0})), 422, "unknown_event_type"),
        ("wrong field type", event(json!({"type": "page_view", "id": "x2", "time": 0, "sku": 7, "category": "c", "price": 1})), 422, "wrong_type"),
        ("missing field", event(json!({"type": "page_view", "id": "x3", "time": 0, "category": "c", "price": 1})), 422, "missing_field"),
        ("missing id", event(json!({"type": "beacon_enter", "time": 0, "store": "s", "zone": "z"})), 422, "missing_field"),
        ("bad time", event(json!({"type": "beacon_enter", "id": "x4", "time": "soon", "store": "s", "zone": "z"})), 422, "bad_time"),
        ("event not an object", event(json!("beacon")), 422, "not_an_object"),
        ("event a century ahead", event(view("x6", "2126-11-20T10:00:00Z")), 422, "event_in_future"),
        ("event an hour ahead, in ms", event(json!({"type": "beacon_enter", "id": "x7", "time": now_ms() + 3_600_000, "store": "s", "zone": "z"})), 422, "event_in_future"),
        ("time at the end of i64", event(json!({"type": "beacon_enter", "id": "x8", "time": i64::MIN, "store": "s", "zone": "z"})), 422, "bad_time"),
        ("id over 256 bytes", event(view(&"x".repeat(257), "2026-11-20T10:00:00Z")), 422, "too_long"),
        ("profile field of the wrong type", json!({"customer": "c1", "profile": {"id": "c1", "tier": 3, "lifetime_value": 1, "labels": []}, "event": enter("x5", "2026-11-22T15:30:00Z")}).to_string().into_bytes(), 422, "wrong_type"),
    ];
    for (what, body, status, code) in cases {
        let r = request(host.addr, "POST", "/v1/events", &[], &body);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
        assert_eq!(r.code(), code, "{what}: {}", r.text());
        assert!(
            !r.json()["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
        assert_eq!(
            host.get("/v1/customers/c1").body,
            before,
            "{what} changed the stored customer"
        );
    }
    let m = host.get("/metrics").text();
    assert!(
        m.contains("omnirule_event_errors_total{code=\"unknown_event_type\"} 1"),
        "{m}"
    );
}

#[test]
fn get_customer_shows_what_is_kept() {
    let host = knit_host("get");
    assert_eq!(host.get("/v1/customers/nobody").status, 404);
    assert_eq!(host.get("/v1/customers/nobody").code(), "unknown_customer");
    let p = profile("ana@example");
    host.event(
        "ana@example",
        Some(&p),
        &view("w-1", "2026-11-20T10:00:00Z"),
    );
    // Percent-encoded ids are decoded.
    let r = host.get("/v1/customers/ana%40example");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["customer"], "ana@example");
    assert_eq!(v["profile"], p);
    assert_eq!(v["memory"]["format"], "omnirule-memory");
    assert_eq!(v["memory"]["events"][0]["id"], "w-1");
    assert_eq!(
        v["memory"]["events"][0]["fields"],
        json!({"category": "knitwear", "sku": "SW-1"})
    );
    assert_eq!(seen_ids(&v), vec!["w-1"]);
    assert_eq!(host.get("/v1/customers/%zz").status, 400);
}

#[test]
fn a_customer_without_consent_for_any_rule_is_not_stored_at_all() {
    let host = knit_host("no-consent");
    let mut p = profile("jon");
    p["consents"] = json!([]);
    for (i, e) in [
        view("w-1", "2026-11-20T10:00:00Z"),
        enter("b-1", "2026-11-22T15:30:00Z"),
    ]
    .iter()
    .enumerate()
    {
        let r = host.event("jon", Some(&p), e);
        assert_eq!(r.status, 200, "event {i}: {}", r.text());
        assert_eq!(r.json()["decisions"], json!([]));
    }
    // Not the events, not the profile sent with them: there is no record of Jon.
    assert_eq!(host.get("/v1/customers/jon").status, 404);
    // With consent the same path is stored (so the check above can fail).
    host.event(
        "ana",
        Some(&profile("ana")),
        &view("w-1", "2026-11-20T10:00:00Z"),
    );
    assert_eq!(host.get("/v1/customers/ana").status, 200);
}

#[test]
fn delete_forgets_a_customer_and_needs_the_token() {
    let host = knit_host("delete");
    host.event(
        "c1",
        Some(&profile("c1")),
        &view("w-1", "2026-11-20T10:00:00Z"),
    );
    let r = request_raw(host.addr, "DELETE", "/v1/customers/c1", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "unauthorized");
    let r = request(
        host.addr,
        "DELETE",
        "/v1/customers/c1",
        &[("Authorization", "Bearer wrong")],
        b"",
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        host.get("/v1/customers/c1").status,
        200,
        "a refused delete deletes nothing"
    );
    // A copy of the memory taken before the deletion (a browser's, the edge's).
    let stale = host.get("/v1/customers/c1").json()["memory"].clone();
    assert_eq!(stale["events"].as_array().map(Vec::len), Some(1));
    let r = host.admin("DELETE", "/v1/customers/c1", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["deleted"], true);
    assert!(r.json()["erased"].is_string(), "{:?}", r.json());
    // What remains is the tombstone: no profile, no events, firings or ids.
    let kept = host.get("/v1/customers/c1").json();
    assert_eq!(kept["profile"], serde_json::Value::Null);
    for k in ["events", "firings", "seen"] {
        assert_eq!(kept["memory"][k], json!([]), "{k}");
    }
    assert_eq!(kept["memory"]["erased"], r.json()["erased"]);
    assert_eq!(
        host.admin("DELETE", "/v1/customers/c1", b"").json()["deleted"],
        false
    );
    // Forgotten means forgotten: the profile is gone too.
    let r = host.event("c1", None, &enter("s-1", "2026-11-22T15:30:00Z"));
    assert_eq!(r.code(), "no_profile");
    // A stale copy merged later brings nothing back.
    let r = host.admin(
        "POST",
        "/v1/customers/c1/merge",
        stale.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200);
    let kept = host.get("/v1/customers/c1").json();
    for k in ["events", "firings", "seen"] {
        assert_eq!(kept["memory"][k], json!([]), "{k} after a stale merge");
    }
    // A customer never seen here is erased too, against a later merge from elsewhere.
    let r = host.admin("DELETE", "/v1/customers/nobody", b"");
    assert_eq!(r.json()["deleted"], false);
    host.admin(
        "POST",
        "/v1/customers/nobody/merge",
        stale.to_string().as_bytes(),
    );
    assert_eq!(
        host.get("/v1/customers/nobody").json()["memory"]["events"],
        json!([])
    );
}

#[test]
fn without_a_configured_token_every_route_but_livez_is_refused() {
    let dir = temp_dir("no-token");
    let host = Host::start(
        &dir,
        Some(&example_bundle(KNIT).to_bytes()),
        HostOptions {
            token: None,
            ..Default::default()
        },
    );
    for (method, path) in [
        ("POST", "/v1/events"),
        ("GET", "/v1/customers/c1"),
        ("DELETE", "/v1/customers/c1"),
        ("POST", "/v1/customers/c1/merge"),
        ("PUT", "/v1/bundle"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
    ] {
        for auth in [
            &[][..],
            &[("Authorization", "Bearer ")][..],
            &[("Authorization", "Bearer anything")][..],
        ] {
            let r = request_raw(host.addr, method, path, auth, b"{}");
            assert_eq!(r.status, 401, "{method} {path}");
            assert_eq!(r.code(), "unauthorized");
        }
    }
    assert_eq!(
        request_raw(host.addr, "GET", "/livez", &[], b"").status,
        200
    );
    assert!(
        host.stderr().contains("no token is configured"),
        "{}",
        host.stderr()
    );
}

#[test]
fn merge_brings_online_memory_into_the_store() {
    // The O2O loop: the customer browsed knitwear on the web (memory kept in the browser);
    // the web memory is merged into the store's; the beacon at the entrance then offers.
    let host = knit_host("merge");
    let bundle = example_bundle(KNIT);
    let p = profile("c1");
    let web = track(
        &bundle,
        &Memory::default(),
        &p,
        &view("w-1", "2026-11-20T10:00:00Z"),
        false,
    )
    .unwrap()
    .memory;
    // The store knows the customer already (no online history: no knitwear offer).
    let r = host.event("c1", Some(&p), &enter("s-0", "2026-11-21T09:30:00Z"));
    assert!(!r.text().contains("KNIT20"), "{}", r.text());

    // Refused without the token, and with a memory that is not one: nothing changes.
    let before = host.get("/v1/customers/c1").body;
    let r = request_raw(
        host.addr,
        "POST",
        "/v1/customers/c1/merge",
        &[],
        web.to_json().as_bytes(),
    );
    assert_eq!(r.status, 401);
    for bad in [
        &b"OMNIMEM\x01\x00garbage"[..],
        b"{\"format\": \"nope\"}",
        b"{not json",
    ] {
        let r = host.admin("POST", "/v1/customers/c1/merge", bad);
        assert!(r.status == 400, "{}", r.text());
        assert!(
            ["bad_memory", "malformed_json"].contains(&r.code().as_str()),
            "{}",
            r.text()
        );
    }
    assert_eq!(host.get("/v1/customers/c1").body, before);

    let r = host.admin("POST", "/v1/customers/c1/merge", web.to_json().as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["changed"], true);
    // Merging again is idempotent.
    let r = host.admin("POST", "/v1/customers/c1/merge", &web.to_bytes());
    assert_eq!(r.json()["changed"], false, "{}", r.text());
    let r = host.event("c1", None, &enter("s-1", "2026-11-22T15:30:00Z"));
    assert_eq!(
        r.json()["decisions"][0]["params"]["code"],
        "KNIT20",
        "{}",
        r.text()
    );

    // What another store returns from GET can be merged as it is (the `memory` member).
    let exported = host.get("/v1/customers/c1").body;
    let r = host.admin("POST", "/v1/customers/c9/merge", &exported);
    assert_eq!(r.status, 200, "{}", r.text());
    let c9 = host.get("/v1/customers/c9").json();
    assert_eq!(c9["memory"], host.get("/v1/customers/c1").json()["memory"]);
    assert_eq!(c9["profile"], Value::Null);
}

#[test]
fn put_bundle_swaps_and_bad_bundles_are_refused() {
    let host = knit_host("put-bundle");
    let old = example_bundle(KNIT);
    let new = bundle_of(&example_rules(KNIT).replace("KNIT20", "KNIT25"));
    let r = request_raw(host.addr, "PUT", "/v1/bundle", &[], &new.to_bytes());
    assert_eq!(r.status, 401);
    let mut corrupt = new.to_bytes();
    let n = corrupt.len();
    corrupt[n - 3] ^= 0x55;
    for bad in [
        b"garbage".to_vec(),
        corrupt,
        new.to_bytes()[..40].to_vec(),
        Vec::new(),
    ] {
        let r = host.admin("PUT", "/v1/bundle", &bad);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.code(), "bad_bundle", "{}", r.text());
        assert_eq!(host.get("/healthz").json()["bundle"], old.hash_hex());
        assert_eq!(
            std::fs::read(&host.bundle).unwrap(),
            old.to_bytes(),
            "the file is unchanged"
        );
    }
    let r = host.admin("PUT", "/v1/bundle", &new.to_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["hash"], new.hash_hex());
    assert_eq!(r.json()["previous"], old.hash_hex());
    assert!(r.json()["load_fuel"].as_u64().unwrap() > 0);
    assert_eq!(host.get("/healthz").json()["bundle"], new.hash_hex());
    assert_eq!(
        std::fs::read(&host.bundle).unwrap(),
        new.to_bytes(),
        "the new bundle is persisted"
    );
    let p = profile("c1");
    host.event("c1", Some(&p), &view("w-1", "2026-11-20T10:00:00Z"));
    let r = host.event("c1", None, &enter("s-1", "2026-11-22T15:30:00Z"));
    assert_eq!(r.json()["decisions"][0]["params"]["code"], "KNIT25");
    // The JSON form of a bundle is accepted too.
    let r = host.admin("PUT", "/v1/bundle", old.to_json().as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(host.get("/healthz").json()["bundle"], old.hash_hex());
    // Oversize bundles are refused before decoding.
    let r = host.admin("PUT", "/v1/bundle", &vec![0u8; (16 << 20) + 1]);
    assert_eq!(r.status, 413);
}

#[test]
fn the_bundle_file_is_watched_and_a_bad_file_is_ignored() {
    let host = knit_host("watch");
    let old = example_bundle(KNIT);
    let new = bundle_of(&example_rules(KNIT).replace("KNIT20", "KNIT30"));
    // A broken file keeps the current bundle.
    std::fs::write(&host.bundle, b"broken").unwrap();
    eventually(10, "the watcher reports the broken file", || {
        host.stderr().contains("not loaded")
    });
    assert_eq!(host.get("/healthz").json()["bundle"], old.hash_hex());
    let tmp = host.data.join("next.tmp");
    std::fs::write(&tmp, new.to_bytes()).unwrap();
    std::fs::rename(&tmp, &host.bundle).unwrap();
    eventually(10, "the new bundle is loaded", || {
        host.get("/healthz").json()["bundle"] == new.hash_hex()
    });
}

#[test]
fn swaps_are_atomic_under_load() {
    // Events stream while the bundle flips between two versions: every event gets a 200 and
    // decisions that are exactly those of the bundle named in its X-Omnirule-Bundle header.
    let host = knit_host("swap-load");
    let a = example_bundle(KNIT);
    let b = bundle_of(&example_rules(KNIT).replace("KNIT20", "KNIT40"));
    let addr = host.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let stop = stop.clone();
            let (ha, hb) = (a.hash_hex(), b.hash_hex());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 5 {
                    let c = format!("t{t}-{n}");
                    let p = profile(&c);
                    let body =
                        |e: Value| json!({"customer": c, "profile": p, "event": e}).to_string();
                    let r = request(
                        addr,
                        "POST",
                        "/v1/events",
                        &[],
                        body(view("w", "2026-11-20T10:00:00Z")).as_bytes(),
                    );
                    assert_eq!(r.status, 200, "{}", r.text());
                    let r = request(
                        addr,
                        "POST",
                        "/v1/events",
                        &[],
                        body(enter("s", "2026-11-22T15:30:00Z")).as_bytes(),
                    );
                    assert_eq!(r.status, 200, "{}", r.text());
                    let code = r.json()["decisions"][0]["params"]["code"].clone();
                    let hash = r.header("x-omnirule-bundle").unwrap().to_string();
                    if hash == ha {
                        assert_eq!(code, "KNIT20");
                    } else {
                        assert_eq!(hash, hb);
                        assert_eq!(code, "KNIT40");
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    for i in 0..20 {
        let next = if i % 2 == 0 { &b } else { &a };
        let r = host.admin("PUT", "/v1/bundle", &next.to_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
    assert!(total >= 20, "{total}");
}

#[test]
fn concurrent_events_for_one_customer_are_serialised() {
    let host = knit_host("serialise");
    let p = profile("c1");
    assert_eq!(
        host.event("c1", Some(&p), &view("w-0", "2026-11-20T10:00:00Z"))
            .status,
        200
    );
    let addr = host.addr;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..10 {
                    let e = enter(&format!("s-{t}-{i}"), "2026-11-22T15:30:00Z");
                    let r = request(
                        addr,
                        "POST",
                        "/v1/events",
                        &[],
                        json!({"customer": "c1", "event": e}).to_string().as_bytes(),
                    );
                    assert_eq!(r.status, 200, "{}", r.text());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let seen = seen_ids(&host.get("/v1/customers/c1").json());
    assert_eq!(seen.len(), 81, "no update is lost: {seen:?}");
    // The offer is capped (limit 1 per 30d) however the events interleave.
    let firings = host.get("/v1/customers/c1").json()["memory"]["firings"].clone();
    let offers = firings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "sweater_in_store")
        .count();
    assert_eq!(offers, 1, "{firings}");
}

#[test]
fn metrics_are_prometheus_text() {
    let host = knit_host("metrics");
    host.event(
        "c1",
        Some(&profile("c1")),
        &view("w-1", "2026-11-20T10:00:00Z"),
    );
    host.event("c1", None, &enter("s-1", "2026-11-22T15:30:00Z"));
    let r = host.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let m = r.text();
    for needle in [
        "omnirule_events_total 2",
        "omnirule_decisions_total 2",
        "omnirule_customers 1",
        "omnirule_http_requests_total{route=\"events\",code=\"200\"} 2",
        "omnirule_event_duration_seconds_count 2",
        "omnirule_limit_stops_total{limit=\"fuel\"} 0",
        "# TYPE omnirule_event_duration_seconds histogram",
    ] {
        assert!(m.contains(needle), "missing `{needle}` in:\n{m}");
    }
    for line in m.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample line `{line}`");
    }
}

#[test]
fn unknown_routes_and_methods() {
    let host = knit_host("routes");
    let r = host.get("/v2/nothing");
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = host.get("/v1/events");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = request(host.addr, "PATCH", "/v1/customers/c1", &[], b"");
    assert_eq!(r.status, 405);
}

#[test]
fn without_a_bundle_events_wait_for_one() {
    let dir = temp_dir("no-bundle");
    let host = Host::start(&dir, None, HostOptions::default());
    assert_eq!(host.get("/healthz").json()["ready"], false);
    let r = host.event(
        "c1",
        Some(&profile("c1")),
        &view("w-1", "2026-11-20T10:00:00Z"),
    );
    assert_eq!((r.status, r.code().as_str()), (503, "no_bundle"));
    assert_eq!(
        host.admin("PUT", "/v1/bundle", &example_bundle(KNIT).to_bytes())
            .status,
        200
    );
    let r = host.event(
        "c1",
        Some(&profile("c1")),
        &view("w-1", "2026-11-20T10:00:00Z"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn state_survives_a_restart_and_the_module_cache_is_used() {
    let dir = temp_dir("restart");
    let bundle = example_bundle(KNIT).to_bytes();
    let mut host = Host::start(&dir, Some(&bundle), HostOptions::default());
    host.event(
        "c1",
        Some(&profile("c1")),
        &view("w-1", "2026-11-20T10:00:00Z"),
    );
    host.kill();
    let host = Host::start(&dir, None, HostOptions::default());
    assert_eq!(host.get("/healthz").json()["module_from_cache"], true);
    let r = host.event("c1", None, &enter("s-1", "2026-11-22T15:30:00Z"));
    assert_eq!(r.json()["decisions"][0]["params"]["code"], "KNIT20");
}

#[test]
fn keep_alive_connections_are_served_side_by_side() {
    // 24 clients open keep-alive connections together and each sends 25 events on its own:
    // no connection waits for another to close.
    use std::io::{BufRead, BufReader, Read, Write};
    let host = knit_host("keep-alive");
    let addr = host.addr;
    let clients: Vec<_> = (0..24)
        .map(|c| {
            std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(addr).unwrap();
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                let mut slowest = std::time::Duration::ZERO;
                for i in 0..25 {
                    let p = profile(&format!("ka{c}"));
                    let body = json!({"customer": format!("ka{c}"), "profile": p, "event": enter(&format!("s{i}"), "2026-11-22T15:30:00Z")}).to_string();
                    let t = std::time::Instant::now();
                    write!(w, "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
                    let mut length = 0;
                    loop {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        if line.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut b = vec![0; length];
                    reader.read_exact(&mut b).unwrap();
                    slowest = slowest.max(t.elapsed());
                }
                slowest
            })
        })
        .collect();
    let slowest = clients
        .into_iter()
        .map(|c| c.join().unwrap())
        .max()
        .unwrap();
    assert!(
        slowest < std::time::Duration::from_secs(2),
        "a request waited {slowest:?}"
    );
}

#[test]
fn with_trusted_keys_only_signed_bundles_load() {
    use omnirule_engine::bundle::signature::SecretKey;
    let head_office = SecretKey::from_seed([3; 32]);
    let laptop = SecretKey::from_seed([4; 32]);
    let plain = example_bundle(KNIT);
    let signed = plain.clone().signed(&head_office);
    let keys = vec!["--trusted-key".to_string(), head_office.public_text()];

    // An unsigned bundle file does not start the host: it says why.
    let dir = temp_dir("trusted-unsigned");
    let err = match Host::try_start(
        &dir,
        Some(&plain.to_bytes()),
        HostOptions {
            extra: keys.clone(),
            ..Default::default()
        },
    ) {
        Ok(_) => panic!("a host that trusts keys started with an unsigned bundle"),
        Err(e) => e,
    };
    assert!(err.contains("not signed"), "{err}");

    // A signed one does; PUT takes only bundles its key signed.
    let host = Host::start(
        &temp_dir("trusted"),
        Some(&signed.to_bytes()),
        HostOptions {
            extra: keys,
            ..Default::default()
        },
    );
    assert_eq!(host.get("/readyz").status, 200);
    let new = bundle_of(&example_rules(KNIT).replace("KNIT20", "KNIT25"));
    for (bundle, why) in [
        (new.to_bytes(), "not signed"),
        (new.clone().signed(&laptop).to_bytes(), "does not trust"),
    ] {
        let r = host.admin("PUT", "/v1/bundle", &bundle);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.code(), "untrusted_bundle");
        assert!(r.text().contains(why), "{}", r.text());
        assert_eq!(host.get("/healthz").json()["bundle"], signed.hash_hex());
    }
    let r = host.admin(
        "PUT",
        "/v1/bundle",
        &new.clone().signed(&head_office).to_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The watched file is held to the same rule: an unsigned file is not loaded.
    std::fs::write(&host.bundle, plain.to_bytes()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(host.get("/healthz").json()["bundle"], new.hash_hex());

    // The environment works too, and a malformed key stops the start with a clear error.
    let err = match Host::try_start(
        &temp_dir("trusted-bad-key"),
        Some(&signed.to_bytes()),
        HostOptions {
            env: vec![("OMNIRULE_TRUSTED_KEYS".into(), "ed25519:xyz".into())],
            ..Default::default()
        },
    ) {
        Ok(_) => panic!("a malformed trusted key was accepted"),
        Err(e) => e,
    };
    assert!(err.contains("trusted keys"), "{err}");
}

#[test]
fn a_customer_sending_the_largest_events_stays_readable_and_erasable() {
    // Ids of 256 bytes and fields of 16 KiB, the largest accepted: the memory keeps within
    // its byte budget, so the customer can still be evaluated, exported and erased.
    let host = knit_host("largest");
    let p = profile("big");
    let sku = "é".repeat(8 * 1024);
    for n in 0..120u64 {
        let id = format!("{n:0>256}");
        let mut e = view(&id, "2026-11-20T10:00:00Z");
        e["time"] = json!(1_795_168_800_000u64 + n * 1000);
        e["sku"] = json!(sku);
        let r = host.event("big", Some(&p), &e);
        assert_eq!(r.status, 200, "event {n}: {}", r.text());
    }
    let too_big = {
        let mut e = view("x", "2026-11-20T10:00:00Z");
        e["sku"] = json!(format!("{sku}x"));
        host.event("big", Some(&p), &e)
    };
    assert_eq!(too_big.status, 422, "{}", too_big.text());
    assert_eq!(too_big.code(), "too_long");
    let r = host.get("/v1/customers/big");
    assert_eq!(r.status, 200, "{}", r.text());
    let kept = r.json()["memory"]["events"].as_array().unwrap().len();
    assert!(
        kept < 120,
        "all 120 events of 16 KiB kept: the budget did nothing"
    );
    assert!(kept > 30, "{kept}");
    assert!(r.body.len() < 3 << 20, "{} bytes exported", r.body.len());
    assert_eq!(host.admin("DELETE", "/v1/customers/big", b"").status, 200);
}
