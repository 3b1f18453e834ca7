// SPDX-License-Identifier: AGPL-3.0-or-later
//! Flattened device tree (AArch64 arm64 Image boot, RISC-V OpenSBI payload boot).
//!
//! [`parse`] turns a DTB into a [`BootInfo`]:
//!
//! * RAM: every `reg` entry of every enabled `/memory` node (`memory@…` or
//!   `device_type = "memory"`);
//! * reserved: the DTB itself ([`ReservedKind::DeviceTree`], its `totalsize`), every
//!   `/memreserve/` entry and every enabled `/reserved-memory` child with a `reg`
//!   ([`ReservedKind::Firmware`]; OpenSBI puts its own memory there at run time), and the
//!   initrd (through [`BootInfo::add_module`]);
//! * `/chosen`: `bootargs`, `linux,initrd-start` / `linux,initrd-end` (32- or 64-bit cells) and
//!   `stdout-path` (options after `:` dropped, aliases resolved). The console must be
//!   `arm,pl011` or `ns16550a` / `ns16550` (with `reg-shift`); if `stdout-path` is missing,
//!   does not resolve or names another kind of device, the first enabled such UART is used;
//! * the interrupt controller (the root's `interrupt-parent` if it is supported, otherwise the
//!   first enabled one): `arm,gic-v3` (distributor = `reg[0]`, first redistributor region =
//!   `reg[1]`), `arm,cortex-a15-gic` / `arm,gic-400` / `arm,cortex-a7-gic` (GICv2), or
//!   `riscv,plic0` / `sifive,plic-1.0.0` (with `riscv,ndev`);
//! * interrupts: a node's `interrupts` (or `interrupts-extended`) decoded with its interrupt
//!   parent's `#interrupt-cells` (inherited from the nearest ancestor with `interrupt-parent`).
//!   GIC specifiers become INTIDs (SPI n → 32 + n, PPI n → 16 + n, extended SPI n → 4096 + n,
//!   extended PPI n → 1056 + n); one-cell specifiers (PLIC) are taken as they are;
//! * `/psci` `method` (`hvc` / `smc`), the `reg` of every enabled `/cpus/cpu@…`,
//!   `/cpus` `timebase-frequency`, and the generic timer's non-secure physical and virtual
//!   PPIs (`arm,armv8-timer`, specifiers 2 and 3).
//!
//! `reg` addresses of nodes below the root are translated through their buses' `ranges`
//! (an empty or missing `ranges` is taken as an identity mapping). Addresses or sizes wider
//! than two cells cannot be represented and such entries are skipped.
//!
//! ## Robustness
//!
//! Queries use the `fdt` crate (0.1.5), which indexes and unwraps on malformed input. So the
//! blob is first checked by [`validate`]: header fields and block bounds, the
//! `/memreserve/` block, and a full walk of the structure block (every token, node name,
//! property length and name offset; properties before child nodes; nesting at most
//! [`MAX_DEPTH`]; exactly one root; `#address-cells` / `#size-cells` exactly one cell and at
//! most 4). Only a blob that passes is handed to `fdt`, and only the crate's non-panicking
//! accessors are used (never `Fdt::chosen` / `cpus` / `memory` / `root` / `find_node`, whose
//! `expect`s or alias recursion could fire). Every iteration here is bounded.
//!
//! Known limitation: `FDT_NOP` tokens are rejected as [`BootError::BadDeviceTree`], because
//! `fdt` 0.1.5 mis-walks (and in some positions panics on) them. libfdt's `fdt_nop_node` /
//! `fdt_nop_property` create them (OpenSBI's domain fix-ups use them when a board's device
//! tree configures OpenSBI domains); QEMU's trees, and OpenSBI 1.5's fix-ups of them, have none.

use fdt::Fdt;
use fdt::node::FdtNode;
use kernel_core::memmap::Range;

use crate::{
    ArmTimerIrqs, BootError, BootInfo, BootProtocol, Cmdline, FirmwareTable, InterruptController, PsciConduit,
    ReservedKind, Uart, UartKind,
};

/// First word of every device tree blob (big-endian).
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of the version-17 header.
pub const HEADER_SIZE: usize = 40;
/// Deepest node nesting accepted (QEMU's trees nest 6 deep; the walks here recurse this far).
pub const MAX_DEPTH: usize = 16;
/// Most `/memreserve/` entries accepted.
pub const MAX_MEMRESERVE: usize = 64;

/// Most children looked at under one node.
const MAX_CHILDREN: usize = 4096;
/// Most `reg` / `ranges` entries looked at in one property.
const MAX_REG_ENTRIES: usize = 64;
/// Most cells accepted in `#address-cells` / `#size-cells`.
const MAX_CELLS: u32 = 4;
/// Most cells accepted in an interrupt specifier.
const MAX_INTERRUPT_CELLS: usize = 4;

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_END: u32 = 9;

const PL011: &[&str] = &["arm,pl011"];
const NS16550: &[&str] = &["ns16550a", "ns16550"];
const GIC_V3: &[&str] = &["arm,gic-v3"];
const GIC_V2: &[&str] = &["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a7-gic"];
const PLIC: &[&str] = &["riscv,plic0", "sifive,plic-1.0.0"];
const ARM_TIMER: &[&str] = &["arm,armv8-timer"];

/// The header fields the parser needs, as byte offsets and sizes inside the blob.
#[derive(Clone, Copy, Debug)]
struct Header {
    total: usize,
    off_struct: usize,
    size_struct: usize,
    off_strings: usize,
    size_strings: usize,
    off_rsvmap: usize,
}

/// The big-endian u32 at byte `off` of `bytes`.
fn be32(bytes: &[u8], off: usize) -> Option<u32> {
    let b = bytes.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?]))
}

/// The big-endian u64 at byte `off` of `bytes`.
fn be64(bytes: &[u8], off: usize) -> Option<u64> {
    let hi = u64::from(be32(bytes, off)?);
    let lo = u64::from(be32(bytes, off.checked_add(4)?)?);
    Some((hi << 32) | lo)
}

/// A value of one or two cells (4 or 8 bytes), as device trees encode addresses and sizes.
fn cells_value(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        0 => Some(0),
        4 => be32(bytes, 0).map(u64::from),
        8 => be64(bytes, 0),
        _ => None,
    }
}

/// `off` rounded up to a multiple of 4.
fn align4(off: usize) -> Option<usize> {
    off.checked_next_multiple_of(4)
}

/// The `totalsize` field of the device tree whose first (at least 8) bytes are `header`,
/// after checking the magic number. Entry code uses it to size the slice it hands to
/// [`parse`].
///
/// # Errors
///
/// [`BootError::BadDeviceTree`] for a short buffer, a wrong magic number or a `totalsize`
/// smaller than the header.
pub fn total_size(header: &[u8]) -> Result<u32, BootError> {
    if be32(header, 0) != Some(FDT_MAGIC) {
        return Err(BootError::BadDeviceTree);
    }
    let total = be32(header, 4).ok_or(BootError::BadDeviceTree)?;
    if (total as usize) < HEADER_SIZE {
        return Err(BootError::BadDeviceTree);
    }
    Ok(total)
}

/// Checks everything about `dtb` that the `fdt` crate would otherwise index or unwrap on.
/// On success returns the blob cut to its `totalsize`.
///
/// # Errors
///
/// [`BootError::BadDeviceTree`] for any structural problem (see the module documentation).
pub fn validate(dtb: &[u8]) -> Result<&[u8], BootError> {
    validate_header(dtb).map(|(blob, _)| blob)
}

fn validate_header(dtb: &[u8]) -> Result<(&[u8], Header), BootError> {
    const BAD: BootError = BootError::BadDeviceTree;
    let total = total_size(dtb)? as usize;
    let blob = dtb.get(..total).ok_or(BAD)?;
    let field = |off: usize| be32(blob, off).map(|v| v as usize).ok_or(BAD);
    let h = Header {
        total,
        off_struct: field(8)?,
        off_strings: field(12)?,
        off_rsvmap: field(16)?,
        size_strings: field(32)?,
        size_struct: field(36)?,
    };
    let version = field(20)?;
    let last_compatible = field(24)?;
    // Version 17 added size_dt_struct, which the fdt crate relies on; a tree that is not
    // backwards compatible with version 17 has a layout this code does not know.
    if version < 17 || last_compatible > 17 {
        return Err(BAD);
    }
    let struct_end = h.off_struct.checked_add(h.size_struct).ok_or(BAD)?;
    let strings_end = h.off_strings.checked_add(h.size_strings).ok_or(BAD)?;
    if h.off_struct < HEADER_SIZE
        || !h.off_struct.is_multiple_of(4)
        || !h.size_struct.is_multiple_of(4)
        || struct_end > h.total
    {
        return Err(BAD);
    }
    if h.off_strings < HEADER_SIZE || strings_end > h.total {
        return Err(BAD);
    }
    if h.off_rsvmap < HEADER_SIZE || !h.off_rsvmap.is_multiple_of(8) {
        return Err(BAD);
    }
    let mut terminated = false;
    for i in 0..MAX_MEMRESERVE {
        let off = h.off_rsvmap.checked_add(i * 16).ok_or(BAD)?;
        let addr = be64(blob, off).ok_or(BAD)?;
        let size = be64(blob, off + 8).ok_or(BAD)?;
        if addr == 0 && size == 0 {
            terminated = true;
            break;
        }
    }
    if !terminated {
        return Err(BAD);
    }
    let structs = blob.get(h.off_struct..struct_end).ok_or(BAD)?;
    let strings = blob.get(h.off_strings..strings_end).ok_or(BAD)?;
    validate_structure(structs, strings)?;
    Ok((blob, h))
}

