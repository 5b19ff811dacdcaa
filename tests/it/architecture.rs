//! The layering of `src/`, enforced.
//!
//! `ARCHITECTURE.md` holds the code map: one table row per top-level module with its layer
//! number. A module may import only from modules of a *lower* layer (and from itself), so data
//! flows one way and no cycle between top-level modules can form. Inside a module, the files
//! must not import each other in a cycle either. This test reads the table and every source
//! file, and fails naming the file, the import and the rule it breaks.
//!
//! The checker is plain text processing (comments stripped, `use` trees expanded), so it is
//! itself tested below on small made-up trees: it must catch a forbidden import and a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A source file as the checker sees it: its module path (`["server", "handshake"]`) and text.
struct SourceFile {
    module: Vec<String>,
    display: String,
    text: String,
}

/// One import of `target` (a module path) by `from`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: Vec<String>,
    to: Vec<String>,
    file: String,
}

/// Parses the layer table of ARCHITECTURE.md: rows `| <layer> | `module` | …`.
fn parse_layers(doc: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let Ok(layer) = cells[1].parse::<u32>() else {
            continue;
        };
        for name in cells[2].split(',') {
            let name = name.trim().trim_matches('`').trim_end_matches('/');
            if !name.is_empty() {
                out.insert(name.to_string(), layer);
            }
        }
    }
    out
}

/// Removes `//` comments (doc comments included) and everything from the first
/// `#[cfg(test)]` on: tests may reach anywhere.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let mut in_str = false;
        let mut prev = '\0';
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str && c == '/' && prev == '/' {
                cut = i - 1;
                break;
            }
            prev = c;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands the path (or `use` tree) starting at `s` into full paths: `a::{b, c::d}` gives
/// `a::b` and `a::c::d`. Returns the paths and how many bytes were consumed.
fn expand(s: &str) -> (Vec<Vec<String>>, usize) {
    let b = s.as_bytes();
    let mut i = 0;
    let mut prefix: Vec<String> = Vec::new();
    loop {
        while i < b.len() && (b[i] as char).is_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'{' {
            i += 1;
            let mut paths = Vec::new();
            loop {
                while i < b.len() && (b[i] as char).is_whitespace() || (i < b.len() && b[i] == b',')
                {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    i += 1;
                    break;
                }
                let (sub, used) = expand(&s[i..]);
                if used == 0 {
                    i += 1;
                    continue;
                }
                i += used;
                for p in sub {
                    let mut full = prefix.clone();
                    full.extend(p);
                    paths.push(full);
                }
            }
            return (paths, i);
        }
        let start = i;
        while i < b.len() && is_ident(b[i] as char) {
            i += 1;
        }
        if i == start {
            // `*` or nothing: the path so far.
            return (vec![prefix], i);
        }
        prefix.push(s[start..i].to_string());
        if s[i..].starts_with("::") {
            i += 2;
        } else {
            // `self` inside a group names the prefix itself.
            if prefix.last().map(String::as_str) == Some("self") {
                prefix.pop();
            }
            return (vec![prefix], i);
        }
    }
}

/// The module paths a file refers to through `crate::` and `super::`.
fn references(file: &SourceFile, is_mod_rs: bool) -> Vec<Vec<String>> {
    let code = code_of(&file.text);
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(pos) = rest
        .find("crate::")
        .into_iter()
        .chain(rest.find("super::"))
        .min()
    {
        let before_ok = pos == 0 || !is_ident(rest[..pos].chars().next_back().unwrap_or(' '));
        let is_crate = rest[pos..].starts_with("crate::");
        let skip = "crate::".len(); // as long as "super::"
        if before_ok {
            let (paths, used) = expand(&rest[pos + skip..]);
            for p in paths {
                let full = if is_crate {
                    p
                } else {
                    // `super` of a/b.rs is `a`; of a/mod.rs it is the crate root. Further
                    // `super::` segments climb one level each.
                    // (a/mod.rs has the module path `a`, so both pop once.)
                    let _ = is_mod_rs;
                    let mut base = file.module.clone();
                    base.pop();
                    let mut p = p;
                    while p.first().map(String::as_str) == Some("super") {
                        p.remove(0);
                        base.pop();
                    }
                    base.extend(p);
                    base
                };
                out.push(full);
            }
            rest = &rest[pos + skip + used.max(1) - 1..];
        } else {
            rest = &rest[pos + skip..];
        }
    }
    out
}

