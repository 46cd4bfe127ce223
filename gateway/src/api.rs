//! HTTP routes: `/health`, `/metrics`, `/` (dashboard), and the JSON API under `/api/v1/`. Every error
//! is JSON `{"error": …}` with a 4xx/5xx status; no request can panic a handler (query strings are
//! parsed into typed structs, bodies are read with a limit, bus failures become 503).

// Handlers return `Result<HttpResponse, HttpResponse>` so `?` turns any failure into its answer; the
// large error type is the point, not an accident.
#![allow(clippy::result_large_err)]

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering;

use actix_web::dev::{Server, Service, ServiceRequest};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures::StreamExt;
use nfguard_proto::pb;
use nfguard_proto::units::HumanDuration;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::guard;
use crate::state::AppState;

/// Largest request body (a policy file); larger is 413.
pub const MAX_BODY: usize = 256 * 1024;
/// How long an API call waits for the store or policy process.
pub const BUS_TIMEOUT: Duration = Duration::from_secs(2);
/// Flows per page when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 100;

static DASHBOARD: &str = include_str!("dashboard.html");
static OPENAPI: &str = include_str!("openapi.json");

type St = web::Data<AppState>;

/// Builds the HTTP server on `listener`: one worker (bus sockets are per process, shared via `state`).
///
/// # Errors
/// When the listener cannot be used.
pub fn server(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let connections = state.connections.clone();
    let max_connections = state.max_connections;
    let data = web::Data::from(state);
    let headers: Arc<[(HeaderName, HeaderValue)]> = guard::security_headers(DASHBOARD).into();
    Ok(HttpServer::new(move || {
        let headers = headers.clone();
        App::new()
            .app_data(data.clone())
            // Inner: refusals are counted by the response counter around it.
            .wrap_fn(move |req, srv| {
                let headers = headers.clone();
                let served = match refusal(&req) {
                    Some(resp) => Err(req.into_response(resp)),
                    None => Ok(srv.call(req)),
                };
                async move {
                    let mut res = match served {
                        Ok(fut) => fut.await?.map_into_left_body(),
                        Err(refused) => refused.map_into_right_body(),
                    };
                    for (name, value) in headers.iter() {
                        res.headers_mut().insert(name.clone(), value.clone());
                    }
                    Ok(res)
                }
            })
            .wrap_fn(|req, srv| {
                let st = req.app_data::<St>().cloned();
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    if let Some(st) = st {
                        st.count_response(res.status().as_u16());
                    }
                    Ok(res)
                }
            })
            .route("/health", web::get().to(health))
            .route("/metrics", web::get().to(metrics))
            .route("/", web::get().to(dashboard))
            .service(
                web::scope("/api/v1")
                    .route("/openapi.json", web::get().to(openapi))
                    .route("/flows", web::get().to(flows))
                    .route("/apps/top", web::get().to(top_apps))
                    .route("/hosts/top", web::get().to(top_hosts))
                    .route("/rules/top", web::get().to(top_rules))
                    .route("/verdicts/top", web::get().to(top_verdicts))
                    .route("/totals", web::get().to(totals))
                    .route("/protocols", web::get().to(protocols))
                    .route("/policy", web::get().to(get_policy))
                    .route("/policy", web::put().to(put_policy))
                    .route("/status", web::get().to(status)),
            )
            .default_service(web::to(not_found))
    })
    .on_connect(move |_, ext| {
        ext.insert(connections.open(max_connections));
    })
    .max_connections(max_connections.saturating_add(guard::OVER_CAP_ALLOWANCE))
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// The answer for a request the gateway must not serve: its connection came past
/// `max_connections` (503, and the connection is closed), or its Host header is not allowed (421).
fn refusal(req: &ServiceRequest) -> Option<HttpResponse> {
    let st = req.app_data::<St>()?;
    if req
        .conn_data::<guard::ConnectionSlot>()
        .is_some_and(|c| c.over_cap)
    {
        st.over_cap.fetch_add(1, Ordering::Relaxed);
        return Some(
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "1"))
                .force_close()
                .json(json!({ "error": "too many open connections ([gateway] max_connections)" })),
        );
    }
    // A Host header that is not text can match nothing.
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\0"));
    if !st.hosts.allows(host) {
        st.bad_host.fetch_add(1, Ordering::Relaxed);
        return Some(error(
            StatusCode::MISDIRECTED_REQUEST,
            "this Host is not served ([gateway] allowed_hosts)",
        ));
    }
    None
}

