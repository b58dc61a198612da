//! The service around the API, against the real binary on 127.0.0.1: tokens and scopes from a
//! config file, liveness and readiness, idle and slow clients, request ids and JSON logs, the
//! OpenAPI document against the routes, and SIGTERM with requests in flight.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KNIT: &str = "02-knitwear-in-store";
const EVENTS: &str = "pos-secret-1";
const READ: &str = "tablet-secret-2";
const METRICS: &str = "prometheus-secret-3";
const ADMIN: &str = "ops-secret-4";

/// A host configured by a config file with one token per scope (and no admin flag).
fn scoped_host(name: &str, extra: &[&str]) -> Host {
    let dir = temp_dir(name);
    let config = dir.join("store.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[http]
max_concurrent_requests = 64

[[tokens]]
name = "pos"
token = "{EVENTS}"
scopes = ["events"]

[[tokens]]
name = "tablet"
token = "{READ}"
scopes = ["read"]

[[tokens]]
name = "prometheus"
token = "{METRICS}"
scopes = ["metrics"]

[[tokens]]
name = "ops"
scopes = ["admin"]
"#
        ),
    )
    .unwrap();
    let mut args = vec!["--config".to_string(), config.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Host::start(
        &dir,
        Some(&example_bundle(KNIT).to_bytes()),
        HostOptions {
            token: None,
            extra: args,
            // The admin token's secret comes from the environment.
            env: vec![("OMNIRULE_TOKEN_OPS".into(), ADMIN.into())],
            ..Default::default()
        },
    )
}

fn profile(id: &str) -> Value {
    let mut p = example_profile(KNIT);
    p["id"] = json!(id);
    p
}

fn event_body(customer: &str, id: &str) -> Vec<u8> {
    json!({"customer": customer, "profile": profile(customer),
           "event": {"type": "beacon_enter", "id": id, "time": "2026-11-22T15:30:00Z", "store": "paris-01", "zone": "entrance"}})
        .to_string()
        .into_bytes()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn each_scope_is_refused_and_accepted() {
    let host = scoped_host("scopes", &[]);
    let addr = host.addr;
    let merge_body =
        br#"{"format":"omnirule-memory","version":1,"events":[],"firings":[],"seen":[]}"#;
    let bundle = example_bundle(KNIT).to_bytes();
    // (method, path, body, the scope's token, the expected success status)
    let routes: Vec<(&str, &str, Vec<u8>, &str, u16)> = vec![
        ("POST", "/v1/events", event_body("c1", "e-1"), EVENTS, 200),
        ("GET", "/v1/customers/c1", vec![], READ, 200),
        ("GET", "/v1/bundle", vec![], READ, 200),
        ("GET", "/metrics", vec![], METRICS, 200),
        (
            "POST",
            "/v1/customers/c2/merge",
            merge_body.to_vec(),
            ADMIN,
            200,
        ),
        ("PUT", "/v1/bundle", bundle, ADMIN, 200),
        ("DELETE", "/v1/customers/c2", vec![], ADMIN, 200),
    ];
    for (method, path, body, right, ok) in &routes {
        let what = format!("{method} {path}");
        let r = request_raw(addr, method, path, &[], body);
        assert_eq!(r.status, 401, "{what} without a token: {}", r.text());
        assert_eq!(r.code(), "unauthorized");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
        let r = request_raw(
            addr,
            method,
            path,
            &[("Authorization", "Bearer not-a-token")],
            body,
        );
        assert_eq!(r.status, 401, "{what} with an unknown token");
        for wrong in [EVENTS, READ, METRICS].iter().filter(|t| *t != right) {
            let r = request_raw(
                addr,
                method,
                path,
                &[("Authorization", &bearer(wrong))],
                body,
            );
            assert_eq!(r.status, 403, "{what} with the wrong scope: {}", r.text());
            assert_eq!(r.code(), "forbidden");
        }
        let r = request_raw(
            addr,
            method,
            path,
            &[("Authorization", &bearer(right))],
            body,
        );
        assert_eq!(r.status, *ok, "{what} with its scope: {}", r.text());
        // The admin token has every scope.
        if *right != ADMIN && *method == "GET" {
            let r = request_raw(
                addr,
                method,
                path,
                &[("Authorization", &bearer(ADMIN))],
                body,
            );
            assert_eq!(r.status, *ok, "{what} as admin: {}", r.text());
        }
    }
    // A refused event stores nothing.
    let r = request_raw(
        addr,
        "POST",
        "/v1/events",
        &[("Authorization", &bearer(READ))],
        &event_body("c9", "e-9"),
    );
    assert_eq!(r.status, 403);
    let r = request_raw(
        addr,
        "GET",
        "/v1/customers/c9",
        &[("Authorization", &bearer(READ))],
        b"",
    );
    assert_eq!(r.status, 404);
    // Any valid token reads readiness and the API document; liveness needs none.
    for t in [EVENTS, READ, METRICS, ADMIN] {
        for path in ["/readyz", "/v1/openapi.json"] {
            let r = request_raw(addr, "GET", path, &[("Authorization", &bearer(t))], b"");
            assert_eq!(r.status, 200, "{path} with {t}");
        }
    }
    assert_eq!(request_raw(addr, "GET", "/readyz", &[], b"").status, 401);
    assert_eq!(request_raw(addr, "GET", "/livez", &[], b"").status, 200);
    let m = request_raw(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", &bearer(METRICS))],
        b"",
    )
    .text();
    assert!(
        m.contains("omnirule_auth_refusals_total{code=\"forbidden\"}"),
        "{m}"
    );
    assert!(m.contains("process_resident_memory_bytes"), "{m}");
    assert!(m.contains("process_cpu_seconds_total"), "{m}");
}

#[test]
fn livez_and_readyz() {
    let dir = temp_dir("ready");
    let host = Host::start(&dir, None, HostOptions::default());
    let r = request_raw(host.addr, "GET", "/livez", &[], b"");
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    let r = host.get("/readyz");
    assert_eq!(r.status, 503, "no bundle: not ready");
    assert_eq!(r.json()["ready"], false);
    assert_eq!(r.json()["storage"], "writable");
    assert_eq!(
        host.admin("PUT", "/v1/bundle", &example_bundle(KNIT).to_bytes())
            .status,
        200
    );
    let r = host.get("/readyz");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["bundle"], example_bundle(KNIT).hash_hex());
}

