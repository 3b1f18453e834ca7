// SPDX-License-Identifier: AGPL-3.0-or-later
//! Symmetric multiprocessing on x86_64: starting the secondary CPUs, the reschedule IPI and
//! TLB shootdowns (docs/adr/0009).
//!
//! ## Bring-up
//!
//! The boot CPU starts every other CPU the ACPI MADT lists (`BootInfo::cpu_ids`, local APIC
//! ids) one at a time with INIT, 10 ms, start-up IPI, 200 µs, and a second start-up IPI if
//! the CPU has not claimed its start yet (the classic sequence; delays from the calibrated
//! TSC, `time::uptime_ns`). A started CPU runs in real mode at the start page, so:
//!
//! * **Trampoline page**: one 4 KiB page below 1 MiB. The kernel reserves all of the first
//!   MiB (`entry.rs`, `LOW_MEMORY`), so the frame allocator never hands these pages out; the
//!   trampoline takes 0x8000 when the boot memory map says it is RAM that no boot module,
//!   boot-protocol structure or firmware region overlaps, otherwise the lowest such page
//!   from 0x1000 up to 0x9f000 (below the EBDA). The code is copied there (through the
//!   direct map, which covers low RAM) once, before the first CPU is started, and stays.
//! * **Trampoline** (`x86_64_ap_trampoline`, assembled here, copied as data): 16-bit real
//!   mode → loads its own temporary GDT (in the page; its base is patched at run time from
//!   CS) → 32-bit protected mode → CR4.PAE, CR3 = the temporary root, EFER.LME|NXE, CR0.PG|WP
//!   (CD/NW cleared) → 64-bit code in the page → reads its parameters, claims its start (see
//!   below) → jumps to `x86_64_ap_high` in the kernel's text.
//! * **Temporary root** ([`BootTables`], in `.bss`, so its physical address is below 4 GiB
//!   as the 32-bit `mov` to CR3 needs): entries 256..512 are copied from the kernel root (the
//!   whole shared kernel half: text, stacks, direct map), entry 0 identity-maps physical
//!   0..2 MiB with one large page, which holds the trampoline page. It is a private copy:
//!   the kernel root and every user root never contain the identity map. The started CPU
//!   leaves it at once: `x86_64_ap_high` (in the upper half) loads the kernel root itself,
//!   which drops every non-global identity translation, then takes its stack.
//! * **Claiming**: the parameter block in the page (kernel root, stack top, logical index,
//!   and `go` = the expected APIC id + 1) is shared by all starts. A started CPU reads the
//!   parameters, then swaps `go` from its own APIC id + 1 to "claimed" with `lock cmpxchg`;
//!   a CPU whose start the boot CPU has already given up (and whose block may now describe
//!   another CPU) fails that exchange and parks with interrupts masked. The boot CPU gives a
//!   start up by exchanging `go` back to 0; if that fails the CPU did claim, and a second
//!   flag ([`ARRIVAL`]) decides whether the CPU continues or halts before it joins the
//!   scheduler. A start that was never claimed leaves its logical index and stacks to the
//!   next CPU.
//!
//! ## Per-CPU start-up (`x86_64_ap_main`)
//!
//! Logical CPU k runs on kernel-stack slot `k * (1 + EXCEPTION_STACKS)` (guarded, mapped by
//! the boot CPU with `memory::map_kernel_stack`), with its IST stacks (#DF; NMI/#MC) in the
//! two following slots. It loads its own GDT and TSS, then its per-CPU block into the GS base
//! (before any code that takes a lock: locks read `cpu_index` through it), the shared IDT,
//! the boot CPU's CR0 and CR4 (WP, NE/MP, PAE, PGE, SMEP, SMAP, OSFXSR/OSXMMEXCPT: whatever
//! the boot CPU ended up with) and PAT, flushes its TLB including global pages, sets the
//! SYSCALL MSRs and EFER.SCE (`user::init_user_mode`), enables its local APIC in the boot
//! CPU's mode and starts its timer at the boot CPU's calibrated period, then calls
//! `crate::smp::secondary_main`. MTRRs are left as the firmware set them (it programs them on
//! every CPU; INIT does not change them).
//!
//! ## IPIs
//!
//! Through the local APIC's ICR to the target's APIC id: the reschedule IPI is a fixed
//! vector, `RESCHEDULE_VECTOR` (the handler sends EOI, calls `crate::smp::on_reschedule_ipi`
//! and `crate::sched::preempt_point`); the shootdown request is an NMI.
//!
//! ## TLB shootdown ([`shootdown`], from `user::kernel_unmap`)
//!
//! Kernel pages are global, so a CR3 reload on the targets would not drop them: every target
//! runs `invlpg` on each page of the range (or toggles CR4.PGE, which flushes everything,
//! for a large range). The protocol, per initiating CPU i (one request in flight each):
//!
//! 1. the initiator has already cleared the page-table entries (plain stores) and flushes
//!    its own TLB; a full fence orders those stores before everything that follows;
//! 2. it writes its request (range) and the number of targets (every other online CPU), then
//!    sets bit i in each target's pending mask (release) and sends the target an NMI;
//! 3. a target takes its pending mask (acquire, so it sees the range and the cleared
//!    entries), flushes every requested range, then decrements each initiator's count
//!    (release);
//! 4. the initiator returns, and the caller may free the frames, only once the count is zero
//!    (acquire): every online CPU has acknowledged.
//!
//! The request is an NMI rather than a fixed-vector interrupt because a fixed vector waits
//! for the target to enable interrupts: a target in a syscall (they run with interrupts
//! masked) would acknowledge only on its way back to user mode, a target spinning on a lock
//! the initiator holds never would, and the initiator's frees would trail the target's next
//! steps. An NMI is taken at once, whatever the target does; its handler ([`on_nmi`]) only
//! touches atomics and the TLB, needs no lock, and finds its CPU from the NMI stack it runs
//! on (not from the GS base, which an NMI can catch in its user setting). Initiators also
//! serve requests aimed at themselves while they wait. So a shootdown never deadlocks, even
//! if its caller holds a spin lock (today's callers hold none: `sched::reap` via
//! `memory::unmap_kernel_stack`, which takes the frame lock only after the unmap, and
//! `sched::prepare_stack_tables` at boot, before any other CPU runs). The wait is still
//! bounded: a CPU that has not acknowledged after a second is reported, and after ten seconds
//! the initiator gives up (reporting it) rather than hanging the machine.
//!
//! User address spaces need no shootdown: an address space is active on at most one CPU
//! (one thread per process), `user_unmap` runs on that CPU for its own space (local
//! `invlpg`), PCID is never enabled, and every address-space switch reloads CR3, which drops
//! all non-global (user) translations (`user::activate_root`).

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

