// SPDX-License-Identifier: AGPL-3.0-or-later
//! Self-tests a test build (cargo feature `selftest`) runs after the ready line, selected by
//! the kernel command line (`cambios.test=<name>`). The host harness (`cargo xtask test`)
//! boots each one under QEMU and checks the serial log (docs/boot.md, DEVELOPERS.md).
//!
//! * `ticks`: waits for `SELFTEST_MIN_TICKS` timer interrupts, checks that the monotonic
//!   clock advanced by about as much time as the ticks represent (within a factor of two:
//!   the timer and the clock must agree) and that no lock-order violation happened, then
//!   powers off.
//! * `fault`: loads from `TEST_FAULT_ADDR`, which is never mapped: the fault report must
//!   appear and the machine stops.
//! * `panic`: panics on purpose: the panic line must appear and the machine stops.
//! * `overflow`: recurses until the kernel stack runs into its guard page: the fault report
//!   must name the guard page (a stack overflow is reported, not silent corruption).
//! * `wx`, `nx`: W^X in the page tables: a store to kernel text and a call into heap data must
//!   each fault at the address the test announces.
//! * `guard`: loads from the page below the boot stack, which the final page tables leave
//!   unmapped: the fault report must name a guard page.
//! * `lockorder`: takes two uncontended locks in the wrong order on purpose: the lock-order
//!   checker must count the violation (ranks as taken) and print it, and nothing deadlocks.
//! * `shootdown`: TLB shootdown. A kernel page is mapped to frame A and every other CPU reads
//!   it (caching the translation); it is unmapped with `arch::kernel_unmap` and mapped again to
//!   frame B; every other CPU must now read B's contents, not A's. With one CPU it only
//!   checks the remap locally.

use cambios_abi::bootlog::{SELFTEST_MIN_TICKS, SELFTEST_TAG, TEST_FAULT_ADDR};
use cambios_abi::exit::ExitCode;

use crate::{arch, time};

/// Runs the self-test `name` (`timer_hz` is the configured tick rate); returns only for an
/// unknown name (after saying so).
pub fn run(name: &str, timer_hz: u32) {
    match name {
        "ticks" => ticks(timer_hz),
        "fault" => {
            kprintln!("{SELFTEST_TAG} fault: loading from {TEST_FAULT_ADDR:#x}, which is not mapped");
            arch::trigger_test_fault(TEST_FAULT_ADDR);
            fail("fault", "the load from an unmapped address did not fault");
        }
        "panic" => {
            kprintln!("{SELFTEST_TAG} panic: panicking on purpose");
            #[allow(clippy::panic, reason = "the panic self-test checks the panic handler")]
            {
                panic!("deliberate panic requested by cambios.test=panic");
            }
        }
        "wx" => {
            let target = crate::layout::image().text.0;
            kprintln!("{SELFTEST_TAG} wx: writing to kernel text at {target:#018x}");
            arch::trigger_test_store(target);
            fail("wx", "a write to kernel text succeeded: text is not read-only");
        }
        "nx" => {
            // A return instruction in heap memory (data, so never executable), aligned as any
            // instruction must be so that only the page permissions can stop it.
            #[repr(align(16))]
            struct Probe([u8; 16]);
            let mut code = [0u8; 16];
            for (dst, src) in code.iter_mut().zip(arch::RETURN_INSTRUCTION) {
                *dst = *src;
            }
            let probe = alloc::boxed::Box::new(Probe(code));
            let target = probe.0.as_ptr() as u64;
            kprintln!("{SELFTEST_TAG} nx: executing heap data at {target:#018x}");
            arch::trigger_test_execute(target);
            drop(probe);
            fail("nx", "code in non-executable data ran");
        }
        "guard" => {
            let guard = crate::layout::image().boot_stack_guard;
            kprintln!("{SELFTEST_TAG} guard: loading from the boot stack's guard page at {guard:#x}");
            arch::trigger_test_fault(guard);
            fail("guard", "the boot stack's guard page is mapped");
        }
        "overflow" => {
            kprintln!("{SELFTEST_TAG} overflow: recursing until the kernel stack guard page is hit");
            let depth = recurse(0);
            kprintln!("{SELFTEST_TAG} overflow: FAILED: recursion returned at depth {depth}");
            arch::exit(ExitCode::Failure);
        }
        "shootdown" => shootdown(),
        "lockorder" => lock_order(),
        other => kprintln!(
            "{SELFTEST_TAG} unknown self-test '{other}' (known: ticks, fault, panic, overflow, guard, wx, nx, shootdown, lockorder)"
        ),
    }
}

