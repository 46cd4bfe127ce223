//! JA4, FoxIO's TLS client fingerprint (`FoxIO-LLC/ja4`, `technical_details/JA4.md`), and
//! whether the ClientHello offers Encrypted ClientHello (extension `encrypted_client_hello`,
//! 0xfe0d, draft-ietf-tls-esni §5). Computed from the ClientHello body of TLS over TCP or of
//! QUIC's CRYPTO frames.
//!
//! A JA4 is `a_b_c`: `a` is the transport (`t`, `q`), the version (highest `supported_versions`
//! entry, else the legacy version), `d`/`i` (an SNI extension is there or not), the cipher and
//! extension counts (GREASE removed, at most 99) and the first and last character of the first
//! ALPN value; `b` is the first 12 hex digits of the SHA-256 of the sorted cipher suites; `c`
//! that of the sorted extensions without SNI and ALPN, then `_` and the signature algorithms in
//! wire order. Hex values are 4 lowercase digits joined by `,`. An ALPN end byte outside
//! printable ASCII writes `9` (0x80 and above) or makes the pair `99` (a control byte), as
//! PyPI's `ja4plus` (`compute_alpn_value`) writes it after FoxIO issue #789.
//!
//! Nothing allocates: lists are sorted in fixed stack buffers and hashed as they are written.
//! A hello with more than [`MAX_LIST`] cipher suites or extensions has no JA4.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use sha2::{Digest, Sha256};

use super::super::Reader;
use super::{CONTENT_HANDSHAKE, HANDSHAKE_CLIENT_HELLO};

/// The longest cipher or extension list fingerprinted (the cipher list of a real client is
/// well below 100 entries).
pub const MAX_LIST: usize = 256;
/// `a` (10) `_` `b` (12) `_` `c` (12).
pub const JA4_LEN: usize = 36;

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
const EXT_ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;

/// The transport the ClientHello came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Quic,
}

/// What the fingerprint says about one ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    text: [u8; JA4_LEN],
    /// The hello carries an `encrypted_client_hello` extension (real or GREASE ECH: the two
    /// look the same on the wire).
    pub ech: bool,
}

impl Fingerprint {
    /// The JA4 string (`t13d1516h2_8daaf6152771_02713d6af862`).
    pub fn ja4(&self) -> &str {
        // Only ASCII is ever written to `text`.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }
}

/// RFC 8701 GREASE values: 0x?a?a with both bytes equal.
fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// The fingerprint of the ClientHello in the first TLS record of a TCP stream (record header,
/// handshake header, body); `None` when the record holds no whole ClientHello.
pub fn of_record(data: &[u8]) -> Option<Fingerprint> {
    let mut r = Reader::new(data);
    if r.u8()? != CONTENT_HANDSHAKE {
        return None;
    }
    r.skip(2)?; // legacy_record_version
    of_handshake(r.vec16()?, Transport::Tcp)
}

/// The fingerprint of a ClientHello handshake message (type, u24 length, body).
pub fn of_handshake(msg: &[u8], transport: Transport) -> Option<Fingerprint> {
    let mut r = Reader::new(msg);
    if r.u8()? != HANDSHAKE_CLIENT_HELLO {
        return None;
    }
    let len = usize::try_from(r.u24()?).ok()?;
    fingerprint(r.take(len)?, transport)
}

/// The fingerprint of a ClientHello body (after the handshake header); `None` when malformed.
pub fn fingerprint(body: &[u8], transport: Transport) -> Option<Fingerprint> {
    let mut r = Reader::new(body);
    let legacy_version = r.u16()?;
    r.skip(32)?; // random
    r.vec8()?; // legacy_session_id
    let mut ciphers = List::default();
    let mut cr = Reader::new(r.vec16()?);
    while let Some(c) = cr.u16() {
        if !is_grease(c) {
            ciphers.push(c)?;
        }
    }
    r.vec8()?; // legacy_compression_methods
    let mut exts = List::default();
    let mut version = legacy_version;
    let mut sni = false;
    let mut ech = false;
    let mut alpn: &[u8] = &[];
    let mut sig_algs: &[u8] = &[];
    let mut er = Reader::new(if r.is_empty() { &[] } else { r.vec16()? });
    while !er.is_empty() {
        let ty = er.u16()?;
        let data = er.vec16()?;
        if is_grease(ty) {
            continue;
        }
        exts.push(ty)?;
        match ty {
            EXT_SERVER_NAME => sni = true,
            EXT_ENCRYPTED_CLIENT_HELLO => ech = true,
            EXT_ALPN => {
                let mut list = Reader::new(Reader::new(data).vec16().unwrap_or_default());
                alpn = list.vec8().unwrap_or_default();
            }
            EXT_SIGNATURE_ALGORITHMS => sig_algs = Reader::new(data).vec16().unwrap_or_default(),
            EXT_SUPPORTED_VERSIONS => {
                let mut v = Reader::new(Reader::new(data).vec8().unwrap_or_default());
                let mut highest = None;
                while let Some(ver) = v.u16() {
                    if !is_grease(ver) {
                        highest = highest.max(Some(ver));
                    }
                }
                version = highest.unwrap_or(version);
            }
            _ => {}
        }
    }

    let mut text = [b'0'; JA4_LEN];
    let mut w = Writer {
        buf: &mut text,
        at: 0,
    };
    w.put(match transport {
        Transport::Tcp => b"t",
        Transport::Quic => b"q",
    });
    w.put(version_code(version));
    w.put(if sni { b"d" } else { b"i" });
    w.put(&two_digits(ciphers.len()));
    w.put(&two_digits(exts.len()));
    w.put(&alpn_chars(alpn));
    w.put(b"_");

    ciphers.sort();
    if ciphers.is_empty() {
        w.put(b"000000000000");
    } else {
        let mut h = Sha256::new();
        hash_list(&mut h, ciphers.values());
        w.put_hash(h);
    }
    w.put(b"_");

    exts.sort();
    let mut hashed = exts
        .values()
        .filter(|&&e| e != EXT_SERVER_NAME && e != EXT_ALPN)
        .peekable();
    if hashed.peek().is_none() {
        w.put(b"000000000000");
    } else {
        let mut h = Sha256::new();
        hash_list(&mut h, hashed);
        let mut sigs = Reader::new(sig_algs);
        let mut first = true;
        while let Some(s) = sigs.u16() {
            if !is_grease(s) {
                h.update(if first { b"_" } else { b"," });
                h.update(hex4(s));
                first = false;
            }
        }
        w.put_hash(h);
    }
    Some(Fingerprint { text, ech })
}

fn version_code(v: u16) -> &'static [u8; 2] {
    match v {
        0x0304 => b"13",
        0x0303 => b"12",
        0x0302 => b"11",
        0x0301 => b"10",
        0x0300 => b"s3",
        0x0002 => b"s2",
        0xfeff => b"d1",
        0xfefd => b"d2",
        0xfefc => b"d3",
        _ => b"00",
    }
}

