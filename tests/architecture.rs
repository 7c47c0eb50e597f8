//! Architecture rules: which module may import which.
//!
//! This test mirrors the layer table in `docs/architecture.md`: [`LAYERS`] below is that
//! table. A file may import only from its own layer or a layer below it; neither the
//! file import graph nor the graph of top-level modules may have a circle.
//!
//! To place a new module: pick the lowest layer that is at or above everything it imports
//! (so that as much as possible may use it), add its top-level name to [`LAYERS`] here and to the
//! table in `docs/architecture.md`, then run this test.
//!
//! It reads `src/` as text and uses only the standard library, so it also runs while the
//! crate does not build: `rustc --edition 2024 --test tests/architecture.rs -o /tmp/arch && /tmp/arch`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// The layer table, top to bottom: (number, name, top-level modules under src/).
/// `main` is src/main.rs, the binary; src/lib.rs (the crate root) is exempt.
const LAYERS: &[(u8, &str, &[&str])] = &[
    (7, "assembly", &["main", "app", "server", "offline", "client"]),
    (6, "transport", &["transport"]),
    (5, "pipeline", &["rpc", "handlers", "notices", "schemas"]),
    (4, "domains", &["auth", "permits", "offers", "audit", "notifications", "policies", "requests"]),
    (3, "kernel", &["call"]),
    (2, "services", &["authz", "audit_log", "notify", "sockets", "limits", "executors", "credential_cache"]),
    (1, "base", &["error", "db", "clock", "config", "metrics", "money", "logging"]),
];

const LIB: &str = "src/lib.rs";
const MAIN: &str = "src/main.rs";

// ---------------------------------------------------------------- tokens

/// A token that matters for paths; comments, literals, numbers and lifetimes are dropped.
#[derive(PartialEq)]
enum Tok {
    Ident(String),
    Sep,
    Punct(char),
}

/// Whether `c` can be part of an identifier (or a number, which is dropped).
fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Index of the first char at or after `i` that `keep` refuses.
fn skip(c: &[char], mut i: usize, keep: impl Fn(char) -> bool) -> usize {
    while i < c.len() && keep(c[i]) {
        i += 1;
    }
    i
}

/// Splits source into (token, line) pairs, so that paths in comments and strings are never seen.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    while i < c.len() {
        let (ch, next, start) = (c[i], c.get(i + 1).copied().unwrap_or('\0'), i);
        if ch == '/' && next == '/' {
            i = skip(&c, i, |x| x != '\n');
        } else if ch == '/' && next == '*' {
            i = block_comment_end(&c, i);
        } else if let Some(end) = string_end(&c, i) {
            i = end;
        } else if ch == '\'' || (ch == 'b' && next == '\'') {
            i = quote_end(&c, i + usize::from(ch == 'b'));
        } else if is_ident(ch) {
            i = skip(&c, i, is_ident);
            if !ch.is_ascii_digit() {
                out.push((Tok::Ident(c[start..i].iter().collect()), line));
            }
        } else if ch == ':' && next == ':' {
            out.push((Tok::Sep, line));
            i += 2;
        } else {
            if !ch.is_whitespace() {
                out.push((Tok::Punct(ch), line));
            }
            i += 1;
        }
        line += c[start..i].iter().filter(|&&x| x == '\n').count();
    }
    out
}

/// Index just past a (possibly nested) block comment starting at `i`.
fn block_comment_end(c: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < c.len() {
        match (c[i], c.get(i + 1)) {
            ('/', Some('*')) => (depth, i) = (depth + 1, i + 2),
            ('*', Some('/')) if depth == 1 => return i + 2,
            ('*', Some('/')) => (depth, i) = (depth - 1, i + 2),
            _ => i += 1,
        }
    }
    i
}

/// Index just past a string literal starting at `i` ("..", b"..", c"..", r#".."#, br".."), if one starts there.
fn string_end(c: &[char], i: usize) -> Option<usize> {
    let mut j = i + usize::from(matches!(c[i], 'b' | 'c'));
    let raw = c.get(j) == Some(&'r');
    j += usize::from(raw);
    let hashes = skip(c, j, |x| x == '#') - j;
    j += hashes;
    if c.get(j) != Some(&'"') || (!raw && hashes > 0) {
        return None;
    }
    j += 1;
    while let Some(&x) = c.get(j) {
        match x {
            '\\' if !raw => j += 2,
            '"' if skip(c, j + 1, |x| x == '#') - (j + 1) >= hashes => return Some(j + 1 + hashes),
            _ => j += 1,
        }
    }
    Some(c.len())
}

