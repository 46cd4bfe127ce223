//! SoftEther VPN over UDP: the NAT-traversal / DDNS exchanges of its server, either a short
//! `IP=<addr>,PORT=<port>` text or a serialized `PACK` (SoftEther `Mayaqua/Pack.c`: an element
//! count, then per element its name, value type, value count and values). nDPI
//! `src/lib/protocols/softether.c`:
//! - 10–29 bytes starting `IP=` with `,PORT=` after it;
//! - at least 99 bytes that parse, as nDPI walks them, into exactly the announced elements: a
//!   count (non-zero, at most one per 8 bytes), the first name, then per element two type words
//!   (0 int, 1 data, 2 str, 3 unistr, 4 int64) and a value of each type, consuming the datagram.

use super::{Ctx, Dissector, Hit, Probe, Reader, be32, find, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "softether",
    probe,
    tcp_ports: &[],
    udp_ports: super::ANY,
    reassemble: false,
    emits: &[ids::SOFTETHER],
};

/// nDPI's bounds of the `IP=…,PORT=…` datagram (exclusive).
const IP_PORT_LEN: std::ops::Range<usize> = 10..30;
/// nDPI's minimum size of a PACK it parses.
const MIN_PACK: usize = 99;
/// Bytes per element nDPI requires at least (two type words).
const TUPLE_TYPES: usize = 8;

const VALUE_INT: u32 = 0;
const VALUE_DATA: u32 = 1;
const VALUE_STR: u32 = 2;
const VALUE_UNISTR: u32 = 3;
const VALUE_INT64: u32 = 4;

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() {
        return Probe::NoMatch;
    }
    let found = if IP_PORT_LEN.contains(&data.len()) {
        data.strip_prefix(b"IP=")
            .is_some_and(|rest| find(rest, b",PORT=").is_some())
    } else {
        data.len() >= MIN_PACK && is_pack(data)
    };
    proto_if(found, ids::SOFTETHER)
}

/// The bytes one value of type `ty` takes at the start of `p` as nDPI measures it (0 when it
/// does not fit). A data value's length word counts one byte more than follows (element names
/// are written with their terminator counted, `WriteBufStr`).
fn value_len(ty: u32, p: &[u8]) -> usize {
    let n = match ty {
        VALUE_INT => 4,
        VALUE_INT64 => 8,
        _ => {
            let Some(siz) = be32(p, 0).and_then(|s| usize::try_from(s).ok()) else {
                return 0;
            };
            if siz == 0 || siz.checked_add(3).is_none_or(|need| p.len() < need) {
                return 0;
            }
            let body = if ty == VALUE_DATA {
                siz.saturating_sub(1)
            } else {
                siz
            };
            body.saturating_add(4)
        }
    };
    if n > p.len() { 0 } else { n }
}

fn is_pack(data: &[u8]) -> bool {
    let mut r = Reader::new(data);
    let Some(count) = r.u32().and_then(|c| usize::try_from(c).ok()) else {
        return false;
    };
    if count == 0
        || count
            .checked_mul(TUPLE_TYPES)
            .is_none_or(|n| n > data.len())
    {
        return false;
    }
    let mut p = r.rest();
    let name = value_len(VALUE_DATA, p);
    if name == 0 {
        return false;
    }
    p = p.get(name..).unwrap_or_default();
    for _ in 0..count {
        let mut t = Reader::new(p);
        let (Some(t1), Some(t2)) = (t.u32(), t.u32()) else {
            return false;
        };
        let known = |t| {
            matches!(
                t,
                VALUE_INT | VALUE_DATA | VALUE_STR | VALUE_UNISTR | VALUE_INT64
            )
        };
        if !known(t1) || !known(t2) {
            return false;
        }
        let mut rest = t.rest();
        for ty in [t1, t2] {
            let n = value_len(ty, rest);
            rest = rest.get(n..).unwrap_or_default();
        }
        p = rest;
    }
    p.is_empty()
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 40000, 5555), data);
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::server;

    fn name(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u32 + 1).to_be_bytes().to_vec();
        v.extend(s.as_bytes());
        v
    }

    /// A PACK as `Pack.c` `WriteElement` lays it out: name, type, one value; the count first.
    fn pack(elements: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
        let mut p = (elements.len() as u32).to_be_bytes().to_vec();
        for (n, ty, value) in elements {
            p.extend(name(n));
            p.extend(ty.to_be_bytes());
            p.extend(1u32.to_be_bytes());
            p.extend(value);
        }
        p
    }

    fn str_value(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u32).to_be_bytes().to_vec();
        v.extend(s.as_bytes());
        v
    }

    /// The DDNS answer nDPI reads `host_name` and `ddns_fqdn` from (104 bytes).
    fn ddns_pack() -> Vec<u8> {
        pack(&[
            ("host_name", VALUE_STR, str_value("vpn-server-1")),
            ("ddns_fqdn", VALUE_STR, str_value("vpn123.softether.net")),
            ("ip", VALUE_INT, vec![10, 0, 0, 1]),
        ])
    }

    #[test]
    fn ddns_pack_and_ip_port_text_either_direction() {
        let p = ddns_pack();
        assert_eq!(p.len(), 104);
        for ctx in [Ctx::client(17, 40000, 5004), server(17, 5004)] {
            assert!(probe(&ctx, &p).is_match());
            assert!(probe(&ctx, b"IP=198.51.100.7,PORT=443").is_match());
        }
    }

    #[test]
    fn shapes_it_refuses() {
        let udp = Ctx::client(17, 40000, 5004);
        let p = ddns_pack();
        // Over TCP; a byte more or less; a count that does not match; an unknown value type.
        assert_eq!(probe(&Ctx::client(6, 40000, 5004), &p), Probe::NoMatch);
        let mut longer = p.clone();
        longer.push(0);
        assert_eq!(probe(&udp, &longer), Probe::NoMatch);
        assert_eq!(probe(&udp, &p[..p.len() - 1]), Probe::NoMatch);
        let mut count = p.clone();
        count[3] = 4;
        assert_eq!(probe(&udp, &count), Probe::NoMatch);
        let mut ty = p.clone();
        ty[4 + 13 + 3] = 5;
        assert_eq!(probe(&udp, &ty), Probe::NoMatch);
        // Under 99 bytes the PACK is not looked at; the text form needs both keys and its size.
        let small = pack(&[("ip", VALUE_INT, vec![10, 0, 0, 1])]);
        assert_eq!(probe(&udp, &small), Probe::NoMatch);
        assert_eq!(probe(&udp, b"IP=198.51.100.7;PORT=443"), Probe::NoMatch);
        assert_eq!(
            probe(&udp, b"IP=1,PORT=2"),
            Probe::Match(Hit::proto(ids::SOFTETHER))
        );
        assert_eq!(
            probe(&udp, b"IP=2001:db8::1234:5678,PORT=44333"),
            Probe::NoMatch
        );
        for n in 0..MIN_PACK {
            assert_eq!(probe(&udp, &p[..n]), Probe::NoMatch, "{n}");
        }
        for n in [99, 101, 102, 103] {
            assert_eq!(probe(&udp, &p[..n]), Probe::NoMatch, "{n}");
        }
        // Cut right after the last element's type words: nDPI counts a value that does not fit
        // as zero bytes, so the walk still ends exactly at the datagram's end.
        assert!(probe(&udp, &p[..100]).is_match());
    }
}
