//! The module graph runs one way (issue "One-way core"): every file under `src/` may use
//! only modules at its own layer or below, in the order `ARCHITECTURE.md` gives, and no
//! two modules use each other. The same holds inside the `ctmuxd-text` crate (`text/src/`,
//! [`TEXT_LAYERS`]), which sits below every module of `src/` and uses nothing of ctmuxd,
//! tokio, clap or I/O. No tmux needed: this reads the source.
//!
//! A file's imports are the crate modules its paths name: `crate::a::b`, `super::…`
//! (resolved against the file's module and any inline `mod` it is in), `self::…`, and a
//! child module named directly (`child::x` in a `mod.rs`). Comments and string literals are
//! skipped, so doc links do not count. `src/main.rs` is the binary: its `ctmuxd::…` paths
//! count as `crate::…` and it sits above every library module.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crate's source directory.
const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The `ctmuxd-text` crate's directory (its `Cargo.toml` and `src/`).
const TEXT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/text");

/// The architecture document, whose "Layers" list must equal [`LAYERS`].
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ARCHITECTURE.md");

/// The layers, lowest first; the same list, in the same order, as `ARCHITECTURE.md`. Each
/// layer holds one or more top-level modules of `src/`. A module may use modules of lower
/// layers, never of a higher one, nor another module of its own layer (peers stay apart).
const LAYERS: &[&[&str]] = &[
    &["glob", "hash", "link", "shell_init"],
    &["tmux"],
    &["waiters", "panes"],
    &["eventlog", "checkpoint"],
    &["timeline"],
    &["action"],
    &["rules"],
    &["screens", "conditions"],
    &["firing"],
    &["exit"],
    &["pane_lifecycle"],
    &["action_tasks"],
    &["api", "deadlines"],
    &["answers"],
    &["daemon", "poll", "replay"],
    &["servers"],
    &["demo"],
    &["cli", "top", "mcp"],
    &["main"],
];

/// Imports that go against [`LAYERS`] on purpose: (file, module used, why). Keep it short;
/// each entry is debt to pay, not a rule.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// The layers of the `ctmuxd-text` crate, lowest first, as [`LAYERS`] for `src/`: the
/// matcher knows nothing of panes; a pane's watch feeds its matcher.
const TEXT_LAYERS: &[&[&str]] = &[&["matcher"], &["pane"]];

/// Imports inside `ctmuxd-text` that go against [`TEXT_LAYERS`] on purpose, as
/// [`ALLOWED`].
const TEXT_ALLOWED: &[(&str, &str, &str)] = &[(
    "text/src/matcher/stream.rs",
    "pane::watch",
    "test-only: the stream tests drive the matcher through PaneWatch, as the engine does, \
     and read matcher internals (accel, gate), so they cannot move to pane",
)];

/// What `ctmuxd-text` may not depend on (any kind of dependency) nor name in its source:
/// the daemon, its runtime and its command line.
const TEXT_FORBIDDEN: &[&str] = &["ctmuxd", "tokio", "tokio-util", "clap", "tmux-control-parser"];

/// The `std` modules that do I/O, which `ctmuxd-text` may not use: bytes in, text out.
const TEXT_NO_IO: &[&str] = &["fs", "io", "net", "process"];

/// One crate whose modules are layered: where its sources are and how messages name them,
/// its layers and its exceptions.
struct Layered {
    /// The source directory.
    src: &'static str,
    /// The source directory as file names in messages start (`src/`, `text/src/`).
    prefix: &'static str,
    /// The name messages give the layer list.
    list: &'static str,
    /// The layers, lowest first.
    layers: &'static [&'static [&'static str]],
    /// (file, module used, why) imports allowed against the layers.
    allowed: &'static [(&'static str, &'static str, &'static str)],
}

/// The `ctmuxd` crate (`src/`).
const MAIN: Layered = Layered {
    src: SRC,
    prefix: "src/",
    list: "LAYERS (tests/it/layers.rs and ARCHITECTURE.md)",
    layers: LAYERS,
    allowed: ALLOWED,
};