#[test]
fn idle_and_trickling_connections_do_not_block_others() {
    // The attack of issue #30: 600 connections from one client, half idle, half trickling a
    // header byte now and then. /livez and a scoped POST /v1/events are served at once all
    // along, and the trickling connections are closed after the header timeout.
    let host = scoped_host("idle", &["--header-timeout-ms", "3000"]);
    let addr = host.addr;
    let mut idle = Vec::new();
    let mut trickling = Vec::new();
    for i in 0..600 {
        let mut s = TcpStream::connect(addr).unwrap();
        if i % 2 == 0 {
            s.write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            trickling.push(s);
        } else {
            idle.push(s);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut open = trickling;
            while !stop.load(Ordering::Relaxed) {
                // One byte per connection every 200 ms; drop the ones the server closed.
                open.retain_mut(|s| s.write_all(b"X").is_ok());
                std::thread::sleep(Duration::from_millis(200));
            }
            open
        })
    };
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        let r = request_raw(addr, "GET", "/livez", &[], b"");
        assert_eq!(r.status, 200);
        let r = request_raw(
            addr,
            "POST",
            "/v1/events",
            &[("Authorization", &bearer(EVENTS))],
            &event_body(&format!("c{n}"), &format!("e-{n}")),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "a request waited {:?} behind idle connections",
            t.elapsed()
        );
        n += 1;
    }
    assert!(n >= 5, "only {n} rounds");
    // The header timeout (3 s) closes connections that never finish a request head.
    std::thread::sleep(Duration::from_millis(3500));
    let mut closed = 0;
    for s in idle.iter_mut() {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut b = [0u8; 256];
        match s.read(&mut b) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // End of stream, a 408 before it, or a reset: closed by the host.
            _ => closed += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let still_open = trickler.join().unwrap();
    assert!(
        still_open.len() < 30,
        "{} trickling connections are still open after the header timeout",
        still_open.len()
    );
    assert!(
        closed > 270,
        "only {closed} of 300 idle connections were closed"
    );
}

