// SPDX-License-Identifier: AGPL-3.0-or-later
//! x86_64 Multiboot2 (GRUB): the kernel's header constants and the boot information (MBI)
//! parser.
//!
//! GRUB enters the kernel with `eax` = [`BOOTLOADER_MAGIC`] and `ebx` = the physical address
//! of the MBI: `total_size: u32, reserved: u32`, then tags, each 8-byte aligned relative to
//! the start of the MBI, each starting with `type: u32, size: u32` (size includes those 8
//! bytes but not the alignment padding). Tag type 0 ends the list.
//!
//! Tags used: 1 (command line), 3 (module: `mod_start: u32, mod_end: u32`, string),
//! 6 (memory map: `entry_size: u32, entry_version: u32`, then entries of
//! `base: u64, length: u64, type: u32, reserved: u32`; type 1 is RAM), 14 and 15 (copies of
//! the ACPI 1.0 and 2.0+ RSDP). Everything else (ELF sections, framebuffer, EFI tables, ...)
//! is skipped.
//!
//! The RSDP tags hold a *copy* of the RSDP, so the physical address recorded as
//! [`FirmwareTable::AcpiRsdp`] is the copy inside the MBI (tag address + 8); the whole MBI
//! is reserved as [`ReservedKind::BootStructures`], so the copy stays valid. A tag whose
//! copy does not start with the `"RSD PTR "` signature is ignored. The 2.0+ copy wins over
//! the 1.0 copy whatever their order.
//!
//! Bounds: `total_size` must be in `16..=`[`MAX_MBI_SIZE`], every tag must fit inside it and
//! be at least 8 bytes (a zero-size tag is [`BootError::Malformed`], never an endless loop),
//! memory-map entries must be at least 24 bytes, and the list must end with a type-0 tag.
//! Note that GRUB may place the MBI inside the kernel's own address span (see the boot
//! guide): the caller must parse it before reusing that memory.

use kernel_core::memmap::Range;

use crate::{BootError, BootInfo, BootProtocol, Cmdline, FirmwareTable, PhysReader, ReservedKind, le_u32, le_u64};

/// Value of `eax` when a Multiboot2 loader enters the kernel.
pub const BOOTLOADER_MAGIC: u32 = 0x36d7_6289;
/// First word of the kernel's Multiboot2 header.
pub const HEADER_MAGIC: u32 = 0xe852_50d6;
/// Header `architecture` field for 32-bit protected-mode i386 entry.
pub const ARCH_I386: u32 = 0;
/// Largest MBI accepted. GRUB's are a few KiB; EFI memory maps on big machines stay far below.
pub const MAX_MBI_SIZE: u32 = 64 * 1024;

/// Tag ending the list.
pub const TAG_END: u32 = 0;
/// Boot command line (NUL-terminated string).
pub const TAG_CMDLINE: u32 = 1;
/// Boot module.
pub const TAG_MODULE: u32 = 3;
/// Memory map.
pub const TAG_MMAP: u32 = 6;
/// Copy of the ACPI 1.0 RSDP.
pub const TAG_ACPI_OLD: u32 = 14;
/// Copy of the ACPI 2.0+ RSDP.
pub const TAG_ACPI_NEW: u32 = 15;
/// Memory-map entry type of usable RAM.
pub const MMAP_RAM: u32 = 1;
/// Smallest memory-map entry (`base, length, type, reserved`).
pub const MIN_MMAP_ENTRY_SIZE: u32 = 24;

/// Size of the MBI header and of every tag header.
const HEADER: usize = 8;
/// Signature at the start of an RSDP.
const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";
/// Size of an ACPI 1.0 RSDP.
const RSDP_V1_LEN: usize = 20;
/// Size of the fixed part of an ACPI 2.0+ RSDP.
const RSDP_V2_LEN: usize = 36;

/// The checksum field of a Multiboot2 header of `header_len` bytes (i386 architecture):
/// `HEADER_MAGIC + ARCH_I386 + header_len + checksum == 0` modulo 2^32.
pub const fn header_checksum(header_len: u32) -> u32 {
    0u32.wrapping_sub(HEADER_MAGIC.wrapping_add(ARCH_I386).wrapping_add(header_len))
}

