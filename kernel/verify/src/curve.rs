// SPDX-License-Identifier: AGPL-3.0-or-later
//! Minimal edwards25519 arithmetic for the strict verifier's own checks (variable time).
//!
//! `ed25519-compact` does the main verification, but it accepts a signature when
//! `[s]B - [k]A - R` is any small-order point (a cofactored check) and exposes no point
//! arithmetic. This module supplies what the strict rules need on top: canonical point
//! decoding, the small-order test and the exact cofactorless equation `[s]B - [k]A == R`.
//! Everything here handles public data only (keys, signatures), so nothing needs to run in
//! constant time. The formulas are the ones in RFC 8032 §5.1.
//!
//! Field elements use five 51-bit limbs. Every operation returns "carried" limbs (each below
//! 2^52), which keeps the 128-bit products of [`Fe::mul`] far from overflow.

/// 2^51 - 1.
const MASK: u64 = (1 << 51) - 1;

/// An element of GF(2^255 - 19) in radix 2^51.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fe([u64; 5]);

/// 4p in radix 2^51, added before a subtraction so no limb goes negative.
const FOUR_P: [u64; 5] = [4 * (MASK - 18), 4 * MASK, 4 * MASK, 4 * MASK, 4 * MASK];

/// p - 2, little-endian: the inversion exponent.
const EXP_P_MINUS_2: [u8; 32] = exponent(0xeb, 0x7f);
/// (p - 5) / 8 = 2^252 - 3, little-endian: the square-root exponent.
const EXP_P_MINUS_5_DIV_8: [u8; 32] = exponent(0xfd, 0x0f);
/// (p - 1) / 4 = 2^253 - 5, little-endian: 2 to this power is a square root of -1.
#[cfg(test)]
const EXP_P_MINUS_1_DIV_4: [u8; 32] = exponent(0xfb, 0x1f);

/// d = -121665 / 121666 mod p, little-endian.
const D_BYTES: [u8; 32] = [
    0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75, 0xab, 0xd8, 0x41, 0x41, 0x4d, 0x0a, 0x70, 0x00, 0x98, 0xe8, 0x79,
    0x77, 0x79, 0x40, 0xc7, 0x8c, 0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52,
];
/// 2d mod p, little-endian.
const D2_BYTES: [u8; 32] = [
    0x59, 0xf1, 0xb2, 0x26, 0x94, 0x9b, 0xd6, 0xeb, 0x56, 0xb1, 0x83, 0x82, 0x9a, 0x14, 0xe0, 0x00, 0x30, 0xd1, 0xf3,
    0xee, 0xf2, 0x80, 0x8e, 0x19, 0xe7, 0xfc, 0xdf, 0x56, 0xdc, 0xd9, 0x06, 0x24,
];
/// 2^((p-1)/4) mod p, a square root of -1, little-endian.
const SQRT_M1_BYTES: [u8; 32] = [
    0xb0, 0xa0, 0x0e, 0x4a, 0x27, 0x1b, 0xee, 0xc4, 0x78, 0xe4, 0x2f, 0xad, 0x06, 0x18, 0x43, 0x2f, 0xa7, 0xd7, 0xfb,
    0x3d, 0x99, 0x00, 0x4d, 0x2b, 0x0b, 0xdf, 0xc1, 0x4f, 0x80, 0x24, 0x83, 0x2b,
];

/// A 256-bit little-endian exponent `high:ff..ff:low`.
const fn exponent(low: u8, high: u8) -> [u8; 32] {
    let mut e = [0xff; 32];
    e[0] = low;
    e[31] = high;
    e
}

impl Fe {
    pub(crate) const ZERO: Fe = Fe([0; 5]);
    pub(crate) const ONE: Fe = Fe([1, 0, 0, 0, 0]);

    #[cfg(test)]
    const fn small(v: u64) -> Fe {
        Fe([v, 0, 0, 0, 0])
    }

