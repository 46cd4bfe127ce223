//! DNS over UDP and TCP (RFC 1035 §4.1, §4.2.2), and its multicast cousins mDNS (RFC 6762, port
//! 5353) and LLMNR (RFC 4795, port 5355): the question name for classification, and A/AAAA answers
//! with their TTLs for the engine's DNS-answer cache. Name decompression is bounded by
//! `MAX_LABELS` and `MAX_POINTER_JUMPS`.

use std::net::IpAddr;

use super::{Ctx, Dissector, Hit, Probe, Reader, be16, ids};

const HEADER_LEN: usize = 12;
/// RFC 1035 §2.3.4: names are at most 255 bytes in wire form, so at most 127 labels.
pub const MAX_LABELS: usize = 128;
/// Compression pointers followed per name before giving up (Suricata `dns/parser.rs` caps loops
/// the same way; a real name needs a handful).
pub const MAX_POINTER_JUMPS: usize = 16;
/// RFC 1035 §2.3.4.
pub const MAX_NAME_LEN: usize = 255;
/// Answers read per message for the cache: enough for CDN responses, bounded for hostile ones.
pub const MAX_ANSWERS: usize = 32;

const DNS_PORT: u16 = 53;
const MDNS_PORT: u16 = 5353;
const LLMNR_PORT: u16 = 5355;
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_CNAME: u16 = 5;

pub const DISSECTOR: Dissector = Dissector {
    name: "dns",
    probe,
    tcp_ports: &[DNS_PORT, MDNS_PORT, LLMNR_PORT],
    udp_ports: &[DNS_PORT, MDNS_PORT, LLMNR_PORT],
    reassemble: true,
    emits: &[ids::DNS, ids::MDNS, ids::LLMNR],
};

/// A DNS message header and question, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The whole message (after the TCP length prefix).
    pub msg: &'a [u8],
    pub is_response: bool,
    /// The question name in wire form (length-prefixed labels), empty if none or compressed.
    pub qname: &'a [u8],
    pub qtype: u16,
}

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let master = if ctx.has_port(DNS_PORT) {
        ids::DNS
    } else if ctx.has_port(MDNS_PORT) {
        ids::MDNS
    } else if ctx.has_port(LLMNR_PORT) {
        ids::LLMNR
    } else {
        return Probe::NoMatch;
    };
    let msg = if ctx.is_tcp() {
        if !ctx.stream_start {
            return Probe::NoMatch;
        }
        let Some(len) = be16(data, 0) else {
            return Probe::NeedMore;
        };
        match data.get(2..usize::from(len).saturating_add(2)) {
            Some(m) => m,
            None if data.len() < usize::from(len).saturating_add(2) => return Probe::NeedMore,
            None => return Probe::NoMatch,
        }
    } else {
        data
    };
    match parse(msg) {
        Some(m) => Probe::Match(Hit {
            master,
            app: master,
            host: m.qname,
            dns_labels: true,
        }),
        None if ctx.is_tcp() && msg.len() < HEADER_LEN => Probe::NeedMore,
        None => Probe::NoMatch,
    }
}

/// Parses the header and first question; `None` when it does not look like DNS.
pub fn parse(msg: &[u8]) -> Option<Message<'_>> {
    let mut r = Reader::new(msg);
    let _id = r.u16()?;
    let flags = r.u16()?;
    let qd = r.u16()?;
    let an = r.u16()?;
    let _ns = r.u16()?;
    let _ar = r.u16()?;
    let is_response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    // Opcodes 0 (query), 4 (notify), 5 (update) are what real traffic uses; Z must be zero.
    if !matches!(opcode, 0 | 4 | 5) || qd > 8 || (qd == 0 && (an == 0 || !is_response)) {
        return None;
    }
    if qd == 0 {
        return Some(Message {
            msg,
            is_response,
            qname: &[],
            qtype: 0,
        });
    }
    let start = r.rest();
    let name_len = skip_name(&mut r)?;
    let qname = if name_len.compressed {
        &[][..]
    } else {
        start.get(..name_len.wire)?
    };
    let qtype = r.u16()?;
    let _qclass = r.u16()?;
    Some(Message {
        msg,
        is_response,
        qname,
        qtype,
    })
}

