// SPDX-License-Identifier: AGPL-3.0-or-later
//! The portable boot sequence, from the first Rust code with a `BootInfo` to the idle loop.
//!
//! Each step prints one milestone line (format fixed in docs/boot.md and
//! `cambios_abi::bootlog`), and each fallible step returns a typed [`KernelError`]: a failure
//! prints `error: boot failed: <reason>` and stops the machine instead of panicking.

use cambios_abi::bootlog::{ReadyLine, TEST_CMDLINE_KEY};
use kernel_boot::{BootInfo, FirmwareTable};
use kernel_core::cmdline;

use crate::error::KernelError;
use crate::{arch, heap, layout, memory, modules, tables, time};

/// Entry from the architecture code, on the boot stack, with interrupts masked and the early
/// page tables active. Never returns.
pub fn kernel_main(info: &BootInfo) -> ! {
    match boot(info) {
        Ok(never) => match never {},
        Err(e) => {
            kerror!("boot failed: {e}");
            crate::trap::stop()
        }
    }
}

/// What the first half of the boot hands to the second (on the guarded kernel stack).
#[derive(Clone, Copy)]
struct Handover {
    info: BootInfo,
    /// `cambios.hz`, parsed (and warned about) once, in the first half.
    timer_hz: u32,
    /// `cambios.maxcpus`.
    max_cpus: Option<u32>,
}

static HANDOVER: crate::sync::SpinLock<Option<Handover>> =
    crate::sync::SpinLock::new(kernel_core::sync::LockClass::Boot, None);

fn boot(info: &BootInfo) -> Result<core::convert::Infallible, KernelError> {
    time::mark_kernel_entry();
    let (args, warnings) = cmdline::parse(info.cmdline.as_str());
    crate::console::set_level(args.log_level);
    let uart = arch::console_init(info);
    kinfo!(
        "[boot] CambiOS {} on {}, protocol={}, console {}, cmdline \"{}\"",
        env!("CARGO_PKG_VERSION"),
        arch::ARCH.name(),
        info.protocol.name(),
        uart,
        info.cmdline.as_str()
    );
    for w in warnings.iter() {
        kwarn!("kernel command line: {}", w.as_str());
    }
    if info.cmdline.truncated {
        kwarn!("kernel command line longer than {} bytes: cut", kernel_boot::MAX_CMDLINE);
    }
    match info.firmware {
        FirmwareTable::AcpiRsdp(addr) => kdebug!("[boot] ACPI RSDP at {addr:#x}"),
        FirmwareTable::DeviceTree { addr, size } => kdebug!("[boot] device tree at {addr:#x}, {size} bytes"),
        FirmwareTable::None => kdebug!("[boot] no firmware table"),
    }

    // Memory map.
    let ram = info.memory.total();
    kinfo!("[memory] {} MiB of RAM in {} ranges", ram >> 20, info.memory.len());
    for r in info.memory.as_slice() {
        kdebug!("[memory]   {:#014x}-{:#014x} ({} KiB)", r.start, r.end, r.len() >> 10);
    }
    if info.dropped_memory > 0 {
        kwarn!("[memory] {} RAM ranges did not fit the table and are not used", info.dropped_memory);
    }
    for r in info.reserved_ranges() {
        kinfo!(
            "[reserved] {:#014x}-{:#014x} {} ({} KiB)",
            r.range.start,
            r.range.end,
            r.kind.name(),
            r.range.len().div_ceil(1024)
        );
    }
    if info.dropped_reserved > 0 {
        return Err(KernelError::TooManyReservedRanges(info.dropped_reserved));
    }

    // Frames.
    let frames = memory::init_frames(info, tables::size)?;
    kinfo!(
        "[frames] buddy allocator: {} MiB usable, {} frames free now, {} MiB above {:#x} join after paging; metadata {} KiB at {:#x}",
        frames.usable >> 20,
        frames.free_now,
        frames.deferred >> 20,
        arch::EARLY_MAP_LIMIT,
        frames.metadata.len() >> 10,
        frames.metadata.start
    );

    // Paging.
    let paging = {
        let mut guard = memory::FRAMES.lock();
        let allocator = guard.as_mut().ok_or(KernelError::NotInitialised("frame allocator"))?;
        arch::init_paging(info, allocator)?
    };
    let added = memory::add_high_memory()?;
    let image = layout::image();
    kinfo!(
        "[paging] {}, direct map at {:#x}, kernel W^X (text {}K RX, rodata {}K R, data+bss {}K RW NX), {} table frames, {}",
        paging.format,
        paging.hhdm_base,
        (image.text.1 - image.text.0) >> 10,
        (image.rodata.1 - image.rodata.0) >> 10,
        (image.data.1 - image.data.0) >> 10,
        paging.table_frames,
        paging.protections
    );
    if added > 0 {
        kinfo!("[paging] {} MiB above the early map added to the frame allocator", (added * 4096) >> 20);
    }

    // Keep the boot information for the rest of the boot, then move to the guarded stack.
    *HANDOVER.lock() = Some(Handover { info: *info, timer_hz: args.timer_hz, max_cpus: args.max_cpus });
    let (_, top) = layout::kernel_stack(0);
    kdebug!("[paging] switching to kernel stack {:#x} (guard page below)", top);
    arch::switch_stack(top, continue_on_kernel_stack)
}

