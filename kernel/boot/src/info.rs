// SPDX-License-Identifier: AGPL-3.0-or-later
//! The portable boot-information record every architecture hands to `kernel_main`.

use kernel_core::memmap::{Range, RangeError, RangeList};

/// Most RAM ranges recorded.
pub const MAX_MEMORY_RANGES: usize = 64;
/// Most reserved ranges recorded.
pub const MAX_RESERVED: usize = 32;
/// Most boot modules recorded.
pub const MAX_MODULES: usize = 16;
/// Longest command line kept (longer ones are cut and flagged).
pub const MAX_CMDLINE: usize = 1024;
/// Most CPUs recorded from the firmware tables.
pub const MAX_CPUS: usize = 64;

/// How the kernel was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootProtocol {
    /// x86_64 PVH direct boot (`hvm_start_info`).
    Pvh,
    /// x86_64 Multiboot2 (GRUB).
    Multiboot2,
    /// AArch64 arm64 Image boot with a device tree in x0.
    ArmImage,
    /// RISC-V S-mode payload of OpenSBI with a device tree in a1.
    OpenSbi,
}

impl BootProtocol {
    /// Name printed in the boot log.
    pub const fn name(self) -> &'static str {
        match self {
            BootProtocol::Pvh => "PVH",
            BootProtocol::Multiboot2 => "Multiboot2",
            BootProtocol::ArmImage => "arm64 Image + DTB",
            BootProtocol::OpenSbi => "OpenSBI + DTB",
        }
    }
}

/// Why a physical range is off limits to the frame allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedKind {
    /// The kernel's own image (text, data, bss).
    KernelImage,
    /// A boot module / initrd.
    Module,
    /// The flattened device tree.
    DeviceTree,
    /// Boot-protocol structures (start_info, Multiboot2 information, memory map).
    BootStructures,
    /// Firmware-owned memory (`/reserved-memory`, `/memreserve/`, OpenSBI).
    Firmware,
    /// Firmware-owned memory the OS must not even map (`/reserved-memory` nodes with
    /// `no-map`: secure-world or M-mode memory, where a speculative access may fault).
    FirmwareNoMap,
    /// Legacy low memory (x86 real-mode area, BIOS data).
    LowMemory,
}

impl ReservedKind {
    /// Name printed in the boot log.
    pub const fn name(self) -> &'static str {
        match self {
            ReservedKind::KernelImage => "kernel image",
            ReservedKind::Module => "boot module",
            ReservedKind::DeviceTree => "device tree",
            ReservedKind::BootStructures => "boot structures",
            ReservedKind::Firmware => "firmware",
            ReservedKind::FirmwareNoMap => "firmware, no-map",
            ReservedKind::LowMemory => "low memory",
        }
    }
}

/// A reserved range and why it is reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// The bytes.
    pub range: Range,
    /// Why.
    pub kind: ReservedKind,
}

/// A boot module (today: the initrd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module {
    /// Where it sits in physical memory.
    pub range: Range,
}

/// The firmware description table the platform provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirmwareTable {
    /// None was provided.
    None,
    /// ACPI Root System Description Pointer (x86_64).
    AcpiRsdp(u64),
    /// Flattened device tree (AArch64, RISC-V).
    DeviceTree {
        /// Physical address.
        addr: u64,
        /// Total size in bytes.
        size: u64,
    },
}

/// Kind of serial port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    /// NS16550-compatible, memory-mapped with registers `1 << reg_shift` bytes apart.
    Ns16550Mmio {
        /// Register spacing as a power of two.
        reg_shift: u8,
    },
    /// NS16550-compatible on x86 I/O ports.
    Ns16550Pio,
    /// Arm PrimeCell PL011.
    Pl011,
}

/// The serial console the firmware points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uart {
    /// Register base (physical address or I/O port).
    pub base: u64,
    /// Register layout.
    pub kind: UartKind,
    /// Interrupt number on the platform's interrupt controller, if known.
    pub irq: Option<u32>,
}

