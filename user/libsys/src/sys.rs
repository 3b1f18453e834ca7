// SPDX-License-Identifier: MPL-2.0
//! Safe wrappers of the process, memory, console and system syscalls (the IPC and capability
//! ones are in [`crate::ipc`]). Each returns `Result<_, SysError>` (except [`exit`], which does
//! not return, and [`power_off`] / [`reboot`], which return only their error);
//! `docs/abi/syscalls.md` describes the syscalls themselves.

use core::fmt;
use core::ptr::NonNull;
use core::time::Duration;

use cambios_abi::audit::Event;
use cambios_abi::error::SysError;
use cambios_abi::syscall::{self as abi, ExitStatus, MemInfo, ProcRecord, Syscall, decode_result};

use crate::ipc::Timeout;
use crate::principal::Principal;
use crate::raw;

/// A process id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(pub u32);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Protection of memory from [`map_anon`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Readable and writable (never executable).
    ReadWrite,
    /// Read-only zero pages.
    Read,
}

impl Protection {
    const fn bits(self) -> u64 {
        match self {
            Protection::ReadWrite => abi::PROT_READ_WRITE,
            Protection::Read => abi::PROT_READ,
        }
    }
}

/// A result value that must fit in 32 bits (ids); a wider one is a kernel the ABI does not know.
fn to_u32(value: u64) -> Result<u32, SysError> {
    u32::try_from(value).map_err(|_| SysError::Unrecognised)
}

/// Ends the process with `code`; its parent's [`wait`] returns `ExitStatus::Exited(code)`.
pub fn exit(code: u32) -> ! {
    // SAFETY: `exit` takes a plain integer and touches no user memory.
    unsafe { raw::syscall1(Syscall::Exit.number(), u64::from(code)) };
    // Unreachable with a working kernel (and on a hosted target, where no syscall works).
    loop {
        core::hint::spin_loop();
    }
}

/// Gives up the rest of the time slice.
pub fn yield_now() -> Result<(), SysError> {
    // SAFETY: no arguments.
    decode_result(unsafe { raw::syscall0(Syscall::Yield.number()) }).map(drop)
}

/// Sleeps for at least `duration` (saturating at `u64::MAX` nanoseconds).
pub fn sleep(duration: Duration) -> Result<(), SysError> {
    let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    // SAFETY: a plain integer argument.
    decode_result(unsafe { raw::syscall1(Syscall::Sleep.number(), ns) }).map(drop)
}

/// The caller's process id.
pub fn pid() -> Result<Pid, SysError> {
    // SAFETY: no arguments.
    let raw = decode_result(unsafe { raw::syscall0(Syscall::GetPid.number()) })?;
    to_u32(raw).map(Pid)
}

/// The caller's Principal (the 32-byte Ed25519 public key its image was signed for).
pub fn principal() -> Result<Principal, SysError> {
    let mut key = [0u8; 32];
    // SAFETY: the kernel writes at most `key.len()` bytes into `key`, a live local buffer.
    let n = decode_result(unsafe {
        raw::syscall2(Syscall::GetPrincipal.number(), key.as_mut_ptr() as u64, key.len() as u64)
    })?;
    if n != key.len() as u64 {
        return Err(SysError::Unrecognised);
    }
    Ok(Principal(key))
}

/// Writes `bytes` to the system console in one syscall; returns the count written. Needs the
/// `console-write` capability (else `PermissionDenied`); at most
/// [`MAX_CONSOLE_WRITE`](cambios_abi::syscall::MAX_CONSOLE_WRITE) bytes per call (else
/// `InvalidArgument`). [`crate::println!`] is usually more convenient.
pub fn console_write(bytes: &[u8]) -> Result<usize, SysError> {
    // SAFETY: the kernel only reads `bytes.len()` bytes from `bytes`.
    let n = decode_result(unsafe {
        raw::syscall2(Syscall::ConsoleWrite.number(), bytes.as_ptr() as u64, bytes.len() as u64)
    })?;
    usize::try_from(n).map_err(|_| SysError::Unrecognised)
}

