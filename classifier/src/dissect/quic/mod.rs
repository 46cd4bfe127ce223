//! QUIC Initial packets (RFC 9000 §17.2.2; v2 RFC 9369; drafts 22–32): removes header protection
//! and decrypts the payload with the Initial keys of RFC 9001 §5 (pure-Rust RustCrypto), collects
//! CRYPTO frames into a bounded per-flow buffer (`MAX_HANDSHAKE_BYTES`, any order), and reads the
//! TLS ClientHello's SNI and ALPN. Google QUIC (Q0xx versions) carries the CHLO in clear: its SNI
//! tag is read directly.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use aes_gcm::{AeadInPlace, Aes128Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

use super::{Ctx, Probe, Reader, ids, tls};
pub use crate::reassembly::MAX_HANDSHAKE_BYTES;
use crate::reassembly::StreamBuf;

/// What a QUIC match carries (the engine calls [`probe`] itself: it keeps per-flow state).
pub const EMITS: &[nfguard_proto::AppId] = &[ids::QUIC];

/// RFC 9000 §17.2: connection ids are at most 20 bytes in v1.
const MAX_CID_LEN: usize = 20;
/// RFC 9001 §5.4.2: the header-protection sample is 16 bytes, taken 4 bytes after the pn start.
const SAMPLE_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// Frames parsed per packet (a real Initial has a few CRYPTO frames and padding).
const MAX_FRAMES: usize = 64;
/// Largest datagram decrypted; anything larger is not an Initial (RFC 9000 §14: ≤ path MTU).
pub const MAX_DATAGRAM: usize = 1600;

pub const V1: u32 = 0x0000_0001;
pub const V2: u32 = 0x6b33_43cf;

/// Initial salts (RFC 9001 §5.2, RFC 9369 §3.3.1, draft-ietf-quic-tls-23/29 §5.2).
const SALT_V1: [u8; 20] = hex20(b"38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
const SALT_V2: [u8; 20] = hex20(b"0dede3def700a6db819381be6e269dcbf9bd2ed9");
const SALT_DRAFT_29: [u8; 20] = hex20(b"afbfec289993d24c9e9786f19c6111e04390a899");
const SALT_DRAFT_23: [u8; 20] = hex20(b"c3eef712c72ebb5a11a7d2432bb46365bef9f502");
const SALT_DRAFT_22: [u8; 20] = hex20(b"7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a");

/// A QUIC version as seen on the wire; unknown ones are values, not errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
    /// IETF drafts (0xff0000NN) and Facebook mvfst (0xfaceb00N).
    Draft(u32),
    /// Google QUIC, `Q0xx` / `T0xx` tags.
    Google(u32),
    Unknown(u32),
}

impl Version {
    pub fn from_u32(v: u32) -> Version {
        match v {
            V1 => Version::V1,
            V2 => Version::V2,
            0xff00_0016..=0xff00_0022 | 0xface_b001..=0xface_b00f => Version::Draft(v),
            _ if is_google(v) => Version::Google(v),
            _ => Version::Unknown(v),
        }
    }

    /// The salts to try, most likely first (mvfst's choice varies by release, so both draft
    /// salts are tried; the AEAD tag tells which is right).
    fn salts(self) -> &'static [[u8; 20]] {
        match self {
            Version::V1 => &[SALT_V1],
            Version::V2 => &[SALT_V2],
            Version::Draft(v) if (0xff00_001d..=0xff00_0022).contains(&v) => &[SALT_DRAFT_29],
            Version::Draft(v) if (0xff00_0017..=0xff00_001c).contains(&v) => &[SALT_DRAFT_23],
            Version::Draft(0xff00_0016) => &[SALT_DRAFT_22],
            Version::Draft(_) => &[SALT_DRAFT_23, SALT_DRAFT_22, SALT_DRAFT_29],
            _ => &[],
        }
    }

    fn labels(self) -> (&'static [u8], &'static [u8], &'static [u8]) {
        match self {
            Version::V2 => (b"quicv2 key", b"quicv2 iv", b"quicv2 hp"),
            _ => (b"quic key", b"quic iv", b"quic hp"),
        }
    }

    /// Long-header packet type of Initial (RFC 9369 §3.2 swaps the codes).
    fn initial_type(self) -> u8 {
        if self == Version::V2 { 1 } else { 0 }
    }
}