use kernel_boot::{BootInfo, ReservedKind};
use kernel_core::addr::{PAGE_SIZE, PhysAddr};
use kernel_core::memmap::Range;
use kernel_core::sync::spin_until;

use super::apic::{self, ICR_FIXED, ICR_INIT_ASSERT, ICR_NMI, ICR_STARTUP};
use super::cpu::{self, CpuCell};
use super::paging::KERNEL_OFFSET;
use super::trap::RESCHEDULE_VECTOR;
use super::user::cpu_index;
use crate::error::KernelError;
use crate::{layout, memory, time};

const MAX_CPUS: usize = crate::smp::MAX_CPUS;
const _: () = assert!(MAX_CPUS <= 64, "the shootdown pending masks are 64-bit");

/// Kernel-stack slots below this belong to CPUs; thread stacks start here (`sched.rs`).
const CPU_STACK_SLOT_LIMIT: u64 = 64;
/// How long the boot CPU waits for a started CPU to check in.
const CHECK_IN_TIMEOUT_NS: u64 = 100_000_000;
/// Delay between INIT and the first start-up IPI.
const INIT_DELAY_NS: u64 = 10_000_000;
/// Delay after a start-up IPI before the second one.
const SIPI_DELAY_NS: u64 = 200_000;
/// Upper bound on the polls of any wait, in case the clock does not advance.
const SPIN_LIMIT: u32 = 50_000_000;
/// A shootdown waiting longer than this for acknowledgements is reported (or after
/// `SPIN_LIMIT` polls, if that comes first).
const SHOOTDOWN_WARN_NS: u64 = 1_000_000_000;
/// A shootdown waiting longer than this gives up (or after another `SPIN_LIMIT` polls).
const SHOOTDOWN_GIVE_UP_NS: u64 = 10_000_000_000;
/// Ranges of more pages than this are flushed by toggling CR4.PGE instead of page by page.
const FLUSH_ALL_PAGES: u64 = 32;

/// The trampoline page used when the memory map allows it.
const TRAMPOLINE_PREFERRED: u64 = 0x8000;
/// The trampoline page is searched for below this (under the EBDA and the VGA hole).
const TRAMPOLINE_LIMIT: u64 = 0x9f000;

/// Parameter block offsets (`x86_64_ap_params`): `go` (u32), the temporary root (u32), the
/// kernel root, the stack top and the logical index (u64 each).
const PARAM_GO: usize = 0;
const PARAM_TEMP_ROOT: usize = 4;
const PARAM_KERNEL_ROOT: usize = 8;
const PARAM_STACK_TOP: usize = 16;
const PARAM_INDEX: usize = 24;
/// `go` after the started CPU claimed its start.
const GO_CLAIMED: u32 = u32::MAX;

const CR4_PGE: u64 = 1 << 7;
const MSR_PAT: u32 = 0x277;

