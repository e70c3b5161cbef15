//! The server: open-runtimes v5 contract on port 3000.
//!
//!   GET /__opr/health        200 "OK", no secret needed
//!   GET /__opr/timings       start-up timings recorded by helpers/start.sh
//!   anything else            one execution of the function
//!
//! Request headers understood (and hidden from the function):
//!   x-open-runtimes-secret     must equal OPEN_RUNTIMES_SECRET when that is set
//!   x-open-runtimes-timeout    seconds, integer > 0
//!   x-open-runtimes-logging    "enabled" (default) | anything else turns logging off
//!   x-open-runtimes-log-id     id of the log files; generated when absent ("dev"
//!                              in development). A named id gets both files from
//!                              the start, even empty, and is always returned; a
//!                              generated one gets only the files written to, and
//!                              is returned only if anything was logged (logs.rs).
//!                              With logging off the id returned is empty.
//!   x-open-runtimes-log-files  "lazy" (any case): a named id too gets only the
//!                              files written to, and is returned only if anything
//!                              was logged; anything else or absent leaves it eager.
//!
//! Environment: OPEN_RUNTIMES_SECRET, OPEN_RUNTIMES_HEADERS (JSON object of
//! headers forced onto every request), OPEN_RUNTIMES_ENV ("development" makes
//! the default log id "dev"), SLIPWAY_RUNTIME_LOGS_DIR (default /mnt/logs),
//! SLIPWAY_RUNTIME_MAX_WORKERS (default 16), SLIPWAY_RUNTIME_IDLE_WORKERS (default 4).

use std::io::Write;
use std::net::TcpListener;
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::http::{self, BodyKind, BodyRead, Connection, HeadError, Request, Response};
use crate::logs::{self, ExecutionLogs};
use crate::pool::{Outcome, Pool};
use crate::signals;

const PORT: u16 = 3000;
pub const BODY_LIMIT: usize = 20 * 1024 * 1024;
/// Past this much body the rest is not read: the connection is closed instead.
const DRAIN_LIMIT: u64 = 4 * BODY_LIMIT as u64;
const HEADER_PREFIX: &str = "x-open-runtimes-";
const TIMINGS_FILE: &str = "/mnt/telemetry/timings.txt";
const UNAUTHORIZED: &str = "Unauthorized. Provide correct \"x-open-runtimes-secret\" header.";
const BAD_TIMEOUT: &str = "Header \"x-open-runtimes-timeout\" must be an integer greater than 0.";
const BAD_LOG_ID: &str = "Header \"x-open-runtimes-log-id\" may only contain letters, digits, \"-\" and \"_\".";

pub struct Server {
    secret: String,
    development: bool,
    forced_headers: Vec<(String, String)>,
    logs_dir: PathBuf,
    pub pool: Pool,
    active: AtomicUsize,
    shutting_down: AtomicBool,
}

/// The container's real stdout, kept for the server's own messages.
static STDOUT: OnceLock<Mutex<std::fs::File>> = OnceLock::new();

pub fn write_stdout(bytes: &[u8]) {
    if let Some(out) = STDOUT.get() {
        let mut out = out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = out.write_all(bytes);
    }
}

fn say(message: &str) {
    write_stdout(format!("{message}\n").as_bytes());
}