/// Google QUIC's version tags as deployed: `Q02x`–`Q05x` and `T05x` (as nDPI's `is_version_gquic`),
/// the last byte a digit. A looser test (any `Q`/`T` first byte) took one random datagram in 512
/// for QUIC.
fn is_google(v: u32) -> bool {
    let [tag, zero, major, minor] = v.to_be_bytes();
    let known_major = match tag {
        b'Q' => (b'2'..=b'5').contains(&major),
        b'T' => major == b'5',
        _ => false,
    };
    known_major && zero == b'0' && minor.is_ascii_digit()
}

/// Keys for one direction (RFC 9001 §5.1).
pub struct Keys {
    pub key: [u8; 16],
    pub iv: [u8; 12],
    pub hp: [u8; 16],
}

/// Derives the Initial keys from the client's first Destination Connection ID.
pub fn initial_keys(version: Version, salt: &[u8; 20], dcid: &[u8], server: bool) -> Option<Keys> {
    let (_, hk) = Hkdf::<Sha256>::extract(Some(salt), dcid);
    let mut secret = [0u8; 32];
    let label: &[u8] = if server { b"server in" } else { b"client in" };
    expand_label(&hk, label, &mut secret)?;
    let hk = Hkdf::<Sha256>::from_prk(&secret).ok()?;
    let (lk, liv, lhp) = version.labels();
    let mut k = Keys {
        key: [0; 16],
        iv: [0; 12],
        hp: [0; 16],
    };
    expand_label(&hk, lk, &mut k.key)?;
    expand_label(&hk, liv, &mut k.iv)?;
    expand_label(&hk, lhp, &mut k.hp)?;
    Some(k)
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(hk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) -> Option<()> {
    let mut info = [0u8; 64];
    let len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let full_len = label.len().checked_add(6)?; // "tls13 " prefix
    let parts: [&[u8]; 5] = [
        &len,
        &[u8::try_from(full_len).ok()?],
        b"tls13 ",
        label,
        &[0],
    ];
    let mut n = 0usize;
    for p in parts {
        let end = n.checked_add(p.len())?;
        info.get_mut(n..end)?.copy_from_slice(p);
        n = end;
    }
    hk.expand(info.get(..n)?, out).ok()
}

/// The AES-ECB header-protection mask of RFC 9001 §5.4.3.
pub fn hp_mask(hp: &[u8; 16], sample: &[u8]) -> Option<[u8; 16]> {
    let cipher = Aes128::new(GenericArray::from_slice(hp));
    let mut block = GenericArray::clone_from_slice(sample.get(..SAMPLE_LEN)?);
    cipher.encrypt_block(&mut block);
    let mut out = [0u8; 16];
    out.copy_from_slice(&block);
    Some(out)
}

/// The result of probing one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuicHit<'a> {
    pub version: u32,
    pub sni: &'a [u8],
    pub alpn: &'a [u8],
    /// The ClientHello's JA4 and ECH flag, when the Initials carried a whole ClientHello.
    pub hello: Option<tls::ja4::Fingerprint>,
}

