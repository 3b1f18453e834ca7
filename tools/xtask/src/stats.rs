// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cargo xtask stats`: lines of code per area, `#[test]` functions per crate, and the number
//! of syscalls, all computed from the source tree.

use std::path::{Path, PathBuf};

use cambios_abi::Arch;

use crate::util::{self, Result, display_path};

/// Source extensions counted as code.
const CODE_EXTS: &[&str] = &["rs", "S", "s", "ld"];
/// Directories never walked.
const SKIP_DIRS: &[&str] = &["target", "build", ".git", "node_modules"];

/// Line counts of a set of files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Files.
    pub files: usize,
    /// All lines.
    pub lines: usize,
    /// Lines that are not blank and not only comment.
    pub code: usize,
}

impl Count {
    fn add(&mut self, other: Count) {
        self.files += other.files;
        self.lines += other.lines;
        self.code += other.code;
    }
}

/// Counts the lines of one source text; `comments` says whether `//` and `/* */` are comments
/// (code), or only blank lines are left out (markdown).
pub fn count_text(text: &str, comments: bool) -> Count {
    let mut count = Count { files: 1, ..Count::default() };
    let mut in_block = false;
    for line in text.lines() {
        count.lines += 1;
        let mut rest = line.trim();
        if !comments {
            count.code += usize::from(!rest.is_empty());
            continue;
        }
        let mut has_code = false;
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(end) => {
                        in_block = false;
                        rest = rest.get(end + 2..).unwrap_or("").trim_start();
                    }
                    None => break,
                }
            } else {
                let block = rest.find("/*");
                let line_comment = rest.find("//");
                match (block, line_comment) {
                    (Some(b), l) if l.is_none_or(|l| b < l) => {
                        has_code |= !rest.get(..b).unwrap_or("").trim().is_empty();
                        in_block = true;
                        rest = rest.get(b + 2..).unwrap_or("");
                    }
                    (_, Some(l)) => {
                        has_code |= !rest.get(..l).unwrap_or("").trim().is_empty();
                        break;
                    }
                    _ => {
                        has_code |= !rest.is_empty();
                        break;
                    }
                }
            }
        }
        count.code += usize::from(has_code);
    }
    count
}

/// Every file under `dir` (recursively, skipping build output), sorted.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else { continue };
        for item in listing.flatten() {
            let path = item.path();
            let name = item.file_name();
            if SKIP_DIRS.iter().any(|s| name == *s) {
                continue;
            }
            match item.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e))
}

/// One row of the lines-of-code table.
struct Area {
    label: String,
    dir: PathBuf,
    /// Subdirectories counted in their own rows.
    exclude: Vec<PathBuf>,
    exts: &'static [&'static str],
    comments: bool,
}

fn areas(root: &Path) -> Vec<Area> {
    let code = |label: &str, rel: &str, exclude: Vec<PathBuf>| Area {
        label: label.to_string(),
        dir: root.join(rel),
        exclude,
        exts: CODE_EXTS,
        comments: true,
    };
    let arch_dir = root.join("kernel/kernel/src/arch");
    let mut rows = vec![code("abi/", "abi", vec![]), code("kernel/core/", "kernel/core", vec![])];
    rows.push(code("kernel/boot/", "kernel/boot", vec![]));
    for arch in Arch::ALL {
        let rel = format!("kernel/kernel/src/arch/{}", arch.name());
        rows.push(code(&format!("{rel}/"), &rel, vec![]));
    }
    let per_arch = Arch::ALL.iter().map(|a| arch_dir.join(a.name())).collect();
    rows.push(code("kernel/kernel/ (rest)", "kernel/kernel", per_arch));
    if root.join("user").is_dir() {
        rows.push(code("user/", "user", vec![]));
    }
    rows.push(code("tools/", "tools", vec![]));
    rows.push(Area {
        label: "docs/ (markdown)".to_string(),
        dir: root.join("docs"),
        exclude: vec![],
        exts: &["md"],
        comments: false,
    });
    rows
}

