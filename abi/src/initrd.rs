// SPDX-License-Identifier: AGPL-3.0-or-later
//! The CambiOS initrd archive ("CAMBINIT"): the boot modules the boot loader hands the kernel.
//!
//! `cargo xtask initrd` writes it (`build/<arch>/initrd.img`) from the files in
//! `boot/modules/`; the kernel reads it in place. Layout, all integers little-endian:
//!
//! ```text
//! header (16 bytes):  magic b"CAMBINIT" | version: u32 = 1 | count: u32
//! count entries, each starting at an offset that is a multiple of 8:
//!     data_size: u32 | name_len: u32 | name: [u8; 64] | data: [u8; data_size] | zero padding
//! ```
//!
//! `name` holds `name_len` (1..=64) bytes of UTF-8 without `/` or NUL, then zeros. The padding
//! brings the entry to a multiple of 8 bytes, so every entry's data is 8-byte aligned relative
//! to the start of the archive. Bytes after the last entry must be zero (a loader may round
//! the module up). At most [`MAX_ENTRIES`] entries and [`MAX_ARCHIVE_SIZE`] bytes.
//!
//! [`parse`] checks the whole archive before it hands out anything, so iterating an
//! [`Archive`] cannot fail. It does bounded work, uses checked arithmetic and never panics,
//! whatever the input. [`encode_into`] writes an archive into a caller-provided buffer (no
//! allocation), for host tools.

use core::fmt;

/// The first eight bytes of every archive.
pub const MAGIC: [u8; 8] = *b"CAMBINIT";
/// The only format version this module reads and writes.
pub const VERSION: u32 = 1;
/// Size of the fixed name field of an entry (and the longest allowed name).
pub const NAME_LEN: usize = 64;
/// Most entries an archive may hold.
pub const MAX_ENTRIES: u32 = 128;
/// Largest archive, in bytes (1 GiB).
pub const MAX_ARCHIVE_SIZE: usize = 1 << 30;
/// Size of the archive header.
pub const HEADER_SIZE: usize = 16;
/// Size of an entry header (`data_size`, `name_len`, `name`).
pub const ENTRY_HEADER_SIZE: usize = 8 + NAME_LEN;
/// Alignment of every entry (and so of every entry's data).
pub const ALIGN: usize = 8;

/// Why an archive is not valid (or cannot be written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitrdError {
    /// Shorter than the 16-byte header.
    TooShort,
    /// Does not start with [`MAGIC`].
    BadMagic,
    /// A version other than [`VERSION`].
    UnsupportedVersion(u32),
    /// More than [`MAX_ENTRIES`] entries.
    TooManyEntries(u32),
    /// Larger than [`MAX_ARCHIVE_SIZE`] (or an entry larger than `u32::MAX` bytes).
    TooLarge,
    /// Entry `index` (or its padding) runs past the end of the archive.
    Truncated {
        /// Index of the entry, from 0.
        index: u32,
    },
    /// Entry `index` has an empty, too long, non-UTF-8 or otherwise invalid name, or
    /// non-zero bytes after the name.
    BadName {
        /// Index of the entry, from 0.
        index: u32,
    },
    /// Entry `index` has the same name as an earlier entry.
    DuplicateName {
        /// Index of the entry, from 0.
        index: u32,
    },
    /// The padding after entry `index` is not zero.
    BadPadding {
        /// Index of the entry, from 0.
        index: u32,
    },
    /// Non-zero bytes after the last entry, starting at byte `offset`.
    TrailingGarbage {
        /// Offset of the first non-zero byte.
        offset: usize,
    },
    /// [`encode_into`] was given a buffer of fewer than `needed` bytes.
    BufferTooSmall {
        /// Size of the encoded archive.
        needed: usize,
    },
}

