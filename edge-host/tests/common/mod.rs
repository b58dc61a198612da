//! Test helpers: the real `omnirule-store` binary on 127.0.0.1 with a temporary data
//! directory, a small HTTP client, and bundles compiled from the examples.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

pub mod fleet;

use omnirule_engine::bundle::Bundle;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const BUILD: &str =
    "cargo build -p omnirule-abi --target wasm32-unknown-unknown --profile wasm";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The engine module. Fails (never skips) when it has not been built.
pub fn module() -> PathBuf {
    let path = std::env::var_os("OMNIRULE_ABI_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace().join("target/wasm32-unknown-unknown/wasm/omnirule_abi.wasm")
        });
    assert!(
        path.is_file(),
        "the engine module {} is missing: build it with `{BUILD}` (scripts/test-store.sh does), \
         or point OMNIRULE_ABI_WASM at it",
        path.display()
    );
    path
}

/// A fresh directory under target/tmp.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = workspace().join("target/tmp/store-tests").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiled modules shared by all tests (the cache key includes the module's hash).
pub fn cache_dir() -> PathBuf {
    workspace().join("target/tmp/store-tests/module-cache")
}

pub fn example_rules(example: &str) -> String {
    let dir = workspace().join("examples").join(example);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn bundle_of(source: &str) -> Bundle {
    let set = omnirule_dsl::RuleSet::from_texts([("test.rules", source)]);
    match set.compile() {
        Ok(c) => Bundle::new(c.graph).unwrap(),
        Err(d) => panic!(
            "does not compile:\n{}",
            omnirule_dsl::render::render_all(&d, &set.sources, Default::default())
        ),
    }
}

pub fn example_bundle(example: &str) -> Bundle {
    bundle_of(&example_rules(example))
}

pub fn example_profile(example: &str) -> Value {
    let text = std::fs::read_to_string(
        workspace()
            .join("examples")
            .join(example)
            .join("profile.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn example_events(example: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(
        workspace()
            .join("examples")
            .join(example)
            .join("events.jsonl"),
    )
    .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if v.get("id").is_none() {
                v["id"] = Value::String(format!("e-{}", i + 1));
            }
            v
        })
        .collect()
}

pub const TOKEN: &str = "test-admin-token";

/// A running host; killed (SIGKILL) when dropped.
pub struct Host {
    pub child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    pub bundle: PathBuf,
    pub stderr: PathBuf,
}

pub struct HostOptions {
    pub token: Option<&'static str>,
    pub module: Option<PathBuf>,
    pub extra: Vec<String>,
    /// Environment variables for the host.
    pub env: Vec<(String, String)>,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            token: Some(TOKEN),
            module: None,
            extra: Vec::new(),
            env: Vec::new(),
        }
    }
}

impl Host {
    /// Starts a host on `data` with `bundle` written to its bundle file (when given).
    pub fn start(data: &Path, bundle: Option<&[u8]>, options: HostOptions) -> Host {
        Host::try_start(data, bundle, options).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_start(
        data: &Path,
        bundle: Option<&[u8]>,
        options: HostOptions,
    ) -> Result<Host, String> {
        let bundle_path = data.join("bundle.bin");
        if let Some(b) = bundle {
            std::fs::write(&bundle_path, b).unwrap();
        }
        let module = options.module.unwrap_or_else(module);
        let stderr = data.join("host.stderr");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_omnirule-store"));
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data)
            .arg("--bundle")
            .arg(&bundle_path)
            .arg("--module")
            .arg(&module)
            .arg("--cache-dir")
            .arg(cache_dir())
            .arg("--watch-ms")
            .arg("50")
            .args(&options.extra)
            .env_remove("OMNIRULE_ADMIN_TOKEN")
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        if let Some(t) = options.token {
            cmd.arg("--admin-token").arg(t);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let Some(addr) = line
            .trim()
            .strip_prefix("listening on http://")
            .or_else(|| line.trim().strip_prefix("listening on https://"))
        else {
            let _ = child.wait();
            return Err(format!(
                "the host did not start: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            ));
        };
        Ok(Host {
            addr: addr.parse().unwrap(),
            child,
            data: data.to_path_buf(),
            bundle: bundle_path,
            stderr,
        })
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Response {
        request(self.addr, "GET", path, &[], b"")
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        request(self.addr, "POST", path, &[], body.to_string().as_bytes())
    }

    pub fn admin(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let auth = format!("Bearer {TOKEN}");
        request(
            self.addr,
            method,
            path,
            &[("Authorization", auth.as_str())],
            body,
        )
    }

    /// `POST /v1/events`.
    pub fn event(&self, customer: &str, profile: Option<&Value>, event: &Value) -> Response {
        let mut body = serde_json::json!({"customer": customer, "event": event});
        if let Some(p) = profile {
            body["profile"] = p.clone();
        }
        self.post_json("/v1/events", &body)
    }

    /// Sends SIGTERM (a graceful stop).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error code of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), with the admin token
/// unless `headers` has an `Authorization` header.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let auth = format!("Bearer {TOKEN}");
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
    {
        all.push(("Authorization", auth.as_str()));
    }
    try_request_raw(addr, method, path, &all, body)
}

/// A request with exactly `headers` (no token added).
pub fn request_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request_raw(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), headers as given.
pub fn try_request_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad HTTP response"))
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).ok()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Waits until `f` holds, or panics after `secs` seconds.
pub fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out waiting for: {what}");
}

/// Ids in a memory JSON's `seen` list.
pub fn seen_ids(customer: &Value) -> Vec<String> {
    customer["memory"]["seen"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}
