// SPDX-License-Identifier: AGPL-3.0-or-later
//! ACPI: the RSDP, the RSDT/XSDT and the MADT, read with the `acpi` crate through a
//! [`PhysReader`] (docs/adr/0010).
//!
//! x86_64 finds its interrupt controllers and CPUs in the MADT ("APIC" table): the local APIC
//! address, each I/O APIC (address and first global system interrupt), the ISA interrupt
//! source overrides (ISA IRQ → GSI, polarity, trigger) and the enabled processors' APIC ids.
//! This runs before the kernel heap exists: the crate (5.2.0; the 6.x releases need a nightly
//! compiler) is built without its `alloc` features, so its allocating `PlatformInfo` is not
//! available and the MADT entries are iterated directly.
//!
//! # What the `acpi` crate checks
//!
//! * `Rsdp::validate`: the RSDP signature, that its OEM id is text, and its checksum (for
//!   ACPI 2.0 and later, one sum over the whole `length`).
//! * `AcpiTables::from_rsdt`: the RSDT/XSDT signature, that its OEM and table ids are text, and
//!   its checksum.
//! * `AcpiTables::find_table::<Madt>`: the first listed "APIC" table whose signature, ids and
//!   checksum are valid; a listed table that is invalid or unreadable is skipped, so a broken
//!   MADT is reported as [`AcpiError::NoMadt`].
//! * The table and entry layouts, and the MADT entry decoding (`Madt::entries`).
//!
//! # What this module adds
//!
//! The crate trusts the lengths and pointers it reads from firmware memory, so everything it
//! will touch is checked here first:
//!
//! * Mappings are served from the [`PhysReader`] by `Mapper`: never more than
//!   [`MAX_TABLE_LEN`] bytes, never fewer than 64, and unreadable memory gets a
//!   zero-filled stand-in that the crate rejects as a bad signature, never a wild pointer.
//! * The RSDP's `length` is bounded before the crate checksums that many bytes, and the
//!   ACPI 1.0 checksum (first 20 bytes) is checked too: the crate only sums the whole structure.
//! * An XSDT address of 0 in an ACPI 2.0+ RSDP falls back to the RSDT (the crate would use 0).
//! * The root table's length is bounded before the crate counts its entries (a length below
//!   the header size underflows there).
//! * The MADT's length is bounded and its entries are walked once for shape before the crate's
//!   iterator runs: each entry is at least 2 bytes, inside the table, and at least as long as
//!   the crate's structure for its type (the crate's iterator loops forever on a zero-length
//!   entry, underflows on one that runs past the table, and reads past a short one).
//! * The interrupt override flags are decoded here (the crate keeps its decoder private without
//!   `alloc`); reserved polarity and trigger encodings are errors.
//! * The BIOS-area RSDP search is ours: the crate's `Rsdp::search_for_on_bios` checksums a
//!   candidate over its own unbounded `length`, and searches the EBDA after the BIOS area
//!   (ACPI says the EBDA first).
//!
//! The RSDP revision is read as the crate reads it: 0 is ACPI 1.0, anything else has the
//! ACPI 2.0 fields. Only processors whose "enabled" flag is set are recorded; "online capable"
//! ones (ACPI 6.3) need CPU hot-add, which CambiOS does not have. Results are copied into
//! fixed-capacity arrays; no pointer into firmware memory survives parsing.

use core::ptr::NonNull;

use ::acpi::madt::{self as crate_madt, MadtEntry};
use ::acpi::rsdp::Rsdp as CrateRsdp;
use ::acpi::{AcpiHandler, AcpiTables, PhysicalMapping};

use crate::PhysReader;

/// Longest RSDT, XSDT or MADT accepted.
pub const MAX_TABLE_LEN: u32 = 1 << 20;
/// Most I/O APICs recorded.
pub const MAX_IO_APICS: usize = 8;
/// Most interrupt source overrides recorded.
pub const MAX_OVERRIDES: usize = 16;
/// Most processors recorded (the same bound as `BootInfo`).
pub const MAX_CPUS: usize = crate::MAX_CPUS;
/// The fewest bytes `Mapper` maps, and the size of its stand-in for unreadable memory: every
/// fixed-size structure the crate reads through a mapping (RSDP and SDT header 36 bytes, MADT
/// header 44) fits, so the crate never reads past a mapping to find a length.
const MIN_MAPPING: usize = 64;

/// Size of the common header of every system description table.
const SDT_HEADER_LEN: u32 = 36;
/// Size of the MADT's fixed part (header, local APIC address, flags).
const MADT_HEADER_LEN: usize = 44;
/// Size of an ACPI 1.0 RSDP.
const RSDP_V1_LEN: usize = 20;
/// Size of an ACPI 2.0+ RSDP.
const RSDP_V2_LEN: u32 = 36;
/// Longest ACPI 2.0+ RSDP accepted.
const RSDP_MAX_LEN: u32 = 4096;
/// MADT processor flags: bit 0, "enabled".
const PROCESSOR_ENABLED: u32 = 1;