fn fail(name: &str, why: &str) -> ! {
    kprintln!("{SELFTEST_TAG} {name}: FAILED: {why}");
    arch::exit(ExitCode::Failure)
}

fn ticks(timer_hz: u32) -> ! {
    arch::disable_interrupts();
    let start_ticks = time::ticks();
    let start_ns = time::uptime_ns();
    // Bounded: at the slowest allowed rate (10 Hz) the ticks take about a second; give up
    // after ten seconds of clock time or, should the clock be stuck, ten million wake-ups.
    for _ in 0..10_000_000u64 {
        if time::ticks() - start_ticks >= SELFTEST_MIN_TICKS {
            break;
        }
        if time::uptime_ns() - start_ns > 10_000_000_000 {
            break;
        }
        arch::wait_for_interrupt();
    }
    let ticks = time::ticks() - start_ticks;
    let elapsed_ns = time::uptime_ns() - start_ns;
    if ticks < SELFTEST_MIN_TICKS {
        fail("ticks", "fewer timer interrupts than expected arrived within 10 s of clock time");
    }
    if elapsed_ns == 0 {
        fail("ticks", "the monotonic clock did not advance across timer interrupts");
    }
    // `ticks` periods of 1/timer_hz seconds; the first may be partial, hence ticks - 1.
    let expected_ns = (ticks - 1).saturating_mul(1_000_000_000) / u64::from(timer_hz.max(1));
    if elapsed_ns < expected_ns / 2 || elapsed_ns > expected_ns.saturating_mul(2).saturating_add(20_000_000) {
        kprintln!(
            "{SELFTEST_TAG} ticks: {ticks} ticks at {timer_hz} Hz should take about {} ms, the clock says {} ms",
            expected_ns / 1_000_000,
            elapsed_ns / 1_000_000
        );
        fail("ticks", "the timer and the monotonic clock disagree");
    }
    let (violations, first) = crate::sync::lock_order_violations();
    if let Some((acquiring, held)) = first {
        kprintln!(
            "{SELFTEST_TAG} ticks: {violations} lock-order violations, first: rank {acquiring} taken while holding rank {held}"
        );
        fail("ticks", "lock order violated");
    }
    kprintln!("{SELFTEST_TAG} ticks: passed ({ticks} ticks in {} ms)", elapsed_ns / 1_000_000);
    arch::exit(ExitCode::Success)
}

fn lock_order() -> ! {
    use kernel_core::sync::LockClass;
    static HIGH: crate::sync::SpinLock<u32> = crate::sync::SpinLock::new(LockClass::MonitorLine, 0);
    static LOW: crate::sync::SpinLock<u32> = crate::sync::SpinLock::new(LockClass::Boot, 0);
    let (before, _) = crate::sync::lock_order_violations();
    {
        let mut high = HIGH.lock();
        // Rank 6 while holding rank 80: out of order.
        let mut low = LOW.lock();
        *high += 1;
        *low += 1;
    }
    let (after, first) = crate::sync::lock_order_violations();
    if after != before + 1 {
        fail("lockorder", "the out-of-order acquisition was not counted");
    }
    if before == 0 && first != Some((LockClass::Boot as u8, LockClass::MonitorLine as u8)) {
        fail("lockorder", "the violation was recorded with the wrong ranks");
    }
    // Taken in order, the same locks are fine.
    {
        let _low = LOW.lock();
        let _high = HIGH.lock();
    }
    if crate::sync::lock_order_violations().0 != after {
        fail("lockorder", "an in-order acquisition was counted as a violation");
    }
    kprintln!("{SELFTEST_TAG} lockorder: passed (1 violation reported: rank 6 taken while holding rank 80)");
    arch::exit(ExitCode::Success)
}

