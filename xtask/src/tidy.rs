//! Tidy: the repository's conventions, checked by `cargo test -p xtask` (as
//! rust-analyzer keeps its `xtask/src/tidy.rs`). Compiled for tests only.
//!
//! One `#[test]` per rule, so a failure names the rule, and each lists every
//! offending file:
//! - every Rust file opens with a `//!` module doc;
//! - the docs (`docs/`, every `README.md`, and `//!`/`///` comments) cite
//!   only repository paths that exist, and nothing outside the repository;
//! - `docs/ARCHITECTURE.md` names every workspace crate directory and every
//!   top-level module of each crate;
//! - only the server's configuration module reads the environment.
//!
//! Each rule is a function from a root directory to its violations. The
//! `*_is_caught` tests run it on a small tree that breaks it, so a rule that
//! could no longer fail would be noticed too.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Where Rust files must open with `//!`, relative to the root.
const SOURCE_DIRS: &[&str] = &["crates", "xtask", "tests", "fuzz/fuzz_targets", "bench"];
/// Where `README.md` files are docs, besides the root's (`docs/` is all docs).
const README_DIRS: &[&str] = &[
    "crates",
    "xtask",
    "tests",
    "fuzz",
    "bench",
    "e2e",
    "dev",
    "templates",
];
/// Directories never walked, by name: build output and installed packages.
/// Hidden directories (`.git`, virtual environments) are skipped too.
const SKIP_DIRS: &[&str] = &["target", "node_modules"];
/// How a cited repository path begins.
const PATH_PREFIXES: &[&str] = &[
    "crates/",
    "xtask/",
    "docs/",
    "tests/",
    "dev/",
    "e2e/",
    "bench/",
    "fuzz/",
    "templates/",
];
/// The code that may read the environment: the server's configuration
/// module. Test code is exempt too (files named `tests.rs` and anything in
/// a `tests` directory), as are the crates' `tests/` integration tests,
/// which the rule does not scan.
const ENV_ALLOWED: &[&str] = &["crates/server/src/config.rs", "crates/server/src/config/"];
/// What reading the environment looks like.
const ENV_READS: &[&str] = &[
    "std::env::var",
    "env::var(",
    "var_os(",
    "env::vars",
    "EnvFilter::from_default_env",
    "try_from_default_env",
];

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    check(
        "every .rs file opens with a `//!` module doc",
        missing_module_docs(&root()),
    );
}

#[test]
fn docs_cite_only_paths_that_exist() {
    check(
        "docs cite only repository paths that exist",
        dangling_citations(&root()),
    );
}

#[test]
fn architecture_md_names_every_crate_and_module() {
    check(
        "docs/ARCHITECTURE.md names every crate directory and top-level module in backticks",
        unnamed_in_architecture(&root()),
    );
}

#[test]
fn only_the_config_module_reads_the_environment() {
    check(
        "only crates/server/src/config(.rs|/) reads the environment",
        env_readers(&root()),
    );
}

/// The workspace root: the parent of xtask's manifest directory.
fn root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

#[track_caller]
fn check(rule: &str, violations: Vec<String>) {
    if violations.is_empty() {
        return;
    }
    let mut list = String::new();
    for v in &violations {
        list.push_str("\n  ");
        list.push_str(v);
    }
    panic!(
        "tidy: {} violation(s) of the rule \"{rule}\":{list}",
        violations.len()
    );
}

/// Rule: the first non-empty line of every `.rs` file is a `//!` comment.
fn missing_module_docs(root: &Path) -> Vec<String> {
    rust_files(root)
        .into_iter()
        .filter(|file| {
            let text = read(file);
            let first = text.lines().map(str::trim).find(|l| !l.is_empty());
            !first.is_some_and(|l| l.starts_with("//!"))
        })
        .map(|file| relative(root, &file))
        .collect()
}

/// Rule: every repository path cited by a doc exists (see [`cited_paths`]
/// for what counts as one).
fn dangling_citations(root: &Path) -> Vec<String> {
    let md_names: BTreeSet<String> = walk(root)
        .iter()
        .filter_map(|f| f.file_name()?.to_str().map(str::to_owned))
        .filter(|name| name.ends_with(".md"))
        .collect();
    let mut violations = Vec::new();
    let mut check_line = |file: &Path, number: usize, line: &str| {
        for cited in cited_paths(line) {
            if !resolves(root, file, &cited, &md_names) {
                violations.push(format!("{}:{number}: `{cited}`", relative(root, file)));
            }
        }
    };
    for doc in doc_files(root) {
        for (n, line) in read(&doc).lines().enumerate() {
            check_line(&doc, n + 1, line);
        }
    }
    for file in rust_files(root) {
        for (n, line) in read(&file).lines().enumerate() {
            let line = line.trim_start();
            if let Some(comment) = line
                .strip_prefix("//!")
                .or_else(|| line.strip_prefix("///"))
            {
                check_line(&file, n + 1, comment);
            }
        }
    }
    violations
}

