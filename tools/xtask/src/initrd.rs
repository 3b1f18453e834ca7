// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cargo xtask initrd`: packs the data files of `boot/modules/*`, the signed user programs and
//! the signed boot manifest ([`crate::services`]) into a CAMBINIT archive
//! (`cambios_abi::initrd`) at `build/<arch>/initrd.img`.

use std::path::{Path, PathBuf};

use cambios_abi::{Arch, initrd};

use crate::util::{self, Context, Result, bail, display_path, human_size, status};

/// What went into an initrd.
#[derive(Clone, Debug)]
pub struct Initrd {
    /// The archive file.
    pub path: PathBuf,
    /// Entry names and sizes, in archive order.
    pub entries: Vec<(String, usize)>,
}

/// `boot/modules/`.
pub fn modules_dir() -> PathBuf {
    util::root().join("boot").join("modules")
}

/// The module files: `boot/modules/*` (sorted by name, hidden files skipped) then `extra`.
/// Entry names are file names.
fn collect(dir: &Path, extra: &[PathBuf]) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(listing) => {
            for item in listing {
                let item = item.with_context(|| format!("cannot list {}", display_path(dir)))?;
                let path = item.path();
                let name = item.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                if !path.is_file() {
                    util::warn(format!("{} is not a regular file; not put in the initrd", display_path(&path)));
                    continue;
                }
                files.push((name, path));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("cannot list {}: {e}", display_path(dir)),
    }
    files.sort();
    for path in extra {
        let found = resolve(path)?;
        let Some(name) = found.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            bail!("extra module '{}' has no file name", path.display());
        };
        files.push((name, found));
    }
    for (index, (name, path)) in files.iter().enumerate() {
        if !initrd::valid_name(name.as_bytes()) {
            bail!(
                "module {}: the name '{name}' is not a valid initrd entry name (1 to {} bytes, no '/')",
                display_path(path),
                initrd::NAME_LEN
            );
        }
        if let Some((_, earlier)) = files.iter().take(index).find(|(n, _)| n == name) {
            bail!(
                "two modules are called '{name}': {} and {} (initrd entry names must be unique)",
                display_path(earlier),
                display_path(path)
            );
        }
    }
    Ok(files)
}

/// An extra module path: as given (relative to the current directory), else relative to the
/// workspace root (what `make EXTRA_MODULES=` passes).
fn resolve(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let in_root = util::root().join(path);
    if path.is_relative() && in_root.is_file() {
        return Ok(in_root);
    }
    bail!("extra module '{}' not found (or not a regular file)", path.display())
}

/// Encodes `(name, contents)` pairs into a CAMBINIT archive.
pub fn encode(entries: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let len = initrd::encoded_len(entries).context("cannot make the initrd")?;
    let mut out = vec![0u8; len];
    let written = initrd::encode_into(entries, &mut out).context("cannot make the initrd")?;
    out.truncate(written);
    Ok(out)
}

/// Builds `build/<arch>/<file_name>` (normally `initrd.img`): the data files of `boot/modules/`, then every service of
/// `services` (built, signed and listed in the signed manifest by [`crate::services::compose`]).
pub fn build(arch: Arch, services: &[crate::services::Service], release: bool, file_name: &str) -> Result<Initrd> {
    let files = collect(&modules_dir(), &[])?;
    let mut contents: Vec<(String, Vec<u8>)> = Vec::with_capacity(files.len() + services.len() + 1);
    for (name, path) in &files {
        contents.push((name.clone(), util::read_file(path)?));
    }
    let composed = if services.is_empty() { Vec::new() } else { crate::services::compose(arch, services, release)? };
    for (name, bytes) in composed {
        if !initrd::valid_name(name.as_bytes()) {
            bail!("module name '{name}' is not a valid initrd entry name (1 to {} bytes, no '/')", initrd::NAME_LEN);
        }
        if contents.iter().any(|(n, _)| *n == name) {
            bail!("two initrd entries are called '{name}' (a service and a file in boot/modules/)");
        }
        contents.push((name, bytes));
    }
    let pairs: Vec<(&str, &[u8])> = contents.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    let archive = encode(&pairs)?;
    // Check what we wrote with the same parser the kernel uses.
    let parsed = initrd::parse(&archive).context("internal error: the new initrd does not parse")?;
    let path = crate::build::arch_dir(arch).join(file_name);
    util::write_file(&path, &archive)?;
    let noun = if parsed.len() == 1 { "entry" } else { "entries" };
    status(
        "Packing",
        format!("{} ({} {noun}, {})", display_path(&path), parsed.len(), human_size(archive.len() as u64)),
    );
    let width = contents.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, data) in &contents {
        eprintln!("{:12} {name:width$}  {}", "", human_size(data.len() as u64));
    }
    Ok(Initrd { path, entries: contents.iter().map(|(n, d)| (n.clone(), d.len())).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-initrd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn collects_sorted_files_and_extras() {
        let dir = temp_dir("collect");
        std::fs::write(dir.join("zeta"), b"z").unwrap();
        std::fs::write(dir.join("alpha"), b"a").unwrap();
        std::fs::write(dir.join(".hidden"), b"h").unwrap();
        std::fs::create_dir(dir.join("subdir")).unwrap();
        let extra_dir = temp_dir("extra");
        let extra = extra_dir.join("init.elf");
        std::fs::write(&extra, b"\x7fELF").unwrap();
        let files = collect(&dir, std::slice::from_ref(&extra)).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["alpha", "zeta", "init.elf"]);

        let dup = extra_dir.join("alpha");
        std::fs::write(&dup, b"again").unwrap();
        let e = collect(&dir, &[dup]).unwrap_err().to_string();
        assert!(e.contains("two modules are called 'alpha'"), "{e}");
        let e = collect(&dir, &[PathBuf::from("/nonexistent/x.elf")]).unwrap_err().to_string();
        assert!(e.contains("not found"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&extra_dir);
    }

    #[test]
    fn missing_directory_means_no_entries() {
        let files = collect(Path::new("/nonexistent/boot/modules"), &[]).unwrap();
        assert!(files.is_empty());
        let archive = encode(&[]).unwrap();
        assert_eq!(initrd::parse(&archive).unwrap().len(), 0);
    }

    #[test]
    fn encode_round_trips() {
        let archive = encode(&[("motd", b"hi\n"), ("x", &[0; 9])]).unwrap();
        let parsed = initrd::parse(&archive).unwrap();
        assert_eq!(parsed.get("motd").unwrap().data, b"hi\n");
        assert_eq!(parsed.get("x").unwrap().data.len(), 9);
    }
}