/// Interrupt-controller description from the device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptController {
    /// Not described by the boot information (x86: found through ACPI later).
    Unknown,
    /// Arm GICv3: distributor and redistributor regions.
    GicV3 {
        /// Distributor base.
        distributor: Range,
        /// Redistributor region.
        redistributor: Range,
    },
    /// Arm GICv2: distributor and CPU interface.
    GicV2 {
        /// Distributor base.
        distributor: Range,
        /// CPU interface.
        cpu_interface: Range,
    },
    /// RISC-V platform-level interrupt controller.
    Plic {
        /// Register window.
        regs: Range,
        /// Number of interrupt sources (`riscv,ndev`).
        sources: u32,
    },
}

/// Which PLIC context takes a hart's supervisor external interrupts (from the PLIC's
/// `interrupts-extended`: the context index is the position of the hart's entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlicContext {
    /// Hart id.
    pub hart: u64,
    /// PLIC context number.
    pub context: u32,
}

/// The PSCI conduit (AArch64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// No PSCI node.
    None,
    /// `hvc`.
    Hvc,
    /// `smc`.
    Smc,
}

/// The AArch64 generic timer's per-CPU interrupts (`/timer`, `arm,armv8-timer`), as GIC INTIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArmTimerIrqs {
    /// Non-secure EL1 physical timer PPI (`CNTP`; 30 on QEMU virt).
    pub phys_el1: u32,
    /// Virtual timer PPI (`CNTV`; 27 on QEMU virt).
    pub virt: u32,
}

/// The command line, copied out of boot memory.
#[derive(Clone, Copy)]
pub struct Cmdline {
    bytes: [u8; MAX_CMDLINE],
    len: usize,
    /// True when the original was longer than [`MAX_CMDLINE`] and was cut.
    pub truncated: bool,
}

impl core::fmt::Debug for Cmdline {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Cmdline {
    /// An empty command line.
    pub const fn empty() -> Self {
        Cmdline { bytes: [0; MAX_CMDLINE], len: 0, truncated: false }
    }

    /// Copies `raw` up to the first NUL; non-UTF-8 bytes are replaced by `?`.
    pub fn from_bytes(raw: &[u8]) -> Self {
        let mut c = Cmdline::empty();
        let raw = raw.split(|&b| b == 0).next().unwrap_or(&[]);
        for (dst, &b) in c.bytes.iter_mut().zip(raw) {
            *dst = if b.is_ascii() && (b >= 0x20 || b == b'\t') { b } else { b'?' };
            c.len += 1;
        }
        c.truncated = raw.len() > MAX_CMDLINE;
        c
    }

    /// The text (always ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.bytes.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

/// Everything the kernel learns from the boot protocol.
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// How the kernel was started.
    pub protocol: BootProtocol,
    /// RAM as reported (still including the reserved ranges).
    pub memory: RangeList<MAX_MEMORY_RANGES>,
    /// Ranges the frame allocator must never hand out.
    pub reserved: [Option<Reserved>; MAX_RESERVED],
    /// Boot modules (initrd).
    pub modules: [Option<Module>; MAX_MODULES],
    /// Kernel command line.
    pub cmdline: Cmdline,
    /// ACPI RSDP or device tree.
    pub firmware: FirmwareTable,
    /// Serial console, if the boot information names one.
    pub uart: Option<Uart>,
    /// Interrupt controller, if the boot information describes one.
    pub interrupt_controller: InterruptController,
    /// PSCI conduit (AArch64).
    pub psci: PsciConduit,
    /// Supervisor-mode PLIC context of each hart (RISC-V).
    pub plic_contexts: [Option<PlicContext>; MAX_CPUS],
    /// Hardware ids of the CPUs the firmware lists (MPIDR, hart id, or APIC id).
    pub cpu_ids: [Option<u64>; MAX_CPUS],
    /// Timer frequency from the device tree (`/cpus/timebase-frequency` on RISC-V), if any.
    pub timebase_hz: Option<u64>,
    /// AArch64 generic timer interrupts, if the device tree has an `arm,armv8-timer` node.
    pub arm_timer: Option<ArmTimerIrqs>,
    /// Reserved entries that did not fit (reported, and the boot refuses to continue).
    pub dropped_reserved: usize,
    /// Memory ranges that did not fit.
    pub dropped_memory: usize,
    /// Modules that did not fit [`MAX_MODULES`] (their memory is still reserved).
    pub dropped_modules: usize,
    /// CPUs that did not fit [`MAX_CPUS`].
    pub dropped_cpus: usize,
}

impl BootInfo {
    /// An empty record for `protocol`.
    pub const fn new(protocol: BootProtocol) -> Self {
        BootInfo {
            protocol,
            memory: RangeList::new(),
            reserved: [None; MAX_RESERVED],
            modules: [None; MAX_MODULES],
            cmdline: Cmdline::empty(),
            firmware: FirmwareTable::None,
            uart: None,
            interrupt_controller: InterruptController::Unknown,
            psci: PsciConduit::None,
            plic_contexts: [None; MAX_CPUS],
            cpu_ids: [None; MAX_CPUS],
            timebase_hz: None,
            arm_timer: None,
            dropped_reserved: 0,
            dropped_memory: 0,
            dropped_modules: 0,
            dropped_cpus: 0,
        }
    }

