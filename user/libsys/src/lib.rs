// SPDX-License-Identifier: MPL-2.0
//! `libsys`: the CambiOS user-space runtime.
//!
//! A program is a `#![no_std]`, `#![no_main]` binary that depends on this crate and names its
//! main function with [`entry!`]:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! libsys::entry!(main);
//!
//! fn main() -> Result<(), libsys::SysError> {
//!     libsys::println!("[demo] pid {}", libsys::sys::pid()?);
//!     Ok(())
//! }
//! ```
//!
//! What the crate provides:
//! - [`sys`]: safe wrappers of the process, memory, console and system syscalls, returning
//!   `Result<_, SysError>`;
//! - [`ipc`]: endpoints, messages (send, receive, call, reply), [`Timeout`], the capability
//!   table ([`ipc::caps`], [`ipc::find_endpoint`]) and kernel-checked senders ([`Verified`]);
//! - [`raw`]: the raw trap (`syscall0`..`syscall6`, [`raw::syscall`]) for code that must pass
//!   arbitrary, even invalid, arguments;
//! - [`print!`], [`println!`], [`eprintln!`]: formatted console output ([`print`]);
//! - [`Principal`]: the caller's identity, shown as a `did:key` ([`base58`]);
//! - the process entry point `_start` (per architecture), the [`entry!`] macro and the exit-code
//!   convention ([`rt::Termination`]);
//! - a panic handler (`panic: <message> at <file>:<line>`, exit code 101);
//! - with the default `heap` feature, a `#[global_allocator]` backed by `map_anon` ([`heap`]).
//!
//! Programs link with `link/user.ld` (see `link/program-build.rs`).
//!
//! Everything that traps into the kernel exists only for the bare-metal targets
//! (`target_os = "none"`); on a hosted target (unit tests) the raw syscalls are stubs that
//! return [`SysError::UnknownSyscall`], so the crate still compiles and its pure parts can be
//! tested.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
#[path = "arch/x86_64.rs"]
mod arch;

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
#[path = "arch/aarch64.rs"]
mod arch;

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
#[path = "arch/riscv64.rs"]
mod arch;

#[cfg(not(target_os = "none"))]
#[path = "arch/host.rs"]
mod arch;

pub mod base58;
#[cfg(all(feature = "heap", target_os = "none"))]
pub mod heap;
pub mod ipc;
mod principal;
pub mod print;
pub mod raw;
pub mod rt;
pub mod sys;

pub use cambios_abi as abi;
pub use cambios_abi::error::SysError;
pub use cambios_abi::syscall::{ExitStatus, FaultKind, MemInfo};
pub use ipc::{Message, Timeout, Verified, WellKnown};
pub use principal::{Principal, ShortDid, ShortHex};
pub use sys::Pid;
