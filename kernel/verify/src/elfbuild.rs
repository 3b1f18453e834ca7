// SPDX-License-Identifier: AGPL-3.0-or-later
//! A tiny ELF64 writer for tests and tools (feature `std`): a file header, program headers and
//! segment bytes, nothing else. Segment data is placed at file offsets congruent to the virtual
//! address modulo 4 KiB (as a linker would) unless a test overrides the offset.

use crate::elf::{EHDR_SIZE, ET_EXEC, PF_R, PF_W, PF_X, PHDR_SIZE, PT_LOAD};
use cambios_abi::Arch;
use cambios_abi::layout::{PAGE_SIZE, USER_IMAGE_BASE};
use std::vec::Vec;

/// One program header to emit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSpec {
    /// `p_type` (`PT_LOAD` for loadable segments).
    pub p_type: u32,
    /// `p_flags`.
    pub p_flags: u32,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_memsz`.
    pub mem_size: u64,
    /// The file bytes (`p_filesz` is their length unless `file_size` overrides it).
    pub data: Vec<u8>,
    /// Overrides the computed `p_offset`.
    pub file_offset: Option<u64>,
    /// Overrides `p_filesz`.
    pub file_size: Option<u64>,
}

/// Builds an ELF64 little-endian executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfBuilder {
    /// `e_machine`.
    pub machine: u16,
    /// `e_type`.
    pub e_type: u16,
    /// `e_entry`.
    pub entry: u64,
    /// Program headers in order.
    pub headers: Vec<SegmentSpec>,
}

/// `r-x` flags.
pub const RX: u32 = PF_R | PF_X;
/// `rw-` flags.
pub const RW: u32 = PF_R | PF_W;
/// `r--` flags.
pub const R: u32 = PF_R;

impl ElfBuilder {
    /// An executable for `arch` with no segments and entry 0.
    pub fn new(arch: Arch) -> ElfBuilder {
        ElfBuilder { machine: arch.elf_machine(), e_type: ET_EXEC, entry: 0, headers: Vec::new() }
    }

    /// A typical small program: 64 bytes of text (`r-x`) at `USER_IMAGE_BASE` where it
    /// starts, and a data page (`rw-`, 16 bytes from the file plus BSS) one page above.
    pub fn minimal(arch: Arch) -> ElfBuilder {
        ElfBuilder::new(arch).entry(USER_IMAGE_BASE).load(USER_IMAGE_BASE, RX, &[0x90; 64], 64).load(
            USER_IMAGE_BASE + PAGE_SIZE,
            RW,
            &[0x11; 16],
            0x2000,
        )
    }

    /// Sets the entry point.
    pub fn entry(mut self, entry: u64) -> ElfBuilder {
        self.entry = entry;
        self
    }

    /// Adds a `PT_LOAD` segment.
    pub fn load(mut self, vaddr: u64, p_flags: u32, data: &[u8], mem_size: u64) -> ElfBuilder {
        self.headers.push(SegmentSpec {
            p_type: PT_LOAD,
            p_flags,
            vaddr,
            mem_size,
            data: data.to_vec(),
            file_offset: None,
            file_size: None,
        });
        self
    }

    /// Adds any program header.
    pub fn header(mut self, spec: SegmentSpec) -> ElfBuilder {
        self.headers.push(spec);
        self
    }

    /// Adds a non-loadable program header of type `p_type` with no data.
    pub fn other(mut self, p_type: u32) -> ElfBuilder {
        self.headers.push(SegmentSpec {
            p_type,
            p_flags: R,
            vaddr: 0,
            mem_size: 0,
            data: Vec::new(),
            file_offset: None,
            file_size: None,
        });
        self
    }

    /// The file bytes.
    pub fn build(&self) -> Vec<u8> {
        let phnum = self.headers.len();
        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF");
        out.extend_from_slice(&[2, 1, 1, 0]); // ELFCLASS64, ELFDATA2LSB, EV_CURRENT, SysV ABI
        out.resize(16, 0);
        out.extend_from_slice(&self.e_type.to_le_bytes());
        out.extend_from_slice(&self.machine.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes()); // e_version
        out.extend_from_slice(&self.entry.to_le_bytes());
        out.extend_from_slice(&(EHDR_SIZE as u64).to_le_bytes()); // e_phoff
        out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
        out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        out.extend_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
        out.extend_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        out.extend_from_slice(&(phnum as u16).to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
        out.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
        out.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
        let mut data_pos = (EHDR_SIZE + phnum * PHDR_SIZE) as u64;
        let mut placed = Vec::with_capacity(phnum);
        for h in &self.headers {
            let offset = match h.file_offset {
                Some(o) => o,
                // No file bytes: any offset congruent to the address will do.
                None if h.data.is_empty() => h.vaddr % PAGE_SIZE,
                None => {
                    let want = h.vaddr % PAGE_SIZE;
                    let mut pos = data_pos - data_pos % PAGE_SIZE + want;
                    if pos < data_pos {
                        pos += PAGE_SIZE;
                    }
                    data_pos = pos + h.data.len() as u64;
                    pos
                }
            };
            placed.push(offset);
        }
        for (h, offset) in self.headers.iter().zip(&placed) {
            out.extend_from_slice(&h.p_type.to_le_bytes());
            out.extend_from_slice(&h.p_flags.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&h.vaddr.to_le_bytes());
            out.extend_from_slice(&h.vaddr.to_le_bytes()); // p_paddr
            out.extend_from_slice(&h.file_size.unwrap_or(h.data.len() as u64).to_le_bytes());
            out.extend_from_slice(&h.mem_size.to_le_bytes());
            out.extend_from_slice(&PAGE_SIZE.to_le_bytes()); // p_align
        }
        for (h, offset) in self.headers.iter().zip(&placed) {
            if h.data.is_empty() {
                continue;
            }
            let start = usize::try_from(*offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(h.data.len());
            // An overridden offset far past the headers is a test of bounds checks: no data.
            if end > (16 << 20) {
                continue;
            }
            if out.len() < end {
                out.resize(end, 0);
            }
            if let Some(dst) = out.get_mut(start..end) {
                dst.copy_from_slice(&h.data);
            }
        }
        out
    }
}