    /// Decodes 32 little-endian bytes, ignoring bit 255 (not reduced: y >= p is allowed here).
    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Fe {
        let mut w = [0u64; 4];
        for (word, chunk) in w.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *word = u64::from_le_bytes(b);
        }
        Fe([
            w[0] & MASK,
            ((w[0] >> 51) | (w[1] << 13)) & MASK,
            ((w[1] >> 38) | (w[2] << 26)) & MASK,
            ((w[2] >> 25) | (w[3] << 39)) & MASK,
            (w[3] >> 12) & MASK,
        ])
    }

    /// One carry pass: every limb below 2^51 except limb 0, which stays below 2^51 + 19 * 2^13.
    fn carry(self) -> Fe {
        let mut l = self.0;
        l[1] += l[0] >> 51;
        l[0] &= MASK;
        l[2] += l[1] >> 51;
        l[1] &= MASK;
        l[3] += l[2] >> 51;
        l[2] &= MASK;
        l[4] += l[3] >> 51;
        l[3] &= MASK;
        l[0] += 19 * (l[4] >> 51);
        l[4] &= MASK;
        Fe(l)
    }

    /// The canonical (fully reduced) little-endian encoding.
    pub(crate) fn to_bytes(self) -> [u8; 32] {
        let mut l = self.carry().carry().0;
        // q = 1 exactly when the value is >= p.
        let mut q = (l[0] + 19) >> 51;
        q = (l[1] + q) >> 51;
        q = (l[2] + q) >> 51;
        q = (l[3] + q) >> 51;
        q = (l[4] + q) >> 51;
        l[0] += 19 * q;
        l[1] += l[0] >> 51;
        l[0] &= MASK;
        l[2] += l[1] >> 51;
        l[1] &= MASK;
        l[3] += l[2] >> 51;
        l[2] &= MASK;
        l[4] += l[3] >> 51;
        l[3] &= MASK;
        l[4] &= MASK;
        let words = [
            l[0] | (l[1] << 51),
            (l[1] >> 13) | (l[2] << 38),
            (l[2] >> 26) | (l[3] << 25),
            (l[3] >> 39) | (l[4] << 12),
        ];
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    pub(crate) fn add(self, o: Fe) -> Fe {
        let (a, b) = (self.0, o.0);
        Fe([a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4]]).carry()
    }

    pub(crate) fn sub(self, o: Fe) -> Fe {
        let (a, b) = (self.0, o.0);
        Fe([
            a[0] + FOUR_P[0] - b[0],
            a[1] + FOUR_P[1] - b[1],
            a[2] + FOUR_P[2] - b[2],
            a[3] + FOUR_P[3] - b[3],
            a[4] + FOUR_P[4] - b[4],
        ])
        .carry()
    }

    pub(crate) fn neg(self) -> Fe {
        Fe::ZERO.sub(self)
    }

    pub(crate) fn mul(self, o: Fe) -> Fe {
        let a = self.0.map(u128::from);
        let b = o.0.map(u128::from);
        let r0 = a[0] * b[0] + 19 * (a[1] * b[4] + a[2] * b[3] + a[3] * b[2] + a[4] * b[1]);
        let r1 = a[0] * b[1] + a[1] * b[0] + 19 * (a[2] * b[4] + a[3] * b[3] + a[4] * b[2]);
        let r2 = a[0] * b[2] + a[1] * b[1] + a[2] * b[0] + 19 * (a[3] * b[4] + a[4] * b[3]);
        let r3 = a[0] * b[3] + a[1] * b[2] + a[2] * b[1] + a[3] * b[0] + 19 * (a[4] * b[4]);
        let r4 = a[0] * b[4] + a[1] * b[3] + a[2] * b[2] + a[3] * b[1] + a[4] * b[0];
        let mask = u128::from(MASK);
        let r1 = r1 + (r0 >> 51);
        let r2 = r2 + (r1 >> 51);
        let r3 = r3 + (r2 >> 51);
        let r4 = r4 + (r3 >> 51);
        let r0 = (r0 & mask) + 19 * (r4 >> 51);
        // Every value below is < 2^64 after masking, so the narrowing casts are exact.
        Fe([
            (r0 & mask) as u64,
            (r1 & mask) as u64 + (r0 >> 51) as u64,
            (r2 & mask) as u64,
            (r3 & mask) as u64,
            (r4 & mask) as u64,
        ])
        .carry()
    }

    pub(crate) fn square(self) -> Fe {
        self.mul(self)
    }

    /// `self` raised to a 256-bit little-endian exponent (square and multiply, variable time).
    fn pow(self, exp: &[u8; 32]) -> Fe {
        let mut acc = Fe::ONE;
        for byte in exp.iter().rev() {
            for bit in (0..8).rev() {
                acc = acc.square();
                if (byte >> bit) & 1 == 1 {
                    acc = acc.mul(self);
                }
            }
        }
        acc
    }

    pub(crate) fn invert(self) -> Fe {
        self.pow(&EXP_P_MINUS_2)
    }

    pub(crate) fn is_zero(self) -> bool {
        self.to_bytes() == [0; 32]
    }

    pub(crate) fn equals(self, o: Fe) -> bool {
        self.to_bytes() == o.to_bytes()
    }

    /// The "sign" of x in RFC 8032: the low bit of the canonical encoding.
    fn is_negative(self) -> bool {
        self.to_bytes()[0] & 1 == 1
    }

    /// The curve constant d = -121665 / 121666 (checked against that definition in the tests).
    fn d() -> Fe {
        Fe::from_bytes(&D_BYTES)
    }

    /// 2d, used by point addition.
    fn d2() -> Fe {
        Fe::from_bytes(&D2_BYTES)
    }

    /// A square root of -1: 2^((p-1)/4) (checked in the tests).
    fn sqrt_m1() -> Fe {
        Fe::from_bytes(&SQRT_M1_BYTES)
    }
}

