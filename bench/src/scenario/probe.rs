//! Waiting for interest to cross a route. With `--sub-url`, a subscription made on one server
//! reaches the other one asynchronously (an `RS+` over the route); publishing before it has
//! would lose messages and fail the run for the wrong reason. So, after the scenario's own
//! subscriptions, a probe subscriber subscribes on the same server and a probe publisher on
//! the other server publishes until a probe arrives.
//!
//! Both servers send a route the interest changes of all their clients in one order
//! (nats-server through the route's outbound buffer, gannet through its `RouteLink` queue),
//! so once the probe's later subscription is effective on the other server, the scenario's
//! are too. The probe uses connections and a subject of its own, so a straggling probe can
//! never be counted as a delivery of the scenario.

use super::{connect_on, flow, Side};
use crate::args::Config;
use anyhow::{bail, Context as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long interest may take to cross before the run fails.
const WAIT_MAX: Duration = Duration::from_secs(5);
/// How often a probe is published while waiting.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// Probes published at most: one per interval for [`WAIT_MAX`].
const PROBES_MAX: u128 = WAIT_MAX.as_millis() / PROBE_INTERVAL.as_millis();
/// Numbers the probe subjects, so that a straggler of an earlier wait cannot end a later one.
static WAITS: AtomicU64 = AtomicU64::new(0);

/// Waits until the subscriptions made so far on `subs_on`'s server are effective on the other
/// server. Returns at once when both sides are the same server.
///
/// # Errors
/// A connection failed, or no probe arrived within [`WAIT_MAX`] (or before `deadline`).
pub(super) fn await_interest(cfg: &Config, subs_on: Side, deadline: Instant) -> anyhow::Result<()> {
    if !cfg.cross_server() {
        return Ok(());
    }
    let pubs_on = subs_on.other();
    let n = WAITS.fetch_add(1, Ordering::Relaxed);
    let subject = format!("bench.probe.{}.{n}", std::process::id());
    let mut sub = connect_on(cfg, subs_on, "probe-sub")?;
    // Short reads, so that the next probe goes out on time while none has arrived.
    sub.set_read_timeout(PROBE_INTERVAL)?;
    sub.write_all(format!("SUB {subject} 1\r\n").as_bytes(), deadline)
        .and_then(|()| sub.round_trip(deadline))
        .context("subscribing the probe")?;
    let mut publisher = connect_on(cfg, pubs_on, "probe-pub")?;
    let op = flow::pub_op(&subject, 0);
    let until = deadline.min(Instant::now() + WAIT_MAX);
    for _ in 0..PROBES_MAX {
        if Instant::now() > until {
            break;
        }
        publisher
            .write_all(&op, until)
            .context("publishing a probe")?;
        // Only the probe subject is subscribed on this connection.
        if sub.read_msgs(until, |_| {}).context("reading probes")? > 0 {
            return Ok(());
        }
    }
    bail!(
        "a subscription on {} did not become effective on {} within {WAIT_MAX:?}: no probe \
         message arrived (are the two servers one cluster, with the route up?)",
        subs_on.addr(cfg),
        pubs_on.addr(cfg)
    )
}
