//! The crate's files import one another without cycles: each folder and
//! file can be read knowing only what it imports. This test reads the
//! sources and fails on a cycle, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module's path (`call::flow`; the crate root is ``) and the
/// modules its code (not its comments, not its tests) names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    read(&root, &root, &mut sources);
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let exported = exported(&sources[""]);
    sources
        .iter()
        .map(|(module, source)| {
            let mut names = BTreeSet::new();
            for path in paths(source, "crate::") {
                names.extend(resolve(&path, &modules, &exported));
            }
            let parent = module.rsplit_once("::").map_or("", |(parent, _)| parent);
            for path in paths(source, "super::") {
                names.extend(resolve(&join(parent, &path), &modules, &exported));
            }
            for path in paths(source, "self::") {
                names.extend(resolve(&join(module, &path), &modules, &exported));
            }
            names.remove(module);
            names.remove("");
            (module.clone(), names)
        })
        .collect()
}

fn read(root: &Path, dir: &Path, sources: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("the crate's sources") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            read(root, &path, sources);
            continue;
        }
        let relative = path.strip_prefix(root).expect("under src");
        let mut parts: Vec<String> = relative
            .with_extension("")
            .iter()
            .map(|part| part.to_string_lossy().into_owned())
            .collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
            parts.pop();
        }
        let source = std::fs::read_to_string(&path).expect("a source file");
        sources.insert(parts.join("::"), code(&source));
    }
}

/// The source without comments, and without the test modules (which start
/// at a `#[cfg(...test...)]` line followed by a `mod` line, and run to the
/// end of the file).
fn code(source: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let tests = lines.windows(2).position(|pair| {
        pair[0].starts_with("#[cfg(") && pair[0].contains("test") && pair[1].starts_with("mod ")
    });
    lines[..tests.unwrap_or(lines.len())]
        .iter()
        .filter(|line| !line.trim_start().starts_with("//"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names the crate root re-exports (`pub use crate::a::b::{C, D}`), by
/// the module that defines them.
fn exported(root: &str) -> BTreeMap<String, String> {
    let mut exported = BTreeMap::new();
    for line in root.lines().map(str::trim) {
        let Some(path) = line.strip_prefix("pub use crate::") else {
            continue;
        };
        let path = path.trim_end_matches(';');
        let (module, names) = match path.split_once("::{") {
            Some((module, names)) => (module, names.trim_end_matches('}')),
            None => path.rsplit_once("::").unwrap_or(("", path)),
        };
        for name in names
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            exported.insert(name.to_owned(), module.to_owned());
        }
    }
    exported
}

/// Every path after `prefix` in `source`, with each name of a `{...}` group
/// as a path of its own.
fn paths(source: &str, prefix: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for (at, _) in source.match_indices(prefix) {
        let before = source[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &source[at + prefix.len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let path = path.trim_end_matches(':').to_owned();
        let after = &rest[path.len()..];
        match after
            .strip_prefix("::{")
            .or_else(|| after.strip_prefix('{'))
        {
            Some(group) if path.is_empty() || rest[path.len()..].starts_with("::{") => {
                let group = group.split('}').next().unwrap_or_default();
                for name in group.split(',').map(str::trim) {
                    let name = name.split_whitespace().next().unwrap_or_default();
                    paths.push(join(&path, name));
                }
            }
            _ => paths.push(path),
        }
    }
    paths
}

fn join(parent: &str, path: &str) -> String {
    match (parent.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (_, true) => parent.to_owned(),
        _ => format!("{parent}::{path}"),
    }
}

/// The module a path names: its longest prefix that is a module, or the
/// module a re-exported name comes from.
fn resolve(
    path: &str,
    modules: &BTreeSet<String>,
    exported: &BTreeMap<String, String>,
) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|len| parts[..len].join("::"))
        .find(|prefix| modules.contains(prefix))
        .or_else(|| exported.get(parts[0]).cloned())
}

/// A cycle through `from`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph
            .get(path.last().expect("not empty"))
            .into_iter()
            .flatten()
        {
            if next == from {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, from, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![from.to_owned()];
    walk(graph, from, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let graph = imports();
    assert!(graph.len() > 20, "read {} modules", graph.len());
    assert!(
        graph["call::flow"].contains("stampede::flight"),
        "{graph:?}"
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle(&graph, module) {
            panic!("an import cycle: {} -> {module}", cycle.join(" -> "));
        }
    }
}