/// Maps `len` bytes (a non-zero multiple of the page size) of zeroed anonymous memory and returns
/// its start address. The memory stays mapped until [`unmap`] or process exit.
pub fn map_anon(len: usize, protection: Protection) -> Result<NonNull<u8>, SysError> {
    // SAFETY: mapping new memory does not affect memory the program already uses: the kernel
    // picks an address range that is free.
    let addr = decode_result(unsafe { raw::syscall2(Syscall::MapAnon.number(), len as u64, protection.bits()) })?;
    NonNull::new(addr as usize as *mut u8).ok_or(SysError::Unrecognised)
}

/// Unmaps `[addr, addr + len)`, which must have come from [`map_anon`].
///
/// # Safety
/// Nothing may use the range afterwards: no reference into it may be live, and no allocator may
/// still own it.
pub unsafe fn unmap(addr: NonNull<u8>, len: usize) -> Result<(), SysError> {
    // SAFETY: the caller guarantees nothing uses the range any more.
    decode_result(unsafe { raw::syscall2(Syscall::Unmap.number(), addr.as_ptr() as u64, len as u64) }).map(drop)
}

/// Starts the boot module called `name` as a child of the caller (needs the `spawn`
/// capability). Returns the child's pid; collect it with [`wait`].
pub fn spawn(name: &str) -> Result<Pid, SysError> {
    // SAFETY: the kernel only reads `name.len()` bytes from `name`.
    let raw =
        decode_result(unsafe { raw::syscall2(Syscall::Spawn.number(), name.as_ptr() as u64, name.len() as u64) })?;
    to_u32(raw).map(Pid)
}

/// Waits for the child `pid` to end and returns how it ended (`NoChild` if `pid` is not a child
/// of the caller).
pub fn wait(pid: Pid) -> Result<ExitStatus, SysError> {
    // SAFETY: plain integer arguments (the flags word is 0).
    let raw = decode_result(unsafe { raw::syscall2(Syscall::Wait.number(), u64::from(pid.0), 0) })?;
    ExitStatus::decode(raw).ok_or(SysError::Unrecognised)
}

/// Time since boot on the monotonic clock.
pub fn time() -> Result<Duration, SysError> {
    // SAFETY: no arguments.
    let ns = decode_result(unsafe { raw::syscall0(Syscall::GetTime.number()) })?;
    Ok(Duration::from_nanos(ns))
}

/// Physical memory totals, in 4 KiB frames.
pub fn mem_info() -> Result<MemInfo, SysError> {
    let mut record = [0u8; MemInfo::SIZE];
    // SAFETY: the kernel writes at most `record.len()` bytes into `record`, a live local buffer.
    let n = decode_result(unsafe {
        raw::syscall2(Syscall::MemInfo.number(), record.as_mut_ptr() as u64, record.len() as u64)
    })?;
    if n != MemInfo::SIZE as u64 {
        return Err(SysError::Unrecognised);
    }
    Ok(MemInfo::from_bytes(&record))
}

/// Size of the stack buffer the record-reading wrappers ([`audit_read`], [`processes`],
/// [`crate::ipc::caps`]) hand to the kernel: one call returns at most this many bytes of records
/// (64 process records, 72 audit events, 288 capability records).
pub const RECORD_BUFFER: usize = 4608;

/// Makes `call(buffer, length in bytes)`, which writes whole `SIZE`-byte records and returns
/// their count, and parses them into `out`. Asks for at most `out.len()` records (and at most
/// [`RECORD_BUFFER`] bytes); returns how many were written.
pub(crate) fn read_records<T, const SIZE: usize>(
    call: Syscall,
    out: &mut [T],
    parse: impl Fn(&[u8; SIZE]) -> T,
) -> Result<usize, SysError> {
    let mut buf = [0u8; RECORD_BUFFER];
    let want = out.len().min(RECORD_BUFFER / SIZE);
    let bytes = buf.get_mut(..want * SIZE).ok_or(SysError::InvalidArgument)?;
    // SAFETY: the kernel writes at most `bytes.len()` bytes into `bytes`, part of a live local
    // buffer.
    let n = decode_result(unsafe { raw::syscall2(call.number(), bytes.as_mut_ptr() as u64, bytes.len() as u64) })?;
    let n = usize::try_from(n).ok().filter(|n| *n <= want).ok_or(SysError::Unrecognised)?;
    for (dst, chunk) in out.iter_mut().zip(bytes.chunks_exact(SIZE)).take(n) {
        if let Ok(record) = <&[u8; SIZE]>::try_from(chunk) {
            *dst = parse(record);
        }
    }
    Ok(n)
}