/// Index just past a char literal ('x', '\n', '\u{1F600}') or a lifetime ('a) starting at `i`.
fn quote_end(c: &[char], i: usize) -> usize {
    match (c.get(i + 1), c.get(i + 2)) {
        (Some('\\'), _) => skip(c, i + 3, |x| x != '\'') + 1,
        (_, Some('\'')) => i + 3,
        _ => skip(c, i + 1, is_ident),
    }
}

// ---------------------------------------------------------------- parsing

/// A path as written in one file, with the inline modules (`mod tests { .. }`) around it.
struct Raw {
    line: usize,
    scope: Vec<String>,
    path: Vec<String>,
}

/// What one file says: the paths it uses, its `mod x;` children and its exported macros.
#[derive(Default)]
struct Parsed {
    paths: Vec<Raw>,
    children: Vec<String>,
    macros: Vec<String>,
}

/// Collects every `use` leaf and every inline `a::b` path, tracking inline modules by braces.
fn parse(src: &str) -> Parsed {
    use Tok::*;
    let t = tokenize(src);
    let (mut p, mut i, mut depth, mut exported) = (Parsed::default(), 0, 0, false);
    let mut inline: Vec<(String, usize)> = Vec::new(); // (name, brace depth inside it)
    while i < t.len() {
        let scope: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
        let (tok1, tok2) = (t.get(i + 1).map(|x| &x.0), t.get(i + 2).map(|x| &x.0));
        let prev = i.checked_sub(1).map(|k| &t[k].0);
        match (&t[i].0, tok1, tok2) {
            (Punct('{'), ..) => depth += 1,
            (Punct('}'), ..) => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            (Ident(k), Some(Ident(name)), Some(Punct(';'))) if k == "mod" && scope.is_empty() => {
                p.children.push(name.clone())
            }
            (Ident(k), Some(Ident(name)), Some(Punct('{'))) if k == "mod" => inline.push((name.clone(), depth + 1)),
            (Ident(k), ..) if k == "macro_export" => exported = true,
            (Ident(k), Some(Punct('!')), Some(Ident(name))) if k == "macro_rules" && std::mem::take(&mut exported) => {
                p.macros.push(name.clone())
            }
            // `use<'a>` is a precise-capture bound, not an import.
            (Ident(k), ..) if k == "use" && tok1 != Some(&Punct('<')) => {
                let mut leaves = Vec::new();
                i = use_tree(&t, i + 1, &[], &mut leaves);
                p.paths.extend(leaves.into_iter().map(|(line, path)| Raw { line, scope: scope.clone(), path }));
                continue;
            }
            // A path written in code; `a::b` inside `x::a::b` or `$crate::a` does not start one.
            (Ident(first), Some(Sep), Some(Ident(_))) if !matches!(prev, Some(Sep | Punct('$'))) => {
                let (mut path, line) = (vec![first.clone()], t[i].1);
                i += 1;
                while let (Some((Sep, _)), Some((Ident(s), _))) = (t.get(i), t.get(i + 1)) {
                    path.push(s.clone());
                    i += 2;
                }
                p.paths.push(Raw { line, scope, path });
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    p
}

/// Parses one use tree at `t[i..]` (groups, `self`, `as`, `*`), pushing (line, full path) per leaf.
fn use_tree(t: &[(Tok, usize)], mut i: usize, prefix: &[String], out: &mut Vec<(usize, Vec<String>)>) -> usize {
    let mut path = prefix.to_vec();
    let mut line = t.get(i).map_or(0, |x| x.1);
    loop {
        match t.get(i).map(|x| &x.0) {
            Some(Tok::Sep | Tok::Punct('*')) => i += 1,
            Some(Tok::Ident(s)) if s == "as" => i += 2,
            Some(Tok::Ident(s)) => {
                if s != "self" || path.is_empty() {
                    path.push(s.clone());
                }
                line = t[i].1;
                i += 1;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                while !matches!(t.get(i).map(|x| &x.0), Some(Tok::Punct('}')) | None) {
                    let before = i;
                    i = use_tree(t, i, &path, out);
                    i += usize::from(i == before || t.get(i).map(|x| &x.0) == Some(&Tok::Punct(',')));
                }
                return i + 1;
            }
            _ => break,
        }
    }
    out.push((line, path));
    i
}

// ---------------------------------------------------------------- resolution

/// The module a file defines: src/a/b.rs and src/a/b/mod.rs are `a::b`; lib.rs is the root.
fn module_of(file: &str) -> Vec<String> {
    let inner = file.trim_start_matches("src/").trim_end_matches(".rs");
    let mut segs: Vec<String> = inner.split('/').map(String::from).collect();
    if segs.last().is_some_and(|s| s == "mod") || file == LIB || file == MAIN {
        segs.pop();
    }
    segs
}

/// The top-level module a file belongs to (`src/auth/actions/token.rs` → `auth`; src/main.rs → `main`).
fn top_module(file: &str) -> &str {
    let inner = file.trim_start_matches("src/");
    inner.split('/').next().unwrap_or(inner).trim_end_matches(".rs")
}

/// Turns a written path into an absolute library module path, or None if it is std, an external crate or local.
fn absolute(file: &str, raw: &Raw, children: &[String]) -> Option<Vec<String>> {
    let (first, rest) = raw.path.split_first()?;
    if file == MAIN {
        // The binary names the library `countersign`; its own `crate`/`self`/`super` is main.rs itself.
        return (first == "countersign").then(|| rest.to_vec());
    }
    if first == "crate" {
        return Some(rest.to_vec());
    }
    // Inline modules are part of the current module path, so `super::*` inside
    // `mod tests { .. }` of src/a/b.rs names `a::b`: the file itself, hence no edge.
    let mut here = module_of(file);
    here.extend(raw.scope.iter().cloned());
    let lead = raw.path.iter().take_while(|s| *s == "self" || *s == "super").count();
    // Rust 2018 relative path to a `mod x;` child of this file, in a `use` (`use notices::OfferSuperseded;`)
    // or in code (`chain::row_hash(..)`): both depend on the child's file.
    let child = raw.scope.is_empty() && children.contains(first);
    if lead == 0 && !child {
        return None;
    }
    for _ in raw.path[..lead].iter().filter(|s| *s == "super") {
        here.pop()?;
    }
    here.extend(raw.path[lead..].iter().cloned());
    Some(here)
}

/// The file defining the deepest module `abs` names; a crate-root name resolves only to an exported macro.
fn resolve(abs: &[String], files: &BTreeSet<String>, macros: &BTreeMap<String, String>) -> Option<String> {
    for k in (1..=abs.len()).rev() {
        let base = format!("src/{}", abs[..k].join("/"));
        for candidate in [format!("{base}.rs"), format!("{base}/mod.rs")] {
            if files.contains(&candidate) {
                return Some(candidate);
            }
        }
    }
    macros.get(abs.first()?).cloned()
}

/// One import between two different files: where it is written, what it says, where it lands.
struct Import {
    from: String,
    line: usize,
    path: String,
    to: String,
}

/// Parses and resolves every file of a tree of ("src/..", source); lib.rs and self-imports are dropped.
fn analyze(tree: &[(String, String)]) -> Vec<Import> {
    let parsed: Vec<(&String, Parsed)> = tree.iter().map(|(f, src)| (f, parse(src))).collect();
    let files: BTreeSet<String> = tree.iter().map(|(f, _)| f.clone()).collect();
    let macros: BTreeMap<String, String> =
        parsed.iter().flat_map(|(f, p)| p.macros.iter().map(|m| (m.clone(), f.to_string()))).collect();
    let mut out = Vec::new();
    for (from, p) in parsed.iter().filter(|(f, _)| f.as_str() != LIB) {
        for raw in &p.paths {
            let to = absolute(from, raw, &p.children).and_then(|abs| resolve(&abs, &files, &macros));
            if let Some(to) = to.filter(|to| to != *from && to != LIB) {
                out.push(Import { from: from.to_string(), line: raw.line, path: raw.path.join("::"), to });
            }
        }
    }
    out
}

// ---------------------------------------------------------------- checks

/// The (number, name) of a top-level module's layer, if the table lists it.
fn layer_of(module: &str) -> Option<(u8, &'static str)> {
    LAYERS.iter().find(|(_, _, mods)| mods.contains(&module)).map(|(n, name, _)| (*n, *name))
}

/// Check 1: files whose top-level module is in no layer.
fn unlisted(tree: &[(String, String)]) -> Vec<String> {
    let orphans = tree.iter().map(|(f, _)| f).filter(|f| f.as_str() != LIB && layer_of(top_module(f)).is_none());
    orphans
        .map(|f| format!("{f}: module `{}` is in no layer; add it to LAYERS in tests/architecture.rs and to docs/architecture.md", top_module(f)))
        .collect()
}

/// Check 2: imports whose target sits in a higher layer than the importing file.
fn upward(imports: &[Import]) -> Vec<String> {
    let offence = |imp: &Import| {
        let ((x, xn), (y, yn)) = (layer_of(top_module(&imp.from))?, layer_of(top_module(&imp.to))?);
        let (from, line, path, to) = (&imp.from, imp.line, &imp.path, &imp.to);
        (y > x).then(|| format!("{from}:{line}: `{path}` → {to}: layer {x} ({xn}) imports layer {y} ({yn})"))
    };
    imports.iter().filter_map(offence).collect()
}

/// Check 3 and 4: every distinct shortest cycle through some node, as "a → b → a".
fn cycles(edges: &[(String, String)]) -> Vec<String> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, b) in edges.iter().filter(|(a, b)| a != b) {
        graph.entry(a).or_default().insert(b);
    }
    let mut found = BTreeSet::new();
    for &start in graph.keys() {
        if let Some(mut cycle) = shortest_cycle(start, &graph) {
            let min = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
            cycle.rotate_left(min);
            found.insert(cycle);
        }
    }
    found.into_iter().map(|c| format!("{} → {}", c.join(" → "), c[0])).collect()
}

/// The shortest cycle from `start` back to itself (breadth-first), if there is one.
fn shortest_cycle<'a>(start: &'a str, graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for &m in graph.get(n).into_iter().flatten() {
            if m == start {
                let mut path = vec![n];
                while *path.last()? != start {
                    path.push(prev[path.last()?]);
                }
                path.reverse();
                return Some(path);
            }
            if !prev.contains_key(m) {
                prev.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    None
}

/// The import graph with files mapped to nodes: `|f| f` for check 3, `top_module` for check 4.
fn graph(imports: &[Import], node: fn(&str) -> &str) -> Vec<(String, String)> {
    imports.iter().map(|i| (node(&i.from).to_string(), node(&i.to).to_string())).collect()
}

// ---------------------------------------------------------------- the tree

/// The repository root: CARGO_MANIFEST_DIR (set by cargo at run time), else the current directory.
fn root() -> PathBuf {
    std::env::var("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|_| std::env::current_dir().unwrap())
}

/// Every .rs file under `dir` as ("src/..", source); files that vanish mid-walk are skipped.
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let (path, name) = (entry.path(), entry.file_name().to_string_lossy().into_owned());
        if path.is_dir() {
            walk(&path, &format!("{rel}/{name}"), out);
        } else if let (true, Ok(src)) = (name.ends_with(".rs"), std::fs::read_to_string(&path)) {
            out.push((format!("{rel}/{name}"), src));
        }
    }
}

/// The crate's own source tree, sorted by path.
fn load_tree() -> Vec<(String, String)> {
    let mut tree = Vec::new();
    walk(&root().join("src"), "src", &mut tree);
    assert!(!tree.is_empty(), "no .rs files under {}/src", root().display());
    tree.sort();
    tree
}

/// Fails with every offence listed, one per line.
fn report(what: &str, offences: Vec<String>) {
    assert!(offences.is_empty(), "{} {what}:\n  {}\n", offences.len(), offences.join("\n  "));
}

#[test]
fn every_file_belongs_to_a_layer() {
    report("files outside every layer", unlisted(&load_tree()));
}

#[test]
fn no_import_runs_up() {
    report("upward imports", upward(&analyze(&load_tree())));
}

#[test]
fn no_file_import_cycle() {
    report("file import cycles", cycles(&graph(&analyze(&load_tree()), |f| f)));
}

#[test]
fn no_module_import_cycle() {
    report("module import cycles", cycles(&graph(&analyze(&load_tree()), top_module)));
}

// ---------------------------------------------------------------- the checker's own tests

/// A tree from (path, source) pairs, for the tests below.
fn tree(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files.iter().map(|(f, s)| (f.to_string(), s.to_string())).collect()
}

/// The imports of a small tree as "from:line -> to".
fn edges(files: &[(&str, &str)]) -> Vec<String> {
    analyze(&tree(files)).iter().map(|i| format!("{}:{} -> {}", i.from, i.line, i.to)).collect()
}

#[test]
fn nested_and_multiline_use_groups() {
    let p = parse("pub(crate) use crate::{a, b::{c, d as e},\n    f::*, g::{self, H}};\nuse super::super::q;");
    let paths: Vec<String> = p.paths.iter().map(|r| format!("{}:{}", r.line, r.path.join("::"))).collect();
    let want = "1:crate::a 1:crate::b::c 1:crate::b::d 2:crate::f 2:crate::g 2:crate::g::H 3:super::super::q";
    assert_eq!(paths.join(" "), want);
}

#[test]
fn inline_paths_resolve_and_external_ones_do_not() {
    let src = "fn f() {\n    std::mem::drop(1);\n    crate::db::lock_key(c);\n    x.map(crate::auth::accounts::find);\n    $crate::db::no();\n}";
    let files = [("src/db/mod.rs", ""), ("src/auth/mod.rs", ""), ("src/auth/accounts.rs", ""), ("src/x.rs", src)];
    assert_eq!(edges(&files), ["src/x.rs:3 -> src/db/mod.rs", "src/x.rs:4 -> src/auth/accounts.rs"]);
}

#[test]
fn comments_strings_and_chars_are_ignored() {
    let src = "//! crate::a\n/// crate::a\n// crate::a\n/* crate::a /* nested */ crate::a */\n\
        const S: &str = \"crate::a \\\" crate::a\"; const R: &str = r#\"crate::a \"q\" \"#;\n\
        const C: [char; 3] = ['{', '\\'', '\"']; const B: u8 = b'\"'; fn g<'a>(x: &'a str) {}\nuse crate::b;";
    assert_eq!(edges(&[("src/a.rs", ""), ("src/b.rs", ""), ("src/x.rs", src)]), ["src/x.rs:7 -> src/b.rs"]);
}

#[test]
fn super_from_mod_rs_differs_from_super_in_a_leaf() {
    let files = [
        ("src/a/mod.rs", "pub mod c;\nuse super::b::X;\nuse c::Y;\nfn f() { c::g() }"),
        ("src/a/c.rs", "use super::Z;\nfn f() { super::super::b::g() }\nmod tests { use super::*; }"),
        ("src/b.rs", ""),
    ];
    let want = "src/a/mod.rs:2 -> src/b.rs, src/a/mod.rs:3 -> src/a/c.rs, src/a/mod.rs:4 -> src/a/c.rs, \
        src/a/c.rs:1 -> src/a/mod.rs, src/a/c.rs:2 -> src/b.rs";
    assert_eq!(edges(&files).join(", "), want);
}

#[test]
fn exported_macros_resolve_to_their_file_and_main_uses_the_crate_name() {
    let files = [
        ("src/db/mod.rs", "#[macro_export]\nmacro_rules! on_conn { () => { $crate::db::x() } }"),
        ("src/x.rs", "use crate::on_conn;\nuse crate::Unknown;"),
        ("src/main.rs", "use countersign::x::Y;\nuse crate::z;"),
        ("src/lib.rs", "pub mod db;\npub use db::Thing;"),
    ];
    assert_eq!(edges(&files), ["src/x.rs:1 -> src/db/mod.rs", "src/main.rs:1 -> src/x.rs"]);
}

#[test]
fn upward_imports_unlisted_modules_and_cycles_are_reported() {
    let files = [
        ("src/error.rs", "use crate::server::X;"),
        ("src/server.rs", ""),
        ("src/auth/mod.rs", "pub mod x;\npub use x::A;"),
        ("src/auth/x.rs", "use super::B;"),
        ("src/permits.rs", "use crate::offers::O;"),
        ("src/offers/mod.rs", "pub mod y;"),
        ("src/offers/y.rs", "fn f() { crate::permits::p() }"),
        ("src/wild.rs", ""),
    ];
    let imports = analyze(&tree(&files));
    assert_eq!(
        upward(&imports),
        ["src/error.rs:1: `crate::server::X` → src/server.rs: layer 1 (base) imports layer 7 (assembly)"]
    );
    assert_eq!(cycles(&graph(&imports, |f| f)), ["src/auth/mod.rs → src/auth/x.rs → src/auth/mod.rs"]);
    assert_eq!(cycles(&graph(&imports, top_module)), ["offers → permits → offers"]);
    assert_eq!(unlisted(&tree(&files)).len(), 1, "src/wild.rs is in no layer");
}