/// Why a 32-byte string is not an acceptable point encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// y >= p, or x = 0 with the sign bit set ("negative zero").
    NonCanonical,
    /// No curve point has this y.
    NotOnCurve,
}

/// A point in extended coordinates (X:Y:Z:T) with x = X/Z, y = Y/Z, xy = T/Z.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Point {
    x: Fe,
    y: Fe,
    z: Fe,
    t: Fe,
}

/// The encoding of the base point B (y = 4/5, x even).
pub(crate) const BASE_POINT_BYTES: [u8; 32] = [
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
];

impl Point {
    pub(crate) const IDENTITY: Point = Point { x: Fe::ZERO, y: Fe::ONE, z: Fe::ONE, t: Fe::ZERO };

    /// Decodes a point strictly (RFC 8032 §5.1.3 plus the canonical-encoding rules).
    pub(crate) fn decode(bytes: &[u8; 32]) -> Result<Point, DecodeError> {
        let sign = bytes[31] >> 7 == 1;
        let mut y_bytes = *bytes;
        y_bytes[31] &= 0x7f;
        let y = Fe::from_bytes(&y_bytes);
        if y.to_bytes() != y_bytes {
            return Err(DecodeError::NonCanonical);
        }
        let d = Fe::d();
        let yy = y.square();
        let u = yy.sub(Fe::ONE);
        let v = d.mul(yy).add(Fe::ONE);
        let v3 = v.square().mul(v);
        let v7 = v3.square().mul(v);
        let mut x = u.mul(v3).mul(u.mul(v7).pow(&EXP_P_MINUS_5_DIV_8));
        let vxx = v.mul(x.square());
        if vxx.equals(u) {
            // x is a square root already.
        } else if vxx.equals(u.neg()) {
            x = x.mul(Fe::sqrt_m1());
        } else {
            return Err(DecodeError::NotOnCurve);
        }
        if x.is_zero() && sign {
            return Err(DecodeError::NonCanonical);
        }
        if x.is_negative() != sign {
            x = x.neg();
        }
        Ok(Point { x, y, z: Fe::ONE, t: x.mul(y) })
    }

    /// The canonical encoding.
    pub(crate) fn encode(&self) -> [u8; 32] {
        let zi = self.z.invert();
        let x = self.x.mul(zi);
        let mut out = self.y.mul(zi).to_bytes();
        out[31] |= u8::from(x.is_negative()) << 7;
        out
    }

    /// Point addition (complete for edwards25519; also used for doubling).
    pub(crate) fn add(&self, o: &Point) -> Point {
        let two_d = Fe::d2();
        let a = self.y.sub(self.x).mul(o.y.sub(o.x));
        let b = self.y.add(self.x).mul(o.y.add(o.x));
        let c = self.t.mul(two_d).mul(o.t);
        let d = self.z.add(self.z).mul(o.z);
        let e = b.sub(a);
        let f = d.sub(c);
        let g = d.add(c);
        let h = b.add(a);
        Point { x: e.mul(f), y: g.mul(h), z: f.mul(g), t: e.mul(h) }
    }

    pub(crate) fn double(&self) -> Point {
        self.add(self)
    }

    pub(crate) fn neg(&self) -> Point {
        Point { x: self.x.neg(), y: self.y, z: self.z, t: self.t.neg() }
    }

    pub(crate) fn is_identity(&self) -> bool {
        self.x.is_zero() && self.y.equals(self.z)
    }

    /// True when [8]P is the identity (P is one of the eight small-order points).
    pub(crate) fn has_small_order(&self) -> bool {
        self.double().double().double().is_identity()
    }

    /// `[a]self + [b]other` for 256-bit little-endian scalars (Straus, variable time).
    pub(crate) fn double_mul(&self, a: &[u8; 32], other: &Point, b: &[u8; 32]) -> Point {
        let mut acc = Point::IDENTITY;
        for (ab, bb) in a.iter().rev().zip(b.iter().rev()) {
            for bit in (0..8).rev() {
                acc = acc.double();
                if (ab >> bit) & 1 == 1 {
                    acc = acc.add(self);
                }
                if (bb >> bit) & 1 == 1 {
                    acc = acc.add(other);
                }
            }
        }
        acc
    }
}

