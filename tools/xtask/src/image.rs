// SPDX-License-Identifier: AGPL-3.0-or-later
//! The aarch64 boot image: a flat arm64 Image made from the kernel ELF's loadable segments.
//!
//! QEMU (like U-Boot `booti` and UEFI loaders) boots an arm64 kernel only as a flat binary
//! starting with the 64-byte arm64 Image header; given an ELF it passes no device tree and no
//! initrd (docs/boot.md). The kernel's linker script puts that header at the start of the
//! lowest `PT_LOAD` segment, so the image is every segment's file bytes placed at
//! `p_paddr - lowest p_paddr`, gaps zero-filled. `.bss` is not written: the header's
//! `image_size` already covers it.

use object::Endianness;
use object::elf::{EM_AARCH64, FileHeader64, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};

use crate::util::{Context, Error, Result, bail};

/// Offset of the `ARM\x64` magic in the arm64 Image header.
pub const ARM64_MAGIC_OFFSET: usize = 56;
/// The arm64 Image header magic (`"ARM\x64"` little-endian).
pub const ARM64_MAGIC: u32 = 0x644d_5241;
/// Offset of the `image_size` field.
const IMAGE_SIZE_OFFSET: usize = 16;
/// The largest image we will write (a guard against a stray segment at a far address).
const MAX_IMAGE: u64 = 256 << 20;

/// One loadable segment: physical address, file bytes, size in memory.
struct Segment<'a> {
    paddr: u64,
    bytes: &'a [u8],
    memsz: u64,
}

fn load_segments(elf: &[u8]) -> Result<Vec<Segment<'_>>> {
    let header = FileHeader64::<Endianness>::parse(elf).context("the kernel is not a 64-bit ELF file")?;
    let endian = header.endian().context("the kernel ELF has an unknown byte order")?;
    if header.e_machine(endian) != EM_AARCH64 {
        bail!("the kernel ELF is not an AArch64 file (e_machine {})", header.e_machine(endian));
    }
    let phdrs = header.program_headers(endian, elf).context("cannot read the kernel ELF program headers")?;
    let mut segments = Vec::new();
    for ph in phdrs.iter().filter(|ph| ph.p_type(endian) == PT_LOAD && ph.p_memsz(endian) > 0) {
        let bytes = ph
            .data(endian, elf)
            .map_err(|()| Error::new("a PT_LOAD segment of the kernel ELF lies outside the file"))?;
        segments.push(Segment { paddr: ph.p_paddr(endian), bytes, memsz: ph.p_memsz(endian) });
    }
    Ok(segments)
}

/// Builds the flat arm64 Image from the kernel ELF and checks its header.
pub fn arm64_image(elf: &[u8]) -> Result<Vec<u8>> {
    let segments = load_segments(elf)?;
    let Some(base) = segments.iter().map(|s| s.paddr).min() else {
        bail!("the kernel ELF has no loadable segments");
    };
    let mut file_end = 0u64;
    let mut mem_end = 0u64;
    for s in &segments {
        let offset = s.paddr - base;
        let end = |len: u64| offset.checked_add(len).ok_or_else(|| Error::new("kernel ELF segment addresses overflow"));
        if !s.bytes.is_empty() {
            file_end = file_end.max(end(s.bytes.len() as u64)?);
        }
        mem_end = mem_end.max(end(s.memsz)?);
    }
    if file_end > MAX_IMAGE {
        bail!(
            "the kernel's loadable segments span {file_end:#x} bytes from {base:#x} (more than {} MiB): check the linker script's load addresses",
            MAX_IMAGE >> 20
        );
    }
    let len = usize::try_from(file_end).context("kernel image too large")?;
    let mut image = vec![0u8; len];
    for s in segments.iter().filter(|s| !s.bytes.is_empty()) {
        let start = usize::try_from(s.paddr - base).context("kernel image too large")?;
        let dest = start
            .checked_add(s.bytes.len())
            .and_then(|end| image.get_mut(start..end))
            .ok_or_else(|| Error::new("internal error: segment outside the image"))?;
        dest.copy_from_slice(s.bytes);
    }
    check_arm64_header(&image, mem_end)?;
    Ok(image)
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(offset..offset.checked_add(8)?)?.try_into().ok()?))
}