/// [`ARRIVAL`] states.
const STARTING: u8 = 1;
const ARRIVED: u8 = 2;
const ABANDONED: u8 = 3;

/// One page-table page.
#[repr(C, align(4096))]
struct Table([u64; 512]);

/// The temporary root a started CPU turns paging on with (see the module doc).
#[repr(C)]
struct BootTables {
    pml4: Table,
    pdpt: Table,
    pd: Table,
}

/// Written by the boot CPU before it starts the first secondary CPU; afterwards only read by
/// the page walks of CPUs in the trampoline.
static BOOT_TABLES: CpuCell<BootTables> =
    CpuCell::new(BootTables { pml4: Table([0; 512]), pdpt: Table([0; 512]), pd: Table([0; 512]) });

/// The local APIC id of each logical CPU (set before the CPU is started).
static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
/// Whether a started CPU may join the scheduler (`STARTING` → `ARRIVED` by the CPU, or →
/// `ABANDONED` by the boot CPU after the check-in timeout; whoever exchanges first decides).
static ARRIVAL: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];
/// The boot CPU's CR0, CR4 and PAT (`u64::MAX`: no PAT), copied by every secondary CPU.
static BOOT_CR0: AtomicU64 = AtomicU64::new(0);
static BOOT_CR4: AtomicU64 = AtomicU64::new(0);
static BOOT_PAT: AtomicU64 = AtomicU64::new(u64::MAX);
/// Set once the trampoline page and the temporary root are ready.
static PREPARED: AtomicBool = AtomicBool::new(false);

/// One CPU's shootdown request: the range and the acknowledgements still missing.
struct Request {
    start: AtomicU64,
    end: AtomicU64,
    missing: AtomicU32,
}

static REQUESTS: [Request; MAX_CPUS] =
    [const { Request { start: AtomicU64::new(0), end: AtomicU64::new(0), missing: AtomicU32::new(0) } }; MAX_CPUS];
/// Per target CPU: bit i set = CPU i's request waits for this CPU's flush.
static PENDING: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Per target CPU: shootdown NMIs sent to it that its NMI handler has not counted yet.
static SHOOTDOWN_NMIS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

core::arch::global_asm!(
    r#"
    /* The real-mode trampoline: assembled here, copied to the trampoline page as data. ebx
       holds the page's linear address from the first instructions on; every reference to the
       page is relative to it. */
    .section .rodata.x86_64_ap_trampoline, "a"
    .balign 16
    .global x86_64_ap_trampoline
x86_64_ap_trampoline:
    .code16
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    movzwl %ax, %ebx
    shll $4, %ebx
    /* Patch the GDT pointer and the two far pointers with linear addresses. */
    leal (x86_64_ap_gdt - x86_64_ap_trampoline)(%ebx), %eax
    movl %eax, (x86_64_ap_gdt_pointer - x86_64_ap_trampoline + 2)
    leal (x86_64_ap_protected - x86_64_ap_trampoline)(%ebx), %eax
    movl %eax, (x86_64_ap_far32 - x86_64_ap_trampoline)
    leal (x86_64_ap_long - x86_64_ap_trampoline)(%ebx), %eax
    movl %eax, (x86_64_ap_far64 - x86_64_ap_trampoline)
    lgdtl (x86_64_ap_gdt_pointer - x86_64_ap_trampoline)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl *(x86_64_ap_far32 - x86_64_ap_trampoline)

    .code32
x86_64_ap_protected:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    /* CR4.PAE, the temporary root, EFER.LME|NXE, then CR0.PG|WP|PE with caching on. */
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl (x86_64_ap_params - x86_64_ap_trampoline + {temp_root})(%ebx), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x900, %eax
    wrmsr
    movl %cr0, %eax
    andl $0x9fffffff, %eax
    orl $0x80010001, %eax
    movl %eax, %cr0
    ljmpl *(x86_64_ap_far64 - x86_64_ap_trampoline)(%ebx)

    .code64
x86_64_ap_long:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %ebx, %esi
    addq $(x86_64_ap_params - x86_64_ap_trampoline), %rsi
    movq {kernel_root}(%rsi), %r12
    movq {stack_top}(%rsi), %r14
    movq {index}(%rsi), %r13
    /* This CPU's APIC id: CPUID leaf 0xb (x2APIC id) when it exists, else leaf 1. */
    xorl %eax, %eax
    cpuid
    cmpl $0xb, %eax
    jb 2f
    movl $0xb, %eax
    xorl %ecx, %ecx
    cpuid
    testl %ebx, %ebx
    jz 2f
    movl %edx, %eax
    jmp 3f
2:  movl $1, %eax
    cpuid
    movl %ebx, %eax
    shrl $24, %eax
    /* Claim the start: go must still be this CPU's APIC id + 1. */
3:  incl %eax
    movl ${claimed}, %ecx
    lock cmpxchgl %ecx, {go}(%rsi)
    jne 4f
    movabsq $x86_64_ap_high, %rax
    jmpq *%rax
    /* Not this CPU's start (any more): park. */
4:  cli
    hlt
    jmp 4b

    .balign 8
x86_64_ap_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff /* 0x08: 32-bit code */
    .quad 0x00cf92000000ffff /* 0x10: data */
    .quad 0x00af9a000000ffff /* 0x18: 64-bit code */
x86_64_ap_gdt_end:
    .balign 8
x86_64_ap_gdt_pointer:
    .short x86_64_ap_gdt_end - x86_64_ap_gdt - 1
    .long 0
    .balign 8
x86_64_ap_far32:
    .long 0
    .short 0x08
    .balign 8
x86_64_ap_far64:
    .long 0
    .short 0x18
    .balign 8
    .global x86_64_ap_params
x86_64_ap_params:
    .space 32
    .global x86_64_ap_trampoline_end
x86_64_ap_trampoline_end:

    /* In the upper half with the temporary root: r12 = kernel root, r14 = stack top,
       r13 = logical index. */
    .section .text.x86_64_ap, "ax"
    .balign 16
    .global x86_64_ap_high
x86_64_ap_high:
    movq %r12, %cr3
    movq %r14, %rsp
    xorl %ebp, %ebp
    movq %r13, %rdi
    call {ap_main}
    ud2
    .text
"#,
    temp_root = const PARAM_TEMP_ROOT,
    kernel_root = const PARAM_KERNEL_ROOT,
    stack_top = const PARAM_STACK_TOP,
    index = const PARAM_INDEX,
    go = const PARAM_GO,
    claimed = const GO_CLAIMED,
    ap_main = sym x86_64_ap_main,
    options(att_syntax)
);

