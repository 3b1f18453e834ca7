// SPDX-License-Identifier: AGPL-3.0-or-later
//! x86_64 PVH direct boot: the `hvm_start_info` structure whose physical address QEMU (or Xen)
//! passes in `ebx` when it enters the ELF through its `XEN_ELFNOTE_PHYS32_ENTRY` note.
//!
//! Layout (all fields little-endian, offsets in bytes):
//!
//! | offset | field | notes |
//! |---|---|---|
//! | 0 | `magic: u32` | [`START_INFO_MAGIC`] |
//! | 4 | `version: u32` | 0 or 1 (later versions only append fields) |
//! | 8 | `flags: u32` | ignored |
//! | 12 | `nr_modules: u32` | entries in the module list |
//! | 16 | `modlist_paddr: u64` | array of [`MODLIST_ENTRY_SIZE`]-byte entries |
//! | 24 | `cmdline_paddr: u64` | NUL-terminated, 0 when absent |
//! | 32 | `rsdp_paddr: u64` | ACPI RSDP, 0 when absent |
//! | 40 | `memmap_paddr: u64` | version 1: array of [`MEMMAP_ENTRY_SIZE`]-byte E820 entries |
//! | 48 | `memmap_entries: u32` | version 1 |
//! | 52 | `reserved: u32` | version 1 |
//!
//! A module entry is `paddr: u64, size: u64, cmdline_paddr: u64, reserved: u64`; a memory-map
//! entry is `addr: u64, size: u64, type: u32, reserved: u32` with E820 types (1 = RAM).
//!
//! Every `(pointer, count)` pair is checked before it is read: a zero count never touches
//! its pointer (QEMU without `-initrd` passes `nr_modules = 0, modlist_paddr = 0`), counts
//! above [`MAX_MODULES`] / [`MAX_MEMMAP_ENTRIES`] and non-zero counts with a null pointer are
//! [`BootError::Malformed`], and memory the [`PhysReader`] cannot read is
//! [`BootError::Unreadable`]. The command line is searched for its NUL for at most
//! [`CMDLINE_SCAN_LIMIT`] bytes.
//!
//! **Version 0** has no memory map. The kernel has no other memory source on this path yet
//! (it would have to fall back to the BIOS E820 call or fw_cfg), so [`parse`] reports
//! [`BootError::NoMemory`] for it. QEMU 10 always passes version 1.

use kernel_core::memmap::Range;

use crate::{
    BootError, BootInfo, BootProtocol, Cmdline, FirmwareTable, MAX_MODULES, PhysReader, ReservedKind, le_u32, le_u64,
};

/// `hvm_start_info.magic` ("xEn3" with the top bit of each byte set).
pub const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Size of a version-0 `hvm_start_info`.
pub const START_INFO_V0_SIZE: usize = 48;
/// Size of a version-1 `hvm_start_info`.
pub const START_INFO_V1_SIZE: usize = 56;
/// Size of one `hvm_modlist_entry`.
pub const MODLIST_ENTRY_SIZE: usize = 32;
/// Size of one `hvm_memmap_table_entry`.
pub const MEMMAP_ENTRY_SIZE: usize = 24;
/// Most memory-map entries accepted (QEMU passes about 7).
pub const MAX_MEMMAP_ENTRIES: usize = 128;
/// E820 type of usable RAM.
pub const E820_RAM: u32 = 1;
/// Longest command line searched for its terminating NUL; anything longer is cut (the
/// kernel keeps at most [`crate::MAX_CMDLINE`] bytes anyway).
pub const CMDLINE_SCAN_LIMIT: usize = 4096;

/// `[start, start + len)`, or [`BootError::Malformed`] if it wraps around the address space.
fn span(start: u64, len: u64) -> Result<Range, BootError> {
    let end = start.checked_add(len).ok_or(BootError::Malformed)?;
    Ok(Range { start, end })
}

/// `count * entry_size` as a `u64`, or [`BootError::Malformed`].
fn array_len(count: usize, entry_size: usize) -> Result<usize, BootError> {
    count.checked_mul(entry_size).ok_or(BootError::Malformed)
}