fn error(status: StatusCode, msg: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": msg.into() }))
}

fn unauthorized(msg: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header(("WWW-Authenticate", "Bearer"))
        .json(json!({ "error": msg }))
}

/// Constant-time comparison so the token cannot be guessed byte by byte from response times.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer_ok(st: &AppState, req: &HttpRequest) -> bool {
    let Some(token) = &st.token else { return false };
    req.headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(bearer_credentials)
        .is_some_and(|t| same(t.as_bytes(), token.as_bytes()))
}

/// The token of an `Authorization: Bearer <token>` value; the scheme name is case-insensitive
/// (RFC 7235 §2.1) and separated from the token by one or more spaces.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// `Err(401)` when reads need the token (non-loopback `listen`) and the request lacks it.
fn read_guard(st: &AppState, req: &HttpRequest) -> Result<(), HttpResponse> {
    if st.reads_need_token && !bearer_ok(st, req) {
        return Err(unauthorized(
            "this gateway listens beyond loopback: reads need Authorization: Bearer <token>",
        ));
    }
    Ok(())
}

fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, HttpResponse> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad query string: {e}")))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `since`/`until` (Unix ms) or `window` (`"15m"`, `"1h"`, `"7d"`: the last that long).
fn time_range(
    since: Option<u64>,
    until: Option<u64>,
    window: Option<&str>,
    default_window: Duration,
) -> Result<(u64, u64), HttpResponse> {
    let until = until.unwrap_or(0);
    let end = if until == 0 { now_ms() } else { until };
    let since = match (since, window) {
        (Some(s), None) => s,
        (None, Some(w)) => {
            let d: HumanDuration = w
                .parse()
                .map_err(|e: String| error(StatusCode::BAD_REQUEST, format!("window: {e}")))?;
            end.saturating_sub(u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX))
        }
        (None, None) => end.saturating_sub(u64::try_from(default_window.as_millis()).unwrap_or(0)),
        (Some(_), Some(_)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "give either since or window, not both",
            ));
        }
    };
    if until != 0 && since > until {
        return Err(error(StatusCode::BAD_REQUEST, "since is after until"));
    }
    Ok((since, until))
}

async fn store_call(
    st: &AppState,
    body: pb::store_request::Body,
) -> Result<pb::store_response::Body, HttpResponse> {
    let rep = st
        .store
        .call(&pb::StoreRequest { body: Some(body) }, BUS_TIMEOUT)
        .await
        .map_err(|e| {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store unavailable: {e}"),
            )
        })?;
    match rep.body {
        Some(pb::store_response::Body::Error(e)) => Err(error(
            store_error_status(rep.error_kind),
            format!("store: {e}"),
        )),
        Some(b) => Ok(b),
        None => Err(error(StatusCode::BAD_GATEWAY, "store sent an empty reply")),
    }
}