pub fn main() -> ! {
    // Own messages go straight to fd 1, without Rust's stdout lock.
    let stdout = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 10) };
    if stdout >= 0 {
        let _ = STDOUT.set(Mutex::new(unsafe { std::fs::File::from_raw_fd(stdout) }));
    }
    signals::block();

    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let server = Arc::new(Server {
        secret: std::env::var("OPEN_RUNTIMES_SECRET").unwrap_or_default(),
        development: std::env::var("OPEN_RUNTIMES_ENV").is_ok_and(|env| env == "development"),
        forced_headers: parse_forced_headers(&std::env::var("OPEN_RUNTIMES_HEADERS").unwrap_or_default()),
        logs_dir: PathBuf::from(std::env::var("SLIPWAY_RUNTIME_LOGS_DIR").unwrap_or_else(|_| "/mnt/logs".into())),
        pool: Pool::new(exe, env_number("SLIPWAY_RUNTIME_MAX_WORKERS", 16), env_number("SLIPWAY_RUNTIME_IDLE_WORKERS", 4)),
        active: AtomicUsize::new(0),
        shutting_down: AtomicBool::new(false),
    });
    signals::spawn_handler(Arc::clone(&server));

    let listener = match TcpListener::bind(("0.0.0.0", PORT)) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("[slipway-runtime] cannot listen on port {PORT}: {err}");
            std::process::exit(1);
        }
    };
    {
        let server = Arc::clone(&server);
        let _ = std::thread::Builder::new().name("slipway-prewarm".into()).spawn(move || server.pool.prewarm());
    }
    record_startup_timing();
    say(&format!("HTTP server successfully started! Listening on port {PORT}."));

    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if server.shutting_down.load(Ordering::SeqCst) {
            continue;
        }
        let server = Arc::clone(&server);
        let spawned = std::thread::Builder::new()
            .name("slipway-connection".into())
            .spawn(move || serve_connection(&server, Connection::new(stream)));
        if let Err(err) = spawned {
            eprintln!("[slipway-runtime] cannot start a connection thread: {err}");
        }
    }
    std::process::exit(0)
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.trim().parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

fn parse_forced_headers(raw: &str) -> Vec<(String, String)> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(raw) else { return Vec::new() };
    object
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            (name.to_ascii_lowercase(), value)
        })
        .collect()
}

fn record_startup_timing() {
    let Some(started) = std::env::var("SLIPWAY_START_UPTIME").ok().and_then(|v| v.parse::<f64>().ok()) else {
        return;
    };
    let Some(now) = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
    else {
        return;
    };
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(TIMINGS_FILE) {
        let _ = writeln!(file, "startup={:.3}", now - started);
    }
}