extern "C" fn continue_on_kernel_stack() -> ! {
    let handover = *HANDOVER.lock();
    let result = match handover {
        Some(h) => {
            crate::smp::set_max_cpus(h.max_cpus);
            boot_on_kernel_stack(&h.info, h.timer_hz)
        }
        None => Err(KernelError::NotInitialised("boot information")),
    };
    match result {
        Ok(never) => match never {},
        Err(e) => {
            kerror!("boot failed: {e}");
            crate::trap::stop()
        }
    }
}

fn boot_on_kernel_stack(info: &BootInfo, timer_hz: u32) -> Result<core::convert::Infallible, KernelError> {
    // Heap.
    let heap = heap::init()?;
    let check: alloc::vec::Vec<u64> = (0..64).collect();
    let heap_ok = check.iter().sum::<u64>() == 64 * 63 / 2 && heap::usage().0 > 0;
    drop(check);
    if !heap_ok || heap::usage().0 != 0 {
        return Err(KernelError::Hardware("kernel heap self-check failed (allocation or free went wrong)"));
    }
    kinfo!(
        "[heap] {} KiB at {:#x} (phys {:#x}), buddy_system_allocator, self-check ok",
        heap.size >> 10,
        heap.virt,
        heap.phys.as_u64()
    );

    // Object tables.
    let region = tables::init(memory::object_table_region());
    let sizing = tables::sizing().ok_or(KernelError::NotInitialised("object tables"))?;
    kinfo!(
        "[tables] tier {}: {} process slots of {} bytes, {} KiB at {:#x} (binding: {})",
        tables::TIER.name(),
        sizing.slots,
        tables::SLOT_BYTES,
        region.len() >> 10,
        region.start,
        sizing.binding.name()
    );

    // Traps.
    let traps = arch::init_traps()?;
    kinfo!("[traps] {}", traps.detail);

    // Interrupt controller.
    let irq = arch::init_interrupts(info)?;
    match irq.uart_irq {
        Some(n) => kinfo!("[irq] {}, {} lines, serial receive on interrupt {}", irq.controller, irq.lines, n),
        None => kinfo!(
            "[irq] {}, {} lines, no serial receive interrupt (console input unavailable)",
            irq.controller,
            irq.lines
        ),
    }

    // Timer and clock.
    let timer = arch::init_timer(info, timer_hz)?;
    time::start_clock(timer.counter_hz);
    match timer.calibrated_against {
        Some(reference) => kinfo!(
            "[timer] {} at {} Hz (calibrated against {}), clock {} at {} kHz",
            timer.source,
            timer.hz,
            reference,
            timer.counter,
            timer.counter_hz / 1000
        ),
        None => kinfo!(
            "[timer] {} at {} Hz, clock {} at {} kHz",
            timer.source,
            timer.hz,
            timer.counter,
            timer.counter_hz / 1000
        ),
    }

    // Boot modules, then user space: threads, user mode, verified processes.
    modules::report(info);
    crate::sched::init()?;
    arch::init_user_mode();
    // The other CPUs join before the services are placed (they run threads only after the
    // ready line).
    crate::smp::boot_cpu_online(arch::boot_cpu_id());
    // The architecture prints the `[smp]` line; the boot CPU always counts.
    let cpus = arch::start_secondary_cpus(info).max(1);
    crate::loader::load_boot_modules(info)?;

    let (free, _) = memory::frame_counts();
    let (violations, _) = crate::sync::lock_order_violations();
    if violations > 0 {
        kwarn!("{violations} lock-order violations during boot (see docs/locking.md)");
    }
    kdebug!("[boot] {} frames free", free);
    if let Some((kernel_ns, total_ns)) = time::boot_timing() {
        kdebug!("[boot] timing: kernel_main to ready {kernel_ns} ns, counter zero (reset) to ready {total_ns} ns");
    }
    let ready = ReadyLine { arch: arch::ARCH.name(), cpus, mem_mib: info.memory.total() >> 20 };
    kprintln!("{ready}");
    crate::smp::release_secondaries();
    // Interrupts on: the timer starts preempting, and the boot services run.
    arch::enable_interrupts();

    if let Some(test) = cmdline::value(info.cmdline.as_str(), TEST_CMDLINE_KEY) {
        if cfg!(feature = "selftest") {
            #[cfg(feature = "selftest")]
            crate::selftest::run(test, timer_hz);
        } else {
            kwarn!("{TEST_CMDLINE_KEY}={test} ignored: this kernel was built without the selftest feature");
        }
    }
    crate::smp::idle_loop(true)
}
