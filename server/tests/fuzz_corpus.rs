//! Replays the fuzz corpora of the server's parsers (`server/tests/fuzz_corpus/<target>/`:
//! hand-written seeds from the tests' inputs and what fuzzing found worth keeping) through
//! the checks the cargo-fuzz targets run (`gannet::fuzzcheck`), so a regression shows in a
//! plain `cargo test`. The client and route protocol corpora are replayed by the protocol
//! crate.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files
}

#[test]
fn connect_json_corpus() {
    for (_, data) in corpus("connect_json") {
        gannet::fuzzcheck::connect_json(&data);
    }
}

#[test]
fn config_corpus() {
    let dir = std::env::temp_dir().join(format!("gannet-config-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("inc.conf"), "port: 4222\n").unwrap();
    for (_, data) in corpus("config") {
        gannet::fuzzcheck::config(&data, &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn jwt_corpus() {
    for (_, data) in corpus("jwt") {
        gannet::fuzzcheck::jwt(&data);
    }
}

#[test]
fn http_head_corpus() {
    for (_, data) in corpus("http_head") {
        gannet::fuzzcheck::http_head(&data);
    }
}

#[test]
fn go_text_corpus() {
    for (_, data) in corpus("go_text") {
        gannet::fuzzcheck::go_text(&data);
    }
}

#[test]
fn websocket_corpus() {
    for (_, data) in corpus("websocket") {
        gannet::fuzzcheck::websocket(&data);
    }
}
