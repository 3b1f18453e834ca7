// SPDX-License-Identifier: AGPL-3.0-or-later
//! Shared plumbing: the error type, cargo-style status lines, paths, and running programs.

use std::ffi::OsStr;
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// A user-facing error: one message, already phrased for the person at the terminal.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The result type of every task.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns early with an [`Error`] built from a format string.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::util::Error::new(format!($($arg)*)))
    };
}
pub(crate) use bail;

/// Adds "what we were doing" to any displayable error.
pub trait Context<T> {
    /// Prefixes the error with `what: `.
    fn context(self, what: impl fmt::Display) -> Result<T>;
    /// Like [`Context::context`], computing the message only on error.
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what())))
    }
}

/// Terminal colours for status lines, chosen once per stream.
#[derive(Clone, Copy)]
pub enum Color {
    /// Progress (cargo's green).
    Green,
    /// Warnings and skips.
    Yellow,
    /// Errors and failures.
    Red,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Green => "32",
            Color::Yellow => "33",
            Color::Red => "31",
        }
    }
}

fn colour_enabled(stderr: bool) -> bool {
    if std::env::var_os("NO_COLOR").is_some() {
        return false;
    }
    if std::env::var("CARGO_TERM_COLOR").is_ok_and(|v| v == "always") {
        return true;
    }
    if stderr { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() }
}

/// `text` in bold `color` if the stream (stderr if `stderr`) is a colour terminal.
pub fn paint(text: &str, color: Color, stderr: bool) -> String {
    if colour_enabled(stderr) { format!("\x1b[1;{}m{text}\x1b[0m", color.code()) } else { text.to_string() }
}

/// Prints a cargo-style status line to stderr: the verb right-aligned in 12 columns.
pub fn status(verb: &str, message: impl fmt::Display) {
    eprintln!("{} {message}", paint(&format!("{verb:>12}"), Color::Green, true));
}

/// Prints a warning line to stderr.
pub fn warn(message: impl fmt::Display) {
    eprintln!("{} {message}", paint("warning:", Color::Yellow, true));
}

/// The workspace root (two levels above this crate's manifest).
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory (`$CARGO_TARGET_DIR` if set, else `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { root().join(dir) }
        }
        _ => root().join("target"),
    }
}

/// `path` relative to the workspace root when it is inside it (for messages).
pub fn display_path(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// The cargo executable that runs us (`$CARGO`), or `cargo` from `PATH`.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Finds an executable in `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A command line as one shell-pasteable string.
pub fn shell_line<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter().map(|a| shell_quote(&a.as_ref().to_string_lossy())).collect::<Vec<_>>().join(" ")
}

/// Quotes one word for a POSIX shell, only if needed.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` with inherited stdio and fails with `what` if it does not succeed.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("{what}: cannot start {}", program_name(cmd)))?;
    if !status.success() {
        bail!("{what} failed ({})", describe_status(status));
    }
    Ok(())
}

/// The program name of a command, for messages.
pub fn program_name(cmd: &Command) -> String {
    cmd.get_program().to_string_lossy().into_owned()
}

/// "exit status 3" or "killed by signal 9".
pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown status".to_string(),
    }
}

/// A byte count for humans: `812 bytes`, `123 KiB`, `4.5 MiB`.
pub fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if bytes < KIB {
        format!("{bytes} bytes")
    } else if bytes < MIB {
        format!("{} KiB", bytes.div_ceil(KIB))
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    }
}

/// Creates `dir` (and parents).
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", display_path(dir)))
}

/// Writes `bytes` to `path`, creating the parent directory.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", display_path(path)))
}

/// Reads `path`.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", display_path(path)))
}

/// Reads a pipe to its end on a thread; the text arrives on the returned channel (a caller can
/// give up waiting if something keeps the pipe open).
pub fn read_all_in_background<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("-m"), "-m");
        assert_eq!(shell_quote("console=ttyS0 x=1"), "'console=ttyS0 x=1'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_line(&["qemu", "-append", "a b"]), "qemu -append 'a b'");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(10), "10 bytes");
        assert_eq!(human_size(1024), "1 KiB");
        assert_eq!(human_size(1025), "2 KiB");
        assert_eq!(human_size(3 * 1024 * 1024 / 2), "1.5 MiB");
    }

    #[test]
    fn root_holds_the_workspace() {
        assert!(root().join("Cargo.toml").is_file());
        assert!(root().join("abi").is_dir());
    }
}