/// Checks the arm64 Image header: the magic at offset 56 and an `image_size` that covers the
/// whole image, `.bss` included (`mem_size`, the span of all segments in memory).
pub fn check_arm64_header(image: &[u8], mem_size: u64) -> Result<()> {
    let magic = read_u32(image, ARM64_MAGIC_OFFSET);
    if magic != Some(ARM64_MAGIC) {
        bail!(
            "the aarch64 kernel has no arm64 Image header: expected magic {ARM64_MAGIC:#010x} (\"ARM\\x64\") at offset \
             {ARM64_MAGIC_OFFSET}, found {}; the header must be the first bytes of the lowest loadable segment \
             (kernel/kernel/link/aarch64.ld)",
            magic.map_or_else(|| "end of file".to_string(), |m| format!("{m:#010x}"))
        );
    }
    let image_size = read_u64(image, IMAGE_SIZE_OFFSET).unwrap_or(0);
    if image_size == 0 {
        bail!("the arm64 Image header has image_size 0 (QEMU would ignore text_offset); set it to the kernel's size");
    }
    if image_size < mem_size {
        bail!(
            "the arm64 Image header's image_size ({image_size:#x}) is smaller than the kernel in memory \
             ({mem_size:#x}, .bss included)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 file: header, program headers, then each segment's bytes.
    fn elf(machine: u16, segments: &[(u64, &[u8], u64)]) -> Vec<u8> {
        let phoff = 64u64;
        let data_start = phoff + 56 * segments.len() as u64;
        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        out.extend_from_slice(&machine.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&0x4020_0000u64.to_le_bytes()); // entry
        out.extend_from_slice(&phoff.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // shoff
        out.extend_from_slice(&0u32.to_le_bytes()); // flags
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&56u16.to_le_bytes());
        out.extend_from_slice(&(segments.len() as u16).to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        let mut offset = data_start;
        for (paddr, bytes, memsz) in segments {
            out.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
            out.extend_from_slice(&5u32.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&(0xffff_0000_0000_0000 + paddr).to_le_bytes()); // vaddr
            out.extend_from_slice(&paddr.to_le_bytes());
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(&memsz.to_le_bytes());
            out.extend_from_slice(&0x1000u64.to_le_bytes());
            offset += bytes.len() as u64;
        }
        for (_, bytes, _) in segments {
            out.extend_from_slice(bytes);
        }
        out
    }

    fn header(image_size: u64) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[0..4].copy_from_slice(&0x1400_0010u32.to_le_bytes()); // b +0x40
        h[16..24].copy_from_slice(&image_size.to_le_bytes());
        h[24..32].copy_from_slice(&2u64.to_le_bytes());
        h[56..60].copy_from_slice(&ARM64_MAGIC.to_le_bytes());
        h
    }

    #[test]
    fn segments_are_placed_by_physical_address() {
        let text = header(0x3000);
        let data = [7u8; 16];
        let file = elf(183, &[(0x4020_2000, &data, 0x1000), (0x4020_0000, &text, 64)]);
        let image = arm64_image(&file).unwrap();
        assert_eq!(image.len(), 0x2000 + 16);
        assert_eq!(&image[..64], &text[..]);
        assert!(image[64..0x2000].iter().all(|&b| b == 0));
        assert_eq!(&image[0x2000..], &data);
    }

    #[test]
    fn bss_only_segment_is_not_written() {
        let text = header(0x10000);
        let file = elf(183, &[(0x4020_0000, &text, 64), (0x4020_8000, &[], 0x8000)]);
        let image = arm64_image(&file).unwrap();
        assert_eq!(image.len(), 64);
    }

    #[test]
    fn missing_magic_is_reported() {
        let file = elf(183, &[(0x4020_0000, &[0u8; 64], 64)]);
        let e = arm64_image(&file).unwrap_err().to_string();
        assert!(e.contains("no arm64 Image header") && e.contains("0x644d5241"), "{e}");
        let file = elf(183, &[(0x4020_0000, &[0u8; 8], 8)]);
        assert!(arm64_image(&file).unwrap_err().to_string().contains("found end of file"));
    }

    #[test]
    fn image_size_must_cover_bss() {
        let text = header(0x100);
        let file = elf(183, &[(0x4020_0000, &text, 64), (0x4020_1000, &[], 0x1000)]);
        let e = arm64_image(&file).unwrap_err().to_string();
        assert!(e.contains("smaller than the kernel in memory"), "{e}");
        let file = elf(183, &[(0x4020_0000, &header(0), 64)]);
        assert!(arm64_image(&file).unwrap_err().to_string().contains("image_size 0"));
    }

    #[test]
    fn rejects_other_files() {
        let text = header(0x1000);
        assert!(arm64_image(&elf(62, &[(0x1000, &text, 64)])).unwrap_err().to_string().contains("not an AArch64"));
        assert!(arm64_image(b"not an elf").unwrap_err().to_string().contains("not a 64-bit ELF"));
        assert!(arm64_image(&elf(183, &[])).unwrap_err().to_string().contains("no loadable segments"));
        let far = elf(183, &[(0x4020_0000, &text, 64), (0x8_0000_0000, &[1], 1)]);
        assert!(arm64_image(&far).unwrap_err().to_string().contains("check the linker script"));
    }
}
