// SPDX-License-Identifier: AGPL-3.0-or-later
//! The kernel's error type: every fallible step of the boot returns one.

use core::fmt;

use kernel_boot::BootError;
use kernel_core::clock::ClockError;
use kernel_core::frame::FrameError;
use kernel_core::memmap::RangeError;
use kernel_core::paging::PagingError;
use kernel_core::sched::SchedError;
use kernel_core::tier::SizingError;
use kernel_core::uspace::RegionError;

/// Why a kernel operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// Boot information was unusable.
    Boot(BootError),
    /// The frame allocator refused.
    Frames(FrameError),
    /// A page-table operation failed.
    Paging(PagingError),
    /// A fixed-capacity range table overflowed.
    Ranges(RangeError),
    /// The object tables do not fit in memory.
    Tables(SizingError),
    /// A clock or timer computation failed.
    Clock(ClockError),
    /// The boot information lists more reserved ranges than the kernel can record; using the
    /// memory map would risk handing out firmware or boot data.
    TooManyReservedRanges(usize),
    /// The boot stack overflowed into its guard page before the final page tables existed.
    BootStackOverflow,
    /// Something was used before it was set up; the text says what.
    NotInitialised(&'static str),
    /// An address does not fit the kernel's address-space layout; the text says what.
    AddressSpace(&'static str),
    /// Architecture-specific hardware setup failed; the text says what.
    Hardware(&'static str),
    /// The scheduler refused an operation.
    Sched(SchedError),
    /// A user address-space region operation failed.
    Region(RegionError),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Boot(e) => write!(f, "boot information: {}", e.as_str()),
            KernelError::Frames(e) => write!(f, "frame allocator: {}", e.as_str()),
            KernelError::Paging(e) => write!(f, "paging: {}", e.as_str()),
            KernelError::Ranges(RangeError::Full) => write!(f, "memory map: too many ranges"),
            KernelError::Tables(e) => write!(f, "object tables: {}", e.as_str()),
            KernelError::Clock(e) => write!(f, "clock: {}", e.as_str()),
            KernelError::TooManyReservedRanges(n) => {
                write!(f, "{n} reserved ranges did not fit the table (raise kernel_boot::MAX_RESERVED)")
            }
            KernelError::BootStackOverflow => {
                write!(f, "the boot stack overflowed into its guard page during early boot (raise its size)")
            }
            KernelError::NotInitialised(what) => write!(f, "{what} used before initialisation"),
            KernelError::AddressSpace(what) => write!(f, "address space: {what}"),
            KernelError::Hardware(what) => write!(f, "hardware: {what}"),
            KernelError::Sched(e) => write!(f, "scheduler: {}", e.as_str()),
            KernelError::Region(e) => write!(f, "address space: {}", e.as_str()),
        }
    }
}

macro_rules! from_error {
    ($($source:ty => $variant:ident),* $(,)?) => {
        $(impl From<$source> for KernelError {
            fn from(e: $source) -> Self {
                KernelError::$variant(e)
            }
        })*
    };
}

from_error!(
    BootError => Boot,
    FrameError => Frames,
    PagingError => Paging,
    RangeError => Ranges,
    SizingError => Tables,
    ClockError => Clock,
    SchedError => Sched,
    RegionError => Region,
);
