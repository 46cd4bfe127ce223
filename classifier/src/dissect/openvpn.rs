//! OpenVPN (openvpn `ssl_pkt.h`, `reliable.h`): the hard-reset packets that open a session,
//! with or without an HMAC / tls-crypt wrapper. nDPI `src/lib/protocols/openvpn.c`.

use super::{Ctx, Dissector, Hit, Probe, at, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "openvpn",
    probe: openvpn,
    tcp_ports: &[1194],
    udp_ports: &[1194],
    reassemble: false,
    emits: &[ids::OPENVPN],
};

/// Opcodes (top 5 bits) of the first control packet each side sends: P_CONTROL_HARD_RESET_CLIENT_V1,
/// _V2 and _V3 (tls-crypt-v2), P_CONTROL_HARD_RESET_SERVER_V1 and _V2; key id (low 3 bits) 0.
const OVPN_RESET_CLIENT: [u8; 3] = [1, 7, 10];
const OVPN_RESET_SERVER: [u8; 2] = [2, 8];
/// tls-auth HMAC sizes (the `--auth` digest): MD5/MD4 16, SHA1/RIPEMD160 20, SHA224 28,
/// SHA256 32, SHA384 48, SHA512 64. nDPI matches session ids across packets, so any digest is
/// OpenVPN to it; stateless, each size is listed.
const OVPN_HMACS: [usize; 6] = [16, 20, 28, 32, 48, 64];
/// tls-crypt: packet id, net time, then a 32-byte tag before the encrypted part.
const OVPN_TLS_CRYPT_TAG: usize = 32;
/// nDPI `openvpn.c`: resets are small (larger first packets are QUIC collisions).
const OVPN_MAX_RESET: usize = 1200;
/// A net time before 2000-01-01 is not a clock a peer would send.
const OVPN_MIN_TIME: u32 = 946_684_800;

/// A hard reset on any port (OpenVPN often runs on 443 or a random port). nDPI
/// `src/lib/protocols/openvpn.c` matches session ids across packets; stateless, the reset's own
/// layout is checked instead: opcode and session id; then nothing (no tls-auth), or an HMAC of a
/// known size followed by replay packet id 1 and a plausible net time; then the ACK array (empty
/// from a client, at most one id plus the peer's session id from a server) and message packet
/// id 0 ending the packet. With tls-crypt the client's reset is packet id 1, net time and the
/// 32-byte tag before its encrypted part. TCP adds the 2-byte packet length.
fn openvpn<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    let p = if ctx.is_tcp() {
        if be16(data, 0)
            .map(usize::from)
            .and_then(|l| l.checked_add(2))
            != Some(data.len())
        {
            return Probe::NoMatch;
        }
        data.get(2..).unwrap_or(&[])
    } else {
        data
    };
    let (first, op) = (at(p, 0), at(p, 0) >> 3);
    let server = OVPN_RESET_SERVER.contains(&op);
    if !(server || OVPN_RESET_CLIENT.contains(&op)) || first & 7 != 0 || p.len() >= OVPN_MAX_RESET {
        return Probe::NoMatch;
    }
    let time_ok = |i: usize| be32(p, i).is_some_and(|t| t >= OVPN_MIN_TIME);
    let tail_ok = |pos: usize| ovpn_reset_tail(p, pos, server);
    let no_auth = tail_ok(9);
    let tls_auth = OVPN_HMACS.iter().any(|&h| {
        let pid = 9usize.saturating_add(h);
        be32(p, pid) == Some(1) && time_ok(pid.saturating_add(4)) && tail_ok(pid.saturating_add(8))
    });
    // tls-crypt: the encrypted ACK array and packet id follow the tag (5 bytes for V2; V3 adds
    // the wrapped client key).
    let crypt_len = 17usize.saturating_add(OVPN_TLS_CRYPT_TAG).saturating_add(5);
    let n = p.len();
    let tls_crypt = !server
        && be32(p, 9) == Some(1)
        && time_ok(13)
        && if op == 10 {
            n > crypt_len
        } else {
            n == crypt_len
        };
    proto_if(no_auth || tls_auth || tls_crypt, ids::OPENVPN)
}

