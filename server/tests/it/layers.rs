//! The module layers of `server/src` (docs/ARCHITECTURE.md, "Layers"), enforced.
//!
//! A module may use only modules of its own layer or of lower ones. The test reads the sources,
//! collects every `crate::…` and `super::…` path outside `#[cfg(test)]` code (grouped `use`
//! trees and inline paths alike, plus a parent's `use child::…`), resolves each to the module
//! file it names and fails on an edge that points up. A second check fails on any cycle
//! between modules, apart from sibling files of one directory module (`worker/*`) and the
//! `account`/`sub` pair, which reference each other as nats-server's `subscription.im` and
//! `Account` do. A new module must be given a layer here before the test passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// From the bottom up. Keep in step with docs/ARCHITECTURE.md.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves",
        &[
            "gofmt",
            "ids",
            "cli",
            "conf",
            "conf::lex",
            "conf::parse",
            "connect",
            "info",
            "jwt",
            "log",
            "signals",
        ],
    ),
    (
        "config",
        &[
            "opts",
            "opts::config",
            "opts::flags",
            "reload",
            "auth::config",
            "auth::dirstore",
            "tls",
            "tls::config",
            "tls::build",
            "tls::ciphers",
            "tls::test_certs",
        ],
    ),
    (
        "model",
        &[
            "account",
            "sub",
            "auth",
            "auth::perms",
            "auth::cert",
            "auth::operator",
            "auth::resolver",
            "auth::user_jwt",
            "auth::claims",
            "auth::pool",
            "auth::test_claims",
        ],
    ),
    (
        "plumbing",
        &[
            "runtime",
            "shared",
            "msgs",
            "msgs::batch",
            "msgs::snapshot",
            "msgs::sys",
        ],
    ),
    (
        "threads",
        &[
            "worker",
            "worker::conn",
            "worker::conns",
            "worker::control",
            "worker::dispatch",
            "worker::io",
            "worker::route",
            "worker::snapshot",
            "worker::timers",
            "worker::tls",
            "sys",
            "sys::claims",
            "sys::events",
            "sys::profilez",
            "sys::requests",
            "monitor",
            "monitor::http",
            "monitor::status",
        ],
    ),
    ("app", &["server"]),
];

/// Pairs of modules allowed to use each other although neither is the other's parent.
const MUTUAL: &[(&str, &str)] = &[("account", "sub")];

/// Module path (`auth::config`) → source file, for every file under `src` except the crate
/// roots.
fn modules(src: &Path) -> BTreeMap<String, std::path::PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            // Unit-test files (`x/tests.rs`) are test code, outside the layers.
            if !parts.is_empty() && parts.last().map(String::as_str) != Some("tests") {
                out.insert(parts.join("::"), path);
            }
        }
    }
    out
}

/// The file's text without its test module and line comments.
fn code_of(text: &str) -> String {
    let mut end = text.len();
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let at = from + at;
        let rest = text[at + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod ") || rest.starts_with("pub mod ") {
            end = at;
            break;
        }
        from = at + 1;
    }
    text[..end]
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads a path or `use` tree starting at `at` (just after `crate::` or `super::`) and adds
/// every full path it names to `out`, each prefixed with `prefix`.
fn use_tree(code: &[u8], mut at: usize, prefix: &str, out: &mut Vec<String>) -> usize {
    let mut path = prefix.to_string();
    loop {
        while at < code.len() && code[at].is_ascii_whitespace() {
            at += 1;
        }
        if code.get(at) == Some(&b'{') {
            at += 1;
            loop {
                at = use_tree(code, at, &path, out);
                while at < code.len() && (code[at].is_ascii_whitespace() || code[at] == b',') {
                    at += 1;
                }
                if at >= code.len() || code[at] == b'}' {
                    return at + 1;
                }
            }
        }
        let start = at;
        while at < code.len() && (code[at].is_ascii_alphanumeric() || code[at] == b'_') {
            at += 1;
        }
        let ident = std::str::from_utf8(&code[start..at]).expect("ascii ident");
        if !ident.is_empty() && ident != "self" {
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(ident);
        }
        if code[at..].starts_with(b"::") {
            at += 2;
            continue;
        }
        out.push(path);
        // Skip an `as name` rename; the caller stops at `,`, `}` or anything else.
        return at;
    }
}