/// Probes a UDP datagram. `crypto` is the flow's CRYPTO-stream buffer (created on demand) and
/// `scratch` a reusable decryption buffer; the returned SNI borrows one of them or `data`.
/// `NeedMore` means "QUIC Initial, ClientHello not complete yet".
pub fn probe<'a>(
    ctx: &Ctx,
    data: &'a [u8],
    crypto: &'a mut Option<Box<StreamBuf>>,
    scratch: &mut Vec<u8>,
) -> Probe<QuicHit<'a>> {
    if !ctx.is_udp() || !ctx.from_client {
        return Probe::NoMatch;
    }
    let Some(&first) = data.first() else {
        return Probe::NoMatch;
    };
    // Google QUIC's public header (Q043 and older): flags with the version bit, CID, 'Q0xx'.
    if first & 0x80 == 0 {
        return gquic_public(data);
    }
    let mut r = Reader::new(data);
    r.skip(1);
    let Some(v) = r.u32() else {
        return Probe::NoMatch;
    };
    let version = Version::from_u32(v);
    if let Version::Google(_) = version {
        // Q046 keeps the IETF long-header invariants; Q046–Q049 carry the CHLO in clear.
        return match find_chlo_sni(data) {
            Some(sni) => Probe::Match(QuicHit {
                version: v,
                sni,
                alpn: &[],
                hello: None,
            }),
            None if first & 0x40 != 0 => Probe::Match(QuicHit {
                version: v,
                sni: &[],
                alpn: &[],
                hello: None,
            }),
            None => Probe::NoMatch,
        };
    }
    if version.salts().is_empty() || first & 0x40 == 0 {
        return Probe::NoMatch;
    }
    if (first >> 4) & 0x3 != version.initial_type() {
        return Probe::NoMatch;
    }
    let Some(dcid) = r.vec8() else {
        return Probe::NoMatch;
    };
    let Some(scid) = r.vec8() else {
        return Probe::NoMatch;
    };
    if dcid.len() > MAX_CID_LEN || scid.len() > MAX_CID_LEN {
        return Probe::NoMatch;
    }
    let (Some(token_len), _) = (varint(&mut r), ()) else {
        return Probe::NoMatch;
    };
    let Some(_token) = usize::try_from(token_len).ok().and_then(|n| r.take(n)) else {
        return Probe::NoMatch;
    };
    let Some(len) = varint(&mut r).and_then(|l| usize::try_from(l).ok()) else {
        return Probe::NoMatch;
    };
    let pn_offset = data.len().saturating_sub(r.len());
    let Some(end) = pn_offset.checked_add(len) else {
        return Probe::NoMatch;
    };
    let Some(packet) = data.get(..end) else {
        return Probe::NoMatch;
    };
    if packet.len() > MAX_DATAGRAM {
        return Probe::NoMatch;
    }
    let mut decrypted = false;
    for salt in version.salts() {
        if decrypt_initial(version, salt, dcid, packet, pn_offset, scratch).is_some() {
            decrypted = true;
            break;
        }
    }
    if !decrypted {
        return Probe::NoMatch;
    }
    let stream = crypto.get_or_insert_with(Box::default);
    if collect_crypto(scratch, stream).is_none() {
        return Probe::NoMatch;
    }
    let stream: &'a StreamBuf = stream;
    match tls::parse_handshake(stream.contiguous()) {
        Probe::Match(tls::Handshake::ClientHello(ch)) => Probe::Match(QuicHit {
            version: v,
            sni: ch.sni,
            alpn: ch.first_alpn().unwrap_or(&[]),
            hello: tls::ja4::of_handshake(stream.contiguous(), tls::ja4::Transport::Quic),
        }),
        Probe::Match(tls::Handshake::ServerHello) | Probe::NoMatch => Probe::Match(QuicHit {
            version: v,
            sni: &[],
            alpn: &[],
            hello: None,
        }),
        Probe::NeedMore => Probe::NeedMore,
    }
}

/// Removes header protection and decrypts `packet` into `out` (the plaintext frames).
fn decrypt_initial(
    version: Version,
    salt: &[u8; 20],
    dcid: &[u8],
    packet: &[u8],
    pn_offset: usize,
    out: &mut Vec<u8>,
) -> Option<()> {
    let keys = initial_keys(version, salt, dcid, false)?;
    let sample_at = pn_offset.checked_add(4)?;
    let mask = hp_mask(
        &keys.hp,
        packet.get(sample_at..sample_at.checked_add(SAMPLE_LEN)?)?,
    )?;
    let first = packet.first()? ^ (mask.first()? & 0x0f);
    let pn_len = usize::from(first & 0x3).checked_add(1)?;
    let header_end = pn_offset.checked_add(pn_len)?;
    let mut header = [0u8; 64 + MAX_CID_LEN * 2];
    let hdr = header.get_mut(..header_end)?;
    hdr.copy_from_slice(packet.get(..header_end)?);
    *hdr.first_mut()? = first;
    let mut pn: u64 = 0;
    for i in 0..pn_len {
        let b = hdr.get_mut(pn_offset.checked_add(i)?)?;
        *b ^= mask.get(i.checked_add(1)?)?;
        pn = (pn << 8) | u64::from(*b);
    }
    let mut nonce = keys.iv;
    for (n, p) in nonce.iter_mut().rev().zip(pn.to_be_bytes().iter().rev()) {
        *n ^= p;
    }
    let body = packet.get(header_end..)?;
    let split = body.len().checked_sub(TAG_LEN)?;
    let (ct, tag) = body.split_at_checked(split)?;
    out.clear();
    out.extend_from_slice(ct);
    let cipher = Aes128Gcm::new(GenericArray::from_slice(&keys.key));
    cipher
        .decrypt_in_place_detached(Nonce::from_slice(&nonce), hdr, out, Tag::from_slice(tag))
        .ok()
}