/// The HTTP status for a store error by its kind: the client's mistakes are 400, a store that is
/// reopening its database 503, anything else 500.
pub fn store_error_status(kind: i32) -> StatusCode {
    match pb::StoreErrorKind::try_from(kind) {
        Ok(pb::StoreErrorKind::BadQuery) => StatusCode::BAD_REQUEST,
        Ok(pb::StoreErrorKind::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn policy_call(
    st: &AppState,
    body: pb::policy_request::Body,
) -> Result<pb::PolicyReply, HttpResponse> {
    let rep = st
        .policy
        .call(&pb::PolicyRequest { body: Some(body) }, BUS_TIMEOUT)
        .await
        .map_err(|e| {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("policy process unavailable: {e}"),
            )
        })?;
    match rep.body {
        Some(pb::policy_response::Body::Policy(p)) => Ok(p),
        _ => Err(error(
            StatusCode::BAD_GATEWAY,
            "policy process sent an unexpected reply",
        )),
    }
}

// ------------------------------------------------------------------ plain routes

async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

async fn metrics(st: St, req: HttpRequest) -> HttpResponse {
    if let Err(r) = read_guard(&st, &req) {
        return r;
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(st.render_metrics())
}

async fn dashboard() -> HttpResponse {
    // The page holds no data: it fetches the API itself (with a token from the URL fragment if needed).
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(DASHBOARD)
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        format!("no route for {} {}", req.method(), req.path()),
    )
}

// ------------------------------------------------------------------ flows

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowParams {
    since: Option<u64>,
    until: Option<u64>,
    window: Option<String>,
    app: Option<String>,
    host: Option<String>,
    verdict: Option<String>,
    rule: Option<String>,
    limit: Option<u32>,
    /// The previous page's `next`.
    after: Option<String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// One flow as JSON, in the shape of `nfguard replay --json` plus store fields.
pub fn flow_json(key: &[u8], f: &pb::FlowEvent) -> Value {
    let tuple = f
        .tuple
        .as_ref()
        .and_then(nfguard_proto::FlowKey::from_tuple);
    let c = f.classification.clone().unwrap_or_default();
    let name = |id: u32| {
        u16::try_from(id)
            .ok()
            .and_then(|i| nfguard_proto::protocols::by_id(nfguard_proto::AppId(i)))
            .map(|p| p.name)
    };
    let (master, app) = match f.label.split_once('.') {
        Some((m, a)) => (m.to_string(), a.to_string()),
        None => (f.label.clone(), f.label.clone()),
    };
    json!({
        "key": hex(key),
        "l4": tuple.map(|t| t.l4_name()),
        "src": tuple.map(|t| t.client.to_string()),
        "dst": tuple.map(|t| t.server.to_string()),
        "label": f.label,
        "master": name(c.master_id).map_or(master, str::to_string),
        "app": name(c.app_id).map_or(app, str::to_string),
        "app_id": c.app_id,
        "master_id": c.master_id,
        "category": c.category,
        "host": c.host,
        "risks": c.risks,
        "packets": f.packets_c2s.saturating_add(f.packets_s2c),
        "bytes": f.bytes_c2s.saturating_add(f.bytes_s2c),
        "bytes_c2s": f.bytes_c2s,
        "bytes_s2c": f.bytes_s2c,
        "verdict": f.verdict,
        "rule": if f.rule.is_empty() { Value::Null } else { Value::from(f.rule.clone()) },
        "first_seen_ms": f.first_seen_unix_ms,
        "last_seen_ms": f.last_seen_unix_ms,
        "state": match pb::FlowEventKind::try_from(f.kind) {
            Ok(pb::FlowEventKind::FlowEventEnd) => "ended",
            _ => "active",
        },
        "end_reason": if f.end_reason.is_empty() { Value::Null } else { Value::from(f.end_reason.clone()) },
        "offloaded": f.offloaded,
    })
}

async fn flows(st: St, req: HttpRequest) -> HttpResponse {
    match flows_inner(&st, &req).await {
        Ok(r) | Err(r) => r,
    }
}

async fn flows_inner(st: &AppState, req: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    read_guard(st, req)?;
    let p: FlowParams = query(req)?;
    let (since, until) = match (p.since, p.window.as_deref()) {
        (None, None) => (0, p.until.unwrap_or(0)),
        _ => time_range(p.since, p.until, p.window.as_deref(), Duration::ZERO)?,
    };
    let after_key = match p.after.as_deref() {
        None | Some("") => Vec::new(),
        Some(a) => unhex(a).ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "after: expected the hex cursor of a previous page",
            )
        })?,
    };
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > 1000 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "limit: must be between 1 and 1000",
        ));
    }
    let q = pb::FlowQuery {
        since_unix_ms: since,
        until_unix_ms: until,
        app: p.app.unwrap_or_default(),
        host: p.host.unwrap_or_default(),
        verdict: p.verdict.unwrap_or_default(),
        rule: p.rule.unwrap_or_default(),
        limit,
        after_key,
    };
    let pb::store_response::Body::Flows(page) =
        store_call(st, pb::store_request::Body::Flows(q)).await?
    else {
        return Err(error(
            StatusCode::BAD_GATEWAY,
            "store answered another query",
        ));
    };
    let flows: Vec<Value> = page
        .flows
        .iter()
        .filter_map(|r| r.flow.as_ref().map(|f| flow_json(&r.key, f)))
        .collect();
    let next = if page.next_key.is_empty() {
        Value::Null
    } else {
        Value::from(hex(&page.next_key))
    };
    Ok(HttpResponse::Ok().json(json!({ "flows": flows, "next": next })))
}

