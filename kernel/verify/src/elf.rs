// SPDX-License-Identifier: AGPL-3.0-or-later
//! A bounds-checked ELF64 little-endian parser for statically linked executables.
//!
//! It reads the file header and the program header table, rejects anything that is not a
//! static `ET_EXEC` image, and collects the `PT_LOAD` segments. Every offset and size is
//! checked against the file before it is used, with checked arithmetic; nothing here indexes
//! or allocates. Policy checks (machine, address range, W^X, overlap, ...) live in
//! [`crate::verifier`].

use cambios_abi::layout::MAX_LOAD_SEGMENTS;
use core::fmt;

/// Size of the ELF64 file header.
pub const EHDR_SIZE: usize = 64;
/// Size of one ELF64 program header.
pub const PHDR_SIZE: usize = 56;
/// Size of one ELF64 section header.
pub const SHDR_SIZE: usize = 64;
/// `e_type` of a static executable.
pub const ET_EXEC: u16 = 2;
/// `e_type` of a shared object or position-independent executable.
pub const ET_DYN: u16 = 3;
/// Loadable segment.
pub const PT_LOAD: u32 = 1;
/// Dynamic linking information.
pub const PT_DYNAMIC: u32 = 2;
/// Program interpreter path.
pub const PT_INTERP: u32 = 3;
/// Segment flag: executable.
pub const PF_X: u32 = 1;
/// Segment flag: writable.
pub const PF_W: u32 = 2;
/// Segment flag: readable.
pub const PF_R: u32 = 4;
/// `e_phnum` value meaning "the real count is elsewhere"; never accepted.
const PN_XNUM: u16 = 0xffff;

/// Why a file is not an acceptable ELF executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the 64-byte ELF header.
    TooShort,
    /// Does not start with `\x7fELF`.
    BadMagic,
    /// Not ELFCLASS64.
    NotElf64,
    /// Not little-endian (ELFDATA2LSB).
    NotLittleEndian,
    /// `EI_VERSION` or `e_version` is not 1.
    BadVersion,
    /// `e_type` is not `ET_EXEC` (the value found).
    NotExecutable(u16),
    /// `e_ehsize` or `e_phentsize` is not the ELF64 size.
    BadHeaderSize,
    /// The program header table lies (partly) outside the file or its size overflows.
    ProgramHeadersOutOfBounds,
    /// The section header table lies (partly) outside the file or its size overflows.
    SectionHeadersOutOfBounds,
    /// Has `PT_INTERP` or `PT_DYNAMIC`: a dynamically linked binary.
    DynamicBinary,
    /// No `PT_LOAD` segment.
    NoLoadSegments,
    /// More `PT_LOAD` segments than [`MAX_LOAD_SEGMENTS`].
    TooManyLoadSegments,
    /// A segment's file size is larger than its memory size (segment index).
    FileSizeExceedsMemSize(u8),
    /// A segment's file range lies outside the file or overflows (segment index).
    SegmentOutOfBounds(u8),
}

impl ElfError {
    /// A human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            ElfError::TooShort => "file is shorter than an ELF64 header",
            ElfError::BadMagic => "not an ELF file (bad magic)",
            ElfError::NotElf64 => "not a 64-bit ELF file",
            ElfError::NotLittleEndian => "not a little-endian ELF file",
            ElfError::BadVersion => "unsupported ELF version",
            ElfError::NotExecutable(_) => "not a static executable (e_type is not ET_EXEC)",
            ElfError::BadHeaderSize => "ELF header or program header entry size is wrong",
            ElfError::ProgramHeadersOutOfBounds => "program header table lies outside the file",
            ElfError::SectionHeadersOutOfBounds => "section header table lies outside the file",
            ElfError::DynamicBinary => "dynamically linked binary (PT_INTERP or PT_DYNAMIC) is not supported",
            ElfError::NoLoadSegments => "no loadable (PT_LOAD) segment",
            ElfError::TooManyLoadSegments => "too many loadable segments",
            ElfError::FileSizeExceedsMemSize(_) => "segment file size is larger than its memory size",
            ElfError::SegmentOutOfBounds(_) => "segment file range lies outside the file",
        }
    }
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotExecutable(t) => write!(f, "{} (e_type {t})", self.as_str()),
            ElfError::FileSizeExceedsMemSize(i) | ElfError::SegmentOutOfBounds(i) => {
                write!(f, "segment {i}: {}", self.as_str())
            }
            _ => f.write_str(self.as_str()),
        }
    }
}

/// Permissions of a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentFlags {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

impl SegmentFlags {
    /// From ELF `p_flags` (other bits are ignored).
    pub const fn from_p_flags(p_flags: u32) -> SegmentFlags {
        SegmentFlags { read: p_flags & PF_R != 0, write: p_flags & PF_W != 0, execute: p_flags & PF_X != 0 }
    }

    /// The `rwx` string, `-` for a missing permission.
    pub const fn as_str(self) -> &'static str {
        match (self.read, self.write, self.execute) {
            (false, false, false) => "---",
            (false, false, true) => "--x",
            (false, true, false) => "-w-",
            (false, true, true) => "-wx",
            (true, false, false) => "r--",
            (true, false, true) => "r-x",
            (true, true, false) => "rw-",
            (true, true, true) => "rwx",
        }
    }
}

/// One `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Bytes in memory (the tail past `file_size` is zero-filled).
    pub mem_size: u64,
    /// Offset of the segment's bytes in the file.
    pub file_offset: u64,
    /// Bytes taken from the file.
    pub file_size: u64,
    /// Permissions.
    pub flags: SegmentFlags,
}

