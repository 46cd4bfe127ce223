//! Zabbix agent/server protocol (Zabbix manual, "Header and data": `ZBXD`, a flags byte, then the
//! data length). nDPI `src/lib/protocols/zabbix.c`: a TCP segment, on any port, starting `ZBXD`
//! with the flags byte `0x01` (the plain Zabbix protocol; nDPI does not take the compressed 0x03).

use super::{Ctx, Dissector, Hit, Probe, ids, starts};

pub const DISSECTOR: Dissector = Dissector {
    name: "zabbix",
    probe,
    tcp_ports: &[10050, 10051],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::ZABBIX],
};

const HEADER: &[u8] = b"ZBXD\x01";

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    match starts(data, HEADER) {
        Probe::Match(()) => Probe::Match(Hit::proto(ids::ZABBIX)),
        Probe::NeedMore if ctx.stream_start => Probe::NeedMore,
        _ => Probe::NoMatch,
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::{check_all_prefixes, server};

    /// An active-check request (Zabbix manual, "Zabbix agent protocol"): header, flags 0x01,
    /// 4-byte little-endian data length, 4 reserved bytes, JSON.
    fn active_checks() -> Vec<u8> {
        let json = br#"{"request":"active checks","host":"web01"}"#;
        let mut p = HEADER.to_vec();
        p.extend(u32::try_from(json.len()).unwrap().to_le_bytes());
        p.extend([0; 4]);
        p.extend_from_slice(json);
        p
    }

    #[test]
    fn zabbix_request_and_response() {
        check_all_prefixes(
            &Ctx::client(6, 40000, 10051),
            &active_checks(),
            5,
            probe,
            |h| assert_eq!(h.master, ids::ZABBIX),
        );
        assert!(
            probe(
                &server(6, 33333),
                b"ZBXD\x01\x10\0\0\0\0\0\0\0{\"response\":1}"
            )
            .is_match()
        );
    }

    #[test]
    fn not_zabbix() {
        let ctx = Ctx::client(6, 40000, 10051);
        // Compressed (flags 0x03), lowercase, over UDP.
        assert_eq!(probe(&ctx, b"ZBXD\x03\x10\0\0\0"), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"zbxd\x01\x10\0\0\0"), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(17, 40000, 10051), &active_checks()),
            Probe::NoMatch
        );
    }
}
