//! Feeds arbitrary bytes to the route (server-to-server) parser, whole and cut into reads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    protocol::route::fuzz_check_whole(data);
    if let Some((&seed, rest)) = data.split_first() {
        protocol::route::fuzz_check_chunked(rest, seed);
    }
});