    /// Records RAM.
    pub fn add_memory(&mut self, range: Range) {
        if self.memory.push(range) == Err(RangeError::Full) {
            self.dropped_memory += 1;
        }
    }

    /// Records a reserved range.
    pub fn reserve(&mut self, range: Range, kind: ReservedKind) {
        if range.is_empty() {
            return;
        }
        match self.reserved.iter_mut().find(|r| r.is_none()) {
            Some(slot) => *slot = Some(Reserved { range, kind }),
            None => self.dropped_reserved += 1,
        }
    }

    /// Records a boot module (and reserves its memory).
    pub fn add_module(&mut self, range: Range) {
        match self.modules.iter_mut().find(|m| m.is_none()) {
            Some(slot) => *slot = Some(Module { range }),
            None => self.dropped_modules += 1,
        }
        self.reserve(range, ReservedKind::Module);
    }

    /// Records a CPU id.
    pub fn add_cpu(&mut self, id: u64) {
        match self.cpu_ids.iter_mut().find(|c| c.is_none()) {
            Some(slot) => *slot = Some(id),
            None => self.dropped_cpus += 1,
        }
    }

    /// The reserved ranges.
    pub fn reserved_ranges(&self) -> impl Iterator<Item = &Reserved> {
        self.reserved.iter().flatten()
    }

    /// The supervisor-mode PLIC context of `hart`, if the device tree names one.
    pub fn plic_s_context(&self, hart: u64) -> Option<u32> {
        self.plic_contexts.iter().flatten().find(|c| c.hart == hart).map(|c| c.context)
    }

    /// The modules.
    pub fn module_list(&self) -> impl Iterator<Item = &Module> {
        self.modules.iter().flatten()
    }

    /// The CPU ids the firmware lists.
    pub fn cpu_id_list(&self) -> impl Iterator<Item = u64> + '_ {
        self.cpu_ids.iter().flatten().copied()
    }

    /// Number of CPUs the firmware lists (at least 1: the one running this code).
    pub fn cpu_count(&self) -> usize {
        self.cpu_ids.iter().flatten().count().max(1)
    }

    /// True when `range` lies inside one RAM range and touches no `no-map` firmware memory:
    /// memory the kernel's direct map covers, so the kernel may read it (a boot module whose
    /// addresses came from the boot loader is checked with this before it is read).
    pub fn is_mapped_ram(&self, range: Range) -> bool {
        // Adjacent RAM ranges count as one: a module may straddle two map entries.
        let mut ram = self.memory;
        ram.normalize();
        let in_ram = ram.as_slice().iter().any(|r| r.start <= range.start && range.end <= r.end);
        let no_map = self
            .reserved_ranges()
            .any(|r| r.kind == ReservedKind::FirmwareNoMap && r.range.grow_to_pages().overlaps(&range));
        !range.is_empty() && in_ram && !no_map
    }

