// SPDX-License-Identifier: AGPL-3.0-or-later
//! Traps: the IDT, the 256 entry stubs, the saved register frame, exception reports and
//! interrupt dispatch.
//!
//! Every vector has a 16-byte stub (`x86_64_isr_stubs + 16 * vector`) that pushes a dummy
//! error code when the CPU does not push one, then the vector number, and jumps to
//! `x86_64_isr_common`. That saves the 15 general-purpose registers into a [`TrapFrame`] on
//! the current stack and calls [`x86_64_trap_handler`], which reports exceptions (vectors
//! 0–31) through `crate::trap::kernel_fault` and dispatches interrupts: the local APIC timer
//! (0x20), the serial receive interrupt (0x24), the APIC spurious vector (0xff). Any other
//! interrupt is counted and acknowledged, never fatal.
//!
//! #DF runs on IST1 and NMI / #MC on IST2 (see `gdt.rs`), so a kernel stack overflow still
//! produces a report. The GDT, TSS and IDT are installed by the boot code before the Rust
//! entry ([`install_early`]).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::cpu::{self, BootCpuCell};
use super::gdt::{self, DescriptorPointer, IST_DOUBLE_FAULT, IST_NMI_MCE, KERNEL_CS};
use super::{apic, timer};
use crate::arch::TrapReport;
use crate::error::KernelError;
use crate::layout;
use crate::trap::{FaultReport, kernel_fault};

/// The local APIC timer's vector.
pub const TIMER_VECTOR: u8 = 0x20;
/// The serial receive interrupt's vector (0x20 + ISA IRQ 4).
pub const SERIAL_VECTOR: u8 = 0x24;
/// First vector of the (masked) legacy 8259 PICs; they occupy 16 vectors.
pub const PIC_VECTOR_BASE: u8 = 0xe0;
/// The local APIC's spurious-interrupt vector.
pub const SPURIOUS_VECTOR: u8 = 0xff;

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
#[repr(C)]
pub struct TrapFrame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    rbp: u64,
    rdi: u64,
    rsi: u64,
    rdx: u64,
    rcx: u64,
    rbx: u64,
    rax: u64,
    vector: u64,
    error_code: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
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

static IDT: BootCpuCell<Idt> = BootCpuCell::new(Idt([[0; 2]; 256]));

/// Interrupts that arrived with no handler (counted, not fatal).
static UNEXPECTED: AtomicU64 = AtomicU64::new(0);
/// Nesting depth of fault reports (a fault while reporting a fault).
static FAULT_DEPTH: AtomicU32 = AtomicU32::new(0);

/// An interrupt gate (IF cleared on entry) to `handler` in the kernel code segment, DPL 0.
fn gate(handler: u64, ist: u8) -> [u64; 2] {
    let low = (handler & 0xffff)
        | (u64::from(KERNEL_CS) << 16)
        | (u64::from(ist & 0x7) << 32)
        | (0x8e << 40) // present, DPL 0, 64-bit interrupt gate
        | (((handler >> 16) & 0xffff) << 48);
    [low, handler >> 32]
}

/// Installs the GDT, TSS and IDT. Called by the boot code on the boot stack, after `.bss`
/// is cleared and before the Rust entry.
pub extern "C" fn install_early() {
    gdt::load();
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
    let pointer = DescriptorPointer { limit: (core::mem::size_of::<Idt>() - 1) as u16, base: IDT.get() as u64 };
    // SAFETY: every gate points at a stub in `.text` with the kernel code selector; the IDT
    // is a static that lives for the whole kernel.
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
        0..=31 => fault(frame),
        v if v == u64::from(TIMER_VECTOR) => {
            timer::on_interrupt();
            apic::eoi();
        }
        v if v == u64::from(SERIAL_VECTOR) => {
            crate::monitor::on_serial_interrupt();
            apic::eoi();
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

fn fault(frame: &TrapFrame) {
    let depth = FAULT_DEPTH.fetch_add(1, Ordering::Relaxed);
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
