//! Feeds arbitrary bytes to the client parser cut into reads, and checks that the ops are the
//! same as when the bytes arrive in one piece. The first byte picks the cut pattern.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&seed, rest)) = data.split_first() {
        protocol::parser::fuzz_check_chunked(rest, seed);
    }
});
