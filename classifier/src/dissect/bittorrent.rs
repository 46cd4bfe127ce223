//! BitTorrent: the peer-wire handshake (BEP 3: `\x13BitTorrent protocol`), DHT KRPC messages in
//! bencode (BEP 5: `d1:ad2:id20:` queries, `d1:rd2:id20:` responses), uTP (BEP 29) carrying a
//! handshake, and HTTP tracker announces are left to HTTP.

use super::{Ctx, Dissector, Hit, Probe, find, ids};

/// BEP 3: pstrlen 19 followed by the protocol string.
const HANDSHAKE: &[u8] = b"\x13BitTorrent protocol";
/// BEP 5 KRPC dictionaries begin with one of these keys (bencoded, keys sorted).
const DHT_PREFIXES: &[&[u8]] = &[b"d1:ad2:id20:", b"d1:rd2:id20:", b"d1:el", b"d2:ip"];
/// uTP header (BEP 29): version 1 in the low nibble, type 0..=4 in the high nibble, 20 bytes.
const UTP_HEADER_LEN: usize = 20;

pub const DISSECTOR: Dissector = Dissector {
    name: "bittorrent",
    probe,
    tcp_ports: &[6881, 6882, 6883, 6884, 6885, 6886, 6887, 6888, 6889, 51413],
    udp_ports: &[],
    reassemble: true,
    emits: &[ids::BITTORRENT],
};

pub const DHT_DISSECTOR: Dissector = Dissector {
    name: "bittorrent-udp",
    probe: probe_udp,
    tcp_ports: &[],
    udp_ports: &[6881, 6771, 51413],
    reassemble: false,
    emits: &[ids::BITTORRENT],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    match super::starts(data, HANDSHAKE) {
        Probe::Match(()) => Probe::Match(Hit::proto(ids::BITTORRENT)),
        p @ Probe::NeedMore => p.map_never(),
        Probe::NoMatch => Probe::NoMatch,
    }
}

pub fn probe_udp<'a>(_ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    for p in DHT_PREFIXES {
        if data.starts_with(p) {
            return Probe::Match(Hit::proto(ids::BITTORRENT));
        }
    }
    // Local peer discovery (BEP 14) on 239.192.152.143:6771.
    if data.starts_with(b"BT-SEARCH * HTTP/1.1\r\n") {
        return Probe::Match(Hit::proto(ids::BITTORRENT));
    }
    // uTP: a 20-byte header, then (for ST_DATA) the peer-wire handshake.
    if let (Some(&b0), Some(rest)) = (data.first(), data.get(UTP_HEADER_LEN..)) {
        let (ty, ver) = (b0 >> 4, b0 & 0x0f);
        if ver == 1
            && ty <= 4
            && (rest.starts_with(HANDSHAKE) || find(rest, b"d1:ad2:id20:").is_some())
        {
            return Probe::Match(Hit::proto(ids::BITTORRENT));
        }
    }
    Probe::NoMatch
}

impl<T> Probe<T> {
    /// Re-types a `NeedMore`/`NoMatch`; a `Match` becomes `NoMatch` (never called with one).
    pub(crate) fn map_never<U>(self) -> Probe<U> {
        match self {
            Probe::NeedMore => Probe::NeedMore,
            _ => Probe::NoMatch,
        }
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 40000, 6881), data);
    let _ = probe_udp(&Ctx::client(17, 40000, 6881), data);
}

#[cfg(test)]
// Tests may index, unwrap and panic: a failure is the point.
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    /// BEP 3 handshake: pstr, 8 reserved bytes (extension bits as libtorrent sets them), info_hash
    /// and peer_id.
    fn handshake() -> Vec<u8> {
        let mut v = HANDSHAKE.to_vec();
        v.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 5]);
        v.extend_from_slice(&[0xab; 20]);
        v.extend_from_slice(b"-TR3000-abcdefghijkl");
        v
    }

    #[test]
    fn peer_wire_all_prefixes() {
        let ctx = Ctx::client(6, 40000, 51413);
        check_all_prefixes(&ctx, &handshake(), HANDSHAKE.len(), probe, |h| {
            assert_eq!(h.master, ids::BITTORRENT)
        });
    }

    #[test]
    fn dht_and_utp() {
        let ctx = Ctx::client(17, 40000, 6881);
        // BEP 5 example ping query.
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        assert!(probe_udp(&ctx, ping).is_match());
        let mut utp = vec![0x01, 0x00, 0x30, 0x39];
        utp.extend_from_slice(&[0; 16]);
        utp.extend_from_slice(&handshake());
        assert!(probe_udp(&ctx, &utp).is_match());
        assert_eq!(probe_udp(&ctx, b"d1:xe"), Probe::NoMatch);
    }
}