/// Parses the `hvm_start_info` at `start_info_paddr`.
///
/// Fills the memory map (E820 type 1 only), the modules, the command line and the ACPI RSDP,
/// and reserves the `start_info` structure, the module list, the memory map and the command
/// line (as [`ReservedKind::BootStructures`]) plus every module ([`ReservedKind::Module`]).
/// The kernel image itself is not known here; the caller reserves it.
///
/// # Errors
///
/// [`BootError::BadMagic`] for a wrong magic number, [`BootError::Unreadable`] when a
/// structure is not readable through `mem`, [`BootError::Malformed`] for impossible counts or
/// wrapping ranges, and [`BootError::NoMemory`] for version 0 (no memory map) or a memory map
/// without RAM.
pub fn parse<R: PhysReader>(mem: &R, start_info_paddr: u64) -> Result<BootInfo, BootError> {
    let magic = mem.u32_at(start_info_paddr).ok_or(BootError::Unreadable)?;
    if magic != START_INFO_MAGIC {
        return Err(BootError::BadMagic);
    }
    let version_addr = start_info_paddr.checked_add(4).ok_or(BootError::Unreadable)?;
    let version = mem.u32_at(version_addr).ok_or(BootError::Unreadable)?;
    if version == 0 {
        // No memory map in version 0, and no other source of one on this boot path yet.
        return Err(BootError::NoMemory);
    }
    let si = mem.read(start_info_paddr, START_INFO_V1_SIZE).ok_or(BootError::Unreadable)?;
    let field32 = |off: usize| le_u32(si, off).ok_or(BootError::Unreadable);
    let field64 = |off: usize| le_u64(si, off).ok_or(BootError::Unreadable);
    let nr_modules = field32(12)?;
    let modlist_paddr = field64(16)?;
    let cmdline_paddr = field64(24)?;
    let rsdp_paddr = field64(32)?;
    let memmap_paddr = field64(40)?;
    let memmap_entries = field32(48)?;

    let mut info = BootInfo::new(BootProtocol::Pvh);
    info.reserve(span(start_info_paddr, START_INFO_V1_SIZE as u64)?, ReservedKind::BootStructures);

    read_memmap(mem, &mut info, memmap_paddr, memmap_entries)?;
    read_modules(mem, &mut info, modlist_paddr, nr_modules)?;
    if cmdline_paddr != 0 {
        read_cmdline(mem, &mut info, cmdline_paddr)?;
    }
    if rsdp_paddr != 0 {
        info.firmware = FirmwareTable::AcpiRsdp(rsdp_paddr);
    }
    Ok(info)
}

/// Reads the E820 memory map (version 1) and records its RAM.
fn read_memmap<R: PhysReader>(mem: &R, info: &mut BootInfo, paddr: u64, entries: u32) -> Result<(), BootError> {
    let count = usize::try_from(entries).map_err(|_| BootError::Malformed)?;
    if count > MAX_MEMMAP_ENTRIES {
        return Err(BootError::Malformed);
    }
    if count == 0 {
        return Err(BootError::NoMemory);
    }
    if paddr == 0 {
        return Err(BootError::Malformed);
    }
    let len = array_len(count, MEMMAP_ENTRY_SIZE)?;
    let table = mem.read(paddr, len).ok_or(BootError::Unreadable)?;
    info.reserve(span(paddr, len as u64)?, ReservedKind::BootStructures);
    for entry in table.chunks_exact(MEMMAP_ENTRY_SIZE) {
        let addr = le_u64(entry, 0).ok_or(BootError::Malformed)?;
        let size = le_u64(entry, 8).ok_or(BootError::Malformed)?;
        let kind = le_u32(entry, 16).ok_or(BootError::Malformed)?;
        if kind == E820_RAM {
            info.add_memory(span(addr, size)?);
        }
    }
    if info.memory.is_empty() {
        return Err(BootError::NoMemory);
    }
    Ok(())
}

