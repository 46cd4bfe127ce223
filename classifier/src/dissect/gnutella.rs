//! Gnutella (and G2). nDPI `src/lib/protocols/gnutella.c`; message layout from the Gnutella 0.6
//! specification (RFC-Gnutella 0.6 §2.2: a 23-byte header of 16-byte GUID, type, TTL, hops and a
//! little-endian payload length).
//!
//! Over TCP, the first segment of either side: the handshake lines `GNUTELLA CONNECT/` and
//! `GNUTELLA/`, the HTTP file requests of Gnutella servents (`GET /get/`, `GET /uri-res/` with a
//! Gnutella header line, `GET / HTTP` from BearShare Lite, `HEAD /gnutella/push-proxy?`, Foxy's
//! `GET /gnutella/` tiger-tree requests) and the 46-byte `PUSH guid:` line. Over UDP, nDPI's
//! fixed-length message headers (a TTL-1 ping, a vendor message, the `SCP@`/`DNA@` extension
//! blocks, an `urn:sha1:` query) and G2's `GND` datagrams.
//!
//! Left out: nDPI's four TLS- and SSLv2-shaped hellos (they single out a ClientHello by its
//! cipher list, which is TLS's packet, not Gnutella's), its `urn:sha1:` after `?` check (the
//! loop stops on `?` and then compares `urn:` at that byte, so it never holds), and the NEONet
//! and UDP-port checks that pair packets or hosts across flows.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, find, ids, proto_if, starts};

pub const DISSECTOR: Dissector = Dissector {
    name: "gnutella",
    probe,
    tcp_ports: ANY,
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::GNUTELLA],
};

/// Handshake lines and the lengths nDPI wants (longer than 10 and 17 bytes).
const REPLY: &[u8] = b"GNUTELLA/";
const REPLY_MIN_LEN: usize = 11;
const CONNECT: &[u8] = b"GNUTELLA CONNECT/";
const CONNECT_MIN_LEN: usize = 18;
/// nDPI: file requests are only looked at beyond 50 bytes, Foxy's beyond 250.
const GET_MIN_LEN: usize = 51;
const FOXY_MIN_LEN: usize = 251;
const GET_PREFIXES: [&[u8]; 2] = [b"GET /get/", b"GET /uri-res/"];
/// Header lines of a Gnutella download request.
const GET_LINES: [&[u8]; 4] = [
    b"User-Agent: Gnutella",
    b"X-Gnutella-",
    b"X-Queue:",
    b"Content-Type: application/x-gnutella-",
];
const PUSH_PROXY: &[u8] = b"HEAD /gnutella/push-proxy?";
const PUSH_PROXY_MIN_LEN: usize = 31;
const PUSH: &[u8] = b"PUSH guid:";
const PUSH_LEN: usize = 46;
const FOXY: &[u8] = b"GET /gnutella/";
const FOXY_MARKS: [&[u8]; 4] = [
    b"\r\nUser-Agent: Foxy",
    b"\r\nAccept: application/tigertree-breadthfirst",
    b"\r\nX-Queue:",
    b"\r\nX-Features:",
];
/// Lines nDPI's line parser looks at (it keeps at most 64).
const MAX_LINES: usize = 64;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.is_udp() {
        return proto_if(udp(data), ids::GNUTELLA);
    }
    if !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    // A cut handshake line waits for more at the stream start.
    for (line, min) in [(CONNECT, CONNECT_MIN_LEN), (REPLY, REPLY_MIN_LEN)] {
        match starts(data, line) {
            Probe::Match(()) if data.len() >= min => {
                return Probe::Match(Hit::proto(ids::GNUTELLA));
            }
            Probe::Match(()) | Probe::NeedMore if ctx.stream_start => return Probe::NeedMore,
            _ => {}
        }
    }
    proto_if(tcp_request(data), ids::GNUTELLA)
}

