//! `--signal CMD[=PID]`: sending a signal to a running server (spec §3.2). Trapping signals in
//! the server itself happens in the control thread (`server.rs`).

use std::process::Command;

/// The signal a `--signal` command sends.
fn signal_for(command: &str) -> Option<i32> {
    match command {
        "stop" => Some(libc::SIGKILL),
        "quit" => Some(libc::SIGINT),
        "term" => Some(libc::SIGTERM),
        "reopen" => Some(libc::SIGUSR1),
        "reload" => Some(libc::SIGHUP),
        "ldm" => Some(libc::SIGUSR2),
        _ => None,
    }
}

/// Resolves the PID part of `--signal`: a pid file, a PID, or a PID prefix ending in `*`;
/// without one, the single running gannet process.
fn resolve_pids(target: Option<&str>) -> Result<Vec<i32>, String> {
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        return running_pids(None);
    };
    if let Ok(text) = std::fs::read_to_string(target) {
        let pid = text.trim();
        return pid
            .parse::<i32>()
            .map(|p| vec![p])
            .map_err(|_| format!("invalid pid: {pid}"));
    }
    if let Some(prefix) = target.strip_suffix('*') {
        return running_pids(Some(prefix));
    }
    target
        .parse::<i32>()
        .map(|p| vec![p])
        .map_err(|_| format!("invalid pid: {target}"))
}

fn running_pids(prefix: Option<&str>) -> Result<Vec<i32>, String> {
    let out = Command::new("pgrep")
        .arg("-x")
        .arg("gannet")
        .output()
        .map_err(|e| format!("unable to resolve pid, try providing one: {e}"))?;
    let me = std::process::id() as i32;
    let pids: Vec<i32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|p| *p != me)
        .filter(|p: &i32| prefix.is_none_or(|pre| p.to_string().starts_with(pre)))
        .collect();
    match pids.len() {
        0 => Err("no gannet processes running".to_string()),
        1 => Ok(pids),
        _ => {
            let list: Vec<String> = pids.iter().map(ToString::to_string).collect();
            Err(format!(
                "multiple gannet processes running:\n{}",
                list.join("\n")
            ))
        }
    }
}

/// Runs `--signal <spec>`, where spec is `cmd` or `cmd=<pid|pidfile|prefix*>`.
///
/// # Errors
/// Unknown command, bad PID, or the kill failed; the message is what the CLI prints.
pub fn send(spec: &str) -> Result<(), String> {
    let (command, target) = match spec.split_once('=') {
        Some((c, t)) => (c, Some(t)),
        None => (spec, None),
    };
    // nats-server resolves the PID before it validates the command name.
    let pids = resolve_pids(target)?;
    let sig = signal_for(command)
        .ok_or_else(|| format!("unknown signal {}", crate::gofmt::go_quote(command)))?;
    for pid in pids {
        // SAFETY: kill(2) with a plain pid and signal number has no memory-safety concerns.
        let rc = unsafe { libc::kill(pid, sig) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            let text = match err.raw_os_error() {
                Some(libc::ESRCH) => "no such process".to_string(),
                _ => err.to_string(),
            };
            return Err(format!(
                "\nsignal {} {pid}: {text}",
                crate::gofmt::go_quote(command)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_errors() {
        assert_eq!(signal_for("reload"), Some(libc::SIGHUP));
        assert_eq!(signal_for("ldm"), Some(libc::SIGUSR2));
        assert_eq!(signal_for("bogus"), None);
        assert_eq!(send("reload=abc"), Err("invalid pid: abc".to_string()));
        assert_eq!(send("bogus=1"), Err("unknown signal \"bogus\"".to_string()));
        assert_eq!(
            send("reload=999999"),
            Err("\nsignal \"reload\" 999999: no such process".to_string())
        );
    }
}
