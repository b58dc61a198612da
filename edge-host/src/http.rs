//! A small HTTP/1.1 server: one thread per connection (at most [`MAX_CONNECTIONS`]),
//! keep-alive, `Content-Length` bodies with a size limit checked before reading, and
//! `Expect: 100-continue`.
//!
//! Why not a crate: the store host needs little of HTTP, builds on two cores, and must never
//! queue a request behind another client's idle keep-alive connection (tiny_http 0.12's task
//! pool can: two connections accepted together may leave one waiting until another closes).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Open connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 512;
/// Longest request line plus headers.
const MAX_HEAD: usize = 16 << 10;
/// Largest refused body read and dropped before closing the connection.
const MAX_DRAIN: usize = 64 << 20;
/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(60);

/// A request, body included.
pub struct Request {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// What a request may carry, decided from its method and path before the body is read.
pub trait Handler: Send + Sync + 'static {
    /// Largest body accepted for this request.
    fn body_limit(&self, method: &str, path: &str) -> usize;
    fn handle(&self, request: Request) -> Response;
    /// A reply for a request refused before the handler (bad request, body too large).
    fn refuse(&self, status: u16, code: &str, message: &str) -> Response;
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn write_response(out: &mut TcpStream, r: &Response, close: bool) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    for (k, v) in &r.headers {
        // Header values come from the host itself; drop any that could split the head.
        if !v.contains(['\r', '\n']) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&r.body);
    out.write_all(&bytes)?;
    out.flush()
}

/// Accepts connections until the listener fails.
pub fn serve(listener: TcpListener, handler: Arc<dyn Handler>) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else {
            continue;
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let busy = handler.refuse(503, "too_many_connections", "too many open connections");
            let _ = write_response(&mut stream, &busy, true);
            continue;
        }
        let (handler, still_open) = (handler.clone(), open.clone());
        let spawned = std::thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                let _ = connection(stream, handler.as_ref());
                still_open.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads one line (CRLF or LF) of at most `budget` bytes into `line`; `Ok(false)` at EOF.
fn read_line(
    r: &mut BufReader<TcpStream>,
    line: &mut Vec<u8>,
    budget: &mut usize,
) -> std::io::Result<bool> {
    line.clear();
    let n = r
        .by_ref()
        .take(u64::try_from(*budget).unwrap_or(0).saturating_add(1))
        .read_until(b'\n', line)?;
    if n == 0 {
        return Ok(false);
    }
    if n > *budget {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "head too large",
        ));
    }
    *budget -= n;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(true)
}

fn connection(stream: TcpStream, handler: &dyn Handler) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        let mut budget = MAX_HEAD;
        // The request line (blank lines before it are tolerated).
        let request_line = loop {
            if !read_line(&mut reader, &mut line, &mut budget).inspect_err(|e| {
                // An oversize head is answered; an idle timeout or a reset is not.
                if e.kind() == std::io::ErrorKind::InvalidData {
                    let r = handler.refuse(431, "head_too_large", "the request head is too large");
                    let _ = write_response(&mut out, &r, true);
                }
            })? {
                return Ok(());
            }
            if !line.is_empty() {
                break String::from_utf8_lossy(&line).into_owned();
            }
        };
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version)) =
            (parts.next(), parts.next(), parts.next())
        else {
            let r = handler.refuse(400, "bad_request", "malformed request line");
            return write_response(&mut out, &r, true);
        };
        let (method, target, version) =
            (method.to_string(), target.to_string(), version.to_string());
        let mut headers = Vec::new();
        loop {
            match read_line(&mut reader, &mut line, &mut budget) {
                Ok(true) if line.is_empty() => break,
                Ok(true) => {
                    let text = String::from_utf8_lossy(&line);
                    if let Some((k, v)) = text.split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                Ok(false) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    let r = handler.refuse(431, "head_too_large", "the request head is too large");
                    return write_response(&mut out, &r, true);
                }
                Err(e) => return Err(e),
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let http10 = version.eq_ignore_ascii_case("HTTP/1.0");
        let close = match header("Connection") {
            Some(v) if v.eq_ignore_ascii_case("close") => true,
            Some(v) if v.eq_ignore_ascii_case("keep-alive") => false,
            _ => http10,
        };
        let path = target.split('?').next().unwrap_or("").to_string();
        if header("Transfer-Encoding").is_some() {
            let r = handler.refuse(
                411,
                "length_required",
                "send the body with a Content-Length",
            );
            return write_response(&mut out, &r, true);
        }
        let length = match header("Content-Length").map(str::parse::<usize>) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                let r = handler.refuse(400, "bad_request", "bad Content-Length");
                return write_response(&mut out, &r, true);
            }
        };
        let limit = handler.body_limit(&method, &path);
        let expects_continue =
            header("Expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if length > limit {
            let r = handler.refuse(
                413,
                "body_too_large",
                &format!(
                    "the request body ({length} bytes) is larger than the limit of {limit} bytes"
                ),
            );
            write_response(&mut out, &r, true)?;
            // Read (and drop) a moderately large body before closing, so that the client, still
            // sending, is not reset before it reads the answer. A client that asked for
            // `100-continue` sends nothing more.
            if !expects_continue && length <= MAX_DRAIN {
                let _ = std::io::copy(
                    &mut reader.by_ref().take(u64::try_from(length).unwrap_or(0)),
                    &mut std::io::sink(),
                );
            }
            return Ok(());
        }
        if length > 0 && expects_continue {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let response = handler.handle(Request {
            method,
            path,
            headers,
            body,
        });
        write_response(&mut out, &response, close)?;
        if close {
            return Ok(());
        }
    }
}

/// Binds `addr`.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}
