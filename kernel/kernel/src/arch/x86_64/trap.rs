// SPDX-License-Identifier: AGPL-3.0-or-later
//! Traps: the IDT, the 256 entry stubs, the saved register frame, exception reports and
//! interrupt dispatch.
//!
//! Every vector has a 16-byte stub (`x86_64_isr_stubs + 16 * vector`) that pushes a dummy
//! error code when the CPU does not push one, then the vector number, and jumps to
//! `x86_64_isr_common`. That saves the 15 general-purpose registers into a [`TrapFrame`] on
//! the current stack and calls [`x86_64_trap_handler`], which reports exceptions (vectors
//! 0–31) through `crate::trap::kernel_fault` and dispatches interrupts: the local APIC timer
//! (0x20), the serial receive interrupt (0x24), the reschedule IPI (0xf0), the APIC spurious
//! vector (0xff). Any other interrupt is counted and acknowledged, never fatal. An NMI is
//! first offered to the TLB shootdown (`smp::on_nmi`: other CPUs send NMIs to have their
//! unmaps flushed, so that a CPU with interrupts masked still acknowledges); any other NMI is
//! reported as fatal.
//!
//! #DF runs on IST1 and NMI / #MC on IST2 (see `gdt.rs`), so a kernel stack overflow still
//! produces a report. The boot CPU's GDT, TSS, per-CPU block and the IDT are installed by the
//! boot code before the Rust entry ([`install_early`]); every CPU shares the one IDT
//! (secondary CPUs load it with [`load_idt`]).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::cpu::{self, CpuCell};
use super::gdt::{self, DescriptorPointer, IST_DOUBLE_FAULT, IST_NMI_MCE, KERNEL_CS};
use super::{apic, timer};
use crate::arch::TrapReport;
use crate::error::KernelError;
use crate::layout;
use crate::trap::{FaultReport, kernel_fault};
use cambios_abi::syscall::FaultKind;

/// The local APIC timer's vector.
pub const TIMER_VECTOR: u8 = 0x20;
/// The serial receive interrupt's vector (0x20 + ISA IRQ 4).
pub const SERIAL_VECTOR: u8 = 0x24;
/// First vector of the (masked) legacy 8259 PICs; they occupy 16 vectors.
pub const PIC_VECTOR_BASE: u8 = 0xe0;
/// The reschedule IPI's vector (another CPU asks this one to look at its run queue).
pub const RESCHEDULE_VECTOR: u8 = 0xf0;
/// The local APIC's spurious-interrupt vector.
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// The pseudo-vector the SYSCALL entry stores in its frame (no real vector is this large).
pub const SYSCALL_VECTOR: u64 = 0x100;

/// Vectors for which the CPU pushes an error code: #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP,
/// #VC, #SX.
const ERROR_CODE_VECTORS: u32 = (1 << 8)
    | (1 << 10)
    | (1 << 11)
    | (1 << 12)
    | (1 << 13)
    | (1 << 14)
    | (1 << 17)
    | (1 << 21)
    | (1 << 29)
    | (1 << 30);
const PAGE_FAULT: u64 = 14;
const DOUBLE_FAULT: u64 = 8;
const STUB_SIZE: u64 = 16;

/// The saved state of the interrupted code, as `x86_64_isr_common` leaves it on the stack.
/// The SYSCALL entry builds the same frame (vector [`SYSCALL_VECTOR`]), and a new user
/// thread starts from one (`TrapFrame::user_entry`).
#[repr(C)]
pub struct TrapFrame {
    pub(super) r15: u64,
    pub(super) r14: u64,
    pub(super) r13: u64,
    pub(super) r12: u64,
    pub(super) r11: u64,
    pub(super) r10: u64,
    pub(super) r9: u64,
    pub(super) r8: u64,
    pub(super) rbp: u64,
    pub(super) rdi: u64,
    pub(super) rsi: u64,
    pub(super) rdx: u64,
    pub(super) rcx: u64,
    pub(super) rbx: u64,
    pub(super) rax: u64,
    pub(super) vector: u64,
    pub(super) error_code: u64,
    pub(super) rip: u64,
    pub(super) cs: u64,
    pub(super) rflags: u64,
    pub(super) rsp: u64,
    pub(super) ss: u64,
}

