//! The layers of ARCHITECTURE.md, checked against the code. The table under "## Layers" is the
//! one place the allowed edges are written: every `crate::<module>` path (and `super::` path
//! that reaches the crate root) in `src/` is an edge between two top-level modules, and each
//! must be one the table allows, with no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The binaries (`src/main.rs`, `src/bin/`) are one row of the table; they reach the library
/// as `silos::<module>`.
const BINARIES: &str = "bin";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One row of the layer table.
struct Layer {
    module: String,
    may_use: BTreeSet<String>,
}

/// The table under `## Layers` in ARCHITECTURE.md, in its order (bottom layer first). A row is
/// `` | `module` | holds | may use | ``, and the last cell names modules in backticks.
fn layers() -> Vec<Layer> {
    let text = fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Layers\n"))
        .expect("ARCHITECTURE.md has a `## Layers` section");
    let mut rows = Vec::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 3, "a layer row has three cells: {line}");
        let module = backticked(cells[0]);
        if module.is_empty() {
            continue; // the header and the separator
        }
        assert_eq!(module.len(), 1, "one module per row: {line}");
        rows.push(Layer {
            module: module[0].clone(),
            may_use: backticked(cells[2]).into_iter().collect(),
        });
    }
    assert!(!rows.is_empty(), "the `## Layers` section holds the table");
    rows
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The top-level modules: the library's `pub mod`s in `src/lib.rs`, the workspace crates it
/// re-exports as modules (`pub use silos_cfn as cfn;`), and the binaries.
fn modules() -> BTreeSet<String> {
    let lib = fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let mut modules: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_owned())
        .collect();
    // A workspace crate re-exported as a module (`pub use silos_cfn as cfn;`) is a layer too;
    // its own crate has no path back into `silos`.
    modules.extend(
        lib.lines()
            .filter_map(|l| l.trim().strip_prefix("pub use "))
            .filter_map(|u| u.trim_end_matches(';').split_once(" as "))
            .map(|(_, name)| name.trim().to_owned()),
    );
    modules.insert(BINARIES.to_owned());
    modules
}

/// One use of a module by another, where the code makes it.
#[derive(Clone, Debug)]
struct Edge {
    from: String,
    to: String,
    file: String,
    line: usize,
}

impl std::fmt::Display for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} → {}",
            self.file, self.line, self.from, self.to
        )
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every edge between two top-level modules in `src/`, and the paths that leave the crate root
/// in a way no edge can name (a glob of the root, a `super::` past it).
fn edges() -> (Vec<Edge>, Vec<String>) {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges = Vec::new();
    let mut problems = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap();
        let parts: Vec<String> = rel
            .iter()
            .map(|c| c.to_str().unwrap().trim_end_matches(".rs").to_owned())
            .collect();
        let text = fs::read_to_string(&path).unwrap();
        let name = format!("src/{}", rel.display());
        file_edges(&parts, &name, &text, &mut edges, &mut problems);
    }
    edges.retain(|e| e.from != e.to);
    (edges, problems)
}