impl Server {
    pub fn shutdown(self: &Arc<Self>, signal: &str) {
        if self.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        say(&format!("[slipway-runtime] {signal} received, shutting down."));
        let server = Arc::clone(self);
        // Waits in its own thread so that the signal thread keeps reaping.
        let _ = std::thread::Builder::new().name("slipway-shutdown".into()).spawn(move || {
            // docker stop waits 10 s by default before SIGKILL.
            for _ in 0..160 {
                if server.active.load(Ordering::SeqCst) == 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            server.pool.kill_all();
            std::process::exit(0);
        });
    }
}

fn serve_connection(server: &Server, mut connection: Connection) {
    loop {
        let request = match connection.read_request() {
            Ok(request) => request,
            Err(HeadError::Closed) => break,
            Err(HeadError::Bad(status)) => {
                let _ = connection.write_response(&Response::text(status, ""), false, false);
                break;
            }
        };
        server.active.fetch_add(1, Ordering::SeqCst);
        let (response, reusable) = handle(server, &mut connection, &request);
        server.active.fetch_sub(1, Ordering::SeqCst);
        let keep_alive = reusable && request.keep_alive && !server.shutting_down.load(Ordering::SeqCst);
        let written = connection.write_response(&response, request.method == "HEAD", keep_alive);
        if written.is_err() || !keep_alive {
            break;
        }
    }
    connection.shutdown();
}

/// Reads (and drops) a body the answer does not need. Returns whether the
/// connection can carry another request afterwards.
fn discard_body(connection: &mut Connection, request: &Request) -> bool {
    if matches!(request.body, BodyKind::Empty) {
        return true;
    }
    if let BodyKind::Length(length) = request.body {
        if length > DRAIN_LIMIT {
            return false;
        }
    }
    if request.expects_continue && connection.send_continue().is_err() {
        return false;
    }
    matches!(connection.read_body(request.body, 0, DRAIN_LIMIT), Ok(BodyRead::TooLarge { drained: true }) | Ok(BodyRead::Complete(_)))
}

/// Answers one request; the flag says whether the connection is still usable.
fn handle(server: &Server, connection: &mut Connection, request: &Request) -> (Response, bool) {
    let path = request.target.split(['?', '#']).next().unwrap_or("");
    if path == "/__opr/health" {
        let reusable = discard_body(connection, request);
        return (Response::text(200, "OK"), reusable);
    }
    if path == "/__opr/timings" {
        let reusable = discard_body(connection, request);
        return (Response::text(200, &std::fs::read_to_string(TIMINGS_FILE).unwrap_or_default()), reusable);
    }

    let runtime_header = |name: &str| request.header(&format!("{HEADER_PREFIX}{name}"));

    if !server.secret.is_empty() && !secret_matches(runtime_header("secret").unwrap_or(""), &server.secret) {
        let reusable = discard_body(connection, request);
        return (Response::text(500, UNAUTHORIZED), reusable);
    }

    let timeout = match runtime_header("timeout").map(str::trim) {
        None | Some("") => None,
        Some(value) => match parse_timeout(value) {
            Some(seconds) => Some(Duration::from_secs(seconds)),
            None => {
                let reusable = discard_body(connection, request);
                return (Response::text(500, BAD_TIMEOUT), reusable);
            }
        },
    };

    // As in open-runtimes: anything but "enabled" (or no header) turns logging off.
    let logging = match runtime_header("logging") {
        None | Some("") => true,
        Some(value) => value.eq_ignore_ascii_case("enabled"),
    };
    let (log_id, named_by_caller) = match runtime_header("log-id") {
        Some(id) if !id.is_empty() => {
            if !logs::is_valid_log_id(id) {
                let reusable = discard_body(connection, request);
                return (Response::text(500, BAD_LOG_ID), reusable);
            }
            (id.to_string(), true)
        }
        _ if server.development => ("dev".to_string(), false),
        _ => (logs::generate_log_id(), false),
    };
    // "x-open-runtimes-log-files: lazy" gives a named id the files of a generated one.
    let lazy_files = runtime_header("log-files").is_some_and(|value| value.eq_ignore_ascii_case("lazy"));
    let eager = named_by_caller && !lazy_files;
    let mut logs = ExecutionLogs::new(&server.logs_dir, if logging { log_id } else { String::new() }, eager);
    if logging && eager {
        // Before anything else can fail: the files are the caller's proof that
        // this request reached the runtime.
        logs.create_files();
    }

    if request.expects_continue {
        if let BodyKind::Length(length) = request.body {
            if length > DRAIN_LIMIT {
                return too_large(&mut logs, logging, false);
            }
        }
        if connection.send_continue().is_err() {
            return (Response::text(500, ""), false);
        }
    }
    let body = match connection.read_body(request.body, BODY_LIMIT, DRAIN_LIMIT) {
        Ok(BodyRead::Complete(body)) => body,
        Ok(BodyRead::TooLarge { drained }) => return too_large(&mut logs, logging, drained),
        Err(err) => {
            logs.error(&format!("Failed to read request body: {err}"));
            return finish(&mut logs, logging, empty_500(), false);
        }
    };

    let meta = execution_meta(server, request, logging, &logs.temporary_id);
    let execution = server.pool.execute(&meta, &body, timeout);
    drop(body);

    if logging {
        logs.collect_context_logs();
        logs.native(&execution.native, execution.native_truncated);
    } else {
        logs::discard_context_logs(&logs.temporary_id);
        write_stdout(&execution.native);
    }

    let response = match execution.outcome {
        Outcome::Finished(frame) => function_response(&mut logs, frame),
        Outcome::TimedOut => {
            logs.error("Execution timed out.");
            empty_500()
        }
        Outcome::Crashed(reason) => {
            logs.error(&reason);
            empty_500()
        }
        Outcome::Unavailable(reason) => {
            logs.error(&reason);
            eprintln!("[slipway-runtime] {reason}");
            empty_500()
        }
    };
    finish(&mut logs, logging, response, true)
}

fn too_large(logs: &mut ExecutionLogs, logging: bool, reusable: bool) -> (Response, bool) {
    logs.error(&format!("Request body is larger than the {} MB limit.", BODY_LIMIT / 1024 / 1024));
    finish(logs, logging, empty_500(), reusable)
}

fn empty_500() -> Response {
    Response::text(500, "")
}

/// Writes the execution's logs and adds `x-open-runtimes-log-id`, unless the
/// files are lazy (the runtime chose the id, or the caller asked for lazy files)
/// and nothing was logged (then no file has that id).
fn finish(logs: &mut ExecutionLogs, logging: bool, mut response: Response, reusable: bool) -> (Response, bool) {
    // With logging off the header is sent empty, as it always was.
    let return_id = if logging { logs.write() } else { true };
    if return_id {
        response.headers.push(("x-open-runtimes-log-id".into(), logs.id.clone()));
    }
    (response, reusable)
}

fn parse_timeout(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Absurdly large values are simply "no practical limit".
    let seconds = value.parse::<u64>().unwrap_or(u64::MAX / 4).min(100 * 365 * 86_400);
    (seconds > 0).then_some(seconds)
}

fn secret_matches(given: &str, secret: &str) -> bool {
    // Compares every byte whatever the lengths, so timing says nothing about the secret.
    let (a, b) = (given.as_bytes(), secret.as_bytes());
    let mut difference = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        difference |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    difference == 0
}

/// The request as the function sees it (see worker.rs for the other side).
fn execution_meta(server: &Server, request: &Request, logging: bool, temporary_id: &str) -> Vec<u8> {
    let mut headers = Map::new();
    for (name, value) in &request.headers {
        if name.starts_with(HEADER_PREFIX) {
            continue;
        }
        let merged = match headers.get(name).and_then(Value::as_str) {
            Some(previous) => format!("{previous}{}{value}", if name == "cookie" { "; " } else { ", " }),
            None => value.clone(),
        };
        headers.insert(name.clone(), Value::String(merged));
    }
    for (name, value) in &server.forced_headers {
        headers.insert(name.clone(), Value::String(value.clone()));
    }

    let scheme = request
        .header("x-forwarded-proto")
        .and_then(|value| value.split(',').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| "http".to_string());
    let default_port: u16 = if scheme == "https" { 443 } else { 80 };
    let (host, port) = parse_host(request.header("host").unwrap_or("localhost"), default_port);

    let target = strip_authority(&request.target);
    let target = target.split('#').next().unwrap_or("");
    let (path, query_string) = match target.split_once('?') {
        Some((path, query)) => (path, query),
        None => (target, ""),
    };
    let path = if path.is_empty() { "/" } else { path };
    let host_part = if host.contains(':') { format!("[{host}]") } else { host.clone() };
    let port_part = if port == default_port { String::new() } else { format!(":{port}") };
    let query_part = if query_string.is_empty() { String::new() } else { format!("?{query_string}") };
    let url = format!("{scheme}://{host_part}{port_part}{path}{query_part}");

    let meta = json!({
        "method": request.method,
        "url": url,
        "scheme": scheme,
        "host": host,
        "port": port,
        "path": path,
        "queryString": query_string,
        "query": parse_query(query_string),
        "headers": headers,
        "logging": logging,
        "logId": temporary_id,
    });
    serde_json::to_vec(&meta).unwrap_or_default()
}

/// `http://host/path?x` (absolute form) -> `/path?x`.
fn strip_authority(target: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if target.len() > scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &target[scheme.len()..];
            return rest.find('/').map(|index| &rest[index..]).unwrap_or("/");
        }
    }
    target
}

