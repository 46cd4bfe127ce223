//! Capture files: pcap (both byte orders, µs and ns) and pcapng (SHB/IDB/EPB/SPB, both byte
//! orders), link types Ethernet (802.1Q / QinQ), raw IP (101, 228, 229), Linux cooked SLL (113) and
//! SLL2 (276), BSD null/loopback (0, 108); IPv4/IPv6 decoding with bounded fragment reassembly.
//! Pure: bytes in, borrowed packets out; nothing here panics on a hostile file.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::net::IpAddr;

use crate::dissect::Reader;

/// Link types (tcpdump.org/linktypes.html).
pub mod link {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW: u32 = 101;
    pub const LINUX_SLL: u32 = 113;
    pub const LOOP: u32 = 108;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// Largest packet record accepted (pcap's usual snaplen bound is 262144).
pub const MAX_RECORD: usize = 262_144;
/// VLAN tags skipped at most (QinQ is two; a few more are tolerated).
const MAX_VLAN_TAGS: usize = 4;
/// Fragmented datagrams being reassembled at once, and bytes per datagram.
pub const MAX_FRAG_DATAGRAMS: usize = 64;
pub const MAX_FRAG_BYTES: usize = 65_535;
/// IPv6 extension headers walked at most.
const MAX_EXT_HEADERS: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaptureError {
    #[error("not a pcap or pcapng file (magic {0:#010x})")]
    BadMagic(u32),
    #[error("file too short for a capture header")]
    TooShort,
    #[error("pcapng block malformed at byte {0}")]
    BadBlock(usize),
}

/// One packet record, borrowed from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Microseconds since the epoch.
    pub ts_us: u64,
    pub link_type: u32,
    pub data: &'a [u8],
    pub orig_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pcap { big: bool, nanos: bool, link: u32 },
    PcapNg,
}

/// Iterates over the records of a capture held in memory.
pub struct Records<'a> {
    data: &'a [u8],
    pos: usize,
    format: Format,
    /// pcapng interfaces: (link type, big endian, ts units per second).
    interfaces: Vec<(u32, u64)>,
    big: bool,
    /// The file ended inside a record (or a pcapng block's length field made the rest unreadable).
    pub truncated: bool,
    /// pcapng blocks that were framed correctly but could not be read (an Enhanced Packet Block for
    /// an interface never described, a captured length beyond its block, …): skipped, not the end.
    pub skipped: u64,
    /// The first problem seen, as (byte offset in the file, what was wrong): a skipped block, or where
    /// the file became unreadable.
    pub first_problem: Option<(usize, &'static str)>,
}

impl<'a> Records<'a> {
    /// Reads the file header.
    ///
    /// # Errors
    /// [`CaptureError`] when the data is not a capture.
    pub fn new(data: &'a [u8]) -> Result<Self, CaptureError> {
        let magic_le = Reader::new(data)
            .take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(CaptureError::TooShort)?;
        let (format, pos, big) = match magic_le {
            0xa1b2_c3d4 => (pcap_hdr(data, false, false)?, 24, false),
            0xa1b2_3c4d => (pcap_hdr(data, false, true)?, 24, false),
            0xd4c3_b2a1 => (pcap_hdr(data, true, false)?, 24, true),
            0x4d3c_b2a1 => (pcap_hdr(data, true, true)?, 24, true),
            0x0a0d_0d0a => (Format::PcapNg, 0, false),
            m => return Err(CaptureError::BadMagic(m)),
        };
        Ok(Records {
            data,
            pos,
            format,
            interfaces: Vec::new(),
            big,
            truncated: false,
            skipped: 0,
            first_problem: None,
        })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.data.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn next_pcap(&mut self, nanos: bool, link: u32) -> Option<Record<'a>> {
        if self.pos >= self.data.len() {
            return None;
        }
        let hdr = self.pos;
        let (Some(sec), Some(frac), Some(incl), Some(orig)) = (
            self.u32_at(hdr),
            self.u32_at(hdr.checked_add(4)?),
            self.u32_at(hdr.checked_add(8)?),
            self.u32_at(hdr.checked_add(12)?),
        ) else {
            self.truncate_at(hdr, "file ends inside a record header");
            return None;
        };
        let incl = usize::try_from(incl).ok()?;
        let start = hdr.checked_add(16)?;
        let Some(data) = start
            .checked_add(incl)
            .and_then(|end| self.data.get(start..end))
            .filter(|_| incl <= MAX_RECORD)
        else {
            self.truncate_at(hdr, "record longer than the file or than 256 KiB");
            return None;
        };
        self.pos = start.checked_add(incl)?;
        let us = if nanos { frac / 1000 } else { frac };
        Some(Record {
            ts_us: u64::from(sec)
                .saturating_mul(1_000_000)
                .saturating_add(u64::from(us)),
            link_type: link,
            data,
            orig_len: orig,
        })
    }