/// The edges one file makes. `parts` is its path under `src/` without `.rs`.
fn file_edges(
    parts: &[String],
    name: &str,
    text: &str,
    edges: &mut Vec<Edge>,
    problems: &mut Vec<String>,
) {
    let tokens = tokens(&strip(text));
    if parts == ["lib"] {
        return; // the crate root only declares the modules
    }
    if parts[0] == "main" || parts[0] == "bin" {
        // A binary is its own crate: it reaches the library as `silos::`.
        for (i, t) in tokens.iter().enumerate() {
            if t.text == "silos" && next_is(&tokens, i + 1, "::") && !prev_is(&tokens, i, "::") {
                for to in targets(&tokens, i + 2, name, t.line, problems) {
                    edges.push(edge(BINARIES, &to, name, t.line));
                }
            }
        }
        return;
    }
    // The module path of the file: `control_plane/tenant/name/tests.rs` is
    // `control_plane::tenant::name::tests`, and `x/mod.rs` is `x`.
    let mut file_module = parts.to_vec();
    if file_module.last().is_some_and(|p| p == "mod") {
        file_module.pop();
    }
    let top = &file_module[0];
    let mut inline: Vec<usize> = Vec::new(); // the depth of each inline `mod x {` we are in
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            "mod" if next_is(&tokens, i + 2, "{") => inline.push(depth),
            "crate" if next_is(&tokens, i + 1, "::") && !prev_is(&tokens, i, "::") => {
                for to in targets(&tokens, i + 2, name, t.line, problems) {
                    edges.push(edge(top, &to, name, t.line));
                }
            }
            "super" if next_is(&tokens, i + 1, "::") && !prev_is(&tokens, i, "::") => {
                let mut supers = 0;
                let mut j = i;
                while tokens.get(j).is_some_and(|t| t.text == "super")
                    && next_is(&tokens, j + 1, "::")
                {
                    supers += 1;
                    j += 2;
                }
                let here = file_module.len() + inline.len();
                if supers > here {
                    problems.push(format!("{name}:{}: `super::` past the crate root", t.line));
                } else if supers == here {
                    for to in targets(&tokens, j, name, t.line, problems) {
                        edges.push(edge(top, &to, name, t.line));
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

fn edge(from: &str, to: &str, file: &str, line: usize) -> Edge {
    Edge {
        from: from.to_owned(),
        to: to.to_owned(),
        file: file.to_owned(),
        line,
    }
}

/// The top-level modules a path names after the crate root: `x` in `crate::x::…`, and each
/// first name of a group, `a` and `b` in `crate::{a::X, b}`.
fn targets(
    tokens: &[Token],
    at: usize,
    file: &str,
    line: usize,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let Some(first) = tokens.get(at) else {
        return Vec::new();
    };
    match first.text.as_str() {
        "*" => {
            problems.push(format!(
                "{file}:{line}: a glob of the crate root hides its edges"
            ));
            Vec::new()
        }
        "{" => {
            let mut out = Vec::new();
            let mut depth = 0;
            let mut entry_start = true;
            for t in &tokens[at..] {
                match t.text.as_str() {
                    "{" => {
                        depth += 1;
                        if depth > 1 {
                            entry_start = false;
                        }
                    }
                    "}" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    "," if depth == 1 => entry_start = true,
                    "*" if depth == 1 && entry_start => {
                        problems.push(format!(
                            "{file}:{line}: a glob of the crate root hides its edges"
                        ));
                        entry_start = false;
                    }
                    name if depth == 1 && entry_start => {
                        if name != "self" {
                            out.push(name.to_owned());
                        }
                        entry_start = false;
                    }
                    _ => {}
                }
            }
            out
        }
        name => vec![name.to_owned()],
    }
}

struct Token {
    text: String,
    line: usize,
}

fn next_is(tokens: &[Token], at: usize, text: &str) -> bool {
    tokens.get(at).is_some_and(|t| t.text == text)
}

fn prev_is(tokens: &[Token], at: usize, text: &str) -> bool {
    at > 0 && tokens[at - 1].text == text
}

/// Identifiers, `::` and single punctuation characters, each with its line.
fn tokens(code: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut line = 1;
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token {
                text: chars[start..i].iter().collect(),
                line,
            });
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(Token {
                text: "::".to_owned(),
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// The code without comments, strings and character literals, each replaced by spaces and
/// newlines, so that a path in a doc comment or a message is no edge and lines keep their
/// numbers.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while i <= j {
                out.push(' ');
                i += 1;
            }
            while i < chars.len() && !chars[i..].starts_with(&close) {
                out.push(blank(chars[i]));
                i += 1;
            }
            for _ in 0..close.len().min(chars.len() - i) {
                out.push(' ');
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: '\n', '\'', '\u{1F600}'.
            out.push_str("  ");
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   "); // 'x'
            i += 3;
        } else {
            out.push(c); // a lifetime's `'` stays, harmless
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

#[test]
fn every_module_of_src_has_one_row_in_the_layer_table() {
    let rows: Vec<String> = layers().into_iter().map(|l| l.module).collect();
    let listed: BTreeSet<String> = rows.iter().cloned().collect();
    assert_eq!(listed.len(), rows.len(), "a module has two rows: {rows:?}");
    assert_eq!(
        listed,
        modules(),
        "the rows of ARCHITECTURE.md's layer table"
    );
}

#[test]
fn a_module_may_use_only_the_layers_listed_above_it() {
    let mut above = BTreeSet::new();
    let mut wrong = Vec::new();
    for layer in layers() {
        for m in &layer.may_use {
            if !above.contains(m) {
                wrong.push(format!(
                    "{} may use {m}, which is not above it",
                    layer.module
                ));
            }
        }
        above.insert(layer.module);
    }
    assert!(wrong.is_empty(), "the layer table:\n{}", wrong.join("\n"));
}

#[test]
fn every_edge_between_modules_is_one_the_layer_table_allows() {
    let allowed: BTreeMap<String, BTreeSet<String>> = layers()
        .into_iter()
        .map(|l| (l.module, l.may_use))
        .collect();
    let (edges, mut wrong) = edges();
    for e in &edges {
        match allowed.get(&e.from) {
            Some(may_use) if may_use.contains(&e.to) => {}
            Some(_) => wrong.push(format!("{e}: not allowed by ARCHITECTURE.md's layer table")),
            None => wrong.push(format!("{e}: {} has no row in the layer table", e.from)),
        }
    }
    assert!(
        wrong.is_empty(),
        "edges against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_table_allows_only_edges_the_code_has() {
    let (edges, _) = edges();
    let used: BTreeSet<(String, String)> = edges.into_iter().map(|e| (e.from, e.to)).collect();
    let mut unused = Vec::new();
    for layer in layers() {
        for m in layer.may_use {
            if !used.contains(&(layer.module.clone(), m.clone())) {
                unused.push(format!("{} → {m}", layer.module));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "the layer table allows edges no code makes (remove them, so the map stays true):\n{}",
        unused.join("\n")
    );
}

#[test]
fn no_two_modules_use_each_other_even_through_others() {
    let (edges, _) = edges();
    let mut graph: BTreeMap<&str, BTreeMap<&str, &Edge>> = BTreeMap::new();
    for e in &edges {
        graph.entry(&e.from).or_default().entry(&e.to).or_insert(e);
    }
    if let Some(cycle) = cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| graph[w[0]][w[1]].to_string())
            .collect();
        panic!(
            "a cycle between modules: {}\n{}",
            cycle.join(" → "),
            steps.join("\n")
        );
    }
}

/// A cycle in the graph as its modules, the first repeated last, or None.
fn cycle<'a>(graph: &BTreeMap<&'a str, BTreeMap<&'a str, &Edge>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeMap<&'a str, &Edge>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flat_map(|n| n.keys()) {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

/// The scanner itself: paths in comments and strings are no edges; groups, `super::` to the
/// crate root (through inline modules) and the binaries' `silos::` are.
#[test]
fn the_scanner_reads_groups_supers_and_binaries_and_skips_comments_and_strings() {
    let scan = |path: &[&str], code: &str| {
        let parts: Vec<String> = path.iter().map(|p| p.to_string()).collect();
        let (mut edges, mut problems) = (Vec::new(), Vec::new());
        file_edges(&parts, "f.rs", code, &mut edges, &mut problems);
        let edges: Vec<String> = edges
            .iter()
            .map(|e| format!("{}→{}@{}", e.from, e.to, e.line))
            .collect();
        (edges, problems)
    };
    let code = "use crate::{cfn::Expr, constructs::{Role, Table}, self};\n\
                // crate::deploy in a comment\n\
                /* crate::deploy /* nested */ crate::deploy */\n\
                let s = \"crate::local \\\" in a string\"; let c = '\\''; let r = r#\"crate::cli\"#;\n\
                mod inner { use super::super::super::aws; use super::super::Own; }\n\
                fn f<'a>(x: &'a str) { crate::synth::run(x) }\n";
    let (edges, problems) = scan(&["stacks", "toolkit"], code);
    assert_eq!(
        edges,
        [
            "stacks→cfn@1",
            "stacks→constructs@1",
            "stacks→aws@5",
            "stacks→synth@6"
        ]
    );
    assert!(problems.is_empty(), "{problems:?}");
    let (edges, _) = scan(&["stacks", "mod"], "use super::aws;");
    assert_eq!(edges, ["stacks→aws@1"]);
    let (_, problems) = scan(&["aws"], "use super::super::x; use crate::*;");
    assert_eq!(problems.len(), 2, "{problems:?}");
    let (edges, _) = scan(
        &["bin", "x"],
        "fn main() { silos::cli::main(); crate::y(); }",
    );
    assert_eq!(edges, ["bin→cli@1"]);
}
