// SPDX-License-Identifier: AGPL-3.0-or-later
//! Typed syscall errors and their negative result codes.

/// Why a syscall failed. Returned to user space as a negative 64-bit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i64)]
pub enum SysError {
    /// An argument is out of range or malformed (bad length, flags, alignment).
    InvalidArgument = -1,
    /// The caller lacks the capability the syscall needs.
    PermissionDenied = -2,
    /// Not enough memory (frames, address space or table slots).
    OutOfMemory = -3,
    /// The named thing (module, process) does not exist.
    NotFound = -4,
    /// A user pointer is unmapped, outside user space or lacks the needed permission.
    BadAddress = -5,
    /// The process has no child matching the request.
    NoChild = -6,
    /// The module exists but failed verification.
    VerificationFailed = -7,
    /// A non-blocking operation would have to wait.
    WouldBlock = -8,
    /// The timeout passed before the operation could complete.
    TimedOut = -9,
    /// The endpoint's queue is full (non-blocking send).
    QueueFull = -10,
    /// The capability slot is empty, or the capability was revoked.
    BadCapability = -11,
    /// The capability lacks the right the operation needs.
    MissingRight = -12,
    /// The interceptor's policy refused the operation.
    Denied = -13,
    /// The number does not name a syscall.
    UnknownSyscall = -38,
    /// The kernel returned a code this ABI version does not know.
    Unrecognised = -4095,
}

impl SysError {
    /// Every error, for tables and tests.
    pub const ALL: [SysError; 15] = [
        SysError::InvalidArgument,
        SysError::PermissionDenied,
        SysError::OutOfMemory,
        SysError::NotFound,
        SysError::BadAddress,
        SysError::NoChild,
        SysError::VerificationFailed,
        SysError::WouldBlock,
        SysError::TimedOut,
        SysError::QueueFull,
        SysError::BadCapability,
        SysError::MissingRight,
        SysError::Denied,
        SysError::UnknownSyscall,
        SysError::Unrecognised,
    ];

    /// The negative value returned in the result register.
    pub const fn code(self) -> i64 {
        self as i64
    }

    /// Decodes a negative result; unknown codes become [`SysError::Unrecognised`].
    pub fn from_code(code: i64) -> SysError {
        SysError::ALL.iter().copied().find(|e| e.code() == code).unwrap_or(SysError::Unrecognised)
    }

    /// The name used in documentation.
    pub const fn name(self) -> &'static str {
        match self {
            SysError::InvalidArgument => "InvalidArgument",
            SysError::PermissionDenied => "PermissionDenied",
            SysError::OutOfMemory => "OutOfMemory",
            SysError::NotFound => "NotFound",
            SysError::BadAddress => "BadAddress",
            SysError::NoChild => "NoChild",
            SysError::VerificationFailed => "VerificationFailed",
            SysError::WouldBlock => "WouldBlock",
            SysError::TimedOut => "TimedOut",
            SysError::QueueFull => "QueueFull",
            SysError::BadCapability => "BadCapability",
            SysError::MissingRight => "MissingRight",
            SysError::Denied => "Denied",
            SysError::UnknownSyscall => "UnknownSyscall",
            SysError::Unrecognised => "Unrecognised",
        }
    }

    /// A human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            SysError::InvalidArgument => "invalid argument",
            SysError::PermissionDenied => "permission denied (capability not granted)",
            SysError::OutOfMemory => "out of memory",
            SysError::NotFound => "not found",
            SysError::BadAddress => "bad user address",
            SysError::NoChild => "no such child process",
            SysError::VerificationFailed => "module failed verification",
            SysError::WouldBlock => "operation would block",
            SysError::TimedOut => "timed out",
            SysError::QueueFull => "endpoint queue full",
            SysError::BadCapability => "no such capability (empty slot or revoked)",
            SysError::MissingRight => "the capability lacks the needed right",
            SysError::Denied => "denied by policy",
            SysError::UnknownSyscall => "unknown syscall number",
            SysError::Unrecognised => "unrecognised error code",
        }
    }
}

impl core::fmt::Display for SysError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