/// Every import edge between file modules, each target cut to the deepest module that is a
/// file.
fn edges(files: &[SourceFile], mod_rs: &BTreeSet<Vec<String>>) -> Vec<Edge> {
    // Every file module and every module above one (a directory without a mod.rs still counts).
    let known: BTreeSet<Vec<String>> = files
        .iter()
        .flat_map(|f| (1..=f.module.len()).map(|n| f.module[..n].to_vec()))
        .collect();
    let mut out = BTreeSet::new();
    for f in files {
        for r in references(f, mod_rs.contains(&f.module)) {
            let mut to = r;
            while !to.is_empty() && !known.contains(&to) {
                to.pop();
            }
            if to.is_empty() || to == f.module {
                continue;
            }
            out.insert(Edge {
                from: f.module.clone(),
                to,
                file: f.display.clone(),
            });
        }
    }
    out.into_iter().collect()
}

/// Checks the rules; returns one line per violation.
fn check(
    files: &[SourceFile],
    mod_rs: &BTreeSet<Vec<String>>,
    layers: &BTreeMap<String, u32>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for f in files {
        if let Some(top) = f.module.first() {
            if !layers.contains_key(top) {
                problems.push(format!(
                    "{}: module `{top}` has no row in the layer table of ARCHITECTURE.md",
                    f.display
                ));
            }
        }
    }
    let all = edges(files, mod_rs);
    for e in &all {
        let (Some(from), Some(to)) = (e.from.first(), e.to.first()) else {
            continue;
        };
        if from == to {
            continue;
        }
        if let (Some(lf), Some(lt)) = (layers.get(from), layers.get(to)) {
            if lt >= lf {
                problems.push(format!(
                    "{}: `{}` (layer {lf}) imports `{}` (layer {lt}): a module may import only from lower layers",
                    e.file,
                    e.from.join("::"),
                    e.to.join("::")
                ));
            }
        }
    }
    // Cycles between files of one top-level module. A parent declaring or re-exporting its
    // children is not an import (it is how Rust modules are built), so edges from a module to
    // its own descendants are left out.
    let graph: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = {
        let mut g: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = BTreeMap::new();
        for e in &all {
            if e.from.first() == e.to.first() && !e.to.starts_with(&e.from) {
                g.entry(&e.from).or_default().push(&e.to);
            }
        }
        g
    };
    if let Some(cycle) = find_cycle(&graph) {
        problems.push(format!(
            "import cycle: {}",
            cycle
                .iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(" → ")
        ));
    }
    problems
}