/// Parses the Multiboot2 information structure at `mbi_paddr`.
///
/// Fills the memory map (type 1 only), the modules, the command line and the ACPI RSDP, and
/// reserves the whole MBI ([`ReservedKind::BootStructures`]) and every module. The kernel
/// image itself is not known here; the caller reserves it.
///
/// # Errors
///
/// [`BootError::Unreadable`] when the MBI is not readable through `mem`,
/// [`BootError::Malformed`] for a bad `total_size`, a tag that is too small or overruns the
/// MBI, a missing end tag or a bad memory-map / module tag, and [`BootError::NoMemory`] when
/// no memory-map tag reports RAM.
pub fn parse<R: PhysReader>(mem: &R, mbi_paddr: u64) -> Result<BootInfo, BootError> {
    let total_size = mem.u32_at(mbi_paddr).ok_or(BootError::Unreadable)?;
    if total_size < (2 * HEADER) as u32 || total_size > MAX_MBI_SIZE {
        return Err(BootError::Malformed);
    }
    let total = usize::try_from(total_size).map_err(|_| BootError::Malformed)?;
    let mbi = mem.read(mbi_paddr, total).ok_or(BootError::Unreadable)?;
    let mbi_end = mbi_paddr.checked_add(u64::from(total_size)).ok_or(BootError::Malformed)?;

    let mut info = BootInfo::new(BootProtocol::Multiboot2);
    info.reserve(Range { start: mbi_paddr, end: mbi_end }, ReservedKind::BootStructures);

    let mut old_rsdp = None;
    let mut new_rsdp = None;
    let mut saw_mmap = false;
    let mut ended = false;
    let mut off = HEADER;
    // Every tag is at least 8 bytes, so there are at most total / 8 of them.
    for _ in 0..total / HEADER {
        let typ = le_u32(mbi, off).ok_or(BootError::Malformed)?;
        let size = le_u32(mbi, off + 4).ok_or(BootError::Malformed)?;
        let size = usize::try_from(size).map_err(|_| BootError::Malformed)?;
        if size < HEADER {
            return Err(BootError::Malformed);
        }
        let end = off.checked_add(size).ok_or(BootError::Malformed)?;
        let tag = mbi.get(off..end).ok_or(BootError::Malformed)?;
        let body = tag.get(HEADER..).unwrap_or(&[]);
        let body_paddr = mbi_paddr.checked_add((off + HEADER) as u64).ok_or(BootError::Malformed)?;
        match typ {
            TAG_END => {
                ended = true;
                break;
            }
            TAG_CMDLINE => info.cmdline = Cmdline::from_bytes(body),
            TAG_MODULE => {
                let start = le_u32(body, 0).ok_or(BootError::Malformed)?;
                let end = le_u32(body, 4).ok_or(BootError::Malformed)?;
                if end < start {
                    return Err(BootError::Malformed);
                }
                info.add_module(Range { start: u64::from(start), end: u64::from(end) });
            }
            TAG_MMAP => {
                read_mmap(&mut info, body)?;
                saw_mmap = true;
            }
            TAG_ACPI_OLD if is_rsdp(body, RSDP_V1_LEN) => old_rsdp = Some(body_paddr),
            TAG_ACPI_NEW if is_rsdp(body, RSDP_V2_LEN) => new_rsdp = Some(body_paddr),
            _ => {}
        }
        // The next tag starts at the next 8-byte boundary.
        off = end.checked_next_multiple_of(HEADER).ok_or(BootError::Malformed)?;
    }
    if !ended {
        return Err(BootError::Malformed);
    }
    if let Some(rsdp) = new_rsdp.or(old_rsdp) {
        info.firmware = FirmwareTable::AcpiRsdp(rsdp);
    }
    if !saw_mmap || info.memory.is_empty() {
        return Err(BootError::NoMemory);
    }
    Ok(info)
}

/// True when `body` holds at least `len` bytes starting with the RSDP signature.
fn is_rsdp(body: &[u8], len: usize) -> bool {
    body.len() >= len && body.starts_with(RSDP_SIGNATURE)
}

