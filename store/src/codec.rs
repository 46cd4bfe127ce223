//! Byte-level encoding shared by record blocks and aggregate buckets: LEB128 varints, zigzag, a
//! bounds-checked reader, and zstd framing with a size cap. Every decoder returns `None` on bad input
//! (a corrupt value on disk is skipped, never a panic).

/// Largest decompressed value accepted: a block of `BLOCK_RECORDS` records is a few hundred KiB, so a
/// bigger length prefix means corruption, not data, and must not become an allocation.
pub const MAX_DECODED: usize = 64 << 20;

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (out, rest) = self.buf.split_at_checked(n)?;
        self.buf = rest;
        Some(out)
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    /// A LEB128 varint of at most 10 bytes.
    pub fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// Skips `n` varints without decoding them (each ends at its first byte below 0x80); `None` if
    /// fewer are left.
    pub fn skip_varints(&mut self, n: usize) -> Option<()> {
        if n == 0 {
            return Some(());
        }
        let mut left = n;
        let end = self.buf.iter().position(|b| {
            if b & 0x80 == 0 {
                left -= 1;
            }
            left == 0
        })?;
        self.buf = self.buf.get(end + 1..)?;
        Some(())
    }

    /// A varint that must fit `usize` and be at most `max` (lengths and counts).
    pub fn len(&mut self, max: usize) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= max).then_some(n)
    }

    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len(self.buf.len())?;
        self.take(n)
    }
}

/// zstd level: 3 is zstd's default, the knee of its speed/ratio curve.
const ZSTD_LEVEL: i32 = 3;

/// `raw` compressed, prefixed with its length (u32 LE) so decoding allocates exactly once.
pub fn compress(raw: &[u8]) -> Vec<u8> {
    let len = u32::try_from(raw.len()).unwrap_or(u32::MAX);
    let mut out = len.to_le_bytes().to_vec();
    // zstd fails only on allocation; an empty frame then decodes to None, never to wrong data.
    if let Ok(c) = zstd::bulk::compress(raw, ZSTD_LEVEL) {
        out.extend_from_slice(&c);
    }
    out
}

/// The inverse of [`compress`]; `None` for a length over [`MAX_DECODED`] or a corrupt stream.
pub fn decompress(b: &[u8]) -> Option<Vec<u8>> {
    let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?);
    let len = usize::try_from(len).ok()?;
    if len > MAX_DECODED {
        return None;
    }
    let out = zstd::bulk::decompress(b.get(4..)?, len).ok()?;
    (out.len() == len).then_some(out)
}

/// FNV-1a, 64 bit: a hash whose value is part of the on-disk format (host filters), so it must not
/// change with the Rust version the way `DefaultHasher` may.
pub fn fnv1a(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    for x in b {
        h ^= u64::from(x.to_ascii_lowercase());
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        let mut b = Vec::new();
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            b.clear();
            put_varint(&mut b, v);
            assert_eq!(Reader::new(&b).varint(), Some(v));
            for cut in 0..b.len() {
                assert_eq!(Reader::new(&b[..cut]).varint(), None);
            }
        }
        assert_eq!(Reader::new(&[0xff; 11]).varint(), None);
        let mut b = Vec::new();
        for v in [5u64, 300, u64::MAX, 0, 77] {
            put_varint(&mut b, v);
        }
        let mut r = Reader::new(&b);
        r.skip_varints(3).unwrap();
        assert_eq!(r.varint(), Some(0));
        assert_eq!(r.clone().skip_varints(2), None);
        r.skip_varints(0).unwrap();
        assert_eq!(r.varint(), Some(77));
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn decompress_refuses_bad_frames() {
        let c = compress(b"hello hello hello hello");
        assert_eq!(decompress(&c).unwrap(), b"hello hello hello hello");
        assert_eq!(decompress(&c[..3]), None);
        let mut huge = c.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decompress(&huge), None);
        for cut in 4..c.len() {
            let _ = decompress(&c[..cut]);
        }
    }

    #[test]
    fn fnv_ignores_case() {
        assert_eq!(fnv1a(b"Host.Example"), fnv1a(b"host.example"));
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }
}