/// Why the ACPI tables could not be used. Each variant carries a complete message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP was given and none was found in the BIOS areas.
    NoRsdp,
    /// A structure's signature is wrong.
    BadSignature(&'static str),
    /// A structure's checksum is wrong.
    BadChecksum(&'static str),
    /// A structure lies in memory that cannot be read.
    Unreadable(&'static str),
    /// A length, count, entry or id is impossible.
    Malformed(&'static str),
    /// The RSDT/XSDT lists no valid MADT.
    NoMadt,
}

impl AcpiError {
    /// A short human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            AcpiError::NoRsdp => "ACPI: no RSDP given by the boot loader or found in the BIOS areas",
            AcpiError::BadSignature(what)
            | AcpiError::BadChecksum(what)
            | AcpiError::Unreadable(what)
            | AcpiError::Malformed(what) => what,
            AcpiError::NoMadt => {
                "ACPI: no valid MADT (APIC table) in the RSDT/XSDT (none listed, or its ids or checksum are bad, \
                 or it is unreadable or longer than 1 MiB)"
            }
        }
    }
}

impl core::fmt::Display for AcpiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The messages for one kind of root table.
struct TableNames {
    bad_signature: &'static str,
    bad_checksum: &'static str,
    bad_ids: &'static str,
    unreadable: &'static str,
    bad_length: &'static str,
    rejected: &'static str,
}

const RSDT: TableNames = TableNames {
    bad_signature: "ACPI: RSDT has a bad signature",
    bad_checksum: "ACPI: RSDT has a bad checksum",
    bad_ids: "ACPI: RSDT has an OEM or table id that is not text",
    unreadable: "ACPI: RSDT is not in readable memory",
    bad_length: "ACPI: RSDT has an impossible length",
    rejected: "ACPI: RSDT was rejected by the acpi crate",
};
const XSDT: TableNames = TableNames {
    bad_signature: "ACPI: XSDT has a bad signature",
    bad_checksum: "ACPI: XSDT has a bad checksum",
    bad_ids: "ACPI: XSDT has an OEM or table id that is not text",
    unreadable: "ACPI: XSDT is not in readable memory",
    bad_length: "ACPI: XSDT has an impossible length",
    rejected: "ACPI: XSDT was rejected by the acpi crate",
};

const RSDP_UNREADABLE: AcpiError = AcpiError::Unreadable("ACPI: RSDP is not in readable memory");
const RSDP_MALFORMED: AcpiError = AcpiError::Malformed("ACPI: RSDP has an impossible length");
const RSDP_SIGNATURE: AcpiError = AcpiError::BadSignature("ACPI: RSDP has a bad signature");
const RSDP_CHECKSUM: AcpiError = AcpiError::BadChecksum("ACPI: RSDP has a bad checksum");
const RSDP_EXT_CHECKSUM: AcpiError = AcpiError::BadChecksum("ACPI: RSDP has a bad extended checksum");
const RSDP_OEM_ID: AcpiError = AcpiError::Malformed("ACPI: RSDP has an OEM id that is not text");
const RSDP_REJECTED: AcpiError = AcpiError::Malformed("ACPI: RSDP was rejected by the acpi crate");
const MADT_UNREADABLE: AcpiError = AcpiError::Unreadable("ACPI: MADT is not in readable memory");
const MADT_LENGTH: AcpiError = AcpiError::Malformed("ACPI: MADT has an impossible length");
const MADT_ENTRY: AcpiError = AcpiError::Malformed("ACPI: MADT entry is truncated or has a bad length");
const MADT_FLAGS: AcpiError = AcpiError::Malformed("ACPI: MADT interrupt override has reserved polarity/trigger bits");

/// Polarity of an interrupt input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    /// Active high (the ISA default).
    ActiveHigh,
    /// Active low (the PCI default).
    ActiveLow,
}

/// Trigger mode of an interrupt input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Edge-triggered (the ISA default).
    Edge,
    /// Level-triggered.
    Level,
}

/// An I/O APIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    /// Its APIC id.
    pub id: u8,
    /// Physical address of its register window.
    pub address: u64,
    /// The global system interrupt of its first input.
    pub gsi_base: u32,
}

/// Where an ISA interrupt arrives (from an interrupt source override, or the identity default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaRoute {
    /// The ISA IRQ (0..16).
    pub irq: u8,
    /// The global system interrupt it is wired to.
    pub gsi: u32,
    /// Polarity of the input.
    pub polarity: Polarity,
    /// Trigger mode of the input.
    pub trigger: Trigger,
}

/// What the MADT says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Madt {
    /// Physical address of the local APIC (after any 64-bit address override).
    pub local_apic: u64,
    /// The machine also has dual 8259 PICs (they must be masked).
    pub pcat_compat: bool,
    /// The I/O APICs.
    pub io_apics: [Option<IoApic>; MAX_IO_APICS],
    /// ISA interrupt source overrides.
    pub overrides: [Option<IsaRoute>; MAX_OVERRIDES],
    /// APIC ids of the enabled processors (xAPIC and x2APIC entries).
    pub cpus: [Option<u32>; MAX_CPUS],
    /// Entries that did not fit the arrays above (I/O APICs, overrides, CPUs).
    pub dropped: usize,
}

impl Madt {
    const fn empty(local_apic: u64, pcat_compat: bool) -> Self {
        Madt {
            local_apic,
            pcat_compat,
            io_apics: [None; MAX_IO_APICS],
            overrides: [None; MAX_OVERRIDES],
            cpus: [None; MAX_CPUS],
            dropped: 0,
        }
    }

    /// The I/O APICs.
    pub fn io_apic_list(&self) -> impl Iterator<Item = &IoApic> {
        self.io_apics.iter().flatten()
    }

