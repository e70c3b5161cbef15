//! Worker processes: starting, reusing, stopping and reaping them.
//!
//! Each worker is this same binary started with `--slipway-worker`. Its stdin
//! is a Unix socket to the server; its stdout and stderr both go to one
//! unlinked temporary file (the "capture file") that the server truncates
//! before and reads after every execution. A worker runs one execution at a
//! time; idle workers are kept for reuse (up to `max_idle`), and at most
//! `max_workers` exist at once.
//!
//! All children are reaped here (`reap`, driven by SIGCHLD), which also
//! collects orphans a function may leave behind: the server is PID 1.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::protocol::{read_frame, write_frame, Frame, ABORT, ABORTED, EXEC, RESULT};
use crate::WORKER_FLAG;

/// Most native output kept for one execution.
pub const NATIVE_OUTPUT_LIMIT: u64 = 4 * 1024 * 1024;
/// How long a timed-out worker gets to flush its logs before it is killed.
const ABORT_GRACE: Duration = Duration::from_secs(2);

pub struct Worker {
    pid: i32,
    socket: UnixStream,
    capture: File,
}

#[derive(Default)]
struct Process {
    /// Raw wait status once reaped.
    status: Option<i32>,
    /// Dropped by the pool: forget the entry as soon as it is reaped.
    discarded: bool,
}

#[derive(Default)]
struct State {
    idle: Vec<Worker>,
    /// Workers that exist (idle, busy or starting).
    live: usize,
}

pub enum Outcome {
    /// The function returned (or panicked, which `meta.panic` reports).
    Finished(Frame),
    /// The deadline passed; the worker has been stopped.
    TimedOut,
    /// The worker died during the execution.
    Crashed(String),
    /// No worker could be started or reached.
    Unavailable(String),
}

pub struct Execution {
    pub outcome: Outcome,
    /// stdout + stderr of the function during the execution (at most NATIVE_OUTPUT_LIMIT bytes).
    pub native: Vec<u8>,
    pub native_truncated: bool,
}

