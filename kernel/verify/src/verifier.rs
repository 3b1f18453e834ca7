// SPDX-License-Identifier: AGPL-3.0-or-later
//! The signed-binary verifier: the checks a file passes before the loader spends anything on it.
//!
//! Order: size cap, trailer, signature, then structure. A file that fails costs one BLAKE3 pass
//! and one signature check at most; nothing is allocated or mapped. docs/abi/signed-elf.md
//! lists every rejection with its [`VerifyError`] name.

use crate::elf::{self, ElfError, ElfImage, Segment};
use crate::keys::TrustedKeys;
use crate::trailer::{self, TrailerError};
use cambios_abi::Arch;
use cambios_abi::layout::{MAX_IMAGE_BYTES, MAX_IMAGE_MEMORY, PAGE_SIZE, USER_END, USER_START};
use core::fmt;

/// What a binary must satisfy besides a valid signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Required `e_machine`.
    pub machine: u16,
    /// Lowest address a segment may use.
    pub user_start: u64,
    /// One past the highest address a segment may use.
    pub user_end: u64,
    /// Largest signed file (body plus trailer), in bytes.
    pub max_image_bytes: u64,
    /// Largest sum of segment memory sizes, in bytes.
    pub max_image_memory: u64,
}

impl VerifyPolicy {
    /// The kernel's policy for `arch`: the user range and caps from `cambios_abi::layout`.
    pub const fn for_arch(arch: Arch) -> VerifyPolicy {
        VerifyPolicy {
            machine: arch.elf_machine(),
            user_start: USER_START,
            user_end: USER_END,
            max_image_bytes: MAX_IMAGE_BYTES,
            max_image_memory: MAX_IMAGE_MEMORY,
        }
    }

    /// The same policy for the machine named in an ELF header (for host tools that verify a
    /// binary of any architecture); `None` for a machine CambiOS does not run on.
    pub fn for_machine(machine: u16) -> Option<VerifyPolicy> {
        Arch::ALL.into_iter().find(|a| a.elf_machine() == machine).map(VerifyPolicy::for_arch)
    }
}

/// Why a binary was rejected. Every rule has its own variant; `index`/`first`/`second` name
/// `PT_LOAD` segments in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The file is larger than the policy's size cap.
    ImageTooLarge,
    /// No signature trailer.
    MissingSignature,
    /// The trailer magic is present but the file is shorter than a trailer.
    TruncatedTrailer,
    /// The trailer is whole but signs an empty or already-signed body.
    MalformedTrailer,
    /// The trailer version is not supported (value found).
    UnsupportedTrailerVersion(u8),
    /// The trailer names an unsupported algorithm (value found).
    UnsupportedAlgorithm(u8),
    /// No trusted key verifies the signature.
    BadSignature,
    /// Shorter than an ELF header.
    TruncatedElf,
    /// Bad ELF magic.
    BadMagic,
    /// Not ELF64.
    NotElf64,
    /// Not little-endian.
    NotLittleEndian,
    /// ELF version is not 1.
    BadElfVersion,
    /// `e_machine` is not the policy's (value found).
    WrongMachine(u16),
    /// `e_type` is not `ET_EXEC` (value found).
    NotExecutable(u16),
    /// ELF header or program header entry size is wrong.
    BadHeaderSize,
    /// The program header table is outside the file or overflows.
    ProgramHeadersOutOfBounds,
    /// The section header table is outside the file or overflows.
    SectionHeadersOutOfBounds,
    /// `PT_INTERP` or `PT_DYNAMIC` present.
    DynamicBinary,
    /// No `PT_LOAD` segment.
    NoLoadSegments,
    /// More than `MAX_LOAD_SEGMENTS` `PT_LOAD` segments.
    TooManyLoadSegments,
    /// A segment is writable and executable.
    WritableAndExecutable {
        /// The segment.
        index: u8,
    },
    /// A segment's file size exceeds its memory size.
    FileSizeExceedsMemSize {
        /// The segment.
        index: u8,
    },
    /// A segment's file range lies outside the ELF body.
    SegmentOutOfFile {
        /// The segment.
        index: u8,
    },
    /// `vaddr + mem_size` overflows.
    SegmentWraps {
        /// The segment.
        index: u8,
    },
    /// A segment lies (partly) outside `[user_start, user_end)`.
    SegmentOutsideUserSpace {
        /// The segment.
        index: u8,
    },
    /// `vaddr % 4096 != file_offset % 4096`: the segment cannot be mapped from the file.
    MisalignedSegment {
        /// The segment.
        index: u8,
    },
    /// Two segments overlap.
    OverlappingSegments {
        /// The earlier segment.
        first: u8,
        /// The later segment.
        second: u8,
    },
    /// Two segments share a page but have different permissions.
    PagePermissionConflict {
        /// The earlier segment.
        first: u8,
        /// The later segment.
        second: u8,
    },
    /// The sum of segment memory sizes exceeds the policy's cap.
    ExcessiveMemory,
    /// The entry point is not inside an executable segment.
    EntryNotExecutable,
}