impl TrapFrame {
    /// The frame a new user thread leaves the kernel with: every register zero.
    pub(super) fn user_entry(rip: u64, rsp: u64, rflags: u64, cs: u16, ss: u16) -> TrapFrame {
        TrapFrame {
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            r11: 0,
            r10: 0,
            r9: 0,
            r8: 0,
            rbp: 0,
            rdi: 0,
            rsi: 0,
            rdx: 0,
            rcx: 0,
            rbx: 0,
            rax: 0,
            vector: 0,
            error_code: 0,
            rip,
            cs: u64::from(cs),
            rflags,
            rsp,
            ss: u64::from(ss),
        }
    }

    fn is_from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);

core::arch::global_asm!(
    r#"
    .section .text.x86_64_isr, "ax"
    .balign 16
    .global x86_64_isr_stubs
x86_64_isr_stubs:
    .set x86_64_isr_vector, 0
    .rept 256
    .balign 16
    .if x86_64_isr_vector < 32
    .if ({error_codes} >> x86_64_isr_vector) & 1
    .else
    pushq $0
    .endif
    .else
    pushq $0
    .endif
    pushq $x86_64_isr_vector
    jmp x86_64_isr_common
    .set x86_64_isr_vector, x86_64_isr_vector + 1
    .endr

    .balign 16
x86_64_isr_common:
    /* From user mode (CS.RPL = 3 at 24(%rsp)): switch GS to the per-CPU block. */
    testb $3, 24(%rsp)
    jz 1f
    swapgs
    /* Interrupt gates do not clear AC (SMAP's override) or NT: clear both for the kernel. The
       user's RFLAGS is in the frame and comes back with iretq. */
    pushq $0x2
    popfq
1:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi
    call {handler}
    .global x86_64_trap_return
    /* The one way back from the kernel to interrupted code and to user mode. */
x86_64_trap_return:
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    testb $3, 8(%rsp)
    jz 2f
    swapgs
2:
    iretq
    .text
"#,
    handler = sym x86_64_trap_handler,
    error_codes = const ERROR_CODE_VECTORS,
    options(att_syntax)
);

unsafe extern "C" {
    /// The first of the 256 entry stubs (16 bytes each).
    static x86_64_isr_stubs: u8;
}

/// The IDT: 256 16-byte gate descriptors.
#[repr(C, align(16))]
struct Idt([[u64; 2]; 256]);

/// The IDT every CPU uses, written once by the boot CPU before any other CPU starts.
static IDT: CpuCell<Idt> = CpuCell::new(Idt([[0; 2]; 256]));

/// Interrupts that arrived with no handler (counted, not fatal).
static UNEXPECTED: AtomicU64 = AtomicU64::new(0);
/// Nesting depth of fault reports on each CPU (a fault while reporting a fault).
static FAULT_DEPTH: [AtomicU32; crate::smp::MAX_CPUS] = [const { AtomicU32::new(0) }; crate::smp::MAX_CPUS];

/// An interrupt gate (IF cleared on entry) to `handler` in the kernel code segment, DPL 0.
fn gate(handler: u64, ist: u8) -> [u64; 2] {
    let low = (handler & 0xffff)
        | (u64::from(KERNEL_CS) << 16)
        | (u64::from(ist & 0x7) << 32)
        | (0x8e << 40) // present, DPL 0, 64-bit interrupt gate
        | (((handler >> 16) & 0xffff) << 48);
    [low, handler >> 32]
}

/// Installs the boot CPU's GDT, TSS and per-CPU block, and the IDT. Called by the boot code
/// on the boot stack, after `.bss` is cleared and before the Rust entry.
pub extern "C" fn install_early() {
    gdt::load_boot();
    super::user::init_cpu_block(0);
    let stubs = &raw const x86_64_isr_stubs as u64;
    // SAFETY: single-threaded initialisation with interrupts off; the CPU does not read the
    // IDT before the `lidt` below, so this is the only access.
    let idt = unsafe { &mut *IDT.get() };
    for (vector, entry) in idt.0.iter_mut().enumerate() {
        let ist = match vector {
            8 => IST_DOUBLE_FAULT,
            2 | 18 => IST_NMI_MCE,
            _ => 0,
        };
        *entry = gate(stubs + STUB_SIZE * vector as u64, ist);
    }
    load_idt();
}