struct NameLen {
    wire: usize,
    compressed: bool,
}

/// Skips a name at the reader, returning its wire length (up to and including the end or pointer).
fn skip_name(r: &mut Reader<'_>) -> Option<NameLen> {
    let mut wire = 0usize;
    for _ in 0..MAX_LABELS {
        let len = r.u8()?;
        wire = wire.checked_add(1)?;
        match len {
            0 => {
                return Some(NameLen {
                    wire,
                    compressed: false,
                });
            }
            l if l & 0xc0 == 0xc0 => {
                r.u8()?;
                return Some(NameLen {
                    wire: wire.checked_add(1)?,
                    compressed: true,
                });
            }
            l if l & 0xc0 != 0 => return None,
            l => {
                r.skip(usize::from(l))?;
                wire = wire.checked_add(usize::from(l))?;
                if wire > MAX_NAME_LEN {
                    return None;
                }
            }
        }
    }
    None
}

/// Writes the dotted, lower-case form of the name at `offset` of `msg` into `out`, following
/// compression pointers (bounded). Returns the length written.
pub fn read_name(msg: &[u8], mut offset: usize, out: &mut [u8; MAX_NAME_LEN]) -> Option<usize> {
    let mut n = 0usize;
    let mut jumps = 0usize;
    for _ in 0..MAX_LABELS {
        let len = *msg.get(offset)?;
        if len == 0 {
            return Some(n);
        }
        if len & 0xc0 == 0xc0 {
            jumps = jumps.checked_add(1)?;
            if jumps > MAX_POINTER_JUMPS {
                return None;
            }
            let lo = *msg.get(offset.checked_add(1)?)?;
            offset = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
            continue;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        let start = offset.checked_add(1)?;
        let end = start.checked_add(usize::from(len))?;
        let label = msg.get(start..end)?;
        if n > 0 {
            *out.get_mut(n)? = b'.';
            n = n.checked_add(1)?;
        }
        let dst = out.get_mut(n..n.checked_add(label.len())?)?;
        for (d, s) in dst.iter_mut().zip(label) {
            *d = s.to_ascii_lowercase();
        }
        n = n.checked_add(label.len())?;
        offset = end;
    }
    None
}

/// Dotted form of a wire-form name without pointers (a question name from [`parse`]).
pub fn labels_to_dotted(wire: &[u8], out: &mut [u8; MAX_NAME_LEN]) -> Option<usize> {
    read_name(wire, 0, out)
}

/// Calls `f(ip, ttl_seconds)` for every A/AAAA answer of a response (at most `MAX_ANSWERS`).
/// Returns `None` when the message is malformed before the answers end.
pub fn for_each_address(msg: &[u8], mut f: impl FnMut(IpAddr, u32)) -> Option<()> {
    let mut r = Reader::new(msg);
    r.skip(4)?;
    let qd = r.u16()?;
    let an = r.u16()?;
    r.skip(4)?;
    for _ in 0..qd.min(8) {
        skip_name(&mut r)?;
        r.skip(4)?;
    }
    for _ in 0..usize::from(an).min(MAX_ANSWERS) {
        skip_name(&mut r)?;
        let ty = r.u16()?;
        let _class = r.u16()?;
        let ttl = r.u32()?;
        let data = r.vec16()?;
        match ty {
            TYPE_A => {
                if let Ok(a) = <[u8; 4]>::try_from(data) {
                    f(IpAddr::from(a), ttl);
                }
            }
            TYPE_AAAA => {
                if let Ok(a) = <[u8; 16]>::try_from(data) {
                    f(IpAddr::from(a), ttl);
                }
            }
            TYPE_CNAME => {}
            _ => {}
        }
    }
    Some(())
}

/// The DNS message inside a payload: strips the TCP length prefix.
pub fn message<'a>(ctx: &Ctx, data: &'a [u8]) -> Option<&'a [u8]> {
    if ctx.is_tcp() {
        let len = usize::from(be16(data, 0)?);
        data.get(2..len.checked_add(2)?)
    } else {
        Some(data)
    }
}

