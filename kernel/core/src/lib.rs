// SPDX-License-Identifier: AGPL-3.0-or-later
//! Portable kernel logic for CambiOS.
//!
//! Nothing in this crate depends on the target architecture: there is no `cfg(target_arch)`,
//! no inline assembly and no global state. Every module is unit-tested on the host with
//! `cargo test`. Architecture code in the `kernel` crate plugs in through small traits
//! ([`paging::PageTableFormat`], [`sync::InterruptMask`]).
#![cfg_attr(not(test), no_std)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod addr;
pub mod audit;
pub mod cap;
pub mod clock;
pub mod cmdline;
pub mod frame;
pub mod ipc;
pub mod memmap;
pub mod paging;
pub mod sched;
pub mod sync;
#[cfg(test)]
mod testing;
pub mod tier;
pub mod uspace;