/// The parts of an ELF executable the loader needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfImage {
    /// Entry point.
    pub entry: u64,
    /// `e_machine`.
    pub machine: u16,
    /// The `PT_LOAD` segments in file order; only the first `count` are meaningful.
    pub segments: [Segment; MAX_LOAD_SEGMENTS],
    /// Number of segments.
    pub count: usize,
}

impl ElfImage {
    /// The meaningful segments.
    pub fn segments(&self) -> &[Segment] {
        self.segments.get(..self.count).unwrap_or(&[])
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_le_bytes(b))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// Checks that the table `[offset, offset + count * entry_size)` lies inside a file of
/// `file_len` bytes.
fn table_in_bounds(offset: u64, count: u16, entry_size: usize, file_len: usize) -> bool {
    let Some(size) = u64::from(count).checked_mul(entry_size as u64) else { return false };
    offset.checked_add(size).is_some_and(|end| end <= file_len as u64)
}

/// Parses and checks an ELF64 little-endian static executable.
pub fn parse(bytes: &[u8]) -> Result<ElfImage, ElfError> {
    let header = bytes.get(..EHDR_SIZE).ok_or(ElfError::TooShort)?;
    let field = |r: Option<u64>| r.ok_or(ElfError::TooShort);
    if header.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(ElfError::BadMagic);
    }
    let ident = |i: usize| header.get(i).copied().ok_or(ElfError::TooShort);
    if ident(4)? != 2 {
        return Err(ElfError::NotElf64);
    }
    if ident(5)? != 1 {
        return Err(ElfError::NotLittleEndian);
    }
    if ident(6)? != 1 || read_u32(header, 20) != Some(1) {
        return Err(ElfError::BadVersion);
    }
    let e_type = read_u16(header, 16).ok_or(ElfError::TooShort)?;
    if e_type != ET_EXEC {
        return Err(ElfError::NotExecutable(e_type));
    }
    let machine = read_u16(header, 18).ok_or(ElfError::TooShort)?;
    let entry = field(read_u64(header, 24))?;
    let phoff = field(read_u64(header, 32))?;
    let shoff = field(read_u64(header, 40))?;
    let ehsize = read_u16(header, 52).ok_or(ElfError::TooShort)?;
    let phentsize = read_u16(header, 54).ok_or(ElfError::TooShort)?;
    let phnum = read_u16(header, 56).ok_or(ElfError::TooShort)?;
    let shentsize = read_u16(header, 58).ok_or(ElfError::TooShort)?;
    let shnum = read_u16(header, 60).ok_or(ElfError::TooShort)?;
    if usize::from(ehsize) != EHDR_SIZE || usize::from(phentsize) != PHDR_SIZE {
        return Err(ElfError::BadHeaderSize);
    }
    if phnum == PN_XNUM || !table_in_bounds(phoff, phnum, PHDR_SIZE, bytes.len()) {
        return Err(ElfError::ProgramHeadersOutOfBounds);
    }
    if shnum != 0 && (usize::from(shentsize) != SHDR_SIZE || !table_in_bounds(shoff, shnum, SHDR_SIZE, bytes.len())) {
        return Err(ElfError::SectionHeadersOutOfBounds);
    }
    // In bounds per the check above, so these conversions and the slice cannot fail.
    let table_start = usize::try_from(phoff).map_err(|_| ElfError::ProgramHeadersOutOfBounds)?;
    let table_len = usize::from(phnum) * PHDR_SIZE;
    let table = table_start
        .checked_add(table_len)
        .and_then(|end| bytes.get(table_start..end))
        .ok_or(ElfError::ProgramHeadersOutOfBounds)?;

    let mut image = ElfImage { entry, machine, segments: [Segment::default(); MAX_LOAD_SEGMENTS], count: 0 };
    // At most 65534 entries: the loop is bounded by the table length.
    for ph in table.chunks_exact(PHDR_SIZE) {
        let p_type = read_u32(ph, 0).ok_or(ElfError::ProgramHeadersOutOfBounds)?;
        match p_type {
            PT_INTERP | PT_DYNAMIC => return Err(ElfError::DynamicBinary),
            PT_LOAD => {}
            _ => continue,
        }
        let index = u8::try_from(image.count).map_err(|_| ElfError::TooManyLoadSegments)?;
        let ph_field = |at: usize| read_u64(ph, at).ok_or(ElfError::ProgramHeadersOutOfBounds);
        let flags = SegmentFlags::from_p_flags(read_u32(ph, 4).ok_or(ElfError::ProgramHeadersOutOfBounds)?);
        let segment = Segment {
            file_offset: ph_field(8)?,
            vaddr: ph_field(16)?,
            file_size: ph_field(32)?,
            mem_size: ph_field(40)?,
            flags,
        };
        if segment.file_size > segment.mem_size {
            return Err(ElfError::FileSizeExceedsMemSize(index));
        }
        let file_end = segment.file_offset.checked_add(segment.file_size);
        if file_end.is_none_or(|end| end > bytes.len() as u64) {
            return Err(ElfError::SegmentOutOfBounds(index));
        }
        let slot = image.segments.get_mut(image.count).ok_or(ElfError::TooManyLoadSegments)?;
        *slot = segment;
        image.count += 1;
    }
    if image.count == 0 {
        return Err(ElfError::NoLoadSegments);
    }
    Ok(image)
}

/// The file bytes of a segment of an image parsed from `elf` (empty for a BSS-only segment).
pub fn segment_bytes<'a>(elf: &'a [u8], segment: &Segment) -> Option<&'a [u8]> {
    let start = usize::try_from(segment.file_offset).ok()?;
    let len = usize::try_from(segment.file_size).ok()?;
    elf.get(start..start.checked_add(len)?)
}
