//! Worker mode: runs executions of the user's function, one at a time.
//!
//! The server starts the worker with a Unix socket as its stdin and a capture
//! file as its stdout and stderr. The worker moves the socket off fd 0 (the
//! function gets /dev/null as stdin), then loops: receive an EXEC frame, build
//! the `Context`, call the function under `catch_unwind`, flush stdout/stderr
//! and send back a RESULT frame.
//!
//! `context.log()` / `context.error()` are buffered by the openruntimes crate's
//! `Logger` and written by `Logger::end()` as JSON lines under a temporary id in
//! /mnt/logs; the server turns those into the execution's real log files.
//! A reader thread keeps listening while the function runs so that an ABORT
//! (timeout) can flush the logs of a still-running execution before the
//! server kills this process.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

use openruntimes::{Context, Logger};
use serde_json::{json, Map, Value};

use crate::protocol::{read_frame, write_frame, Frame, ABORT, ABORTED, EXEC, RESULT};
use crate::Handler;

thread_local! {
    /// True on the worker's main thread while the function is running.
    static IN_EXECUTION: Cell<bool> = const { Cell::new(false) };
}

/// Panic report of the running execution, filled in by the panic hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

pub fn main(handler: Handler) -> ! {
    unblock_signals();

    // The protocol socket arrives as fd 0. Move it out of the way so that a
    // function reading stdin gets end-of-file instead of our frames.
    let socket_fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 10) };
    if socket_fd < 0 {
        fatal("cannot duplicate the protocol socket");
    }
    if let Ok(devnull) = File::open("/dev/null") {
        unsafe { libc::dup2(devnull.as_raw_fd(), 0) };
    }
    let socket = unsafe { UnixStream::from_raw_fd(socket_fd) };
    let writer = Arc::new(Mutex::new(match socket.try_clone() {
        Ok(clone) => clone,
        Err(_) => fatal("cannot clone the protocol socket"),
    }));

    install_panic_hook();

    // The logger of the running execution, for the abort path.
    let current: Arc<Mutex<Option<Logger>>> = Arc::new(Mutex::new(None));

    let (executions, incoming) = mpsc::channel::<Frame>();
    {
        let writer = Arc::clone(&writer);
        let current = Arc::clone(&current);
        let mut reader = socket;
        let spawned = std::thread::Builder::new()
            .name("slipway-control".into())
            .spawn(move || loop {
                match read_frame(&mut reader) {
                    Ok(Some(frame)) if frame.kind == EXEC => {
                        if executions.send(frame).is_err() {
                            std::process::exit(0);
                        }
                    }
                    Ok(Some(frame)) if frame.kind == ABORT => abort(&current, &writer),
                    Ok(Some(_)) => {}
                    // The server closed the socket (it is shutting down or
                    // dropped this worker): stop, even mid-execution.
                    Ok(None) | Err(_) => {
                        let _ = io::stdout().flush();
                        std::process::exit(0);
                    }
                }
            });
        if spawned.is_err() {
            fatal("cannot start the control thread");
        }
    }

    for frame in incoming {
        let (meta, body) = execute(handler, frame, &current);
        let mut out = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if write_frame(&mut *out, RESULT, &meta, &body).is_err() {
            std::process::exit(0);
        }
    }
    std::process::exit(0)
}

fn execute(handler: Handler, frame: Frame, current: &Mutex<Option<Logger>>) -> (Vec<u8>, Vec<u8>) {
    let meta: Value = serde_json::from_slice(&frame.meta).unwrap_or(Value::Null);
    let logging = meta["logging"].as_bool().unwrap_or(false);
    let log_id = meta["logId"].as_str().unwrap_or("").to_string();

    let logger = match Logger::new(if logging { "enabled" } else { "disabled" }, Some(log_id)) {
        Ok(logger) => logger,
        Err(message) => return result_frame(500, HashMap::new(), Vec::new(), Some(message)),
    };
    let mut context = Context::new(logger.clone());
    context.req.method = string_field(&meta, "method");
    context.req.url = string_field(&meta, "url");
    context.req.scheme = string_field(&meta, "scheme");
    context.req.host = string_field(&meta, "host");
    context.req.port = meta["port"].as_u64().and_then(|port| u16::try_from(port).ok()).unwrap_or(80);
    context.req.path = string_field(&meta, "path");
    context.req.query_string = string_field(&meta, "queryString");
    context.req.query = string_map(&meta["query"]);
    context.req.headers = string_map(&meta["headers"]);
    context.req.set_body_binary(frame.body);

    *lock(current) = Some(logger);
    *lock(&LAST_PANIC) = None;

    IN_EXECUTION.with(|flag| flag.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| handler(context)));
    IN_EXECUTION.with(|flag| flag.set(false));

    // Whatever the function printed must be in the capture file before the
    // server reads it, i.e. before the RESULT frame goes out.
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();

    // None here means a timeout's abort already flushed these logs.
    if let Some(logger) = lock(current).take() {
        logger.end();
    }

    match outcome {
        Ok(response) => result_frame(response.status_code, response.headers, response.body, None),
        Err(payload) => {
            let report = lock(&LAST_PANIC).take().unwrap_or_else(|| panic_message(payload.as_ref()));
            // Dropping a payload can itself panic; never let that kill the worker.
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
            result_frame(500, HashMap::new(), Vec::new(), Some(report))
        }
    }
}

fn result_frame(status: u16, headers: HashMap<String, String>, body: Vec<u8>, panic: Option<String>) -> (Vec<u8>, Vec<u8>) {
    let headers: Map<String, Value> = headers.into_iter().map(|(name, value)| (name, Value::String(value))).collect();
    let meta = json!({ "status": status, "headers": headers, "panic": panic });
    (serde_json::to_vec(&meta).unwrap_or_else(|_| b"{}".to_vec()), body)
}

/// Timeout: write out what the running execution has logged so far, then tell
/// the server, which kills this process afterwards.
fn abort(current: &Mutex<Option<Logger>>, writer: &Mutex<UnixStream>) {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    if let Some(logger) = lock(current).take() {
        logger.end();
    }
    let mut out = lock(writer);
    let _ = write_frame(&mut *out, ABORTED, b"{}", &[]);
}

fn install_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let mut report = info.to_string();
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            report.push_str(&format!("\nstack backtrace:\n{backtrace}"));
        }
        if IN_EXECUTION.with(|flag| flag.get()) {
            *lock(&LAST_PANIC) = Some(report);
        } else {
            // A thread the function started: report it like Rust would, on
            // stderr, which is captured into the execution's logs.
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("<unnamed>");
            let _ = writeln!(io::stderr(), "thread '{name}' {report}");
        }
    }));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        format!("panicked: {text}")
    } else if let Some(text) = payload.downcast_ref::<String>() {
        format!("panicked: {text}")
    } else {
        "panicked with a non-string payload".to_string()
    }
}

fn string_field(meta: &Value, key: &str) -> String {
    meta[key].as_str().unwrap_or("").to_string()
}

fn string_map(value: &Value) -> HashMap<String, String> {
    value
        .as_object()
        .map(|object| {
            object
                .iter()
                .map(|(key, value)| (key.clone(), value.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unblock_signals() {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn fatal(message: &str) -> ! {
    let _ = writeln!(io::stderr(), "[slipway-runtime] worker: {message}");
    std::process::exit(70)
}
