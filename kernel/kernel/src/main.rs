// SPDX-License-Identifier: AGPL-3.0-or-later
//! The CambiOS kernel image.
//!
//! This crate is thin glue: architecture code (`arch/`) brings the machine to a known state
//! and produces a [`kernel_boot::BootInfo`]; [`boot_sequence::kernel_main`] then runs the
//! portable sequence (memory, paging, heap, tables, traps, interrupts, timer, modules,
//! verified loading of user processes) built from `kernel-core` and `kernel-verify`. It only builds for the bare-metal targets; on the host it is an empty
//! program that says so.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
#[macro_use]
mod console;
#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod audit;
#[cfg(target_os = "none")]
mod boot_sequence;
#[cfg(target_os = "none")]
mod device_tree;
#[cfg(target_os = "none")]
mod error;
#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod interceptor;
#[cfg(target_os = "none")]
mod ipc;
#[cfg(target_os = "none")]
mod layout;
#[cfg(target_os = "none")]
mod loader;
#[cfg(target_os = "none")]
mod memory;
#[cfg(target_os = "none")]
mod modules;
#[cfg(target_os = "none")]
mod monitor;
#[cfg(target_os = "none")]
mod panic;
#[cfg(target_os = "none")]
mod process;
#[cfg(target_os = "none")]
mod sched;
#[cfg(all(target_os = "none", feature = "selftest"))]
mod selftest;
#[cfg(target_os = "none")]
mod smp;
#[cfg(target_os = "none")]
mod sync;
#[cfg(target_os = "none")]
mod syscall;
#[cfg(target_os = "none")]
mod tables;
#[cfg(target_os = "none")]
mod time;
#[cfg(target_os = "none")]
mod trap;
#[cfg(target_os = "none")]
mod usercopy;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the CambiOS kernel runs only on bare metal: use `make run` (see `make help`)");
}
