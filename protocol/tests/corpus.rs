//! Replays every input in `tests/corpus/` (seeds and crashers the fuzzers found) through the
//! same checks the fuzz targets run, so stable CI keeps them fixed.

#[test]
fn replay_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read corpus file");
        protocol::parser::fuzz_check_whole(&data);
        for seed in [0u8, 1, 7, 255] {
            protocol::parser::fuzz_check_chunked(&data, seed);
        }
        n += 1;
    }
    assert!(n > 0, "corpus is empty");
}

/// The same for the route parser and `tests/route_corpus/`.
#[test]
fn replay_route_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/route_corpus");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("route corpus dir") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read corpus file");
        protocol::route::fuzz_check_whole(&data);
        for seed in [0u8, 1, 7, 255] {
            protocol::route::fuzz_check_chunked(&data, seed);
        }
        n += 1;
    }
    assert!(n > 0, "route corpus is empty");
}