unsafe extern "C" {
    static x86_64_ap_trampoline: u8;
    static x86_64_ap_trampoline_end: u8;
    static x86_64_ap_params: u8;
}

/// The kernel-stack slot of logical CPU `cpu`'s boot stack.
fn cpu_stack_slot(cpu: usize) -> u64 {
    cpu as u64 * (1 + super::EXCEPTION_STACKS)
}

/// Top of exception stack `n` (0: #DF, 1: NMI/#MC) of logical CPU `cpu`.
pub fn exception_stack_top(cpu: usize, n: u64) -> u64 {
    layout::kernel_stack(cpu_stack_slot(cpu) + 1 + n).1
}

/// The running CPU's APIC id from CPUID (leaf 0xb's x2APIC id, or leaf 1's initial id), as
/// the trampoline reads it.
fn cpuid_apic_id() -> u32 {
    if cpu::has_leaf(0xb) {
        let leaf = cpu::cpuid(0xb, 0);
        if leaf.ebx != 0 {
            return leaf.edx;
        }
    }
    cpu::cpuid(1, 0).ebx >> 24
}

/// The firmware id of the boot CPU (its local APIC id).
pub fn boot_cpu_id() -> u64 {
    u64::from(apic::id_or(cpuid_apic_id()))
}

/// Sends a reschedule IPI to logical CPU `cpu` (nothing for this CPU, an unknown index or a
/// CPU that is not online).
pub fn send_reschedule_ipi(cpu: usize) {
    if cpu == cpu_index() || !crate::smp::is_online(cpu) {
        return;
    }
    if let Some(id) = APIC_IDS.get(cpu) {
        apic::send_ipi(id.load(Ordering::Relaxed), ICR_FIXED | u32::from(RESCHEDULE_VECTOR));
    }
}

/// Busy-waits until `done` or `ns` nanoseconds have passed; returns `done()`'s last value.
fn wait_ns(ns: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = time::uptime_ns().saturating_add(ns);
    spin_until(SPIN_LIMIT, || done() || time::uptime_ns() >= deadline);
    done()
}

/// Drops the translations of `[start, end)` from this CPU's TLB, global ones included.
fn flush_range(start: u64, end: u64) {
    if end.saturating_sub(start) / PAGE_SIZE > FLUSH_ALL_PAGES {
        flush_all();
        return;
    }
    let mut page = start & !(PAGE_SIZE - 1);
    while page < end {
        // SAFETY: `invlpg` only drops a TLB entry.
        unsafe { core::arch::asm!("invlpg ({0})", in(reg) page, options(att_syntax, nostack, preserves_flags)) };
        page += PAGE_SIZE;
    }
}

/// Drops every translation from this CPU's TLB, global ones included.
fn flush_all() {
    let cr4 = cpu::read_cr4();
    if cr4 & CR4_PGE != 0 {
        // SAFETY: clearing and restoring CR4.PGE flushes the whole TLB and changes nothing
        // else (the same value is written back).
        unsafe {
            cpu::write_cr4(cr4 & !CR4_PGE);
            cpu::write_cr4(cr4);
        }
    } else {
        // SAFETY: reloading the current CR3 keeps the address space and flushes the TLB (no
        // global translations exist while PGE is clear).
        unsafe { cpu::write_cr3(cpu::read_cr3()) };
    }
}

