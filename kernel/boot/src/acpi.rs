// SPDX-License-Identifier: AGPL-3.0-or-later
//! ACPI: the RSDP, the RSDT/XSDT and the MADT, read through a [`PhysReader`].
//!
//! x86_64 finds its interrupt controllers and CPUs in the MADT ("APIC" table): the local APIC
//! address, each I/O APIC (address and first global system interrupt), the ISA interrupt
//! source overrides (ISA IRQ → GSI, polarity, trigger) and the enabled processors' APIC ids.
//!
//! Every structure is validated before use: signatures, lengths (bounded by [`MAX_TABLE_LEN`])
//! and checksums of the RSDP (both the ACPI 1.0 part and the extended part), of the RSDT or
//! XSDT and of the MADT. Entry walks are bounded by the table length and reject zero-length
//! entries, so a malformed table gives an [`AcpiError`], never a loop or a panic. Results are
//! copied into fixed-capacity arrays; no pointer into firmware memory survives parsing.

use crate::PhysReader;

/// Longest RSDT, XSDT or MADT accepted.
pub const MAX_TABLE_LEN: u32 = 1 << 20;
/// Most I/O APICs recorded.
pub const MAX_IO_APICS: usize = 8;
/// Most interrupt source overrides recorded.
pub const MAX_OVERRIDES: usize = 16;
/// Most processors recorded (the same bound as `BootInfo`).
pub const MAX_CPUS: usize = crate::MAX_CPUS;

/// Size of the common header of every system description table.
const SDT_HEADER_LEN: u32 = 36;
/// Size of an ACPI 1.0 RSDP.
const RSDP_V1_LEN: usize = 20;
/// Size of an ACPI 2.0+ RSDP.
const RSDP_V2_LEN: u32 = 36;

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
    /// A length, count or entry is impossible.
    Malformed(&'static str),
    /// The RSDT/XSDT lists no MADT.
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
            AcpiError::NoMadt => "ACPI: no MADT (APIC table) in the RSDT/XSDT",
        }
    }
}

impl core::fmt::Display for AcpiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The messages for one kind of table.
struct TableNames {
    signature: [u8; 4],
    bad_signature: &'static str,
    bad_checksum: &'static str,
    unreadable: &'static str,
    bad_length: &'static str,
}

const RSDT: TableNames = TableNames {
    signature: *b"RSDT",
    bad_signature: "ACPI: RSDT has a bad signature",
    bad_checksum: "ACPI: RSDT has a bad checksum",
    unreadable: "ACPI: RSDT is not in readable memory",
    bad_length: "ACPI: RSDT has an impossible length",
};
const XSDT: TableNames = TableNames {
    signature: *b"XSDT",
    bad_signature: "ACPI: XSDT has a bad signature",
    bad_checksum: "ACPI: XSDT has a bad checksum",
    unreadable: "ACPI: XSDT is not in readable memory",
    bad_length: "ACPI: XSDT has an impossible length",
};
const MADT: TableNames = TableNames {
    signature: *b"APIC",
    bad_signature: "ACPI: MADT has a bad signature",
    bad_checksum: "ACPI: MADT has a bad checksum",
    unreadable: "ACPI: MADT is not in readable memory",
    bad_length: "ACPI: MADT has an impossible length",
};

const RSDP_UNREADABLE: AcpiError = AcpiError::Unreadable("ACPI: RSDP is not in readable memory");
const RSDP_MALFORMED: AcpiError = AcpiError::Malformed("ACPI: RSDP has an impossible length");
const MADT_ENTRY: AcpiError = AcpiError::Malformed("ACPI: MADT entry is truncated or has a bad length");
const MADT_FLAGS: AcpiError = AcpiError::Malformed("ACPI: MADT interrupt override has reserved polarity/trigger bits");

/// The parsed RSDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// ACPI revision field (0 = ACPI 1.0, 2 = ACPI 2.0 and later).
    pub revision: u8,
    /// Physical address of the RSDT (32-bit pointers).
    pub rsdt: u32,
    /// Physical address of the XSDT (64-bit pointers), if the RSDP has one.
    pub xsdt: Option<u64>,
}

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

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b)) == 0
}