    /// Marks the rest of the file unreadable from `at`.
    fn truncate_at(&mut self, at: usize, why: &'static str) {
        self.truncated = true;
        self.first_problem.get_or_insert((at, why));
    }

    fn next_pcapng(&mut self) -> Option<Record<'a>> {
        loop {
            let at = self.pos;
            if at >= self.data.len() {
                return None;
            }
            let Some(ty_le) = self
                .data
                .get(at..at.checked_add(4)?)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
            else {
                self.truncate_at(at, "file ends inside a block header");
                return None;
            };
            if ty_le == 0x0a0d_0d0a {
                // Section header: the byte-order magic decides the section's endianness.
                let Some(bom) = self.data.get(at.saturating_add(8)..at.saturating_add(12)) else {
                    self.truncate_at(at, "file ends inside a section header");
                    return None;
                };
                self.big = bom == [0x1a, 0x2b, 0x3c, 0x4d];
                self.interfaces.clear();
            }
            let (Some(ty), Some(len)) = (self.u32_at(at), self.u32_at(at.checked_add(4)?)) else {
                self.truncate_at(at, "file ends inside a block header");
                return None;
            };
            let len = usize::try_from(len).ok()?;
            let Some(block) = at
                .checked_add(len)
                .and_then(|end| self.data.get(at..end))
                .filter(|_| len >= 12 && len % 4 == 0)
            else {
                // The length is what finds the next block: past a bad one nothing can be trusted.
                self.truncate_at(at, "block length beyond the file or not a multiple of 4");
                return None;
            };
            self.pos = at.checked_add(len)?;
            match self.pcapng_block(ty, at, len, block) {
                Ok(Some(rec)) => return Some(rec),
                Ok(None) => {}
                Err(why) => {
                    self.skipped = self.skipped.saturating_add(1);
                    self.first_problem.get_or_insert((at, why));
                }
            }
        }
    }

    /// One framed pcapng block at `at`: a packet, nothing (headers, statistics, unknown types), or
    /// why this block cannot be read.
    fn pcapng_block(
        &mut self,
        ty: u32,
        at: usize,
        len: usize,
        block: &'a [u8],
    ) -> Result<Option<Record<'a>>, &'static str> {
        let field = |off: usize| {
            at.checked_add(off)
                .and_then(|i| self.u32_at(i))
                .ok_or("block shorter than its fields")
        };
        match ty {
            // Interface Description Block: link type u16, reserved, snaplen, options.
            1 => {
                let link = at
                    .checked_add(8)
                    .and_then(|i| self.u16_at(i))
                    .ok_or("interface description shorter than its fields")?;
                let tsres = if_tsresol(block, self.big).unwrap_or(1_000_000);
                self.interfaces.push((u32::from(link), tsres));
                Ok(None)
            }
            // Enhanced Packet Block.
            6 => {
                let iface = usize::try_from(field(8)?).map_err(|_| "interface id")?;
                let hi = u64::from(field(12)?);
                let lo = u64::from(field(16)?);
                let incl = usize::try_from(field(20)?).map_err(|_| "captured length")?;
                let orig = field(24)?;
                let data = 28usize
                    .checked_add(incl)
                    .and_then(|end| block.get(28..end))
                    .ok_or("packet's captured length beyond its block")?;
                let &(link, res) = self
                    .interfaces
                    .get(iface)
                    .ok_or("packet for an interface no description block declared")?;
                let ts = (hi << 32) | lo;
                let ts_us = if res == 1_000_000 {
                    ts
                } else {
                    u64::try_from(u128::from(ts).saturating_mul(1_000_000) / u128::from(res.max(1)))
                        .unwrap_or(u64::MAX)
                };
                Ok(Some(Record {
                    ts_us,
                    link_type: link,
                    data,
                    orig_len: orig,
                }))
            }
            // Simple Packet Block: interface 0, no timestamp.
            3 => {
                let orig = field(8)?;
                let incl = usize::try_from(orig)
                    .map_err(|_| "original length")?
                    .min(len.saturating_sub(16));
                let data = 12usize
                    .checked_add(incl)
                    .and_then(|end| block.get(12..end))
                    .ok_or("packet beyond its block")?;
                let &(link, _) = self
                    .interfaces
                    .first()
                    .ok_or("simple packet before any interface description block")?;
                Ok(Some(Record {
                    ts_us: 0,
                    link_type: link,
                    data,
                    orig_len: orig,
                }))
            }
            _ => Ok(None),
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        match self.format {
            Format::Pcap { nanos, link, .. } => self.next_pcap(nanos, link),
            Format::PcapNg => self.next_pcapng(),
        }
    }
}