    /// The enabled processors' APIC ids.
    pub fn cpu_list(&self) -> impl Iterator<Item = u32> + '_ {
        self.cpus.iter().flatten().copied()
    }

    /// Where ISA IRQ `irq` arrives: its override, or GSI `irq`, edge-triggered, active high.
    pub fn isa_route(&self, irq: u8) -> IsaRoute {
        self.overrides.iter().flatten().find(|o| o.irq == irq).copied().unwrap_or(IsaRoute {
            irq,
            gsi: irq as u32,
            polarity: Polarity::ActiveHigh,
            trigger: Trigger::Edge,
        })
    }

    fn push_cpu(&mut self, id: u32) {
        if self.cpus.iter().flatten().any(|&c| c == id) {
            return;
        }
        match self.cpus.iter_mut().find(|c| c.is_none()) {
            Some(slot) => *slot = Some(id),
            None => self.dropped += 1,
        }
    }

    fn push_io_apic(&mut self, io: IoApic) {
        match self.io_apics.iter_mut().find(|c| c.is_none()) {
            Some(slot) => *slot = Some(io),
            None => self.dropped += 1,
        }
    }

    fn push_override(&mut self, route: IsaRoute) {
        match self.overrides.iter_mut().find(|c| c.is_none()) {
            Some(slot) => *slot = Some(route),
            None => self.dropped += 1,
        }
    }
}

/// The crate's view of physical memory: each mapping is a slice from the [`PhysReader`].
///
/// Nothing is really mapped or unmapped. Every `PhysicalMapping` keeps a copy of the mapper,
/// and so the borrow of the reader, so no mapping outlives the memory it points to. The crate
/// only reads through its mappings.
struct Mapper<'r, R> {
    reader: &'r R,
}

impl<R> Clone for Mapper<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Mapper<'_, R> {}

/// Zero-filled memory handed to the crate in place of unreadable memory: it reads as a
/// structure with a bad signature and a length of 0, which the crate rejects or skips.
#[repr(C, align(16))]
struct StandIn([u8; MIN_MAPPING]);

static UNREADABLE: StandIn = StandIn([0; MIN_MAPPING]);

impl<'r, R: PhysReader> Mapper<'r, R> {
    /// The readable bytes at `phys` that serve a request for `size` bytes: at least
    /// `MIN_MAPPING` of them, and none when more than [`MAX_TABLE_LEN`] are asked for.
    fn bytes(&self, phys: usize, size: usize) -> Option<&'r [u8]> {
        if size > MAX_TABLE_LEN as usize {
            return None;
        }
        self.reader.read(u64::try_from(phys).ok()?, size.max(MIN_MAPPING))
    }
}

impl<R: PhysReader> AcpiHandler for Mapper<'_, R> {
    unsafe fn map_physical_region<T>(&self, physical_address: usize, size: usize) -> PhysicalMapping<Self, T> {
        const {
            assert!(
                size_of::<T>() <= MIN_MAPPING && align_of::<T>() <= align_of::<StandIn>(),
                "the stand-in must be able to hold every structure the crate maps"
            )
        };
        let (start, region_length, mapped_length) = match self.bytes(physical_address, size) {
            Some(bytes) if bytes.as_ptr().cast::<T>().is_aligned() => {
                (NonNull::from(bytes).cast::<T>(), size, bytes.len())
            }
            _ => (NonNull::from(&UNREADABLE).cast::<T>(), size_of::<T>(), size_of::<T>()),
        };
        // SAFETY: `start` is aligned for T and points to `mapped_length` readable bytes, at
        // least `region_length` and at least `size_of::<T>()`: either a slice from the reader,
        // valid while the mapper kept in the mapping borrows the reader, or the static
        // stand-in. The crate only reads through mappings, and the crate's table structures
        // are plain integers and byte arrays, for which the zero-filled stand-in is valid.
        unsafe { PhysicalMapping::new(physical_address, start, region_length, mapped_length, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b)) == 0
}

/// The root table a valid RSDP points to.
struct Root {
    /// Its physical address.
    address: u64,
    /// The revision the crate walks it with: 0 for the RSDT (32-bit pointers), else the XSDT
    /// (64-bit pointers).
    revision: u8,
    /// Its messages.
    names: &'static TableNames,
}

/// Validates the RSDP at `addr` (our bounds, then `Rsdp::validate`) and returns its root table.
fn rsdp<R: PhysReader>(mapper: Mapper<'_, R>, addr: u64) -> Result<Root, AcpiError> {
    let v1 = mapper.reader.read(addr, RSDP_V1_LEN).ok_or(RSDP_UNREADABLE)?;
    if v1.get(..8) != Some(b"RSD PTR ".as_slice()) {
        return Err(RSDP_SIGNATURE);
    }
    let revision = *v1.get(15).ok_or(RSDP_MALFORMED)?;
    // The bytes the crate's `Rsdp::validate` sums: 20 for ACPI 1.0 (out of a 36-byte `Rsdp`),
    // else the RSDP's own length, which must be bounded first.
    let length = if revision == 0 {
        RSDP_V2_LEN
    } else {
        let length = mapper.reader.u32_at(addr.checked_add(20).ok_or(RSDP_UNREADABLE)?).ok_or(RSDP_UNREADABLE)?;
        if !(RSDP_V2_LEN..=RSDP_MAX_LEN).contains(&length) {
            return Err(RSDP_MALFORMED);
        }
        // ACPI requires the first 20 bytes to sum to 0 as well; the crate sums only the whole.
        if !checksum_ok(v1) {
            return Err(RSDP_CHECKSUM);
        }
        length
    };
    let phys = usize::try_from(addr).map_err(|_| RSDP_UNREADABLE)?;
    let size = length as usize;
    if mapper.bytes(phys, size).is_none() {
        return Err(RSDP_UNREADABLE);
    }
    // SAFETY: the `size` bytes at `addr` are readable (checked above) and start with an RSDP
    // signature; `size` is at least `size_of::<Rsdp>()` (36) and covers every byte that
    // `Rsdp::validate` sums (20, or the bounded `length`).
    let mapping = unsafe { mapper.map_physical_region::<CrateRsdp>(phys, size) };
    mapping.validate().map_err(|e| match e {
        ::acpi::AcpiError::RsdpIncorrectSignature => RSDP_SIGNATURE,
        ::acpi::AcpiError::RsdpInvalidOemId => RSDP_OEM_ID,
        ::acpi::AcpiError::RsdpInvalidChecksum if revision == 0 => RSDP_CHECKSUM,
        ::acpi::AcpiError::RsdpInvalidChecksum => RSDP_EXT_CHECKSUM,
        _ => RSDP_REJECTED,
    })?;
    // `xsdt_address` exists (and the crate allows reading it) only from revision 1 on.
    let xsdt = if revision == 0 { 0 } else { mapping.xsdt_address() };
    Ok(if xsdt != 0 {
        Root { address: xsdt, revision, names: &XSDT }
    } else {
        Root { address: u64::from(mapping.rsdt_address()), revision: 0, names: &RSDT }
    })
}