/// The HTTP-shaped requests and the push line.
fn tcp_request(data: &[u8]) -> bool {
    let len = data.len();
    if len >= GET_MIN_LEN && GET_PREFIXES.iter().any(|p| data.starts_with(p)) {
        return lines(data).any(|l| GET_LINES.iter().any(|g| l.starts_with(g)));
    }
    if len >= GET_MIN_LEN && data.starts_with(b"GET / HTTP") {
        return lines(data).any(|l| {
            l.strip_prefix(b"User-Agent: ")
                .is_some_and(|ua| ua.starts_with(b"BearShare Lite ") && ua.len() > 15)
        });
    }
    if len >= PUSH_PROXY_MIN_LEN && data.starts_with(PUSH_PROXY) {
        return true;
    }
    if len == PUSH_LEN && data.starts_with(PUSH) {
        return true;
    }
    len >= FOXY_MIN_LEN
        && data.starts_with(FOXY)
        && (data
            .get(FOXY.len()..)
            .is_some_and(|r| r.starts_with(b"tigertree/"))
            || FOXY_MARKS.iter().any(|m| find(data, m).is_some()))
}

/// The first lines of `data`, without their CR LF.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n')
        .take(MAX_LINES)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// nDPI's UDP patterns: (datagram length, offset, bytes).
const UDP_PATTERNS: [(usize, usize, &[u8]); 7] = [
    (23, 15, &[0x00, 0x41, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]),
    (35, 25, b"IP@\x83SCPA"),
    // A vendor message (type 0x31), TTL 1, hops 0, payload length 9.
    (32, 16, &[0x31, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00]),
    (34, 25, b"SCP@"),
    (73, 32, b"urn:sha1:"),
    (96, 32, b"urn:sha1:"),
    // A ping (type 0), TTL 1, hops 0, no payload: the whole 23-byte header.
    (23, 16, &[0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]),
];

/// G2 `GND` datagrams: (length, bytes from offset 6).
const GND_PATTERNS: [(usize, &[u8]); 5] = [
    (8, &[0x01, 0x00]),
    (11, &[0x01, 0x01, 0x08, 0x50, 0x49]),
    (17, &[0x01, 0x01, 0x4c, 0x05, 0x50]),
    (
        28,
        &[0x01, 0x01, 0x54, 0x0f, 0x51, 0x4b, 0x52, 0x50, 0x06, 0x52],
    ),
    (
        41,
        &[0x01, 0x01, 0x5c, 0x1b, 0x50, 0x55, 0x53, 0x48, 0x48, 0x10],
    ),
];