/// Serves the shootdown requests aimed at CPU `cpu` (the running CPU): flush, then
/// acknowledge. Uses no lock and not the GS base, so it may run in NMI context.
fn serve_shootdowns(cpu: usize) {
    let Some(pending) = PENDING.get(cpu) else { return };
    // Acquire: pairs with the initiator's release, so its range and its page-table stores
    // are visible before the flush.
    let mut bits = pending.swap(0, Ordering::Acquire);
    while bits != 0 {
        let from = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        if let Some(request) = REQUESTS.get(from) {
            flush_range(request.start.load(Ordering::Relaxed), request.end.load(Ordering::Relaxed));
            // Release: the flush is done before the initiator sees the acknowledgement.
            request.missing.fetch_sub(1, Ordering::Release);
        }
    }
}

/// The logical CPU whose NMI stack (IST2, in its guarded exception-stack slot) holds `addr`.
fn nmi_stack_owner(addr: u64) -> Option<usize> {
    let slot = addr.checked_sub(layout::KERNEL_STACKS_BASE)? / layout::KERNEL_STACK_SLOT;
    let per_cpu = 1 + super::EXCEPTION_STACKS;
    let cpu = usize::try_from(slot / per_cpu).ok()?;
    (slot < CPU_STACK_SLOT_LIMIT && slot % per_cpu == 2 && cpu < MAX_CPUS).then_some(cpu)
}

/// Called first for every NMI with the address of its frame (on the CPU's NMI stack):
/// serves the shootdown requests aimed at this CPU and returns true when the NMI was a
/// shootdown's (the handler then returns to the interrupted code), false for any other NMI
/// (reported as fatal). The CPU is named by the NMI stack the frame is on, not by the GS base,
/// which the NMI may have interrupted in its user setting.
///
/// Shootdown NMIs are counted per target ([`SHOOTDOWN_NMIS`]); two sent while the target
/// cannot take them yet may arrive as one, which leaves the count one too high and lets the
/// next machine NMI of that CPU pass as a shootdown's (it is then ignored, not reported).
pub fn on_nmi(frame_addr: u64) -> bool {
    let Some(cpu) = nmi_stack_owner(frame_addr) else { return false };
    let expected = SHOOTDOWN_NMIS
        .get(cpu)
        .is_some_and(|n| n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok());
    let pending = PENDING.get(cpu).is_some_and(|p| p.load(Ordering::Acquire) != 0);
    if pending {
        serve_shootdowns(cpu);
    }
    expected || pending
}

/// Drops `[va, va + len)` (whose page-table entries the caller has just cleared) from every
/// online CPU's TLB and returns once all have done so (module doc).
pub fn shootdown(va: u64, len: u64) -> bool {
    let end = va.saturating_add(len);
    let saved = cpu::irq_save();
    flush_range(va, end);
    let me = cpu_index();
    let Some(request) = REQUESTS.get(me) else {
        cpu::irq_restore(saved);
        return true;
    };
    let targets: u64 = (0..MAX_CPUS).filter(|&c| c != me && crate::smp::is_online(c)).fold(0, |m, c| m | (1 << c));
    if targets == 0 {
        cpu::irq_restore(saved);
        return true;
    }
    // The cleared page-table entries are globally visible before the request is.
    fence(Ordering::SeqCst);
    request.start.store(va, Ordering::Relaxed);
    request.end.store(end, Ordering::Relaxed);
    request.missing.store(targets.count_ones(), Ordering::Relaxed);
    let mut left = targets;
    while left != 0 {
        let cpu = left.trailing_zeros() as usize;
        left &= left - 1;
        if let (Some(pending), Some(nmis), Some(id)) = (PENDING.get(cpu), SHOOTDOWN_NMIS.get(cpu), APIC_IDS.get(cpu)) {
            nmis.fetch_add(1, Ordering::Relaxed);
            pending.fetch_or(1 << me, Ordering::Release);
            apic::send_ipi(id.load(Ordering::Relaxed), ICR_NMI);
        }
    }
    let started = time::uptime_ns();
    let acknowledged = || {
        serve_shootdowns(me);
        request.missing.load(Ordering::Acquire) == 0
    };
    let mut confirmed = true;
    if !wait_ns(SHOOTDOWN_WARN_NS, acknowledged) {
        kwarn!(
            "[smp] TLB shootdown of {va:#x}+{len:#x} from CPU {me}: {} CPUs have not acknowledged after {} ms",
            request.missing.load(Ordering::Relaxed),
            time::uptime_ns().saturating_sub(started) / 1_000_000
        );
        if !wait_ns(SHOOTDOWN_GIVE_UP_NS - SHOOTDOWN_WARN_NS, acknowledged) {
            // Withdraw the request from the CPUs that never took it.
            for (cpu, pending) in PENDING.iter().enumerate() {
                if targets & (1 << cpu) != 0 {
                    pending.fetch_and(!(1 << me), Ordering::AcqRel);
                }
            }
            confirmed = false;
            kerror!(
                "[smp] TLB shootdown of {va:#x}+{len:#x} from CPU {me}: gave up after {} ms, {} CPUs may hold stale translations",
                time::uptime_ns().saturating_sub(started) / 1_000_000,
                request.missing.load(Ordering::Relaxed)
            );
        }
    }
    cpu::irq_restore(saved);
    confirmed
}