/// Reads the module list and records every module.
fn read_modules<R: PhysReader>(mem: &R, info: &mut BootInfo, paddr: u64, nr: u32) -> Result<(), BootError> {
    let count = usize::try_from(nr).map_err(|_| BootError::Malformed)?;
    if count == 0 {
        // QEMU without -initrd: nr_modules = 0 and modlist_paddr = 0. Never touch the pointer.
        return Ok(());
    }
    if count > MAX_MODULES || paddr == 0 {
        return Err(BootError::Malformed);
    }
    let len = array_len(count, MODLIST_ENTRY_SIZE)?;
    let table = mem.read(paddr, len).ok_or(BootError::Unreadable)?;
    info.reserve(span(paddr, len as u64)?, ReservedKind::BootStructures);
    for entry in table.chunks_exact(MODLIST_ENTRY_SIZE) {
        let start = le_u64(entry, 0).ok_or(BootError::Malformed)?;
        let size = le_u64(entry, 8).ok_or(BootError::Malformed)?;
        info.add_module(span(start, size)?);
    }
    Ok(())
}

/// Copies the NUL-terminated command line at `paddr` and reserves its bytes.
fn read_cmdline<R: PhysReader>(mem: &R, info: &mut BootInfo, paddr: u64) -> Result<(), BootError> {
    // Find the terminating NUL (byte by byte: the readable memory may end anywhere).
    let mut len = 0usize;
    let mut terminated = false;
    while len < CMDLINE_SCAN_LIMIT {
        let addr = paddr.checked_add(len as u64).ok_or(BootError::Unreadable)?;
        let byte = *mem.read(addr, 1).and_then(|b| b.first()).ok_or(BootError::Unreadable)?;
        if byte == 0 {
            terminated = true;
            break;
        }
        len += 1;
    }
    let text = mem.read(paddr, len).ok_or(BootError::Unreadable)?;
    let mut cmdline = Cmdline::from_bytes(text);
    cmdline.truncated |= !terminated;
    info.cmdline = cmdline;
    // The bytes including the NUL (or everything searched when there was none).
    let reserved_len = if terminated { len + 1 } else { len };
    info.reserve(span(paddr, reserved_len as u64)?, ReservedKind::BootStructures);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_CMDLINE, Module, Reserved, SliceReader};

    const BASE: u64 = 0x1000;
    const SI: u64 = 0x11e0;
    const MODLIST: u64 = 0x1400;
    const MEMMAP: u64 = 0x1500;
    const CMDLINE: u64 = 0x1700;

    /// A fake low-memory buffer starting at physical `BASE`.
    struct Mem(Vec<u8>);

    impl Mem {
        fn new() -> Self {
            Mem(vec![0; 0x1000])
        }
        fn put(&mut self, addr: u64, bytes: &[u8]) {
            let off = (addr - BASE) as usize;
            self.0[off..off + bytes.len()].copy_from_slice(bytes);
        }
        fn put32(&mut self, addr: u64, v: u32) {
            self.put(addr, &v.to_le_bytes());
        }
        fn put64(&mut self, addr: u64, v: u64) {
            self.put(addr, &v.to_le_bytes());
        }
        fn reader(&self) -> SliceReader<'_> {
            SliceReader { base: BASE, bytes: &self.0 }
        }

        /// A QEMU-like version-1 start_info with `modules` modules, the given memory map and
        /// an optional command line.
        fn start_info(modules: &[(u64, u64)], memmap: &[(u64, u64, u32)], cmdline: Option<&[u8]>) -> Mem {
            let mut m = Mem::new();
            m.put32(SI, START_INFO_MAGIC);
            m.put32(SI + 4, 1);
            m.put32(SI + 12, modules.len() as u32);
            m.put64(SI + 16, if modules.is_empty() { 0 } else { MODLIST });
            for (i, &(addr, size)) in modules.iter().enumerate() {
                let e = MODLIST + (i * MODLIST_ENTRY_SIZE) as u64;
                m.put64(e, addr);
                m.put64(e + 8, size);
            }
            if let Some(c) = cmdline {
                m.put64(SI + 24, CMDLINE);
                m.put(CMDLINE, c);
            }
            m.put64(SI + 32, 0xf5250);
            m.put64(SI + 40, MEMMAP);
            m.put32(SI + 48, memmap.len() as u32);
            for (i, &(addr, size, kind)) in memmap.iter().enumerate() {
                let e = MEMMAP + (i * MEMMAP_ENTRY_SIZE) as u64;
                m.put64(e, addr);
                m.put64(e + 8, size);
                m.put32(e + 16, kind);
            }
            m
        }
    }

    /// The memory map QEMU 10 passes for a 256 MiB `-M pc` guest.
    const QEMU_MEMMAP: &[(u64, u64, u32)] = &[
        (0, 0x9fc00, 1),
        (0x9fc00, 0x400, 2),
        (0xf0000, 0x10000, 2),
        (0x10_0000, 0xfee_0000, 1),
        (0xffe_0000, 0x2_0000, 2),
        (0xfeff_c000, 0x4000, 2),
        (0xfd_0000_0000, 0x3_0000_0000, 2),
    ];

    fn reserved(info: &BootInfo) -> Vec<Reserved> {
        info.reserved_ranges().copied().collect()
    }

    #[test]
    fn qemu_like_start_info() {
        let m = Mem::start_info(&[(0xffd_7000, 37)], QEMU_MEMMAP, Some(b"console=ttyS0 foo=bar\0"));
        let info = parse(&m.reader(), SI).unwrap();
        assert_eq!(info.protocol, BootProtocol::Pvh);
        assert_eq!(
            info.memory.as_slice(),
            &[Range { start: 0, end: 0x9fc00 }, Range { start: 0x10_0000, end: 0xffe_0000 }]
        );
        assert_eq!(
            info.module_list().copied().collect::<Vec<_>>(),
            vec![Module { range: Range { start: 0xffd_7000, end: 0xffd_7025 } }]
        );
        assert_eq!(info.cmdline.as_str(), "console=ttyS0 foo=bar");
        assert!(!info.cmdline.truncated);
        assert_eq!(info.firmware, FirmwareTable::AcpiRsdp(0xf5250));
        let bs = ReservedKind::BootStructures;
        assert_eq!(
            reserved(&info),
            vec![
                Reserved { range: Range::from_len(SI, 56), kind: bs },
                Reserved { range: Range::from_len(MEMMAP, 7 * 24), kind: bs },
                Reserved { range: Range::from_len(MODLIST, 32), kind: bs },
                Reserved { range: Range { start: 0xffd_7000, end: 0xffd_7025 }, kind: ReservedKind::Module },
                Reserved { range: Range::from_len(CMDLINE, 22), kind: bs },
            ]
        );
        assert_eq!(info.uart, None);
        assert_eq!(info.cpu_count(), 1);
        assert_eq!(info.dropped_memory + info.dropped_reserved + info.dropped_modules, 0);
    }

    #[test]
    fn no_modules_and_no_cmdline() {
        // QEMU without -initrd: nr_modules = 0, modlist_paddr = 0; no -append: cmdline 0.
        let m = Mem::start_info(&[], QEMU_MEMMAP, None);
        let info = parse(&m.reader(), SI).unwrap();
        assert_eq!(info.module_list().count(), 0);
        assert_eq!(info.cmdline.as_str(), "");
        assert_eq!(reserved(&info).len(), 2);
    }

    #[test]
    fn several_modules() {
        let mods = [(0x20_0000, 0x1000), (0x30_0000, 0), (0x40_0000, 0x123)];
        let m = Mem::start_info(&mods, QEMU_MEMMAP, Some(b"\0"));
        let info = parse(&m.reader(), SI).unwrap();
        let got: Vec<Range> = info.module_list().map(|m| m.range).collect();
        assert_eq!(
            got,
            vec![Range::from_len(0x20_0000, 0x1000), Range::from_len(0x30_0000, 0), Range::from_len(0x40_0000, 0x123)]
        );
        // Empty modules reserve nothing; the empty command line reserves its NUL.
        assert_eq!(info.reserved_ranges().filter(|r| r.kind == ReservedKind::Module).count(), 2);
        assert!(
            reserved(&info)
                .contains(&Reserved { range: Range::from_len(CMDLINE, 1), kind: ReservedKind::BootStructures })
        );
    }

    #[test]
    fn bad_magic() {
        let mut m = Mem::start_info(&[], QEMU_MEMMAP, None);
        m.put32(SI, 0x1bad_b002);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::BadMagic);
    }

    #[test]
    fn start_info_outside_memory() {
        let m = Mem::start_info(&[], QEMU_MEMMAP, None);
        assert_eq!(parse(&m.reader(), 0x10_0000).unwrap_err(), BootError::Unreadable);
        assert_eq!(parse(&m.reader(), u64::MAX - 1).unwrap_err(), BootError::Unreadable);
        // Magic readable, rest of the structure past the end of memory.
        let mut m = Mem::new();
        m.put32(BASE + 0x1000 - 8, START_INFO_MAGIC);
        m.put32(BASE + 0x1000 - 4, 1);
        assert_eq!(parse(&m.reader(), BASE + 0x1000 - 8).unwrap_err(), BootError::Unreadable);
    }

    #[test]
    fn version_0_has_no_memory_map() {
        let mut m = Mem::start_info(&[], QEMU_MEMMAP, None);
        m.put32(SI + 4, 0);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::NoMemory);
    }

    #[test]
    fn later_versions_are_read_as_version_1() {
        let mut m = Mem::start_info(&[], QEMU_MEMMAP, None);
        m.put32(SI + 4, 2);
        assert_eq!(parse(&m.reader(), SI).unwrap().memory.len(), 2);
    }

    #[test]
    fn counts_too_big() {
        let mut m = Mem::start_info(&[(0x20_0000, 0x1000)], QEMU_MEMMAP, None);
        m.put32(SI + 12, MAX_MODULES as u32 + 1);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Malformed);
        m.put32(SI + 12, u32::MAX);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Malformed);

        let mut m = Mem::start_info(&[], QEMU_MEMMAP, None);
        m.put32(SI + 48, MAX_MEMMAP_ENTRIES as u32 + 1);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Malformed);
        m.put32(SI + 48, u32::MAX);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Malformed);
    }

    #[test]
    fn pointers_outside_memory() {
        let mut m = Mem::start_info(&[(0x20_0000, 0x1000)], QEMU_MEMMAP, Some(b"x\0"));
        m.put64(SI + 16, 0x8000_0000);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Unreadable);

        let mut m = Mem::start_info(&[], QEMU_MEMMAP, Some(b"x\0"));
        m.put64(SI + 40, 0x8000_0000);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Unreadable);

        let mut m = Mem::start_info(&[], QEMU_MEMMAP, Some(b"x\0"));
        m.put64(SI + 24, 0x8000_0000);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Unreadable);

        // A module list whose last entry runs past the end of memory.
        let mut m = Mem::start_info(&[], QEMU_MEMMAP, None);
        m.put32(SI + 12, 2);
        m.put64(SI + 16, BASE + 0x1000 - 40);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Unreadable);

        // A non-zero count with a null pointer.
        let mut m = Mem::start_info(&[(0x20_0000, 0x1000)], QEMU_MEMMAP, None);
        m.put64(SI + 16, 0);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Malformed);
    }

    #[test]
    fn no_ram_or_no_memmap() {
        let m = Mem::start_info(&[], &[(0, 0x1000, 2)], None);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::NoMemory);
        let m = Mem::start_info(&[], &[], None);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::NoMemory);
        // Entries but a null pointer.
        let mut m = Mem::start_info(&[], QEMU_MEMMAP, None);
        m.put64(SI + 40, 0);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Malformed);
    }

    #[test]
    fn wrapping_ranges_are_malformed() {
        let m = Mem::start_info(&[], &[(u64::MAX - 0x10, 0x100, 1)], None);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Malformed);
        let m = Mem::start_info(&[(u64::MAX - 0x10, 0x100)], QEMU_MEMMAP, None);
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Malformed);
    }

    #[test]
    fn long_cmdline_is_cut() {
        let mut long = vec![b'a'; MAX_CMDLINE + 100];
        long.push(0);
        let m = Mem::start_info(&[], QEMU_MEMMAP, Some(&long));
        let info = parse(&m.reader(), SI).unwrap();
        assert!(info.cmdline.truncated);
        assert_eq!(info.cmdline.as_str().len(), MAX_CMDLINE);
        assert!(reserved(&info).contains(&Reserved {
            range: Range::from_len(CMDLINE, MAX_CMDLINE as u64 + 101),
            kind: ReservedKind::BootStructures
        }));

        // No NUL before the end of readable memory.
        let mut m = Mem::start_info(&[], QEMU_MEMMAP, None);
        m.put64(SI + 24, BASE + 0x1000 - 3);
        m.put(BASE + 0x1000 - 3, b"abc");
        assert_eq!(parse(&m.reader(), SI).unwrap_err(), BootError::Unreadable);
    }

    #[test]
    fn unterminated_cmdline_stops_at_scan_limit() {
        let mut big = vec![0u8; 0x3000];
        let si = 0x100usize;
        big[si..si + 4].copy_from_slice(&START_INFO_MAGIC.to_le_bytes());
        big[si + 4..si + 8].copy_from_slice(&1u32.to_le_bytes());
        big[si + 24..si + 32].copy_from_slice(&(BASE + 0x1000).to_le_bytes());
        big[si + 40..si + 48].copy_from_slice(&(BASE + 0x200).to_le_bytes());
        big[si + 48..si + 52].copy_from_slice(&1u32.to_le_bytes());
        big[0x208..0x210].copy_from_slice(&0x1000u64.to_le_bytes());
        big[0x210..0x214].copy_from_slice(&1u32.to_le_bytes());
        big[0x1000..0x1000 + CMDLINE_SCAN_LIMIT].fill(b'z');
        let info = parse(&SliceReader { base: BASE, bytes: &big }, BASE + si as u64).unwrap();
        assert!(info.cmdline.truncated);
        assert_eq!(info.memory.as_slice(), &[Range { start: 0, end: 0x1000 }]);
    }

    /// Physical 0x0..0x3000 of a QEMU 10 `-M pc -m 256M` guest entered through PVH with
    /// `-initrd` (60 bytes) and `-append "console=ttyS0 foo=bar"`; `ebx` was 0x21e0.
    const QEMU_PVH_LOW: &[u8] = include_bytes!("testdata/qemu10-x86_64-pc-pvh-256M-phys0-12K.bin");

    #[test]
    fn real_qemu_start_info() {
        let info = parse(&SliceReader { base: 0, bytes: QEMU_PVH_LOW }, 0x21e0).unwrap();
        assert_eq!(info.protocol, BootProtocol::Pvh);
        assert_eq!(
            info.memory.as_slice(),
            &[Range { start: 0, end: 0x9fc00 }, Range { start: 0x10_0000, end: 0xffe_0000 }]
        );
        assert_eq!(info.module_list().map(|m| m.range).collect::<Vec<_>>(), vec![Range::from_len(0xffd_7000, 0x3c)]);
        assert_eq!(info.cmdline.as_str(), "console=ttyS0 foo=bar");
        assert_eq!(info.firmware, FirmwareTable::AcpiRsdp(0xf5250));
        let bs = ReservedKind::BootStructures;
        assert_eq!(
            reserved(&info),
            vec![
                Reserved { range: Range::from_len(0x21e0, 56), kind: bs },
                Reserved { range: Range::from_len(0x5a8, 7 * 24), kind: bs },
                Reserved { range: Range::from_len(0x21c0, 32), kind: bs },
                Reserved { range: Range::from_len(0xffd_7000, 0x3c), kind: ReservedKind::Module },
                Reserved { range: Range::from_len(0x11c0, 22), kind: bs },
            ]
        );
        // Any other address in that memory is not a start_info.
        assert_eq!(parse(&SliceReader { base: 0, bytes: QEMU_PVH_LOW }, 0x21e4).unwrap_err(), BootError::BadMagic);
    }
}
