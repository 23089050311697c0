#![no_main]
//! `gannet::fuzzcheck::connect_json` on any input: no panic, no hang.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gannet::fuzzcheck::connect_json(data);
});