/// Bounds the root table, then lets the crate validate it (`AcpiTables::from_rsdt`).
fn tables<'r, R: PhysReader>(mapper: Mapper<'r, R>, root: &Root) -> Result<AcpiTables<Mapper<'r, R>>, AcpiError> {
    let names = root.names;
    let unreadable = AcpiError::Unreadable(names.unreadable);
    let head = mapper.reader.read(root.address, SDT_HEADER_LEN as usize).ok_or(unreadable)?;
    let length = crate::le_u32(head, 4).ok_or(unreadable)?;
    if !(SDT_HEADER_LEN..=MAX_TABLE_LEN).contains(&length) {
        return Err(AcpiError::Malformed(names.bad_length));
    }
    let phys = usize::try_from(root.address).map_err(|_| unreadable)?;
    if mapper.bytes(phys, length as usize).is_none() {
        return Err(unreadable);
    }
    // SAFETY: the whole root table (`length` bytes: at least a header, at most MAX_TABLE_LEN)
    // is readable, so the crate's entry count cannot underflow and each of its mappings of the
    // table is served; the crate checks the signature, ids and checksum before using it.
    unsafe { AcpiTables::from_rsdt(mapper, root.revision, phys) }.map_err(|e| match e {
        ::acpi::AcpiError::SdtInvalidSignature(_) => AcpiError::BadSignature(names.bad_signature),
        ::acpi::AcpiError::SdtInvalidOemId(_) | ::acpi::AcpiError::SdtInvalidTableId(_) => {
            AcpiError::Malformed(names.bad_ids)
        }
        ::acpi::AcpiError::SdtInvalidChecksum(_) => AcpiError::BadChecksum(names.bad_checksum),
        _ => AcpiError::Malformed(names.rejected),
    })
}

/// The size of the structure the crate's MADT iterator reads for an entry of type `kind`, or 0
/// for the reserved and OEM types it skips.
fn decoded_len(kind: u8) -> usize {
    use crate_madt::*;
    match kind {
        0x0 => size_of::<LocalApicEntry>(),
        0x1 => size_of::<IoApicEntry>(),
        0x2 => size_of::<InterruptSourceOverrideEntry>(),
        0x3 => size_of::<NmiSourceEntry>(),
        0x4 => size_of::<LocalApicNmiEntry>(),
        0x5 => size_of::<LocalApicAddressOverrideEntry>(),
        0x6 => size_of::<IoSapicEntry>(),
        0x7 => size_of::<LocalSapicEntry>(),
        0x8 => size_of::<PlatformInterruptSourceEntry>(),
        0x9 => size_of::<LocalX2ApicEntry>(),
        0xa => size_of::<X2ApicNmiEntry>(),
        0xb => size_of::<GiccEntry>(),
        0xc => size_of::<GicdEntry>(),
        0xd => size_of::<GicMsiFrameEntry>(),
        0xe => size_of::<GicRedistributorEntry>(),
        0xf => size_of::<GicInterruptTranslationServiceEntry>(),
        0x10 => size_of::<MultiprocessorWakeupEntry>(),
        _ => 0,
    }
}

/// Walks the MADT's entries for shape, so that the crate's iterator over `table` stays inside
/// it and ends: every entry has at least 2 bytes, lies inside the table and is at least as long
/// as the crate's structure for its type.
fn check_entries(table: &[u8]) -> Result<(), AcpiError> {
    let mut rest = table.get(MADT_HEADER_LEN..).ok_or(MADT_LENGTH)?;
    // Bounded: every iteration consumes at least two bytes of a table of bounded length.
    while !rest.is_empty() {
        let kind = *rest.first().ok_or(MADT_ENTRY)?;
        let len = usize::from(*rest.get(1).ok_or(MADT_ENTRY)?);
        if len < 2 || len < decoded_len(kind) {
            return Err(MADT_ENTRY);
        }
        rest = rest.get(len..).ok_or(MADT_ENTRY)?;
    }
    Ok(())
}

/// MPS INTI flags (polarity bits 0-1, trigger bits 2-3; "conforms" means the ISA default).
fn inti_flags(flags: u16) -> Result<(Polarity, Trigger), AcpiError> {
    let polarity = match flags & 0b11 {
        0b00 | 0b01 => Polarity::ActiveHigh,
        0b11 => Polarity::ActiveLow,
        _ => return Err(MADT_FLAGS),
    };
    let trigger = match (flags >> 2) & 0b11 {
        0b00 | 0b01 => Trigger::Edge,
        0b11 => Trigger::Level,
        _ => return Err(MADT_FLAGS),
    };
    Ok((polarity, trigger))
}