/// Records the RAM entries of a memory-map tag body (`entry_size, entry_version, entries`).
fn read_mmap(info: &mut BootInfo, body: &[u8]) -> Result<(), BootError> {
    let entry_size = le_u32(body, 0).ok_or(BootError::Malformed)?;
    if entry_size < MIN_MMAP_ENTRY_SIZE {
        return Err(BootError::Malformed);
    }
    let entry_size = usize::try_from(entry_size).map_err(|_| BootError::Malformed)?;
    let entries = body.get(8..).ok_or(BootError::Malformed)?;
    // A trailing partial entry is ignored (the tag size is padded by some loaders).
    for entry in entries.chunks_exact(entry_size) {
        let base = le_u64(entry, 0).ok_or(BootError::Malformed)?;
        let len = le_u64(entry, 8).ok_or(BootError::Malformed)?;
        let kind = le_u32(entry, 16).ok_or(BootError::Malformed)?;
        if kind == MMAP_RAM {
            let end = base.checked_add(len).ok_or(BootError::Malformed)?;
            info.add_memory(Range { start: base, end });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_MODULES, Reserved, SliceReader};

    const BASE: u64 = 0x10_0000;
    const MBI: u64 = 0x10_7570 & !7;

    /// Builds an MBI tag by tag.
    struct Mbi(Vec<u8>);

    impl Mbi {
        fn new() -> Self {
            Mbi(vec![0; 8])
        }
        fn tag(mut self, typ: u32, body: &[u8]) -> Self {
            self.0.extend_from_slice(&typ.to_le_bytes());
            self.0.extend_from_slice(&(8 + body.len() as u32).to_le_bytes());
            self.0.extend_from_slice(body);
            while !self.0.len().is_multiple_of(8) {
                self.0.push(0xaa);
            }
            self
        }
        fn cmdline(self, s: &str) -> Self {
            let mut b = s.as_bytes().to_vec();
            b.push(0);
            self.tag(TAG_CMDLINE, &b)
        }
        fn module(self, start: u32, end: u32, name: &str) -> Self {
            let mut b = Vec::new();
            b.extend_from_slice(&start.to_le_bytes());
            b.extend_from_slice(&end.to_le_bytes());
            b.extend_from_slice(name.as_bytes());
            b.push(0);
            self.tag(TAG_MODULE, &b)
        }
        fn mmap(self, entry_size: u32, entries: &[(u64, u64, u32)]) -> Self {
            let mut b = Vec::new();
            b.extend_from_slice(&entry_size.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            for &(base, len, kind) in entries {
                let start = b.len();
                b.extend_from_slice(&base.to_le_bytes());
                b.extend_from_slice(&len.to_le_bytes());
                b.extend_from_slice(&kind.to_le_bytes());
                b.resize(start + entry_size as usize, 0);
            }
            self.tag(TAG_MMAP, &b)
        }
        fn rsdp(self, typ: u32, len: usize) -> Self {
            let mut b = b"RSD PTR ".to_vec();
            b.resize(len, 0x11);
            self.tag(typ, &b)
        }
        fn end(self) -> Self {
            self.tag(TAG_END, &[])
        }
        /// Fixes `total_size` and places the MBI at `MBI` inside a buffer starting at `BASE`.
        fn build(mut self) -> Vec<u8> {
            let len = self.0.len() as u32;
            self.0[..4].copy_from_slice(&len.to_le_bytes());
            self.place()
        }
        fn place(self) -> Vec<u8> {
            let mut mem = vec![0u8; (MBI - BASE) as usize];
            mem.extend_from_slice(&self.0);
            mem
        }
    }

    fn parse_bytes(mem: &[u8]) -> Result<BootInfo, BootError> {
        parse(&SliceReader { base: BASE, bytes: mem }, MBI)
    }

    /// The GRUB (SeaBIOS) memory map for a 256 MiB guest.
    const GRUB_MMAP: &[(u64, u64, u32)] = &[
        (0, 0x9fc00, 1),
        (0x9fc00, 0x400, 2),
        (0xf0000, 0x10000, 2),
        (0x10_0000, 0xfee_0000, 1),
        (0xffe_0000, 0x2_0000, 2),
    ];

    #[test]
    fn header_checksum_sums_to_zero() {
        for len in [16u32, 24, 48, 0x1000, u32::MAX] {
            let sum = HEADER_MAGIC.wrapping_add(ARCH_I386).wrapping_add(len).wrapping_add(header_checksum(len));
            assert_eq!(sum, 0, "header length {len}");
        }
        // The form the boot guide's assembly uses: 0x100000000 - (magic + len).
        assert_eq!(header_checksum(16) as u64, 0x1_0000_0000 - (u64::from(HEADER_MAGIC) + 16));
        assert_eq!(BOOTLOADER_MAGIC, 0x36d7_6289);
    }

    #[test]
    fn grub_like_mbi() {
        let mem = Mbi::new()
            .cmdline("console=ttyS0 foo=bar")
            .tag(21, &[0; 4]) // load base address: skipped
            .module(0x22e000, 0x22e025, "initrd")
            .module(0x230000, 0x231000, "second")
            .mmap(24, GRUB_MMAP)
            .rsdp(TAG_ACPI_NEW, 36)
            .rsdp(TAG_ACPI_OLD, 20)
            .end()
            .build();
        let total = (mem.len() as u64) - (MBI - BASE);
        let info = parse_bytes(&mem).unwrap();
        assert_eq!(info.protocol, BootProtocol::Multiboot2);
        assert_eq!(info.cmdline.as_str(), "console=ttyS0 foo=bar");
        let mods: Vec<Range> = info.module_list().map(|m| m.range).collect();
        assert_eq!(mods, vec![Range { start: 0x22e000, end: 0x22e025 }, Range { start: 0x230000, end: 0x231000 }]);
        assert_eq!(
            info.memory.as_slice(),
            &[Range { start: 0, end: 0x9fc00 }, Range { start: 0x10_0000, end: 0xffe_0000 }]
        );
        let reserved: Vec<Reserved> = info.reserved_ranges().copied().collect();
        assert_eq!(
            reserved,
            vec![
                Reserved { range: Range::from_len(MBI, total), kind: ReservedKind::BootStructures },
                Reserved { range: Range { start: 0x22e000, end: 0x22e025 }, kind: ReservedKind::Module },
                Reserved { range: Range { start: 0x230000, end: 0x231000 }, kind: ReservedKind::Module },
            ]
        );
        // The 2.0 copy wins even though it comes first; its address is inside the MBI.
        let new_tag = 8 + 32 + 16 + 24 + 24 + (8 + 8 + 5 * 24);
        assert_eq!(info.firmware, FirmwareTable::AcpiRsdp(MBI + new_tag + 8));
    }

    #[test]
    fn old_rsdp_and_larger_entries() {
        // OVMF-style: 1.0 RSDP only; a loader using 32-byte memory-map entries.
        let mem =
            Mbi::new().rsdp(TAG_ACPI_OLD, 20).mmap(32, &[(0x10_0000, 0x100_0000, 1), (0, 0x1000, 4)]).end().build();
        let info = parse_bytes(&mem).unwrap();
        assert_eq!(info.firmware, FirmwareTable::AcpiRsdp(MBI + 16));
        assert_eq!(info.memory.as_slice(), &[Range { start: 0x10_0000, end: 0x110_0000 }]);
        assert_eq!(info.cmdline.as_str(), "");
        assert_eq!(info.module_list().count(), 0);
    }

    #[test]
    fn rsdp_without_signature_is_ignored() {
        let mem =
            Mbi::new().tag(TAG_ACPI_NEW, &[0u8; 36]).tag(TAG_ACPI_OLD, b"RSD PTR ").mmap(24, GRUB_MMAP).end().build();
        assert_eq!(parse_bytes(&mem).unwrap().firmware, FirmwareTable::None);
    }

    #[test]
    fn zero_size_tag_is_malformed() {
        let mut mbi = Mbi::new().mmap(24, GRUB_MMAP);
        mbi.0.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0, 0]); // type 7, size 0
        let mem = mbi.end().build();
        assert_eq!(parse_bytes(&mem).unwrap_err(), BootError::Malformed);
        let mut mbi = Mbi::new();
        mbi.0.extend_from_slice(&[1, 0, 0, 0, 4, 0, 0, 0]); // size 4 < header
        assert_eq!(parse_bytes(&mbi.end().build()).unwrap_err(), BootError::Malformed);
    }

    #[test]
    fn truncated_tag_is_malformed() {
        // The module tag claims more bytes than total_size holds.
        let mut mbi = Mbi::new().mmap(24, GRUB_MMAP).module(0x1000, 0x2000, "m");
        let len = mbi.0.len();
        mbi.0.truncate(len - 8);
        let mem = mbi.build();
        assert_eq!(parse_bytes(&mem).unwrap_err(), BootError::Malformed);
        // No end tag.
        let mem = Mbi::new().mmap(24, GRUB_MMAP).build();
        assert_eq!(parse_bytes(&mem).unwrap_err(), BootError::Malformed);
        // A module tag too short for mod_start/mod_end, and one ending before it starts.
        let mem = Mbi::new().mmap(24, GRUB_MMAP).tag(TAG_MODULE, &[0; 4]).end().build();
        assert_eq!(parse_bytes(&mem).unwrap_err(), BootError::Malformed);
        let mem = Mbi::new().mmap(24, GRUB_MMAP).module(0x2000, 0x1000, "").end().build();
        assert_eq!(parse_bytes(&mem).unwrap_err(), BootError::Malformed);
    }

    #[test]
    fn total_size_bounds() {
        let good = Mbi::new().mmap(24, GRUB_MMAP).end();
        for bad in [0u32, 8, 15, MAX_MBI_SIZE + 1, u32::MAX] {
            let mut mbi = Mbi(good.0.clone());
            mbi.0[..4].copy_from_slice(&bad.to_le_bytes());
            assert_eq!(parse_bytes(&mbi.place()).unwrap_err(), BootError::Malformed, "total_size {bad}");
        }
        // total_size larger than the readable memory.
        let mut mbi = Mbi(good.0.clone());
        mbi.0[..4].copy_from_slice(&4096u32.to_le_bytes());
        assert_eq!(parse_bytes(&mbi.place()).unwrap_err(), BootError::Unreadable);
        // MBI address outside memory.
        let mem = good.build();
        assert_eq!(parse(&SliceReader { base: BASE, bytes: &mem }, 0x1000).unwrap_err(), BootError::Unreadable);
        assert_eq!(parse(&SliceReader { base: BASE, bytes: &mem }, u64::MAX - 2).unwrap_err(), BootError::Unreadable);
        // total_size shorter than the tags: the end tag is cut off.
        let mut mbi = Mbi(Mbi::new().cmdline("abc").mmap(24, GRUB_MMAP).end().0);
        mbi.0[..4].copy_from_slice(&24u32.to_le_bytes());
        assert_eq!(parse_bytes(&mbi.place()).unwrap_err(), BootError::Malformed);
    }

    #[test]
    fn bad_memory_maps() {
        let mem = Mbi::new().mmap(16, &[]).end().build();
        assert_eq!(parse_bytes(&mem).unwrap_err(), BootError::Malformed);
        let mem = Mbi::new().mmap(24, &[(u64::MAX - 1, 0x10, 1)]).end().build();
        assert_eq!(parse_bytes(&mem).unwrap_err(), BootError::Malformed);
        let mem = Mbi::new().mmap(24, &[(0, 0x1000, 2)]).end().build();
        assert_eq!(parse_bytes(&mem).unwrap_err(), BootError::NoMemory);
        let mem = Mbi::new().cmdline("no map").end().build();
        assert_eq!(parse_bytes(&mem).unwrap_err(), BootError::NoMemory);
        // Memory-map tag cut inside its header.
        let mem = Mbi::new().tag(TAG_MMAP, &[24, 0, 0, 0]).end().build();
        assert_eq!(parse_bytes(&mem).unwrap_err(), BootError::Malformed);
    }

    #[test]
    fn many_modules_are_counted() {
        let mut mbi = Mbi::new().mmap(24, GRUB_MMAP);
        for i in 0..(MAX_MODULES as u32 + 2) {
            mbi = mbi.module(0x100_0000 + i * 0x1000, 0x100_0800 + i * 0x1000, "m");
        }
        let info = parse_bytes(&mbi.end().build()).unwrap();
        assert_eq!(info.module_list().count(), MAX_MODULES);
        assert_eq!(info.dropped_modules, 2);
    }

    #[test]
    fn random_corruption_never_panics() {
        let clean = Mbi::new()
            .cmdline("console=ttyS0")
            .module(0x22e000, 0x22e025, "initrd")
            .mmap(24, GRUB_MMAP)
            .rsdp(TAG_ACPI_NEW, 36)
            .end()
            .build();
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let start = (MBI - BASE) as usize;
        for _ in 0..20_000 {
            let mut mem = clean.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = start + (next() as usize) % (mem.len() - start);
                mem[at] = next() as u8;
            }
            let _ = parse_bytes(&mem);
        }
    }

    /// The MBI GRUB 2.06 (Debian 12, `grub-mkrescue` ISO) passed under QEMU 10 SeaBIOS,
    /// `-m 256M`, `multiboot2 /boot/k.elf console=ttyS0 foo=bar`, `module2 /boot/initrd.bin
    /// initrd` (60 bytes); `ebx` was 0x104040. Tags: 21, 1, 2, 10, 3, 6, 9, 4, 5, 8, 14, 0.
    const GRUB_SEABIOS: &[u8] = include_bytes!("testdata/qemu10-x86_64-grub2.06-seabios-256M-mbi-0x104040.bin");
    /// The same ISO booted with OVMF (`-bios OVMF.fd`); `ebx` was 0x2000. Tags: 21, 1, 2, 3,
    /// 6, 9, 4, 12, 14, 15, 17 (EFI memory map, 5680 bytes), 0.
    const GRUB_OVMF: &[u8] = include_bytes!("testdata/qemu10-x86_64-grub2.06-ovmf-256M-mbi-0x2000.bin");

    #[test]
    fn real_grub_mbi_seabios() {
        let info = parse(&SliceReader { base: 0x104040, bytes: GRUB_SEABIOS }, 0x104040).unwrap();
        assert_eq!(info.protocol, BootProtocol::Multiboot2);
        assert_eq!(info.cmdline.as_str(), "console=ttyS0 foo=bar");
        assert_eq!(info.module_list().map(|m| m.range).collect::<Vec<_>>(), vec![Range::from_len(0x104000, 0x3c)]);
        assert_eq!(
            info.memory.as_slice(),
            &[Range { start: 0, end: 0x9fc00 }, Range { start: 0x10_0000, end: 0xffe_0000 }]
        );
        assert_eq!(info.firmware, FirmwareTable::AcpiRsdp(0x104040 + 0x1a8 + 8));
        assert_eq!(
            info.reserved_ranges().copied().collect::<Vec<_>>(),
            vec![
                Reserved { range: Range::from_len(0x104040, 464), kind: ReservedKind::BootStructures },
                Reserved { range: Range::from_len(0x104000, 0x3c), kind: ReservedKind::Module },
            ]
        );
    }

    #[test]
    fn real_grub_mbi_ovmf() {
        let info = parse(&SliceReader { base: 0x2000, bytes: GRUB_OVMF }, 0x2000).unwrap();
        assert_eq!(info.cmdline.as_str(), "console=ttyS0 foo=bar");
        assert_eq!(info.module_list().map(|m| m.range).collect::<Vec<_>>(), vec![Range::from_len(0x1000, 0x3c)]);
        // Seven type-1 ranges out of eighteen UEFI-derived entries.
        assert_eq!(info.memory.len(), 7);
        assert_eq!(info.memory.total(), 0xfa2_c000);
        assert_eq!(info.memory.as_slice()[0], Range { start: 0, end: 0xa0000 });
        assert_eq!(info.memory.as_slice()[6], Range::from_len(0xf7f_f000, 0x75_9000));
        // The ACPI 2.0 copy (tag 15 at MBI offset 0x288) wins over the 1.0 copy.
        assert_eq!(info.firmware, FirmwareTable::AcpiRsdp(0x2000 + 0x288 + 8));
        // The MBI and the module both sit in low RAM that the map calls usable.
        let usable = info.usable_memory().unwrap();
        assert_eq!(usable.as_slice()[0], Range { start: 0, end: 0x1000 });
        assert_eq!(usable.as_slice()[1], Range { start: 0x4000, end: 0xa0000 });
    }
}
