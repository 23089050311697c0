#![no_main]
//! `gannet::fuzzcheck::jwt` on any input: no panic, no hang.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gannet::fuzzcheck::jwt(data);
});