fn udp(data: &[u8]) -> bool {
    let len = data.len();
    let at_off = |off: usize, pat: &[u8]| {
        off.checked_add(pat.len())
            .and_then(|end| data.get(off..end))
            .is_some_and(|b| b == pat)
    };
    let pattern = UDP_PATTERNS
        .iter()
        .any(|&(l, off, pat)| len == l && at_off(off, pat))
        && (len != 34 || at_off(30, b"DNA@"));
    if pattern {
        return true;
    }
    if !data.starts_with(b"GND") {
        return false;
    }
    GND_PATTERNS
        .iter()
        .any(|&(l, pat)| len == l && at_off(6, pat))
        || (len > 200 && len < 300 && at(data, 3) == 0x03)
        || (len > 300 && matches!(at(data, 3), 0x01 | 0x03))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::dissect::testutil::{check_all_prefixes, server};

    const GNUTELLA: Probe<Hit<'static>> = Probe::Match(Hit::proto(ids::GNUTELLA));

    fn tcp() -> Ctx {
        Ctx::client(6, 40000, 6346)
    }

    #[test]
    fn handshake_lines_all_prefixes() {
        // Gnutella 0.6 §2.2 handshake, as a servent sends it.
        let connect = b"GNUTELLA CONNECT/0.6\r\nUser-Agent: gtk-gnutella/1.2.2\r\n\r\n";
        check_all_prefixes(&tcp(), connect, CONNECT_MIN_LEN, probe, |h| {
            assert_eq!(h.master, ids::GNUTELLA)
        });
        let ok = b"GNUTELLA/0.6 200 OK\r\nX-Ultrapeer: True\r\n\r\n";
        check_all_prefixes(&server(6, 6346), ok, REPLY_MIN_LEN, probe, |h| {
            assert_eq!(h.master, ids::GNUTELLA)
        });
    }

    #[test]
    fn download_requests() {
        let get = b"GET /uri-res/N2R?urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB HTTP/1.1\r\n\
                    Host: 10.0.0.2:6346\r\nUser-Agent: Gnutella/0.4\r\n\r\n";
        assert_eq!(probe(&tcp(), get), GNUTELLA);
        let get = b"GET /get/12/song.mp3 HTTP/1.1\r\nHost: 10.0.0.2\r\nX-Queue: 0.1\r\n\r\n";
        assert_eq!(probe(&tcp(), get), GNUTELLA);
        let bearshare =
            b"GET / HTTP/1.1\r\nHost: 10.0.0.2:6346\r\nUser-Agent: BearShare Lite 5.2\r\n\r\n";
        assert_eq!(probe(&tcp(), bearshare), GNUTELLA);
        let push = b"HEAD /gnutella/push-proxy?ServerId=ABCDEF HTTP/1.1\r\n\r\n";
        assert_eq!(probe(&tcp(), push), GNUTELLA);
        let mut line = b"PUSH guid:".to_vec();
        line.extend(b"0123456789ABCDEF0123456789ABCDEF\r\n\r\n");
        assert_eq!(line.len(), PUSH_LEN);
        assert_eq!(probe(&tcp(), &line), GNUTELLA);
        let mut foxy = b"GET /gnutella/tigertree/v3?urn:tree:tiger/:ABC HTTP/1.1\r\n".to_vec();
        foxy.resize(FOXY_MIN_LEN, b'x');
        assert_eq!(probe(&tcp(), &foxy), GNUTELLA);
    }

    #[test]
    fn udp_messages() {
        let u = Ctx::client(17, 6346, 6346);
        // A Gnutella 0.6 ping header: GUID, type 0, TTL 1, hops 0, payload length 0.
        let mut ping = vec![0x5a; 16];
        ping.extend([0x00, 0x01, 0x00, 0, 0, 0, 0]);
        assert_eq!(probe(&u, &ping), GNUTELLA);
        // A vendor message with a LIME payload.
        let mut vendor = vec![0x5a; 16];
        vendor.extend([0x31, 0x01, 0x00, 0x09, 0, 0, 0]);
        vendor.extend(b"LIME\x0c\x00\x01\x00\x00");
        assert_eq!(vendor.len(), 32);
        assert_eq!(probe(&u, &vendor), GNUTELLA);
        let mut ext = vec![0u8; 34];
        ext[25..29].copy_from_slice(b"SCP@");
        ext[30..34].copy_from_slice(b"DNA@");
        assert_eq!(probe(&u, &ext), GNUTELLA);
        ext[30] = b'X';
        assert_eq!(probe(&u, &ext), Probe::NoMatch);
        // G2 GND: a ping fragment, and a long datagram with flags 0x03.
        assert_eq!(probe(&u, b"GND\x02\x00\x01\x01\x00"), GNUTELLA);
        let mut long = b"GND\x03".to_vec();
        long.resize(250, 0x20);
        assert_eq!(probe(&u, &long), GNUTELLA);
        long[3] = 0x01;
        assert_eq!(probe(&u, &long), Probe::NoMatch);
    }

    #[test]
    fn not_gnutella() {
        // Plain HTTP requests to the same paths without a Gnutella header, a short GET.
        let get =
            b"GET /get/12/song.mp3 HTTP/1.1\r\nHost: 10.0.0.2\r\nUser-Agent: curl/8.0\r\n\r\n";
        assert_eq!(probe(&tcp(), get), Probe::NoMatch);
        let home = b"GET / HTTP/1.1\r\nHost: example.org\r\nUser-Agent: Mozilla/5.0 (X11)\r\n\r\n";
        assert_eq!(probe(&tcp(), home), Probe::NoMatch);
        assert_eq!(
            probe(&tcp(), b"GET /uri-res/X HTTP/1.1\r\nX-Queue: 1\r\n"),
            Probe::NoMatch
        );
        // The handshake text over UDP, mid-stream prefixes, a ping with a payload length.
        let u = Ctx::client(17, 6346, 6346);
        assert_eq!(probe(&u, b"GNUTELLA CONNECT/0.6\r\n\r\n"), Probe::NoMatch);
        let mid = Ctx {
            stream_start: false,
            ..tcp()
        };
        assert_eq!(probe(&mid, b"GNUTELLA"), Probe::NoMatch);
        let mut ping = vec![0x5a; 16];
        ping.extend([0x00, 0x01, 0x00, 1, 0, 0, 0]);
        assert_eq!(probe(&u, &ping), Probe::NoMatch);
    }
}