/// The words of `line` that cite a file. In a code span (backticks) and
/// in prose alike: words starting with a repository directory (`crates/`,
/// `docs/`, …) or with `../`, and upper-case Markdown names without a
/// directory, such as `README.md`. In prose, only paths whose last part
/// has an extension or that end in `/`: "e2e/bench" is two words, not a
/// path. A trailing `:line` or `#anchor` is dropped; URLs, globs and
/// placeholders (`*`, `{`, `<`, `…`, `...`, `$`) are not citations.
fn cited_paths(line: &str) -> Vec<String> {
    let mut cited = Vec::new();
    for (i, part) in line.split('`').enumerate() {
        let code = i % 2 == 1;
        for word in part.split(|c: char| c.is_whitespace() || "()[]\"',;|=".contains(c)) {
            let word = word
                .trim_start_matches(['*', '_'])
                .trim_end_matches(['.', ',', ':', ';', '!', '?', '*', '_']);
            if word.contains("://") {
                continue;
            }
            let Some(path) = word.split(['#', ':']).next() else {
                continue;
            };
            let in_repo =
                PATH_PREFIXES.iter().any(|p| path.starts_with(p)) || path.starts_with("../");
            let doc_name = path.strip_suffix(".md").is_some_and(|stem| {
                !stem.is_empty()
                    && stem.chars().all(|c| {
                        c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-'
                    })
            });
            let last = path.rsplit('/').next().unwrap_or(path);
            let file_like = last.contains('.') || path.ends_with('/');
            let placeholder =
                ['*', '{', '<', '…', '$'].iter().any(|c| path.contains(*c)) || path.contains("...");
            if (in_repo || doc_name) && (code || file_like) && !placeholder {
                cited.push(path.to_owned());
            }
        }
    }
    cited
}

/// Whether `cited`, found in `file`, names something in the repository: a
/// bare Markdown name any `.md` file has; a relative path from the file's
/// directory; any other path from the root, the file's crate or its
/// directory.
fn resolves(root: &Path, file: &Path, cited: &str, md_names: &BTreeSet<String>) -> bool {
    let dir = file.parent().unwrap_or(root);
    if !cited.contains('/') {
        return md_names.contains(cited);
    }
    if cited.starts_with("../") {
        return inside(root, &dir.join(cited));
    }
    let crate_dir = dir
        .ancestors()
        .take_while(|d| d.starts_with(root))
        .find(|d| d.join("Cargo.toml").is_file())
        .unwrap_or(root);
    [root, crate_dir, dir]
        .iter()
        .any(|base| inside(root, &base.join(cited)))
}

/// Whether `path` exists and, with its `..` resolved, lies within `root`.
fn inside(root: &Path, path: &Path) -> bool {
    let (Ok(path), Ok(root)) = (path.canonicalize(), root.canonicalize()) else {
        return false;
    };
    path.starts_with(root)
}

/// Rule: `docs/ARCHITECTURE.md` names, in backticks, every member of the
/// root `Cargo.toml`'s `[workspace] members` plus `fuzz`, and every module
/// declared (`mod x;`) in each crate's `src/lib.rs` and `src/main.rs`,
/// except test-only ones. `` `name` `` and `` `name/` `` both count.
fn unnamed_in_architecture(root: &Path) -> Vec<String> {
    let architecture = read(&root.join("docs/ARCHITECTURE.md"));
    let named = |name: &str| {
        architecture.contains(&format!("`{name}`")) || architecture.contains(&format!("`{name}/`"))
    };
    let mut violations = Vec::new();
    let mut crates = workspace_members(&read(&root.join("Cargo.toml")));
    crates.push("fuzz".to_owned());
    for dir in crates {
        if !named(&dir) {
            violations.push(format!("crate directory `{dir}`"));
        }
        for file in ["src/lib.rs", "src/main.rs"] {
            let path = root.join(&dir).join(file);
            for module in top_level_modules(&read(&path)) {
                if !named(&module) {
                    violations.push(format!("module `{module}` ({dir}/{file})"));
                }
            }
        }
    }
    violations
}

