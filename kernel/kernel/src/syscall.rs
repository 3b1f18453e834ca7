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

use cambios_abi::audit::{Event, EventKind};
use cambios_abi::ipc::{CapRecord, Rights};
use cambios_abi::syscall::{POWER_OFF, POWER_REBOOT, ProcRecord};

use crate::interceptor::{ACTIVE, Interceptor, Subject, Verdict};
use crate::process::{self, Pid};
use crate::{ipc, loader, memory, sched, time};

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
        Some(cap) => process::require(cap).inspect_err(|_| {
            if let (Ok(pid), Ok(principal)) = (process::current_pid(), process::current_principal()) {
                crate::audit::log_denial(EventKind::CapDenied, pid.0, &principal, call.number(), cap as u64);
            }
        }),
        None => Ok(()),
    }
}

/// The interceptor's syscall hook: sees every decoded, capability-checked syscall before its
/// handler; a denial is `Denied` and an `intercept.denied` audit event.
fn pre_dispatch(call: Syscall, args: &[u64; 6]) -> Result<(), SysError> {
    let Some((pid, principal)) = crate::sched::current_identity() else {
        return Ok(());
    };
    match ACTIVE.on_syscall(Subject { pid: pid.0, principal: &principal }, call, args) {
        Verdict::Allow => Ok(()),
        Verdict::Deny(_) => {
            crate::audit::log_denial(EventKind::InterceptDenied, pid.0, &principal, call.number(), 0);
            Err(SysError::Denied)
        }
    }
}

fn handle(call: Syscall, [a0, a1, a2, _a3, _a4, _a5]: [u64; 6]) -> Result<u64, SysError> {
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
        Syscall::EndpointCreate => ipc::create(),
        Syscall::Send => ipc::send(a0, a1, a2),
        Syscall::Receive => ipc::receive(a0, a1, a2),
        Syscall::Call => ipc::call(a0, a1, a2),
        Syscall::Reply => ipc::reply(a0),
        Syscall::CapRevoke => ipc::revoke(a0),
        Syscall::CapDrop => ipc::drop_cap(a0),
        Syscall::CapList => {
            let mut records = [CapRecord { slot: 0, kind: 0, rights: Rights::NONE, endpoint: 0, owner: 0 }; 72];
            let n = process::cap_records(&mut records)?;
            copy_records(a0, a1, records.get(..n).unwrap_or(&[]).iter().map(CapRecord::to_bytes))
        }
        Syscall::AuditRead => {
            let mut events = [Event::default(); 64];
            let n = crate::audit::read_newest(&mut events);
            let wanted = (a1 / Event::SIZE as u64) as usize;
            // The newest ones that fit.
            let skip = n.saturating_sub(wanted);
            copy_records(a0, a1, events.get(skip..n).unwrap_or(&[]).iter().map(Event::to_bytes))
        }
        Syscall::ConsoleRead => {
            if a1 == 0 || a1 > 4096 {
                return Err(SysError::InvalidArgument);
            }
            let mut buffer = [0u8; 256];
            let len = (a1 as usize).min(buffer.len());
            process::copy_to_user(a0, buffer.get(..len).unwrap_or(&[]))?;
            let until = (a2 != cambios_abi::ipc::FOREVER).then(|| time::uptime_ns().saturating_add(a2));
            let pid = process::current_pid()?.0;
            let n = crate::monitor::user_read(pid, buffer.get_mut(..len).unwrap_or(&mut []), until, a2 == 0)?;
            process::copy_to_user(a0, buffer.get(..n).unwrap_or(&[]))?;
            Ok(n as u64)
        }
        Syscall::ProcessList => {
            let blank = ProcRecord { pid: 0, parent: 0, state: 0, cpu: 0, principal: [0; 32], name: [0; 24] };
            let mut records = [blank; 64];
            let n = process::records(&mut records);
            copy_records(a0, a1, records.get(..n).unwrap_or(&[]).iter().map(ProcRecord::to_bytes))
        }
        Syscall::CpuId => Ok(crate::smp::current() as u64),
        Syscall::CpuList => {
            let mut records = [cambios_abi::syscall::CpuRecord::default(); crate::smp::MAX_CPUS];
            for (cpu, record) in records.iter_mut().enumerate() {
                let info = crate::smp::info(cpu);
                let counts = crate::sched::counts(cpu);
                *record = cambios_abi::syscall::CpuRecord {
                    index: cpu as u32,
                    online: info.is_some_and(|i| i.online),
                    hw_id: info.map_or(0, |i| i.hw_id),
                    ticks: info.map_or(0, |i| i.ticks),
                    ipis: info.map_or(0, |i| i.ipis),
                    ready: counts.map_or(0, |c| c.ready as u32),
                    running: counts.map_or(0, |c| c.running as u32),
                };
            }
            copy_records(a0, a1, records.iter().map(cambios_abi::syscall::CpuRecord::to_bytes))
        }
        Syscall::Kill => {
            let pid = u32::try_from(a0).map_err(|_| SysError::NotFound)?;
            process::kill(Pid(pid)).map(|()| 0)
        }
        Syscall::AuditInfo => {
            if a1 < cambios_abi::audit::AuditInfo::SIZE as u64 {
                return Err(SysError::InvalidArgument);
            }
            process::copy_to_user(a0, &crate::audit::info().to_bytes())?;
            Ok(cambios_abi::audit::AuditInfo::SIZE as u64)
        }
        Syscall::Power => match a0 {
            POWER_OFF => {
                kprintln!("Powering off.");
                crate::arch::exit(cambios_abi::exit::ExitCode::Success)
            }
            POWER_REBOOT => {
                kprintln!("Rebooting.");
                crate::arch::reboot()
            }
            _ => Err(SysError::InvalidArgument),
        },
    }
}

/// Copies fixed-size records to the user buffer `[ptr, ptr + len)`, as many as fit; returns
/// how many.
fn copy_records<const N: usize>(ptr: u64, len: u64, records: impl Iterator<Item = [u8; N]>) -> Result<u64, SysError> {
    let mut written = 0u64;
    for record in records {
        let Some(end) = (written + 1).checked_mul(N as u64) else { break };
        if end > len {
            break;
        }
        let at = ptr.checked_add(written * N as u64).ok_or(SysError::BadAddress)?;
        process::copy_to_user(at, &record)?;
        written += 1;
    }
    Ok(written)
}

fn sleep(ns: u64) -> Result<u64, SysError> {
    if ns == 0 {
        sched::yield_now();
        return Ok(0);
    }
    let deadline = time::uptime_ns().saturating_add(ns);
    // A stray wakeup (one meant for an earlier wait) does not end the sleep early; the
    // bound only guards against a wakeup storm.
    for _ in 0..1024 {
        sched::block(BlockReason::Sleep, Some(deadline)).map_err(|_| SysError::InvalidArgument)?;
        if time::uptime_ns() >= deadline {
            break;
        }
    }
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