impl VerifyError {
    /// A human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            VerifyError::ImageTooLarge => "image is larger than the size cap",
            VerifyError::MissingSignature => TrailerError::Absent.as_str(),
            VerifyError::TruncatedTrailer => TrailerError::Truncated.as_str(),
            VerifyError::MalformedTrailer => TrailerError::Malformed.as_str(),
            VerifyError::UnsupportedTrailerVersion(v) => TrailerError::UnsupportedVersion(v).as_str(),
            VerifyError::UnsupportedAlgorithm(a) => TrailerError::UnsupportedAlgorithm(a).as_str(),
            VerifyError::BadSignature => "bad signature (no trusted key verifies it)",
            VerifyError::TruncatedElf => ElfError::TooShort.as_str(),
            VerifyError::BadMagic => ElfError::BadMagic.as_str(),
            VerifyError::NotElf64 => ElfError::NotElf64.as_str(),
            VerifyError::NotLittleEndian => ElfError::NotLittleEndian.as_str(),
            VerifyError::BadElfVersion => ElfError::BadVersion.as_str(),
            VerifyError::WrongMachine(_) => "ELF machine is not this architecture",
            VerifyError::NotExecutable(t) => ElfError::NotExecutable(t).as_str(),
            VerifyError::BadHeaderSize => ElfError::BadHeaderSize.as_str(),
            VerifyError::ProgramHeadersOutOfBounds => ElfError::ProgramHeadersOutOfBounds.as_str(),
            VerifyError::SectionHeadersOutOfBounds => ElfError::SectionHeadersOutOfBounds.as_str(),
            VerifyError::DynamicBinary => ElfError::DynamicBinary.as_str(),
            VerifyError::NoLoadSegments => ElfError::NoLoadSegments.as_str(),
            VerifyError::TooManyLoadSegments => ElfError::TooManyLoadSegments.as_str(),
            VerifyError::WritableAndExecutable { .. } => "segment is both writable and executable",
            VerifyError::FileSizeExceedsMemSize { index } => ElfError::FileSizeExceedsMemSize(index).as_str(),
            VerifyError::SegmentOutOfFile { index } => ElfError::SegmentOutOfBounds(index).as_str(),
            VerifyError::SegmentWraps { .. } => "segment end address overflows",
            VerifyError::SegmentOutsideUserSpace { .. } => "segment lies outside user space",
            VerifyError::MisalignedSegment { .. } => "segment address and file offset differ modulo the page size",
            VerifyError::OverlappingSegments { .. } => "segments overlap",
            VerifyError::PagePermissionConflict { .. } => "segments share a page with different permissions",
            VerifyError::ExcessiveMemory => "segments need more memory than the cap",
            VerifyError::EntryNotExecutable => "entry point is not inside an executable segment",
        }
    }

    /// A stable small number for audit records and exit statuses (the variant's position).
    pub const fn code(self) -> u8 {
        match self {
            VerifyError::ImageTooLarge => 1,
            VerifyError::MissingSignature => 2,
            VerifyError::TruncatedTrailer => 3,
            VerifyError::MalformedTrailer => 4,
            VerifyError::UnsupportedTrailerVersion(_) => 5,
            VerifyError::UnsupportedAlgorithm(_) => 6,
            VerifyError::BadSignature => 7,
            VerifyError::TruncatedElf => 8,
            VerifyError::BadMagic => 9,
            VerifyError::NotElf64 => 10,
            VerifyError::NotLittleEndian => 11,
            VerifyError::BadElfVersion => 12,
            VerifyError::WrongMachine(_) => 13,
            VerifyError::NotExecutable(_) => 14,
            VerifyError::BadHeaderSize => 15,
            VerifyError::ProgramHeadersOutOfBounds => 16,
            VerifyError::SectionHeadersOutOfBounds => 17,
            VerifyError::DynamicBinary => 18,
            VerifyError::NoLoadSegments => 19,
            VerifyError::TooManyLoadSegments => 20,
            VerifyError::WritableAndExecutable { .. } => 21,
            VerifyError::FileSizeExceedsMemSize { .. } => 22,
            VerifyError::SegmentOutOfFile { .. } => 23,
            VerifyError::SegmentWraps { .. } => 24,
            VerifyError::SegmentOutsideUserSpace { .. } => 25,
            VerifyError::MisalignedSegment { .. } => 26,
            VerifyError::OverlappingSegments { .. } => 27,
            VerifyError::PagePermissionConflict { .. } => 28,
            VerifyError::ExcessiveMemory => 29,
            VerifyError::EntryNotExecutable => 30,
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = self.as_str();
        match *self {
            VerifyError::UnsupportedTrailerVersion(v) => write!(f, "{reason} ({v})"),
            VerifyError::UnsupportedAlgorithm(a) => write!(f, "{reason} ({a})"),
            VerifyError::WrongMachine(m) | VerifyError::NotExecutable(m) => write!(f, "{reason} ({m})"),
            VerifyError::WritableAndExecutable { index }
            | VerifyError::FileSizeExceedsMemSize { index }
            | VerifyError::SegmentOutOfFile { index }
            | VerifyError::SegmentWraps { index }
            | VerifyError::SegmentOutsideUserSpace { index }
            | VerifyError::MisalignedSegment { index } => write!(f, "segment {index}: {reason}"),
            VerifyError::OverlappingSegments { first, second }
            | VerifyError::PagePermissionConflict { first, second } => {
                write!(f, "segments {first} and {second}: {reason}")
            }
            _ => f.write_str(reason),
        }
    }
}

