// SPDX-License-Identifier: AGPL-3.0-or-later
//! Deployment tiers and the sizing of the kernel object tables.
//!
//! Per-process kernel state lives in one contiguous, never-freed region allocated at boot.
//! Its number of slots comes from the tier's [`TierPolicy`]: a fraction of RAM (parts per
//! million), clamped to a floor and a ceiling in bytes, divided by the size of one slot and
//! clamped to a slot range; then halved while the region would take more than half of the
//! free memory, never below the minimum. [`size_tables`] does the arithmetic and reports
//! which clamp decided the result ([`Binding`]) so the boot log can say why.

use crate::addr::PAGE_SIZE;

/// A deployment tier: the same kernel logic with a different table-sizing policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Tier {
    /// Small headless devices (256 MiB – 1 GiB).
    Embedded,
    /// Ordinary machines without local AI (1 – 16 GiB).
    Standard,
    /// Large machines (8 GiB and up); the default.
    #[default]
    Full,
}

/// The five numbers that size the object tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierPolicy {
    /// Fewest slots, whatever the budget (the free-memory halving stops here too).
    pub min_slots: u64,
    /// Most slots, whatever the budget.
    pub max_slots: u64,
    /// Share of RAM for the tables, in parts per million.
    pub ram_budget_ppm: u64,
    /// Smallest budget in bytes.
    pub ram_budget_floor: u64,
    /// Largest budget in bytes.
    pub ram_budget_ceiling: u64,
}

const MIB: u64 = 1024 * 1024;

impl Tier {
    /// Every tier, smallest first.
    pub const ALL: [Tier; 3] = [Tier::Embedded, Tier::Standard, Tier::Full];

    /// Lower-case name: `"embedded"`, `"standard"` or `"full"`.
    pub const fn name(self) -> &'static str {
        match self {
            Tier::Embedded => "embedded",
            Tier::Standard => "standard",
            Tier::Full => "full",
        }
    }

    /// Parses a name from [`Tier::name`], or the build-time aliases `tier1`, `tier2`, `tier3`.
    pub fn from_name(name: &str) -> Option<Tier> {
        match name {
            "embedded" | "tier1" => Some(Tier::Embedded),
            "standard" | "tier2" => Some(Tier::Standard),
            "full" | "tier3" => Some(Tier::Full),
            _ => None,
        }
    }

    /// The table-sizing policy of this tier.
    pub const fn policy(self) -> TierPolicy {
        match self {
            Tier::Embedded => TierPolicy {
                min_slots: 32,
                max_slots: 256,
                ram_budget_ppm: 15_000,
                ram_budget_floor: 2 * MIB,
                ram_budget_ceiling: 8 * MIB,
            },
            Tier::Standard => TierPolicy {
                min_slots: 128,
                max_slots: 4096,
                ram_budget_ppm: 20_000,
                ram_budget_floor: 16 * MIB,
                ram_budget_ceiling: 64 * MIB,
            },
            Tier::Full => TierPolicy {
                min_slots: 256,
                max_slots: 65_536,
                ram_budget_ppm: 30_000,
                ram_budget_floor: 64 * MIB,
                ram_budget_ceiling: 512 * MIB,
            },
        }
    }
}

/// Which step decided the number of slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    /// No clamp applied: the RAM fraction decided.
    Unconstrained,
    /// The budget was raised to the floor.
    BudgetFloor,
    /// The budget was lowered to the ceiling.
    BudgetCeiling,
    /// The slot count was raised to the minimum.
    MinSlots,
    /// The slot count was lowered to the maximum.
    MaxSlots,
    /// The slot count was halved to fit in half of the free memory.
    FreeMemory,
}

impl Binding {
    /// Name for the boot log.
    pub const fn name(self) -> &'static str {
        match self {
            Binding::Unconstrained => "Unconstrained",
            Binding::BudgetFloor => "BudgetFloor",
            Binding::BudgetCeiling => "BudgetCeiling",
            Binding::MinSlots => "MinSlots",
            Binding::MaxSlots => "MaxSlots",
            Binding::FreeMemory => "FreeMemory",
        }
    }
}