#[test]
fn requests_carry_an_id_and_are_logged_as_json() {
    let host = scoped_host("json-logs", &["--log-format", "json"]);
    let r = request_raw(
        host.addr,
        "POST",
        "/v1/events",
        &[
            ("Authorization", &bearer(EVENTS)),
            ("X-Request-Id", "req-abc-123"),
        ],
        &event_body("c1", "e-1"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("req-abc-123"));
    // Without one, the host makes one.
    let r = request_raw(host.addr, "GET", "/livez", &[], b"");
    assert_eq!(r.header("x-request-id").map(str::len), Some(36));
    eventually(5, "the request's log line", || {
        host.stderr().lines().any(|l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| {
                v["request_id"] == "req-abc-123"
                    && v["route"] == "/v1/events"
                    && v["status"] == 200
                    && v["latency_ms"].is_number()
            })
        })
    });
    // Every line is JSON, the start-up and bundle lines included.
    let logs = host.stderr();
    assert!(logs.contains("bundle loaded"), "{logs}");
    for l in logs.lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
}

#[test]
fn the_openapi_document_matches_the_routes() {
    let host = scoped_host("openapi", &[]);
    let r = request_raw(
        host.addr,
        "GET",
        "/v1/openapi.json",
        &[("Authorization", &bearer(ADMIN))],
        b"",
    );
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 9, "{:?}", paths.keys());
    let mut checked = 0;
    for (path, ops) in paths {
        let concrete = path.replace("{id}", "nobody");
        for method in ["get", "post", "put", "delete", "patch"] {
            let upper = method.to_ascii_uppercase();
            // An admin token passes every scope; a body that is wrong is fine (400 and 422
            // prove the route exists).
            let r = request_raw(
                host.addr,
                &upper,
                &concrete,
                &[("Authorization", &bearer(ADMIN))],
                b"{}",
            );
            if let Some(op) = ops.get(method) {
                assert!(
                    ![404, 405].contains(&r.status)
                        || (r.status == 404 && r.code() == "unknown_customer"),
                    "{upper} {path} is documented but answers {}: {}",
                    r.status,
                    r.text()
                );
                // The documented security matches what the host asks for.
                let security = op["security"].as_array().unwrap();
                let unauth = request_raw(host.addr, &upper, &concrete, &[], b"{}");
                if security.is_empty() {
                    assert_ne!(unauth.status, 401, "{upper} {path} is documented as open");
                } else {
                    assert_eq!(
                        unauth.status, 401,
                        "{upper} {path} is documented as needing a token"
                    );
                    let scopes = security[0]["bearer"].as_array().unwrap();
                    if let Some(scope) = scopes.first().and_then(Value::as_str) {
                        let other = if scope == "read" { EVENTS } else { READ };
                        let r = request_raw(
                            host.addr,
                            &upper,
                            &concrete,
                            &[("Authorization", &bearer(other))],
                            b"{}",
                        );
                        assert_eq!(r.status, 403, "{upper} {path} needs the {scope} scope");
                    }
                }
                checked += 1;
            } else {
                assert_eq!(
                    r.status, 405,
                    "{upper} {path} is not documented but answers {}",
                    r.status
                );
            }
        }
    }
    assert!(checked >= 11, "{checked}");
    for unknown in [
        "/v2/events",
        "/v1",
        "/v1/customers",
        "/v1/customers/a/b/c",
        "/admin",
    ] {
        let r = request_raw(
            host.addr,
            "GET",
            unknown,
            &[("Authorization", &bearer(ADMIN))],
            b"",
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (404, "not_found"),
            "{unknown}"
        );
    }
}