/// Bounds the MADT the crate found and copies what it says into a [`Madt`].
fn decode<R: PhysReader>(
    reader: &R,
    mapping: &PhysicalMapping<Mapper<'_, R>, crate_madt::Madt>,
) -> Result<Madt, AcpiError> {
    let phys = u64::try_from(mapping.physical_start()).map_err(|_| MADT_UNREADABLE)?;
    let length = reader.u32_at(phys.checked_add(4).ok_or(MADT_UNREADABLE)?).ok_or(MADT_UNREADABLE)?;
    if !(MADT_HEADER_LEN as u32..=MAX_TABLE_LEN).contains(&length) {
        return Err(MADT_LENGTH);
    }
    check_entries(reader.read(phys, length as usize).ok_or(MADT_UNREADABLE)?)?;
    // The mapping covers the whole table (the crate checksummed it through the mapping) and at
    // least MIN_MAPPING bytes, so the fixed part is inside it and the entries were checked.
    let table = mapping.get();
    let mut madt = Madt::empty(u64::from(table.local_apic_address), table.supports_8259());
    for entry in table.entries() {
        match entry {
            // Only enabled processors: "online capable" ones need CPU hot-add.
            MadtEntry::LocalApic(cpu) if cpu.flags & PROCESSOR_ENABLED != 0 => madt.push_cpu(u32::from(cpu.apic_id)),
            MadtEntry::LocalX2Apic(cpu) if cpu.flags & PROCESSOR_ENABLED != 0 => madt.push_cpu(cpu.x2apic_id),
            MadtEntry::IoApic(io) => madt.push_io_apic(IoApic {
                id: io.io_apic_id,
                address: u64::from(io.io_apic_address),
                gsi_base: io.global_system_interrupt_base,
            }),
            MadtEntry::InterruptSourceOverride(entry) => {
                let (polarity, trigger) = inti_flags(entry.flags)?;
                // Bus 0 is ISA, the only bus with overrides.
                if entry.bus == 0 {
                    madt.push_override(IsaRoute {
                        irq: entry.irq,
                        gsi: entry.global_system_interrupt,
                        polarity,
                        trigger,
                    });
                }
            }
            MadtEntry::LocalApicAddressOverride(entry) => madt.local_apic = entry.local_apic_address,
            // Disabled processors; NMI sources, local APIC NMIs, SAPIC, GIC and wakeup entries:
            // not needed here.
            _ => {}
        }
    }
    Ok(madt)
}

/// Finds the MADT through the RSDP at `rsdp_addr` and copies what it says.
pub fn madt_from_rsdp<R: PhysReader>(reader: &R, rsdp_addr: u64) -> Result<Madt, AcpiError> {
    let mapper = Mapper { reader };
    let root = rsdp(mapper, rsdp_addr)?;
    let tables = tables(mapper, &root)?;
    // The crate's only error here is "no valid table with that signature".
    let mapping = tables.find_table::<crate_madt::Madt>().map_err(|_| AcpiError::NoMadt)?;
    decode(reader, &mapping)
}

/// Searches the BIOS areas for an RSDP: the first KiB of the extended BIOS data area (its
/// segment is the word at physical 0x40e) and 0xe0000..0x100000, on 16-byte boundaries.
/// Returns the address of the first one that validates.
pub fn find_rsdp_in_bios<R: PhysReader>(reader: &R) -> Option<u64> {
    let ebda = reader
        .read(0x40e, 2)
        .and_then(|b| Some(u16::from_le_bytes([*b.first()?, *b.get(1)?])))
        .map(|segment| u64::from(segment) << 4)
        .filter(|&base| (0x8_0000..0xa_0000).contains(&base));
    let areas = [ebda.map(|base| (base, base + 1024)), Some((0xe_0000, 0x10_0000))];
    areas.into_iter().flatten().find_map(|(start, end)| scan(reader, start, end))
}