pub struct Pool {
    exe: PathBuf,
    max_workers: usize,
    max_idle: usize,
    state: Mutex<State>,
    available: Condvar,
    processes: Mutex<HashMap<i32, Process>>,
    exited: Condvar,
    capture_seq: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Pool {
    pub fn new(exe: PathBuf, max_workers: usize, max_idle: usize) -> Self {
        Pool {
            exe,
            max_workers: max_workers.max(1),
            max_idle,
            state: Mutex::new(State::default()),
            available: Condvar::new(),
            processes: Mutex::new(HashMap::new()),
            exited: Condvar::new(),
            capture_seq: AtomicU64::new(0),
        }
    }

    /// Starts one idle worker ahead of the first execution.
    pub fn prewarm(&self) {
        {
            let mut state = lock(&self.state);
            if state.live >= self.max_workers {
                return;
            }
            state.live += 1;
        }
        match self.spawn() {
            Ok(worker) => self.release(worker),
            Err(err) => {
                self.forget_one();
                eprintln!("[slipway-runtime] cannot start a worker: {err}");
            }
        }
    }

    /// Runs one execution on an idle or new worker.
    pub fn execute(&self, meta: &[u8], body: &[u8], timeout: Option<Duration>) -> Execution {
        let started = Instant::now();
        let mut worker = match self.acquire() {
            Ok(worker) => worker,
            Err(err) => return unavailable(format!("Could not start the function process: {err}")),
        };
        reset_capture(&worker);

        // A reused worker may have died while idle; that shows as a failed
        // write of the request, before anything ran, so one retry is safe.
        if let Err(err) = write_frame(&mut worker.socket, EXEC, meta, body) {
            self.discard(worker);
            worker = match self.acquire_fresh() {
                Ok(worker) => worker,
                Err(spawn_err) => {
                    return unavailable(format!("Could not reach the function process ({err}) nor start a new one: {spawn_err}"))
                }
            };
            reset_capture(&worker);
            if let Err(err) = write_frame(&mut worker.socket, EXEC, meta, body) {
                self.discard(worker);
                return unavailable(format!("Could not reach the function process: {err}"));
            }
        }

        let deadline = timeout.map(|timeout| started + timeout);
        match read_until(&worker.socket, deadline, RESULT) {
            Ok(Some(frame)) => {
                let (native, native_truncated) = take_capture(&worker);
                self.release(worker);
                Execution { outcome: Outcome::Finished(frame), native, native_truncated }
            }
            Err(err) if is_timeout(&err) => {
                // Ask the worker to flush what the execution logged so far,
                // give it a moment, then stop it for good.
                let _ = write_frame(&mut worker.socket, ABORT, b"{}", &[]);
                let _ = read_until(&worker.socket, Some(Instant::now() + ABORT_GRACE), ABORTED);
                let (native, native_truncated) = take_capture(&worker);
                self.discard(worker);
                Execution { outcome: Outcome::TimedOut, native, native_truncated }
            }
            Ok(None) | Err(_) => {
                let (native, native_truncated) = take_capture(&worker);
                let reason = self.exit_reason(worker.pid, Duration::from_millis(1000));
                self.discard(worker);
                Execution { outcome: Outcome::Crashed(reason), native, native_truncated }
            }
        }
    }

    fn acquire(&self) -> io::Result<Worker> {
        let mut state = lock(&self.state);
        loop {
            while let Some(worker) = state.idle.pop() {
                if self.is_running(worker.pid) {
                    return Ok(worker);
                }
                state.live -= 1;
                drop(state);
                self.discard_counted(worker);
                state = lock(&self.state);
            }
            if state.live < self.max_workers {
                state.live += 1;
                drop(state);
                return self.spawn().inspect_err(|_| self.forget_one());
            }
            state = self
                .available
                .wait_timeout(state, Duration::from_millis(500))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// A new worker, even when idle ones exist (used after a failed reuse).
    fn acquire_fresh(&self) -> io::Result<Worker> {
        lock(&self.state).live += 1;
        self.spawn().inspect_err(|_| self.forget_one())
    }

    fn forget_one(&self) {
        let mut state = lock(&self.state);
        state.live = state.live.saturating_sub(1);
        self.available.notify_one();
    }

    fn release(&self, worker: Worker) {
        let mut state = lock(&self.state);
        if state.idle.len() < self.max_idle && self.is_running(worker.pid) {
            state.idle.push(worker);
            self.available.notify_one();
        } else {
            state.live -= 1;
            self.available.notify_one();
            drop(state);
            self.discard_counted(worker);
        }
    }

    /// Stops a worker that was counted in `live` and takes it off the count.
    fn discard(&self, worker: Worker) {
        self.forget_one();
        self.discard_counted(worker);
    }

    /// Stops a worker whose `live` count has already been dropped.
    fn discard_counted(&self, worker: Worker) {
        let mut processes = lock(&self.processes);
        match processes.get_mut(&worker.pid) {
            Some(process) if process.status.is_some() => {
                processes.remove(&worker.pid);
            }
            Some(process) => {
                process.discarded = true;
                // Still ours (not reaped), so the pid cannot have been reused.
                // The worker leads its own process group: processes the
                // function started go down with it.
                unsafe {
                    libc::kill(-worker.pid, libc::SIGKILL);
                    libc::kill(worker.pid, libc::SIGKILL);
                }
            }
            None => {}
        }
        // Dropping the worker closes its socket and capture file.
    }

    fn spawn(&self) -> io::Result<Worker> {
        let (ours, theirs) = UnixStream::pair()?;
        let capture = self.create_capture()?;
        let mut command = Command::new(&self.exe);
        command
            .arg(WORKER_FLAG)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::from(capture.try_clone()?))
            .stderr(Stdio::from(capture.try_clone()?))
            .process_group(0);
        // Registered under the lock, so the reaper cannot miss this pid.
        let mut processes = lock(&self.processes);
        let child = command.spawn()?;
        let pid = child.id() as i32;
        processes.insert(pid, Process::default());
        drop(processes);
        drop(child); // not waited on here: `reap` collects it
        Ok(Worker { pid, socket: ours, capture })
    }

    fn create_capture(&self) -> io::Result<File> {
        let dir = std::env::temp_dir();
        let seq = self.capture_seq.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("slipway-worker-{}-{seq}.out", std::process::id()));
        let file = OpenOptions::new().read(true).append(true).create_new(true).open(&path)?;
        // Unlinked at once: the file lives as long as the descriptors do.
        let _ = std::fs::remove_file(&path);
        Ok(file)
    }

    fn is_running(&self, pid: i32) -> bool {
        matches!(lock(&self.processes).get(&pid), Some(process) if process.status.is_none())
    }

    /// Waits (briefly) for a dead worker to be reaped and describes how it ended.
    fn exit_reason(&self, pid: i32, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        let mut processes = lock(&self.processes);
        loop {
            if let Some(status) = processes.get(&pid).and_then(|process| process.status) {
                processes.remove(&pid);
                return describe_status(status);
            }
            let now = Instant::now();
            if now >= deadline {
                return "The function process ended unexpectedly.".to_string();
            }
            processes = self
                .exited
                .wait_timeout(processes, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// Reaps every child that has exited (workers and adopted orphans).
    pub fn reap(&self) {
        loop {
            // Peek first (WNOWAIT) and reap under the lock, so that `discard`
            // never signals a pid that has already been released.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            let peeked = unsafe {
                libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
            };
            if peeked != 0 {
                return; // ECHILD: no children left
            }
            let pid = unsafe { info.si_pid() };
            if pid == 0 {
                return; // children exist, none has exited
            }
            let mut processes = lock(&self.processes);
            let mut status: libc::c_int = 0;
            let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if reaped != pid {
                continue;
            }
            if let Some(process) = processes.get_mut(&pid) {
                if process.discarded {
                    processes.remove(&pid);
                } else {
                    process.status = Some(status);
                }
                self.exited.notify_all();
            }
        }
    }

    /// Kills every worker (shutdown).
    pub fn kill_all(&self) {
        let processes = lock(&self.processes);
        for (pid, process) in processes.iter() {
            if process.status.is_none() {
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
        }
    }
}

fn unavailable(message: String) -> Execution {
    Execution { outcome: Outcome::Unavailable(message), native: Vec::new(), native_truncated: false }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Reads frames until one of `kind` arrives. Errors with TimedOut past `deadline`.
fn read_until(socket: &UnixStream, deadline: Option<Instant>, kind: u8) -> io::Result<Option<Frame>> {
    let mut reader = DeadlineReader { socket, deadline };
    loop {
        match read_frame(&mut reader)? {
            Some(frame) if frame.kind == kind => return Ok(Some(frame)),
            Some(_) => continue,
            None => return Ok(None),
        }
    }
}

struct DeadlineReader<'a> {
    socket: &'a UnixStream,
    deadline: Option<Instant>,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let timeout = match self.deadline {
            None => None,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Some(left)
            }
        };
        self.socket.set_read_timeout(timeout)?;
        let mut socket = self.socket;
        socket.read(buf)
    }
}

/// Before an execution: whatever a worker printed while idle (a thread the
/// function left running, say) goes to the container's output, then the
/// capture file starts empty.
fn reset_capture(worker: &Worker) {
    let (leftover, _) = take_capture(worker);
    if !leftover.is_empty() {
        crate::server::write_stdout(&leftover);
    }
}

/// Everything captured since the last call; the capture file starts over.
fn take_capture(worker: &Worker) -> (Vec<u8>, bool) {
    let taken = read_capture(worker);
    let _ = worker.capture.set_len(0);
    taken
}

fn read_capture(worker: &Worker) -> (Vec<u8>, bool) {
    let size = worker.capture.metadata().map(|meta| meta.len()).unwrap_or(0);
    let wanted = size.min(NATIVE_OUTPUT_LIMIT) as usize;
    let mut data = vec![0u8; wanted];
    let mut filled = 0;
    while filled < wanted {
        match worker.capture.read_at(&mut data[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    data.truncate(filled);
    (data, size > NATIVE_OUTPUT_LIMIT)
}

fn describe_status(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        let name = match signal {
            libc::SIGABRT => " (SIGABRT)",
            libc::SIGSEGV => " (SIGSEGV)",
            libc::SIGBUS => " (SIGBUS)",
            libc::SIGILL => " (SIGILL)",
            libc::SIGFPE => " (SIGFPE)",
            libc::SIGKILL => " (SIGKILL, possibly out of memory)",
            _ => "",
        };
        format!("The function process was killed by signal {signal}{name}.")
    } else if libc::WIFEXITED(status) {
        format!("The function process exited with code {} during the execution.", libc::WEXITSTATUS(status))
    } else {
        "The function process ended unexpectedly.".to_string()
    }
}
