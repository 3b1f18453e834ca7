// SPDX-License-Identifier: AGPL-3.0-or-later
//! The user address-space layout, the same on every architecture.
//!
//! User space is `[USER_START, USER_END)`: 256 GiB, which every paging mode CambiOS uses can
//! translate (RISC-V Sv39's lower half is exactly 2^38 bytes). The first 64 KiB stay unmapped
//! so null-pointer accesses fault. Programs are linked at [`USER_IMAGE_BASE`]; the kernel maps
//! the main thread's stack below [`USER_STACK_TOP`] with an unmapped guard page beneath it;
//! `map_anon` hands out addresses from [`USER_ANON_BASE`] upward.

/// Lowest user address the kernel maps.
pub const USER_START: u64 = 0x1_0000;
/// One past the highest user address.
pub const USER_END: u64 = 1 << 38;
/// Where user programs are linked (the linker script in user/libsys uses this value).
pub const USER_IMAGE_BASE: u64 = 0x40_0000;
/// Top of the main thread's stack (exclusive; the initial stack pointer).
pub const USER_STACK_TOP: u64 = 0x3f_f000_0000;
/// Size of the main thread's stack.
pub const USER_STACK_SIZE: u64 = 256 * 1024;
/// First address `map_anon` hands out.
pub const USER_ANON_BASE: u64 = 0x10_0000_0000;
/// One past the last address `map_anon` hands out (below the stack and its guard).
pub const USER_ANON_END: u64 = 0x3f_0000_0000;
/// Largest signed image (ELF plus signature trailer) the loader accepts: 16 MiB.
pub const MAX_IMAGE_BYTES: u64 = 16 << 20;
/// Largest total memory (sum of segment sizes) one image may ask for: 256 MiB.
pub const MAX_IMAGE_MEMORY: u64 = 256 << 20;
/// Most loadable segments one image may have.
pub const MAX_LOAD_SEGMENTS: usize = 16;
/// Page size of user mappings.
pub const PAGE_SIZE: u64 = 4096;

const _: () = assert!(USER_IMAGE_BASE >= USER_START && USER_ANON_BASE < USER_ANON_END);
const _: () = assert!(USER_ANON_END + PAGE_SIZE <= USER_STACK_TOP - USER_STACK_SIZE && USER_STACK_TOP <= USER_END);
