//! CAPWAP (RFC 5415 §4.1–4.5): wireless access points and their controller, control on UDP
//! 5246 (in clear or DTLS-protected), data on 5247. nDPI `src/lib/protocols/capwap.c`:
//! - either side on 5246, preamble 0 (clear): the control header's Msg Element Length (bytes
//!   13–14, counting what follows the sequence number) ends the datagram; preamble 1 (DTLS,
//!   §4.2): the DTLS record's length (bytes 15–16) ends it;
//! - from 5247, preamble 0, at least 16 bytes, an IEEE 802.11 data frame (type bits of byte 9);
//! - to 5247, preamble 0, at least 16 bytes, a Radio MAC (length 6 or 1) or wireless-specific
//!   (length 4) field at byte 8, or the length at 13–14 ending the datagram.
//!
//! nDPI's remaining rule (a discovery request to the broadcast or CAPWAP multicast address)
//! needs the destination address, which a probe does not see; such requests usually satisfy the
//! length rule too.

use super::{Ctx, Dissector, Hit, Probe, at, be16, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "capwap",
    probe,
    tcp_ports: &[],
    udp_ports: &[CONTROL_PORT, DATA_PORT],
    reassemble: false,
    emits: &[ids::CAPWAP],
};

const CONTROL_PORT: u16 = 5246;
const DATA_PORT: u16 = 5247;
const PREAMBLE_CLEAR: u8 = 0;
const PREAMBLE_DTLS: u8 = 1;
/// nDPI's minimum size of a data-channel packet.
const MIN_DATA: usize = 16;
/// IEEE 802.11 frame type "data" in the type bits nDPI reads.
const IEEE80211_DATA: u8 = 2;

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    proto_if(
        ctx.is_udp() && (control(ctx, data) || data_channel(ctx, data)),
        ids::CAPWAP,
    )
}

/// The length at `at` plus `before` is the datagram's size.
fn ends_datagram(data: &[u8], at: usize, before: usize) -> bool {
    be16(data, at).map(|l| usize::from(l).saturating_add(before)) == Some(data.len())
}

fn control(ctx: &Ctx, data: &[u8]) -> bool {
    ctx.has_port(CONTROL_PORT)
        && match data.first() {
            Some(&PREAMBLE_CLEAR) => ends_datagram(data, 13, 13),
            Some(&PREAMBLE_DTLS) => ends_datagram(data, 15, 17),
            _ => false,
        }
}

fn data_channel(ctx: &Ctx, data: &[u8]) -> bool {
    if data.len() < MIN_DATA || at(data, 0) != PREAMBLE_CLEAR {
        return false;
    }
    let from_data_port = if ctx.from_client {
        ctx.client_port == DATA_PORT
    } else {
        ctx.server_port == DATA_PORT
    };
    let to_data_port = if ctx.from_client {
        ctx.server_port == DATA_PORT
    } else {
        ctx.client_port == DATA_PORT
    };
    (from_data_port && (at(data, 9) & 0x0c) >> 2 == IEEE80211_DATA)
        || (to_data_port && (matches!(at(data, 8), 1 | 4 | 6) || ends_datagram(data, 13, 15)))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::dissect::testutil::server;

    /// A Discovery Request (RFC 5415 §4.3, §5.1): preamble 0, header of 8 bytes (HLEN 2, WBID
    /// 1), control header (type 1, sequence 0, element length, flags 0), one Discovery Type
    /// element (type 20, length 1, value 1).
    fn discovery_request() -> Vec<u8> {
        let mut p = vec![0x00, 0x10, 0x02, 0x00, 0, 0, 0, 0];
        p.extend([0, 0, 0, 1, 0]);
        let elements = [0u8, 20, 0, 1, 1];
        p.extend(u16::try_from(elements.len() + 3).unwrap_or(0).to_be_bytes());
        p.push(0);
        p.extend(elements);
        p
    }

    /// A DTLS-protected control packet (§4.2): preamble 1, 3 reserved bytes, a DTLS record.
    fn dtls_control(body: usize) -> Vec<u8> {
        let mut p = vec![0x01, 0, 0, 0, 22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
        p.extend(u16::try_from(body).unwrap_or(0).to_be_bytes());
        p.extend(std::iter::repeat_n(0x5a, body));
        p
    }

    #[test]
    fn control_in_clear_and_over_dtls_either_side() {
        let req = discovery_request();
        let dtls = dtls_control(60);
        for ctx in [Ctx::client(17, 40000, 5246), server(17, 5246)] {
            assert!(probe(&ctx, &req).is_match());
            assert!(probe(&ctx, &dtls).is_match());
        }
        // The length must end the datagram.
        let c = Ctx::client(17, 40000, 5246);
        assert_eq!(probe(&c, &req[..req.len() - 1]), Probe::NoMatch);
        assert_eq!(probe(&c, &dtls[..dtls.len() - 1]), Probe::NoMatch);
        // Off the control port (and not a data-port shape), nothing.
        assert_eq!(probe(&Ctx::client(17, 40000, 5000), &req), Probe::NoMatch);
    }

    #[test]
    fn data_channel_both_directions() {
        // To the data port: header with a 6-byte Radio MAC field at byte 8.
        let mut to_ac = vec![0x00, 0x10, 0x43, 0x10, 0, 0, 0, 0, 6, 0, 1, 2, 3, 4, 5, 0];
        to_ac.extend([0; 24]);
        assert!(probe(&Ctx::client(17, 40000, 5247), &to_ac).is_match());
        // From the data port: an 802.11 data frame's type bits at byte 9.
        let mut from_ac = vec![
            0x00, 0x10, 0x43, 0x10, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0,
        ];
        from_ac.extend([0; 24]);
        assert!(probe(&server(17, 5247), &from_ac).is_match());
        // Refused: preamble 1 on the data port, too short, other field values.
        let mut bad = to_ac.clone();
        bad[0] = 1;
        assert_eq!(probe(&Ctx::client(17, 40000, 5247), &bad), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(17, 40000, 5247), &to_ac[..15]),
            Probe::NoMatch
        );
        let mut bad = to_ac.clone();
        bad[8] = 2;
        assert_eq!(probe(&Ctx::client(17, 40000, 5247), &bad), Probe::NoMatch);
        let mut bad = from_ac.clone();
        bad[9] = 0x04;
        assert_eq!(probe(&server(17, 5247), &bad), Probe::NoMatch);
        // TCP is not CAPWAP.
        assert_eq!(probe(&Ctx::client(6, 40000, 5247), &to_ac), Probe::NoMatch);
    }
}