    /// RAM minus every reserved range, page-aligned: what the frame allocator may use.
    pub fn usable_memory(&self) -> Result<RangeList<MAX_MEMORY_RANGES>, RangeError> {
        let mut usable = RangeList::<MAX_MEMORY_RANGES>::new();
        for r in self.memory.as_slice() {
            usable.push(r.shrink_to_pages())?;
        }
        usable.normalize();
        for r in self.reserved_ranges() {
            usable.subtract(r.range.grow_to_pages())?;
        }
        Ok(usable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_memory_excludes_reserved() {
        let mut info = BootInfo::new(BootProtocol::Pvh);
        info.add_memory(Range { start: 0, end: 0x9fc00 });
        info.add_memory(Range { start: 0x10_0000, end: 0x800_0000 });
        info.reserve(Range { start: 0, end: 0x10_0000 }, ReservedKind::LowMemory);
        info.reserve(Range { start: 0x10_0000, end: 0x20_0123 }, ReservedKind::KernelImage);
        info.add_module(Range { start: 0x700_0000, end: 0x700_0025 });
        let usable = info.usable_memory().unwrap();
        assert_eq!(
            usable.as_slice(),
            &[Range { start: 0x20_1000, end: 0x700_0000 }, Range { start: 0x700_1000, end: 0x800_0000 }]
        );
        assert_eq!(info.module_list().count(), 1);
        assert_eq!(info.cpu_count(), 1);
    }

    #[test]
    fn mapped_ram_check() {
        let mut info = BootInfo::new(BootProtocol::OpenSbi);
        info.add_memory(Range { start: 0x8000_0000, end: 0x9000_0000 });
        info.reserve(Range::from_len(0x8000_0000, 0x3_f800), ReservedKind::FirmwareNoMap);
        info.reserve(Range::from_len(0x8010_0000, 0x1000), ReservedKind::Firmware);
        assert!(info.is_mapped_ram(Range::from_len(0x8420_0000, 0x3c)));
        assert!(info.is_mapped_ram(Range::from_len(0x8010_0000, 0x10)), "mapped, merely reserved");
        assert!(!info.is_mapped_ram(Range::from_len(0x8003_f000, 0x10)), "no-map firmware");
        assert!(!info.is_mapped_ram(Range::from_len(0x8003_fc00, 0x10)), "shares a page with no-map firmware");
        assert!(info.is_mapped_ram(Range::from_len(0x8004_0000, 0x10)), "the next page is mapped");
        assert!(!info.is_mapped_ram(Range { start: 0x8fff_f000, end: 0x9000_1000 }), "runs past RAM");
        assert!(!info.is_mapped_ram(Range::from_len(0x1000_0000, 0x10)), "not RAM at all");
        assert!(!info.is_mapped_ram(Range::from_len(0x8420_0000, 0)), "empty");
        info.add_memory(Range { start: 0x9000_0000, end: 0xa000_0000 });
        assert!(info.is_mapped_ram(Range { start: 0x8fff_f000, end: 0x9000_1000 }), "spans two adjacent ranges");
    }

    #[test]
    fn cmdline_is_sanitised_and_bounded() {
        let c = Cmdline::from_bytes(b"console=ttyS0 x=\x01y\0ignored");
        assert_eq!(c.as_str(), "console=ttyS0 x=?y");
        let long = [b'a'; MAX_CMDLINE + 10];
        let c = Cmdline::from_bytes(&long);
        assert!(c.truncated);
        assert_eq!(c.as_str().len(), MAX_CMDLINE);
    }

    #[test]
    fn reserved_overflow_is_counted() {
        let mut info = BootInfo::new(BootProtocol::OpenSbi);
        for i in 0..(MAX_RESERVED as u64 + 3) {
            info.reserve(Range::from_len(i * 0x1000, 0x1000), ReservedKind::Firmware);
        }
        assert_eq!(info.dropped_reserved, 3);
    }
}