/// Depth-first search for a cycle; returns it closed (first == last).
fn find_cycle<'a>(
    g: &BTreeMap<&'a Vec<String>, Vec<&'a Vec<String>>>,
) -> Option<Vec<&'a Vec<String>>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit<'a>(
        n: &'a Vec<String>,
        g: &BTreeMap<&'a Vec<String>, Vec<&'a Vec<String>>>,
        marks: &mut BTreeMap<&'a Vec<String>, Mark>,
        stack: &mut Vec<&'a Vec<String>>,
    ) -> Option<Vec<&'a Vec<String>>> {
        marks.insert(n, Mark::Open);
        stack.push(n);
        for &m in g.get(n).map(Vec::as_slice).unwrap_or(&[]) {
            match marks.get(m) {
                Some(Mark::Open) => {
                    let start = stack.iter().position(|x| *x == m).unwrap_or(0);
                    let mut c = stack[start..].to_vec();
                    c.push(m);
                    return Some(c);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(c) = visit(m, g, marks, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        marks.insert(n, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for &n in g.keys() {
        if !marks.contains_key(n) {
            if let Some(c) = visit(n, g, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Reads `src/` into source files. `lib.rs` and `main.rs` are the crate root (they declare
/// modules and are exempt); files named `tests.rs` are test code.
fn read_tree(root: &Path) -> (Vec<SourceFile>, BTreeSet<Vec<String>>) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut paths = Vec::new();
    walk(root, &mut paths);
    let mut files = Vec::new();
    let mut mod_rs = BTreeSet::new();
    for p in paths {
        let rel = p.strip_prefix(root).unwrap();
        let mut module: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let last = module.pop().unwrap();
        if module.is_empty() && (last == "lib.rs" || last == "main.rs") {
            continue;
        }
        if last == "tests.rs" || module.iter().any(|m| m == "tests") {
            continue;
        }
        if last == "mod.rs" {
            mod_rs.insert(module.clone());
        } else {
            module.push(last.trim_end_matches(".rs").to_string());
        }
        files.push(SourceFile {
            module,
            display: format!("src/{}", rel.display()),
            text: std::fs::read_to_string(&p).unwrap(),
        });
    }
    (files, mod_rs)
}

#[test]
fn src_follows_the_layers_of_architecture_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let layers = parse_layers(&doc);
    assert!(
        layers.len() >= 8,
        "the layer table of ARCHITECTURE.md was not found: {layers:?}"
    );
    let (files, mod_rs) = read_tree(&root.join("src"));
    assert!(files.len() > 30, "src/ was not read");
    let problems = check(&files, &mod_rs, &layers);
    assert!(
        problems.is_empty(),
        "layering violations:\n{}",
        problems.join("\n")
    );
    // Every module in the table exists (the table cannot keep rows for removed modules).
    for name in layers.keys() {
        assert!(
            files.iter().any(|f| f.module.first() == Some(name)),
            "ARCHITECTURE.md lists `{name}`, which is not a module of src/"
        );
    }
}

// ---- the checker, checked ----

fn file(module: &str, text: &str) -> SourceFile {
    SourceFile {
        module: module.split("::").map(String::from).collect(),
        display: module.to_string(),
        text: text.to_string(),
    }
}

fn layers_of(rows: &[(&str, u32)]) -> BTreeMap<String, u32> {
    rows.iter().map(|(n, l)| (n.to_string(), *l)).collect()
}

#[test]
fn checker_reads_the_table_rows_and_ignores_other_tables() {
    let doc = "| layer | module | owns |\n|---|---|---|\n| 0 | `findings`, `locks` | x |\n| 3 | `certs/` | y |\n| a | b | c |\n";
    assert_eq!(
        parse_layers(doc),
        layers_of(&[("findings", 0), ("locks", 0), ("certs", 3)])
    );
}

#[test]
fn checker_catches_an_upward_import_in_every_spelling() {
    let layers = layers_of(&[("low", 0), ("high", 1)]);
    let mod_rs = BTreeSet::new();
    for text in [
        "use crate::high::Thing;",
        "use crate::{high::Thing, low};",
        "fn f() { crate::high::go(); }",
        "use crate::{low::{a, b}, high};",
    ] {
        let files = [file("low::a", text), file("high::b", "")];
        let p = check(&files, &mod_rs, &layers);
        assert_eq!(p.len(), 1, "{text}: {p:?}");
        assert!(
            p[0].contains("`low::a` (layer 0) imports `high::b`")
                || p[0].contains("imports `high`"),
            "{p:?}"
        );
    }
}

#[test]
fn checker_allows_downward_imports_and_ignores_comments_and_tests() {
    let layers = layers_of(&[("low", 0), ("high", 1)]);
    let files = [
        file("high::b", "use crate::low::a;\n// crate::high::b in a comment\n"),
        file(
            "low::a",
            "/// see `crate::high::b`\nfn f() {}\n#[cfg(test)]\nmod tests { use crate::high::b; }\n",
        ),
    ];
    assert_eq!(
        check(&files, &BTreeSet::new(), &layers),
        Vec::<String>::new()
    );
}

#[test]
fn checker_catches_a_cycle_inside_a_module_and_resolves_super() {
    let layers = layers_of(&[("server", 0)]);
    let files = [
        file("server::handshake", "use super::listener::Context;"),
        file("server::listener", "use super::handshake::accept;"),
    ];
    let p = check(&files, &BTreeSet::new(), &layers);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("import cycle: server::"), "{p:?}");
}

#[test]
fn checker_flags_a_module_missing_from_the_table() {
    let layers = layers_of(&[("low", 0)]);
    let files = [file("stray::x", "")];
    let p = check(&files, &BTreeSet::new(), &layers);
    assert!(p.iter().any(|l| l.contains("`stray` has no row")), "{p:?}");
}
