// SPDX-License-Identifier: AGPL-3.0-or-later
//! Platform discovery through ACPI, done once in the Rust entry while the early direct map
//! still reaches firmware memory.
//!
//! The final direct map covers only RAM and the device windows, and the ACPI tables live in
//! E820-reserved memory, so the MADT is parsed before `kernel_main` and its contents (local
//! APIC address, I/O APICs, ISA interrupt overrides, CPUs) are kept in a write-once static.
//! A missing or malformed table is kept as its error and returned by `init_interrupts`.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering};

use kernel_boot::acpi::{self, AcpiError, Madt};
use kernel_boot::{BootInfo, FirmwareTable, PhysReader};
use kernel_core::memmap::Range;
use kernel_core::paging::MapAttrs;

use crate::error::KernelError;
use crate::memory::Window;

/// A value set once during boot and read (by copy) afterwards, without a lock.
pub struct BootOnce<T> {
    state: AtomicU8,
    value: UnsafeCell<Option<T>>,
}

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;

// SAFETY: the value is written exactly once, by the thread that wins the EMPTY -> WRITING
// transition, and published with a release store of READY; readers copy it only after an
// acquire load sees READY, after which it is never written again.
unsafe impl<T: Copy + Send> Sync for BootOnce<T> {}

impl<T: Copy> BootOnce<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        BootOnce { state: AtomicU8::new(EMPTY), value: UnsafeCell::new(None) }
    }

    /// Stores `value` unless a value was already stored; returns whether it was stored.
    pub fn set(&self, value: T) -> bool {
        if self.state.compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return false;
        }
        // SAFETY: winning the EMPTY -> WRITING exchange makes this the only writer, and no
        // reader looks at the value before READY is published below.
        unsafe { *self.value.get() = Some(value) };
        self.state.store(READY, Ordering::Release);
        true
    }

    /// The stored value, if any.
    pub fn get(&self) -> Option<T> {
        if self.state.load(Ordering::Acquire) != READY {
            return None;
        }
        // SAFETY: READY was published after the only write, and nothing writes afterwards.
        unsafe { *self.value.get() }
    }
}

/// The MADT, or why it could not be used.
static MADT: BootOnce<Result<Madt, AcpiError>> = BootOnce::new();

/// Finds the RSDP (boot information first, then the BIOS areas), parses the MADT, records
/// the enabled CPUs in `info`, and keeps the result for `init_paging` and `init_interrupts`.
pub fn discover<R: PhysReader>(reader: &R, info: &mut BootInfo) {
    let rsdp = match info.firmware {
        FirmwareTable::AcpiRsdp(addr) => Some(addr),
        FirmwareTable::None | FirmwareTable::DeviceTree { .. } => {
            let found = acpi::find_rsdp_in_bios(reader);
            if let Some(addr) = found {
                info.firmware = FirmwareTable::AcpiRsdp(addr);
            }
            found
        }
    };
    let madt = rsdp.ok_or(AcpiError::NoRsdp).and_then(|addr| acpi::madt_from_rsdp(reader, addr));
    if let Ok(madt) = &madt {
        for id in madt.cpu_list() {
            info.add_cpu(u64::from(id));
        }
    }
    MADT.set(madt);
}

/// The MADT found at boot.
pub fn madt() -> Result<Madt, KernelError> {
    match MADT.get() {
        Some(Ok(madt)) => Ok(madt),
        Some(Err(e)) => Err(KernelError::Hardware(e.as_str())),
        None => Err(KernelError::NotInitialised("ACPI platform discovery")),
    }
}

/// Most device windows: the local APIC plus every I/O APIC.
pub const MAX_WINDOWS: usize = 1 + acpi::MAX_IO_APICS;

/// The device register windows the kernel maps (uncached) in the direct map: the local
/// APIC (unless it is in x2APIC mode) and the I/O APICs. Returns the array and how many of
/// its entries are used.
pub fn device_windows() -> ([Window; MAX_WINDOWS], usize) {
    let mut windows = [Window { range: Range::default(), attrs: MapAttrs::KERNEL_DEVICE }; MAX_WINDOWS];
    let mut used = 0;
    let mut add = |start: u64| {
        if let Some(w) = windows.get_mut(used) {
            w.range = Range::from_len(start & !0xfff, 0x1000);
            used += 1;
        }
    };
    if let Ok((phys, false)) = super::apic::local_apic_phys() {
        add(phys);
    }
    if let Some(Ok(madt)) = MADT.get() {
        for io in madt.io_apic_list() {
            add(io.address);
        }
    }
    (windows, used)
}