fn count_area(area: &Area) -> Count {
    let mut total = Count::default();
    for file in walk(&area.dir) {
        if !has_ext(&file, area.exts) || area.exclude.iter().any(|x| file.starts_with(x)) {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&file) {
            total.add(count_text(&text, area.comments));
        }
    }
    total
}

/// `#[test]` attributes in a source text.
pub fn count_tests(text: &str) -> usize {
    text.lines().filter(|l| l.trim_start().starts_with("#[test]")).count()
}

/// The package name in a `Cargo.toml`, if it has a `[package]` section.
pub fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("name").map(str::trim_start).and_then(|l| l.strip_prefix('='))
        {
            return Some(value.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// `(crate name, crate dir)` for every package in the tree.
fn crates(root: &Path) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = walk(root)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "Cargo.toml"))
        .filter_map(|manifest| {
            let name = package_name(&std::fs::read_to_string(&manifest).ok()?)?;
            Some((name, manifest.parent()?.to_path_buf()))
        })
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

fn tests_per_crate(root: &Path) -> Vec<(String, PathBuf, usize)> {
    let all = crates(root);
    all.iter()
        .map(|(name, dir)| {
            // Files of nested crates count for those crates only.
            let nested: Vec<&PathBuf> =
                all.iter().map(|(_, d)| d).filter(|d| *d != dir && d.starts_with(dir)).collect();
            let tests = walk(dir)
                .iter()
                .filter(|f| has_ext(f, &["rs"]) && !nested.iter().any(|n| f.starts_with(n)))
                .filter_map(|f| std::fs::read_to_string(f).ok())
                .map(|text| count_tests(&text))
                .sum();
            (name.clone(), dir.clone(), tests)
        })
        .collect()
}

