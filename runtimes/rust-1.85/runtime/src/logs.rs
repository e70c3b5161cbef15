//! Per-execution log files, in the same plain-text form as Slipway's other
//! runtimes: `<dir>/<id>_logs.log` and `<dir>/<id>_errors.log`, one message per
//! line, a single message cut at 8000 characters.
//!
//! What goes in:
//! - `context.log()` / `context.error()`: the openruntimes crate's `Logger`
//!   writes them (as JSON lines) under a temporary id in /mnt/logs, its fixed
//!   folder; they are read back, turned into plain lines and the temporary
//!   files removed;
//! - native output (stdout and stderr of the function, e.g. `println!`), after
//!   a one-time notice, into the logs file;
//! - failures the runtime itself detects (panic, timeout, crash, ...), into the
//!   errors file.
//!
//! Which files exist depends on who chose the id:
//! - the caller named it (`x-open-runtimes-log-id`): both files are created when
//!   the execution starts, even if they stay empty, because Slipway's recovery
//!   takes their existence as proof that the runtime received the request
//!   ("eager");
//! - the runtime generated it (or "dev" in development), or the caller named it
//!   and sent `x-open-runtimes-log-files: lazy`: a file is created only if it
//!   gets content, so a quiet execution leaves nothing for the gateway to
//!   delete. A missing file means an empty log, and when neither file exists the
//!   id is not returned (`write()` says so). (The crate's `Logger` still writes
//!   its two temporary files on every execution; they are removed right away.)

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub const MAX_MESSAGE_CHARS: usize = 8000;
const TRUNCATION_NOTICE: &str = "... Log truncated due to size limit (8000 characters)";
const NATIVE_NOTICE: &str = "Native logs detected. Use context.log() or context.error() for better experience.";
/// Where the openruntimes crate's `Logger::end()` always writes.
const CRATE_LOG_DIR: &str = "/mnt/logs";

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

pub fn is_valid_log_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// 20 hex characters: 8 of seconds, 5 of milliseconds, 7 random (uniqid style).
pub fn generate_log_id() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let random = random_u32() & 0x0fff_ffff;
    format!("{:08x}{:05x}{:07x}", now.as_secs() as u32, now.subsec_millis(), random)
}

pub fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got != bytes.len() as isize {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        return nanos ^ std::process::id().rotate_left(16);
    }
    u32::from_le_bytes(bytes)
}

/// An id for the crate's Logger that no real execution uses.
pub fn temporary_id() -> String {
    let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
    format!(".slipway-{}-{seq}-{:08x}", std::process::id(), random_u32())
}

fn truncate(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => message.to_string(),
        Some((cut, _)) => format!("{}{TRUNCATION_NOTICE}", &message[..cut]),
    }
}

/// One execution's log files.
pub struct ExecutionLogs {
    dir: PathBuf,
    pub id: String,
    /// Id the function's `Logger` writes under (see module docs).
    pub temporary_id: String,
    logs: String,
    errors: String,
    /// The caller chose the id and not lazy files, so both files must exist (see module docs).
    eager: bool,
    /// Both files were created by `create_files()`.
    files_created: bool,
}

impl ExecutionLogs {
    pub fn new(dir: &Path, id: String, eager: bool) -> Self {
        ExecutionLogs {
            dir: dir.to_path_buf(),
            id,
            temporary_id: temporary_id(),
            logs: String::new(),
            errors: String::new(),
            eager,
            files_created: false,
        }
    }

    /// Creates both (empty) files at the start of an eager execution.
    pub fn create_files(&mut self) {
        if !self.create_dir() {
            return;
        }
        let created = [self.append("logs", ""), self.append("errors", "")];
        self.files_created = created.iter().all(|&ok| ok);
    }

    pub fn error(&mut self, message: &str) {
        self.errors.push_str(&truncate(message));
        self.errors.push('\n');
    }

    /// Moves what the function's `Logger` wrote into this execution's logs.
    pub fn collect_context_logs(&mut self) {
        for (suffix, errors) in [("logs", false), ("errors", true)] {
            let path = Path::new(CRATE_LOG_DIR).join(format!("{}_{suffix}.log", self.temporary_id));
            let Ok(content) = fs::read_to_string(&path) else { continue };
            let _ = fs::remove_file(&path);
            for line in content.lines().filter(|line| !line.is_empty()) {
                let message = match serde_json::from_str::<Value>(line) {
                    Ok(entry) => entry["message"].as_str().map(str::to_string).unwrap_or_else(|| line.to_string()),
                    Err(_) => line.to_string(),
                };
                let target = if errors { &mut self.errors } else { &mut self.logs };
                target.push_str(&truncate(&message));
                target.push('\n');
            }
        }
    }

