//! Network namespaces for the chaos tests (issue 16, item 2): each node of a lab gets its own
//! namespace, joined to the others by a veth pair to a bridge in a "switch" namespace, so a
//! partition is one link taken down and a heal is the same link up again. Nothing touches the
//! host's own namespace: the addresses are private to the lab, and the test reaches a node
//! from a thread that has entered its namespace ([`within`]).

use std::os::fd::AsRawFd;
use std::process::Command;

/// The lab's subnet: node `i` is `10.77.0.<i + 1>`. Every lab has its own namespaces, so
/// labs of tests running in parallel never see each other's addresses.
const SUBNET: &str = "10.77.0";

/// A set of namespaces, one per node plus the switch; deleted on drop.
pub struct Lab {
    nodes: Vec<String>,
    switch: String,
}

/// Runs `ip` with `args`; whether it succeeded (its stderr is kept for the error).
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lab {
    /// A lab of `n` nodes, or why none can be made here (not root, no `ip`, no namespaces).
    pub fn new(n: usize) -> Result<Lab, String> {
        let tag = format!("g{}x{}", std::process::id(), super::cluster::unique());
        let mut lab = Lab {
            nodes: Vec::new(),
            switch: format!("{tag}sw"),
        };
        ip(&["netns", "add", &lab.switch])?;
        ip(&["-n", &lab.switch, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &lab.switch, "link", "set", "br0", "up"])?;
        for i in 0..n {
            let ns = format!("{tag}n{i}");
            ip(&["netns", "add", &ns])?;
            lab.nodes.push(ns.clone());
            let port = format!("p{i}");
            ip(&[
                "link",
                "add",
                "eth0",
                "netns",
                &ns,
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &lab.switch,
            ])?;
            ip(&["-n", &lab.switch, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &lab.switch, "link", "set", &port, "up"])?;
            let addr = format!("{}/24", lab.addr(i));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(lab)
    }

    /// A lab, or `None` after saying why the test is skipped. In CI (`CI` set, running as
    /// root) a lab must be possible: there the failure is the test's.
    pub fn new_or_skip(n: usize) -> Option<Lab> {
        match Lab::new(n) {
            Ok(lab) => Some(lab),
            Err(why) => {
                assert!(
                    std::env::var("CI").is_err(),
                    "network namespaces are needed in CI: {why}"
                );
                eprintln!("skipping: no network namespaces here ({why})");
                None
            }
        }
    }

    /// Node `i`'s namespace.
    pub fn ns(&self, i: usize) -> &str {
        &self.nodes[i]
    }

    /// Node `i`'s address on the lab network.
    pub fn addr(&self, i: usize) -> String {
        format!("{SUBNET}.{}", i + 1)
    }

    /// Cuts node `i` off the lab network (its switch port down): its established
    /// connections see nothing more, without a reset, as in a real partition.
    pub fn cut(&self, i: usize) {
        let port = format!("p{i}");
        ip(&["-n", &self.switch, "link", "set", &port, "down"]).expect("cut");
    }

    /// Joins node `i` to the lab network again.
    pub fn heal(&self, i: usize) {
        let port = format!("p{i}");
        ip(&["-n", &self.switch, "link", "set", &port, "up"]).expect("heal");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain(std::iter::once(&self.switch)) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Runs `f` on a thread inside network namespace `ns` (on this thread when `None`): sockets
/// made there stay in that namespace wherever they are used afterwards.
pub fn within<T: Send>(ns: Option<&str>, f: impl FnOnce() -> T + Send) -> T {
    let Some(ns) = ns else { return f() };
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                // SAFETY: setns on a valid namespace fd changes only this thread's network
                // namespace.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}
