#![no_main]
//! `gannet::fuzzcheck::http_head` on any input: no panic, no hang.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gannet::fuzzcheck::http_head(data);
});
