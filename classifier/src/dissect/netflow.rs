//! NetFlow/IPFIX export datagrams: nDPI `src/lib/protocols/netflow.c` with Cisco's NetFlow
//! v1/v5/v7/v9 export formats and RFC 7011 §3.1 (IPFIX version 10, message length): version,
//! record count 1–30 (v1/v5/v7 also fix the datagram length: 16 + 48·n, 24 + 48·n, 24 + 52·n),
//! and a UNIX time from year 2000 on.

use super::{Ctx, Dissector, Hit, Probe, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "netflow",
    probe: netflow,
    tcp_ports: &[],
    udp_ports: &[2055, 2057, 9995, 9996, 4739],
    reassemble: false,
    emits: &[ids::NETFLOW],
};

/// nDPI: shorter datagrams are not looked at (the v5/v7/v9 header is 24 bytes, v1's 16).
const NETFLOW_MIN: usize = 24;
/// nDPI's bound on the record count of v1/v5/v7/v9.
const NETFLOW_MAX_COUNT: u16 = 30;
/// 2000-01-01T00:00:00Z (nDPI's lower bound on the export time) and 2100-01-01: the dissector has
/// no clock, so "not in the future" becomes "this century".
const EXPORT_TIME: std::ops::RangeInclusive<u32> = 946_684_800..=4_102_444_800;

fn netflow<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() || data.len() < NETFLOW_MIN {
        return Probe::NoMatch;
    }
    let (Some(version), Some(n)) = (be16(data, 0), be16(data, 2)) else {
        return Probe::NoMatch;
    };
    let count = usize::from(n);
    let (len_ok, time_at) = match version {
        1 | 5 | 7 | 9 if n == 0 || n > NETFLOW_MAX_COUNT => (false, 0),
        1 => (
            count.checked_mul(48).and_then(|l| l.checked_add(16)) == Some(data.len()),
            8,
        ),
        5 => (
            count.checked_mul(48).and_then(|l| l.checked_add(24)) == Some(data.len()),
            8,
        ),
        7 => (
            count.checked_mul(52).and_then(|l| l.checked_add(24)) == Some(data.len()),
            8,
        ),
        // v9 records are template-defined: no length to check.
        9 => (true, 8),
        // IPFIX: the second field is the message length.
        10 => (count == data.len(), 4),
        _ => (false, 0),
    };
    // NetFlow v1 routers may leave the time 0 (nDPI accepts that).
    let time = be32(data, time_at).unwrap_or(0);
    let time_ok = EXPORT_TIME.contains(&time) || (version == 1 && time == 0);
    proto_if(len_ok && time_ok, ids::NETFLOW)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    /// A NetFlow v5 export header (Cisco format: version 5, count, sysUptime, unix_secs
    /// 2019-08-29, …) followed by `n` 48-byte records.
    fn v5(n: u16) -> Vec<u8> {
        let mut v = vec![0, 5];
        v.extend_from_slice(&n.to_be_bytes());
        v.extend_from_slice(&[0x24, 0x4e, 0x08, 0xee, 0x5d, 0x67, 0xa8, 0x0c]);
        v.resize(24 + 48 * usize::from(n), 0);
        v
    }

    #[test]
    fn netflow_v5_v9_and_ipfix() {
        let ctx = Ctx::client(17, 48629, 2057);
        assert!(matches!(netflow(&ctx, &v5(2)), Probe::Match(h) if h.master.name() == "NetFlow"));
        let mut v9 = v5(16);
        v9[1] = 9;
        v9.truncate(1376);
        assert!(netflow(&ctx, &v9).is_match());
        // IPFIX: version 10, length, export time.
        let mut ipfix = vec![0, 10, 0, 40, 0x5d, 0x67, 0xa8, 0x0c];
        ipfix.resize(40, 0);
        assert!(netflow(&ctx, &ipfix).is_match());
    }

    #[test]
    fn not_netflow() {
        let ctx = Ctx::client(17, 48629, 2055);
        let mut short = v5(2);
        short.pop();
        assert_eq!(netflow(&ctx, &short), Probe::NoMatch);
        let mut old = v5(2);
        old[4..8].copy_from_slice(&[0, 0, 0, 5]);
        old[8..12].copy_from_slice(&[0x10, 0, 0, 0]); // 1978
        assert_eq!(netflow(&ctx, &old), Probe::NoMatch);
        let mut many = v5(31);
        many[1] = 9;
        assert_eq!(netflow(&ctx, &many), Probe::NoMatch);
        // A DNS query is not an export datagram.
        let dns = b"\x00\x05\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
        assert_eq!(netflow(&ctx, dns), Probe::NoMatch);
    }
}