// ------------------------------------------------------------------ top-N and totals

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopParams {
    since: Option<u64>,
    until: Option<u64>,
    window: Option<String>,
    limit: Option<u32>,
}

async fn top(st: St, req: HttpRequest, by: pb::TopBy) -> HttpResponse {
    let r = async {
        read_guard(&st, &req)?;
        let p: TopParams = query(&req)?;
        let (since, until) = time_range(p.since, p.until, p.window.as_deref(), Duration::from_secs(3600))?;
        let limit = p.limit.unwrap_or(10);
        if limit == 0 || limit > 1000 {
            return Err(error(StatusCode::BAD_REQUEST, "limit: must be between 1 and 1000"));
        }
        let q = pb::TopQuery { by: by as i32, since_unix_ms: since, until_unix_ms: until, limit };
        let pb::store_response::Body::Top(t) = store_call(&st, pb::store_request::Body::Top(q)).await? else {
            return Err(error(StatusCode::BAD_GATEWAY, "store answered another query"));
        };
        let entries: Vec<Value> = t
            .entries
            .iter()
            .map(|e| json!({ "key": e.key, "flows": e.flows, "bytes": e.bytes, "packets": e.packets }))
            .collect();
        Ok(HttpResponse::Ok().json(json!({ "since_ms": since, "until_ms": until, "entries": entries })))
    }
    .await;
    match r {
        Ok(r) | Err(r) => r,
    }
}

async fn top_apps(st: St, req: HttpRequest) -> HttpResponse {
    top(st, req, pb::TopBy::App).await
}
async fn top_hosts(st: St, req: HttpRequest) -> HttpResponse {
    top(st, req, pb::TopBy::Host).await
}
async fn top_rules(st: St, req: HttpRequest) -> HttpResponse {
    top(st, req, pb::TopBy::Rule).await
}
async fn top_verdicts(st: St, req: HttpRequest) -> HttpResponse {
    top(st, req, pb::TopBy::Verdict).await
}

async fn totals(st: St, req: HttpRequest) -> HttpResponse {
    let r = async {
        read_guard(&st, &req)?;
        let p: TopParams = query(&req)?;
        let (since, until) = time_range(
            p.since,
            p.until,
            p.window.as_deref(),
            Duration::from_secs(3600),
        )?;
        let q = pb::TotalsQuery {
            since_unix_ms: since,
            until_unix_ms: until,
        };
        let pb::store_response::Body::Totals(t) =
            store_call(&st, pb::store_request::Body::Totals(q)).await?
        else {
            return Err(error(
                StatusCode::BAD_GATEWAY,
                "store answered another query",
            ));
        };
        Ok(HttpResponse::Ok().json(json!({
            "since_ms": since, "until_ms": until, "flows": t.flows, "bytes": t.bytes,
            "packets": t.packets, "records_stored": t.records_stored,
        })))
    }
    .await;
    match r {
        Ok(r) | Err(r) => r,
    }
}

// ------------------------------------------------------------------ protocols, policy, status

async fn protocols(st: St, req: HttpRequest) -> HttpResponse {
    if let Err(r) = read_guard(&st, &req) {
        return r;
    }
    let list: Vec<Value> = nfguard_proto::protocols::all()
        .map(|p| {
            json!({ "id": p.id.0, "name": p.name, "category": p.category, "breed": p.breed,
                         "tcp_ports": p.tcp_ports, "udp_ports": p.udp_ports })
        })
        .collect();
    HttpResponse::Ok()
        .json(json!({ "protocols": list, "categories": nfguard_proto::protocols::categories() }))
}

async fn get_policy(st: St, req: HttpRequest) -> HttpResponse {
    if let Err(r) = read_guard(&st, &req) {
        return r;
    }
    match policy_call(&st, pb::policy_request::Body::Get(pb::GetPolicy {})).await {
        Ok(p) if p.ok || p.error.is_empty() => {
            HttpResponse::Ok().json(json!({ "toml": p.toml, "epoch": p.epoch }))
        }
        Ok(p) => error(StatusCode::INTERNAL_SERVER_ERROR, p.error),
        Err(r) => r,
    }
}