fn pcap_hdr(data: &[u8], big: bool, nanos: bool) -> Result<Format, CaptureError> {
    let b: [u8; 4] = data
        .get(20..24)
        .and_then(|b| b.try_into().ok())
        .ok_or(CaptureError::TooShort)?;
    let link = if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    };
    // The upper 16 bits may carry FCS info (pcap-savefile(5)); the link type is the low 16.
    Ok(Format::Pcap {
        big,
        nanos,
        link: link & 0xffff,
    })
}

/// if_tsresol (option 9) of an IDB: units per second.
fn if_tsresol(block: &[u8], big: bool) -> Option<u64> {
    let mut r = Reader::new(block.get(16..block.len().checked_sub(4)?)?);
    for _ in 0..64 {
        let code = r.take(2)?;
        let len = r.take(2)?;
        let (code, len) = if big {
            (
                u16::from_be_bytes(code.try_into().ok()?),
                u16::from_be_bytes(len.try_into().ok()?),
            )
        } else {
            (
                u16::from_le_bytes(code.try_into().ok()?),
                u16::from_le_bytes(len.try_into().ok()?),
            )
        };
        if code == 0 {
            return None;
        }
        let v = r.take(usize::from(len))?;
        r.skip(usize::from(len.wrapping_neg() & 3))?;
        if code == 9 {
            let b = *v.first()?;
            let exp = u32::from(b & 0x7f);
            return if b & 0x80 != 0 {
                2u64.checked_pow(exp)
            } else {
                10u64.checked_pow(exp)
            };
        }
    }
    None
}

// ---------------------------------------------------------------- link and IP decoding

/// The IP packet inside a link-layer frame, or `None` for non-IP frames.
pub fn ip_of_frame(link_type: u32, frame: &[u8]) -> Option<&[u8]> {
    match link_type {
        link::ETHERNET => {
            let mut ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
            let mut at = 14usize;
            for _ in 0..MAX_VLAN_TAGS {
                // 802.1Q, 802.1ad, and the old QinQ 0x9100.
                if !matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
                    break;
                }
                ethertype = u16::from_be_bytes(
                    frame
                        .get(at.checked_add(2)?..at.checked_add(4)?)?
                        .try_into()
                        .ok()?,
                );
                at = at.checked_add(4)?;
            }
            // PPPoE session: 6-byte header + 2-byte PPP protocol (0x0021 IPv4, 0x0057 IPv6).
            if ethertype == 0x8864 {
                return frame.get(at.checked_add(8)?..);
            }
            matches!(ethertype, 0x0800 | 0x86dd)
                .then(|| frame.get(at..))
                .flatten()
        }
        link::RAW | link::IPV4 | link::IPV6 => Some(frame),
        // BSD loopback: 4-byte address family in host order (2 = IPv4; 24/28/30 = IPv6).
        link::NULL | link::LOOP => frame.get(4..),
        link::LINUX_SLL => {
            let proto = u16::from_be_bytes(frame.get(14..16)?.try_into().ok()?);
            matches!(proto, 0x0800 | 0x86dd)
                .then(|| frame.get(16..))
                .flatten()
        }
        link::LINUX_SLL2 => {
            let proto = u16::from_be_bytes(frame.get(0..2)?.try_into().ok()?);
            matches!(proto, 0x0800 | 0x86dd)
                .then(|| frame.get(20..))
                .flatten()
        }
        _ => None,
    }
}

