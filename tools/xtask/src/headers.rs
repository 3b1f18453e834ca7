// SPDX-License-Identifier: AGPL-3.0-or-later
//! Source-file conventions checked over the whole tree (by `cargo xtask check-all` and, through
//! a unit test, by `make test`): every source file starts with an SPDX license line in its
//! first three lines (`MPL-2.0` under `user/libsys/`, `AGPL-3.0-or-later` everywhere else),
//! and every Rust file has a `//!` module doc.

use std::path::{Path, PathBuf};

/// Directories never scanned (build output, VCS data).
const SKIP_DIRS: &[&str] = &["target", "build", ".git"];
/// File names that are source files whatever their extension.
const SOURCE_NAMES: &[&str] = &["Makefile", "run"];
/// Extensions of source files.
const SOURCE_EXTENSIONS: &[&str] = &["rs", "toml", "sh", "ld", "S", "s", "py"];
/// Most files visited (a guard against a runaway tree).
const MAX_FILES: usize = 100_000;

fn is_source(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    SOURCE_NAMES.contains(&name) || SOURCE_EXTENSIONS.contains(&ext)
}

/// The license a file under `relative` must carry.
pub fn expected_license(relative: &Path) -> &'static str {
    if relative.starts_with("user/libsys") { "MPL-2.0" } else { "AGPL-3.0-or-later" }
}

/// Every source file under `root`, relative to it, sorted.
fn source_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if !SKIP_DIRS.iter().any(|s| name == *s) && !name.to_string_lossy().starts_with("target-") {
                    pending.push(path);
                }
            } else if is_source(&path)
                && let Ok(relative) = path.strip_prefix(root)
            {
                files.push(relative.to_path_buf());
            }
            if files.len() >= MAX_FILES {
                return files;
            }
        }
    }
    files.sort();
    files
}

/// One problem per line, empty when the tree follows the conventions.
pub fn check_tree(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for relative in source_files(root) {
        let Ok(text) = std::fs::read_to_string(root.join(&relative)) else {
            problems.push(format!("{}: not readable as UTF-8 text", relative.display()));
            continue;
        };
        let want = format!("SPDX-License-Identifier: {}", expected_license(&relative));
        if !text.lines().take(3).any(|l| l.contains(&want)) {
            problems.push(format!("{}: the first three lines must contain `{want}`", relative.display()));
        }
        if relative.extension().is_some_and(|e| e == "rs") && !text.lines().any(|l| l.starts_with("//!")) {
            problems.push(format!("{}: no `//!` module doc", relative.display()));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_follows_the_header_conventions() {
        let problems = check_tree(&crate::util::root());
        assert!(problems.is_empty(), "source-file convention problems:\n{}", problems.join("\n"));
    }

    #[test]
    fn detects_missing_headers_and_docs() {
        let dir = std::env::temp_dir().join(format!("cambios-headers-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("user/libsys/src")).unwrap();
        std::fs::create_dir_all(dir.join("target")).unwrap();
        std::fs::write(dir.join("good.rs"), "// SPDX-License-Identifier: AGPL-3.0-or-later\n//! Doc.\n").unwrap();
        std::fs::write(dir.join("nodoc.rs"), "// SPDX-License-Identifier: AGPL-3.0-or-later\nfn f() {}\n").unwrap();
        std::fs::write(dir.join("Makefile"), "all:\n").unwrap();
        std::fs::write(dir.join("user/libsys/src/lib.rs"), "// SPDX-License-Identifier: AGPL-3.0-or-later\n//! x\n")
            .unwrap();
        std::fs::write(dir.join("target/ignored.rs"), "nothing").unwrap();
        std::fs::write(dir.join("notes.md"), "no header needed").unwrap();
        let problems = check_tree(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("Makefile: "));
        assert!(problems[1].starts_with("nodoc.rs: no `//!`"));
        assert!(problems[2].contains("user/libsys/src/lib.rs") && problems[2].contains("MPL-2.0"));
    }
}
