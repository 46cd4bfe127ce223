//! Cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3–3.4): the client connection preface
//! `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` opening a TCP stream. nDPI `src/lib/protocols/http2.c`
//! matches the preface at the start of the payload and names the flow HTTP2 (no application).
//! The other cleartext route, an HTTP/1.1 request with `Upgrade: h2c` (RFC 7540 §3.2), starts as
//! HTTP/1.1 and is HTTP for nDPI and for `http.rs` alike.

use super::{Ctx, Dissector, Hit, Probe, hit, ids, starts};

pub const DISSECTOR: Dissector = Dissector {
    name: "http2",
    probe,
    tcp_ports: super::ANY,
    udp_ports: &[],
    reassemble: true,
    emits: &[ids::HTTP2],
};

/// RFC 9113 §3.4, the 24 octets every HTTP/2 client sends first.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    match starts(data, PREFACE) {
        Probe::Match(()) => hit(ids::HTTP2),
        Probe::NeedMore => Probe::NeedMore,
        Probe::NoMatch => Probe::NoMatch,
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 40000, 80), data);
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
    use crate::dissect::testutil::check_all_prefixes;

    /// Recorded on loopback (`testdata/README.md`): `curl --http2-prior-knowledge
    /// http://127.0.0.1:18080/index.html` (curl 7.88.1, nghttp2 1.52): preface, SETTINGS,
    /// WINDOW_UPDATE and the HEADERS frame.
    pub const CURL_PRIOR_KNOWLEDGE: &[u8] =
        include_bytes!("../../testdata/h2c_prior_knowledge_curl_lo.bin");

    #[test]
    fn curl_prior_knowledge_all_prefixes() {
        let ctx = Ctx::client(6, 40000, 18080);
        check_all_prefixes(&ctx, CURL_PRIOR_KNOWLEDGE, PREFACE.len(), probe, |h| {
            assert_eq!(
                (h.master, h.app, h.host),
                (ids::HTTP2, ids::HTTP2, &b""[..])
            );
        });
    }

    /// `curl --http2 http://127.0.0.1:18081/`: the `Upgrade: h2c` request is HTTP/1.1, and HTTP
    /// with its Host for `http.rs` (as for nDPI), not this dissector's.
    #[test]
    fn curl_upgrade_request_is_http() {
        const CURL_UPGRADE: &[u8] = include_bytes!("../../testdata/h2c_upgrade_curl_lo.bin");
        let ctx = Ctx::client(6, 40000, 18081);
        assert_eq!(probe(&ctx, CURL_UPGRADE), Probe::NoMatch);
        let Probe::Match(h) = crate::dissect::http::probe(&ctx, CURL_UPGRADE) else {
            panic!("http")
        };
        assert_eq!((h.master, h.host), (ids::HTTP, &b"h2c.test"[..]));
    }

    #[test]
    fn shapes_it_refuses() {
        let ctx = Ctx::client(6, 40000, 80);
        // HTTP/1.x requests, including the h2c upgrade request and methods sharing "P".
        for data in [
            &b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n"[..],
            b"PROPFIND / HTTP/1.1\r\n",
            b"PUT / HTTP/1.1\r\n",
            b"PRI * HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(probe(&ctx, data), Probe::NoMatch, "{data:?}");
        }
        // The preface mid-stream is not the stream's start.
        let mid = Ctx {
            stream_start: false,
            ..ctx
        };
        assert_eq!(probe(&mid, CURL_PRIOR_KNOWLEDGE), Probe::NoMatch);
        // The server's first bytes are a SETTINGS frame, not a preface: nothing to match.
        let settings = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
        assert_eq!(probe(&ctx, &settings), Probe::NoMatch);
    }
}
