//! Build script: records the git commit the binary is built from, for INFO and VARZ
//! `git_commit` (nats-server sets its own with `-ldflags` at build time).

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=GANNET_GIT_COMMIT={commit}");
    // A new commit changes HEAD (or the branch it points at).
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}