impl InitrdError {
    /// A short description without the numbers (the [`fmt::Display`] form adds them).
    pub const fn as_str(&self) -> &'static str {
        match self {
            InitrdError::TooShort => "shorter than the archive header",
            InitrdError::BadMagic => "bad magic (not a CAMBINIT archive)",
            InitrdError::UnsupportedVersion(_) => "unsupported format version",
            InitrdError::TooManyEntries(_) => "too many entries",
            InitrdError::TooLarge => "archive or entry too large",
            InitrdError::Truncated { .. } => "entry runs past the end of the archive",
            InitrdError::BadName { .. } => "invalid entry name",
            InitrdError::DuplicateName { .. } => "duplicate entry name",
            InitrdError::BadPadding { .. } => "non-zero padding after an entry",
            InitrdError::TrailingGarbage { .. } => "non-zero bytes after the last entry",
            InitrdError::BufferTooSmall { .. } => "output buffer too small",
        }
    }
}

impl fmt::Display for InitrdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.as_str();
        match *self {
            InitrdError::UnsupportedVersion(v) => write!(f, "{what} {v} (expected {VERSION})"),
            InitrdError::TooManyEntries(n) => write!(f, "{what}: {n} (at most {MAX_ENTRIES})"),
            InitrdError::TooLarge => write!(f, "{what} (at most {MAX_ARCHIVE_SIZE} bytes)"),
            InitrdError::Truncated { index }
            | InitrdError::BadName { index }
            | InitrdError::DuplicateName { index }
            | InitrdError::BadPadding { index } => write!(f, "{what} (entry {index})"),
            InitrdError::TrailingGarbage { offset } => write!(f, "{what} (at byte {offset})"),
            InitrdError::BufferTooSmall { needed } => write!(f, "{what} ({needed} bytes needed)"),
            InitrdError::TooShort | InitrdError::BadMagic => f.write_str(what),
        }
    }
}

impl core::error::Error for InitrdError {}

/// One boot module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The module's name (1..=64 bytes, no `/` or NUL).
    pub name: &'a str,
    /// The module's contents.
    pub data: &'a [u8],
}

/// A validated archive.
#[derive(Clone, Copy, Debug)]
pub struct Archive<'a> {
    /// The archive bytes, header included (trailing zeros excluded).
    bytes: &'a [u8],
    count: u32,
}

impl<'a> Archive<'a> {
    /// Number of entries.
    pub const fn len(&self) -> usize {
        self.count as usize
    }

    /// True if the archive holds no entries.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The entries, in archive order.
    pub fn entries(&self) -> Entries<'a> {
        Entries { bytes: self.bytes, offset: HEADER_SIZE, remaining: self.count }
    }

    /// The entry called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Entry<'a>> {
        self.entries().find(|entry| entry.name == name)
    }

    /// Size of the archive in bytes, without any trailing zeros.
    pub const fn size(&self) -> usize {
        self.bytes.len()
    }
}

/// Iterator over the entries of an [`Archive`].
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    bytes: &'a [u8],
    offset: usize,
    remaining: u32,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.remaining == 0 {
            return None;
        }
        // The archive was validated by `parse`, so this cannot fail; if it somehow did, the
        // iteration simply ends.
        let raw = read_entry(self.bytes, self.offset).ok()?;
        let name = core::str::from_utf8(raw.name).ok()?;
        self.offset = raw.next;
        self.remaining -= 1;
        Some(Entry { name, data: raw.data })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Entries<'_> {}

/// An entry as laid out in the archive, before name validation.
struct RawEntry<'a> {
    name: &'a [u8],
    data: &'a [u8],
    /// Offset just after the data (start of the padding).
    data_end: usize,
    /// Offset of the next entry (after the padding).
    next: usize,
}

/// Why [`read_entry`] failed.
enum RawError {
    Truncated,
    BadName,
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let field: [u8; 4] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(field))
}

const fn align_up(n: usize) -> Option<usize> {
    match n.checked_add(ALIGN - 1) {
        Some(v) => Some(v & !(ALIGN - 1)),
        None => None,
    }
}