/// An IP packet's addresses, transport protocol and transport bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpView<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// Transport header + payload (cut to the IP length).
    pub l4: &'a [u8],
    /// Total IP length on the wire.
    pub ip_len: usize,
    pub frag: Option<Fragment>,
}

/// Where a fragment belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    pub id: u32,
    pub offset: usize,
    pub more: bool,
}

/// Parses an IPv4 or IPv6 header (with extension headers).
pub fn parse_ip(p: &[u8]) -> Option<IpView<'_>> {
    match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p.first()? & 0xf).checked_mul(4)?;
            let total = usize::from(u16::from_be_bytes(p.get(2..4)?.try_into().ok()?));
            let flags_off = u16::from_be_bytes(p.get(6..8)?.try_into().ok()?);
            let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            // Truncated captures keep what they have; a zero total length (TSO) means "all".
            let end = if total >= ihl {
                total.min(p.len())
            } else {
                p.len()
            };
            let l4 = p.get(ihl..end)?;
            let more = flags_off & 0x2000 != 0;
            let offset = usize::from(flags_off & 0x1fff).checked_mul(8)?;
            let frag = (more || offset > 0).then(|| Fragment {
                id: u32::from(u16::from_be_bytes([
                    *p.get(4).unwrap_or(&0),
                    *p.get(5).unwrap_or(&0),
                ])),
                offset,
                more,
            });
            Some(IpView {
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                proto: *p.get(9)?,
                l4,
                ip_len: total.max(end),
                frag,
            })
        }
        6 => {
            let plen = usize::from(u16::from_be_bytes(p.get(4..6)?.try_into().ok()?));
            let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            let mut next = *p.get(6)?;
            let end = 40usize.checked_add(plen)?.min(p.len());
            let mut at = 40usize;
            let mut frag = None;
            for _ in 0..MAX_EXT_HEADERS {
                match next {
                    // Hop-by-hop, routing, destination options: (next, len in 8-byte units - 1).
                    0 | 43 | 60 => {
                        let len = usize::from(*p.get(at.checked_add(1)?)?)
                            .checked_add(1)?
                            .checked_mul(8)?;
                        next = *p.get(at)?;
                        at = at.checked_add(len)?;
                    }
                    44 => {
                        let off_flags = u16::from_be_bytes(
                            p.get(at.checked_add(2)?..at.checked_add(4)?)?
                                .try_into()
                                .ok()?,
                        );
                        let id = u32::from_be_bytes(
                            p.get(at.checked_add(4)?..at.checked_add(8)?)?
                                .try_into()
                                .ok()?,
                        );
                        frag = Some(Fragment {
                            id,
                            offset: usize::from(off_flags >> 3).checked_mul(8)?,
                            more: off_flags & 1 != 0,
                        });
                        next = *p.get(at)?;
                        at = at.checked_add(8)?;
                    }
                    _ => break,
                }
            }
            Some(IpView {
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                proto: next,
                l4: p.get(at..end)?,
                ip_len: 40usize.checked_add(plen)?,
                frag: frag.filter(|f| f.more || f.offset > 0),
            })
        }
        _ => None,
    }
}

/// Bounded IP fragment reassembly (RFC 815 style holes, simplified: fragments must not overlap).
#[derive(Debug, Default)]
pub struct Defrag {
    pending: HashMap<(IpAddr, IpAddr, u8, u32), Pending>,
    /// Datagrams dropped for exceeding a bound.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Pending {
    buf: Vec<u8>,
    have: usize,
    total: Option<usize>,
}

