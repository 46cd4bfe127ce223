//! IKE / ISAKMP (RFC 2408 §3.1, RFC 7296 §3.1) over UDP, optionally behind the 4-byte non-ESP
//! marker of NAT traversal (RFC 3948 §2.2, port 4500). Follows nDPI's
//! `src/lib/protocols/ipsec.c`: version byte 0x10 or 0x20, the header's length equal to the
//! datagram's (after the marker), then next-payload, exchange-type and flags plausible for that
//! version; implausible values still count as (malformed) IPsec on ports 500/4500. ESP and AH are
//! IP protocols 50/51 and are named by the engine from the IP header; nDPI's `IPSec` covers all
//! three.

use super::{Ctx, Dissector, Hit, Probe, at, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "ipsec",
    probe,
    tcp_ports: &[],
    udp_ports: &[500, 4500],
    reassemble: false,
    emits: &[ids::IPSEC],
};

/// nDPI: shorter datagrams cannot hold the 28-byte ISAKMP header.
const MIN_LEN: usize = 28;
const NON_ESP_MARKER: u32 = 0;

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if data.len() < MIN_LEN {
        return Probe::NoMatch;
    }
    let off = if be32(data, 0) == Some(NON_ESP_MARKER) {
        4
    } else {
        0
    };
    let Some(h) = data.get(off..) else {
        return Probe::NoMatch;
    };
    if h.len() < MIN_LEN {
        return Probe::NoMatch;
    }
    let (next, version, exchange, flags) = (at(h, 16), at(h, 17), at(h, 18), at(h, 19));
    if !matches!(version, 0x10 | 0x20)
        || be32(h, 24).and_then(|l| usize::try_from(l).ok()) != Some(h.len())
    {
        return Probe::NoMatch;
    }
    let plausible = if version == 0x10 {
        // RFC 2408 §3.1: payload types 0..=13 (and private ≥ 128), exchanges 0..=5 and the DOI
        // specific ones from 32 (RFC 2409 Quick Mode 32, New Group 33), flags E/C/A (3 bits).
        !(14..=127).contains(&next) && !(6..31).contains(&exchange) && flags < 8
    } else {
        // RFC 7296 §3.2/§3.1: payload types 0 and 33..=48 (private ≥ 128), exchanges 34..=37 (and
        // later ones ≥ 240 private), flags only I/V/R (bits 3..5).
        let next_ok = next == 0 || (33..=48).contains(&next) || next >= 128;
        let exchange_ok = (34..=37).contains(&exchange) || exchange >= 240;
        next_ok && exchange_ok && flags & 0xc7 == 0
    };
    proto_if(
        plausible || ctx.has_port(500) || ctx.has_port(4500),
        ids::IPSEC,
    )
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 10500, 500), data);
    let _ = probe(&Ctx::client(17, 10500, 9999), data);
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

    /// An IKEv2 IKE_SA_INIT request header (RFC 7296 §3.1): initiator SPI, zero responder SPI,
    /// next payload SA (33), version 2.0, exchange 34, flags Initiator (0x08), message id 0, then
    /// a length covering the padded payloads.
    fn ike_sa_init(len: usize) -> Vec<u8> {
        let mut v = vec![0x8c, 0x1a, 0x6f, 0x22, 0x01, 0x02, 0x03, 0x04];
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&[33, 0x20, 34, 0x08, 0, 0, 0, 0]);
        v.extend_from_slice(&(len as u32).to_be_bytes());
        v.resize(len, 0);
        v
    }

    #[test]
    fn ikev2_on_500_and_behind_the_marker_on_4500() {
        let msg = ike_sa_init(256);
        for port in [500, 9999] {
            let ctx = Ctx::client(17, 10500, port);
            assert!(matches!(probe(&ctx, &msg), Probe::Match(h) if h.master.name() == "IPSec"));
        }
        let mut nat = vec![0, 0, 0, 0];
        nat.extend(ike_sa_init(300));
        assert!(probe(&Ctx::client(17, 14500, 4500), &nat).is_match());
        // Every truncation contradicts the length field.
        for n in 0..msg.len() {
            assert_eq!(
                probe(&Ctx::client(17, 10500, 500), &msg[..n]),
                Probe::NoMatch
            );
        }
    }

    #[test]
    fn implausible_headers_only_on_ike_ports() {
        // IKEv1 Main Mode (exchange 2) is plausible; exchange 9 is not, so only the port says IKE.
        let mut v1 = ike_sa_init(100);
        v1[16] = 1;
        v1[17] = 0x10;
        v1[18] = 2;
        v1[19] = 0;
        assert!(probe(&Ctx::client(17, 1, 7000), &v1).is_match());
        v1[18] = 9;
        assert_eq!(probe(&Ctx::client(17, 1, 7000), &v1), Probe::NoMatch);
        assert!(probe(&Ctx::client(17, 1, 500), &v1).is_match());
    }

    #[test]
    fn not_ike() {
        let ctx = Ctx::client(17, 10500, 500);
        let mut v3 = ike_sa_init(64);
        v3[17] = 0x30;
        assert_eq!(probe(&ctx, &v3), Probe::NoMatch);
        // ESP in UDP (SPI, sequence number, ciphertext) on 4500.
        let mut esp = vec![0xc0, 0x01, 0x02, 0x03, 0, 0, 0, 1];
        esp.resize(120, 0x5a);
        assert_eq!(probe(&Ctx::client(17, 14500, 4500), &esp), Probe::NoMatch);
        // A NAT keep-alive.
        assert_eq!(
            probe(&Ctx::client(17, 14500, 4500), &[0xff]),
            Probe::NoMatch
        );
    }
}
