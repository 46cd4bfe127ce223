//! NetBIOS name and datagram services (RFC 1002 §4.2, UDP 137/138), and the SMBv1 browser
//! announcement a datagram may carry. nDPI `src/lib/protocols/netbios.c`.

use super::{Ctx, Dissector, Hit, Probe, at, be16, hit, ids};
use nfguard_proto::AppId;

pub const DISSECTOR: Dissector = Dissector {
    name: "netbios",
    probe: netbios,
    tcp_ports: &[139],
    udp_ports: &[137, 138],
    reassemble: false,
    emits: &[ids::SMBV1, ids::NETBIOS],
};
const SMBV1: AppId = ids::SMBV1;
/// RFC 1002 §4.4.2: 14-byte header, then source and destination names of 34 bytes each.
const SMB_IN_DATAGRAM: usize = 82;

fn netbios<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.has_port(137) {
        // Name service: DNS-like header, question name of 32 encoded bytes ('A'..'P' nibbles).
        let qd = be16(data, 4).unwrap_or(0);
        let name_len = at(data, 12);
        if (qd == 1 || qd == 0) && name_len == 32 {
            let name = data.get(13..45).unwrap_or(&[]);
            if name.len() == 32 && name.iter().all(|b| (b'A'..=b'P').contains(b)) {
                return hit(ids::NETBIOS);
            }
        }
    }
    if ctx.has_port(138) {
        // Datagram service (RFC 1002 §4.4.1): msg type 0x10..=0x16, then source port 138 or a
        // DGM_LENGTH equal to the bytes after the 14-byte header (some stacks send source port 0;
        // nDPI `netbios.c` checks the length).
        let len_ok = be16(data, 10).map(usize::from) == Some(data.len().saturating_sub(14));
        if (0x10..=0x16).contains(&at(data, 0)) && (be16(data, 8) == Some(138) || len_ok) {
            // The user data after the 14-byte header and two 34-byte encoded names is an SMB1
            // mailslot message (browser announcements): nDPI labels it `NetBIOS.SMBv1`
            // (`src/lib/protocols/netbios.c`, `ndpi_int_netbios_add_connection` sub-protocol).
            if data.get(SMB_IN_DATAGRAM..SMB_IN_DATAGRAM.saturating_add(4)) == Some(b"\xffSMB") {
                return Probe::Match(Hit {
                    master: ids::NETBIOS,
                    app: SMBV1,
                    host: &[],
                    dns_labels: false,
                });
            }
            return hit(ids::NETBIOS);
        }
    }
    if ctx.has_port(139) && ctx.is_tcp() {
        // Session service: SESSION REQUEST (0x81) or a SESSION MESSAGE (0x00) carrying SMB.
        let t = at(data, 0);
        if t == 0x81 || (t == 0 && data.get(4..8) == Some(b"\xffSMB")) {
            return hit(ids::NETBIOS);
        }
    }
    Probe::NoMatch
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn each_small_protocol_netbios() {
        let u = |p| Ctx::client(17, 40000, p);
        let mut nb = vec![0x12, 0x34, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 32];
        nb.extend_from_slice(b"EOGFGLGPCACACACACACACACACACACAAA");
        nb.push(0);
        assert_eq!(netbios(&u(137), &nb), hit(ids::NETBIOS));
        // Datagram service: DIRECT_GROUP from port 138, then an SMB1 browser announcement.
        let mut dgm = vec![0x11, 0x02, 0x12, 0x34, 192, 168, 1, 5, 0, 138, 0, 0, 0, 0];
        dgm.resize(SMB_IN_DATAGRAM, b'A');
        dgm.extend_from_slice(b"\xffSMB\x25");
        let smb = netbios(&u(138), &dgm);
        assert!(matches!(smb, Probe::Match(h) if h.master == ids::NETBIOS && h.app == SMBV1));
        dgm[SMB_IN_DATAGRAM] = 0;
        assert_eq!(netbios(&u(138), &dgm), hit(ids::NETBIOS));
    }

    #[test]
    fn netbios_datagram_with_source_port_zero() {
        // nDPI's 1kxun.pcap: a browser announcement whose datagram header says source port 0; the
        // DGM_LENGTH (bytes after the 14-byte header) identifies it.
        let mut dgm = vec![0x11, 0x02, 0x45, 0xee, 192, 168, 5, 45, 0, 0, 0, 0, 0, 0];
        dgm.resize(SMB_IN_DATAGRAM, b'A');
        dgm.extend_from_slice(b"\xffSMB\x25");
        dgm.resize(174, 0);
        let n = (dgm.len() - 14) as u16;
        dgm[10..12].copy_from_slice(&n.to_be_bytes());
        let u = Ctx::client(17, 138, 138);
        assert!(matches!(netbios(&u, &dgm), Probe::Match(h) if h.app == SMBV1));
        dgm[11] ^= 1;
        assert_eq!(netbios(&u, &dgm), Probe::NoMatch);
    }
}
