#![no_main]
//! `gannet::fuzzcheck::websocket` on any input: the upgrade request, a hub's answer and the
//! frame decoder; no panic, no hang, the same result whatever the reads.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gannet::fuzzcheck::websocket(data);
});