/// True for bytes allowed in node and property names (printable ASCII, no space).
fn name_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

/// Walks the structure block token by token (see the module documentation).
fn validate_structure(structs: &[u8], strings: &[u8]) -> Result<(), BootError> {
    const BAD: BootError = BootError::BadDeviceTree;
    let mut pos = 0usize;
    let mut depth = 0usize;
    let mut seen_root = false;
    // True once the current node has had a child: no more properties allowed in it.
    let mut in_children = false;
    // Every token takes at least 4 bytes.
    for _ in 0..=structs.len() / 4 {
        let token = be32(structs, pos).ok_or(BAD)?;
        pos += 4;
        match token {
            FDT_BEGIN_NODE => {
                if depth == 0 && seen_root {
                    return Err(BAD);
                }
                let rest = structs.get(pos..).ok_or(BAD)?;
                let len = rest.iter().position(|&b| b == 0).ok_or(BAD)?;
                let name = rest.get(..len).ok_or(BAD)?;
                // The root's name is empty, every other node's is not.
                if (depth == 0) != name.is_empty() || name.contains(&b'/') || !name.iter().all(|&b| name_byte(b)) {
                    return Err(BAD);
                }
                pos = align4(pos + len + 1).ok_or(BAD)?;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(BAD);
                }
                seen_root = true;
                in_children = false;
            }
            FDT_END_NODE => {
                depth = depth.checked_sub(1).ok_or(BAD)?;
                in_children = true;
            }
            FDT_PROP => {
                if depth == 0 || in_children {
                    return Err(BAD);
                }
                let len = be32(structs, pos).ok_or(BAD)? as usize;
                let name_off = be32(structs, pos + 4).ok_or(BAD)? as usize;
                pos += 8;
                let value_end = pos.checked_add(len).ok_or(BAD)?;
                let value = structs.get(pos..value_end).ok_or(BAD)?;
                let name_rest = strings.get(name_off..).ok_or(BAD)?;
                let name_len = name_rest.iter().position(|&b| b == 0).ok_or(BAD)?;
                let name = name_rest.get(..name_len).ok_or(BAD)?;
                if !name.iter().all(|&b| name_byte(b)) {
                    return Err(BAD);
                }
                if name == b"#address-cells" || name == b"#size-cells" {
                    // fdt's cell_sizes() expects on a short value.
                    if value.len() != 4 || be32(value, 0).is_none_or(|c| c > MAX_CELLS) {
                        return Err(BAD);
                    }
                }
                pos = align4(value_end).ok_or(BAD)?;
            }
            FDT_END => {
                return if depth == 0 && seen_root { Ok(()) } else { Err(BAD) };
            }
            // FDT_NOP too: see the module documentation.
            _ => return Err(BAD),
        }
    }
    Err(BAD)
}

/// A node and the nodes above it, root first (the root itself has no ancestors).
#[derive(Clone, Copy)]
struct Found<'b, 'a> {
    node: FdtNode<'b, 'a>,
    ancestors: [Option<FdtNode<'b, 'a>>; MAX_DEPTH],
    depth: usize,
}

impl<'b, 'a> Found<'b, 'a> {
    fn root(root: FdtNode<'b, 'a>) -> Self {
        Found { node: root, ancestors: [None; MAX_DEPTH], depth: 0 }
    }

    /// The ancestors, root first.
    fn ancestors(&self) -> impl DoubleEndedIterator<Item = FdtNode<'b, 'a>> + '_ {
        self.ancestors.get(..self.depth).unwrap_or(&[]).iter().flatten().copied()
    }

    fn parent(&self) -> Option<FdtNode<'b, 'a>> {
        self.ancestors().next_back()
    }

    /// Steps down to `child` of the current node.
    fn descend(&mut self, child: FdtNode<'b, 'a>) -> Option<()> {
        *self.ancestors.get_mut(self.depth)? = Some(self.node);
        self.depth += 1;
        self.node = child;
        Some(())
    }

    /// The `index`th `reg` entry, translated to a CPU physical range.
    fn reg(&self, index: usize) -> Option<Range> {
        self.regs().nth(index).flatten()
    }

    /// Every `reg` entry, translated (`None` for an entry that cannot be represented).
    fn regs(&self) -> impl Iterator<Item = Option<Range>> + '_ {
        let (ac, sc) = self.parent().map_or((2, 1), |p| {
            let c = p.cell_sizes();
            (c.address_cells, c.size_cells)
        });
        // Without address cells there are no addresses (and a zero chunk size is not allowed).
        let value = if ac == 0 { &[][..] } else { self.node.property("reg").map_or(&[][..], |p| p.value) };
        let entry = (ac + sc).max(1) * 4;
        value.chunks_exact(entry).take(MAX_REG_ENTRIES).map(move |e| {
            let addr = cells_value(e.get(..ac * 4)?)?;
            let size = cells_value(e.get(ac * 4..)?)?;
            let addr = self.translate(addr)?;
            Some(Range { start: addr, end: addr.checked_add(size)? })
        })
    }

    /// Translates a bus address of this node's parent bus up to the root's address space.
    fn translate(&self, mut addr: u64) -> Option<u64> {
        // ancestors[i] is the bus, ancestors[i - 1] its parent; the root needs no translation.
        let buses = self.ancestors.get(..self.depth).unwrap_or(&[]);
        for pair in buses.windows(2).rev() {
            let (Some(parent), Some(bus)) = (pair.first().copied().flatten(), pair.get(1).copied().flatten()) else {
                return None;
            };
            addr = translate_through(bus, parent, addr)?;
        }
        Some(addr)
    }
}

/// Maps `addr` from `bus`'s child address space into `parent`'s through `bus`'s `ranges`.
fn translate_through(bus: FdtNode<'_, '_>, parent: FdtNode<'_, '_>, addr: u64) -> Option<u64> {
    let Some(ranges) = bus.property("ranges") else {
        // No `ranges`: not strictly translatable; accepted as identity.
        return Some(addr);
    };
    if ranges.value.is_empty() {
        return Some(addr);
    }
    let child = bus.cell_sizes();
    let (cac, csc) = (child.address_cells, child.size_cells);
    let pac = parent.cell_sizes().address_cells;
    let entry = (cac + pac + csc) * 4;
    if cac == 0 || pac == 0 {
        return None;
    }
    for e in ranges.value.chunks_exact(entry).take(MAX_REG_ENTRIES) {
        let child_addr = cells_value(e.get(..cac * 4)?)?;
        let parent_addr = cells_value(e.get(cac * 4..(cac + pac) * 4)?)?;
        let size = cells_value(e.get((cac + pac) * 4..)?)?;
        if addr >= child_addr && addr - child_addr < size {
            return parent_addr.checked_add(addr - child_addr);
        }
    }
    None
}

/// The string value of `node`'s property `name` up to its first NUL.
fn prop_str<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    let value = node.property(name)?.value;
    let text = value.split(|&b| b == 0).next()?;
    core::str::from_utf8(text).ok()
}

/// The one- or two-cell value of `node`'s property `name`.
fn prop_u64(node: FdtNode<'_, '_>, name: &str) -> Option<u64> {
    let value = node.property(name)?.value;
    if value.is_empty() { None } else { cells_value(value) }
}

/// The one-cell value of `node`'s property `name`.
fn prop_u32(node: FdtNode<'_, '_>, name: &str) -> Option<u32> {
    let value = node.property(name)?.value;
    if value.len() == 4 { be32(value, 0) } else { None }
}

/// True unless `status` says the device is not usable.
fn is_enabled(node: FdtNode<'_, '_>) -> bool {
    match prop_str(node, "status") {
        None => true,
        Some(s) => s == "okay" || s == "ok",
    }
}

/// True when `node`'s `compatible` list contains one of `with`.
fn is_compatible(node: FdtNode<'_, '_>, with: &[&str]) -> bool {
    node.compatible().is_some_and(|c| c.all().take(64).any(|s| with.contains(&s)))
}