/// The `ctmuxd-text` crate (`text/src/`).
const TEXT_CRATE: Layered = Layered {
    src: concat!(env!("CARGO_MANIFEST_DIR"), "/text/src"),
    prefix: "text/src/",
    list: "TEXT_LAYERS (tests/it/layers.rs)",
    layers: TEXT_LAYERS,
    allowed: TEXT_ALLOWED,
};

/// Every layered crate of the workspace.
const CRATES: &[&Layered] = &[&MAIN, &TEXT_CRATE];

/// The modules that may use clap, with their submodules: the command line is parsed at
/// the top, and the library below it takes plain types. `api::request` holds one module
/// per API request, each with its own subcommand's arguments (so that adding a request is
/// one module), which `api::cli` gathers into the subcommands.
const CLAP_USERS: &[&str] = &["cli", "api::cli", "api::request", "main"];

/// A module path inside the crate (`["rules", "rule"]`); the crate root is empty.
type ModPath = Vec<String>;

/// One token of Rust source, as far as paths need: identifiers, `::`, braces, and any other
/// single character. Literals and comments produce no token.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Punct(char),
}

/// Splits `src` into tokens with their 1-based line numbers, skipping comments, string and
/// char literals (raw strings too), and numbers.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    // Advances over `c[from..to]`, counting newlines.
    let skip = |from: usize, to: usize, line: &mut usize| {
        *line += c[from..to.min(c.len())].iter().filter(|&&ch| ch == '\n').count();
        to
    };
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let (start, mut depth, mut j) = (i, 1, i + 2);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            i = skip(start, j, &mut line);
        } else if ch == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            i = skip(i, j + 1, &mut line);
        } else if ch == '\'' {
            if next == Some('\\') {
                // An escaped char literal: up to the closing quote.
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                // A lifetime or label: the identifier after it is harmless.
                i += 1;
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let mut j = i;
            while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
                j += 1;
            }
            let word: String = c[i..j].iter().collect();
            // A raw string (`r"…"`, `r#"…"#`, `br##"…"##`): skip to the matching close.
            let mut hashes = 0;
            while c.get(j + hashes) == Some(&'#') {
                hashes += 1;
            }
            if (word == "r" || word == "br") && c.get(j + hashes) == Some(&'"') {
                let mut k = j + hashes + 1;
                loop {
                    if k >= c.len() {
                        break;
                    }
                    if c[k] == '"' && (1..=hashes).all(|h| c.get(k + h) == Some(&'#')) {
                        k += 1 + hashes;
                        break;
                    }
                    k += 1;
                }
                i = skip(i, k, &mut line);
            } else {
                out.push((Tok::Ident(word), line));
                i = j;
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
        } else if ch == ':' && next == Some(':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((
                match ch {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    _ => Tok::Punct(ch),
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

/// The module a file under `src/` defines: `a.rs` and `a/mod.rs` are `a`, `a/b.rs` is
/// `a::b`, `lib.rs` is the crate root and `main.rs` the binary, `main`.
fn file_module(rel: &Path) -> ModPath {
    let mut parts: ModPath =
        rel.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

/// One import: the file and line it is on, the module using and the module used.
#[derive(Debug, Clone)]
struct Import {
    file: String,
    line: usize,
    from: ModPath,
    to: ModPath,
}

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("readable directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Reads a path (or a `use` tree) starting at `toks[*i]`, relative to module `m`, and
/// records the deepest module each leaf names. `item` is true once a segment named an item
/// rather than a module: later segments (`Enum::Variant`) stay in that module.
fn path_tree(
    toks: &[(Tok, usize)],
    i: &mut usize,
    m: ModPath,
    item: bool,
    known: &BTreeSet<ModPath>,
    out: &mut Vec<(ModPath, usize)>,
) {
    let line = toks.get(*i).map_or(0, |t| t.1);
    match toks.get(*i).map(|t| &t.0) {
        Some(Tok::Open) => {
            *i += 1;
            while *i < toks.len() && toks[*i].0 != Tok::Close {
                let before = *i;
                path_tree(toks, i, m.clone(), item, known, out);
                if toks.get(*i).map(|t| &t.0) == Some(&Tok::Punct(',')) || *i == before {
                    *i += 1;
                }
            }
            *i += 1;
        }
        Some(Tok::Ident(s)) => {
            *i += 1;
            let (next, item) = match s.as_str() {
                "self" => (m, item),
                "crate" => (Vec::new(), false),
                "super" if !item => (m[..m.len().saturating_sub(1)].to_vec(), false),
                _ => {
                    let mut child = m.clone();
                    child.push(s.clone());
                    if !item && known.contains(&child) {
                        (child, false)
                    } else {
                        (m, true)
                    }
                }
            };
            if toks.get(*i).map(|t| &t.0) == Some(&Tok::PathSep) {
                *i += 1;
                path_tree(toks, i, next, item, known, out);
            } else {
                out.push((next, line));
            }
        }
        _ => out.push((m, line)),
    }
}

/// The crate-module imports of one file whose module is `file_mod`, given every module of
/// the crate in `known` (inline modules found on the way are added).
fn imports_of(
    src: &str,
    file: &str,
    file_mod: &ModPath,
    known: &mut BTreeSet<ModPath>,
) -> Vec<Import> {
    let toks = tokens(src);
    let is_main = file_mod == &["main".to_string()];
    let mut imports = Vec::new();
    // Inline modules open around the current token: (module path, brace depth inside it).
    let mut stack: Vec<(ModPath, usize)> = Vec::new();
    let mut pending: Option<String> = None;
    let mut depth = 0;
    let mut i = 0;
    while i < toks.len() {
        let current = stack.last().map_or_else(|| file_mod.clone(), |s| s.0.clone());
        let prev = if i > 0 { Some(&toks[i - 1].0) } else { None };
        let is_sep = |k: usize| toks.get(k).map(|t| &t.0) == Some(&Tok::PathSep);
        match &toks[i].0 {
            Tok::Open => {
                depth += 1;
                if let Some(name) = pending.take() {
                    let mut m = current.clone();
                    m.push(name);
                    known.insert(m.clone());
                    stack.push((m, depth));
                }
                i += 1;
            }
            Tok::Close => {
                if stack.last().is_some_and(|s| s.1 == depth) {
                    stack.pop();
                }
                depth -= 1;
                i += 1;
            }
            Tok::Ident(w) if w == "mod" => {
                pending = match toks.get(i + 1).map(|t| &t.0) {
                    Some(Tok::Ident(name)) if toks.get(i + 2).map(|t| &t.0) == Some(&Tok::Open) => {
                        Some(name.clone())
                    }
                    _ => None,
                };
                i += 1;
            }
            Tok::Ident(w)
                if is_sep(i + 1)
                    && prev != Some(&Tok::PathSep)
                    && prev != Some(&Tok::Punct('$')) =>
            {
                let mut child = current.clone();
                child.push(w.clone());
                let start = match w.as_str() {
                    "crate" | "super" | "self" => Some(current.clone()),
                    "ctmuxd" if is_main => {
                        i += 2;
                        Some(Vec::new())
                    }
                    _ if known.contains(&child) => Some(current.clone()),
                    _ => None,
                };
                match start {
                    Some(m) => {
                        let mut leaves = Vec::new();
                        path_tree(&toks, &mut i, m, false, known, &mut leaves);
                        for (to, line) in leaves {
                            imports.push(Import {
                                file: file.to_string(),
                                line,
                                from: current.clone(),
                                to,
                            });
                        }
                    }
                    None => i += 1,
                }
            }
            Tok::Ident(w)
                if w == "use" && matches!(toks.get(i + 1).map(|t| &t.0), Some(Tok::Open)) =>
            {
                // `use {a::b, c};`: a group at the top of a `use`.
                i += 1;
                let mut leaves = Vec::new();
                path_tree(&toks, &mut i, current.clone(), false, known, &mut leaves);
                for (to, line) in leaves {
                    if to != current {
                        imports.push(Import {
                            file: file.to_string(),
                            line,
                            from: current.clone(),
                            to,
                        });
                    }
                }
            }
            _ => i += 1,
        }
    }
    imports
}

/// Every crate-module import of every file of crate `c`, with every module the files
/// define; imports of a module by itself or by a module inside it are left out.
fn all_imports(c: &Layered) -> (Vec<Import>, BTreeSet<ModPath>) {
    let src = Path::new(c.src);
    let files = rust_files(src);
    let mut known: BTreeSet<ModPath> =
        files.iter().map(|f| file_module(f.strip_prefix(src).expect("file under src"))).collect();
    let mut imports = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(src).expect("file under src");
        let text = fs::read_to_string(f).expect("readable source file");
        let name = format!("{}{}", c.prefix, rel.display());
        imports.extend(imports_of(&text, &name, &file_module(rel), &mut known));
    }
    imports.retain(|imp| !imp.from.starts_with(&imp.to));
    (imports, known)
}

/// `a::b` for a module path; `crate` for the root.
fn show(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".to_string()
    } else {
        m.join("::")
    }
}

/// The index in `c`'s layers of the top-level module `m` is in.
fn layer_of(c: &Layered, m: &ModPath) -> Option<usize> {
    let top = m.first()?;
    c.layers.iter().position(|l| l.contains(&top.as_str()))
}

/// The source line an import of crate `c` is on, trimmed, for messages.
fn source_line(c: &Layered, imp: &Import) -> String {
    let text = fs::read_to_string(Path::new(c.src).join(imp.file.trim_start_matches(c.prefix)))
        .unwrap_or_default();
    text.lines().nth(imp.line - 1).unwrap_or("").trim().to_string()
}

#[test]
fn every_module_is_in_the_layer_list() {
    let mut bad = Vec::new();
    for c in CRATES {
        let (_, known) = all_imports(c);
        let tops: BTreeSet<&str> =
            known.iter().filter_map(|m| m.first()).map(String::as_str).collect();
        let listed: Vec<&str> = c.layers.iter().flat_map(|l| l.iter().copied()).collect();
        let missing: Vec<&&str> = tops.iter().filter(|t| !listed.contains(t)).collect();
        let stale: Vec<&&str> = listed.iter().filter(|l| !tops.contains(**l)).collect();
        let mut seen = BTreeSet::new();
        let twice: Vec<&&str> = listed.iter().filter(|l| !seen.insert(**l)).collect();
        if !(missing.is_empty() && stale.is_empty() && twice.is_empty()) {
            bad.push(format!(
                "modules missing from {}: {missing:?}; entries that are no module: {stale:?}; \
                 listed twice: {twice:?}",
                c.list
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn no_import_goes_up_a_layer() {
    let mut bad = BTreeSet::new();
    for c in CRATES {
        let (imports, _) = all_imports(c);
        for imp in &imports {
            let (Some(from), Some(to)) = (layer_of(c, &imp.from), layer_of(c, &imp.to)) else {
                bad.insert(format!(
                    "{}:{}: `{}` — {} uses {}, which is not in {}",
                    imp.file,
                    imp.line,
                    source_line(c, imp),
                    show(&imp.from),
                    show(&imp.to),
                    c.list
                ));
                continue;
            };
            let allowed = c.allowed.iter().any(|(f, m, _)| *f == imp.file && *m == show(&imp.to));
            let peers = to == from && imp.from.first() != imp.to.first();
            if peers && !allowed {
                bad.insert(format!(
                    "{}:{}: `{}` — {} uses {}, its peer in layer {}",
                    imp.file,
                    imp.line,
                    source_line(c, imp),
                    show(&imp.from),
                    show(&imp.to),
                    from + 1
                ));
            }
            if to > from && !allowed {
                bad.insert(format!(
                    "{}:{}: `{}` — {} (layer {}) uses {} (layer {}, higher)",
                    imp.file,
                    imp.line,
                    source_line(c, imp),
                    show(&imp.from),
                    from + 1,
                    show(&imp.to),
                    to + 1
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports that go up the layer list:\n{}",
        Vec::from_iter(bad).join("\n")
    );
}

#[test]
fn no_two_modules_use_each_other() {
    let mut circles = Vec::new();
    for c in CRATES {
        let (imports, _) = all_imports(c);
        // Each direction's first import, for the message.
        let mut edges: BTreeMap<(ModPath, ModPath), &Import> = BTreeMap::new();
        for imp in &imports {
            edges.entry((imp.from.clone(), imp.to.clone())).or_insert(imp);
        }
        for ((a, b), ab) in &edges {
            if a < b {
                if let Some(ba) = edges.get(&(b.clone(), a.clone())) {
                    circles.push(format!(
                        "{} ↔ {}: {}:{} `{}` and {}:{} `{}`",
                        show(a),
                        show(b),
                        ab.file,
                        ab.line,
                        source_line(c, ab),
                        ba.file,
                        ba.line,
                        source_line(c, ba)
                    ));
                }
            }
        }
    }
    assert!(circles.is_empty(), "modules that use each other:\n{}", circles.join("\n"));
}

/// `ctmuxd-text` stays the text side only: no dependency (normal, dev, build or per
/// target) on the daemon, tokio or clap in its `Cargo.toml`, and no mention of them nor
/// of `std`'s I/O modules in its source.
#[test]
fn the_text_crate_uses_no_daemon_runtime_or_io() {
    let manifest = fs::read_to_string(format!("{TEXT}/Cargo.toml")).expect("text/Cargo.toml");
    let manifest: toml::Table = toml::from_str(&manifest).expect("text/Cargo.toml parses");
    let mut bad = Vec::new();
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    // Dependency tables: top-level ones and `[target.<cfg>.…]` ones.
    let mut tables: Vec<(String, &toml::Table)> = Vec::new();
    for kind in kinds {
        if let Some(t) = manifest.get(kind).and_then(|t| t.as_table()) {
            tables.push((kind.to_string(), t));
        }
    }
    for (cfg, target) in manifest.get("target").and_then(|t| t.as_table()).into_iter().flatten() {
        for kind in kinds {
            if let Some(t) = target.get(kind).and_then(|t| t.as_table()) {
                tables.push((format!("target.{cfg}.{kind}"), t));
            }
        }
    }
    assert!(!tables.is_empty(), "text/Cargo.toml has no dependency table");
    for (kind, table) in tables {
        for (key, spec) in table {
            // A renamed dependency names its crate in `package`.
            let package = spec.get("package").and_then(|p| p.as_str()).unwrap_or(key);
            if TEXT_FORBIDDEN.contains(&package) {
                bad.push(format!("text/Cargo.toml [{kind}]: {key} ({package})"));
            }
        }
    }
    let src = Path::new(TEXT_CRATE.src);
    let idents: Vec<String> = TEXT_FORBIDDEN.iter().map(|n| n.replace('-', "_")).collect();
    for f in rust_files(src) {
        let rel = f.strip_prefix(src).expect("file under text/src");
        let toks = tokens(&fs::read_to_string(&f).expect("readable source file"));
        // Inside `std::{…}`: the depth of its brace, while in it.
        let mut std_group: Option<usize> = None;
        let mut depth = 0;
        for (i, (tok, line)) in toks.iter().enumerate() {
            let at = |k: usize| toks.get(k).map(|t| &t.0);
            let after_std = i >= 2
                && at(i - 1) == Some(&Tok::PathSep)
                && at(i - 2) == Some(&Tok::Ident("std".into()));
            match tok {
                Tok::Open => {
                    depth += 1;
                    if after_std && std_group.is_none() {
                        std_group = Some(depth);
                    }
                }
                Tok::Close => {
                    if std_group == Some(depth) {
                        std_group = None;
                    }
                    depth -= 1;
                }
                Tok::Ident(w) if idents.contains(w) => {
                    bad.push(format!("text/src/{}:{line}: uses {w}", rel.display()));
                }
                Tok::Ident(w) if TEXT_NO_IO.contains(&w.as_str()) => {
                    // Directly after `std::`, or at the top of a `std::{…}` group.
                    let in_group = std_group == Some(depth)
                        && matches!(at(i - 1), Some(Tok::Open | Tok::Punct(',')));
                    if after_std || in_group {
                        bad.push(format!("text/src/{}:{line}: uses std::{w}", rel.display()));
                    }
                }
                _ => {}
            }
        }
    }
    assert!(bad.is_empty(), "ctmuxd-text reaches outside the text side:\n{}", bad.join("\n"));
}

#[test]
fn the_doc_lists_the_same_layers() {
    let doc = fs::read_to_string(DOC).expect("ARCHITECTURE.md at the repository root");
    // The numbered list under "## Layers": each item's `code` spans before its " — ".
    let listed: Vec<Vec<String>> = doc
        .lines()
        .skip_while(|l| !l.starts_with("## Layers"))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|l| {
            let head = l.split(" — ").next().unwrap_or("");
            head.split('`').skip(1).step_by(2).map(str::to_string).collect()
        })
        .collect();
    assert_eq!(
        listed, LAYERS,
        "ARCHITECTURE.md's \"Layers\" list and LAYERS in tests/it/layers.rs differ"
    );
}

/// The scanner itself, on a made-up file: groups, `super`, inline modules, and what must
/// not count (comments, strings, `$crate`).
#[test]
fn the_scanner_finds_paths() {
    let mut known: BTreeSet<ModPath> =
        [vec![], vec!["a".into()], vec!["a".into(), "b".into()], vec!["c".into()]]
            .into_iter()
            .collect();
    let src = r##"
        use super::{b::X, c};
        // crate::nope
        /* crate::nope /* nested */ */
        const S: &str = "crate::nope";
        const R: &str = r#"crate::"nope"#;
        fn f<'a>(x: &'a str) -> char { let _ = crate::c::g(); '{' }
        macro_rules! m { () => { $crate::nope::x() } }
        mod tests { use super::*; fn t() { b::y(); } }
    "##;
    let imps = imports_of(src, "x.rs", &vec!["a".to_string(), "q".to_string()], &mut known);
    let got: Vec<(String, String, usize)> =
        imps.iter().map(|i| (show(&i.from), show(&i.to), i.line)).collect();
    let want =
        [("a::q", "a::b", 2), ("a::q", "a", 2), ("a::q", "c", 7), ("a::q::tests", "a::q", 9)];
    let want: Vec<(String, String, usize)> =
        want.iter().map(|(f, t, l)| (f.to_string(), t.to_string(), *l)).collect();
    assert_eq!(got, want);
}

#[test]
fn only_the_command_line_uses_clap() {
    let src = Path::new(SRC);
    let mut bad = Vec::new();
    for f in rust_files(src) {
        let rel = f.strip_prefix(src).expect("file under src");
        let module = show(&file_module(rel));
        if CLAP_USERS.iter().any(|u| module == *u || module.starts_with(&format!("{u}::"))) {
            continue;
        }
        let text = fs::read_to_string(&f).expect("readable source file");
        for (tok, line) in tokens(&text) {
            if tok == Tok::Ident("clap".into()) {
                bad.push(format!("src/{}:{line}: {module} uses clap", rel.display()));
            }
        }
    }
    assert!(bad.is_empty(), "clap outside {CLAP_USERS:?}:\n{}", bad.join("\n"));
}