/// Walks the frames of a decrypted Initial, storing CRYPTO data (RFC 9000 §19.6).
fn collect_crypto(frames: &[u8], stream: &mut StreamBuf) -> Option<()> {
    let mut r = Reader::new(frames);
    for _ in 0..MAX_FRAMES {
        let Some(ty) = varint(&mut r) else {
            return Some(());
        };
        match ty {
            0x00 => {
                // PADDING runs to the end in practice; skip zeros quickly.
                let zeros = r.rest().iter().take_while(|&&b| b == 0).count();
                r.skip(zeros)?;
            }
            0x01 => {} // PING
            0x02 | 0x03 => {
                // ACK: largest, delay, range count, first range, ranges, [ECN counts].
                varint(&mut r)?;
                varint(&mut r)?;
                let n = varint(&mut r)?;
                varint(&mut r)?;
                for _ in 0..n.min(64) {
                    varint(&mut r)?;
                    varint(&mut r)?;
                }
                if ty == 0x03 {
                    for _ in 0..3 {
                        varint(&mut r)?;
                    }
                }
            }
            0x06 => {
                let off = varint(&mut r)?;
                let len = usize::try_from(varint(&mut r)?).ok()?;
                stream.insert(off, r.take(len)?);
            }
            0x1c | 0x1d => return Some(()), // CONNECTION_CLOSE
            _ => return Some(()),
        }
    }
    Some(())
}

/// RFC 9000 §16 variable-length integer.
pub fn varint(r: &mut Reader<'_>) -> Option<u64> {
    let first = r.u8()?;
    let extra = (1usize << (first >> 6)).checked_sub(1)?;
    let mut v = u64::from(first & 0x3f);
    for _ in 0..extra {
        v = (v << 8) | u64::from(r.u8()?);
    }
    Some(v)
}

/// Google QUIC public header (flags 0x01 version present): CID 8 bytes, then the 'Q0xx' tag.
fn gquic_public(data: &[u8]) -> Probe<QuicHit<'_>> {
    let flags = super::at(data, 0);
    if flags & 0x01 == 0 || flags & 0x80 != 0 {
        return Probe::NoMatch;
    }
    let cid_len = if flags & 0x08 != 0 { 8 } else { 0 };
    let Some(v) = super::be32(data, 1usize.saturating_add(cid_len)) else {
        return Probe::NoMatch;
    };
    if v >> 24 != u32::from(b'Q')
        || !data
            .get(2usize.saturating_add(cid_len)..5usize.saturating_add(cid_len))
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    {
        return Probe::NoMatch;
    }
    Probe::Match(QuicHit {
        version: v,
        sni: find_chlo_sni(data).unwrap_or(&[]),
        alpn: &[],
        hello: None,
    })
}

/// The SNI tag of a clear-text gQUIC CHLO (tag list: u16 count LE, u16 pad, (tag, end-offset u32 LE)*).
fn find_chlo_sni(data: &[u8]) -> Option<&[u8]> {
    let at = super::find(data, b"CHLO")?;
    let mut r = Reader::new(data.get(at.checked_add(4)?..)?);
    let n = usize::from(u16::from_le_bytes(r.take(2)?.try_into().ok()?));
    r.skip(2)?;
    let table = r.take(n.checked_mul(8)?)?;
    let values = r.rest();
    let mut prev_end = 0usize;
    for entry in table.chunks_exact(8) {
        let tag = entry.get(..4)?;
        let end = usize::try_from(u32::from_le_bytes(entry.get(4..8)?.try_into().ok()?)).ok()?;
        if tag == b"SNI\0" {
            let sni = values.get(prev_end..end)?;
            return (!sni.is_empty()).then_some(sni);
        }
        prev_end = end;
    }
    None
}

// Compile-time constants only: a malformed literal fails the build, never a packet.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn hex20(s: &[u8; 40]) -> [u8; 20] {
    let mut out = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        out[i] = (nib(s[2 * i]) << 4) | nib(s[2 * i + 1]);
        i += 1;
    }
    out
}

#[allow(clippy::arithmetic_side_effects)]
const fn nib(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let mut crypto = None;
    let mut scratch = Vec::new();
    let _ = probe(
        &Ctx::client(17, 40000, 443),
        data,
        &mut crypto,
        &mut scratch,
    );
    let mut s = StreamBuf::default();
    let _ = collect_crypto(data, &mut s);
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests;