/// The node's name without its `@unit-address`.
fn base_name<'a>(node: FdtNode<'_, 'a>) -> &'a str {
    node.name.split('@').next().unwrap_or(node.name)
}

/// Looks up an absolute `path`; components without `@` match any unit address.
fn lookup<'b, 'a>(root: FdtNode<'b, 'a>, path: &str) -> Option<Found<'b, 'a>> {
    let mut found = Found::root(root);
    for comp in path.split('/').filter(|c| !c.is_empty()).take(MAX_DEPTH) {
        let child = found
            .node
            .children()
            .take(MAX_CHILDREN)
            .find(|c| c.name == comp || (!comp.contains('@') && base_name(*c) == comp))?;
        found.descend(child)?;
    }
    Some(found)
}

/// Depth-first search for the first node `pred` accepts.
fn search<'b, 'a>(root: FdtNode<'b, 'a>, pred: &mut dyn FnMut(FdtNode<'b, 'a>) -> bool) -> Option<Found<'b, 'a>> {
    let mut at = Found::root(root);
    search_below(&mut at, pred).then_some(at)
}

/// `search` from `at.node`: true with `at` on the match, or false with `at` unchanged.
/// Recursion depth is bounded by [`MAX_DEPTH`] (checked by [`validate`], and by `descend`
/// failing past it); each level holds only a child iterator, so the stack stays small.
fn search_below<'b, 'a>(at: &mut Found<'b, 'a>, pred: &mut dyn FnMut(FdtNode<'b, 'a>) -> bool) -> bool {
    if pred(at.node) {
        return true;
    }
    let node = at.node;
    let depth = at.depth;
    for child in node.children().take(MAX_CHILDREN) {
        if at.descend(child).is_none() {
            return false;
        }
        if search_below(at, pred) {
            return true;
        }
        at.depth = depth;
        at.node = node;
    }
    false
}

/// The node whose `phandle` (or legacy `linux,phandle`) is `phandle`.
fn by_phandle<'b, 'a>(root: FdtNode<'b, 'a>, phandle: u32) -> Option<Found<'b, 'a>> {
    search(root, &mut |n| prop_u32(n, "phandle").or_else(|| prop_u32(n, "linux,phandle")) == Some(phandle))
}

/// The first enabled node compatible with one of `with`.
fn by_compatible<'b, 'a>(root: FdtNode<'b, 'a>, with: &[&str]) -> Option<Found<'b, 'a>> {
    search(root, &mut |n| is_enabled(n) && is_compatible(n, with))
}

/// Decodes one interrupt specifier of the controller `ctrl` into an interrupt number.
fn decode_interrupt(ctrl: FdtNode<'_, '_>, spec: &[u8]) -> Option<u32> {
    if spec.len() >= 12 && (is_compatible(ctrl, GIC_V3) || is_compatible(ctrl, GIC_V2)) {
        let n = be32(spec, 4)?;
        return match be32(spec, 0)? {
            0 => n.checked_add(32),
            1 => n.checked_add(16),
            2 => n.checked_add(4096),
            3 => n.checked_add(1056),
            _ => None,
        };
    }
    be32(spec, 0)
}

/// The `#interrupt-cells` of `ctrl`, if usable.
fn interrupt_cells(ctrl: FdtNode<'_, '_>) -> Option<usize> {
    ctrl.interrupt_cells().filter(|&c| (1..=MAX_INTERRUPT_CELLS).contains(&c))
}

/// The `index`th interrupt of `found`, as a number on its interrupt controller.
fn interrupt(root: FdtNode<'_, '_>, found: &Found<'_, '_>, index: usize) -> Option<u32> {
    if let Some(prop) = found.node.property("interrupts") {
        let parent = core::iter::once(found.node)
            .chain(found.ancestors().rev())
            .find_map(|n| prop_u32(n, "interrupt-parent"))?;
        let ctrl = by_phandle(root, parent)?.node;
        let cells = interrupt_cells(ctrl)?;
        let spec = prop.value.chunks_exact(cells * 4).nth(index)?;
        return decode_interrupt(ctrl, spec);
    }
    // interrupts-extended: <phandle specifier...> pairs, each with its own controller.
    let value = found.node.property("interrupts-extended")?.value;
    let mut pos = 0usize;
    for i in 0..=index.min(MAX_REG_ENTRIES) {
        let ctrl = by_phandle(root, be32(value, pos)?)?.node;
        let cells = interrupt_cells(ctrl)?;
        let start = pos.checked_add(4)?;
        let end = start.checked_add(cells * 4)?;
        if i == index {
            return decode_interrupt(ctrl, value.get(start..end)?);
        }
        pos = end;
    }
    None
}

/// The console described by `found`, if it is a supported UART.
fn uart_at(root: FdtNode<'_, '_>, found: &Found<'_, '_>) -> Option<Uart> {
    let node = found.node;
    let kind = if is_compatible(node, PL011) {
        UartKind::Pl011
    } else if is_compatible(node, NS16550) {
        let shift = prop_u32(node, "reg-shift").unwrap_or(0);
        UartKind::Ns16550Mmio { reg_shift: u8::try_from(shift).ok().filter(|&s| s < 8)? }
    } else {
        return None;
    };
    Some(Uart { base: found.reg(0)?.start, kind, irq: interrupt(root, found, 0) })
}

/// The UART `/chosen/stdout-path` names (options and aliases handled), if supported.
fn stdout_uart(root: FdtNode<'_, '_>, chosen: FdtNode<'_, '_>) -> Option<Uart> {
    let raw = prop_str(chosen, "stdout-path").or_else(|| prop_str(chosen, "linux,stdout-path"))?;
    let path = raw.split(':').next()?;
    let path = if path.starts_with('/') {
        path
    } else {
        let aliases = lookup(root, "/aliases")?.node;
        prop_str(aliases, path).filter(|p| p.starts_with('/'))?
    };
    let found = lookup(root, path)?;
    if !is_enabled(found.node) {
        return None;
    }
    uart_at(root, &found)
}

/// The interrupt controller described by `found`, if supported and complete.
fn controller_at(found: &Found<'_, '_>) -> Option<InterruptController> {
    let node = found.node;
    if is_compatible(node, GIC_V3) {
        Some(InterruptController::GicV3 { distributor: found.reg(0)?, redistributor: found.reg(1)? })
    } else if is_compatible(node, GIC_V2) {
        Some(InterruptController::GicV2 { distributor: found.reg(0)?, cpu_interface: found.reg(1)? })
    } else if is_compatible(node, PLIC) {
        Some(InterruptController::Plic { regs: found.reg(0)?, sources: prop_u32(node, "riscv,ndev").unwrap_or(0) })
    } else {
        None
    }
}

/// Parses the device tree `dtb`, which the boot loader placed at physical `dtb_paddr`.
///
/// `dtb` may be longer than the tree; only its first `totalsize` bytes are used.
///
/// # Errors
///
/// [`BootError::BadDeviceTree`] when the blob fails [`validate`], [`BootError::NoMemory`]
/// when no `/memory` node reports RAM, and [`BootError::Malformed`] for contents that cannot
/// be right (a range wrapping around the address space, an initrd ending before it starts).
pub fn parse(dtb_paddr: u64, dtb: &[u8], protocol: BootProtocol) -> Result<BootInfo, BootError> {
    let (blob, header) = validate_header(dtb)?;
    let fdt = Fdt::new(blob).map_err(|_| BootError::BadDeviceTree)?;
    let root = fdt.all_nodes().next().ok_or(BootError::BadDeviceTree)?;

    let mut info = BootInfo::new(protocol);
    let total = header.total as u64;
    let dtb_end = dtb_paddr.checked_add(total).ok_or(BootError::Malformed)?;
    info.firmware = FirmwareTable::DeviceTree { addr: dtb_paddr, size: total };
    info.reserve(Range { start: dtb_paddr, end: dtb_end }, ReservedKind::DeviceTree);

    read_memory(root, &mut info)?;
    read_reservations(blob, header, root, &mut info)?;
    read_chosen(root, &mut info)?;

    info.interrupt_controller = prop_u32(root, "interrupt-parent")
        .and_then(|ph| by_phandle(root, ph))
        .and_then(|f| controller_at(&f))
        .or_else(|| {
            let all: &[&[&str]] = &[GIC_V3, GIC_V2, PLIC];
            let f = search(root, &mut |n| is_enabled(n) && all.iter().any(|with| is_compatible(n, with)))?;
            controller_at(&f)
        })
        .unwrap_or(InterruptController::Unknown);

    if let Some(psci) = lookup(root, "/psci").filter(|f| is_enabled(f.node)) {
        info.psci = match prop_str(psci.node, "method") {
            Some("hvc") => PsciConduit::Hvc,
            Some("smc") => PsciConduit::Smc,
            _ => PsciConduit::None,
        };
    }

    read_cpus(root, &mut info);
    read_plic_contexts(root, &mut info);

    if let Some(timer) = by_compatible(root, ARM_TIMER) {
        let phys_el1 = interrupt(root, &timer, 1);
        let virt = interrupt(root, &timer, 2);
        if let (Some(phys_el1), Some(virt)) = (phys_el1, virt) {
            info.arm_timer = Some(ArmTimerIrqs { phys_el1, virt });
        }
    }
    Ok(info)
}

