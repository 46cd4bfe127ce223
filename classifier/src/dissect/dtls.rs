//! DTLS record layer (RFC 6347 §4.1, RFC 9147 §4): the handshake record a DTLS session opens
//! with. nDPI's `src/lib/protocols/tls.c` (`ndpi_search_tls_udp`) takes record versions 0xfeff
//! (DTLS 1.0), 0xfefd (1.2) and 0xfefc (1.3) and checks the record length against the datagram;
//! `stun.c` then relabels a STUN flow DTLS when such a record follows the binding exchange (WebRTC
//! sets up SRTP keys with DTLS on the same 5-tuple). The engine uses [`is_handshake`] for that
//! continuation only; a DTLS dissector of its own would need the ClientHello parser of `tls.rs`
//! with DTLS's longer headers.

use nfguard_proto::AppId;

use super::{be16, ids};

/// nDPI's `NDPI_PROTOCOL_DTLS`.
pub const DTLS: AppId = ids::DTLS;

/// Record header: type(1) version(2) epoch(2) sequence(6) length(2).
const RECORD_HEADER: usize = 13;
/// Handshake header: type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3).
const HANDSHAKE_HEADER: usize = 12;
const CONTENT_HANDSHAKE: u8 = 22;

/// Whether `data` starts with a whole DTLS handshake record of epoch 0 carrying a ClientHello
/// (1), ServerHello (2) or HelloVerifyRequest (3), the messages that open a session.
#[must_use]
pub fn is_handshake(data: &[u8]) -> bool {
    let (Some(&ty), Some(version), Some(epoch), Some(len)) =
        (data.first(), be16(data, 1), be16(data, 3), be16(data, 11))
    else {
        return false;
    };
    let len = usize::from(len);
    let fits = RECORD_HEADER
        .checked_add(len)
        .is_some_and(|end| end <= data.len());
    ty == CONTENT_HANDSHAKE
        && matches!(version, 0xfeff | 0xfefd | 0xfefc)
        && epoch == 0
        && len >= HANDSHAKE_HEADER
        && fits
        && matches!(data.get(RECORD_HEADER), Some(1..=3))
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = is_handshake(data);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A DTLS 1.0 ClientHello record's first bytes as a WebRTC client (stun.pcap, Zoom) sends
    /// it, with a 12-byte fragment so the record is whole.
    fn hello(version: [u8; 2]) -> Vec<u8> {
        let mut r = vec![22, version[0], version[1], 0, 0, 0, 0, 0, 0, 0, 0, 0, 24];
        r.extend_from_slice(&[1, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 12]);
        r.extend_from_slice(&[0xfe, 0xfd]);
        r.extend_from_slice(&[0xaa; 10]);
        r
    }

    #[test]
    fn hello_records_of_each_version() {
        for v in [[0xfe, 0xff], [0xfe, 0xfd], [0xfe, 0xfc]] {
            assert!(is_handshake(&hello(v)), "{v:?}");
        }
    }

    #[test]
    fn near_misses() {
        // TLS (not DTLS) version, application data, a later epoch, a Finished message.
        assert!(!is_handshake(&hello([0x03, 0x03])));
        let mut app = hello([0xfe, 0xfd]);
        app[0] = 23;
        assert!(!is_handshake(&app));
        let mut epoch = hello([0xfe, 0xfd]);
        epoch[4] = 1;
        assert!(!is_handshake(&epoch));
        let mut fin = hello([0xfe, 0xfd]);
        fin[13] = 20;
        assert!(!is_handshake(&fin));
        // A STUN binding request is not DTLS.
        assert!(!is_handshake(&[
            0, 1, 0, 0x58, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0
        ]));
    }

    #[test]
    fn every_prefix_short_of_the_record_is_refused() {
        let h = hello([0xfe, 0xff]);
        for n in 0..h.len() {
            assert!(!is_handshake(&h[..n]), "{n}");
        }
        assert!(is_handshake(&h));
    }
}
