//! `$SYS.REQ.SERVER.<id>.PROFILEZ` / `…PING.PROFILEZ` (spec sys.md §3.5.1): a CPU profile in
//! pprof format (gzipped protobuf, as Go writes it), sampled with the pprof crate on a thread
//! of its own because it sleeps for the requested duration. Errors go inside `data`, as
//! nats-server reports them: `{"profile": null, "error": "…"}`.
//!
//! Called by [`super::requests`], which starts the sampling thread.

use serde_json::{json, Value};
use std::time::Duration;

/// Longest CPU profile nats-server takes.
const CPU_PROFILE_MAX: Duration = Duration::from_secs(15);
/// Samples per second (Go's default CPU profiling rate is 100 Hz).
#[cfg(feature = "profiling")]
const SAMPLES_PER_SEC: i32 = 100;

/// What the request asks for, or the `data` to answer at once when it can't be served.
pub(super) enum Plan {
    /// Take a CPU profile for this long.
    Cpu(Duration),
    /// Answer with this `data`.
    Answer(Value),
}

/// Reads the request body `{"name": …, "debug": …, "duration": <ns>}`.
pub(super) fn plan(opts: &Value) -> Plan {
    let name = opts.get("name").and_then(Value::as_str).unwrap_or("");
    match name {
        "" => Plan::Answer(error("Profile name not specified")),
        "cpu" => {
            let ns = opts.get("duration").and_then(Value::as_i64).unwrap_or(0);
            let duration = Duration::from_nanos(ns.max(0) as u64);
            if ns <= 0 || duration > CPU_PROFILE_MAX {
                let text = if ns < 0 {
                    format!(
                        "-{}",
                        crate::gofmt::go_duration_string(Duration::from_nanos(ns.unsigned_abs()))
                    )
                } else {
                    crate::gofmt::go_duration_string(duration)
                };
                return Plan::Answer(error(&format!(
                    "Duration {text} should be between 0s and 15s"
                )));
            }
            Plan::Cpu(duration)
        }
        // Go's runtime profiles (heap, goroutine, allocs, …) have no counterpart here.
        other => Plan::Answer(error(&format!(
            "Profile {} not found",
            crate::gofmt::go_quote(other)
        ))),
    }
}

/// The reply `data` for a failed request.
fn error(text: &str) -> Value {
    json!({"profile": null, "error": text})
}

/// Samples the whole process for `duration` and returns the reply `data`.
pub(super) fn cpu_profile(duration: Duration) -> Value {
    match take(duration) {
        Ok(bytes) => {
            use base64::Engine;
            let profile = base64::engine::general_purpose::STANDARD.encode(bytes);
            json!({"profile": profile, "error": ""})
        }
        Err(e) => error(&e),
    }
}

#[cfg(feature = "profiling")]
fn take(duration: Duration) -> Result<Vec<u8>, String> {
    use pprof::protos::Message;
    use std::io::Write;
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(SAMPLES_PER_SEC)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| format!("Failed to start CPU profile: {e}"))?;
    std::thread::sleep(duration);
    let report = guard
        .report()
        .build()
        .map_err(|e| format!("Profile \"cpu\" error: {e}"))?;
    let profile = report
        .pprof()
        .map_err(|e| format!("Profile \"cpu\" error: {e}"))?;
    let mut raw = Vec::new();
    profile
        .encode(&mut raw)
        .map_err(|e| format!("Profile \"cpu\" error: {e}"))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw)
        .and_then(|()| gz.finish())
        .map_err(|e| format!("Profile \"cpu\" error: {e}"))
}

#[cfg(not(feature = "profiling"))]
fn take(_duration: Duration) -> Result<Vec<u8>, String> {
    Err("Failed to start CPU profile: gannet was built without the profiling feature".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(opts: Value) -> Value {
        match plan(&opts) {
            Plan::Answer(v) => v,
            Plan::Cpu(d) => panic!("would profile for {d:?}"),
        }
    }

    #[test]
    fn errors_match_nats_server() {
        assert_eq!(answer(json!({}))["error"], "Profile name not specified");
        assert_eq!(
            answer(json!({"name": "cpu"}))["error"],
            "Duration 0s should be between 0s and 15s"
        );
        assert_eq!(
            answer(json!({"name": "cpu", "duration": 16_000_000_000u64}))["error"],
            "Duration 16s should be between 0s and 15s"
        );
        assert_eq!(
            answer(json!({"name": "heap"})),
            json!({"profile": null, "error": "Profile \"heap\" not found"})
        );
        assert!(matches!(
            plan(&json!({"name": "cpu", "duration": 100_000_000})),
            Plan::Cpu(d) if d == Duration::from_millis(100)
        ));
    }
}