/// Records the RAM of every enabled memory node.
fn read_memory(root: FdtNode<'_, '_>, info: &mut BootInfo) -> Result<(), BootError> {
    for node in root.children().take(MAX_CHILDREN) {
        let is_memory = base_name(node) == "memory" || prop_str(node, "device_type") == Some("memory");
        if !is_memory || !is_enabled(node) {
            continue;
        }
        let mut found = Found::root(root);
        found.descend(node).ok_or(BootError::BadDeviceTree)?;
        for range in found.regs() {
            info.add_memory(range.ok_or(BootError::Malformed)?);
        }
    }
    if info.memory.is_empty() {
        return Err(BootError::NoMemory);
    }
    Ok(())
}

/// Reserves the `/memreserve/` entries and the `/reserved-memory` children.
fn read_reservations(blob: &[u8], h: Header, root: FdtNode<'_, '_>, info: &mut BootInfo) -> Result<(), BootError> {
    for i in 0..MAX_MEMRESERVE {
        let off = h.off_rsvmap + i * 16;
        let addr = be64(blob, off).ok_or(BootError::BadDeviceTree)?;
        let size = be64(blob, off + 8).ok_or(BootError::BadDeviceTree)?;
        if addr == 0 && size == 0 {
            break;
        }
        let end = addr.checked_add(size).ok_or(BootError::Malformed)?;
        info.reserve(Range { start: addr, end }, ReservedKind::Firmware);
    }
    if let Some(resv) = lookup(root, "/reserved-memory") {
        for child in resv.node.children().take(MAX_CHILDREN) {
            if !is_enabled(child) {
                continue;
            }
            let mut found = resv;
            found.descend(child).ok_or(BootError::BadDeviceTree)?;
            // Children without `reg` are allocated by the OS later (`size` / `alloc-ranges`).
            let kind =
                if child.property("no-map").is_some() { ReservedKind::FirmwareNoMap } else { ReservedKind::Firmware };
            for range in found.regs() {
                info.reserve(range.ok_or(BootError::Malformed)?, kind);
            }
        }
    }
    Ok(())
}

/// Reads `/chosen`: command line, initrd, console.
fn read_chosen(root: FdtNode<'_, '_>, info: &mut BootInfo) -> Result<(), BootError> {
    let chosen = lookup(root, "/chosen").map(|f| f.node);
    if let Some(chosen) = chosen {
        if let Some(args) = chosen.property("bootargs") {
            info.cmdline = Cmdline::from_bytes(args.value);
        }
        let start = prop_u64(chosen, "linux,initrd-start");
        let end = prop_u64(chosen, "linux,initrd-end");
        if let (Some(start), Some(end)) = (start, end) {
            if end < start {
                return Err(BootError::Malformed);
            }
            info.add_module(Range { start, end });
        }
    }
    info.uart = chosen.and_then(|c| stdout_uart(root, c)).or_else(|| {
        let found = by_compatible(root, &["arm,pl011", "ns16550a", "ns16550"])?;
        uart_at(root, &found)
    });
    Ok(())
}

/// Records the enabled CPUs and the timebase frequency.
/// RISC-V interrupt cause of a supervisor external interrupt (the `interrupts-extended` entry
/// that routes a PLIC context to a hart's S-mode).
const SUPERVISOR_EXTERNAL: u32 = 9;

/// Records, for each hart, the PLIC context wired to its supervisor external interrupt. The
/// PLIC's `interrupts-extended` lists one `<cpu-intc-phandle cause>` pair per context, in
/// context order; the phandle names a hart's `riscv,cpu-intc`, whose parent is the cpu node.
fn read_plic_contexts(root: FdtNode<'_, '_>, info: &mut BootInfo) {
    let Some(plic) = by_compatible(root, PLIC) else { return };
    let Some(value) = plic.node.property("interrupts-extended").map(|p| p.value) else { return };
    let mut slot = 0usize;
    for (context, pair) in value.chunks_exact(8).take(MAX_CHILDREN).enumerate() {
        let (Some(phandle), Some(cause)) = (be32(pair, 0), be32(pair, 4)) else { break };
        if cause != SUPERVISOR_EXTERNAL {
            continue;
        }
        let Some(intc) = by_phandle(root, phandle) else { continue };
        let hart = intc.parent().and_then(|cpu| cpu.property("reg")).and_then(|reg| cells_value(reg.value));
        let (Some(hart), Ok(context)) = (hart, u32::try_from(context)) else { continue };
        if let Some(entry) = info.plic_contexts.get_mut(slot) {
            *entry = Some(crate::PlicContext { hart, context });
            slot += 1;
        }
    }
}