    pub fn native(&mut self, output: &[u8], truncated: bool) {
        if output.is_empty() {
            return;
        }
        self.logs.push_str(NATIVE_NOTICE);
        self.logs.push('\n');
        let text = String::from_utf8_lossy(output);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        for line in text.split('\n') {
            self.logs.push_str(&truncate(line.strip_suffix('\r').unwrap_or(line)));
            self.logs.push('\n');
        }
        if truncated {
            self.logs.push_str(&format!(
                "... Native output truncated to its first {} MB.\n",
                crate::pool::NATIVE_OUTPUT_LIMIT / 1024 / 1024
            ));
        }
    }

    /// Appends what was logged to the files. Returns whether the id names any
    /// file, i.e. whether the response should carry it: always when eager,
    /// otherwise only if something was logged (see module docs).
    pub fn write(&self) -> bool {
        // An eager execution's empty file is still made here if creating it at
        // the start failed; otherwise an empty log needs no file at all.
        let must_exist = self.eager && !self.files_created;
        let files: Vec<(&str, &String)> = [("logs", &self.logs), ("errors", &self.errors)]
            .into_iter()
            .filter(|(_, content)| !content.is_empty() || must_exist)
            .collect();
        if !files.is_empty() && self.create_dir() {
            for (suffix, content) in files {
                self.append(suffix, content);
            }
        }
        self.eager || !self.logs.is_empty() || !self.errors.is_empty()
    }

    fn create_dir(&self) -> bool {
        match fs::create_dir_all(&self.dir) {
            Ok(()) => true,
            Err(err) => {
                eprintln!("[slipway-runtime] cannot create {}: {err}", self.dir.display());
                false
            }
        }
    }

    /// Appends to `<id>_<suffix>.log`, creating it if needed; a failing log
    /// disk is reported on stderr and never fails the execution.
    fn append(&self, suffix: &str, content: &str) -> bool {
        let path = self.dir.join(format!("{}_{suffix}.log", self.id));
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(content.as_bytes()));
        match written {
            Ok(()) => true,
            Err(err) => {
                eprintln!("[slipway-runtime] cannot write {}: {err}", path.display());
                false
            }
        }
    }
}

/// Removes what the function's Logger wrote when the execution's logging is off
/// (it writes nothing then, but a crash may leave partial files behind).
pub fn discard_context_logs(temporary_id: &str) {
    for suffix in ["logs", "errors"] {
        let _ = fs::remove_file(Path::new(CRATE_LOG_DIR).join(format!("{temporary_id}_{suffix}.log")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("slipway-logs-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|entries| entries.filter_map(|entry| entry.ok()).map(|entry| entry.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn a_generated_id_gets_only_the_files_written_to() {
        let dir = scratch_dir("generated");
        let quiet = ExecutionLogs::new(&dir, "quiet".into(), false);
        assert!(!quiet.write(), "a quiet execution's id is not returned");
        assert!(files_in(&dir).is_empty());

        let mut failed = ExecutionLogs::new(&dir, "failed".into(), false);
        failed.error("boom");
        assert!(failed.write());
        assert_eq!(files_in(&dir), ["failed_errors.log"]);
        assert_eq!(fs::read_to_string(dir.join("failed_errors.log")).unwrap(), "boom\n");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_named_id_gets_both_files_from_the_start() {
        let dir = scratch_dir("named");
        let mut logs = ExecutionLogs::new(&dir, "named".into(), true);
        logs.create_files();
        assert_eq!(files_in(&dir), ["named_errors.log", "named_logs.log"]);
        logs.native(b"hello\n", false);
        assert!(logs.write());
        assert_eq!(fs::read_to_string(dir.join("named_logs.log")).unwrap(), format!("{NATIVE_NOTICE}\nhello\n"));
        assert_eq!(fs::read_to_string(dir.join("named_errors.log")).unwrap(), "");

        // Made at the end if they could not be made at the start.
        let late = ExecutionLogs::new(&dir, "late".into(), true);
        assert!(late.write());
        assert!(dir.join("late_logs.log").exists() && dir.join("late_errors.log").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
