// SPDX-License-Identifier: AGPL-3.0-or-later
//! `badargs`: syscalls with bad arguments must fail with the documented error and harm nothing.
//! One line per check, `[badargs] <check>: ok` (`ok (<error>)` where two errors are accepted) or
//! `[badargs] <check>: FAIL (<details>)`, then `[badargs] all checks passed` (exit 0) or
//! `[badargs] <n> checks FAILED` (exit 1).
#![no_std]
#![no_main]

use libsys::abi::layout::{PAGE_SIZE, USER_ANON_END};
use libsys::abi::syscall::{MAX_CONSOLE_WRITE, MAX_MAP_ANON, PROT_READ_WRITE, Syscall};
use libsys::{SysError, println, raw, sys};

libsys::entry!(main);

/// A higher-half address (the kernel's half on every architecture).
const KERNEL_ADDRESS: u64 = 0xffff_ffff_8000_0000;
/// A user address below the image that nothing maps.
const UNMAPPED_USER: u64 = 0x20_0000;
/// Filled in `.rodata`: `get_principal` must not be able to write it.
static READ_ONLY: [u8; 32] = [0x5a; 32];
/// Readable bytes, more than one `console_write` may take.
static BIG: [u8; 2 * MAX_CONSOLE_WRITE as usize] = [b'.'; 2 * MAX_CONSOLE_WRITE as usize];

struct Checks {
    failed: u32,
}

impl Checks {
    /// Checks that `got` is one of the errors in `want`.
    fn expect(&mut self, check: &str, got: Result<u64, SysError>, want: &[SysError]) -> bool {
        match got {
            Err(e) if want.contains(&e) && want.len() == 1 => println!("[badargs] {check}: ok"),
            Err(e) if want.contains(&e) => println!("[badargs] {check}: ok ({})", e.name()),
            other => {
                self.fail(check, format_args!("got {other:?}, expected {want:?}"));
                return false;
            }
        }
        true
    }

    fn fail(&mut self, check: &str, details: core::fmt::Arguments<'_>) {
        println!("[badargs] {check}: FAIL ({details})");
        self.failed += 1;
    }
}

/// Makes syscall `number` with two arguments and the rest zero.
fn call(number: u64, a0: u64, a1: u64) -> Result<u64, SysError> {
    // SAFETY: every pointer passed here is either invalid (kernel, unmapped, read-only memory:
    // the kernel must refuse it) or a live buffer of at least the given length.
    unsafe { raw::syscall(number, [a0, a1, 0, 0, 0, 0]) }
}