/// From `pos`: the ACK array length (0, or 1 from a server), its packet id and the peer's session
/// id when 1, then message packet id 0 ending the packet.
fn ovpn_reset_tail(p: &[u8], pos: usize, server: bool) -> bool {
    let msg_id_at = match at(p, pos) {
        0 => pos.saturating_add(1),
        1 if server => pos.saturating_add(13),
        _ => return false,
    };
    p.len() == msg_id_at.saturating_add(4) && be32(p, msg_id_at) == Some(0)
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::dissect::hit;

    /// `openvpn --client --proto udp --tls-auth ta.key 1 --auth SHA384|SHA224|SHA256` (OpenVPN
    /// 2.6.14, Debian 12) on loopback: the first datagram, P_CONTROL_HARD_RESET_CLIENT_V2 with a
    /// 48-, 28- and 32-byte HMAC (`testdata/README.md`).
    #[test]
    fn real_client_resets_with_each_tls_auth_digest() {
        let u = Ctx::client(17, 41507, 11940);
        for (what, reset) in [
            (
                "SHA384",
                &include_bytes!("../../testdata/openvpn_reset_tls_auth_sha384_lo.bin")[..],
            ),
            (
                "SHA224",
                include_bytes!("../../testdata/openvpn_reset_tls_auth_sha224_lo.bin"),
            ),
            (
                "SHA256",
                include_bytes!("../../testdata/openvpn_reset_tls_auth_sha256_lo.bin"),
            ),
        ] {
            assert_eq!(openvpn(&u, reset), hit(ids::OPENVPN), "{what}");
            // Cut by one byte, the layout no longer ends where it must.
            assert_eq!(
                openvpn(&u, &reset[..reset.len() - 1]),
                Probe::NoMatch,
                "{what}"
            );
        }
    }

    #[test]
    fn openvpn_client_resets_on_any_port() {
        // nDPI's openvpn.pcap, first datagram of three flows on ports 443 and 13680.
        let no_auth = b"\x38\x33\x48\x57\x70\x3d\x96\xdb\x39\x00\x00\x00\x00\x00";
        let sha1: &[u8] = &[
            0x38, 0xb0, 0x2c, 0xcf, 0xf1, 0xb5, 0xf0, 0x17, 0x4f, 0xc0, 0x91, 0x66, 0x6e, 0x3b,
            0x12, 0x4b, 0xad, 0xa3, 0x91, 0x73, 0x31, 0x7b, 0x93, 0x97, 0x22, 0xd1, 0xfe, 0x63,
            0xbe, 0x00, 0x00, 0x00, 0x01, 0x57, 0xa1, 0xc1, 0x5f, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        let u = Ctx::client(17, 41507, 13680);
        assert_eq!(openvpn(&u, no_auth), hit(ids::OPENVPN));
        assert_eq!(openvpn(&u, sha1), hit(ids::OPENVPN));
        // Over TCP with the length prefix; tls-crypt: packet id 1, time, 32-byte tag, 5 bytes.
        let mut crypt =
            b"\x00\x36\x38\x2a\x56\xd9\x79\xd9\x9e\xcc\xf4\x00\x00\x00\x01\x63\xcf\x4f\xf5"
                .to_vec();
        crypt.resize(56, 0xa5);
        let t = Ctx::client(6, 36138, 443);
        assert_eq!(openvpn(&t, &crypt), hit(ids::OPENVPN));
        let mut tcp_sha1 = vec![0x00, sha1.len() as u8];
        tcp_sha1.extend_from_slice(sha1);
        assert_eq!(openvpn(&t, &tcp_sha1), hit(ids::OPENVPN));
        // Wrong key id, a non-zero message id, a replay id other than 1, an old clock, a TCP
        // length that disagrees, a server opcode: all refused.
        let mut bad = sha1.to_vec();
        bad[0] = 0x39;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        let mut bad = sha1.to_vec();
        bad[41] = 1;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        let mut bad = sha1.to_vec();
        bad[32] = 2;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        let mut bad = sha1.to_vec();
        bad[33] = 0x10;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        tcp_sha1[1] += 1;
        assert_eq!(openvpn(&t, &tcp_sha1), Probe::NoMatch);
        // P_DATA_V2 (opcode 9) is not a reset.
        let mut bad = no_auth.to_vec();
        bad[0] = 0x48;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        // The server's answer without tls-auth, acking the client's reset (same capture, port
        // 443): one ACK id and the client's session id.
        let server: &[u8] = &[
            0x40, 0xd3, 0x1c, 0x3a, 0x69, 0x64, 0x60, 0x2f, 0xa0, 0x01, 0x00, 0x00, 0x00, 0x00,
            0x33, 0x48, 0x57, 0x70, 0x3d, 0x96, 0xdb, 0x39, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(openvpn(&u, server), hit(ids::OPENVPN));
        let mut bad = server.to_vec();
        bad[0] = 0x38;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        assert_eq!(openvpn(&u, &crypt[2..55]), Probe::NoMatch);
    }
}