/// The logical index of the CPU the caller runs on (possibly stale at once: threads move).
pub fn cpu_id() -> usize {
    // SAFETY: `cpu_id` takes no arguments and touches no memory.
    let raw = unsafe { raw::syscall0(Syscall::CpuId.number()) };
    decode_result(raw).map_or(0, |v| v as usize)
}

/// Fills `out` with one record per CPU slot of the kernel; returns how many.
pub fn cpu_list(out: &mut [cambios_abi::syscall::CpuRecord]) -> Result<usize, SysError> {
    read_records::<cambios_abi::syscall::CpuRecord, { cambios_abi::syscall::CpuRecord::SIZE }>(
        Syscall::CpuList,
        out,
        cambios_abi::syscall::CpuRecord::from_bytes,
    )
}

/// Copies the most recent audit events into `events`, oldest first; returns how many (at most
/// `events.len()`, and at most [`RECORD_BUFFER`] / 64 = 72 per call). Needs the `audit-read`
/// capability (else `PermissionDenied`).
pub fn audit_read(events: &mut [Event]) -> Result<usize, SysError> {
    read_records::<Event, { Event::SIZE }>(Syscall::AuditRead, events, Event::from_bytes)
}

/// The audit counters: events logged, dropped at full buffers, overwritten unread, and the
/// ring's capacity. Needs the `audit-read` capability.
pub fn audit_info() -> Result<cambios_abi::audit::AuditInfo, SysError> {
    let mut raw = [0u8; cambios_abi::audit::AuditInfo::SIZE];
    // SAFETY: the kernel writes at most `raw.len()` bytes into `raw`, a live buffer.
    decode_result(unsafe { raw::syscall2(Syscall::AuditInfo.number(), raw.as_mut_ptr() as u64, raw.len() as u64) })?;
    Ok(cambios_abi::audit::AuditInfo::from_bytes(&raw))
}

/// Reads console input into `buf`: waits up to `timeout` for at least one byte and returns how
/// many were read (`WouldBlock` / `TimedOut` when none came). The kernel does not echo input.
/// Needs the `console-read` capability (else `PermissionDenied`).
pub fn console_read(buf: &mut [u8], timeout: Timeout) -> Result<usize, SysError> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, a live buffer.
    let n = decode_result(unsafe {
        raw::syscall3(Syscall::ConsoleRead.number(), buf.as_mut_ptr() as u64, buf.len() as u64, timeout.encode())
    })?;
    usize::try_from(n).ok().filter(|n| *n <= buf.len()).ok_or(SysError::Unrecognised)
}

/// Lists processes into `out`; returns how many records were written (at most `out.len()`, and
/// at most [`RECORD_BUFFER`] / 72 = 64 per call).
pub fn processes(out: &mut [ProcRecord]) -> Result<usize, SysError> {
    read_records::<ProcRecord, { ProcRecord::SIZE }>(Syscall::ProcessList, out, ProcRecord::from_bytes)
}

/// Ends process `pid` (its parent's [`wait`] returns `ExitStatus::Killed`). Needs the `kill`
/// capability (else `PermissionDenied`).
pub fn kill(pid: Pid) -> Result<(), SysError> {
    // SAFETY: a plain integer argument.
    decode_result(unsafe { raw::syscall1(Syscall::Kill.number(), u64::from(pid.0)) }).map(drop)
}

/// `power(op)`: returns only on failure, with the reason.
fn power(op: u64) -> SysError {
    // SAFETY: a plain integer argument; on success the machine stops.
    match decode_result(unsafe { raw::syscall1(Syscall::Power.number(), op) }) {
        Err(e) => e,
        // Success does not return; a kernel that returns anyway is one this ABI does not know.
        Ok(_) => SysError::Unrecognised,
    }
}

/// Powers the machine off. Returns only on failure, with the reason (`PermissionDenied` without
/// the `power` capability).
pub fn power_off() -> SysError {
    power(abi::POWER_OFF)
}

/// Reboots the machine. Returns only on failure, with the reason (`PermissionDenied` without the
/// `power` capability).
pub fn reboot() -> SysError {
    power(abi::POWER_REBOOT)
}