/// Whether `data` is a DNS response (for a hit: an answer decides the flow, a query waits for one).
pub fn is_response(ctx: &Ctx, data: &[u8]) -> bool {
    message(ctx, data)
        .and_then(parse)
        .is_some_and(|m| m.is_response)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 40000, 53), data);
    let _ = probe(&Ctx::client(6, 40000, 53), data);
    let _ = for_each_address(data, |_, _| {});
    let mut buf = [0u8; MAX_NAME_LEN];
    for off in 0..data.len().min(64) {
        let _ = read_name(data, off, &mut buf);
    }
}

#[cfg(test)]
// Tests may index, unwrap and panic: a failure is the point.
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    /// `dig +noedns @127.0.0.1 -p 5353 www.youtube.com A` (dig 9.18, Debian 12), recorded on lo.
    const DIG_QUERY: &[u8] = include_bytes!("../../testdata/dns_query_udp.bin");
    /// The answer: www.youtube.com A 142.250.1.1 TTL 300, the owner name a pointer to the question.
    const DIG_ANSWER: &[u8] = include_bytes!("../../testdata/dns_answer_udp.bin");
    /// The same over TCP (`dig +tcp … www.google.com`), with the 2-byte length prefix.
    const DIG_TCP_ANSWER: &[u8] = include_bytes!("../../testdata/dns_answer_tcp.bin");

    fn dotted(wire: &[u8]) -> String {
        let mut b = [0u8; MAX_NAME_LEN];
        let n = labels_to_dotted(wire, &mut b).unwrap();
        String::from_utf8(b[..n].to_vec()).unwrap()
    }

    #[test]
    fn query_and_answer() {
        let ctx = Ctx::client(17, 40663, 53);
        let Probe::Match(h) = probe(&ctx, DIG_QUERY) else {
            panic!()
        };
        assert_eq!(h.master, ids::DNS);
        assert_eq!(dotted(h.host), "www.youtube.com");
        let mut got = vec![];
        for_each_address(DIG_ANSWER, |ip, ttl| got.push((ip, ttl))).unwrap();
        assert_eq!(got, vec![("142.250.1.1".parse().unwrap(), 300)]);
        // Port 5353 is mDNS by port.
        let ctx = Ctx::client(17, 40663, 5353);
        assert!(matches!(probe(&ctx, DIG_QUERY), Probe::Match(h) if h.master == ids::MDNS));
    }

    #[test]
    fn tcp_all_prefixes() {
        let ctx = Ctx::client(6, 45975, 53);
        check_all_prefixes(&ctx, DIG_TCP_ANSWER, DIG_TCP_ANSWER.len(), probe, |h| {
            assert_eq!(dotted(h.host), "www.google.com");
        });
        let msg = message(&ctx, DIG_TCP_ANSWER).unwrap();
        let mut n = 0;
        for_each_address(msg, |_, _| n += 1).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn pointer_loop_is_bounded() {
        // A name that points at itself.
        let msg = [
            0u8, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1,
        ];
        let mut b = [0u8; MAX_NAME_LEN];
        assert_eq!(read_name(&msg, 12, &mut b), None);
        // An over-long chain of labels never writes past the buffer.
        let mut long = vec![0u8; 12];
        for _ in 0..200 {
            long.extend_from_slice(&[3, b'a', b'b', b'c']);
        }
        long.push(0);
        assert_eq!(read_name(&long, 12, &mut b), None);
    }

    #[test]
    fn not_dns() {
        let ctx = Ctx::client(17, 40000, 53);
        assert_eq!(probe(&ctx, &[0xff; 30]), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(17, 40000, 4000), DIG_QUERY),
            Probe::NoMatch
        );
    }
}
