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
            "gate",
            "gofmt",
            "ids",
            "cli",
            "conf",
            "conf::lex",
            "conf::parse",
            "connect",
            "cluster::wire",
            "leaf::wire",
            "gateway::wire",
            "info",
            "jwt",
            "jwt::v1",
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
            "opts::cluster",
            "opts::leaf",
            "opts::gateway",
            "opts::websocket",
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
            "websocket",
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
            "cluster",
            "cluster::interest",
            "leaf",
            "leaf::interest",
            "gateway",
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
            "worker::flow",
            "worker::io",
            "worker::outbound",
            "worker::peer",
            "worker::leaf",
            "worker::gateway",
            "worker::route",
            "worker::snapshot",
            "worker::timers",
            "worker::tls",
            "worker::ws",
            "sys",
            "sys::claims",
            "sys::events",
            "sys::profilez",
            "sys::requests",
            "monitor",
            "monitor::http",
            "monitor::status",
            "dialer",
            "leafdial",
            "gatewaydial",
        ],
    ),
    ("app", &["server", "fuzzcheck"]),
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

/// The file's text without comments and test code: a `#[cfg(test)] mod x;` declaration and
/// a `#[cfg(test)] mod x { … }` block are dropped. Other `#[cfg(test)]` items are kept, which
/// can only add edges, never hide one.
fn code_of(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            let next = lines.peek().map_or("", |l| l.trim());
            let item = ["pub(crate) ", "pub(super) ", "pub "]
                .iter()
                .fold(next, |item, vis| item.trim_start_matches(vis));
            if item.starts_with("mod ") && item.ends_with(';') {
                lines.next();
                continue;
            }
            if item.starts_with("mod ") {
                // Skip the block up to its closing brace at the start of a line (rustfmt puts
                // a top-level module's there; were a string in the block to hold such a line,
                // test code would be scanned too, which can only add edges).
                for line in lines.by_ref() {
                    if line == "}" {
                        break;
                    }
                }
                continue;
            }
        }
        // A trailing comment; `"http://…"` in a string has no space before its `//`.
        kept.push_str(line.split(" // ").next().unwrap_or(""));
        kept.push('\n');
    }
    kept
}

/// Every path a module's code names, as a path from the crate root: `crate::…`, `super::…`
/// (repeated `super::` included), `self::…`, and in a directory module `use child::…`.
fn paths_of(module: &str, is_dir_module: bool, code: &str) -> Vec<String> {
    let bytes = code.as_bytes();
    let mut paths = Vec::new();
    for needle in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(needle) {
            let at = from + at;
            from = at + needle.len();
            let follows_word = at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || matches!(bytes[at - 1], b'_' | b':' | b'$'));
            if follows_word {
                continue;
            }
            let mut prefix: Vec<&str> = match needle {
                "crate::" => Vec::new(),
                _ => module.split("::").collect(),
            };
            if needle == "super::" {
                prefix.pop();
                while code[from..].starts_with("super::") {
                    prefix.pop();
                    from += "super::".len();
                }
            }
            use_tree(bytes, from, &prefix.join("::"), &mut paths);
        }
    }
    if is_dir_module {
        for line in code.lines() {
            let line = ["pub(crate) ", "pub(super) ", "pub "]
                .iter()
                .fold(line.trim_start(), |line, vis| line.trim_start_matches(vis));
            let Some(rest) = line.strip_prefix("use ") else {
                continue;
            };
            // Paths from the root or the parent were taken above; `std::…` and other crates
            // resolve to no module.
            if !["crate::", "super::", "self::"]
                .iter()
                .any(|p| rest.starts_with(p))
            {
                use_tree(rest.as_bytes(), 0, module, &mut paths);
            }
        }
    }
    paths
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
        let paths = paths_of(module, file.ends_with("mod.rs"), &code);
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
    let paths = |module: &str, dir: bool, code: &str| paths_of(module, dir, &code_of(code));
    assert_eq!(paths("a::b", false, "use super::super::x::Y;"), ["x::Y"]);
    assert_eq!(
        paths("a::b", false, "use super::c::{D, e};"),
        ["a::c::D", "a::c::e"]
    );
    assert_eq!(paths("a", true, "pub use child::Z;"), ["a::child::Z"]);
    assert_eq!(
        paths("a", false, "fn f() {\n    crate::k::\n        f();\n}"),
        ["k::f"]
    );
    assert_eq!(paths("a", false, "let x = self::k::f();"), ["a::k::f"]);
    assert_eq!(
        paths(
            "a",
            false,
            "let u = \"http://h\"; crate::z::f(); // crate::c"
        ),
        ["z::f"]
    );
    // Test modules are left out, and nothing around them.
    let code = "#[cfg(test)]\nmod t;\nuse crate::q;\n#[cfg(test)]\nmod tests {\n    use crate::r;\n}\nuse crate::s;";
    assert_eq!(paths("a", true, code), ["q", "s"]);
    assert!(paths("a", false, "/// see crate::doc\n$crate::m::f").is_empty());
}