fn main() -> i32 {
    let mut c = Checks { failed: 0 };
    let write = Syscall::ConsoleWrite.number();
    let principal = Syscall::GetPrincipal.number();
    let map = Syscall::MapAnon.number();

    c.expect("console_write kernel pointer", call(write, KERNEL_ADDRESS, 16), &[SysError::BadAddress]);
    c.expect("console_write unmapped pointer", call(write, UNMAPPED_USER, 16), &[SysError::BadAddress]);
    c.expect(
        "console_write oversized length",
        call(write, BIG.as_ptr() as u64, MAX_CONSOLE_WRITE + 1),
        &[SysError::InvalidArgument],
    );

    let ro = READ_ONLY.as_ptr();
    if c.expect("get_principal into rodata", call(principal, ro as u64, 32), &[SysError::BadAddress]) {
        // SAFETY: `ro` points to the 32 bytes of `READ_ONLY`; volatile, because the compiler
        // would otherwise assume the immutable static unchanged.
        let unchanged = (0..32).all(|i| unsafe { ro.add(i).read_volatile() } == 0x5a);
        if !unchanged {
            c.fail("get_principal into rodata", format_args!("the read-only static was modified"));
        }
    }
    let mut key = [0u8; 32];
    c.expect("get_principal short buffer", call(principal, key.as_mut_ptr() as u64, 16), &[SysError::InvalidArgument]);

    c.expect("unknown syscall 9999", call(9999, 0, 0), &[SysError::UnknownSyscall]);

    c.expect("map_anon zero length", call(map, 0, PROT_READ_WRITE), &[SysError::InvalidArgument]);
    c.expect("map_anon unaligned length", call(map, PAGE_SIZE + 1, PROT_READ_WRITE), &[SysError::InvalidArgument]);
    let huge = call(map, 2 * MAX_MAP_ANON, PROT_READ_WRITE);
    if let Ok(addr) = huge {
        // SAFETY: the kernel (wrongly) mapped this range just now; nothing uses it.
        let _ = unsafe { raw::syscall(Syscall::Unmap.number(), [addr, 2 * MAX_MAP_ANON, 0, 0, 0, 0]) };
    }
    c.expect("map_anon huge length", huge, &[SysError::InvalidArgument, SysError::OutOfMemory]);

    // SAFETY: nothing is mapped at the top of the map_anon range in a process this small, so
    // unmapping it cannot remove memory in use; the kernel must refuse.
    let never_mapped =
        unsafe { raw::syscall(Syscall::Unmap.number(), [USER_ANON_END - 16 * PAGE_SIZE, PAGE_SIZE, 0, 0, 0, 0]) };
    c.expect("unmap never mapped", never_mapped, &[SysError::InvalidArgument, SysError::NotFound]);

    match sys::pid() {
        Ok(me) => {
            let got = sys::wait(me).map(|s| s.encode());
            c.expect("wait non-child (self)", got, &[SysError::NoChild]);
        }
        Err(e) => c.fail("wait non-child (self)", format_args!("get_pid failed: {e:?}")),
    }

    // The per-process anonymous-memory budget (256 MiB): the fifth 64 MiB mapping is refused.
    let mut budget = [0u64; 5];
    let mut refused = None;
    for (i, slot) in budget.iter_mut().enumerate() {
        match call(map, MAX_MAP_ANON, PROT_READ_WRITE) {
            Ok(addr) => *slot = addr,
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    for addr in budget.iter().filter(|a| **a != 0) {
        // SAFETY: these ranges were mapped by this loop and nothing uses them.
        let _ = unsafe { raw::syscall(Syscall::Unmap.number(), [*addr, MAX_MAP_ANON, 0, 0, 0, 0]) };
    }
    match refused {
        Some((4, SysError::OutOfMemory)) => println!("[badargs] map_anon beyond the budget: ok"),
        other => {
            c.fail("map_anon beyond the budget", format_args!("refusal {other:?}, expected the 5th with OutOfMemory"))
        }
    }

    #[cfg(target_arch = "x86_64")]
    {
        // A syscall with RFLAGS.NT set must return normally (the kernel's iretq would fault).
        let pid: u64;
        // SAFETY: sets NT, makes a get_pid syscall (rcx/r11 clobbered by the CPU), clears NT
        // again; touches no memory but the stack slots pushfq/popfq use.
        unsafe {
            core::arch::asm!(
                "pushfq",
                "orq $0x4000, (%rsp)",
                "popfq",
                "syscall",
                "pushfq",
                "andq $~0x4000, (%rsp)",
                "popfq",
                inlateout("rax") Syscall::GetPid.number() => pid,
                out("rcx") _,
                out("r11") _,
                options(att_syntax)
            );
        }
        match sys::pid() {
            Ok(me) if u64::from(me.0) == pid => println!("[badargs] syscall with RFLAGS.NT set: ok"),
            other => c.fail("syscall with RFLAGS.NT set", format_args!("got {pid:#x}, get_pid says {other:?}")),
        }
    }

    let spawned = sys::spawn("no-such-module").map(|pid| u64::from(pid.0));
    if let Ok(pid) = spawned {
        let _ = sys::wait(libsys::Pid(pid as u32));
    }
    c.expect("spawn nonexistent module", spawned, &[SysError::NotFound]);

    if c.failed == 0 {
        println!("[badargs] all checks passed");
        0
    } else {
        println!("[badargs] {} checks FAILED", c.failed);
        1
    }
}