fn parse_host(header: &str, default_port: u16) -> (String, u16) {
    let header = header.trim();
    if let Some(rest) = header.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(default_port);
            return (host.to_string(), port);
        }
    }
    if let Some((host, port)) = header.rsplit_once(':') {
        if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            return (host.to_string(), port.parse().unwrap_or(default_port));
        }
        return (host.to_string(), default_port);
    }
    (header.to_string(), default_port)
}

/// Split on "&" and the first "=", no percent-decoding (as the Node runtimes do).
fn parse_query(query_string: &str) -> Map<String, Value> {
    let mut query = Map::new();
    for pair in query_string.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !key.is_empty() {
            query.insert(key.to_string(), Value::String(value.to_string()));
        }
    }
    query
}

/// Turns the function's Response into the HTTP answer.
fn function_response(logs: &mut ExecutionLogs, frame: crate::protocol::Frame) -> Response {
    let meta: Value = serde_json::from_slice(&frame.meta).unwrap_or(Value::Null);
    if let Some(report) = meta["panic"].as_str() {
        logs.error(report);
        return empty_500();
    }
    let mut status = meta["status"].as_u64().unwrap_or(200);
    if status == 0 {
        status = 200; // an unset status, as in the reference runtime
    }
    if !(100..=999).contains(&status) {
        logs.error(&format!("Invalid status code {status}: it must be an integer between 100 and 999."));
        return empty_500();
    }

    let mut headers: Vec<(String, String)> = Vec::new();
    let mut content_type = "text/plain".to_string();
    let mut names: Vec<(&String, &Value)> = meta["headers"].as_object().map(|o| o.iter().collect()).unwrap_or_default();
    names.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in names {
        let lower = name.to_ascii_lowercase();
        let value = value.as_str().unwrap_or("");
        if lower.starts_with(HEADER_PREFIX) {
            continue;
        }
        if !http::is_token(&lower) {
            logs.error(&format!("Invalid response header \"{name}\": the name is not a valid HTTP token."));
            return empty_500();
        }
        if lower == "content-type" {
            content_type = value.to_string();
            continue;
        }
        // A value with line breaks is several header lines (e.g. set-cookie).
        for line in value.split('\n').map(|line| line.trim_end_matches('\r')) {
            if !http::is_valid_value(line) {
                logs.error(&format!("Invalid response header \"{name}\": the value contains forbidden characters."));
                return empty_500();
            }
            headers.push((lower.clone(), line.to_string()));
        }
    }
    let content_type = with_charset(&content_type);
    if !http::is_valid_value(&content_type) {
        logs.error("Invalid response header \"content-type\": the value contains forbidden characters.");
        return empty_500();
    }
    headers.push(("content-type".into(), content_type));
    Response { status: status as u16, headers, body: frame.body }
}