fn u16_of(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*bytes.get(offset)?, *bytes.get(offset + 1)?]))
}

fn u32_of(bytes: &[u8], offset: usize) -> Option<u32> {
    let b = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?]))
}

fn u64_of(bytes: &[u8], offset: usize) -> Option<u64> {
    let lo = u32_of(bytes, offset)? as u64;
    let hi = u32_of(bytes, offset.checked_add(4)?)? as u64;
    Some(lo | (hi << 32))
}

/// Parses and validates the RSDP at `addr`.
pub fn parse_rsdp<R: PhysReader>(reader: &R, addr: u64) -> Result<Rsdp, AcpiError> {
    let v1 = reader.read(addr, RSDP_V1_LEN).ok_or(RSDP_UNREADABLE)?;
    if v1.get(..8) != Some(b"RSD PTR ".as_slice()) {
        return Err(AcpiError::BadSignature("ACPI: RSDP has a bad signature"));
    }
    if !checksum_ok(v1) {
        return Err(AcpiError::BadChecksum("ACPI: RSDP has a bad checksum"));
    }
    let revision = *v1.get(15).ok_or(RSDP_MALFORMED)?;
    let rsdt = u32_of(v1, 16).ok_or(RSDP_MALFORMED)?;
    if revision < 2 {
        return Ok(Rsdp { revision, rsdt, xsdt: None });
    }
    let head = reader.read(addr, RSDP_V2_LEN as usize).ok_or(RSDP_UNREADABLE)?;
    let length = u32_of(head, 20).ok_or(RSDP_MALFORMED)?;
    if !(RSDP_V2_LEN..=4096).contains(&length) {
        return Err(RSDP_MALFORMED);
    }
    let full = reader.read(addr, length as usize).ok_or(RSDP_UNREADABLE)?;
    if !checksum_ok(full) {
        return Err(AcpiError::BadChecksum("ACPI: RSDP has a bad extended checksum"));
    }
    let xsdt = u64_of(full, 24).ok_or(RSDP_MALFORMED)?;
    Ok(Rsdp { revision, rsdt, xsdt: (xsdt != 0).then_some(xsdt) })
}

/// Searches the BIOS areas for an RSDP: the first KiB of the extended BIOS data area (its
/// segment is the word at physical 0x40e) and 0xe0000..0x100000, on 16-byte boundaries.
/// Returns the address of the first one whose checksum is valid.
pub fn find_rsdp_in_bios<R: PhysReader>(reader: &R) -> Option<u64> {
    let ebda = reader
        .read(0x40e, 2)
        .and_then(|b| u16_of(b, 0))
        .map(|segment| (segment as u64) << 4)
        .filter(|&base| (0x8_0000..0xa_0000).contains(&base));
    let areas = [ebda.map(|base| (base, base + 1024)), Some((0xe_0000, 0x10_0000))];
    areas.into_iter().flatten().find_map(|(start, end)| scan(reader, start, end))
}

fn scan<R: PhysReader>(reader: &R, start: u64, end: u64) -> Option<u64> {
    let bytes = reader.read(start, usize::try_from(end.checked_sub(start)?).ok()?)?;
    bytes.chunks(16).enumerate().find_map(|(i, chunk)| {
        let addr = start + 16 * i as u64;
        (chunk.get(..8) == Some(b"RSD PTR ".as_slice()) && parse_rsdp(reader, addr).is_ok()).then_some(addr)
    })
}

/// Reads and validates the whole table at `addr`.
fn table<'r, R: PhysReader>(reader: &'r R, addr: u64, names: &TableNames) -> Result<&'r [u8], AcpiError> {
    let head = reader.read(addr, SDT_HEADER_LEN as usize).ok_or(AcpiError::Unreadable(names.unreadable))?;
    if head.get(..4) != Some(names.signature.as_slice()) {
        return Err(AcpiError::BadSignature(names.bad_signature));
    }
    let length = u32_of(head, 4).ok_or(AcpiError::Malformed(names.bad_length))?;
    if !(SDT_HEADER_LEN..=MAX_TABLE_LEN).contains(&length) {
        return Err(AcpiError::Malformed(names.bad_length));
    }
    let bytes = reader.read(addr, length as usize).ok_or(AcpiError::Unreadable(names.unreadable))?;
    if !checksum_ok(bytes) {
        return Err(AcpiError::BadChecksum(names.bad_checksum));
    }
    Ok(bytes)
}