/// The trampoline in the low page: its direct-map address and physical page.
struct Trampoline {
    virt: *mut u8,
    page: u64,
    params: usize,
}

impl Trampoline {
    fn param_ptr<T>(&self, offset: usize) -> *mut T {
        self.virt.wrapping_add(self.params + offset).cast()
    }

    /// The `go` word.
    fn go(&self) -> &AtomicU32 {
        // SAFETY: the parameter block lies inside the trampoline page, which is mapped for the
        // kernel's whole life (direct map of RAM) and used only by this module; `go` is 4-byte
        // aligned (the block is 8-byte aligned in the page) and only accessed atomically.
        unsafe { &*self.param_ptr::<AtomicU32>(PARAM_GO) }
    }

    fn write_u64(&self, offset: usize, value: u64) {
        // SAFETY: as in `go`: an aligned word of the parameter block, which no started CPU
        // reads before `go` names it (written after this, and published with a fence).
        unsafe { core::ptr::write_volatile(self.param_ptr::<u64>(offset), value) };
    }

    fn write_u32(&self, offset: usize, value: u32) {
        // SAFETY: as in `write_u64`.
        unsafe { core::ptr::write_volatile(self.param_ptr::<u32>(offset), value) };
    }
}

/// True when `page` can hold the trampoline: RAM in the direct map that nothing but the
/// kernel's blanket low-memory reservation covers.
fn page_is_free(info: &BootInfo, page: u64) -> bool {
    let range = Range::from_len(page, PAGE_SIZE);
    info.is_mapped_ram(range)
        && !info
            .reserved_ranges()
            .any(|r| r.kind != ReservedKind::LowMemory && r.range.grow_to_pages().overlaps(&range))
}

/// Picks the trampoline page, copies the trampoline there, fills the temporary root and
/// records the boot CPU's control registers.
fn prepare(info: &BootInfo) -> Result<Trampoline, KernelError> {
    let page = if page_is_free(info, TRAMPOLINE_PREFERRED) {
        TRAMPOLINE_PREFERRED
    } else {
        (1..TRAMPOLINE_LIMIT / PAGE_SIZE)
            .map(|n| n * PAGE_SIZE)
            .find(|&p| page_is_free(info, p))
            .ok_or(KernelError::AddressSpace("no free RAM page below 1 MiB for the start-up trampoline"))?
    };
    let start = &raw const x86_64_ap_trampoline as usize;
    let end = &raw const x86_64_ap_trampoline_end as usize;
    let params = (&raw const x86_64_ap_params as usize).wrapping_sub(start);
    let len = end.wrapping_sub(start);
    if len > PAGE_SIZE as usize || params > len {
        return Err(KernelError::AddressSpace("the start-up trampoline does not fit one page"));
    }
    let virt = layout::phys_to_virt(PhysAddr(page));
    // SAFETY: `[start, end)` is the trampoline in the kernel's rodata; the destination is the
    // trampoline page (RAM the direct map covers read/write, reserved from the frame
    // allocator and used by nothing else, checked above); `len` fits the page.
    unsafe { core::ptr::copy_nonoverlapping(start as *const u8, virt, len) };

    let tables = BOOT_TABLES.get();
    let tables_phys = (tables as u64).wrapping_sub(KERNEL_OFFSET);
    let pml4_phys = tables_phys;
    let pdpt_phys = tables_phys + PAGE_SIZE;
    let pd_phys = tables_phys + 2 * PAGE_SIZE;
    let temp_root = u32::try_from(pml4_phys).map_err(|_| KernelError::AddressSpace("temporary root above 4 GiB"))?;
    let kernel_root = layout::phys_to_virt(memory::kernel_root()).cast::<u64>().cast_const();
    // SAFETY: the boot CPU alone writes the temporary root, before any secondary CPU is
    // started (interrupts masked, boot sequence). The kernel root is a page-table page in
    // the direct map; its entries 256..512 are only read. Present + writable table entries,
    // and one present, writable, large (2 MiB) identity leaf at physical 0.
    unsafe {
        let t = &mut *tables;
        for (i, entry) in t.pml4.0.iter_mut().enumerate().skip(256) {
            *entry = core::ptr::read_volatile(kernel_root.wrapping_add(i));
        }
        if let (Some(pml4), Some(pdpt), Some(pd)) = (t.pml4.0.first_mut(), t.pdpt.0.first_mut(), t.pd.0.first_mut()) {
            *pml4 = pdpt_phys | 0x3;
            *pdpt = pd_phys | 0x3;
            *pd = 0x83;
        }
    }
    let trampoline = Trampoline { virt, page, params };
    trampoline.go().store(0, Ordering::Relaxed);
    trampoline.write_u32(PARAM_TEMP_ROOT, temp_root);
    trampoline.write_u64(PARAM_KERNEL_ROOT, memory::kernel_root().as_u64());

    BOOT_CR0.store(cpu::read_cr0(), Ordering::Relaxed);
    BOOT_CR4.store(cpu::read_cr4(), Ordering::Relaxed);
    if cpu::features().pat {
        // SAFETY: IA32_PAT exists (CPUID reports PAT).
        BOOT_PAT.store(unsafe { cpu::rdmsr(MSR_PAT) }, Ordering::Relaxed);
    }
    PREPARED.store(true, Ordering::Release);
    kdebug!("[smp] start-up trampoline at {page:#x} ({len} bytes), temporary root at {pml4_phys:#x}");
    Ok(trampoline)
}