/// The module each path names: its longest prefix that is a module file.
fn resolve<'a>(path: &str, mods: &'a BTreeMap<String, std::path::PathBuf>) -> Option<&'a str> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().find_map(|n| {
        mods.get_key_value(&parts[..n].join("::"))
            .map(|(k, _)| k.as_str())
    })
}

/// Every `from → to` module edge of the crate.
fn edges(mods: &BTreeMap<String, std::path::PathBuf>) -> BTreeSet<(String, String)> {
    let mut edges = BTreeSet::new();
    for (module, file) in mods {
        let code = code_of(&std::fs::read_to_string(file).expect("source is readable"));
        let bytes = code.as_bytes();
        let is_dir_module = file.ends_with("mod.rs");
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        let mut paths = Vec::new();
        for (needle, prefix) in [("crate::", ""), ("super::", parent)] {
            let mut from = 0;
            while let Some(at) = code[from..].find(needle) {
                let at = from + at;
                from = at + needle.len();
                let word_start = at == 0
                    || !(bytes[at - 1].is_ascii_alphanumeric()
                        || bytes[at - 1] == b'_'
                        || bytes[at - 1] == b':');
                if word_start {
                    use_tree(bytes, from, prefix, &mut paths);
                }
            }
        }
        if is_dir_module {
            // A parent's `use child::…`.
            for line in code.lines() {
                let line = line
                    .trim_start()
                    .trim_start_matches("pub ")
                    .trim_start_matches("pub(crate) ");
                if let Some(rest) = line.strip_prefix("use ") {
                    use_tree(rest.as_bytes(), 0, module, &mut paths);
                }
            }
        }
        for path in paths {
            if let Some(target) = resolve(&path, mods) {
                if target != module {
                    edges.insert((module.clone(), target.to_string()));
                }
            }
        }
    }
    edges
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, mods))| mods.contains(&module))
        .map(|(n, (name, _))| (n, *name))
}

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<String> = modules(&src())
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules without a layer in tests/it/layers.rs: {unplaced:?}"
    );
}

#[test]
fn no_module_uses_a_higher_layer() {
    let mods = modules(&src());
    let mut upward = Vec::new();
    for (from, to) in edges(&mods) {
        let (Some((low, low_name)), Some((high, high_name))) = (layer_of(&from), layer_of(&to))
        else {
            continue;
        };
        if high > low {
            upward.push(format!("{from} ({low_name}) uses {to} ({high_name})"));
        }
    }
    assert!(
        upward.is_empty(),
        "upward edges between layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_cycles_between_modules() {
    let mods = modules(&src());
    let related = |a: &str, b: &str| {
        let parent = |m: &str| {
            m.rsplit_once("::")
                .map_or(String::new(), |(p, _)| p.to_string())
        };
        a.starts_with(&format!("{b}::"))
            || b.starts_with(&format!("{a}::"))
            || (parent(a) == parent(b) && !parent(a).is_empty())
            || MUTUAL
                .iter()
                .any(|&(x, y)| (a, b) == (x, y) || (a, b) == (y, x))
    };
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (from, to) in edges(&mods) {
        if !related(&from, &to) {
            graph.entry(from).or_default().push(to);
        }
    }
    // A module is on a cycle when it can reach itself; the graph has ~60 nodes, so a search
    // from each is cheap and bounded.
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = graph[start].iter().collect();
        while let Some(node) = stack.pop() {
            if node == start {
                cycles.push(start.clone());
                break;
            }
            if seen.insert(node.clone()) {
                stack.extend(graph.get(node).into_iter().flatten());
            }
        }
    }
    assert!(cycles.is_empty(), "modules on a cycle: {cycles:?}");
}

#[test]
fn the_checker_sees_grouped_and_inline_paths() {
    let mut out = Vec::new();
    let code = b"{a::b, c::{d, e::F}, self} x";
    use_tree(code, 0, "m", &mut out);
    assert_eq!(out, ["m::a::b", "m::c::d", "m::c::e::F", "m"]);
    assert!(
        code_of("use crate::a;\n#[cfg(test)]\nmod tests { use crate::b; }").contains("crate::a")
    );
    assert!(
        !code_of("use crate::a;\n#[cfg(test)]\nmod tests { use crate::b; }").contains("crate::b")
    );
}
