//! The docs point at things that exist: every intra-repo Markdown link,
//! every repository path written in backticks (`src/…`, `tests/…`, …) and
//! every `crate::…` path in a committed `.md` file resolves. A renamed
//! file or module fails here instead of leaving a dead pointer.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Top-level folders whose paths docs name in backticks.
const PATH_ROOTS: [&str; 9] = [
    "src/", "tests/", "tools/", "benches/", "perf/", "systemd/", "docs/", "fuzz/", ".ci/",
];

/// Every committed Markdown file (git's list: nothing generated locally).
fn markdown_files() -> Vec<PathBuf> {
    let out = std::process::Command::new("git")
        .args(["ls-files", "*.md"])
        .current_dir(ROOT)
        .output()
        .expect("git ls-files");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| Path::new(ROOT).join(l))
        .collect()
}

/// `(target)` of every `[text](target)` outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose_lines(text) {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

/// Lines outside fenced code blocks.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// Text between backticks, on prose lines.
fn code_spans(text: &str) -> Vec<String> {
    prose_lines(text)
        .iter()
        .flat_map(|l| l.split('`').skip(1).step_by(2).map(str::to_string))
        .collect()
}

fn is_external(target: &str) -> bool {
    target.starts_with("http://")
        || target.starts_with("https://")
        || target.starts_with("mailto:")
        || target.starts_with('#')
}

#[test]
fn intra_repo_links_resolve() {
    let (mut dead, mut checked) = (Vec::new(), 0);
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let dir = file.parent().expect("a file's folder");
        for target in links(&text) {
            let target = target.split_whitespace().next().unwrap_or("");
            if target.is_empty() || is_external(target) {
                continue;
            }
            let path = target.split('#').next().unwrap_or("");
            checked += 1;
            if !dir.join(path).exists() {
                dead.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
    assert!(
        checked > 20,
        "only {checked} links found: is the parser blind?"
    );
}

/// A backticked span naming a repository path, without globs or
/// placeholders (`src/<module>.rs`, `perf/results/<date>-…`).
fn repo_path(span: &str) -> Option<&str> {
    let path = span.split_whitespace().next()?;
    let path = path.split(':').next()?; // `src/x.rs:12`
    let concrete = !path.contains(['<', '*', '{', '…', '$']) && !path.ends_with('-');
    (PATH_ROOTS.iter().any(|r| path.starts_with(r)) && concrete).then_some(path)
}

#[test]
fn repository_paths_in_docs_exist() {
    let (mut missing, mut checked) = (Vec::new(), 0);
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for span in code_spans(&text) {
            if let Some(path) = repo_path(&span) {
                checked += 1;
                if !Path::new(ROOT).join(path).exists() {
                    missing.push(format!("{}: {path}", file.display()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "missing paths:\n{}", missing.join("\n"));
    assert!(
        checked > 20,
        "only {checked} paths found: is the parser blind?"
    );
}

/// `crate::a::b::c`: the longest prefix that is a module file, and the
/// rest (if any) named in that file.
fn crate_path_exists(path: &str) -> bool {
    let segments: Vec<&str> = path
        .trim_start_matches("crate::")
        .split("::")
        .filter(|s| !s.is_empty())
        .collect();
    for split in (1..=segments.len()).rev() {
        let module = segments[..split].join("/");
        let candidates = [
            format!("{ROOT}/src/{module}.rs"),
            format!("{ROOT}/src/{module}/mod.rs"),
        ];
        if let Some(text) = candidates
            .iter()
            .find_map(|c| std::fs::read_to_string(c).ok())
        {
            return segments[split..].iter().all(|item| text.contains(item));
        }
    }
    false
}

#[test]
fn crate_paths_in_docs_exist() {
    let mut missing = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for span in code_spans(&text) {
            for word in span.split(|c: char| !(c.is_alphanumeric() || c == ':' || c == '_')) {
                if word.starts_with("crate::") && !crate_path_exists(word) {
                    missing.push(format!("{}: {word}", file.display()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
    assert!(crate_path_exists("crate::events::validate::check_event"));
    assert!(!crate_path_exists("crate::events::no_such_module"));
}