/// Reads a body of at most [`MAX_BODY`] bytes that arrives within [`guard::BODY_TIMEOUT`] (408 after).
async fn read_body(payload: web::Payload) -> Result<Vec<u8>, HttpResponse> {
    tokio::time::timeout(guard::BODY_TIMEOUT, read_limited(payload))
        .await
        .unwrap_or_else(|_| {
            Err(HttpResponse::RequestTimeout()
                .force_close()
                .json(json!({ "error": format!("the body did not arrive within {:?}", guard::BODY_TIMEOUT) })))
        })
}

async fn read_limited(mut payload: web::Payload) -> Result<Vec<u8>, HttpResponse> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| error(StatusCode::BAD_REQUEST, format!("reading the body: {e}")))?;
        if body.len().saturating_add(chunk.len()) > MAX_BODY {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {MAX_BODY} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn put_policy(st: St, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    if st.token.is_none() {
        return unauthorized("writes are disabled: set [gateway] token_file");
    }
    if !bearer_ok(&st, &req) {
        return unauthorized("writes need Authorization: Bearer <token>");
    }
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {MAX_BODY} bytes"),
        );
    }
    let body = match read_body(payload).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(toml) = String::from_utf8(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the policy must be UTF-8 TOML text",
        );
    };
    // The policy process obeys PutPolicy only with the bus secret (proto/src/bus_secret.rs).
    let Some(secret) = &st.bus_secret else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this gateway holds no bus secret (--bus-secret-stdin), so the policy process refuses its changes",
        );
    };
    let put = pb::PutPolicy {
        toml,
        auth: secret.as_bytes().to_vec(),
    };
    match policy_call(&st, pb::policy_request::Body::Put(put)).await {
        Ok(p) if p.ok => HttpResponse::Ok().json(json!({ "ok": true, "epoch": p.epoch })),
        // FILE:LINE: TOML.PATH: message, from the policy process's parser.
        Ok(p) => error(StatusCode::BAD_REQUEST, p.error),
        Err(r) => r,
    }
}

async fn status(st: St, req: HttpRequest) -> HttpResponse {
    if let Err(r) = read_guard(&st, &req) {
        return r;
    }
    let procs: Vec<Value> = st
        .snapshots()
        .iter()
        .map(|s| {
            json!({
                "part": s.snapshot.part, "queue": s.snapshot.queue, "pid": s.snapshot.pid,
                "uptime_s": s.snapshot.uptime_s,
                "heartbeat_age_ms": u64::try_from(s.at.elapsed().as_millis()).unwrap_or(u64::MAX),
                "up": s.at.elapsed() <= crate::state::UP_WINDOW,
            })
        })
        .collect();
    let missing: Vec<&String> = st.parts.iter().filter(|p| !st.up(p)).collect();
    let kernel = st.kernel_queues();
    let queues: Vec<Value> = st
        .queues
        .iter()
        .map(|q| {
            let k = kernel.iter().find(|k| k.queue == u32::from(*q));
            json!({
                "queue": q,
                "capture_up": st.up(&format!("capture-q{q}")),
                "kernel_queue_packets": k.map(|k| k.queue_total),
                "kernel_queue_dropped": k.map(|k| k.queue_dropped),
                "kernel_user_dropped": k.map(|k| k.user_dropped),
            })
        })
        .collect();
    let epoch = policy_call(&st, pb::policy_request::Body::Get(pb::GetPolicy {}))
        .await
        .ok()
        .map(|p| p.epoch);
    HttpResponse::Ok().json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "gateway_uptime_s": st.started.elapsed().as_secs(),
        "processes": procs,
        "down": missing,
        "queues": queues,
        "epoch": epoch,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_error_kinds_map_to_statuses() {
        let s = |k: pb::StoreErrorKind| store_error_status(k as i32);
        assert_eq!(s(pb::StoreErrorKind::BadQuery), StatusCode::BAD_REQUEST);
        assert_eq!(
            s(pb::StoreErrorKind::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            s(pb::StoreErrorKind::Internal),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        // An old store that sends no kind: its errors are ours, not the client's.
        assert_eq!(
            s(pb::StoreErrorKind::Unspecified),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(store_error_status(99), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for v in ["Bearer tok", "bearer tok", "BEARER  tok ", " bEaReR tok"] {
            assert_eq!(bearer_credentials(v), Some("tok"), "{v:?}");
        }
        for v in ["Basic tok", "Bearertok", "Bearer ", "Bearer", "", "tok"] {
            assert_eq!(bearer_credentials(v), None, "{v:?}");
        }
    }
}