/// The `members` of a `Cargo.toml`'s `[workspace]`, as written.
fn workspace_members(manifest: &str) -> Vec<String> {
    let Some(start) = manifest
        .find("[workspace]")
        .and_then(|w| manifest[w..].find("\nmembers").map(|m| w + m))
    else {
        return Vec::new();
    };
    let rest = &manifest[start..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else {
        return Vec::new();
    };
    rest[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

/// The modules declared as `mod x;` (any visibility) in a crate root, but
/// not those with `#[cfg(test)]` among their attributes.
fn top_level_modules(text: &str) -> Vec<String> {
    let mut modules = Vec::new();
    let mut test_only = false;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("#[") {
            test_only |= line == "#[cfg(test)]";
            continue;
        }
        let declaration = line
            .strip_prefix("pub(crate) ")
            .or_else(|| line.strip_prefix("pub "))
            .unwrap_or(line);
        if let Some(name) = declaration
            .strip_prefix("mod ")
            .and_then(|d| d.strip_suffix(';'))
            && !test_only
        {
            modules.push(name.trim().to_owned());
        }
        test_only = false;
    }
    modules
}

/// Rule: no code under `crates/*/src` reads an environment variable, but
/// the files of [`ENV_ALLOWED`] and test code.
fn env_readers(root: &Path) -> Vec<String> {
    let mut violations = Vec::new();
    let sources = walk(&root.join("crates"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"));
    for file in sources {
        let rel = relative(root, &file);
        let in_src = rel.split('/').nth(2) == Some("src");
        let allowed = ENV_ALLOWED
            .iter()
            .any(|a| rel == *a || (a.ends_with('/') && rel.starts_with(a)));
        let test = rel.ends_with("/tests.rs") || rel.split('/').any(|c| c == "tests");
        if !in_src || allowed || test {
            continue;
        }
        for (n, line) in read(&file).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if let Some(read) = ENV_READS.iter().find(|r| line.contains(*r)) {
                violations.push(format!("{rel}:{}: `{read}`", n + 1));
            }
        }
    }
    violations
}

/// The `.rs` files of [`SOURCE_DIRS`].
fn rust_files(root: &Path) -> Vec<PathBuf> {
    SOURCE_DIRS
        .iter()
        .flat_map(|dir| walk(&root.join(dir)))
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        .collect()
}

/// The Markdown docs: the root `README.md`, everything under `docs/`, and
/// the `README.md` files of [`README_DIRS`].
fn doc_files(root: &Path) -> Vec<PathBuf> {
    let readme = |f: &PathBuf| f.file_name().is_some_and(|n| n == "README.md");
    let mut docs = vec![root.join("README.md")];
    docs.extend(
        walk(&root.join("docs"))
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "md")),
    );
    for dir in README_DIRS {
        docs.extend(walk(&root.join(dir)).into_iter().filter(readme));
    }
    docs.retain(|f| f.is_file());
    docs
}

/// Every file under `dir`, sorted, skipping [`SKIP_DIRS`], hidden
/// directories and symbolic links.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if kind.is_dir() {
                if !name.starts_with('.') && !SKIP_DIRS.contains(&&*name) {
                    pending.push(entry.path());
                }
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// `path` relative to `root`, with `/` separators.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A scratch tree for the `*_is_caught` tests, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str, files: &[(&str, &str)]) -> Tree {
        let dir = std::env::temp_dir().join(format!("xtask-tidy-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for (path, text) in files {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
            }
            fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        Tree(dir)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn missing_module_doc_is_caught() {
    let tree = Tree::new(
        "docs",
        &[
            ("crates/x/src/lib.rs", "//! Documented.\nmod a;\n"),
            ("crates/x/src/a.rs", "\n\n//! Blank lines first are fine.\n"),
            ("crates/x/src/bare.rs", "fn f() {}\n"),
            ("xtask/src/attr.rs", "#![allow(dead_code)]\n//! Too late.\n"),
            ("fuzz/fuzz_targets/t.rs", "#![no_main]\n"),
            ("crates/x/target/gen.rs", "fn skipped() {}\n"),
            ("bench/python/node_modules/m.rs", "fn skipped() {}\n"),
        ],
    );
    assert_eq!(
        missing_module_docs(&tree.0),
        strings(&[
            "crates/x/src/bare.rs",
            "xtask/src/attr.rs",
            "fuzz/fuzz_targets/t.rs",
        ])
    );
}

#[test]
fn dangling_citation_is_caught() {
    let tree = Tree::new(
        "citations",
        &[
            (
                "README.md",
                "See `docs/a.md` and [b](docs/a.md#usage), `docs/gone.md`.\n",
            ),
            (
                "docs/a.md",
                "`crates/x/src/lib.rs:12`, crates/x/src/gone.rs, `fuzz/corpus/<target>`,\n\
                 `crates/*/tests/it`, https://example.com/docs/nowhere.md, `REFERENCE.md`,\n\
                 [up](../README.md), `../../outside.md`, `tests/it/main.rs`, for e2e/bench,\n\
                 the `{name}.md` and `議事録.md` files, `tests/it`\n",
            ),
            (
                "crates/x/src/lib.rs",
                concat!(
                    "//! Reads `src/lib.rs`'s sibling `tests/it/main.rs` (crate-relative).\n",
                    "/// See REFERENCE.md, \"What the best caches do\".\n",
                    "// A plain comment citing `docs/none.md` is not a doc.\n",
                ),
            ),
            ("crates/x/Cargo.toml", "[package]\n"),
            ("crates/x/tests/it/main.rs", "//! Tests.\n"),
            ("crates/x/README.md", "Code: `crates/x/src/missing.rs`.\n"),
        ],
    );
    assert_eq!(
        dangling_citations(&tree.0),
        strings(&[
            "README.md:1: `docs/gone.md`",
            "docs/a.md:1: `crates/x/src/gone.rs`",
            "docs/a.md:2: `REFERENCE.md`",
            "docs/a.md:3: `../../outside.md`",
            "docs/a.md:3: `tests/it/main.rs`",
            "docs/a.md:4: `tests/it`",
            "crates/x/README.md:1: `crates/x/src/missing.rs`",
            "crates/x/src/lib.rs:2: `REFERENCE.md`",
        ])
    );
}

#[test]
fn unnamed_crate_or_module_is_caught() {
    let tree = Tree::new(
        "architecture",
        &[
            (
                "Cargo.toml",
                "[workspace]\nresolver = \"3\"\nmembers = [\n  \"crates/x\",\n  \"crates/y\",\n]\n",
            ),
            (
                "crates/x/src/lib.rs",
                "//! X.\npub mod alpha;\npub(crate) mod beta;\nmod gamma;\n#[cfg(test)]\nmod tests;\nmod inline {}\n",
            ),
            ("crates/y/src/main.rs", "//! Y.\nmod delta;\n"),
            (
                "docs/ARCHITECTURE.md",
                "### `crates/x/`\n`alpha` and `gamma`.\n### `fuzz`\n`crates/y` has `delta`.\n",
            ),
        ],
    );
    assert_eq!(
        unnamed_in_architecture(&tree.0),
        strings(&["module `beta` (crates/x/src/lib.rs)"])
    );
    fs::write(tree.0.join("docs/ARCHITECTURE.md"), "`alpha`").unwrap();
    assert_eq!(
        unnamed_in_architecture(&tree.0),
        strings(&[
            "crate directory `crates/x`",
            "module `beta` (crates/x/src/lib.rs)",
            "module `gamma` (crates/x/src/lib.rs)",
            "crate directory `crates/y`",
            "module `delta` (crates/y/src/main.rs)",
            "crate directory `fuzz`",
        ])
    );
}

#[test]
fn environment_read_outside_config_is_caught() {
    let tree = Tree::new(
        "env",
        &[
            (
                "crates/server/src/config.rs",
                "let v = std::env::var(\"X\");\n",
            ),
            (
                "crates/server/src/config/raw.rs",
                "let v = std::env::var_os(\"X\");\n",
            ),
            (
                "crates/server/src/main.rs",
                "// RUST_LOG once came from EnvFilter::try_from_default_env.\n\
                 let f = EnvFilter::try_from_default_env();\n",
            ),
            (
                "crates/jwks/src/fetch.rs",
                "use std::env;\nlet all = env::vars();\n",
            ),
            ("crates/auth/src/tests.rs", "std::env::var(\"T\");\n"),
            (
                "crates/auth/src/layer/tests/x.rs",
                "std::env::var(\"T\");\n",
            ),
            ("crates/auth/tests/it/main.rs", "std::env::var(\"T\");\n"),
        ],
    );
    assert_eq!(
        env_readers(&tree.0),
        strings(&[
            "crates/jwks/src/fetch.rs:2: `env::vars`",
            "crates/server/src/main.rs:2: `try_from_default_env`",
        ])
    );
}