/// Finds the table with `signature` through the XSDT (or the RSDT when there is no XSDT).
/// Returns its physical address, or `None` when the root table does not list it. The root
/// table is validated; the table found is not (its parser does that).
pub fn find_table<R: PhysReader>(reader: &R, rsdp: &Rsdp, signature: &[u8; 4]) -> Result<Option<u64>, AcpiError> {
    let (root, names, width) = match rsdp.xsdt {
        Some(xsdt) => (xsdt, &XSDT, 8),
        None => (rsdp.rsdt as u64, &RSDT, 4),
    };
    let bytes = table(reader, root, names)?;
    let entries = bytes.get(SDT_HEADER_LEN as usize..).ok_or(AcpiError::Malformed(names.bad_length))?;
    for pointer in entries.chunks_exact(width) {
        let addr = match width {
            8 => u64_of(pointer, 0),
            _ => u32_of(pointer, 0).map(u64::from),
        }
        .ok_or(AcpiError::Malformed(names.bad_length))?;
        // A null pointer or one to unreadable memory cannot be the table we look for.
        if addr != 0 && reader.read(addr, 4) == Some(signature.as_slice()) {
            return Ok(Some(addr));
        }
    }
    Ok(None)
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

/// Parses the MADT at `addr`.
pub fn parse_madt<R: PhysReader>(reader: &R, addr: u64) -> Result<Madt, AcpiError> {
    const MALFORMED: AcpiError = MADT_ENTRY;
    let bytes = table(reader, addr, &MADT)?;
    let local_apic = u32_of(bytes, 36).ok_or(AcpiError::Malformed(MADT.bad_length))?;
    let flags = u32_of(bytes, 40).ok_or(AcpiError::Malformed(MADT.bad_length))?;
    let mut madt = Madt::empty(local_apic as u64, flags & 1 != 0);
    let mut rest = bytes.get(44..).ok_or(AcpiError::Malformed(MADT.bad_length))?;
    // Bounded: every iteration consumes at least two bytes of a table of bounded length.
    while !rest.is_empty() {
        let kind = *rest.first().ok_or(MALFORMED)?;
        let len = *rest.get(1).ok_or(MALFORMED)? as usize;
        if len < 2 {
            return Err(MALFORMED);
        }
        let entry = rest.get(..len).ok_or(MALFORMED)?;
        rest = rest.get(len..).ok_or(MALFORMED)?;
        match kind {
            // Processor local APIC: uid, APIC id, flags (bit 0 enabled).
            0 => {
                let apic_id = *entry.get(3).ok_or(MALFORMED)?;
                let flags = u32_of(entry, 4).ok_or(MALFORMED)?;
                if flags & 1 != 0 {
                    madt.push_cpu(apic_id as u32);
                }
            }
            // I/O APIC: id, reserved, address, GSI base.
            1 => {
                let id = *entry.get(2).ok_or(MALFORMED)?;
                let address = u32_of(entry, 4).ok_or(MALFORMED)? as u64;
                let gsi_base = u32_of(entry, 8).ok_or(MALFORMED)?;
                madt.push_io_apic(IoApic { id, address, gsi_base });
            }
            // Interrupt source override: bus (0 = ISA), source IRQ, GSI, INTI flags.
            2 => {
                let bus = *entry.get(2).ok_or(MALFORMED)?;
                let irq = *entry.get(3).ok_or(MALFORMED)?;
                let gsi = u32_of(entry, 4).ok_or(MALFORMED)?;
                let (polarity, trigger) = inti_flags(u16_of(entry, 8).ok_or(MALFORMED)?)?;
                if bus == 0 {
                    madt.push_override(IsaRoute { irq, gsi, polarity, trigger });
                }
            }
            // Local APIC address override (64-bit).
            5 => {
                madt.local_apic = u64_of(entry, 4).ok_or(MALFORMED)?;
            }
            // Processor local x2APIC: reserved, x2APIC id, flags, uid.
            9 => {
                let apic_id = u32_of(entry, 4).ok_or(MALFORMED)?;
                let flags = u32_of(entry, 8).ok_or(MALFORMED)?;
                if flags & 1 != 0 {
                    madt.push_cpu(apic_id);
                }
            }
            // NMI sources, local APIC NMI, GIC and other entries: not needed here.
            _ => {}
        }
    }
    Ok(madt)
}

/// Finds and parses the MADT starting from the RSDP at `rsdp_addr`.
pub fn madt_from_rsdp<R: PhysReader>(reader: &R, rsdp_addr: u64) -> Result<Madt, AcpiError> {
    let rsdp = parse_rsdp(reader, rsdp_addr)?;
    let addr = find_table(reader, &rsdp, b"APIC")?.ok_or(AcpiError::NoMadt)?;
    parse_madt(reader, addr)
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

    fn install(mem: &mut Memory, use_xsdt: bool, madt: &[u8]) -> u64 {
        let madt_addr = 0x10_0000;
        mem.put(madt_addr, madt);
        if use_xsdt {
            let xsdt = sdt(b"XSDT", &[0u64.to_le_bytes(), (madt_addr as u64).to_le_bytes()].concat());
            mem.put(0x10_8000, &xsdt);
            mem.put(0xf_5250, &rsdp_v2(0, 0x10_8000));
        } else {
            let rsdt = sdt(b"RSDT", &(madt_addr as u32).to_le_bytes());
            mem.put(0x10_8000, &rsdt);
            mem.put(0xf_5250, &rsdp_v1(0x10_8000));
        }
        0xf_5250
    }

    #[test]
    fn parses_a_qemu_like_madt_through_the_rsdt_and_the_xsdt() {
        for use_xsdt in [false, true] {
            let mut mem = Memory::new();
            let rsdp = install(&mut mem, use_xsdt, &sdt(b"APIC", &qemu_like_madt()));
            let madt = madt_from_rsdp(&mem.reader(), rsdp).unwrap();
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
    fn x2apic_entries_and_address_override() {
        let body = madt_body(&[
            &[9, 16, 0, 0, 0x00, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], // x2APIC id 256 enabled
            &[5, 12, 0, 0, 0, 0, 0xe0, 0xfe, 1, 0, 0, 0],             // LAPIC at 0x1_fee0_0000
            &[2, 10, 0, 4, 20, 0, 0, 0, 0x0f, 0],                     // IRQ4 -> GSI20, low, level
        ]);
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, true, &sdt(b"APIC", &body));
        let madt = madt_from_rsdp(&mem.reader(), rsdp).unwrap();
        assert_eq!(madt.local_apic, 0x1_fee0_0000);
        assert_eq!(madt.cpu_list().collect::<Vec<_>>(), [256]);
        let r = madt.isa_route(4);
        assert_eq!((r.gsi, r.polarity, r.trigger), (20, Polarity::ActiveLow, Trigger::Level));
    }

    #[test]
    fn rejects_bad_checksums_and_signatures() {
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, true, &sdt(b"APIC", &qemu_like_madt()));
        // Corrupt the MADT body: its checksum no longer matches.
        mem.0[0x10_0000 + 50] ^= 0xff;
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(AcpiError::BadChecksum(MADT.bad_checksum)));

        let mut mem = Memory::new();
        let rsdp = install(&mut mem, true, &sdt(b"APIC", &qemu_like_madt()));
        mem.0[rsdp as usize + 30] ^= 1; // extended part of the RSDP
        assert_eq!(
            parse_rsdp(&mem.reader(), rsdp),
            Err(AcpiError::BadChecksum("ACPI: RSDP has a bad extended checksum"))
        );

        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &qemu_like_madt()));
        mem.0[rsdp as usize] = b'X';
        assert_eq!(parse_rsdp(&mem.reader(), rsdp), Err(AcpiError::BadSignature("ACPI: RSDP has a bad signature")));

        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &qemu_like_madt()));
        mem.0[0x10_8000] = b'X'; // RSDT signature
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(AcpiError::BadSignature(RSDT.bad_signature)));
    }

    #[test]
    fn rejects_malformed_lengths_and_entries() {
        // Zero-length entry: would loop forever without the check.
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &madt_body(&[&[0, 0, 0, 0, 1, 0, 0, 0]])));
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(MADT_ENTRY));

        // Entry running past the end of the table.
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &madt_body(&[&[1, 40, 0, 0]])));
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(MADT_ENTRY));

        // Truncated I/O APIC entry (length says 6, fields need 12).
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &madt_body(&[&[1, 6, 0, 0, 0, 0]])));
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(MADT_ENTRY));

        // Table length smaller than a header, and absurdly large.
        for len in [10u32, MAX_TABLE_LEN + 1] {
            let mut mem = Memory::new();
            let mut t = sdt(b"APIC", &qemu_like_madt());
            t[4..8].copy_from_slice(&len.to_le_bytes());
            let rsdp = install(&mut mem, false, &t);
            assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(AcpiError::Malformed(MADT.bad_length)));
        }

        // Table running past readable memory.
        let mut mem = Memory::new();
        let mut t = sdt(b"APIC", &qemu_like_madt());
        t[4..8].copy_from_slice(&0x2_0000u32.to_le_bytes());
        let rsdp = install(&mut mem, false, &t);
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(AcpiError::Unreadable(MADT.unreadable)));

        // Reserved polarity encoding.
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &madt_body(&[&[2, 10, 0, 4, 4, 0, 0, 0, 0x02, 0]])));
        assert_eq!(madt_from_rsdp(&mem.reader(), rsdp), Err(MADT_FLAGS));
    }

    #[test]
    fn missing_madt_and_unreadable_pointers() {
        let mut mem = Memory::new();
        let rsdt = sdt(b"RSDT", &[0x7fff_0000u32.to_le_bytes(), 0u32.to_le_bytes()].concat());
        mem.put(0x10_8000, &rsdt);
        mem.put(0xf_5250, &rsdp_v1(0x10_8000));
        assert_eq!(madt_from_rsdp(&mem.reader(), 0xf_5250), Err(AcpiError::NoMadt));
        assert_eq!(parse_rsdp(&mem.reader(), 0x7fff_0000), Err(RSDP_UNREADABLE));
    }

    #[test]
    fn overflowing_entries_are_counted() {
        let cpu: Vec<[u8; 8]> = (0..(MAX_CPUS + 3)).map(|i| [0, 8, i as u8, i as u8, 1, 0, 0, 0]).collect();
        let refs: Vec<&[u8]> = cpu.iter().map(|c| c.as_slice()).collect();
        let mut mem = Memory::new();
        let rsdp = install(&mut mem, false, &sdt(b"APIC", &madt_body(&refs)));
        let madt = madt_from_rsdp(&mem.reader(), rsdp).unwrap();
        assert_eq!(madt.cpu_list().count(), MAX_CPUS);
        assert_eq!(madt.dropped, 3);
    }

    #[test]
    fn finds_the_rsdp_in_the_bios_areas() {
        let mut mem = Memory::new();
        assert_eq!(find_rsdp_in_bios(&mem.reader()), None);
        // A signature with a bad checksum is skipped; the valid one after it is found.
        let mut bad = rsdp_v1(0x10_8000);
        bad[8] ^= 1;
        mem.put(0xe_0010, &bad);
        mem.put(0xf_5250, &rsdp_v1(0x10_8000));
        assert_eq!(find_rsdp_in_bios(&mem.reader()), Some(0xf_5250));
        // The EBDA is searched first.
        mem.0[0x40e..0x410].copy_from_slice(&0x9fc0u16.to_le_bytes());
        mem.put(0x9_fc20, &rsdp_v2(0, 0x10_8000));
        assert_eq!(find_rsdp_in_bios(&mem.reader()), Some(0x9_fc20));
    }
}
