//! The HTTP service: axum routes over hyper on tokio, with tower and tower-http layers.
//!
//! - Every connection is a task, so an idle or slow client costs a little memory, never a
//!   thread or a turn: a client must send a request head within `header_timeout` (hyper's
//!   header read timeout, which also closes idle keep-alive connections), and a whole request,
//!   body included, must finish within `request_timeout` (tower-http's `TimeoutLayer`).
//! - Engine calls and SQLite run on tokio's blocking pool (`spawn_blocking`), never on the
//!   executor's threads; `max_concurrent` bounds the API requests in progress
//!   (`ConcurrencyLimitLayer`), `/livez` is outside that bound.
//! - Each request gets an id (`x-request-id`, kept when the client sends one), and one log line
//!   with its id, route, status and latency.
//! - Errors from the layers (timeouts, oversize bodies, unknown routes and methods) are turned
//!   into the API's JSON error shape.
//! - Shutdown: the listener is closed, connections finish the request in flight and close
//!   (hyper's graceful shutdown), within the grace period.

use crate::auth::{Need, Scope};
use crate::server::{self, App, Reply};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

/// The OpenAPI 3.1 document of the API (`GET /v1/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Largest body read (and dropped) to answer 413 politely; larger ones are refused at once.
const MAX_DRAIN: usize = 64 << 20;

/// The route label of the metrics and logs, from the matched route.
fn route_label(method: &Method, path: Option<&str>) -> &'static str {
    match (path, method.as_str()) {
        (Some("/livez"), _) => "livez",
        (Some("/readyz"), _) => "readyz",
        (Some("/healthz"), _) => "healthz",
        (Some("/metrics"), _) => "metrics",
        (Some("/v1/openapi.json"), _) => "openapi",
        (Some("/v1/events"), "POST") => "events",
        (Some("/v1/customers/{id}"), "GET") => "customer_get",
        (Some("/v1/customers/{id}"), "DELETE") => "customer_delete",
        (Some("/v1/customers/{id}/merge"), "POST") => "customer_merge",
        (Some("/v1/bundle"), "GET") => "bundle_get",
        (Some("/v1/bundle"), "PUT") => "bundle_put",
        _ => "other",
    }
}

/// What a route needs from the caller's token.
pub fn need(method: &Method, path: Option<&str>) -> Need {
    match (path, method.as_str()) {
        (Some("/livez"), _) => Need::Nothing,
        (Some("/readyz" | "/healthz" | "/v1/openapi.json"), _) => Need::AnyToken,
        (Some("/metrics"), _) => Need::Scope(Scope::Metrics),
        (Some("/v1/events"), "POST") => Need::Scope(Scope::Events),
        (Some("/v1/customers/{id}" | "/v1/bundle"), "GET") => Need::Scope(Scope::Read),
        (Some("/v1/customers/{id}/merge"), "POST") => Need::Scope(Scope::Sync),
        // Anything else that matched a route is an admin operation (and methods a route does
        // not have are answered 405 after the check, so they reveal nothing to strangers).
        _ => Need::Scope(Scope::Admin),
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = Response::new(Body::from(self.body));
        *r.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        r
    }
}

/// Runs `f` on the blocking pool (engine calls, SQLite).
async fn blocking(app: &Arc<App>, f: impl FnOnce(&App) -> Reply + Send + 'static) -> Reply {
    let app = app.clone();
    match tokio::task::spawn_blocking(move || f(&app)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "a request's blocking task failed");
            Reply::error(500, "internal_error", "the request failed inside the host")
        }
    }
}

/// Reads a body of at most `limit` bytes. A larger one is read to its end (up to
/// [`MAX_DRAIN`]) and dropped, so that a client still sending reads the 413 rather than a
/// reset connection.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Reply> {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut buf = bytes_buf(limit);
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            // Past the limit, the outer hard cap (or a client that gave up) ends the body.
            Err(_) if total >= limit => return Err(too_large(limit)),
            Err(e) => {
                return Err(Reply::error(
                    400,
                    "bad_request",
                    format!("the body could not be read: {e}"),
                ));
            }
        };
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len());
            if total <= limit {
                buf.extend_from_slice(&data);
            } else if total > MAX_DRAIN {
                break;
            }
        }
    }
    if total > limit {
        return Err(too_large(limit));
    }
    Ok(Bytes::from(buf))
}

fn bytes_buf(limit: usize) -> Vec<u8> {
    Vec::with_capacity(limit.min(64 << 10))
}