/// Reads the entry at `offset`, checking that it (and its padding) fits and that the name
/// field is well formed (length, zero fill). Name contents are checked by [`valid_name`].
fn read_entry(bytes: &[u8], offset: usize) -> Result<RawEntry<'_>, RawError> {
    let data_size = read_u32(bytes, offset).ok_or(RawError::Truncated)? as usize;
    let name_len = offset.checked_add(4).and_then(|o| read_u32(bytes, o)).ok_or(RawError::Truncated)? as usize;
    let name_start = offset.checked_add(8).ok_or(RawError::Truncated)?;
    let data_start = offset.checked_add(ENTRY_HEADER_SIZE).ok_or(RawError::Truncated)?;
    let field = bytes.get(name_start..data_start).ok_or(RawError::Truncated)?;
    if name_len == 0 || name_len > NAME_LEN {
        return Err(RawError::BadName);
    }
    let (name, fill) = field.split_at_checked(name_len).ok_or(RawError::BadName)?;
    if fill.iter().any(|&b| b != 0) {
        return Err(RawError::BadName);
    }
    let data_end = data_start.checked_add(data_size).ok_or(RawError::Truncated)?;
    let data = bytes.get(data_start..data_end).ok_or(RawError::Truncated)?;
    let next = align_up(data_end).ok_or(RawError::Truncated)?;
    if next > bytes.len() {
        return Err(RawError::Truncated);
    }
    Ok(RawEntry { name, data, data_end, next })
}

/// True if `name` is a valid entry name: 1..=64 bytes of UTF-8 without `/` or NUL.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= NAME_LEN
        && !name.iter().any(|&b| b == b'/' || b == 0)
        && core::str::from_utf8(name).is_ok()
}

/// Parses and fully validates an archive.
///
/// Every entry is checked (bounds, name, padding, duplicates) and everything after the last
/// entry must be zero, so [`Archive::entries`] never meets a bad entry.
pub fn parse(archive: &[u8]) -> Result<Archive<'_>, InitrdError> {
    if archive.len() > MAX_ARCHIVE_SIZE {
        return Err(InitrdError::TooLarge);
    }
    if archive.len() < HEADER_SIZE {
        return Err(InitrdError::TooShort);
    }
    if archive.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(InitrdError::BadMagic);
    }
    let version = read_u32(archive, 8).ok_or(InitrdError::TooShort)?;
    if version != VERSION {
        return Err(InitrdError::UnsupportedVersion(version));
    }
    let count = read_u32(archive, 12).ok_or(InitrdError::TooShort)?;
    if count > MAX_ENTRIES {
        return Err(InitrdError::TooManyEntries(count));
    }

    let mut offset = HEADER_SIZE;
    for index in 0..count {
        let raw = read_entry(archive, offset).map_err(|e| match e {
            RawError::Truncated => InitrdError::Truncated { index },
            RawError::BadName => InitrdError::BadName { index },
        })?;
        if !valid_name(raw.name) {
            return Err(InitrdError::BadName { index });
        }
        let padding = archive.get(raw.data_end..raw.next).ok_or(InitrdError::Truncated { index })?;
        if padding.iter().any(|&b| b != 0) {
            return Err(InitrdError::BadPadding { index });
        }
        offset = raw.next;
    }
    let (body, rest) = archive.split_at_checked(offset).ok_or(InitrdError::TooShort)?;
    if let Some(pos) = rest.iter().position(|&b| b != 0) {
        return Err(InitrdError::TrailingGarbage { offset: offset.saturating_add(pos) });
    }

    let parsed = Archive { bytes: body, count };
    // Duplicate names: at most MAX_ENTRIES^2 / 2 comparisons over the validated entries.
    for (index, entry) in parsed.entries().enumerate() {
        if parsed.entries().take(index).any(|earlier| earlier.name == entry.name) {
            return Err(InitrdError::DuplicateName { index: index as u32 });
        }
    }
    Ok(parsed)
}

/// Checks the entries an archive is to be made of and returns the archive's size in bytes.
pub fn encoded_len(entries: &[(&str, &[u8])]) -> Result<usize, InitrdError> {
    let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    if count > MAX_ENTRIES {
        return Err(InitrdError::TooManyEntries(count));
    }
    let mut total = HEADER_SIZE;
    for (index, (name, data)) in (0u32..).zip(entries) {
        if !valid_name(name.as_bytes()) {
            return Err(InitrdError::BadName { index });
        }
        if entries.iter().take(index as usize).any(|(earlier, _)| earlier == name) {
            return Err(InitrdError::DuplicateName { index });
        }
        if u32::try_from(data.len()).is_err() {
            return Err(InitrdError::TooLarge);
        }
        total = total
            .checked_add(ENTRY_HEADER_SIZE)
            .and_then(|t| t.checked_add(data.len()))
            .and_then(align_up)
            .ok_or(InitrdError::TooLarge)?;
        if total > MAX_ARCHIVE_SIZE {
            return Err(InitrdError::TooLarge);
        }
    }
    Ok(total)
}