impl From<TrailerError> for VerifyError {
    fn from(e: TrailerError) -> VerifyError {
        match e {
            TrailerError::Absent => VerifyError::MissingSignature,
            TrailerError::Truncated => VerifyError::TruncatedTrailer,
            TrailerError::Malformed => VerifyError::MalformedTrailer,
            TrailerError::UnsupportedVersion(v) => VerifyError::UnsupportedTrailerVersion(v),
            TrailerError::UnsupportedAlgorithm(a) => VerifyError::UnsupportedAlgorithm(a),
        }
    }
}

impl From<ElfError> for VerifyError {
    fn from(e: ElfError) -> VerifyError {
        match e {
            ElfError::TooShort => VerifyError::TruncatedElf,
            ElfError::BadMagic => VerifyError::BadMagic,
            ElfError::NotElf64 => VerifyError::NotElf64,
            ElfError::NotLittleEndian => VerifyError::NotLittleEndian,
            ElfError::BadVersion => VerifyError::BadElfVersion,
            ElfError::NotExecutable(t) => VerifyError::NotExecutable(t),
            ElfError::BadHeaderSize => VerifyError::BadHeaderSize,
            ElfError::ProgramHeadersOutOfBounds => VerifyError::ProgramHeadersOutOfBounds,
            ElfError::SectionHeadersOutOfBounds => VerifyError::SectionHeadersOutOfBounds,
            ElfError::DynamicBinary => VerifyError::DynamicBinary,
            ElfError::NoLoadSegments => VerifyError::NoLoadSegments,
            ElfError::TooManyLoadSegments => VerifyError::TooManyLoadSegments,
            ElfError::FileSizeExceedsMemSize(index) => VerifyError::FileSizeExceedsMemSize { index },
            ElfError::SegmentOutOfBounds(index) => VerifyError::SegmentOutOfFile { index },
        }
    }
}

/// A binary that passed every check.
#[derive(Clone, Copy, Debug)]
pub struct VerifiedBinary<'a> {
    /// The ELF bytes (the signed body, without the trailer).
    pub elf: &'a [u8],
    /// The parsed image.
    pub image: ElfImage,
    /// `BLAKE3(elf)`: the signed message.
    pub hash: [u8; 32],
    /// Index of the trusted key that verified the signature.
    pub signer_index: usize,
    /// That key.
    pub signer: [u8; 32],
}

/// A body whose trailer and signature checked out.
pub(crate) struct Authenticated<'a> {
    pub(crate) body: &'a [u8],
    pub(crate) hash: [u8; 32],
    pub(crate) signer_index: usize,
    pub(crate) signer: [u8; 32],
}

/// Why [`authenticate`] failed.
pub(crate) enum AuthError {
    Trailer(TrailerError),
    BadSignature,
}

