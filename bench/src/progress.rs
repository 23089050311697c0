//! A progress bar on stderr for long runs. It is drawn only when stderr is a terminal and the
//! run has already taken [`SHOW_AFTER`], so short runs, pipes and CI logs stay clean. A thread
//! polls a caller-supplied closure a few times per second; the measured threads never touch
//! the terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Runs shorter than this never show a bar.
pub const SHOW_AFTER: Duration = Duration::from_secs(2);
/// Redraw interval.
const TICK: Duration = Duration::from_millis(250);
/// Width of the bar itself, in cells.
const BAR_CELLS: usize = 30;

/// A running progress bar; dropping it (or [`Progress::finish`]) erases it.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts polling `status`, which returns the fraction done (0..=1) and a short text.
    /// Nothing is ever drawn when `enabled` is false or stderr is not a terminal.
    pub fn start<F>(label: &str, enabled: bool, status: F) -> Progress
    where
        F: Fn() -> (f64, String) + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { stop, thread: None };
        }
        let label = label.to_string();
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut drawn = false;
            while !stop2.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                if start.elapsed() < SHOW_AFTER {
                    continue;
                }
                let (frac, text) = status();
                let line = render(&label, frac, &text, start.elapsed());
                let _ = write!(std::io::stderr(), "\r{line}\x1b[K");
                drawn = true;
            }
            if drawn {
                let _ = write!(std::io::stderr(), "\r\x1b[K");
            }
        });
        Progress {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops and erases the bar.
    pub fn finish(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// One line of the bar: `pubsub [#######.......]  45%  1.2M msgs  3.4s`.
pub fn render(label: &str, frac: f64, text: &str, elapsed: Duration) -> String {
    let frac = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = (frac * BAR_CELLS as f64).round() as usize;
    format!(
        "{label} [{}{}] {:>3.0}%  {text}  {:.1}s",
        "#".repeat(full),
        ".".repeat(BAR_CELLS - full),
        frac * 100.0,
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_clamps_and_fills() {
        let line = render("pub", 0.5, "1M msgs", Duration::from_millis(3400));
        assert_eq!(
            line,
            format!(
                "pub [{}{}]  50%  1M msgs  3.4s",
                "#".repeat(15),
                ".".repeat(15)
            )
        );
        assert!(render("x", 7.0, "", Duration::ZERO).contains(&"#".repeat(BAR_CELLS)));
        assert!(render("x", f64::NAN, "", Duration::ZERO).contains("  0%"));
        assert!(render("x", -1.0, "", Duration::ZERO).contains(&".".repeat(BAR_CELLS)));
    }

    #[test]
    fn disabled_bar_spawns_nothing() {
        let p = Progress::start("x", false, || (0.0, String::new()));
        assert!(p.thread.is_none());
        p.finish();
    }
}
