//! Feeds arbitrary bytes to the client parser in one piece.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    protocol::parser::fuzz_check_whole(data);
});