fn scan<R: PhysReader>(reader: &R, start: u64, end: u64) -> Option<u64> {
    let mapper = Mapper { reader };
    let bytes = reader.read(start, usize::try_from(end.checked_sub(start)?).ok()?)?;
    bytes.chunks(16).enumerate().find_map(|(i, chunk)| {
        let addr = start + 16 * i as u64;
        (chunk.get(..8) == Some(b"RSD PTR ".as_slice()) && rsdp(mapper, addr).is_ok()).then_some(addr)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SliceReader;
    use std::vec::Vec;

    /// A fake physical memory of 1 MiB + 64 KiB starting at 0.
    struct Memory(Vec<u8>);

    impl Memory {
        fn new() -> Self {
            Memory(std::vec![0; 0x11_0000])
        }
        fn put(&mut self, addr: usize, bytes: &[u8]) {
            self.0[addr..addr + bytes.len()].copy_from_slice(bytes);
        }
        fn reader(&self) -> SliceReader<'_> {
            SliceReader { base: 0, bytes: &self.0 }
        }
    }

    const MADT_AT: usize = 0x10_0000;
    const ROOT_AT: usize = 0x10_8000;
    const RSDP_AT: usize = 0xf_5250;

    fn fix_checksum(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        let sum = bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b));
        bytes[at] = 0u8.wrapping_sub(sum);
    }

    fn rsdp_v1(rsdt: u32) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(b"RSD PTR ");
        r.push(0);
        r.extend_from_slice(b"CAMBIO");
        r.push(0);
        r.extend_from_slice(&rsdt.to_le_bytes());
        fix_checksum(&mut r, 8);
        r
    }

    fn rsdp_v2(rsdt: u32, xsdt: u64) -> Vec<u8> {
        let mut r = rsdp_v1(rsdt);
        r[15] = 2;
        fix_checksum(&mut r, 8);
        r.extend_from_slice(&36u32.to_le_bytes());
        r.extend_from_slice(&xsdt.to_le_bytes());
        r.extend_from_slice(&[0, 0, 0, 0]);
        fix_checksum(&mut r, 32);
        r
    }

    fn sdt(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(signature);
        t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
        t.push(1);
        t.push(0);
        t.extend_from_slice(b"CAMBIO");
        t.extend_from_slice(b"TESTTABL");
        t.extend_from_slice(&[0; 12]);
        t.extend_from_slice(body);
        fix_checksum(&mut t, 9);
        t
    }

    /// `t` with its length field set to `len` and its checksum fixed over the first `len` bytes.
    fn with_length(mut t: Vec<u8>, len: u32) -> Vec<u8> {
        t[4..8].copy_from_slice(&len.to_le_bytes());
        let covered = (len as usize).min(t.len());
        fix_checksum(&mut t[..covered], 9);
        t
    }

    fn madt_body(entries: &[&[u8]]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        for e in entries {
            b.extend_from_slice(e);
        }
        b
    }

    fn qemu_like_madt() -> Vec<u8> {
        madt_body(&[
            &[0, 8, 0, 0, 1, 0, 0, 0],                    // CPU uid 0, APIC id 0, enabled
            &[0, 8, 1, 1, 1, 0, 0, 0],                    // CPU uid 1, APIC id 1, enabled
            &[0, 8, 2, 2, 0, 0, 0, 0],                    // CPU uid 2, APIC id 2, disabled
            &[1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0], // I/O APIC 0 at 0xfec00000, GSI 0
            &[2, 10, 0, 0, 2, 0, 0, 0, 0, 0],             // IRQ0 -> GSI2
            &[2, 10, 0, 9, 9, 0, 0, 0, 0x0d, 0],          // IRQ9 -> GSI9, active high, level
            &[4, 6, 0xff, 0, 0, 1],                       // local APIC NMI (ignored)
        ])
    }

    /// Puts `madt` at MADT_AT, a root table listing a null pointer and the MADT at ROOT_AT,
    /// and an RSDP (2.0 with an XSDT, or 1.0 with an RSDT) at RSDP_AT, which it returns.
    fn install(mem: &mut Memory, use_xsdt: bool, madt: &[u8]) -> u64 {
        mem.put(MADT_AT, madt);
        if use_xsdt {
            let xsdt = sdt(b"XSDT", &[0u64.to_le_bytes(), (MADT_AT as u64).to_le_bytes()].concat());
            mem.put(ROOT_AT, &xsdt);
            mem.put(RSDP_AT, &rsdp_v2(0, ROOT_AT as u64));
        } else {
            let rsdt = sdt(b"RSDT", &[0u32.to_le_bytes(), (MADT_AT as u32).to_le_bytes()].concat());
            mem.put(ROOT_AT, &rsdt);
            mem.put(RSDP_AT, &rsdp_v1(ROOT_AT as u32));
        }
        RSDP_AT as u64
    }

    fn madt_with(use_xsdt: bool, madt: &[u8]) -> Result<Madt, AcpiError> {
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, use_xsdt, madt);
        madt_from_rsdp(&mem.reader(), rsdp)
    }

    #[test]
    fn parses_a_qemu_like_madt_through_the_rsdt_and_the_xsdt() {
        // The XSDT is 8-byte aligned, so its 64-bit pointers (at offset 36) are not.
        for use_xsdt in [false, true] {
            let madt = madt_with(use_xsdt, &sdt(b"APIC", &qemu_like_madt())).unwrap();
            assert_eq!(madt.local_apic, 0xfee0_0000);
            assert!(madt.pcat_compat);
            assert_eq!(madt.cpu_list().collect::<Vec<_>>(), [0, 1]);
            let io: Vec<_> = madt.io_apic_list().copied().collect();
            assert_eq!(io, [IoApic { id: 0, address: 0xfec0_0000, gsi_base: 0 }]);
            assert_eq!(madt.isa_route(0).gsi, 2);
            let irq9 = madt.isa_route(9);
            assert_eq!((irq9.gsi, irq9.polarity, irq9.trigger), (9, Polarity::ActiveHigh, Trigger::Level));
            let com1 = madt.isa_route(4);
            assert_eq!((com1.gsi, com1.polarity, com1.trigger), (4, Polarity::ActiveHigh, Trigger::Edge));
            assert_eq!(madt.dropped, 0);
        }
    }

    #[test]
    fn x2apic_entries_address_override_and_cpu_flags() {
        let body = madt_body(&[
            &[9, 16, 0, 0, 0x00, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], // x2APIC id 256 enabled
            &[9, 16, 0, 0, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], // x2APIC id 257 disabled
            &[9, 16, 0, 0, 0x02, 0x01, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0], // 258: online capable only
            &[0, 8, 3, 3, 2, 0, 0, 0],                                // APIC id 3: online capable only
            &[0, 8, 4, 4, 3, 0, 0, 0],                                // APIC id 4: enabled
            &[0, 8, 5, 4, 1, 0, 0, 0],                                // APIC id 4 again
            &[5, 12, 0, 0, 0, 0, 0xe0, 0xfe, 1, 0, 0, 0],             // LAPIC at 0x1_fee0_0000
            &[2, 10, 0, 4, 20, 0, 0, 0, 0x0f, 0],                     // IRQ4 -> GSI20, low, level
            &[2, 10, 1, 5, 21, 0, 0, 0, 0x0f, 0],                     // bus 1: not ISA, ignored
        ]);
        let mut t = sdt(b"APIC", &body);
        t[40] = 0; // flags: no PCAT_COMPAT
        fix_checksum(&mut t, 9);
        let madt = madt_with(true, &t).unwrap();
        assert_eq!(madt.local_apic, 0x1_fee0_0000);
        assert!(!madt.pcat_compat);
        assert_eq!(madt.cpu_list().collect::<Vec<_>>(), [256, 4]);
        let r = madt.isa_route(4);
        assert_eq!((r.gsi, r.polarity, r.trigger), (20, Polarity::ActiveLow, Trigger::Level));
        assert_eq!(madt.isa_route(5).gsi, 5);
    }

    #[test]
    fn reserved_and_oem_entries_of_any_length_are_skipped() {
        let body = madt_body(&[
            &[0x11, 3, 0],             // reserved type
            &[0x80, 2],                // OEM type, header only
            &[0, 8, 0, 7, 1, 0, 0, 0], // CPU APIC id 7
            &[0xff, 5, 1, 2, 3],       // OEM type
        ]);
        assert_eq!(madt_with(false, &sdt(b"APIC", &body)).unwrap().cpu_list().collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn rejects_bad_checksums() {
        // A MADT whose checksum is bad is skipped by the crate: no valid MADT.
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, true, &sdt(b"APIC", &qemu_like_madt()));
        mem.0[MADT_AT + 50] ^= 0xff;
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(AcpiError::NoMadt));

        // The extended part of a 2.0 RSDP.
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, true, &sdt(b"APIC", &qemu_like_madt()));
        mem.0[rsdp as usize + 30] ^= 1;
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(RSDP_EXT_CHECKSUM));

        // The 1.0 part of a 2.0 RSDP, compensated in the extended part: the whole still sums
        // to 0, which is all the crate checks.
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, true, &sdt(b"APIC", &qemu_like_madt()));
        mem.0[rsdp as usize + 10] ^= 1;
        mem.0[rsdp as usize + 33] ^= 1;
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(RSDP_CHECKSUM));

        // A 1.0 RSDP.
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &qemu_like_madt()));
        mem.0[rsdp as usize + 10] ^= 1;
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(RSDP_CHECKSUM));

        // The RSDT and the XSDT.
        for (use_xsdt, names) in [(false, &RSDT), (true, &XSDT)] {
            let mut mem = Memory::new();
            let rsdp = install(&mut mem, use_xsdt, &sdt(b"APIC", &qemu_like_madt()));
            mem.0[ROOT_AT + 20] ^= 1;
            assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(AcpiError::BadChecksum(names.bad_checksum)));
        }
    }

    #[test]
    fn rejects_bad_signatures_and_ids() {
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &qemu_like_madt()));
        mem.0[rsdp as usize] = b'X';
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(RSDP_SIGNATURE));

        for (use_xsdt, names) in [(false, &RSDT), (true, &XSDT)] {
            let mut mem = Memory::new();
            let rsdp = install(&mut mem, use_xsdt, &sdt(b"APIC", &qemu_like_madt()));
            mem.0[ROOT_AT] = b'Q';
            assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(AcpiError::BadSignature(names.bad_signature)));
        }

        // OEM ids that are not text (an invalid UTF-8 byte), checksums fixed.
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &qemu_like_madt()));
        let mut bad = rsdp_v1(ROOT_AT as u32);
        bad[9] = 0xff;
        fix_checksum(&mut bad, 8);
        mem.put(rsdp as usize, &bad);
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(RSDP_OEM_ID));

        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &qemu_like_madt()));
        let mut rsdt = sdt(b"RSDT", &(MADT_AT as u32).to_le_bytes());
        rsdt[16] = 0xff; // table id
        fix_checksum(&mut rsdt, 9);
        mem.put(ROOT_AT, &rsdt);
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(AcpiError::Malformed(RSDT.bad_ids)));

        // A MADT whose OEM id is not text is skipped by the crate.
        let mut t = sdt(b"APIC", &qemu_like_madt());
        t[10] = 0xff;
        fix_checksum(&mut t, 9);
        assert_eq!(madt_with(false, &t), Err(AcpiError::NoMadt));
    }

    #[test]
    fn rejects_malformed_madt_entries() {
        let entry_cases: [&[u8]; 6] = [
            &[0, 0, 0, 0, 1, 0, 0, 0],              // zero length: the crate would loop forever
            &[1, 1],                                // length 1
            &[1, 40, 0, 0],                         // runs past the end of the table
            &[1, 6, 0, 0, 0, 0],                    // I/O APIC needs 12 bytes
            &[9, 12, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0], // x2APIC needs 16 bytes
            &[0, 8, 0, 0, 1, 0, 0, 0, 9],           // a lone type byte at the end
        ];
        for entry in entry_cases {
            assert_eq!(madt_with(false, &sdt(b"APIC", &madt_body(&[entry]))), Err(MADT_ENTRY), "{entry:?}");
        }

        // Reserved polarity, then reserved trigger encodings.
        for flags in [0x02u8, 0x08] {
            let body = madt_body(&[&[2, 10, 0, 4, 4, 0, 0, 0, flags, 0]]);
            assert_eq!(madt_with(false, &sdt(b"APIC", &body)), Err(MADT_FLAGS));
        }
    }

    #[test]
    fn rejects_impossible_table_lengths() {
        // A MADT shorter than its fixed part, with a checksum valid over that length.
        assert_eq!(madt_with(false, &sdt(b"APIC", &[0; 4])), Err(MADT_LENGTH));
        // A MADT longer than MAX_TABLE_LEN, and one running past readable memory: the mapper
        // refuses them, so the crate finds no valid MADT.
        for len in [MAX_TABLE_LEN + 1, 0x2_0000] {
            assert_eq!(madt_with(false, &with_length(sdt(b"APIC", &qemu_like_madt()), len)), Err(AcpiError::NoMadt));
        }

        // Root tables shorter than a header, absurdly long, or running past readable memory.
        for (use_xsdt, names) in [(false, &RSDT), (true, &XSDT)] {
            for (len, err) in [
                (10, AcpiError::Malformed(names.bad_length)),
                (MAX_TABLE_LEN + 1, AcpiError::Malformed(names.bad_length)),
                (0x2_0000, AcpiError::Unreadable(names.unreadable)),
            ] {
                let mut mem = Memory::new();
                let rsdp = install(&mut mem, use_xsdt, &sdt(b"APIC", &qemu_like_madt()));
                let root = mem.0[ROOT_AT..ROOT_AT + 52].to_vec();
                mem.put(ROOT_AT, &with_length(root, len));
                assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(err));
            }
        }

        // 2.0 RSDP lengths below the 2.0 structure and above 4 KiB.
        for len in [20u32, 5000] {
            let mut mem = Memory::new();
            let rsdp = install(&mut mem, true, &sdt(b"APIC", &qemu_like_madt()));
            let mut r = rsdp_v2(0, ROOT_AT as u64);
            r[20..24].copy_from_slice(&len.to_le_bytes());
            fix_checksum(&mut r, 32);
            mem.put(rsdp as usize, &r);
            assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(RSDP_MALFORMED));
        }
    }

    #[test]
    fn missing_madt_and_unreadable_pointers() {
        // The RSDT lists an unreadable table and a null pointer, and no MADT.
        let mut mem = Memory::new();
        let rsdt = sdt(b"RSDT", &[0x7fff_0000u32.to_le_bytes(), 0u32.to_le_bytes()].concat());
        mem.put(ROOT_AT, &rsdt);
        mem.put(RSDP_AT, &rsdp_v1(ROOT_AT as u32));
        assert_eq!(madt_from_rsdp(&mem.reader(), RSDP_AT as u64), Err(AcpiError::NoMadt));
        // The RSDP itself, and the root table, unreadable.
        assert_eq!(madt_from_rsdp(&mem.reader(), 0x7fff_0000), Err(RSDP_UNREADABLE));
        mem.put(RSDP_AT, &rsdp_v1(0x7fff_0000));
        assert_eq!(madt_from_rsdp(&mem.reader(), RSDP_AT as u64), Err(AcpiError::Unreadable(RSDT.unreadable)));
    }

    #[test]
    fn a_null_xsdt_address_falls_back_to_the_rsdt() {
        let mut mem = Memory::new();
        install(&mut mem, false, &sdt(b"APIC", &qemu_like_madt()));
        mem.put(RSDP_AT, &rsdp_v2(ROOT_AT as u32, 0));
        assert_eq!(madt_from_rsdp(&mem.reader(), RSDP_AT as u64).unwrap().cpu_list().count(), 2);
    }

    #[test]
    fn overflowing_entries_are_counted() {
        let cpu: Vec<[u8; 8]> = (0..(MAX_CPUS + 3)).map(|i| [0, 8, i as u8, i as u8, 1, 0, 0, 0]).collect();
        let io: Vec<[u8; 12]> =
            (0..(MAX_IO_APICS + 2)).map(|i| [1, 12, i as u8, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0]).collect();
        let refs: Vec<&[u8]> = cpu.iter().map(|c| c.as_slice()).chain(io.iter().map(|c| c.as_slice())).collect();
        let madt = madt_with(false, &sdt(b"APIC", &madt_body(&refs))).unwrap();
        assert_eq!(madt.cpu_list().count(), MAX_CPUS);
        assert_eq!(madt.io_apic_list().count(), MAX_IO_APICS);
        assert_eq!(madt.dropped, 5);
    }

    #[test]
    fn finds_the_rsdp_in_the_bios_areas() {
        let mut mem = Memory::new();
        assert_eq!(find_rsdp_in_bios(&mem.reader()), None);
        // A signature with a bad checksum is skipped; so is a 2.0 one whose length is absurd
        // (the crate's own search would checksum that many bytes); the valid one after them
        // is found.
        let mut bad = rsdp_v1(ROOT_AT as u32);
        bad[8] ^= 1;
        mem.put(0xe_0010, &bad);
        let mut huge = rsdp_v2(0, ROOT_AT as u64);
        huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        mem.put(0xe_0020, &huge);
        mem.put(RSDP_AT, &rsdp_v1(ROOT_AT as u32));
        assert_eq!(find_rsdp_in_bios(&mem.reader()), Some(RSDP_AT as u64));
        // The EBDA is searched first.
        mem.0[0x40e..0x410].copy_from_slice(&0x9fc0u16.to_le_bytes());
        mem.put(0x9_fc20, &rsdp_v2(0, ROOT_AT as u64));
        assert_eq!(find_rsdp_in_bios(&mem.reader()), Some(0x9_fc20));
    }

    #[test]
    fn the_mapper_serves_only_readable_bounded_memory() {
        let mem = Memory::new();
        let reader = mem.reader();
        let mapper = Mapper { reader: &reader };
        // SAFETY: the mapper checks readability itself; the mapping is only inspected.
        let small = unsafe { mapper.map_physical_region::<u8>(0x1000, 4) };
        assert_eq!(small.virtual_start().as_ptr().cast_const(), mem.0[0x1000..].as_ptr());
        assert_eq!((small.region_length(), small.mapped_length()), (4, MIN_MAPPING));
        // SAFETY: as above; the address is outside the memory, so the stand-in is served.
        let far = unsafe { mapper.map_physical_region::<u8>(0x7fff_0000, 4) };
        assert_eq!(far.virtual_start().as_ptr().cast_const(), UNREADABLE.0.as_ptr());
        // SAFETY: as above; the request is longer than MAX_TABLE_LEN, so the stand-in is served.
        let huge = unsafe { mapper.map_physical_region::<u8>(0, MAX_TABLE_LEN as usize + 1) };
        assert_eq!(huge.virtual_start().as_ptr().cast_const(), UNREADABLE.0.as_ptr());
        assert_eq!(huge.region_length(), 1);
    }
}