/// Why a CPU was not started.
enum Skip {
    /// More CPUs than the kernel has per-CPU state for.
    TooMany,
    /// No kernel-stack slots left for this logical CPU.
    NoStackSlot,
    /// Its kernel stacks could not be mapped.
    Stack(KernelError),
    /// It never claimed its start.
    NoStart,
    /// It started but did not check in within the timeout.
    Timeout,
}

impl core::fmt::Display for Skip {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Skip::TooMany => f.write_str("more CPUs than the kernel supports"),
            Skip::NoStackSlot => {
                write!(f, "no kernel-stack slots left (CPU stacks end at slot {CPU_STACK_SLOT_LIMIT})")
            }
            Skip::Stack(e) => write!(f, "kernel stack: {e}"),
            Skip::NoStart => f.write_str("did not start (no response to INIT/start-up IPIs within 100 ms)"),
            Skip::Timeout => f.write_str("started but did not check in within 100 ms"),
        }
    }
}

/// Maps the boot and exception stacks of logical CPU `index` unless they are mapped already
/// (`mapped`: one bit per kernel-stack slot, slots below `CPU_STACK_SLOT_LIMIT`).
fn map_cpu_stacks(index: usize, mapped: &mut u64) -> Result<u64, Skip> {
    let first = cpu_stack_slot(index);
    let last = first + super::EXCEPTION_STACKS;
    if index >= MAX_CPUS {
        return Err(Skip::TooMany);
    }
    if last >= CPU_STACK_SLOT_LIMIT {
        return Err(Skip::NoStackSlot);
    }
    for slot in first..=last {
        if *mapped & (1 << slot) == 0 {
            memory::map_kernel_stack(slot).map_err(Skip::Stack)?;
            *mapped |= 1 << slot;
        }
    }
    Ok(layout::kernel_stack(first).1)
}

/// Starts the CPU with APIC id `apic_id` as logical CPU `index` and waits for it to check in.
/// On failure, says whether `index` is still free (the CPU never ran kernel code).
fn start_cpu(t: &Trampoline, apic_id: u32, index: usize, mapped: &mut u64) -> Result<(), (Skip, bool)> {
    let go_value = apic_id.checked_add(1).filter(|&v| v != GO_CLAIMED).ok_or((Skip::TooMany, true))?;
    let top = map_cpu_stacks(index, mapped).map_err(|e| (e, true))?;
    let (Some(id_slot), Some(arrival)) = (APIC_IDS.get(index), ARRIVAL.get(index)) else {
        return Err((Skip::TooMany, true));
    };
    id_slot.store(apic_id, Ordering::Relaxed);
    arrival.store(STARTING, Ordering::Relaxed);
    t.write_u64(PARAM_STACK_TOP, top);
    t.write_u64(PARAM_INDEX, index as u64);
    // The parameters are in memory before `go` names this CPU, and everything before the IPIs.
    t.go().store(go_value, Ordering::Release);
    fence(Ordering::SeqCst);

    let claimed = || t.go().load(Ordering::Acquire) == GO_CLAIMED;
    let started = time::uptime_ns();
    apic::send_ipi(apic_id, ICR_INIT_ASSERT);
    wait_ns(INIT_DELAY_NS, || false);
    let vector = (t.page / PAGE_SIZE) as u32;
    apic::send_ipi(apic_id, ICR_STARTUP | vector);
    if !wait_ns(SIPI_DELAY_NS, claimed) {
        apic::send_ipi(apic_id, ICR_STARTUP | vector);
    }
    let deadline = started.saturating_add(INIT_DELAY_NS + CHECK_IN_TIMEOUT_NS);
    let online = || crate::smp::is_online(index);
    if wait_ns(deadline.saturating_sub(time::uptime_ns()), online) {
        return Ok(());
    }
    // Give the start up. A CPU that never claimed it cannot run kernel code any more.
    if t.go().compare_exchange(go_value, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        return Err((Skip::NoStart, true));
    }
    // It runs kernel code: stop it before it joins the scheduler, unless it already has.
    if arrival.compare_exchange(STARTING, ABANDONED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        return Err((Skip::Timeout, false));
    }
    // It is joining the scheduler (`secondary_main`): that takes one lock and an allocation.
    if wait_ns(CHECK_IN_TIMEOUT_NS, online) || crate::smp::withdraw_or_wait(index) {
        Ok(())
    } else {
        Err((Skip::Timeout, false))
    }
}