/// Copies `src` into `out` at `offset` and returns the offset after it.
fn put(out: &mut [u8], offset: usize, src: &[u8]) -> Result<usize, InitrdError> {
    let end = offset.checked_add(src.len()).ok_or(InitrdError::TooLarge)?;
    out.get_mut(offset..end).ok_or(InitrdError::BufferTooSmall { needed: end })?.copy_from_slice(src);
    Ok(end)
}

/// Writes the archive made of `entries` (name, contents) to the start of `out` and returns its
/// size. `out` must hold at least [`encoded_len`] bytes; padding is written as zeros, and the
/// bytes of `out` after the archive are left alone.
pub fn encode_into(entries: &[(&str, &[u8])], out: &mut [u8]) -> Result<usize, InitrdError> {
    let needed = encoded_len(entries)?;
    if out.len() < needed {
        return Err(InitrdError::BufferTooSmall { needed });
    }
    let count = u32::try_from(entries.len()).map_err(|_| InitrdError::TooManyEntries(u32::MAX))?;
    let mut offset = put(out, 0, &MAGIC)?;
    offset = put(out, offset, &VERSION.to_le_bytes())?;
    offset = put(out, offset, &count.to_le_bytes())?;
    for (name, data) in entries {
        let size = u32::try_from(data.len()).map_err(|_| InitrdError::TooLarge)?;
        let name_len = u32::try_from(name.len()).map_err(|_| InitrdError::TooLarge)?;
        offset = put(out, offset, &size.to_le_bytes())?;
        offset = put(out, offset, &name_len.to_le_bytes())?;
        let mut field = [0u8; NAME_LEN];
        field.get_mut(..name.len()).ok_or(InitrdError::TooLarge)?.copy_from_slice(name.as_bytes());
        offset = put(out, offset, &field)?;
        offset = put(out, offset, data)?;
        let next = align_up(offset).ok_or(InitrdError::TooLarge)?;
        out.get_mut(offset..next).ok_or(InitrdError::BufferTooSmall { needed })?.fill(0);
        offset = next;
    }
    Ok(offset)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests index fixed sample archives")]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn encode(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let len = encoded_len(entries).unwrap();
        let mut out = vec![0xAAu8; len];
        assert_eq!(encode_into(entries, &mut out).unwrap(), len);
        out
    }

    fn sample() -> Vec<u8> {
        encode(&[("motd", b"hello, world\n"), ("init", &[1, 2, 3, 4, 5, 6, 7, 8]), ("e", b"")])
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        assert_eq!(bytes.len() % ALIGN, 0);
        let archive = parse(&bytes).unwrap();
        assert_eq!(archive.len(), 3);
        assert!(!archive.is_empty());
        assert_eq!(archive.size(), bytes.len());
        let entries: Vec<Entry<'_>> = archive.entries().collect();
        assert_eq!(entries[0], Entry { name: "motd", data: b"hello, world\n" });
        assert_eq!(entries[1], Entry { name: "init", data: &[1, 2, 3, 4, 5, 6, 7, 8] });
        assert_eq!(entries[2], Entry { name: "e", data: b"" });
        assert_eq!(archive.entries().len(), 3);
        assert_eq!(archive.get("init").map(|e| e.data.len()), Some(8));
        assert_eq!(archive.get("nope"), None);
        // Every entry's data is 8-byte aligned relative to the archive start.
        for entry in archive.entries() {
            let off = entry.data.as_ptr() as usize - bytes.as_ptr() as usize;
            assert_eq!(off % ALIGN, 0, "{}", entry.name);
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = encode(&[("ab", b"xyz")]);
        assert_eq!(&bytes[..8], b"CAMBINIT");
        assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
        assert_eq!(&bytes[12..16], &1u32.to_le_bytes());
        assert_eq!(&bytes[16..20], &3u32.to_le_bytes());
        assert_eq!(&bytes[20..24], &2u32.to_le_bytes());
        assert_eq!(&bytes[24..26], b"ab");
        assert!(bytes[26..88].iter().all(|&b| b == 0));
        assert_eq!(&bytes[88..91], b"xyz");
        assert_eq!(bytes.len(), 96);
        assert!(bytes[91..96].iter().all(|&b| b == 0));
    }

    #[test]
    fn empty_archive() {
        let bytes = encode(&[]);
        assert_eq!(bytes.len(), HEADER_SIZE);
        let archive = parse(&bytes).unwrap();
        assert!(archive.is_empty());
        assert_eq!(archive.entries().next(), None);
    }

    #[test]
    fn longest_name_and_trailing_zeros() {
        let name = "n".repeat(NAME_LEN);
        let mut bytes = encode(&[(&name, b"1")]);
        bytes.extend_from_slice(&[0; 4096]);
        let archive = parse(&bytes).unwrap();
        assert_eq!(archive.entries().next().map(|e| e.name), Some(name.as_str()));
        assert_eq!(archive.size(), bytes.len() - 4096);
    }

    #[test]
    fn header_errors() {
        assert_eq!(parse(&[]).unwrap_err(), InitrdError::TooShort);
        assert_eq!(parse(b"CAMBINIT\x01\x00\x00").unwrap_err(), InitrdError::TooShort);
        let mut bytes = sample();
        bytes[0] = b'X';
        assert_eq!(parse(&bytes).unwrap_err(), InitrdError::BadMagic);
        let mut bytes = sample();
        bytes[8] = 2;
        assert_eq!(parse(&bytes).unwrap_err(), InitrdError::UnsupportedVersion(2));
        let mut bytes = sample();
        bytes[12..16].copy_from_slice(&(MAX_ENTRIES + 1).to_le_bytes());
        assert_eq!(parse(&bytes).unwrap_err(), InitrdError::TooManyEntries(MAX_ENTRIES + 1));
    }

    #[test]
    fn truncation_errors() {
        let bytes = sample();
        // Cut anywhere inside the entries: always a Truncated error for the right entry.
        let one = encode(&[("motd", b"hello, world\n")]).len();
        let two = encode(&[("motd", b"hello, world\n"), ("init", &[1, 2, 3, 4, 5, 6, 7, 8])]).len();
        for cut in HEADER_SIZE..bytes.len() {
            let expected = if cut < one {
                0
            } else if cut < two {
                1
            } else {
                2
            };
            assert_eq!(parse(&bytes[..cut]).unwrap_err(), InitrdError::Truncated { index: expected }, "cut {cut}");
        }
        // A count larger than what is there.
        let mut bytes = sample();
        bytes[12] = 4;
        assert_eq!(parse(&bytes).unwrap_err(), InitrdError::Truncated { index: 3 });
        // A huge data size.
        let mut bytes = sample();
        bytes[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&bytes).unwrap_err(), InitrdError::Truncated { index: 0 });
    }

    #[test]
    fn name_errors() {
        for bad_len in [0u32, NAME_LEN as u32 + 1, u32::MAX] {
            let mut bytes = sample();
            bytes[20..24].copy_from_slice(&bad_len.to_le_bytes());
            assert_eq!(parse(&bytes).unwrap_err(), InitrdError::BadName { index: 0 }, "{bad_len}");
        }
        for bad in [b'/', 0, 0xff] {
            let mut bytes = sample();
            bytes[25] = bad;
            assert_eq!(parse(&bytes).unwrap_err(), InitrdError::BadName { index: 0 }, "{bad}");
        }
        // Junk after the name inside the name field.
        let mut bytes = sample();
        bytes[24 + 10] = b'x';
        assert_eq!(parse(&bytes).unwrap_err(), InitrdError::BadName { index: 0 });
    }

    #[test]
    fn duplicate_padding_and_trailing_errors() {
        let mut bytes = encode(&[("a", b"1"), ("b", b"2")]);
        let second = HEADER_SIZE + 80;
        bytes[second + 8] = b'a';
        assert_eq!(parse(&bytes).unwrap_err(), InitrdError::DuplicateName { index: 1 });

        let mut bytes = encode(&[("a", b"1")]);
        bytes[HEADER_SIZE + ENTRY_HEADER_SIZE + 3] = 7;
        assert_eq!(parse(&bytes).unwrap_err(), InitrdError::BadPadding { index: 0 });

        let mut bytes = encode(&[("a", b"1")]);
        let end = bytes.len();
        bytes.extend_from_slice(&[0, 0, 9]);
        assert_eq!(parse(&bytes).unwrap_err(), InitrdError::TrailingGarbage { offset: end + 2 });
    }

    #[test]
    fn encode_errors() {
        assert_eq!(encoded_len(&[("", b"")]), Err(InitrdError::BadName { index: 0 }));
        assert_eq!(encoded_len(&[("ok", b""), ("a/b", b"")]), Err(InitrdError::BadName { index: 1 }));
        assert_eq!(encoded_len(&[("a\0", b"")]), Err(InitrdError::BadName { index: 0 }));
        let long = "x".repeat(NAME_LEN + 1);
        assert_eq!(encoded_len(&[(&long, b"")]), Err(InitrdError::BadName { index: 0 }));
        assert_eq!(encoded_len(&[("a", b""), ("a", b"")]), Err(InitrdError::DuplicateName { index: 1 }));
        let names: Vec<std::string::String> = (0..=MAX_ENTRIES).map(|i| std::format!("m{i}")).collect();
        let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        assert_eq!(encoded_len(&many), Err(InitrdError::TooManyEntries(MAX_ENTRIES + 1)));
        assert!(encoded_len(&many[..MAX_ENTRIES as usize]).is_ok());
        let mut small = [0u8; 20];
        assert_eq!(encode_into(&[("a", b"1")], &mut small), Err(InitrdError::BufferTooSmall { needed: 96 }));
    }

    #[test]
    fn errors_display() {
        let all = [
            InitrdError::TooShort,
            InitrdError::BadMagic,
            InitrdError::UnsupportedVersion(9),
            InitrdError::TooManyEntries(500),
            InitrdError::TooLarge,
            InitrdError::Truncated { index: 1 },
            InitrdError::BadName { index: 2 },
            InitrdError::DuplicateName { index: 3 },
            InitrdError::BadPadding { index: 4 },
            InitrdError::TrailingGarbage { offset: 5 },
            InitrdError::BufferTooSmall { needed: 6 },
        ];
        for e in all {
            let text = std::format!("{e}");
            assert!(text.starts_with(e.as_str()), "{text}");
        }
        assert_eq!(std::format!("{}", InitrdError::BadName { index: 2 }), "invalid entry name (entry 2)");
    }

    /// A small deterministic generator (xorshift64*), so the corruption test needs no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_corruption_never_panics() {
        let original = sample();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut bytes = original.clone();
            for _ in 0..=rng.below(4) {
                let i = rng.below(bytes.len());
                bytes[i] = rng.next() as u8;
            }
            if rng.below(4) == 0 {
                bytes.truncate(rng.below(bytes.len() + 1));
            }
            if let Ok(archive) = parse(&bytes) {
                accepted += 1;
                // A corrupted archive that still parses must be self-consistent.
                assert_eq!(archive.entries().count(), archive.len());
                for entry in archive.entries() {
                    assert!(valid_name(entry.name.as_bytes()));
                }
            }
        }
        // Some corruptions hit only data bytes and are accepted.
        assert!(accepted > 0);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(42);
        for _ in 0..5_000 {
            let len = rng.below(400);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if rng.below(2) == 0 && bytes.len() >= 16 {
                bytes[..8].copy_from_slice(&MAGIC);
                bytes[8..12].copy_from_slice(&VERSION.to_le_bytes());
                bytes[12..16].copy_from_slice(&(rng.below(5) as u32).to_le_bytes());
            }
            let _ = parse(&bytes);
        }
    }
}
