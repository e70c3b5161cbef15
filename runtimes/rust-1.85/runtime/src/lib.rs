//! Slipway's Rust runtime: an HTTP server on port 3000 that follows the
//! open-runtimes v5 executor contract and runs a user's
//! `pub fn main(context: openruntimes::Context) -> openruntimes::Response`.
//!
//! The function is compiled into the same binary as this server, but it never
//! runs inside the server process. The binary starts copies of itself in
//! "worker" mode (see `worker.rs`); each worker runs one execution at a time.
//! This gives every execution its own stdout/stderr (captured into the
//! execution's logs), lets a timed-out execution be stopped for real, and keeps
//! the server alive when a function aborts, overflows its stack or calls
//! `process::exit`. Workers are reused, so `static` state in a function
//! survives between executions served by the same worker.

mod http;
mod logs;
mod pool;
mod protocol;
mod server;
mod signals;
mod worker;

/// The signature every function exports as `handler::main`.
pub type Handler = fn(openruntimes::Context) -> openruntimes::Response;

/// First argument that starts the binary as a worker instead of a server.
pub(crate) const WORKER_FLAG: &str = "--slipway-worker";
/// First argument that prints the runtime version and exits; the build uses it
/// to check that the binary it is about to ship can run at all.
const VERSION_FLAG: &str = "--slipway-version";

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs the server, or a worker when started with `--slipway-worker`.
pub fn run(handler: Handler) -> ! {
    let first = std::env::args_os().nth(1);
    match first.as_ref().and_then(|arg| arg.to_str()) {
        Some(WORKER_FLAG) => worker::main(handler),
        Some(VERSION_FLAG) => {
            println!("slipway-rust-runtime {VERSION}");
            std::process::exit(0)
        }
        _ => server::main(),
    }
}