/// Starts every CPU the MADT lists besides the boot CPU, prints the `[smp]` line and returns
/// the number of CPUs online (the boot CPU included).
pub fn start_secondary_cpus(info: &BootInfo) -> u32 {
    let boot = boot_cpu_id();
    let listed = info.cpu_count();
    if let Some(slot) = APIC_IDS.first() {
        slot.store(boot as u32, Ordering::Relaxed);
    }
    if info.cpu_id_list().any(|id| id != boot) {
        match prepare(info) {
            Ok(t) => {
                let mut index = 1usize;
                let mut mapped = 0u64;
                for id in info.cpu_id_list().filter(|&id| id != boot) {
                    if let Some(why) = crate::smp::start_refused() {
                        kwarn!("[smp] CPU with APIC id {id} skipped: {why}");
                        continue;
                    }
                    let result = u32::try_from(id).map_err(|_| (Skip::TooMany, true));
                    match result.and_then(|apic_id| start_cpu(&t, apic_id, index, &mut mapped)) {
                        Ok(()) => {
                            kdebug!("[smp] CPU {index} (APIC id {id}) online");
                            index += 1;
                        }
                        Err((why, index_free)) => {
                            kwarn!("[smp] CPU with APIC id {id} skipped: {why}");
                            if !index_free {
                                index += 1;
                            }
                        }
                    }
                }
            }
            Err(e) => kwarn!("[smp] secondary CPUs not started: {e}"),
        }
    }
    if info.dropped_cpus > 0 {
        kwarn!("[smp] {} more CPUs in the MADT than the boot information holds", info.dropped_cpus);
    }
    let (online, ids) = crate::smp::online_ids(false);
    kinfo!("[smp] {online} of {listed} CPUs online (APIC ids {ids})");
    online
}

/// A secondary CPU in the upper half on its own stack with the kernel root active, interrupts
/// masked, no GDT/IDT of its own yet and a GS base of zero: set up what is local to it, then
/// join the scheduler. Takes no lock and prints nothing before its per-CPU block is installed.
extern "C" fn x86_64_ap_main(index: u64) -> ! {
    let Ok(index) = usize::try_from(index) else { cpu::halt() };
    if !PREPARED.load(Ordering::Acquire)
        || !super::gdt::load(index, exception_stack_top(index, 0), exception_stack_top(index, 1))
        || !super::user::init_cpu_block(index)
    {
        cpu::halt()
    }
    super::trap::load_idt();
    let pat = BOOT_PAT.load(Ordering::Relaxed);
    // SAFETY: the boot CPU's final CR0 and CR4 (paging, protection, WP, FP/SIMD enables,
    // PAE, PGE, SMEP, SMAP, ...) are valid on this identical CPU, which runs with the same
    // kernel tables; PAE and PG are already on. PAT is copied only when the boot CPU has one.
    unsafe {
        cpu::write_cr0(BOOT_CR0.load(Ordering::Relaxed));
        cpu::write_cr4(BOOT_CR4.load(Ordering::Relaxed));
        if pat != u64::MAX {
            cpu::wrmsr(MSR_PAT, pat);
        }
    }
    // Nothing from before (the temporary root, firmware) may linger, global entries included.
    flush_all();
    super::user::init_user_mode();
    let arrived = ARRIVAL
        .get(index)
        .is_some_and(|a| a.compare_exchange(STARTING, ARRIVED, Ordering::AcqRel, Ordering::Acquire).is_ok());
    if !arrived {
        // The boot CPU gave this start up: stay out of the system, with no timer running.
        cpu::halt()
    }
    // The per-CPU block is installed: locks (and so printing) work from here on.
    if let Err(e) = apic::init_secondary().and_then(|()| super::timer::start_secondary()) {
        kerror!("[smp] CPU {index}: {e}");
        cpu::halt()
    }
    crate::smp::secondary_main(index, u64::from(apic::id()))
}
