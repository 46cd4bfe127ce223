//! DTLS (RFC 6347 §4.1–4.2, RFC 9147 §4–5): a ClientHello or ServerHello on any UDP flow, with
//! the ClientHello's SNI. nDPI `src/lib/protocols/tls.c` (`ndpi_search_tls_udp`,
//! `processTLSBlock`): the datagram is a run of records, each handshake (22) or
//! change_cipher_spec (20), version 0xfeff (DTLS 1.0), 0xfefd (1.2) or 0xfefc (1.3), a non-zero
//! length that fits the datagram, and a handshake record holds one whole message (its length
//! plus the 12-byte header is the record's); the flow is DTLS at the first Client or Server
//! Hello. A change_cipher_spec ends the walk (what follows is encrypted).
//!
//! `stun.c` also relabels a STUN flow DTLS when such a record follows the binding exchange
//! (WebRTC keys SRTP with DTLS on the same 5-tuple): [`is_handshake`], for that continuation.

use nfguard_proto::AppId;

use super::{ANY, Ctx, Dissector, Hit, Probe, Reader, be16, ids, tls};

/// nDPI's `NDPI_PROTOCOL_DTLS`.
pub const DTLS: AppId = ids::DTLS;

pub const DISSECTOR: Dissector = Dissector {
    name: "dtls",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[DTLS],
};

/// Record header: type(1) version(2) epoch(2) sequence(6) length(2).
const RECORD_HEADER: usize = 13;
/// Handshake header: type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3).
const HANDSHAKE_HEADER: usize = 12;
const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_SERVER_HELLO: u8 = 2;
/// DTLS 1.0, 1.2 and 1.3 (RFC 9147 §5.3 keeps 0xfefd in records; 0xfefc is accepted too).
const VERSIONS: [u16; 3] = [0xfeff, 0xfefd, 0xfefc];
/// nDPI processes a handshake record only when it is longer than this (header plus the message
/// type and length it reads).
const MIN_PARSED_RECORD: usize = 16;

/// A datagram whose records (up to the first hello) are DTLS and that holds a Client or Server
/// Hello: DTLS, with the ClientHello's SNI as host.
pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() {
        return Probe::NoMatch;
    }
    match find_hello(data) {
        Some(sni) => Probe::Match(Hit::with_host(DTLS, sni)),
        None => Probe::NoMatch,
    }
}