/// Loads the shared IDT on the running CPU.
pub fn load_idt() {
    let pointer = DescriptorPointer { limit: (core::mem::size_of::<Idt>() - 1) as u16, base: IDT.get() as u64 };
    // SAFETY: every gate points at a stub in `.text` with the kernel code selector (written by
    // `install_early` on the boot CPU before its own load and before any other CPU starts);
    // the IDT is a static that lives for the whole kernel.
    unsafe {
        core::arch::asm!("lidt ({0})", in(reg) &raw const pointer, options(att_syntax, readonly, nostack, preserves_flags))
    };
}

/// Interrupts that arrived with no handler so far (reported by the monitor).
pub fn unexpected_interrupts() -> u64 {
    UNEXPECTED.load(Ordering::Relaxed)
}

/// Checks that the boot code installed the IDT, and describes the trap setup.
pub fn init_traps() -> Result<TrapReport, KernelError> {
    let mut current = DescriptorPointer { limit: 0, base: 0 };
    // SAFETY: `sidt` stores 10 bytes into `current`, a local of exactly that layout.
    unsafe { core::arch::asm!("sidt ({0})", in(reg) &raw mut current, options(att_syntax, nostack, preserves_flags)) };
    let (base, limit) = (current.base, current.limit);
    if base != IDT.get() as u64 || usize::from(limit) != core::mem::size_of::<Idt>() - 1 {
        return Err(KernelError::Hardware("the IDT is not the kernel's"));
    }
    Ok(TrapReport {
        detail: "GDT + TSS, IDT with 256 vectors (32 exceptions), IST1 for #DF (stack overflow reports), IST2 for NMI/#MC",
    })
}

/// Called by `x86_64_isr_common` with the saved frame.
extern "C" fn x86_64_trap_handler(frame: &mut TrapFrame) {
    match frame.vector {
        // Another CPU's TLB shootdown: done, back to the interrupted code.
        2 if super::smp::on_nmi(frame as *const TrapFrame as u64) => {}
        // NMI and machine check are the machine's, not the running program's.
        2 | 18 => fault(frame),
        0..=31 if frame.is_from_user() => user_fault(frame),
        0..=31 => fault(frame),
        v if v == u64::from(TIMER_VECTOR) => {
            timer::on_interrupt();
            apic::eoi();
            crate::sched::preempt_point();
        }
        v if v == u64::from(SERIAL_VECTOR) => {
            crate::monitor::on_serial_interrupt();
            apic::eoi();
            crate::sched::preempt_point();
        }
        v if v == u64::from(RESCHEDULE_VECTOR) => {
            apic::eoi();
            crate::smp::on_reschedule_ipi();
            crate::sched::preempt_point();
        }
        // Spurious interrupts, from the local APIC or the masked PICs, must not be acknowledged.
        v if v == u64::from(SPURIOUS_VECTOR)
            || (u64::from(PIC_VECTOR_BASE)..u64::from(PIC_VECTOR_BASE) + 16).contains(&v) =>
        {
            UNEXPECTED.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            UNEXPECTED.fetch_add(1, Ordering::Relaxed);
            apic::eoi();
        }
    }
}

const EXCEPTION_NAMES: [&str; 32] = [
    "divide error (#DE)",
    "debug exception (#DB)",
    "non-maskable interrupt (NMI)",
    "breakpoint (#BP)",
    "overflow (#OF)",
    "bound range exceeded (#BR)",
    "invalid opcode (#UD)",
    "device not available (#NM)",
    "double fault (#DF)",
    "coprocessor segment overrun",
    "invalid TSS (#TS)",
    "segment not present (#NP)",
    "stack-segment fault (#SS)",
    "general protection fault (#GP)",
    "page fault (#PF)",
    "reserved exception 15",
    "x87 floating-point error (#MF)",
    "alignment check (#AC)",
    "machine check (#MC)",
    "SIMD floating-point exception (#XM)",
    "virtualization exception (#VE)",
    "control protection exception (#CP)",
    "reserved exception 22",
    "reserved exception 23",
    "reserved exception 24",
    "reserved exception 25",
    "reserved exception 26",
    "reserved exception 27",
    "hypervisor injection exception (#HV)",
    "VMM communication exception (#VC)",
    "security exception (#SX)",
    "reserved exception 31",
];