/// Splits off the trailer and checks the signature over `BLAKE3(body)` against `keys`.
pub(crate) fn authenticate<'a>(bytes: &'a [u8], keys: &TrustedKeys) -> Result<Authenticated<'a>, AuthError> {
    let (body, trailer) = trailer::split(bytes).map_err(AuthError::Trailer)?;
    let hash: [u8; 32] = *blake3::hash(body).as_bytes();
    let (signer_index, signer) = keys.verify(&hash, &trailer.signature).ok_or(AuthError::BadSignature)?;
    Ok(Authenticated { body, hash, signer_index, signer })
}

/// Verifies a signed binary: size cap, trailer, signature, then [`verify_structure`].
pub fn verify_binary<'a>(
    bytes: &'a [u8],
    keys: &TrustedKeys,
    policy: &VerifyPolicy,
) -> Result<VerifiedBinary<'a>, VerifyError> {
    if bytes.len() as u64 > policy.max_image_bytes {
        return Err(VerifyError::ImageTooLarge);
    }
    let auth = authenticate(bytes, keys).map_err(|e| match e {
        AuthError::Trailer(t) => VerifyError::from(t),
        AuthError::BadSignature => VerifyError::BadSignature,
    })?;
    let image = verify_structure(auth.body, policy)?;
    Ok(VerifiedBinary { elf: auth.body, image, hash: auth.hash, signer_index: auth.signer_index, signer: auth.signer })
}

/// First page of a segment and one past its last page (no overflow: `end <= user_end`).
fn page_span(s: &Segment) -> (u64, u64) {
    let start = s.vaddr - s.vaddr % PAGE_SIZE;
    let end = s.vaddr + s.mem_size;
    let end = end.div_ceil(PAGE_SIZE).saturating_mul(PAGE_SIZE);
    (start, end)
}

/// The structural checks alone, on an unsigned ELF body (for tests and host tools; the kernel
/// always goes through [`verify_binary`]).
pub fn verify_structure(elf_bytes: &[u8], policy: &VerifyPolicy) -> Result<ElfImage, VerifyError> {
    if elf_bytes.len() as u64 > policy.max_image_bytes {
        return Err(VerifyError::ImageTooLarge);
    }
    let image = elf::parse(elf_bytes)?;
    if image.machine != policy.machine {
        return Err(VerifyError::WrongMachine(image.machine));
    }
    let segments = image.segments();
    let mut total: u64 = 0;
    for (i, s) in segments.iter().enumerate() {
        // At most MAX_LOAD_SEGMENTS (16) entries, so the index fits.
        let index = u8::try_from(i).unwrap_or(u8::MAX);
        if s.flags.write && s.flags.execute {
            return Err(VerifyError::WritableAndExecutable { index });
        }
        let end = s.vaddr.checked_add(s.mem_size).ok_or(VerifyError::SegmentWraps { index })?;
        if s.vaddr < policy.user_start || end > policy.user_end {
            return Err(VerifyError::SegmentOutsideUserSpace { index });
        }
        if s.vaddr % PAGE_SIZE != s.file_offset % PAGE_SIZE {
            return Err(VerifyError::MisalignedSegment { index });
        }
        total = total.checked_add(s.mem_size).ok_or(VerifyError::ExcessiveMemory)?;
    }
    for (i, a) in segments.iter().enumerate() {
        for (j, b) in segments.iter().enumerate().skip(i + 1) {
            let first = u8::try_from(i).unwrap_or(u8::MAX);
            let second = u8::try_from(j).unwrap_or(u8::MAX);
            // Ends cannot overflow: checked above.
            let (a_end, b_end) = (a.vaddr + a.mem_size, b.vaddr + b.mem_size);
            if a.mem_size > 0 && b.mem_size > 0 && a.vaddr < b_end && b.vaddr < a_end {
                return Err(VerifyError::OverlappingSegments { first, second });
            }
            let ((a_lo, a_hi), (b_lo, b_hi)) = (page_span(a), page_span(b));
            if a.mem_size > 0 && b.mem_size > 0 && a_lo < b_hi && b_lo < a_hi && a.flags != b.flags {
                return Err(VerifyError::PagePermissionConflict { first, second });
            }
        }
    }
    if total > policy.max_image_memory {
        return Err(VerifyError::ExcessiveMemory);
    }
    let entry_ok =
        segments.iter().any(|s| s.flags.execute && image.entry >= s.vaddr && image.entry - s.vaddr < s.mem_size);
    if !entry_ok {
        return Err(VerifyError::EntryNotExecutable);
    }
    Ok(image)
}