/// Skips whitespace and comments in `chars` from `i`; returns the new index.
fn skip_trivia(chars: &[char], mut i: usize) -> usize {
    loop {
        match (chars.get(i), chars.get(i + 1)) {
            (Some(c), _) if c.is_whitespace() => i += 1,
            (Some('/'), Some('/')) => {
                while chars.get(i).is_some_and(|c| *c != '\n') {
                    i += 1;
                }
            }
            (Some('/'), Some('*')) => {
                i += 2;
                while i < chars.len() && !(chars.get(i) == Some(&'*') && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            _ => return i,
        }
    }
}

/// Number of variants of `enum <name>` in a Rust source text, if the enum is there.
pub fn count_enum_variants(source: &str, name: &str) -> Option<usize> {
    let chars: Vec<char> = source.chars().collect();
    let pattern: Vec<char> = format!("enum {name}").chars().collect();
    let start = chars.windows(pattern.len()).enumerate().find_map(|(i, w)| {
        let after = chars.get(i + pattern.len()).copied().unwrap_or(' ');
        (w == pattern.as_slice() && !(after.is_alphanumeric() || after == '_')).then_some(i + pattern.len())
    })?;
    let mut i = start + chars.iter().skip(start).position(|c| *c == '{')? + 1;
    let mut count = 0;
    // At the start of each variant (after `{` or a top-level `,`).
    loop {
        i = skip_trivia(&chars, i);
        // Attributes on the variant.
        while chars.get(i) == Some(&'#') {
            let mut depth = 0usize;
            while let Some(c) = chars.get(i) {
                i += 1;
                match c {
                    '[' => depth += 1,
                    ']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            i = skip_trivia(&chars, i);
        }
        match chars.get(i) {
            Some(c) if c.is_alphabetic() || *c == '_' => count += 1,
            _ => return Some(count), // `}` (or the end of a malformed file)
        }
        // Skip to the `,` or `}` that ends this variant, stepping over nested brackets.
        let mut depth = 0usize;
        loop {
            i = skip_trivia(&chars, i);
            match chars.get(i) {
                None => return Some(count),
                Some('(' | '{' | '[') => depth += 1,
                Some(')' | ']') => depth = depth.saturating_sub(1),
                Some('}') if depth == 0 => return Some(count),
                Some('}') => depth -= 1,
                Some(',') if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// `cargo xtask stats`.
pub fn command() -> Result<()> {
    let root = util::root();
    println!("Lines of code (Rust, assembly, linker scripts; code = not blank, not only comments)");
    println!("  {:<36} {:>6} {:>8} {:>8}", "area", "files", "lines", "code");
    let mut total = Count::default();
    for area in areas(&root) {
        let count = count_area(&area);
        println!("  {:<36} {:>6} {:>8} {:>8}", area.label, count.files, count.lines, count.code);
        if area.comments {
            total.add(count);
        }
    }
    println!("  {:<36} {:>6} {:>8} {:>8}", "total (code areas)", total.files, total.lines, total.code);

    println!();
    println!("Unit tests (#[test] functions)");
    let mut tests = 0;
    let rows = tests_per_crate(&root);
    let width = rows.iter().map(|(name, dir, _)| name.len() + 1 + display_path(dir).len()).max().unwrap_or(0).max(45);
    for (name, dir, n) in &rows {
        let label = format!("{name:<20} {}", display_path(dir));
        println!("  {label:<width$} {n:>6}");
        tests += n;
    }
    println!("  {:<width$} {tests:>6}", "total");
    let per_arch: Vec<String> = cambios_abi::Arch::ALL
        .iter()
        .map(|&arch| {
            let n = crate::test::MATRIX.iter().filter(|t| t.only.is_none_or(|only| only == arch)).count();
            format!("{} {n}", arch.name())
        })
        .collect();
    println!("  QEMU boot tests (cargo xtask test qemu): {}", per_arch.join(", "));

    println!();
    let table = root.join("abi/src/syscall.rs");
    match std::fs::read_to_string(&table) {
        Ok(source) => match count_enum_variants(&source, "Syscall") {
            Some(n) => println!("Syscalls: {n} (variants of `enum Syscall` in abi/src/syscall.rs)"),
            None => println!("Syscalls: 0 (abi/src/syscall.rs has no `enum Syscall`)"),
        },
        Err(_) => println!("Syscalls: 0 (no syscall table yet: abi/src/syscall.rs does not exist)"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_code_and_comments() {
        let text = "// header\n//! doc\n\nfn main() { // trailing\n    /* block\n  still */ let x = 1;\n}\n/* a */\n";
        assert_eq!(count_text(text, true), Count { files: 1, lines: 8, code: 3 });
        assert_eq!(count_text("# T\n\ntext\n", false), Count { files: 1, lines: 3, code: 2 });
    }

    #[test]
    fn counts_test_attributes() {
        assert_eq!(count_tests("#[test]\nfn a() {}\n    #[test]\n    fn b() {}\n// #[test]\n"), 2);
    }

    #[test]
    fn reads_package_names() {
        let manifest = "[workspace]\nmembers = []\n\n[package]\nname = \"cambios-abi\"\nversion = \"1\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("cambios-abi"));
        assert_eq!(package_name("[workspace]\nname = \"x\"\n"), None);
    }

    #[test]
    fn counts_enum_variants() {
        let src = "\
/// Calls.
#[repr(u32)]
pub enum Syscall {
    /// Exit.
    Exit = 0,
    // Yield, commented out
    /* Old = 9, */
    #[doc = \"x, y\"]
    Send { to: u32, msg: [u8; 4] },
    Recv(u32, u64),
    Last,
}
enum SyscallError { A, B }
";
        assert_eq!(count_enum_variants(src, "Syscall"), Some(4));
        assert_eq!(count_enum_variants(src, "SyscallError"), Some(2));
        assert_eq!(count_enum_variants("enum Syscall {}", "Syscall"), Some(0));
        assert_eq!(count_enum_variants("struct X;", "Syscall"), None);
    }

    #[test]
    fn the_tree_has_areas_and_crates() {
        let root = util::root();
        let names: Vec<String> = crates(&root).into_iter().map(|(n, _)| n).collect();
        assert!(names.iter().any(|n| n == "cambios-abi") && names.iter().any(|n| n == "xtask"), "{names:?}");
        assert!(count_area(&areas(&root)[0]).code > 0);
    }
}
