// SPDX-License-Identifier: AGPL-3.0-or-later
//! Syscall dispatch: decode, validate, pre-dispatch hook, handler, typed result.
//!
//! The architecture's entry code passes the number and six argument registers to
//! [`dispatch`] and puts the returned value in the result register. Every step is explicit:
//!
//! 1. **decode**: the number becomes a [`Syscall`] or [`SysError::UnknownSyscall`];
//! 2. **validate**: the capability the syscall needs ([`Syscall::capability`]) must be in the
//!    caller's manifest-granted set, else [`SysError::PermissionDenied`];
//! 3. **pre-dispatch hook** ([`pre_dispatch`]): the interceptor issue plugs policy in here;
//!    today it allows everything;
//! 4. **handler**: checks its own arguments (lengths, alignment, user pointers through
//!    `crate::usercopy`) and returns `Result<u64, SysError>`;
//! 5. **result**: encoded by `cambios_abi::syscall::encode_result`.
//!
//! Syscalls run with interrupts masked; the blocking ones (`sleep`, `wait`, `yield`) switch
//! threads explicitly.

use cambios_abi::error::SysError;
use cambios_abi::syscall::{
    ExitStatus, MAX_CONSOLE_WRITE, MAX_MAP_ANON, MAX_MODULE_NAME, MemInfo, PROT_READ, PROT_READ_WRITE, Syscall,
    encode_result,
};
use kernel_core::addr::PAGE_SIZE;
use kernel_core::sched::BlockReason;

use crate::process::{self, Pid};
use crate::{loader, memory, sched, time};

/// Handles one syscall and returns the value for the result register.
pub fn dispatch(number: u64, args: [u64; 6]) -> u64 {
    encode_result(decode(number).and_then(|call| {
        validate(call)?;
        pre_dispatch(call, &args)?;
        handle(call, args)
    }))
}

fn decode(number: u64) -> Result<Syscall, SysError> {
    Syscall::from_number(number)
}

fn validate(call: Syscall) -> Result<(), SysError> {
    match call.capability() {
        Some(cap) => process::require(cap),
        None => Ok(()),
    }
}

/// The interception point for policy (the interceptor issue): sees every decoded, validated
/// syscall before its handler. Allows everything today.
fn pre_dispatch(_call: Syscall, _args: &[u64; 6]) -> Result<(), SysError> {
    Ok(())
}

fn handle(call: Syscall, [a0, a1, _a2, _a3, _a4, _a5]: [u64; 6]) -> Result<u64, SysError> {
    match call {
        Syscall::Exit => process::exit_current(ExitStatus::Exited(a0 as u32)),
        Syscall::Yield => {
            sched::yield_now();
            Ok(0)
        }
        Syscall::Sleep => sleep(a0),
        Syscall::GetPid => process::current_pid().map(|p| u64::from(p.0)),
        Syscall::GetPrincipal => {
            if a1 < 32 {
                return Err(SysError::InvalidArgument);
            }
            let principal = process::current_principal()?;
            process::copy_to_user(a0, &principal)?;
            Ok(32)
        }
        Syscall::ConsoleWrite => console_write(a0, a1),
        Syscall::MapAnon => {
            if a0 == 0 || !a0.is_multiple_of(PAGE_SIZE) {
                return Err(SysError::InvalidArgument);
            }
            if a0 > MAX_MAP_ANON {
                return Err(SysError::OutOfMemory);
            }
            let write = match a1 {
                PROT_READ_WRITE => true,
                PROT_READ => false,
                _ => return Err(SysError::InvalidArgument),
            };
            process::map_anon(a0, write)
        }
        Syscall::Unmap => {
            if a1 == 0 || !a0.is_multiple_of(PAGE_SIZE) || !a1.is_multiple_of(PAGE_SIZE) {
                return Err(SysError::InvalidArgument);
            }
            process::unmap(a0, a1).map(|()| 0)
        }
        Syscall::Spawn => spawn(a0, a1),
        Syscall::Wait => {
            let child = u32::try_from(a0).map_err(|_| SysError::NoChild)?;
            if a1 != 0 {
                return Err(SysError::InvalidArgument);
            }
            process::wait(Pid(child)).map(ExitStatus::encode)
        }
        Syscall::GetTime => Ok(time::uptime_ns()),
        Syscall::MemInfo => {
            if a1 < MemInfo::SIZE as u64 {
                return Err(SysError::InvalidArgument);
            }
            let (free, total) = memory::frame_counts();
            process::copy_to_user(a0, &MemInfo { total_frames: total, free_frames: free }.to_bytes())?;
            Ok(MemInfo::SIZE as u64)
        }
    }
}

fn sleep(ns: u64) -> Result<u64, SysError> {
    if ns == 0 {
        sched::yield_now();
        return Ok(0);
    }
    let deadline = time::uptime_ns().saturating_add(ns);
    sched::block(BlockReason::Sleep, Some(deadline)).map_err(|_| SysError::InvalidArgument)?;
    Ok(0)
}

fn console_write(ptr: u64, len: u64) -> Result<u64, SysError> {
    if len > MAX_CONSOLE_WRITE {
        return Err(SysError::InvalidArgument);
    }
    let mut buffer = [0u8; MAX_CONSOLE_WRITE as usize];
    let bytes = buffer.get_mut(..len as usize).ok_or(SysError::InvalidArgument)?;
    process::copy_from_user(ptr, bytes)?;
    crate::console::write_bytes(bytes);
    Ok(len)
}

fn spawn(ptr: u64, len: u64) -> Result<u64, SysError> {
    if len == 0 || len > MAX_MODULE_NAME {
        return Err(SysError::InvalidArgument);
    }
    let mut buffer = [0u8; MAX_MODULE_NAME as usize];
    let bytes = buffer.get_mut(..len as usize).ok_or(SysError::InvalidArgument)?;
    process::copy_from_user(ptr, bytes)?;
    let name = core::str::from_utf8(bytes).map_err(|_| SysError::InvalidArgument)?;
    let parent = process::current_pid()?;
    loader::spawn(name, Some(parent)).map(|pid| u64::from(pid.0))
}
