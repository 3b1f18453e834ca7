// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cargo xtask check-all`: clippy with warnings denied for every kernel target (with and
//! without the `selftest` feature), for the host crates and for the user programs on every
//! user target, then `cargo fmt --check` of both workspaces.
//! Then the source-file conventions ([`crate::headers`]: SPDX lines and module docs). Every
//! step runs even if an earlier one failed; the summary names the failures.

use std::time::Instant;

use cambios_abi::Arch;

use crate::util::{self, Color, paint, status};

/// One check: a label and the cargo arguments.
pub struct Step {
    /// What is checked.
    pub label: String,
    /// Arguments after `cargo`.
    pub args: Vec<String>,
    /// Directory (under the workspace root) to run in: `user` for the user workspace, whose
    /// `.cargo/config.toml` only applies there.
    pub dir: Option<&'static str>,
}

/// Every step, in order.
pub fn steps() -> Vec<Step> {
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let mut steps = Vec::new();
    for arch in Arch::ALL {
        let target = arch.kernel_target();
        for (features, note) in [("", ""), (" --features selftest", ", selftest")] {
            steps.push(Step {
                label: format!("clippy kernel ({target}{note})"),
                args: words(&format!("clippy -p kernel --target {target}{features} -- -D warnings")),
                dir: None,
            });
        }
    }
    steps.push(Step {
        label: "clippy host crates (all targets)".to_string(),
        args: words("clippy --workspace --all-targets -- -D warnings"),
        dir: None,
    });
    for arch in Arch::ALL {
        let target = arch.user_target();
        steps.push(Step {
            label: format!("clippy user programs ({target})"),
            args: words(&format!("clippy --workspace --target {target} -- -D warnings")),
            dir: Some("user"),
        });
    }
    steps.push(Step {
        label: "rustfmt (user programs)".to_string(),
        args: words("fmt --all -- --check"),
        dir: Some("user"),
    });
    steps.push(Step { label: "rustfmt".to_string(), args: words("fmt --all -- --check"), dir: None });
    steps
}

/// Runs every step; returns true if all passed.
pub fn command() -> bool {
    let started = Instant::now();
    let all = steps();
    let mut failed = Vec::new();
    for step in &all {
        status("Checking", &step.label);
        let mut cmd = util::cargo();
        cmd.args(&step.args);
        if let Some(dir) = step.dir {
            cmd.current_dir(util::root().join(dir));
            // The user workspace has its own target directory (as `cargo xtask user` uses).
            cmd.env("CARGO_TARGET_DIR", util::target_dir().join("user"));
        }
        let ok = match cmd.status() {
            Ok(s) if s.success() => true,
            Ok(s) => {
                eprintln!("{} {} ({})", paint("error:", Color::Red, true), step.label, util::describe_status(s));
                false
            }
            Err(e) => {
                eprintln!("{} cannot run cargo: {e}", paint("error:", Color::Red, true));
                false
            }
        };
        if !ok {
            failed.push(step.label.as_str());
        }
    }
    status("Checking", "SPDX headers and module docs");
    let problems = crate::headers::check_tree(&util::root());
    for p in &problems {
        eprintln!("{} {p}", paint("error:", Color::Red, true));
    }
    if !problems.is_empty() {
        failed.push("SPDX headers and module docs");
    }
    let total = all.len() + 1;
    let secs = started.elapsed().as_secs_f64();
    if failed.is_empty() {
        status("Finished", format!("all {total} checks passed in {secs:.1} s"));
        true
    } else {
        eprintln!(
            "{} {} of {} checks failed: {}",
            paint("error:", Color::Red, true),
            failed.len(),
            total,
            failed.join("; ")
        );
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_target_and_the_host() {
        let lines: Vec<String> = steps().iter().map(|s| s.args.join(" ")).collect();
        for arch in Arch::ALL {
            let t = arch.kernel_target();
            assert!(lines.contains(&format!("clippy -p kernel --target {t} -- -D warnings")));
            assert!(lines.contains(&format!("clippy -p kernel --target {t} --features selftest -- -D warnings")));
        }
        assert!(lines.contains(&"clippy --workspace --all-targets -- -D warnings".to_string()));
        assert_eq!(lines.last().map(String::as_str), Some("fmt --all -- --check"));
    }
}
