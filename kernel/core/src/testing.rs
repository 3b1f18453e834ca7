// SPDX-License-Identifier: AGPL-3.0-or-later
//! Helpers shared by the host unit tests of this crate.

/// A small deterministic generator (xorshift64*) for the randomized tests: the same seed
/// gives the same run, so a failure can be replayed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
