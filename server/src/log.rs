//! Logging in nats-server's line format: `[pid] 2026/11/22 12:34:56.123456 [INF] message`.
//!
//! One process-wide logger behind a lock; it is only used on the control plane (connects,
//! errors, reloads), never per message. Output goes to stderr, or to the `-l`/`logfile` file,
//! which `reopen` (SIGUSR1) opens again after a log rotation.

use parking_lot::RwLock;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the logger prints and where.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
    /// Print `[DBG]` lines.
    pub debug: bool,
    /// Print `[TRC]` lines.
    pub trace: bool,
    /// Prefix lines with the local date and time (nats-server `logtime`, default on).
    pub logtime: bool,
    /// Use UTC instead of local time.
    pub logtime_utc: bool,
    /// Log to this file instead of stderr.
    pub file: Option<PathBuf>,
}

struct Logger {
    config: LogConfig,
    pid: u32,
    file: Option<File>,
}

static LOGGER: RwLock<Option<Logger>> = RwLock::new(None);
static DEBUG_ON: AtomicBool = AtomicBool::new(false);
static TRACE_ON: AtomicBool = AtomicBool::new(false);

/// Installs (or replaces, on reload) the logger configuration.
///
/// # Errors
/// The log file cannot be opened.
pub fn configure(config: LogConfig) -> std::io::Result<()> {
    let file = match &config.file {
        Some(path) => Some(open_log_file(path)?),
        None => None,
    };
    DEBUG_ON.store(config.debug, Ordering::Relaxed);
    TRACE_ON.store(config.trace, Ordering::Relaxed);
    *LOGGER.write() = Some(Logger {
        config,
        pid: std::process::id(),
        file,
    });
    Ok(())
}

fn open_log_file(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Reopens the log file (SIGUSR1), for log rotation.
pub fn reopen() {
    let mut guard = LOGGER.write();
    let Some(logger) = guard.as_mut() else { return };
    let Some(path) = logger.config.file.clone() else {
        drop(guard);
        warn("File log re-open ignored, not a file logger");
        return;
    };
    match open_log_file(&path) {
        Ok(f) => {
            logger.file = Some(f);
            drop(guard);
            notice("File log re-opened");
        }
        Err(e) => {
            drop(guard);
            error(&format!(
                "Unable to re-open log file {}: {e}",
                path.display()
            ));
        }
    }
}

/// Whether debug lines are printed (so callers can skip building the message).
pub fn debug_enabled() -> bool {
    DEBUG_ON.load(Ordering::Relaxed)
}

/// Whether trace lines are printed.
pub fn trace_enabled() -> bool {
    TRACE_ON.load(Ordering::Relaxed)
}

/// Logs at `[INF]`.
pub fn notice(msg: &str) {
    write("[INF]", msg);
}

/// Logs at `[WRN]`.
pub fn warn(msg: &str) {
    write("[WRN]", msg);
}

/// Logs at `[ERR]`.
pub fn error(msg: &str) {
    write("[ERR]", msg);
}

/// Logs at `[FTL]`.
pub fn fatal(msg: &str) {
    write("[FTL]", msg);
}

/// Logs at `[DBG]` when debug is on.
pub fn debug(msg: &str) {
    if debug_enabled() {
        write("[DBG]", msg);
    }
}

/// Logs at `[TRC]` when trace is on.
pub fn trace(msg: &str) {
    if trace_enabled() {
        write("[TRC]", msg);
    }
}

/// Logs a formatted line at `[DBG]`, building the text only when debug is on (a plain
/// `log::debug(&format!(…))` would format it on every call, even with debug off).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::debug_enabled() {
            $crate::log::debug(&format!($($arg)*));
        }
    };
}

/// Logs a formatted line at `[TRC]`, building the text only when trace is on.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::log::trace_enabled() {
            $crate::log::trace(&format!($($arg)*));
        }
    };
}

fn write(level: &str, msg: &str) {
    let guard = LOGGER.read();
    let (pid, logtime, utc) = match guard.as_ref() {
        Some(l) => (l.pid, l.config.logtime, l.config.logtime_utc),
        None => (std::process::id(), true, false),
    };
    let mut line = String::with_capacity(msg.len() + 48);
    line.push_str(&format!("[{pid}] "));
    if logtime {
        line.push_str(&timestamp(utc));
        line.push(' ');
    }
    line.push_str(level);
    line.push(' ');
    line.push_str(msg);
    line.push('\n');
    match guard.as_ref().and_then(|l| l.file.as_ref()) {
        Some(mut f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// `YYYY/MM/DD HH:MM:SS.uuuuuu` in local time or UTC, like Go's `log.LstdFlags|log.Lmicroseconds`.
fn timestamp(utc: bool) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: `tm` is plain old data; localtime_r/gmtime_r fill it and are thread-safe.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe {
        if utc {
            libc::gmtime_r(&secs, &mut tm);
        } else {
            libc::localtime_r(&secs, &mut tm);
        }
    }
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_shape() {
        let ts = super::timestamp(true);
        assert_eq!(ts.len(), 26, "{ts}");
        assert_eq!(&ts[4..5], "/");
        assert_eq!(&ts[19..20], ".");
    }
}
