// SPDX-License-Identifier: AGPL-3.0-or-later
//! Checks that `docs/abi/syscalls.md` and the ABI crate agree: every syscall's number, name,
//! argument count and capability, every error code, and every capability name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cambios_abi::cap::Capability;
use cambios_abi::error::SysError;
use cambios_abi::syscall::Syscall;

fn document() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/abi/syscalls.md");
    std::fs::read_to_string(path).expect("docs/abi/syscalls.md is readable")
}

/// The rows of the markdown table that follows `heading`, as trimmed cells.
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let start = doc.find(heading).unwrap_or_else(|| panic!("no `{heading}` section"));
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect())
        .collect()
}

#[test]
fn every_syscall_is_documented_as_implemented() {
    let rows = table(&document(), "## Syscalls");
    assert_eq!(rows.len(), Syscall::ALL.len(), "one row per syscall");
    for (row, call) in rows.iter().zip(Syscall::ALL) {
        assert_eq!(row[0], call.number().to_string(), "number of {}", call.name());
        assert_eq!(row[1], call.name(), "name of syscall {}", call.number());
        let documented_args = if row[2] == "—" { 0 } else { row[2].split(',').count() };
        assert_eq!(documented_args, call.arg_count(), "argument count of {}", call.name());
        let cap = call.capability().map_or("—", |c| c.name());
        assert_eq!(row[5], cap, "capability of {}", call.name());
        for error in row[4].split(',').map(str::trim).filter(|e| *e != "—") {
            assert!(SysError::ALL.iter().any(|e| e.name() == error), "{}: unknown error {error}", call.name());
        }
        let needs_cap = call.capability().is_some();
        assert_eq!(
            row[4].contains("PermissionDenied"),
            needs_cap,
            "{}: PermissionDenied iff a capability",
            call.name()
        );
    }
}

#[test]
fn every_error_code_is_documented() {
    let rows = table(&document(), "## Error codes");
    assert_eq!(rows.len(), SysError::ALL.len());
    for (row, error) in rows.iter().zip(SysError::ALL) {
        assert_eq!(row[0], error.code().to_string(), "code of {}", error.name());
        assert_eq!(row[1], error.name());
    }
}

#[test]
fn every_capability_is_documented() {
    let rows = table(&document(), "## Capabilities");
    assert_eq!(rows.len(), Capability::ALL.len());
    for (row, cap) in rows.iter().zip(Capability::ALL) {
        assert_eq!(row[0], cap.name());
    }
}
