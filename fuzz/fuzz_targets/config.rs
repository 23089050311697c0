#![no_main]
//! `gannet::fuzzcheck::config` on any input, includes resolved in a scratch directory
//! holding one small file (`inc.conf`) that inputs may include.

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gannet-fuzz-config-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("inc.conf"), "port: 4222\nA: { users: [ {user: a, password: a} ] }\n");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    gannet::fuzzcheck::config(data, scratch());
});