/// A page fault's name from its error code (bit 0 present, 1 write, 3 reserved bit,
/// 4 instruction fetch).
fn page_fault_name(code: u64) -> &'static str {
    let present = code & 1 != 0;
    match (code & (1 << 3) != 0, code & (1 << 4) != 0, code & (1 << 1) != 0) {
        (true, _, _) => "page fault (#PF): reserved bit set in a page-table entry",
        (false, true, _) if present => "page fault (#PF): instruction fetch, protection violation",
        (false, true, _) => "page fault (#PF): instruction fetch, page not present",
        (false, false, true) if present => "page fault (#PF): write, protection violation",
        (false, false, true) => "page fault (#PF): write, page not present",
        (false, false, false) if present => "page fault (#PF): read, protection violation",
        (false, false, false) => "page fault (#PF): read, page not present",
    }
}

/// An exception in user mode ends the process (never returns).
fn user_fault(frame: &TrapFrame) {
    let vector = frame.vector;
    let kind = match vector {
        0 | 16 | 19 => FaultKind::Arithmetic,
        3 => FaultKind::Breakpoint,
        6 => FaultKind::IllegalInstruction,
        14 => FaultKind::PageFault,
        17 => FaultKind::Alignment,
        _ => FaultKind::Other,
    };
    let (name, addr) = match vector {
        PAGE_FAULT => (page_fault_name(frame.error_code), Some(cpu::read_cr2())),
        _ => (EXCEPTION_NAMES.get(vector as usize).copied().unwrap_or("unknown exception"), None),
    };
    crate::trap::user_fault(
        kind,
        &FaultReport {
            vector,
            name,
            addr,
            code: (vector < 32 && (ERROR_CODE_VECTORS >> vector) & 1 != 0).then_some(frame.error_code),
            pc: frame.rip,
            sp: frame.rsp,
            registers: &[],
        },
    )
}

fn fault(frame: &TrapFrame) {
    super::user::ensure_kernel_gs();
    let depth = FAULT_DEPTH.get(super::user::cpu_index()).map_or(2, |d| d.fetch_add(1, Ordering::Relaxed));
    if depth >= 2 {
        // Faults while reporting a fault while reporting a fault: print nothing more.
        crate::trap::stop();
    }
    let vector = frame.vector;
    let cr2 = cpu::read_cr2();
    let has_code = vector < 32 && (ERROR_CODE_VECTORS >> vector) & 1 != 0;
    let (name, addr) = match vector {
        PAGE_FAULT => (page_fault_name(frame.error_code), Some(cr2)),
        // The CPU raises #DF when it cannot deliver a page fault, typically because the stack
        // overflowed into its guard page: CR2 then holds the guard address.
        DOUBLE_FAULT if layout::is_stack_guard(cr2) => {
            ("double fault (#DF): kernel stack overflow (page fault on the guard page)", Some(cr2))
        }
        DOUBLE_FAULT => ("double fault (#DF); addr is the last page-fault address (CR2)", Some(cr2)),
        _ => (EXCEPTION_NAMES.get(vector as usize).copied().unwrap_or("unknown exception"), None),
    };
    let registers = [
        ("rax", frame.rax),
        ("rbx", frame.rbx),
        ("rcx", frame.rcx),
        ("rdx", frame.rdx),
        ("rsi", frame.rsi),
        ("rdi", frame.rdi),
        ("rbp", frame.rbp),
        ("rsp", frame.rsp),
        ("r8", frame.r8),
        ("r9", frame.r9),
        ("r10", frame.r10),
        ("r11", frame.r11),
        ("r12", frame.r12),
        ("r13", frame.r13),
        ("r14", frame.r14),
        ("r15", frame.r15),
        ("rip", frame.rip),
        ("rfl", frame.rflags),
        ("cs", frame.cs),
        ("ss", frame.ss),
        ("cr0", cpu::read_cr0()),
        ("cr2", cr2),
        ("cr3", cpu::read_cr3()),
        ("cr4", cpu::read_cr4()),
    ];
    kernel_fault(&FaultReport {
        vector,
        name,
        addr,
        code: has_code.then_some(frame.error_code),
        pc: frame.rip,
        sp: frame.rsp,
        registers: &registers,
    })
}