fn read_cpus(root: FdtNode<'_, '_>, info: &mut BootInfo) {
    let Some(cpus) = lookup(root, "/cpus") else {
        return;
    };
    let ac = cpus.node.cell_sizes().address_cells;
    info.timebase_hz = prop_u64(cpus.node, "timebase-frequency");
    for cpu in cpus.node.children().take(MAX_CHILDREN) {
        if base_name(cpu) != "cpu" || !is_enabled(cpu) {
            continue;
        }
        if info.timebase_hz.is_none() {
            info.timebase_hz = prop_u64(cpu, "timebase-frequency");
        }
        let Some(reg) = cpu.property("reg") else {
            continue;
        };
        // The first `#address-cells` cells of `reg` are the hardware id (MPIDR or hart id).
        if let Some(id) = (1..=2).contains(&ac).then(|| reg.value.get(..ac * 4)).flatten().and_then(cells_value) {
            info.add_cpu(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Module, Reserved};

    const AARCH64_GICV3: &[u8] = include_bytes!("testdata/qemu10-aarch64-virt-gicv3-smp2-256M.dtb");
    const AARCH64_GICV2_EL2: &[u8] = include_bytes!("testdata/qemu10-aarch64-virt-gicv2-el2-smp4-512M.dtb");
    const RISCV64: &[u8] = include_bytes!("testdata/qemu10-riscv64-virt-smp2-128M.dtb");
    const RISCV64_RUNTIME: &[u8] = include_bytes!("testdata/qemu10-riscv64-virt-smp2-128M-opensbi1.5-runtime.dtb");

    fn reserved(info: &BootInfo) -> Vec<Reserved> {
        info.reserved_ranges().copied().collect()
    }

    fn cpus(info: &BootInfo) -> Vec<u64> {
        info.cpu_id_list().collect()
    }

    #[test]
    fn qemu_aarch64_gicv3() {
        let info = parse(0x4820_0000, AARCH64_GICV3, BootProtocol::ArmImage).unwrap();
        assert_eq!(info.protocol, BootProtocol::ArmImage);
        assert_eq!(info.memory.as_slice(), &[Range::from_len(0x4000_0000, 0x1000_0000)]);
        let initrd = Range { start: 0x4800_0000, end: 0x4800_003c };
        assert_eq!(info.module_list().copied().collect::<Vec<_>>(), vec![Module { range: initrd }]);
        assert_eq!(
            reserved(&info),
            vec![
                Reserved { range: Range::from_len(0x4820_0000, 0x10_0000), kind: ReservedKind::DeviceTree },
                Reserved { range: initrd, kind: ReservedKind::Module },
            ]
        );
        assert_eq!(info.cmdline.as_str(), "console=ttyAMA0 foo=bar");
        assert_eq!(info.firmware, FirmwareTable::DeviceTree { addr: 0x4820_0000, size: 0x10_0000 });
        assert_eq!(info.uart, Some(Uart { base: 0x900_0000, kind: UartKind::Pl011, irq: Some(33) }));
        assert_eq!(
            info.interrupt_controller,
            InterruptController::GicV3 {
                distributor: Range::from_len(0x800_0000, 0x1_0000),
                redistributor: Range::from_len(0x80a_0000, 0xf6_0000),
            }
        );
        assert_eq!(info.psci, PsciConduit::Hvc);
        assert_eq!(cpus(&info), vec![0, 1]);
        assert_eq!(info.timebase_hz, None);
        assert_eq!(info.arm_timer, Some(ArmTimerIrqs { phys_el1: 30, virt: 27 }));
        assert_eq!(info.dropped_memory + info.dropped_reserved + info.dropped_modules + info.dropped_cpus, 0);
    }

    #[test]
    fn qemu_aarch64_gicv2_at_el2() {
        // -M virt,gic-version=2,virtualization=on -cpu max -smp 4 -m 512M, no -initrd.
        let info = parse(0x6000_0000, AARCH64_GICV2_EL2, BootProtocol::ArmImage).unwrap();
        assert_eq!(info.memory.as_slice(), &[Range::from_len(0x4000_0000, 0x2000_0000)]);
        assert_eq!(info.module_list().count(), 0);
        assert_eq!(info.cmdline.as_str(), "console=ttyAMA0");
        assert_eq!(info.uart, Some(Uart { base: 0x900_0000, kind: UartKind::Pl011, irq: Some(33) }));
        assert_eq!(
            info.interrupt_controller,
            InterruptController::GicV2 {
                distributor: Range::from_len(0x800_0000, 0x1_0000),
                cpu_interface: Range::from_len(0x801_0000, 0x1_0000),
            }
        );
        assert_eq!(info.psci, PsciConduit::Smc);
        assert_eq!(cpus(&info), vec![0, 1, 2, 3]);
        assert_eq!(info.arm_timer, Some(ArmTimerIrqs { phys_el1: 30, virt: 27 }));
    }

    fn check_qemu_riscv(info: &BootInfo) {
        assert_eq!(info.protocol, BootProtocol::OpenSbi);
        assert_eq!(info.memory.as_slice(), &[Range::from_len(0x8000_0000, 0x800_0000)]);
        let initrd = Range { start: 0x8420_0000, end: 0x8420_003c };
        assert_eq!(info.module_list().map(|m| m.range).collect::<Vec<_>>(), vec![initrd]);
        assert_eq!(info.cmdline.as_str(), "console=ttyS0 x=1");
        assert_eq!(
            info.uart,
            Some(Uart { base: 0x1000_0000, kind: UartKind::Ns16550Mmio { reg_shift: 0 }, irq: Some(10) })
        );
        assert_eq!(
            info.interrupt_controller,
            InterruptController::Plic { regs: Range::from_len(0xc00_0000, 0x60_0000), sources: 0x5f }
        );
        assert_eq!(info.psci, PsciConduit::None);
        assert_eq!(cpus(info), vec![0, 1]);
        // QEMU virt wires M-mode then S-mode contexts per hart.
        assert_eq!((info.plic_s_context(0), info.plic_s_context(1), info.plic_s_context(2)), (Some(1), Some(3), None));
        assert_eq!(info.timebase_hz, Some(10_000_000));
        assert_eq!(info.arm_timer, None);
    }

    #[test]
    fn qemu_riscv64_dumped() {
        let info = parse(0x87e0_0000, RISCV64, BootProtocol::OpenSbi).unwrap();
        check_qemu_riscv(&info);
        assert_eq!(info.firmware, FirmwareTable::DeviceTree { addr: 0x87e0_0000, size: 6113 });
        assert_eq!(
            reserved(&info),
            vec![
                Reserved { range: Range::from_len(0x87e0_0000, 6113), kind: ReservedKind::DeviceTree },
                Reserved { range: Range { start: 0x8420_0000, end: 0x8420_003c }, kind: ReservedKind::Module },
            ]
        );
    }

    #[test]
    fn qemu_riscv64_after_opensbi() {
        // The tree OpenSBI 1.5 passes in a1 (memory dump at 0x87e00000): it adds
        // /reserved-memory/mmode_resv{0,1}.
        let info = parse(0x87e0_0000, RISCV64_RUNTIME, BootProtocol::OpenSbi).unwrap();
        check_qemu_riscv(&info);
        assert_eq!(
            reserved(&info),
            vec![
                Reserved { range: Range::from_len(0x87e0_0000, 7169), kind: ReservedKind::DeviceTree },
                Reserved { range: Range::from_len(0x8000_0000, 0x4_0000), kind: ReservedKind::FirmwareNoMap },
                Reserved { range: Range::from_len(0x8004_0000, 0x2_0000), kind: ReservedKind::FirmwareNoMap },
                Reserved { range: Range { start: 0x8420_0000, end: 0x8420_003c }, kind: ReservedKind::Module },
            ]
        );
        // The usable memory excludes OpenSBI, the initrd and the tree.
        let usable = info.usable_memory().unwrap();
        assert_eq!(
            usable.as_slice(),
            &[
                Range { start: 0x8006_0000, end: 0x8420_0000 },
                Range { start: 0x8420_1000, end: 0x87e0_0000 },
                Range { start: 0x87e0_2000, end: 0x8800_0000 },
            ]
        );
    }

    #[test]
    fn trailing_bytes_after_totalsize_are_ignored() {
        let mut long = RISCV64.to_vec();
        long.extend_from_slice(&[0xff; 100]);
        let info = parse(0x87e0_0000, &long, BootProtocol::OpenSbi).unwrap();
        assert_eq!(info.firmware, FirmwareTable::DeviceTree { addr: 0x87e0_0000, size: 6113 });
        assert_eq!(total_size(&long), Ok(6113));
        assert_eq!(validate(&long).unwrap().len(), 6113);
    }

    /// Builds device tree blobs for tests.
    struct Builder {
        structs: Vec<u8>,
        strings: Vec<u8>,
        rsv: Vec<(u64, u64)>,
    }

    impl Builder {
        fn new() -> Self {
            Builder { structs: Vec::new(), strings: Vec::new(), rsv: Vec::new() }
        }
        fn token(&mut self, t: u32) -> &mut Self {
            self.structs.extend_from_slice(&t.to_be_bytes());
            self
        }
        fn pad(&mut self) {
            while !self.structs.len().is_multiple_of(4) {
                self.structs.push(0);
            }
        }
        fn begin(&mut self, name: &str) -> &mut Self {
            self.token(FDT_BEGIN_NODE);
            self.structs.extend_from_slice(name.as_bytes());
            self.structs.push(0);
            self.pad();
            self
        }
        fn end(&mut self) -> &mut Self {
            self.token(FDT_END_NODE)
        }
        fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
            let off = match self
                .strings
                .windows(name.len() + 1)
                .position(|w| &w[..name.len()] == name.as_bytes() && w[name.len()] == 0)
            {
                Some(off) => off,
                None => {
                    let off = self.strings.len();
                    self.strings.extend_from_slice(name.as_bytes());
                    self.strings.push(0);
                    off
                }
            };
            self.token(FDT_PROP);
            self.structs.extend_from_slice(&(value.len() as u32).to_be_bytes());
            self.structs.extend_from_slice(&(off as u32).to_be_bytes());
            self.structs.extend_from_slice(value);
            self.pad();
            self
        }
        fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
            let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
            self.prop(name, &v)
        }
        fn string(&mut self, name: &str, s: &str) -> &mut Self {
            let mut v = s.as_bytes().to_vec();
            v.push(0);
            self.prop(name, &v)
        }
        fn memreserve(&mut self, addr: u64, size: u64) -> &mut Self {
            self.rsv.push((addr, size));
            self
        }
        fn build(&mut self) -> Vec<u8> {
            let mut structs = self.structs.clone();
            structs.extend_from_slice(&FDT_END.to_be_bytes());
            let off_rsv = HEADER_SIZE;
            let off_struct = off_rsv + (self.rsv.len() + 1) * 16;
            let off_strings = off_struct + structs.len();
            let total = off_strings + self.strings.len();
            let mut out = Vec::new();
            for v in [
                FDT_MAGIC,
                total as u32,
                off_struct as u32,
                off_strings as u32,
                off_rsv as u32,
                17,
                16,
                0,
                self.strings.len() as u32,
                structs.len() as u32,
            ] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            for &(a, s) in self.rsv.iter().chain([(0, 0)].iter()) {
                out.extend_from_slice(&a.to_be_bytes());
                out.extend_from_slice(&s.to_be_bytes());
            }
            out.extend_from_slice(&structs);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    /// A small board: RAM in two nodes, a bus with a non-identity `ranges`, a GICv3 below it,
    /// a 16550 with `reg-shift`, `/reserved-memory`, `/memreserve/`, 32-bit initrd cells.
    fn board(stdout: Option<&str>) -> Builder {
        let mut b = Builder::new();
        b.memreserve(0x4000_0000, 0x1000).memreserve(0x4010_0000, 0);
        b.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[2]).cells("interrupt-parent", &[1]);
        b.begin("memory@40000000").string("device_type", "memory").cells("reg", &[0, 0x4000_0000, 0, 0x800_0000]).end();
        b.begin("ram").string("device_type", "memory").cells("reg", &[1, 0, 0, 0x1000_0000, 2, 0, 0, 0x100_0000]).end();
        b.begin("memory@90000000").string("status", "disabled").cells("reg", &[0, 0x9000_0000, 0, 0x1000]).end();
        b.begin("reserved-memory").cells("#address-cells", &[2]).cells("#size-cells", &[2]).prop("ranges", &[]);
        b.begin("fw@40200000").cells("reg", &[0, 0x4020_0000, 0, 0x2_0000]).prop("no-map", &[]).end();
        b.begin("pool").cells("size", &[0, 0x10_0000]).end();
        b.begin("off@40300000").string("status", "disabled").cells("reg", &[0, 0x4030_0000, 0, 0x1000]).end();
        b.begin("two@40400000").cells("reg", &[0, 0x4040_0000, 0, 0x1000, 0, 0x4050_0000, 0, 0x2000]).end();
        b.end();
        b.begin("chosen").string("bootargs", "root=/dev/ram0 quiet");
        b.cells("linux,initrd-start", &[0x4400_0000]).cells("linux,initrd-end", &[0x4410_0000]);
        if let Some(s) = stdout {
            b.string("stdout-path", s);
        }
        b.end();
        b.begin("aliases").string("serial0", "/soc@f0000000/serial@1000").string("console", "serial0");
        b.string("uart1", "/soc@f0000000/serial@2000").end();
        b.begin("cpus").cells("#address-cells", &[2]).cells("#size-cells", &[0]);
        b.begin("cpu@0").string("device_type", "cpu").cells("reg", &[0, 0]).end();
        b.begin("cpu@100").string("device_type", "cpu").string("status", "okay").cells("reg", &[0, 0x100]).end();
        b.begin("cpu@200").string("device_type", "cpu").string("status", "disabled").cells("reg", &[0, 0x200]).end();
        b.begin("cpu@1_0000_0000").cells("reg", &[1, 0]).end();
        b.begin("cpu-map").begin("cluster0").begin("core0").cells("cpu", &[9]).end().end().end();
        b.end();
        b.begin("psci").string("method", "smc").end();
        // Bus addresses 0x0..0x10000 map to CPU 0xf000_0000.
        b.begin("soc@f0000000").cells("#address-cells", &[1]).cells("#size-cells", &[1]);
        b.cells("ranges", &[0, 0, 0xf000_0000, 0x1_0000]);
        b.begin("intc@0").string("compatible", "arm,gic-v3").cells("phandle", &[1]).cells("#interrupt-cells", &[3]);
        b.prop("interrupt-controller", &[]).cells("reg", &[0x4000, 0x1000, 0x6000, 0x2000]).end();
        b.begin("serial@1000").prop("compatible", b"vendor,uart\0ns16550a\0").cells("reg-shift", &[2]);
        b.cells("reg", &[0x1000, 0x100]).cells("interrupts", &[0, 5, 4]).end();
        b.begin("serial@2000").string("compatible", "arm,pl011").cells("reg", &[0x2000, 0x1000]);
        b.cells("interrupts", &[1, 3, 4]).end();
        b.begin("serial@3000").string("compatible", "ns16550").string("status", "disabled").cells("reg", &[0x3000, 8]);
        b.end();
        b.end();
        b.begin("timer").prop("compatible", b"arm,armv8-timer\0arm,armv7-timer\0");
        b.cells("interrupts", &[1, 13, 8, 1, 14, 8, 1, 11, 8, 1, 10, 8]).end();
        b.end();
        b
    }

    #[test]
    fn hand_made_board() {
        let blob = board(Some("console:115200n8")).build();
        let info = parse(0x4800_0000, &blob, BootProtocol::ArmImage).unwrap();
        assert_eq!(
            info.memory.as_slice(),
            &[
                Range::from_len(0x4000_0000, 0x800_0000),
                Range::from_len(0x1_0000_0000, 0x1000_0000),
                Range::from_len(0x2_0000_0000, 0x100_0000),
            ]
        );
        let fw = ReservedKind::Firmware;
        assert_eq!(
            reserved(&info),
            vec![
                Reserved { range: Range::from_len(0x4800_0000, blob.len() as u64), kind: ReservedKind::DeviceTree },
                Reserved { range: Range::from_len(0x4000_0000, 0x1000), kind: fw },
                Reserved { range: Range::from_len(0x4020_0000, 0x2_0000), kind: ReservedKind::FirmwareNoMap },
                Reserved { range: Range::from_len(0x4040_0000, 0x1000), kind: fw },
                Reserved { range: Range::from_len(0x4050_0000, 0x2000), kind: fw },
                Reserved { range: Range { start: 0x4400_0000, end: 0x4410_0000 }, kind: ReservedKind::Module },
            ]
        );
        assert_eq!(info.cmdline.as_str(), "root=/dev/ram0 quiet");
        // stdout-path "console:115200n8" → alias "console" = "serial0" is not a path, so it does
        // not resolve; the first supported UART (depth-first) is used instead.
        assert_eq!(
            info.uart,
            Some(Uart { base: 0xf000_1000, kind: UartKind::Ns16550Mmio { reg_shift: 2 }, irq: Some(37) })
        );
        // The GIC's reg is translated through the bus's ranges.
        assert_eq!(
            info.interrupt_controller,
            InterruptController::GicV3 {
                distributor: Range::from_len(0xf000_4000, 0x1000),
                redistributor: Range::from_len(0xf000_6000, 0x2000),
            }
        );
        assert_eq!(info.psci, PsciConduit::Smc);
        assert_eq!(cpus(&info), vec![0, 0x100, 0x1_0000_0000]);
        assert_eq!(info.arm_timer, Some(ArmTimerIrqs { phys_el1: 30, virt: 27 }));
    }

    const NS_AT_1000: Uart = Uart { base: 0xf000_1000, kind: UartKind::Ns16550Mmio { reg_shift: 2 }, irq: Some(37) };
    const PL011_AT_2000: Uart = Uart { base: 0xf000_2000, kind: UartKind::Pl011, irq: Some(19) };

    fn uart_for(stdout: Option<&str>) -> Option<Uart> {
        parse(0x4800_0000, &board(stdout).build(), BootProtocol::ArmImage).unwrap().uart
    }

    #[test]
    fn stdout_path_forms() {
        assert_eq!(uart_for(Some("/soc@f0000000/serial@2000")), Some(PL011_AT_2000));
        assert_eq!(uart_for(Some("/soc/serial@2000:115200n8")), Some(PL011_AT_2000));
        assert_eq!(uart_for(Some("uart1")), Some(PL011_AT_2000));
        assert_eq!(uart_for(Some("uart1:9600")), Some(PL011_AT_2000));
        assert_eq!(uart_for(Some("serial0")), Some(NS_AT_1000));
        // Fallbacks: missing, unresolvable, disabled or unsupported devices.
        assert_eq!(uart_for(None), Some(NS_AT_1000));
        assert_eq!(uart_for(Some("")), Some(NS_AT_1000));
        assert_eq!(uart_for(Some("/nope")), Some(NS_AT_1000));
        assert_eq!(uart_for(Some("nope:1")), Some(NS_AT_1000));
        assert_eq!(uart_for(Some("/soc/serial@3000")), Some(NS_AT_1000));
        assert_eq!(uart_for(Some("/psci")), Some(NS_AT_1000));
    }

    /// A 32-bit RISC-V-like board: one-cell addresses, a PLIC, `interrupts-extended`.
    fn riscv32ish() -> Builder {
        let mut b = Builder::new();
        b.begin("").cells("#address-cells", &[1]).cells("#size-cells", &[1]);
        b.begin("memory@80000000").string("device_type", "memory").cells("reg", &[0x8000_0000, 0x400_0000]).end();
        b.begin("cpus").cells("#address-cells", &[1]).cells("#size-cells", &[0]);
        b.begin("cpu@3").string("device_type", "cpu").cells("reg", &[3]).cells("timebase-frequency", &[1_000_000]);
        b.begin("interrupt-controller").cells("#interrupt-cells", &[1]).cells("phandle", &[2]).end();
        b.end();
        b.end();
        b.begin("chosen").cells("linux,initrd-start", &[0x8100_0000]).cells("linux,initrd-end", &[0x8100_1000]);
        b.string("stdout-path", "/soc/uart@10000000").end();
        b.begin("soc").cells("#address-cells", &[1]).cells("#size-cells", &[1]).prop("ranges", &[]);
        b.begin("interrupt-controller@c000000").prop("compatible", b"sifive,plic-1.0.0\0riscv,plic0\0");
        b.cells("reg", &[0xc00_0000, 0x400_0000]).cells("riscv,ndev", &[53]).cells("#interrupt-cells", &[1]);
        b.cells("linux,phandle", &[7]).cells("interrupts-extended", &[2, 11, 2, 9]).end();
        b.begin("uart@10000000").string("compatible", "ns16550a").cells("reg", &[0x1000_0000, 0x100]);
        b.cells("interrupts-extended", &[7, 4]).end();
        b.end();
        b.end();
        b
    }

    #[test]
    fn one_cell_board_with_plic() {
        let info = parse(0x8200_0000, &riscv32ish().build(), BootProtocol::OpenSbi).unwrap();
        assert_eq!(info.memory.as_slice(), &[Range::from_len(0x8000_0000, 0x400_0000)]);
        assert_eq!(info.module_list().map(|m| m.range).collect::<Vec<_>>(), vec![Range::from_len(0x8100_0000, 0x1000)]);
        assert_eq!(
            info.uart,
            Some(Uart { base: 0x1000_0000, kind: UartKind::Ns16550Mmio { reg_shift: 0 }, irq: Some(4) })
        );
        assert_eq!(
            info.interrupt_controller,
            InterruptController::Plic { regs: Range::from_len(0xc00_0000, 0x400_0000), sources: 53 }
        );
        assert_eq!(cpus(&info), vec![3]);
        assert_eq!(info.plic_s_context(3), Some(1));
        // Taken from the cpu node when /cpus has none.
        assert_eq!(info.timebase_hz, Some(1_000_000));
        assert_eq!(info.psci, PsciConduit::None);
        assert_eq!(info.cmdline.as_str(), "");
    }

    #[test]
    fn content_errors() {
        // No memory node, or one without RAM.
        let mut b = Builder::new();
        b.begin("").begin("chosen").end().end();
        assert_eq!(parse(0, &b.build(), BootProtocol::OpenSbi).unwrap_err(), BootError::NoMemory);
        let mut b = Builder::new();
        b.begin("").begin("memory@0").string("device_type", "memory").prop("reg", &[]).end().end();
        assert_eq!(parse(0, &b.build(), BootProtocol::OpenSbi).unwrap_err(), BootError::NoMemory);
        // RAM wrapping around the address space.
        let mut b = Builder::new();
        b.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[2]);
        b.begin("memory@0").cells("reg", &[0xffff_ffff, 0xffff_f000, 0, 0x2000]).end().end();
        assert_eq!(parse(0, &b.build(), BootProtocol::OpenSbi).unwrap_err(), BootError::Malformed);
        // An initrd that ends before it starts.
        let mut b = Builder::new();
        b.begin("").begin("memory@0").cells("reg", &[0, 0, 0x1000]).end();
        b.begin("chosen").cells("linux,initrd-start", &[0x2000]).cells("linux,initrd-end", &[0x1000]).end().end();
        assert_eq!(parse(0, &b.build(), BootProtocol::OpenSbi).unwrap_err(), BootError::Malformed);
        // A /memreserve/ entry wrapping around.
        let mut b = Builder::new();
        b.memreserve(u64::MAX - 1, 0x10);
        b.begin("").begin("memory@0").cells("reg", &[0, 0, 0x1000]).end().end();
        assert_eq!(parse(0, &b.build(), BootProtocol::OpenSbi).unwrap_err(), BootError::Malformed);
        // The tree itself wrapping around.
        let blob = riscv32ish().build();
        assert_eq!(parse(u64::MAX - 4, &blob, BootProtocol::OpenSbi).unwrap_err(), BootError::Malformed);
    }

    #[test]
    fn minimal_tree_has_defaults() {
        // Root without #address-cells / #size-cells: 2 and 1 cells.
        let mut b = Builder::new();
        b.begin("").begin("memory@0").cells("reg", &[0, 0x1000, 0x2000]).end().end();
        let info = parse(0x10, &b.build(), BootProtocol::ArmImage).unwrap();
        assert_eq!(info.memory.as_slice(), &[Range::from_len(0x1000, 0x2000)]);
        assert_eq!(info.uart, None);
        assert_eq!(info.interrupt_controller, InterruptController::Unknown);
        assert_eq!(info.psci, PsciConduit::None);
        assert_eq!(info.cpu_count(), 1);
        assert_eq!(info.arm_timer, None);
        assert_eq!(info.timebase_hz, None);
    }

    fn expect_bad(blob: &[u8]) {
        assert_eq!(validate(blob).unwrap_err(), BootError::BadDeviceTree);
        assert_eq!(parse(0x1000, blob, BootProtocol::ArmImage).unwrap_err(), BootError::BadDeviceTree);
    }

    fn with_memory(extra: impl FnOnce(&mut Builder)) -> Vec<u8> {
        let mut b = Builder::new();
        b.begin("").begin("memory@0").cells("reg", &[0, 0, 0x1000]).end();
        extra(&mut b);
        b.end();
        b.build()
    }

    #[test]
    fn structural_errors_are_bad_device_tree() {
        let good = with_memory(|_| {});
        assert!(parse(0, &good, BootProtocol::ArmImage).is_ok());
        // Header problems.
        expect_bad(&[]);
        expect_bad(&good[..39]);
        expect_bad(&good[..good.len() - 1]);
        let patch = |off: usize, v: u32| {
            let mut b = good.clone();
            b[off..off + 4].copy_from_slice(&v.to_be_bytes());
            b
        };
        expect_bad(&patch(0, 0xedfe_0dd0)); // magic, little-endian
        expect_bad(&patch(4, 16)); // totalsize below the header
        expect_bad(&patch(8, 2)); // struct block inside the header
        expect_bad(&patch(8, 0x42)); // struct block misaligned
        expect_bad(&patch(36, 0xffff_fff0)); // struct block too long
        expect_bad(&patch(36, 3)); // struct block size not a multiple of 4
        expect_bad(&patch(12, 0xffff_fff0)); // strings block outside
        expect_bad(&patch(16, 44)); // memreserve block misaligned
        expect_bad(&patch(16, good.len() as u32)); // memreserve block past the end
        expect_bad(&patch(20, 16)); // version 16
        expect_bad(&patch(24, 18)); // only compatible with version 18 and later
        assert!(parse(0, &patch(20, 18), BootProtocol::ArmImage).is_ok()); // v18, compatible with 16
        // Structure problems.
        expect_bad(&with_memory(|b| {
            b.token(4); // FDT_NOP
        }));
        expect_bad(&with_memory(|b| {
            b.begin("x").end().prop("late", &[]); // property after a child
        }));
        expect_bad(&with_memory(|b| {
            b.cells("#address-cells", &[1, 2]);
        }));
        expect_bad(&with_memory(|b| {
            b.prop("#size-cells", &[0, 0]);
        }));
        expect_bad(&with_memory(|b| {
            b.cells("#address-cells", &[1000]);
        }));
        expect_bad(&with_memory(|b| {
            b.begin("bad/name").end();
        }));
        expect_bad(&with_memory(|b| {
            b.begin("").end(); // unnamed non-root node
        }));
        expect_bad(&with_memory(|b| {
            b.token(7); // unknown token
        }));
        expect_bad(&with_memory(|b| {
            for _ in 0..MAX_DEPTH {
                b.begin("n");
            }
            for _ in 0..MAX_DEPTH {
                b.end();
            }
        }));
        let mut b = Builder::new();
        b.begin("").end().begin("").end(); // two roots
        expect_bad(&b.build());
        let mut b = Builder::new();
        b.begin("root").end(); // named root
        expect_bad(&b.build());
        let mut b = Builder::new();
        b.begin("").begin("memory@0"); // unclosed nodes
        expect_bad(&b.build());
        let mut b = Builder::new();
        b.begin("").end().end(); // too many ends
        expect_bad(&b.build());
        expect_bad(&Builder::new().build()); // no root
        // A property name offset outside the strings block, and a string without its NUL.
        let mut bad_name = good.clone();
        // header, one /memreserve/ terminator, root (token + empty name), memory@0 (token +
        // 12-byte name), then the `reg` property: token, length, name offset.
        let name_off_at = HEADER_SIZE + 16 + 8 + 16 + 8;
        assert_eq!(&good[name_off_at - 8..name_off_at - 4], &FDT_PROP.to_be_bytes());
        bad_name[name_off_at..name_off_at + 4].copy_from_slice(&0x1000u32.to_be_bytes());
        expect_bad(&bad_name);
        let mut no_nul = good.clone();
        let last = no_nul.len() - 1;
        no_nul[last] = b'x';
        expect_bad(&no_nul);
        // A property length past the end of the structure block.
        let mut long_prop = good.clone();
        long_prop[name_off_at - 4..name_off_at].copy_from_slice(&0x1_0000u32.to_be_bytes());
        expect_bad(&long_prop);
        // /memreserve/ without its terminating entry within the bound.
        let mut b = Builder::new();
        for i in 0..MAX_MEMRESERVE as u64 {
            b.memreserve(0x1000 * (i + 1), 0x1000);
        }
        b.begin("").begin("memory@0").cells("reg", &[0, 0, 0x1000]).end().end();
        expect_bad(&b.build());
        // Just under the bound is fine.
        let mut b = Builder::new();
        for i in 0..MAX_MEMRESERVE as u64 - 1 {
            b.memreserve(0x1000 * (i + 1), 0x1000);
        }
        b.begin("").begin("memory@0").cells("reg", &[0, 0, 0x1000]).end().end();
        let info = parse(0, &b.build(), BootProtocol::ArmImage).unwrap();
        assert_eq!(info.dropped_reserved, MAX_MEMRESERVE - 1 + 1 - crate::MAX_RESERVED);
    }

    #[test]
    fn total_size_checks_the_header() {
        assert_eq!(total_size(RISCV64), Ok(6113));
        assert_eq!(total_size(&RISCV64[..8]), Ok(6113));
        assert_eq!(total_size(&RISCV64[..7]), Err(BootError::BadDeviceTree));
        assert_eq!(total_size(&[0; 8]), Err(BootError::BadDeviceTree));
        assert_eq!(total_size(&[0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 39]), Err(BootError::BadDeviceTree));
    }

    /// A tiny xorshift generator: deterministic corruption.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Flips a few bytes of `blob[..span]` at a time, parses, and restores them: every
    /// outcome must be a value, never a panic.
    fn corrupt_many(blob: &[u8], span: usize, rounds: usize, seed: u64) -> usize {
        let mut rng = Rng(seed);
        let mut work = blob.to_vec();
        let mut ok = 0;
        for _ in 0..rounds {
            let mut saved = Vec::new();
            for _ in 0..rng.below(3) + 1 {
                let at = rng.below(span);
                saved.push((at, work[at]));
                work[at] = match rng.below(4) {
                    0 => 0,
                    1 => 0xff,
                    2 => work[at] ^ (1 << rng.below(8)),
                    _ => rng.next() as u8,
                };
            }
            if parse(0x8000_0000, &work, BootProtocol::OpenSbi).is_ok() {
                ok += 1;
            }
            for (at, b) in saved.into_iter().rev() {
                work[at] = b;
            }
        }
        ok
    }

    #[test]
    fn corrupted_trees_never_panic() {
        let ok = corrupt_many(RISCV64_RUNTIME, RISCV64_RUNTIME.len(), 20_000, 0x9e37_79b9_7f4a_7c15);
        // Many flips land in property values and still parse; many others must not.
        assert!(ok > 1000 && ok < 20_000, "{ok}");
        // The QEMU aarch64 tree is 1 MiB of which the first 8 KiB are used.
        corrupt_many(AARCH64_GICV3, 8 * 1024, 5_000, 0x1234_5678);
        let board = board(Some("serial0:115200")).build();
        corrupt_many(&board, board.len(), 20_000, 42);
        let small = riscv32ish().build();
        corrupt_many(&small, small.len(), 20_000, 7);
    }

    #[test]
    fn truncated_trees_are_rejected() {
        for n in 0..RISCV64.len() {
            expect_bad(&RISCV64[..n]);
        }
        // Cutting totalsize too (the tree then ends inside a block).
        let mut blob = RISCV64.to_vec();
        for n in (HEADER_SIZE..RISCV64.len()).step_by(7) {
            blob[4..8].copy_from_slice(&(n as u32).to_be_bytes());
            expect_bad(&blob[..n]);
        }
    }

    /// Random but well-formed trees full of the properties the parser interprets, with random
    /// values: they pass validation, so this exercises the `fdt` accessors and the decoding.
    #[test]
    fn random_well_formed_trees_never_panic() {
        const NAMES: &[&str] = &[
            "",
            "memory",
            "memory@0",
            "chosen",
            "aliases",
            "cpus",
            "cpu@0",
            "cpu",
            "psci",
            "soc",
            "reserved-memory",
            "timer",
            "serial@0",
            "intc",
        ];
        const PROPS: &[&str] = &[
            "reg",
            "ranges",
            "interrupts",
            "interrupts-extended",
            "interrupt-parent",
            "#interrupt-cells",
            "phandle",
            "linux,phandle",
            "compatible",
            "status",
            "stdout-path",
            "linux,initrd-start",
            "linux,initrd-end",
            "bootargs",
            "device_type",
            "method",
            "riscv,ndev",
            "reg-shift",
            "timebase-frequency",
            "serial0",
        ];
        const STRINGS: &[&str] = &[
            "arm,pl011",
            "ns16550a",
            "arm,gic-v3",
            "arm,gic-400",
            "riscv,plic0",
            "arm,armv8-timer",
            "okay",
            "disabled",
            "memory",
            "cpu",
            "hvc",
            "smc",
            "/soc/serial@0",
            "serial0:115200",
            "/",
            "//",
            "serial0",
            "/cpus/cpu@0",
            "",
        ];
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let mut b = Builder::new();
            // Fixed root cells and a RAM node first, so parsing gets past the memory check.
            b.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[1]);
            if rng.below(2) == 0 {
                b.cells("interrupt-parent", &[rng.below(4) as u32]);
            }
            b.begin("memory@0").cells("reg", &[0, 0, 0x1000]).end();
            let mut depth = 1;
            let mut has_child = true;
            for _ in 0..rng.below(60) {
                match rng.below(6) {
                    0 if depth < MAX_DEPTH - 1 => {
                        let name = NAMES[rng.below(NAMES.len() - 1) + 1];
                        b.begin(name);
                        depth += 1;
                        has_child = false;
                        // Plausible properties, so the decoding paths get exercised.
                        let small =
                            |rng: &mut Rng, n: usize| -> Vec<u32> { (0..n).map(|_| rng.below(40) as u32).collect() };
                        if rng.below(3) != 0 {
                            b.string("compatible", STRINGS[rng.below(6)]);
                        }
                        if rng.below(3) == 0 {
                            b.cells("phandle", &[rng.below(4) as u32 + 1]);
                        }
                        if rng.below(3) == 0 {
                            b.cells("#interrupt-cells", &[rng.below(4) as u32 + 1]);
                        }
                        if rng.below(2) == 0 {
                            let n = rng.below(13);
                            let cells = small(&mut rng, n);
                            b.cells(if rng.below(4) == 0 { "interrupts-extended" } else { "interrupts" }, &cells);
                        }
                        if rng.below(2) == 0 {
                            let n = rng.below(9);
                            let cells = small(&mut rng, n);
                            b.cells("reg", &cells);
                        }
                        if rng.below(4) == 0 {
                            b.string("stdout-path", STRINGS[6 + rng.below(STRINGS.len() - 6)]);
                            b.cells("linux,initrd-start", &[rng.below(40) as u32]);
                            b.cells("linux,initrd-end", &[rng.below(40) as u32]);
                        }
                    }
                    1 if depth > 1 => {
                        b.end();
                        depth -= 1;
                        has_child = true;
                    }
                    _ if !has_child => {
                        let name = PROPS[rng.below(PROPS.len())];
                        match rng.below(4) {
                            0 => {
                                b.string(name, STRINGS[rng.below(STRINGS.len())]);
                            }
                            1 => {
                                let cells: Vec<u32> = (0..rng.below(14))
                                    .map(|_| if rng.below(2) == 0 { rng.below(5) as u32 } else { rng.next() as u32 })
                                    .collect();
                                b.cells(name, &cells);
                            }
                            2 => {
                                let cell = rng.below(5) as u32;
                                b.cells(if rng.below(2) == 0 { "#address-cells" } else { "#size-cells" }, &[cell]);
                            }
                            _ => {
                                let bytes: Vec<u8> = (0..rng.below(20)).map(|_| rng.next() as u8).collect();
                                b.prop(name, &bytes);
                            }
                        }
                    }
                    _ => {}
                }
            }
            for _ in 0..depth {
                b.end();
            }
            let blob = b.build();
            assert!(validate(&blob).is_ok());
            if parse(0x1000, &blob, BootProtocol::ArmImage).is_ok() {
                parsed += 1;
            }
        }
        assert!(parsed > 10_000, "{parsed}");
    }

    /// The parser runs on the kernel's boot stack (128 KiB): make sure it fits in a quarter of that,
    /// including the deepest tree `validate` accepts.
    #[test]
    fn fits_in_a_small_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(32 * 1024)
            .spawn(|| {
                let mut b = Builder::new();
                b.begin("").begin("memory@0").cells("reg", &[0, 0, 0x1000]).end();
                for _ in 0..MAX_DEPTH - 1 {
                    b.begin("n");
                }
                b.string("compatible", "arm,pl011").cells("reg", &[0, 0x1000, 0x100]);
                for _ in 0..MAX_DEPTH - 1 {
                    b.end();
                }
                b.end();
                let deep = b.build();
                let info = parse(0, &deep, BootProtocol::ArmImage).unwrap();
                assert_eq!(info.uart.map(|u| u.base), Some(0x1000));
                for blob in [AARCH64_GICV3, AARCH64_GICV2_EL2, RISCV64, RISCV64_RUNTIME] {
                    parse(0x1000, blob, BootProtocol::ArmImage).unwrap();
                }
            })
            .unwrap();
        handle.join().unwrap();
    }
}