#[test]
fn sigterm_with_requests_in_flight_loses_no_acknowledged_event() {
    let dir = temp_dir("sigterm");
    std::fs::write(dir.join("bundle.bin"), example_bundle(KNIT).to_bytes()).unwrap();
    let mut host = Host::start(&dir, None, HostOptions::default());
    let addr = host.addr;
    let acked: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
    let senders: Vec<_> = (0..6)
        .map(|t| {
            let acked = acked.clone();
            std::thread::spawn(move || {
                let customer = format!("k{t}");
                for n in 0..100_000 {
                    let id = format!("t{t}-{n}");
                    match try_request(addr, "POST", "/v1/events", &[], &event_body(&customer, &id))
                    {
                        Ok(r) if r.status == 200 => {
                            acked
                                .lock()
                                .unwrap()
                                .entry(customer.clone())
                                .or_default()
                                .push(id);
                        }
                        // Refused while stopping (503) or cut: not acknowledged.
                        Ok(_) | Err(_) => {}
                    }
                    if TcpStream::connect(addr).is_err() {
                        break; // the host no longer accepts
                    }
                }
            })
        })
        .collect();
    // A request in flight at the signal: its head and half its body are sent before SIGTERM,
    // the rest after; it must be answered and kept.
    let slow_body = event_body("slow", "slow-1");
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        slow,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n",
        slow_body.len()
    )
    .unwrap();
    let half = slow_body.len() / 2;
    slow.write_all(&slow_body[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let signalled = Instant::now();
    host.terminate();
    std::thread::sleep(Duration::from_millis(300));
    slow.write_all(&slow_body[half..]).unwrap();
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the request in flight: {answer}"
    );
    let status = loop {
        if let Some(s) = host.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "the host did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.code(),
        Some(0),
        "exit status: {status:?}\n{}",
        host.stderr()
    );
    for s in senders {
        s.join().unwrap();
    }
    let logs = host.stderr();
    assert!(logs.contains("SIGTERM"), "{logs}");
    assert!(logs.contains("database closed"), "{logs}");
    // After a clean stop the WAL was folded into the database.
    let wal = dir.join("store.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "the WAL was not checkpointed"
    );

    let host = Host::start(&dir, None, HostOptions::default());
    let mut acked = acked.lock().unwrap().clone();
    acked
        .entry("slow".into())
        .or_default()
        .push("slow-1".into());
    let total: usize = acked.values().map(Vec::len).sum();
    assert!(total > 20, "only {total} events were acknowledged");
    for (customer, ids) in &acked {
        let r = host.get(&format!("/v1/customers/{customer}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let seen: std::collections::BTreeSet<String> = seen_ids(&r.json()).into_iter().collect();
        let missing: Vec<&String> = ids.iter().filter(|id| !seen.contains(*id)).collect();
        assert!(
            missing.is_empty(),
            "{customer} lost acknowledged events {missing:?}"
        );
    }
}

#[test]
fn tls_serves_https_with_the_certificate_files() {
    use tokio_rustls::rustls;
    let dir = temp_dir("tls");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join("store.crt"), dir.join("store.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let host = Host::start(
        &dir,
        Some(&example_bundle(KNIT).to_bytes()),
        HostOptions {
            extra: vec![
                "--tls-cert".into(),
                cert.display().to_string(),
                "--tls-key".into(),
                key.display().to_string(),
            ],
            ..Default::default()
        },
    );
    // Plain HTTP on the TLS port gets no HTTP answer.
    assert!(try_request_raw(host.addr, "GET", "/livez", &[], b"").is_err());

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let https = |method: &str, path: &str, body: &[u8]| -> String {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
        let sock = TcpStream::connect(host.addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        write!(
            tls,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        tls.write_all(body).unwrap();
        let mut out = Vec::new();
        // A peer that closes without close_notify ends the stream with an error, after the data.
        let _ = tls.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let r = https("GET", "/livez", b"");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let r = https("POST", "/v1/events", &event_body("c1", "e-1"));
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("\"decisions\""), "{r}");
}

#[test]
fn a_request_has_a_whole_request_deadline_not_a_per_read_one() {
    // A client that sends its body a byte at a time, each byte well within any per-read
    // timeout, is cut at the request timeout with a JSON 408; others are served meanwhile.
    let host = scoped_host("request-timeout", &["--request-timeout-ms", "1000"]);
    let body = event_body("slow", "slow-1");
    let mut s = TcpStream::connect(host.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {EVENTS}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.set_nonblocking(false).unwrap();
    let started = Instant::now();
    let mut sent = 0;
    let mut answer = Vec::new();
    while started.elapsed() < Duration::from_secs(5) && sent < body.len() {
        if s.write_all(&body[sent..sent + 1]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
        let r = request_raw(host.addr, "GET", "/livez", &[], b"");
        assert_eq!(r.status, 200);
        // Has the host answered yet?
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 4096];
        if let Ok(n) = s.read(&mut b) {
            answer.extend_from_slice(&b[..n]);
        }
        s.set_nonblocking(false).unwrap();
        if !answer.is_empty() {
            break;
        }
    }
    let _ = s.read_to_end(&mut answer);
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");
    assert!(
        elapsed < Duration::from_secs(3),
        "cut after {elapsed:?} with {sent} of {} bytes sent",
        body.len()
    );
    let r = request_raw(
        host.addr,
        "GET",
        "/v1/customers/slow",
        &[("Authorization", &bearer(READ))],
        b"",
    );
    assert_eq!(r.status, 404, "a timed-out event is not stored");
}