/// Lower-cases the media type and adds `charset=utf-8` unless a charset is
/// named or the type is multipart (same rule as the node-20 runtime).
fn with_charset(content_type: &str) -> String {
    let mut parts = content_type.split(';');
    let media_type = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let mut params: Vec<String> = parts.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
    let has_charset = params.iter().any(|p| p.to_ascii_lowercase().starts_with("charset="));
    if !media_type.starts_with("multipart/") && !has_charset {
        params.push("charset=utf-8".into());
    }
    std::iter::once(media_type).chain(params).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_rules() {
        assert_eq!(with_charset("TEXT/PLAIN"), "text/plain; charset=utf-8");
        assert_eq!(with_charset("text/plain; charset=iso-8859-1"), "text/plain; charset=iso-8859-1");
        assert_eq!(with_charset("multipart/form-data; boundary=12345"), "multipart/form-data; boundary=12345");
        assert_eq!(with_charset("application/json"), "application/json; charset=utf-8");
    }

    #[test]
    fn hosts_and_queries() {
        assert_eq!(parse_host("www.mydomain.com:3001", 80), ("www.mydomain.com".into(), 3001));
        assert_eq!(parse_host("[::1]:8080", 80), ("::1".into(), 8080));
        assert_eq!(parse_host("myapp.com", 443), ("myapp.com".into(), 443));
        let query = parse_query("a=b&c==d&e=f=g=&h&i=j&&k");
        assert_eq!(Value::Object(query), json!({"a":"b","c":"=d","e":"f=g=","h":"","i":"j","k":""}));
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("5"), Some(5));
        for bad in ["abcd", "0", "-1", "1.5", ""] {
            assert_eq!(parse_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates() {
        let time = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http::http_date(time), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    use std::time::UNIX_EPOCH;
}
