// SPDX-License-Identifier: AGPL-3.0-or-later
//! The kernel's error type: every fallible step of the boot returns one.

use core::fmt;

use kernel_boot::BootError;
use kernel_core::frame::FrameError;
use kernel_core::memmap::RangeError;
use kernel_core::paging::PagingError;

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
    /// Architecture-specific hardware setup failed; the text says what.
    Hardware(&'static str),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Boot(e) => write!(f, "boot information: {}", e.as_str()),
            KernelError::Frames(e) => write!(f, "frame allocator: {}", e.as_str()),
            KernelError::Paging(e) => write!(f, "paging: {}", e.as_str()),
            KernelError::Ranges(RangeError::Full) => write!(f, "memory map: too many ranges"),
            KernelError::Hardware(what) => write!(f, "hardware: {what}"),
        }
    }
}

impl From<BootError> for KernelError {
    fn from(e: BootError) -> Self {
        KernelError::Boot(e)
    }
}
impl From<FrameError> for KernelError {
    fn from(e: FrameError) -> Self {
        KernelError::Frames(e)
    }
}
impl From<PagingError> for KernelError {
    fn from(e: PagingError) -> Self {
        KernelError::Paging(e)
    }
}
impl From<RangeError> for KernelError {
    fn from(e: RangeError) -> Self {
        KernelError::Ranges(e)
    }
}