fn too_large(limit: usize) -> Reply {
    Reply::error(
        413,
        "body_too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    )
}

async fn livez() -> Reply {
    Reply::value(200, &serde_json::json!({"status": "ok"}))
}

async fn readyz(State(app): State<Arc<App>>) -> Reply {
    blocking(&app, server::readiness).await
}

async fn metrics(State(app): State<Arc<App>>) -> Reply {
    server::metrics(&app)
}

async fn openapi() -> Reply {
    Reply::json(200, OPENAPI)
}

async fn events(State(app): State<Arc<App>>, body: Body) -> Reply {
    let started = Instant::now();
    let reply = match read_body(body, app.config.max_body).await {
        Ok(body) => {
            // In a fleet, the customer's view is read first, holding neither a turn nor a
            // blocking thread while the hub answers.
            let prefetched = match (&app.fleet, server::customer_of(&body)) {
                (Some(fleet), Some(customer)) => {
                    Some(fleet.read_before_deciding(&app, &customer).await)
                }
                _ => None,
            };
            // The turn is taken here, in arrival order, before a blocking thread is used.
            let cpu = app.cpu.clone().acquire_owned().await.ok();
            blocking(&app, move |app| {
                app.with_reader(|reader| server::track_event(app, reader, &body, cpu, prefetched))
            })
            .await
        }
        Err(r) => {
            app.metrics.event_error("body_too_large");
            r
        }
    };
    app.metrics.event_latency(started.elapsed());
    reply
}

async fn customer_get(State(app): State<Arc<App>>, Path(id): Path<String>) -> Reply {
    blocking(&app, move |app| {
        server::with_id(&id, |id| {
            app.with_reader(|reader| server::customer(app, reader, id))
        })
    })
    .await
}

async fn customer_delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> Reply {
    blocking(&app, move |app| {
        server::with_id(&id, |id| {
            app.with_reader(|reader| server::forget(app, reader, id))
        })
    })
    .await
}

async fn customer_merge(State(app): State<Arc<App>>, Path(id): Path<String>, body: Body) -> Reply {
    let body = match read_body(body, app.config.max_body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    blocking(&app, move |app| {
        server::with_id(&id, |id| {
            app.with_reader(|reader| server::merge(app, reader, &body, id))
        })
    })
    .await
}

async fn bundle_get(State(app): State<Arc<App>>) -> Reply {
    server::bundle_info(&app)
}

async fn bundle_put(State(app): State<Arc<App>>, body: Body) -> Reply {
    let body = match read_body(body, app.config.max_bundle).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    blocking(&app, move |app| server::put_bundle(app, body.to_vec())).await
}

/// Authentication: the matched route's need against the `Authorization` header.
async fn authenticate(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str());
    let need = need(request.method(), path);
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match app.config.tokens.check(auth, need) {
        Ok(_) => next.run(request).await,
        Err(denied) => {
            app.metrics.auth_refusal(denied.code());
            tracing::warn!(
                status = denied.status(),
                reason = %denied.message(),
                "request refused by authentication"
            );
            let mut reply = Reply::error(denied.status(), denied.code(), denied.message());
            if denied.status() == 401 {
                reply = reply.header("WWW-Authenticate", "Bearer");
            }
            reply.into_response()
        }
    }
}

/// One log line and one metrics count per request; JSON bodies for the layers' errors.
async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let uri_path = request.uri().path().to_string();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let response = json_errors(next.run(request).await, &method, &uri_path);
    let route = route_label(&method, matched.as_deref());
    let status = response.status().as_u16();
    app.metrics.request(route, status);
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        request_id = %id,
        method = %method,
        route = matched.as_deref().unwrap_or("-"),
        status,
        latency_ms,
        "request"
    );
    response
}

/// A JSON error body for responses made by the layers or the router (they come without one).
fn json_errors(response: Response, method: &Method, path: &str) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", format!("no route for {method} {path}")),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            "the request body is too large".to_string(),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "the request did not complete in time".to_string(),
        ),
        s => ("error", s.canonical_reason().unwrap_or("error").to_string()),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut reply = Reply::error(status.as_u16(), code, message).into_response();
    if let Some(a) = allow {
        reply.headers_mut().insert(header::ALLOW, a);
    }
    reply
}

/// The routes and their layers.
pub fn router(app: Arc<App>) -> Router {
    let config = &app.config;
    let api = Router::new()
        .route("/readyz", get(readyz))
        .route("/healthz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/events", post(events))
        .route(
            "/v1/customers/{id}",
            get(customer_get).delete(customer_delete),
        )
        .route("/v1/customers/{id}/merge", post(customer_merge))
        .route("/v1/bundle", get(bundle_get).put(bundle_put))
        .route_layer(middleware::from_fn_with_state(app.clone(), authenticate))
        .layer(GlobalConcurrencyLimitLayer::new(
            config.max_concurrent.max(1),
        ));
    Router::new()
        .route("/livez", get(livez))
        .merge(api)
        .with_state(app.clone())
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(middleware::from_fn_with_state(app.clone(), observe))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    config.request_timeout,
                ))
                .layer(RequestBodyLimitLayer::new(MAX_DRAIN)),
        )
}

/// TLS from PEM files.
pub fn tls_acceptor(files: &crate::config::TlsFiles) -> Result<tokio_rustls::TlsAcceptor, String> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate {}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "TLS certificate {}: no certificate in the file",
            files.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("TLS key {}: {e}", files.key.display()))?;
    // ring (plain C and assembly; aws-lc-rs would need cmake on the shop's build machine).
    // Deprecated only for its lack of post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until `shutdown` resolves, then lets the connections finish their
/// request in flight, for at most the grace period. Returns the connections still open then.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> usize {
    let router = router(app.clone());
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.config.header_timeout)
        .keep_alive(true);
    let handshake_timeout = app.config.header_timeout;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, typically: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        let http = http.clone();
        match tls.clone() {
            None => {
                let conn = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = watcher.watch(http.serve_connection(TokioIo::new(tls), service));
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "no longer accepting; finishing the requests in flight"
    );
    let grace = app.config.shutdown_grace;
    let open = tokio::select! {
        () = graceful.shutdown() => 0,
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "connections still open after the grace period");
            1
        }
    };
    open
}
