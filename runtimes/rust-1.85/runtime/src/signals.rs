//! Signal handling for the server process (PID 1 in its container).
//!
//! SIGTERM, SIGINT and SIGCHLD are blocked in every server thread and taken
//! synchronously by one thread with `sigwait`: SIGCHLD reaps children (workers,
//! and any orphan a function left behind, which PID 1 inherits), SIGTERM and
//! SIGINT start a graceful shutdown.

use std::sync::Arc;

use crate::server::Server;

fn handled_set() -> libc::sigset_t {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        set
    }
}

/// Must run before any other thread is started, so that all of them inherit the mask.
pub fn block() {
    let set = handled_set();
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

pub fn spawn_handler(server: Arc<Server>) {
    let spawned = std::thread::Builder::new().name("slipway-signals".into()).spawn(move || {
        let set = handled_set();
        loop {
            let mut signal: libc::c_int = 0;
            if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                continue;
            }
            match signal {
                libc::SIGCHLD => server.pool.reap(),
                libc::SIGTERM => server.shutdown("SIGTERM"),
                libc::SIGINT => server.shutdown("SIGINT"),
                _ => {}
            }
        }
    });
    if let Err(err) = spawned {
        eprintln!("[slipway-runtime] cannot start the signal thread: {err}");
        std::process::exit(70);
    }
}