impl Defrag {
    /// Adds a fragment; returns the whole transport payload once every byte has arrived.
    pub fn push(&mut self, v: &IpView<'_>) -> Option<Vec<u8>> {
        let f = v.frag?;
        let key = (v.src, v.dst, v.proto, f.id);
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_FRAG_DATAGRAMS {
            self.dropped = self.dropped.saturating_add(1);
            // Forget the oldest-looking entry: any one, to stay bounded.
            let k = *self.pending.keys().next()?;
            self.pending.remove(&k);
        }
        let end = f.offset.checked_add(v.l4.len())?;
        if end > MAX_FRAG_BYTES {
            self.pending.remove(&key);
            self.dropped = self.dropped.saturating_add(1);
            return None;
        }
        let p = self.pending.entry(key).or_default();
        if p.buf.len() < end {
            p.buf.resize(end, 0);
        }
        p.buf.get_mut(f.offset..end)?.copy_from_slice(v.l4);
        p.have = p.have.saturating_add(v.l4.len());
        if !f.more {
            p.total = Some(end);
        }
        if p.total.is_some_and(|t| p.have >= t) {
            let mut done = self.pending.remove(&key)?;
            done.buf.truncate(done.total.unwrap_or(done.buf.len()));
            return Some(done.buf);
        }
        None
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    if let Ok(r) = Records::new(data) {
        for rec in r.take(10_000) {
            if let Some(ip) = ip_of_frame(rec.link_type, rec.data) {
                let _ = parse_ip(ip);
            }
        }
    }
    for lt in [
        link::ETHERNET,
        link::LINUX_SLL,
        link::LINUX_SLL2,
        link::NULL,
        link::RAW,
    ] {
        if let Some(ip) = ip_of_frame(lt, data)
            && let Some(v) = parse_ip(ip)
        {
            let _ = Defrag::default().push(&v);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A little-endian pcapng block: type, total length, body (padded to 4), total length.
    fn block(ty: u32, body: &[u8]) -> Vec<u8> {
        let mut b = body.to_vec();
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
        let len = u32::try_from(b.len() + 12).unwrap();
        let mut out = ty.to_le_bytes().to_vec();
        out.extend(len.to_le_bytes());
        out.extend(b);
        out.extend(len.to_le_bytes());
        out
    }

    fn shb() -> Vec<u8> {
        // Byte-order magic 0x1a2b3c4d (little endian), version 1.0, section length -1.
        let mut body = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
        body.extend([0xff; 8]);
        block(0x0a0d_0d0a, &body)
    }

    fn idb() -> Vec<u8> {
        // Link type 101 (raw IP), reserved, snaplen 65535.
        block(1, &[101, 0, 0, 0, 0xff, 0xff, 0, 0])
    }

    fn epb(iface: u32, incl: u32, data: &[u8]) -> Vec<u8> {
        let mut body = iface.to_le_bytes().to_vec();
        body.extend([0u8; 8]); // timestamp
        body.extend(incl.to_le_bytes());
        body.extend(u32::try_from(data.len()).unwrap().to_le_bytes());
        body.extend(data);
        block(6, &body)
    }

    #[test]
    fn malformed_enhanced_packets_are_skipped_and_reported_not_the_end() {
        let pkt = [0x45u8; 20];
        let mut f = shb();
        f.extend(idb());
        f.extend(epb(0, 20, &pkt));
        let bad_iface_at = f.len();
        f.extend(epb(7, 20, &pkt)); // interface 7 was never described
        f.extend(epb(0, 4000, &pkt)); // captured length beyond the block
        f.extend(epb(0, 20, &pkt));
        let mut r = Records::new(&f).unwrap();
        let got: Vec<_> = r.by_ref().collect();
        assert_eq!(
            got.len(),
            2,
            "the packets after the bad blocks are still read"
        );
        assert_eq!(r.skipped, 2);
        assert!(!r.truncated);
        let (at, why) = r.first_problem.unwrap();
        assert_eq!(at, bad_iface_at);
        assert!(why.contains("interface"), "{why}");
    }

    #[test]
    fn packets_without_an_interface_description_are_counted() {
        let mut f = shb();
        f.extend(epb(0, 20, &[0x45; 20]));
        f.extend(epb(0, 20, &[0x45; 20]));
        let mut r = Records::new(&f).unwrap();
        assert_eq!(r.by_ref().count(), 0);
        assert_eq!(r.skipped, 2);
    }

    #[test]
    fn a_cut_file_reports_where() {
        let mut f = shb();
        f.extend(idb());
        let cut_at = f.len();
        let mut last = epb(0, 20, &[0x45; 20]);
        last.truncate(20);
        f.extend(last);
        let mut r = Records::new(&f).unwrap();
        assert_eq!(r.by_ref().count(), 0);
        assert!(r.truncated);
        assert_eq!(r.first_problem.map(|p| p.0), Some(cut_at));
    }
}