fn two_digits(n: usize) -> [u8; 2] {
    let n = u8::try_from(n.min(99)).unwrap_or(99);
    [b'0'.saturating_add(n / 10), b'0'.saturating_add(n % 10)]
}

/// The first and last byte of the first ALPN value; `00` when there is none.
fn alpn_chars(alpn: &[u8]) -> [u8; 2] {
    let end = |b: u8| match b {
        0x20..=0x7e => Some(b),
        0x80.. => Some(b'9'),
        _ => None,
    };
    match (alpn.first(), alpn.last()) {
        (Some(&f), Some(&l)) => match (end(f), end(l)) {
            (Some(f), Some(l)) => [f, l],
            _ => *b"99",
        },
        _ => *b"00",
    }
}

fn hex4(v: u16) -> [u8; 4] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digit = |shift: u16| {
        HEX.get(usize::from((v >> shift) & 0xf))
            .copied()
            .unwrap_or(b'0')
    };
    [digit(12), digit(8), digit(4), digit(0)]
}

/// Feeds `a,b,c` (4 hex digits each) to the hash.
fn hash_list<'a>(h: &mut Sha256, values: impl Iterator<Item = &'a u16>) {
    for (i, &v) in values.enumerate() {
        if i > 0 {
            h.update(b",");
        }
        h.update(hex4(v));
    }
}

/// A bounded list of u16 values on the stack.
struct List {
    values: [u16; MAX_LIST],
    len: usize,
}

impl Default for List {
    fn default() -> Self {
        List {
            values: [0; MAX_LIST],
            len: 0,
        }
    }
}

impl List {
    fn push(&mut self, v: u16) -> Option<()> {
        *self.values.get_mut(self.len)? = v;
        self.len = self.len.checked_add(1)?;
        Some(())
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn values(&self) -> std::slice::Iter<'_, u16> {
        self.values.get(..self.len).unwrap_or_default().iter()
    }

    fn sort(&mut self) {
        if let Some(v) = self.values.get_mut(..self.len) {
            v.sort_unstable();
        }
    }
}

/// Writes into the fixed JA4 buffer; excess bytes are dropped (the layout is fixed, so none are).
struct Writer<'a> {
    buf: &'a mut [u8; JA4_LEN],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.at) {
                *slot = b;
                self.at = self.at.saturating_add(1);
            }
        }
    }

    /// The first 12 hex digits of the hash.
    fn put_hash(&mut self, h: Sha256) {
        let digest = h.finalize();
        for pair in digest.chunks(2).take(3) {
            if let [a, b] = pair {
                self.put(&hex4(u16::from_be_bytes([*a, *b])));
            }
        }
    }
}

#[cfg(test)]
// Tests may index, unwrap and panic: a failure is the point.
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests;