/// The records of `data` up to the first hello: `Some(SNI)` (empty for a ServerHello or a
/// ClientHello without one) when there is a hello and every record before it is well formed.
fn find_hello(data: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(data);
    loop {
        let ty = r.u8()?;
        let version = r.u16()?;
        r.skip(8)?; // epoch, sequence_number
        let body = r.vec16()?;
        if !VERSIONS.contains(&version) || body.is_empty() {
            return None;
        }
        match ty {
            CONTENT_HANDSHAKE if body.len() > MIN_PARSED_RECORD => {
                let mut h = Reader::new(body);
                let msg_type = h.u8()?;
                let len = usize::try_from(h.u24()?).ok()?;
                if len.checked_add(HANDSHAKE_HEADER) != Some(body.len()) {
                    return None;
                }
                let msg = body.get(HANDSHAKE_HEADER..)?;
                match msg_type {
                    HANDSHAKE_CLIENT_HELLO => {
                        // A hello nDPI cannot parse still makes the flow DTLS, without a name.
                        return Some(tls::parse_dtls_client_hello(msg).map_or(&[], |ch| ch.sni));
                    }
                    HANDSHAKE_SERVER_HELLO => return Some(&[]),
                    _ => {}
                }
            }
            CONTENT_HANDSHAKE => {}
            // Everything after a change_cipher_spec is encrypted: no hello follows.
            CONTENT_CHANGE_CIPHER_SPEC => return None,
            _ => return None,
        }
    }
}

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
        && VERSIONS.contains(&version)
        && epoch == 0
        && len >= HANDSHAKE_HEADER
        && fits
        && matches!(data.get(RECORD_HEADER), Some(1..=3))
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = is_handshake(data);
    let _ = probe(&Ctx::client(17, 40000, 4433), data);
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
    use crate::dissect::testutil::{client_hello_message, server};

    /// Recorded on loopback (`testdata/README.md`): `openssl s_client -dtls1_2 -servername
    /// dtls.test` → `openssl s_server -dtls1_2` (OpenSSL 3.0): the first ClientHello (record
    /// version 0xfeff, empty cookie), the HelloVerifyRequest, the ClientHello with the cookie, and
    /// the server's datagram with the ServerHello and the first Certificate fragment.
    const OPENSSL_HELLO: &[u8] = include_bytes!("../../testdata/dtls_client_hello_openssl_lo.bin");
    const OPENSSL_VERIFY: &[u8] = include_bytes!("../../testdata/dtls_hello_verify_openssl_lo.bin");
    const OPENSSL_COOKIE_HELLO: &[u8] =
        include_bytes!("../../testdata/dtls_client_hello_cookie_openssl_lo.bin");
    const OPENSSL_SERVER_HELLO: &[u8] =
        include_bytes!("../../testdata/dtls_server_hello_openssl_lo.bin");

    fn udp() -> Ctx {
        Ctx::client(17, 40000, 4433)
    }

    /// One DTLS record (RFC 6347 §4.1) of type `ty`, version `version`, epoch 0.
    fn record(ty: u8, version: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ty];
        r.extend(version.to_be_bytes());
        r.extend([0; 8]);
        r.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    /// A whole (unfragmented) DTLS handshake message (RFC 6347 §4.2.2).
    fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(body.len()).unwrap().to_be_bytes();
        let mut m = vec![msg_type, len[1], len[2], len[3], 0, 0];
        m.extend([0, 0, 0]); // fragment_offset
        m.extend([len[1], len[2], len[3]]); // fragment_length
        m.extend_from_slice(body);
        m
    }

    /// A DTLS ClientHello body with `cookie` (RFC 6347 §4.2.1): the TLS hello of `testutil` with
    /// version 0xfefd and the cookie vector after the (empty) session id.
    fn dtls_hello_body(sni: &[u8], cookie: &[u8]) -> Vec<u8> {
        let tls = client_hello_message(sni);
        let body = &tls[4..];
        let mut out = vec![0xfe, 0xfd];
        out.extend_from_slice(&body[2..35]); // random, session id length 0
        out.push(u8::try_from(cookie.len()).unwrap());
        out.extend_from_slice(cookie);
        out.extend_from_slice(&body[35..]);
        out
    }

    fn client_hello(version: u16, sni: &[u8], cookie: &[u8]) -> Vec<u8> {
        record(22, version, &handshake(1, &dtls_hello_body(sni, cookie)))
    }

    fn host(ctx: &Ctx, data: &[u8]) -> Option<Vec<u8>> {
        match probe(ctx, data) {
            Probe::Match(h) => {
                assert_eq!((h.master, h.app), (DTLS, DTLS));
                Some(h.host.to_vec())
            }
            Probe::NoMatch => None,
            Probe::NeedMore => panic!("a datagram is whole"),
        }
    }

    #[test]
    fn openssl_handshake_is_dtls_with_the_sni() {
        assert_eq!(
            host(&udp(), OPENSSL_HELLO).as_deref(),
            Some(&b"dtls.test"[..])
        );
        assert_eq!(
            host(&udp(), OPENSSL_COOKIE_HELLO).as_deref(),
            Some(&b"dtls.test"[..])
        );
        // The server's first flight: ServerHello, then a Certificate fragment nDPI does not
        // parse; the hello before it decides.
        let s = server(17, 4433);
        assert_eq!(host(&s, OPENSSL_SERVER_HELLO).as_deref(), Some(&b""[..]));
        // nDPI's processTLSBlock names no protocol from a HelloVerifyRequest.
        assert_eq!(host(&s, OPENSSL_VERIFY), None);
        // Whatever the port, and never on TCP.
        for port in [443, 3478, 5684, 47123] {
            let c = Ctx::client(17, 40000, port);
            assert!(host(&c, OPENSSL_HELLO).is_some(), "{port}");
        }
        assert_eq!(
            probe(&Ctx::client(6, 40000, 443), OPENSSL_HELLO),
            Probe::NoMatch
        );
    }

    #[test]
    fn built_hellos_of_each_version_and_cookie() {
        for version in VERSIONS {
            for cookie in [&[][..], &[0x5a; 32]] {
                let h = client_hello(version, b"vpn.example.org", cookie);
                assert_eq!(
                    host(&udp(), &h).as_deref(),
                    Some(&b"vpn.example.org"[..]),
                    "{version:x}"
                );
            }
        }
        // A ServerHello record (RFC 6347 §4.2.1 field order; the body is not parsed).
        let sh = record(22, 0xfefd, &handshake(2, &[0xfe, 0xfd, 7, 7, 7, 7, 7]));
        assert_eq!(host(&server(17, 4433), &sh).as_deref(), Some(&b""[..]));
        // A ClientHello nDPI cannot parse is still DTLS, with no name.
        let junk = record(22, 0xfefd, &handshake(1, &[0xfe, 0xfd, 1, 2, 3, 4, 5]));
        assert_eq!(host(&udp(), &junk).as_deref(), Some(&b""[..]));
    }

    #[test]
    fn records_before_the_hello_must_be_dtls() {
        // A short handshake record (not parsed by nDPI) and then the hello: still DTLS.
        let mut two = record(22, 0xfefd, &[0; 10]);
        two.extend(client_hello(0xfefd, b"a.test", &[]));
        assert_eq!(host(&udp(), &two).as_deref(), Some(&b"a.test"[..]));
        // A change_cipher_spec first: encrypted from there on.
        let mut ccs = record(20, 0xfefd, &[1]);
        ccs.extend(client_hello(0xfefd, b"a.test", &[]));
        assert_eq!(host(&udp(), &ccs), None);
        // A record of another version or type first.
        let mut tls = record(22, 0x0303, &[0; 10]);
        tls.extend(client_hello(0xfefd, b"a.test", &[]));
        assert_eq!(host(&udp(), &tls), None);
        let mut app = record(23, 0xfefd, &[0; 10]);
        app.extend(client_hello(0xfefd, b"a.test", &[]));
        assert_eq!(host(&udp(), &app), None);
    }

    #[test]
    fn shapes_it_refuses() {
        let good = client_hello(0xfefd, b"a.test", &[]);
        // TLS's record version, DTLS 0.9 (0x0100, OpenSSL's pre-RFC), application data.
        for (at, byte) in [(1, 0x03), (2, 0xfe), (0, 23), (0, 21)] {
            let mut bad = good.clone();
            bad[at] = byte;
            assert_eq!(host(&udp(), &bad), None, "byte {at} = {byte:#x}");
        }
        // A record length past the datagram, or a zero length.
        let mut long = good.clone();
        long[12] = long[12].wrapping_add(1);
        assert_eq!(host(&udp(), &long), None);
        assert_eq!(host(&udp(), &record(22, 0xfefd, &[])), None);
        // A fragmented hello: the message length is not the record's minus 12 (nDPI refuses it).
        let mut frag = good.clone();
        frag[16] = frag[16].wrapping_add(1);
        assert_eq!(host(&udp(), &frag), None);
        // Other handshake messages alone: HelloVerifyRequest, Certificate, Finished.
        for t in [3, 11, 20] {
            let m = record(22, 0xfefd, &handshake(t, &[0; 20]));
            assert_eq!(host(&udp(), &m), None, "type {t}");
        }
        // A STUN binding request and a QUIC Initial's first bytes are not DTLS.
        assert_eq!(
            host(
                &udp(),
                &[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8]
            ),
            None
        );
        assert_eq!(
            host(&udp(), &[0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0]),
            None
        );
    }

    /// A datagram cut anywhere inside the hello record is not a hello: no prefix of the
    /// recorded ClientHello matches, and none panics.
    #[test]
    fn every_prefix_short_of_the_hello_is_refused() {
        for n in 0..OPENSSL_HELLO.len() {
            assert_eq!(host(&udp(), &OPENSSL_HELLO[..n]), None, "{n}");
            let _ = is_handshake(&OPENSSL_HELLO[..n]);
        }
        let hello_end = RECORD_HEADER + usize::from(be16(OPENSSL_SERVER_HELLO, 11).unwrap());
        for n in 0..OPENSSL_SERVER_HELLO.len() {
            let r = host(&server(17, 4433), &OPENSSL_SERVER_HELLO[..n]);
            assert_eq!(r.is_some(), n >= hello_end, "{n}");
        }
    }

    /// A DTLS 1.0 ClientHello record's first bytes as a WebRTC client (stun.pcap, Zoom) sends
    /// it, with a 12-byte fragment so the record is whole.
    fn webrtc_hello(version: [u8; 2]) -> Vec<u8> {
        let mut r = vec![22, version[0], version[1], 0, 0, 0, 0, 0, 0, 0, 0, 0, 24];
        r.extend_from_slice(&[1, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 12]);
        r.extend_from_slice(&[0xfe, 0xfd]);
        r.extend_from_slice(&[0xaa; 10]);
        r
    }

    #[test]
    fn hello_records_of_each_version() {
        for v in [[0xfe, 0xff], [0xfe, 0xfd], [0xfe, 0xfc]] {
            assert!(is_handshake(&webrtc_hello(v)), "{v:?}");
        }
        assert!(is_handshake(OPENSSL_VERIFY));
        assert!(is_handshake(OPENSSL_HELLO));
    }

    #[test]
    fn near_misses() {
        // TLS (not DTLS) version, application data, a later epoch, a Finished message.
        assert!(!is_handshake(&webrtc_hello([0x03, 0x03])));
        let mut app = webrtc_hello([0xfe, 0xfd]);
        app[0] = 23;
        assert!(!is_handshake(&app));
        let mut epoch = webrtc_hello([0xfe, 0xfd]);
        epoch[4] = 1;
        assert!(!is_handshake(&epoch));
        let mut fin = webrtc_hello([0xfe, 0xfd]);
        fin[13] = 20;
        assert!(!is_handshake(&fin));
        // A STUN binding request is not DTLS.
        assert!(!is_handshake(&[
            0, 1, 0, 0x58, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0
        ]));
    }

    #[test]
    fn every_prefix_short_of_the_record_is_refused() {
        let h = webrtc_hello([0xfe, 0xff]);
        for n in 0..h.len() {
            assert!(!is_handshake(&h[..n]), "{n}");
        }
        assert!(is_handshake(&h));
    }
}
