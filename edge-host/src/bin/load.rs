//! `omnirule-store-load`: a load generator for the store host. It posts events to a host on
//! the loopback interface only, bounded in count and in time, over keep-alive connections,
//! and prints throughput and latency percentiles (each request includes the durable write).

use clap::Parser;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Hard caps, whatever the arguments say.
const MAX_EVENTS: u64 = 2_000_000;
const MAX_SECONDS: u64 = 600;

#[derive(Parser)]
#[command(name = "omnirule-store-load")]
struct Args {
    /// The host (a loopback address: 127.0.0.0/8 or ::1).
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: SocketAddr,
    /// Stop after this many events (at most 2,000,000).
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Stop after this many seconds (at most 600).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Concurrent connections (one thread each).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Distinct customers (spread over the connections).
    #[arg(long, default_value_t = 1_000)]
    customers: u64,
    /// Tag in customer and event ids, so that runs do not repeat ids (a repeated id is a
    /// duplicate, which the host does not write). Default: the current time.
    #[arg(long)]
    tag: Option<String>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// A token with the `events` scope. Default: $OMNIRULE_TOKEN, else $OMNIRULE_ADMIN_TOKEN.
    #[arg(long)]
    token: Option<String>,
}

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// POSTs `body` and returns the status.
    fn post(
        &mut self,
        addr: SocketAddr,
        path: &str,
        token: &str,
        body: &[u8],
    ) -> std::io::Result<u16> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.writer.write_all(head.as_bytes())?;
        self.writer.write_all(body)?;
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(bad("connection closed"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().map_err(|_| bad("bad content-length"))?;
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body)?;
        Ok(status)
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
        .unwrap_or(0)
}

fn event_body(tag: &str, customer: u64, n: u64, first: bool) -> String {
    let id = format!("load-{tag}-{customer}-{n}");
    let time = 1_795_000_000_000u64 + n * 1_000;
    let event = if n.is_multiple_of(2) {
        format!(
            r#"{{"type":"page_view","id":"{id}","time":{time},"sku":"SW-{}","category":"knitwear","price":79}}"#,
            n % 7
        )
    } else {
        format!(
            r#"{{"type":"beacon_enter","id":"{id}","time":{time},"store":"paris-01","zone":"entrance"}}"#
        )
    };
    let profile = if first {
        format!(
            r#","profile":{{"id":"cust-{tag}-{customer}","tier":"gold","lifetime_value":50,"labels":[],"consents":["marketing","location"],"first_name":"Ana"}}"#
        )
    } else {
        String::new()
    };
    format!(r#"{{"customer":"cust-{tag}-{customer}"{profile},"event":{event}}}"#)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        eprintln!(
            "error: {} is not a loopback address; this tool only loads a host on this machine",
            args.addr
        );
        return ExitCode::FAILURE;
    }
    let limit = args.events.min(MAX_EVENTS);
    let deadline = Instant::now() + Duration::from_secs(args.seconds.min(MAX_SECONDS));
    let concurrency = args.concurrency.clamp(1, 512);
    let customers = args.customers.max(concurrency as u64);
    let tag: Arc<str> = Arc::from(args.tag.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis().to_string())
            .unwrap_or_default()
    }));
    let token: Arc<str> = Arc::from(
        args.token
            .or_else(|| std::env::var("OMNIRULE_TOKEN").ok())
            .or_else(|| std::env::var("OMNIRULE_ADMIN_TOKEN").ok())
            .unwrap_or_default(),
    );
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (issued, tag, token) = (issued.clone(), tag.clone(), token.clone());
            let addr = args.addr;
            std::thread::spawn(move || -> (Vec<u64>, u64) {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let Ok(mut client) = Client::connect(addr) else {
                    return (latencies, 1);
                };
                // This worker's customers: w, w + concurrency, ... (one request per customer
                // at a time, as a device would).
                let mine: Vec<u64> = (0..customers)
                    .filter(|c| c % concurrency as u64 == w as u64)
                    .collect();
                let mut sent = vec![0u64; mine.len()];
                let mut i = 0usize;
                while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < limit {
                    let slot = i % mine.len().max(1);
                    let (Some(&customer), Some(n)) = (mine.get(slot), sent.get_mut(slot)) else {
                        break;
                    };
                    let body = event_body(&tag, customer, *n, *n == 0);
                    *n += 1;
                    i += 1;
                    let t = Instant::now();
                    match client.post(addr, "/v1/events", &token, body.as_bytes()) {
                        Ok(200) => {
                            latencies
                                .push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                        }
                        Ok(_) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            match Client::connect(addr) {
                                Ok(c) => client = c,
                                Err(_) => break,
                            }
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        match w.join() {
            Ok((l, e)) => {
                all.extend(l);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let ok = all.len();
    let rate = if elapsed > 0.0 {
        ok as f64 / elapsed
    } else {
        0.0
    };
    let ms = |us: u64| us as f64 / 1000.0;
    let (p50, p90, p99, max) = (
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 90.0)),
        ms(percentile(&all, 99.0)),
        ms(all.last().copied().unwrap_or(0)),
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({"concurrency": concurrency, "events": ok, "errors": errors,
                "seconds": elapsed, "events_per_s": rate, "p50_ms": p50, "p90_ms": p90,
                "p99_ms": p99, "max_ms": max})
        );
    } else {
        println!(
            "concurrency {concurrency}: {ok} events in {elapsed:.2} s = {rate:.0} events/s; latency p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; {errors} errors"
        );
    }
    if errors > 0 || ok == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