/// The result of [`size_tables`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableSizing {
    /// Number of slots.
    pub slots: u64,
    /// Size of the table region: `slots * slot_bytes` rounded up to whole pages.
    pub bytes: u64,
    /// The clamped RAM budget in bytes (before the slot clamps and the halving).
    pub budget: u64,
    /// Which step decided `slots`.
    pub binding: Binding,
}

/// Why the tables could not be sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizingError {
    /// `slot_bytes` is zero.
    ZeroSlotSize,
    /// Even `min_slots` slots need more than the free memory.
    NotEnoughMemory {
        /// Bytes the minimum table needs (page-rounded, saturating).
        needed: u64,
        /// Free bytes available.
        free: u64,
    },
}

impl SizingError {
    /// A short human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            SizingError::ZeroSlotSize => "object-table slot size is zero",
            SizingError::NotEnoughMemory { .. } => "not enough free memory for the minimum object tables",
        }
    }
}

/// Page-rounded size of `slots` slots of `slot_bytes` (exact: u128 never overflows here).
fn region_bytes(slots: u64, slot_bytes: u64) -> u128 {
    let raw = slots as u128 * slot_bytes as u128;
    raw.div_ceil(PAGE_SIZE as u128) * PAGE_SIZE as u128
}

fn saturate(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// Sizes the object tables for `available_bytes` of RAM, slots of `slot_bytes`, and
/// `free_bytes` of memory currently free.
///
/// `budget = clamp(available * ppm / 10^6, floor, ceiling)` (the ceiling wins if a policy has
/// floor > ceiling); `slots = clamp(budget / slot_bytes, min_slots, max_slots)` (the minimum
/// wins if min > max); then `slots` is halved while the page-rounded region exceeds half of
/// `free_bytes`, never below `min_slots`. All arithmetic is overflow-free.
pub fn size_tables(
    policy: &TierPolicy,
    available_bytes: u64,
    slot_bytes: u64,
    free_bytes: u64,
) -> Result<TableSizing, SizingError> {
    if slot_bytes == 0 {
        return Err(SizingError::ZeroSlotSize);
    }
    let fraction = saturate(available_bytes as u128 * policy.ram_budget_ppm as u128 / 1_000_000);
    let (mut budget, mut binding) = (fraction, Binding::Unconstrained);
    if budget < policy.ram_budget_floor {
        budget = policy.ram_budget_floor;
        binding = Binding::BudgetFloor;
    }
    if budget > policy.ram_budget_ceiling {
        budget = policy.ram_budget_ceiling;
        binding = Binding::BudgetCeiling;
    }

    let raw = budget / slot_bytes;
    let mut slots = raw;
    if slots > policy.max_slots {
        slots = policy.max_slots;
        binding = Binding::MaxSlots;
    }
    if slots < policy.min_slots {
        slots = policy.min_slots;
        binding = Binding::MinSlots;
    }

    let half_free = free_bytes as u128 / 2;
    // At most 64 halvings take any u64 to zero.
    let mut rounds = 0;
    while slots > policy.min_slots && region_bytes(slots, slot_bytes) > half_free && rounds < 64 {
        slots = (slots / 2).max(policy.min_slots);
        binding = Binding::FreeMemory;
        rounds += 1;
    }
    let bytes = region_bytes(slots, slot_bytes);
    if bytes > free_bytes as u128 {
        return Err(SizingError::NotEnoughMemory { needed: saturate(bytes), free: free_bytes });
    }
    Ok(TableSizing { slots, bytes: saturate(bytes), budget, binding })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * MIB;
    const TIB: u64 = 1024 * GIB;
    const SLOT: u64 = 16 * 1024;

    fn sized(tier: Tier, ram: u64) -> TableSizing {
        size_tables(&tier.policy(), ram, SLOT, ram).unwrap()
    }

    fn expect(tier: Tier, ram: u64, slots: u64, budget: u64, binding: Binding) {
        let s = sized(tier, ram);
        assert_eq!(s, TableSizing { slots, bytes: slots * SLOT, budget, binding }, "{} at {ram:#x}", tier.name());
    }

    #[test]
    fn names_round_trip() {
        for t in Tier::ALL {
            assert_eq!(Tier::from_name(t.name()), Some(t));
        }
        assert_eq!(Tier::from_name("tier1"), Some(Tier::Embedded));
        assert_eq!(Tier::from_name("tier2"), Some(Tier::Standard));
        assert_eq!(Tier::from_name("tier3"), Some(Tier::Full));
        assert_eq!(Tier::from_name("Full"), None);
        assert_eq!(Tier::from_name(""), None);
        assert_eq!(Tier::default(), Tier::Full);
        assert_eq!(Binding::FreeMemory.name(), "FreeMemory");
        assert_ne!(SizingError::ZeroSlotSize.as_str(), SizingError::NotEnoughMemory { needed: 1, free: 0 }.as_str());
    }

    #[test]
    fn policies_match_the_spec() {
        let e = Tier::Embedded.policy();
        assert_eq!((e.min_slots, e.max_slots, e.ram_budget_ppm), (32, 256, 15_000));
        assert_eq!((e.ram_budget_floor, e.ram_budget_ceiling), (2 * MIB, 8 * MIB));
        let s = Tier::Standard.policy();
        assert_eq!((s.min_slots, s.max_slots, s.ram_budget_ppm), (128, 4096, 20_000));
        assert_eq!((s.ram_budget_floor, s.ram_budget_ceiling), (16 * MIB, 64 * MIB));
        let f = Tier::Full.policy();
        assert_eq!((f.min_slots, f.max_slots, f.ram_budget_ppm), (256, 65_536, 30_000));
        assert_eq!((f.ram_budget_floor, f.ram_budget_ceiling), (64 * MIB, 512 * MIB));
    }

    #[test]
    fn embedded_tier() {
        use Binding::*;
        expect(Tier::Embedded, 128 * MIB, 128, 2 * MIB, BudgetFloor);
        // 256 MiB * 1.5 % = 4026531 bytes -> 245 slots of 16 KiB.
        expect(Tier::Embedded, 256 * MIB, 245, 4_026_531, Unconstrained);
        expect(Tier::Embedded, 2 * GIB, 256, 8 * MIB, MaxSlots);
        expect(Tier::Embedded, 16 * GIB, 256, 8 * MIB, MaxSlots);
        expect(Tier::Embedded, TIB, 256, 8 * MIB, MaxSlots);
    }

    #[test]
    fn standard_tier() {
        use Binding::*;
        expect(Tier::Standard, 128 * MIB, 1024, 16 * MIB, BudgetFloor);
        expect(Tier::Standard, 256 * MIB, 1024, 16 * MIB, BudgetFloor);
        // 2 GiB * 2 % = 42949672 bytes -> 2621 slots.
        expect(Tier::Standard, 2 * GIB, 2621, 42_949_672, Unconstrained);
        // The ceiling gives exactly max_slots: the ceiling is what bound it.
        expect(Tier::Standard, 16 * GIB, 4096, 64 * MIB, BudgetCeiling);
        expect(Tier::Standard, TIB, 4096, 64 * MIB, BudgetCeiling);
    }

    #[test]
    fn full_tier() {
        use Binding::*;
        // 64 MiB of tables in 128 MiB: exactly half the free memory, which is allowed.
        expect(Tier::Full, 128 * MIB, 4096, 64 * MIB, BudgetFloor);
        expect(Tier::Full, 256 * MIB, 4096, 64 * MIB, BudgetFloor);
        expect(Tier::Full, 2 * GIB, 4096, 64 * MIB, BudgetFloor);
        // 16 GiB * 3 % = 515396075 bytes -> 31457 slots.
        expect(Tier::Full, 16 * GIB, 31_457, 515_396_075, Unconstrained);
        expect(Tier::Full, TIB, 32_768, 512 * MIB, BudgetCeiling);
    }

    #[test]
    fn min_slots_binding() {
        let s = size_tables(&Tier::Embedded.policy(), 128 * MIB, MIB, 128 * MIB).unwrap();
        assert_eq!(s, TableSizing { slots: 32, bytes: 32 * MIB, budget: 2 * MIB, binding: Binding::MinSlots });
        // The region may exceed half the free memory when it is already at the minimum.
        let s = size_tables(&Tier::Embedded.policy(), 128 * MIB, MIB, 48 * MIB).unwrap();
        assert_eq!((s.slots, s.binding), (32, Binding::MinSlots));
    }

    #[test]
    fn free_memory_binding() {
        let p = Tier::Full.policy();
        let s = size_tables(&p, 128 * MIB, SLOT, 100 * MIB).unwrap();
        assert_eq!(s, TableSizing { slots: 2048, bytes: 32 * MIB, budget: 64 * MIB, binding: Binding::FreeMemory });
        // Halving stops at min_slots even when that is over half of the free memory.
        let s = size_tables(&p, 128 * MIB, SLOT, 6 * MIB).unwrap();
        assert_eq!((s.slots, s.bytes, s.binding), (256, 4 * MIB, Binding::FreeMemory));
        let s = size_tables(&p, 128 * MIB, SLOT, 8 * MIB).unwrap();
        assert_eq!((s.slots, s.bytes, s.binding), (256, 4 * MIB, Binding::FreeMemory));
    }

    #[test]
    fn region_is_page_rounded() {
        let s = size_tables(&Tier::Embedded.policy(), 256 * MIB, 100, 256 * MIB).unwrap();
        assert_eq!((s.slots, s.bytes, s.binding), (256, 28_672, Binding::MaxSlots));
        let s = size_tables(&Tier::Embedded.policy(), 256 * MIB, 1, 256 * MIB).unwrap();
        assert_eq!(s.bytes, PAGE_SIZE);
    }

    #[test]
    fn errors() {
        assert_eq!(size_tables(&Tier::Full.policy(), GIB, 0, GIB), Err(SizingError::ZeroSlotSize));
        assert_eq!(
            size_tables(&Tier::Full.policy(), 128 * MIB, SLOT, 3 * MIB),
            Err(SizingError::NotEnoughMemory { needed: 4 * MIB, free: 3 * MIB })
        );
        assert_eq!(
            size_tables(&Tier::Embedded.policy(), 128 * MIB, MIB, 0),
            Err(SizingError::NotEnoughMemory { needed: 32 * MIB, free: 0 })
        );
    }

    #[test]
    fn no_overflow_at_the_extremes() {
        let wild = TierPolicy {
            min_slots: 0,
            max_slots: u64::MAX,
            ram_budget_ppm: u64::MAX,
            ram_budget_floor: 0,
            ram_budget_ceiling: u64::MAX,
        };
        let s = size_tables(&wild, u64::MAX, 1, u64::MAX).unwrap();
        assert_eq!(s.budget, u64::MAX);
        assert!(s.bytes <= u64::MAX / 2 && s.binding == Binding::FreeMemory);
        let s = size_tables(&wild, u64::MAX, u64::MAX, u64::MAX).unwrap();
        assert_eq!(s.slots, 0);
        assert_eq!(s.bytes, 0);
        // A minimum that cannot fit anywhere: the needed size saturates.
        let huge = TierPolicy { min_slots: u64::MAX, ..wild };
        assert_eq!(
            size_tables(&huge, u64::MAX, u64::MAX, u64::MAX),
            Err(SizingError::NotEnoughMemory { needed: u64::MAX, free: u64::MAX })
        );
        // Inverted clamps do not panic: the ceiling and the minimum win.
        let inverted = TierPolicy {
            min_slots: 100,
            max_slots: 10,
            ram_budget_ppm: 1,
            ram_budget_floor: 10 * MIB,
            ram_budget_ceiling: MIB,
        };
        let s = size_tables(&inverted, GIB, SLOT, GIB).unwrap();
        assert_eq!((s.slots, s.budget, s.binding), (100, MIB, Binding::MinSlots));
        for t in Tier::ALL {
            for ram in [0, 1, u64::MAX] {
                for free in [0, u64::MAX] {
                    let _ = size_tables(&t.policy(), ram, SLOT, free);
                }
            }
        }
    }
}
