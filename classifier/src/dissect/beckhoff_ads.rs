//! Beckhoff ADS/AMS over TCP (Beckhoff InfoSys "ADS/AMS specification": a 6-byte AMS/TCP header
//! — reserved 0, little-endian length — then the 32-byte AMS header — target and source NetId
//! and port, command id, state flags, data length, error code, invoke id). nDPI
//! `src/lib/protocols/beckhoff_ads.c`: a TCP segment of at least 38 bytes, on any port, whose two
//! lengths agree with the segment, state flags 4 (request) or 5 (response) over TCP, a command id
//! up to 9 and an error code up to 0x1e.

use super::{Ctx, Dissector, Hit, Probe, ids, le32, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "beckhoff_ads",
    probe,
    tcp_ports: &[48898],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::BECKHOFF_ADS],
};

const AMS_TCP_HEADER: usize = 6;
const AMS_HEADER: usize = 32;
const MIN_LEN: usize = AMS_TCP_HEADER + AMS_HEADER;
const MAX_COMMAND: u16 = 9;
const MAX_ERROR: u32 = 0x1e;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || data.len() < MIN_LEN {
        return Probe::NoMatch;
    }
    let le16 = |i: usize| {
        data.get(i..i.saturating_add(2))
            .and_then(|b| b.try_into().ok())
            .map(u16::from_le_bytes)
    };
    let len = |i: usize| le32(data, i).and_then(|n| usize::try_from(n).ok());
    let ams_len = data.len().checked_sub(AMS_TCP_HEADER);
    proto_if(
        le16(0) == Some(0)
            && len(2) == ams_len
            && len(26) == ams_len.and_then(|n| n.checked_sub(AMS_HEADER))
            && matches!(le16(24), Some(4 | 5))
            && le16(22).is_some_and(|c| c <= MAX_COMMAND)
            && le32(data, 30).is_some_and(|e| e <= MAX_ERROR),
        ids::BECKHOFF_ADS,
    )
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

    /// ADS Read Device Info (command 1) request, no data: AMS/TCP header, target NetId
    /// 5.1.2.3.1.1 port 851, source 192.168.1.10.1.1 port 32905, flags 4 (ADS command, TCP).
    fn read_device_info(flags: u16, data: &[u8]) -> Vec<u8> {
        let mut ams = vec![5, 1, 2, 3, 1, 1];
        ams.extend(851u16.to_le_bytes());
        ams.extend([192, 168, 1, 10, 1, 1]);
        ams.extend(32905u16.to_le_bytes());
        ams.extend(1u16.to_le_bytes());
        ams.extend(flags.to_le_bytes());
        ams.extend(u32::try_from(data.len()).unwrap().to_le_bytes());
        ams.extend(0u32.to_le_bytes());
        ams.extend(7u32.to_le_bytes());
        ams.extend_from_slice(data);
        let mut p = vec![0, 0];
        p.extend(u32::try_from(ams.len()).unwrap().to_le_bytes());
        p.extend(ams);
        p
    }

    #[test]
    fn ads_read_device_info_and_reply() {
        let req = read_device_info(4, &[]);
        assert_eq!(
            probe(&Ctx::client(6, 40000, 48898), &req),
            Probe::Match(Hit::proto(ids::BECKHOFF_ADS))
        );
        // The reply: result, version 3.1 build 4024, device name.
        let reply = read_device_info(5, b"\0\0\0\0\x03\x01\xb8\x0fPLC\0\0\0\0\0\0\0\0\0\0\0\0\0");
        assert!(probe(&server(6, 48898), &reply).is_match());
        for n in 0..req.len() {
            assert_eq!(
                probe(&Ctx::client(6, 40000, 48898), &req[..n]),
                Probe::NoMatch,
                "{n}"
            );
        }
    }

    #[test]
    fn not_ads() {
        let ctx = Ctx::client(6, 40000, 48898);
        // Reserved set, state flags 6, command 10, error 0x1f, a wrong AMS data length.
        for (i, v) in [(0, 1), (24, 6), (22, 10), (30, 0x1f), (26, 1)] {
            let mut p = read_device_info(4, &[]);
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
        assert_eq!(
            probe(&Ctx::client(17, 40000, 48898), &read_device_info(4, &[])),
            Probe::NoMatch
        );
    }
}