/// The value written into frame `n` of the shootdown test.
const fn shootdown_pattern(n: u64) -> u64 {
    0x5eed_0000_0000_0000 | n
}

fn shootdown() -> ! {
    use kernel_core::addr::{PAGE_SIZE, VirtAddr};
    use kernel_core::paging::MapAttrs;

    // The top page of the last thread-stack slot: its page tables exist (`sched::init`) and no
    // thread uses it in a self-test boot.
    let va = crate::layout::kernel_stack(crate::sched::FIRST_THREAD_STACK_SLOT + crate::sched::MAX_THREADS as u64 - 1)
        .1
        - PAGE_SIZE;
    let others: alloc::vec::Vec<usize> = (1..crate::smp::MAX_CPUS).filter(|&c| crate::smp::is_online(c)).collect();
    let frames = [crate::memory::allocate_zeroed_frame(), crate::memory::allocate_zeroed_frame()];
    let [Ok(a), Ok(b)] = frames else { fail("shootdown", "no frames") };
    for (n, frame) in [(1, a), (2, b)] {
        // SAFETY: a frame this test owns, written through the direct map.
        unsafe { core::ptr::write_volatile(crate::layout::phys_to_virt(frame).cast::<u64>(), shootdown_pattern(n)) };
    }
    let mut tables = crate::memory::UserTableFrames { used: 0 };
    let map = |frame, tables: &mut crate::memory::UserTableFrames| {
        arch::kernel_map(VirtAddr(va), frame, PAGE_SIZE, MapAttrs::KERNEL_DATA, tables)
    };
    if map(a, &mut tables).is_err() {
        fail("shootdown", "cannot map the test page");
    }
    for &cpu in &others {
        if crate::smp::probe::read_on(cpu, va) != Some(shootdown_pattern(1)) {
            fail("shootdown", "another CPU does not see the first mapping");
        }
    }
    // SAFETY: the page was just mapped to frame A.
    let local = unsafe { core::ptr::read_volatile(va as *const u64) };
    if local != shootdown_pattern(1)
        || arch::kernel_unmap(VirtAddr(va), PAGE_SIZE).is_err()
        || map(b, &mut tables).is_err()
    {
        fail("shootdown", "cannot remap the test page");
    }
    // SAFETY: the page is now mapped to frame B.
    let local = unsafe { core::ptr::read_volatile(va as *const u64) };
    if local != shootdown_pattern(2) {
        fail("shootdown", "this CPU still sees the old frame after the unmap");
    }
    for &cpu in &others {
        match crate::smp::probe::read_on(cpu, va) {
            Some(v) if v == shootdown_pattern(2) => {}
            Some(v) if v == shootdown_pattern(1) => {
                kprintln!("{SELFTEST_TAG} shootdown: CPU {cpu} read the unmapped frame");
                fail("shootdown", "a stale translation survived the unmap");
            }
            _ => fail("shootdown", "another CPU did not answer"),
        }
    }
    let _ = arch::kernel_unmap(VirtAddr(va), PAGE_SIZE);
    kprintln!(
        "{SELFTEST_TAG} shootdown: passed ({} other CPUs saw the remap{})",
        others.len(),
        if others.is_empty() { "; one CPU: local check only" } else { "" }
    );
    arch::exit(ExitCode::Success)
}

/// Recursion that cannot be optimised into a loop: each level keeps a 512-byte buffer live
/// across the call. Bounded by the stack itself: 2^20 levels would need 512 MiB of stack.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut buffer = [0u8; 512];
    buffer[0] = depth as u8;
    let buffer = core::hint::black_box(buffer);
    if depth > 1 << 20 {
        return depth;
    }
    recurse(depth + 1) + u64::from(buffer.get(depth as usize % 512).copied().unwrap_or(0))
}