/// The group order L = 2^252 + 27742317777372353535851937790883648493, as little-endian words.
const L_WORDS: [u64; 4] = [0x5812_631a_5cf5_d3ed, 0x14de_f9de_a2f7_9cd6, 0, 0x1000_0000_0000_0000];

fn words_of(bytes: &[u8; 32]) -> [u64; 4] {
    let mut w = [0u64; 4];
    for (word, chunk) in w.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *word = u64::from_le_bytes(b);
    }
    w
}

/// `a >= b` for little-endian 256-bit words.
fn ge(a: &[u64; 4], b: &[u64; 4]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x > y;
        }
    }
    true
}

/// `a - b` (requires a >= b).
fn sub_words(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut borrow = false;
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        let (d1, b1) = x.overflowing_sub(*y);
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        *o = d2;
        borrow = b1 || b2;
    }
    out
}

/// True when the 32-byte little-endian scalar is below L (the canonical-S rule).
pub(crate) fn scalar_is_canonical(s: &[u8; 32]) -> bool {
    !ge(&words_of(s), &L_WORDS)
}

/// A 512-bit little-endian number reduced mod L (bitwise long division; inputs are public).
pub(crate) fn reduce_wide(wide: &[u8; 64]) -> [u8; 32] {
    let mut r = [0u64; 4];
    for byte in wide.iter().rev() {
        for bit in (0..8).rev() {
            // r < L < 2^253, so the shift cannot lose a bit.
            let mut carry = u64::from((byte >> bit) & 1);
            for word in r.iter_mut() {
                let next = *word >> 63;
                *word = (*word << 1) | carry;
                carry = next;
            }
            if ge(&r, &L_WORDS) {
                r = sub_words(&r, &L_WORDS);
            }
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(8).zip(r) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn field_round_trips_and_inverts() {
        let x = Fe::from_bytes(&hex32("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"));
        assert!(x.mul(x.invert()).equals(Fe::ONE));
        assert!(x.sub(x).is_zero());
        assert!(x.add(x.neg()).is_zero());
        assert!(Fe::sqrt_m1().square().equals(Fe::ONE.neg()));
        assert!(Fe::sqrt_m1().equals(Fe::small(2).pow(&EXP_P_MINUS_1_DIV_4)));
        assert!(Fe::d().equals(Fe::small(121665).neg().mul(Fe::small(121666).invert())));
        assert!(Fe::d2().equals(Fe::d().add(Fe::d())));
        // p itself encodes zero; p - 1 encodes itself.
        let p = hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
        assert_eq!(Fe::from_bytes(&p).to_bytes(), [0; 32]);
        let pm1 = hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
        assert_eq!(Fe::from_bytes(&pm1).to_bytes(), pm1);
    }

    #[test]
    fn base_point_has_order_l() {
        let b = Point::decode(&BASE_POINT_BYTES).unwrap();
        assert_eq!(b.encode(), BASE_POINT_BYTES);
        assert!(!b.has_small_order());
        let mut l = [0u8; 32];
        for (chunk, word) in l.chunks_exact_mut(8).zip(L_WORDS) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        assert!(b.double_mul(&l, &Point::IDENTITY, &[0; 32]).is_identity());
        // [2]B computed two ways.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert_eq!(b.double_mul(&two, &b, &[0; 32]).encode(), b.double().encode());
        assert_eq!(b.add(&b.neg()).encode(), Point::IDENTITY.encode());
    }

    #[test]
    fn small_order_points_are_detected() {
        for enc in [
            "0100000000000000000000000000000000000000000000000000000000000000",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000080",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        ] {
            let p = Point::decode(&hex32(enc)).unwrap();
            assert!(p.has_small_order(), "{enc}");
            assert_eq!(p.encode(), hex32(enc));
        }
        // Negative zero: x = 0 with the sign bit set.
        let nz = hex32("0100000000000000000000000000000000000000000000000000000000000080");
        assert_eq!(Point::decode(&nz).unwrap_err(), DecodeError::NonCanonical);
        // y = p + 1 (non-canonical identity).
        let big = hex32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
        assert_eq!(Point::decode(&big).unwrap_err(), DecodeError::NonCanonical);
    }

    #[test]
    fn scalar_rules() {
        let l = hex32("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        assert!(!scalar_is_canonical(&l));
        let mut lm1 = l;
        lm1[0] -= 1;
        assert!(scalar_is_canonical(&lm1));
        let mut wide = [0u8; 64];
        wide[..32].copy_from_slice(&l);
        assert_eq!(reduce_wide(&wide), [0; 32]);
        wide[0] += 5;
        let mut five = [0u8; 32];
        five[0] = 5;
        assert_eq!(reduce_wide(&wide), five);
    }
}
