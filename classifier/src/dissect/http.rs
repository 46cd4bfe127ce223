//! HTTP/1.x (RFC 9112 §3, §7.2): a request line with a known method and the `Host` header, or a
//! status line from the server. The `User-Agent` is read by [`request_headers`] for callers that
//! want it. Headers are searched only within the first `MAX_HEADER_BYTES`.

use super::{Ctx, Dissector, Hit, Probe, find, ids};

/// How far into a request the Host header is looked for (nginx's default large header buffer).
pub const MAX_HEADER_BYTES: usize = 8192;
/// Methods nDPI's `http.c` recognises (plus WebDAV's, which nDPI labels HTTP.WebDAV elsewhere).
const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
    b"PROPFIND ",
    b"MKCOL ",
    b"MOVE ",
    b"COPY ",
    b"LOCK ",
    b"UNLOCK ",
    b"PROPPATCH ",
    b"REPORT ",
    b"SEARCH ",
    b"NOTIFY ",
    b"SUBSCRIBE ",
];
const STATUS_PREFIX: &[u8] = b"HTTP/1.";

pub const DISSECTOR: Dissector = Dissector {
    name: "http",
    probe,
    tcp_ports: &[80, 8080, 8000, 3128, 8008, 8888],
    udp_ports: &[],
    reassemble: true,
    emits: &[
        ids::HTTP,
        ids::HTTP_CONNECT,
        ids::MPEGDASH,
        ids::WEBDAV,
        ids::OCSP,
        ids::IPP,
    ],
};

/// The headers of a request that matter for classification, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request<'a> {
    pub host: &'a [u8],
    pub user_agent: &'a [u8],
    pub content_type: &'a [u8],
    /// True once the blank line ending the headers was seen.
    pub complete: bool,
}

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    // A server response: the client's request was missed or came in another packet.
    match super::starts(data, STATUS_PREFIX) {
        Probe::Match(()) if is_mpeg_dash(data) => {
            return Probe::Match(Hit {
                master: ids::HTTP,
                app: MPEG_DASH,
                host: &[],
                dns_labels: false,
            });
        }
        Probe::Match(()) => return Probe::Match(Hit::proto(ids::HTTP)),
        Probe::NeedMore if !data.is_empty() => return Probe::NeedMore,
        _ => {}
    }
    let mut maybe = data.is_empty();
    let mut method_ok = false;
    for m in METHODS {
        match super::starts(data, m) {
            Probe::Match(()) => {
                method_ok = true;
                break;
            }
            Probe::NeedMore => maybe = true,
            Probe::NoMatch => {}
        }
    }
    if !method_ok {
        return if maybe {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    // Require a plausible request line: "METHOD SP target SP HTTP/1.x".
    let line_end = find(data, b"\r\n").or_else(|| find(data, b"\n"));
    let Some(line_end) = line_end else {
        return if data.len() < MAX_HEADER_BYTES {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    let line = data.get(..line_end).unwrap_or(&[]);
    if find(line, b" HTTP/").is_none() {
        return Probe::NoMatch;
    }
    let req = request_headers(data);
    if req.host.is_empty() && !req.complete && data.len() < MAX_HEADER_BYTES {
        return Probe::NeedMore;
    }
    let master = if line.starts_with(b"CONNECT ") {
        // nDPI labels CONNECT as HTTP_Connect (id 130).
        nfguard_proto::ids::HTTP_CONNECT
    } else {
        ids::HTTP
    };
    let by_content = CONTENT_APPS
        .iter()
        .find(|(prefix, _)| starts_ignore_case(req.content_type, prefix))
        .map(|&(_, app)| app);
    let webdav = WEBDAV_METHODS.iter().any(|m| line.starts_with(m));
    let dash = (master == ids::HTTP && is_mpeg_dash(data)).then_some(MPEG_DASH);
    if let Some(app) = by_content.or(webdav.then_some(WEBDAV)).or(dash) {
        return Probe::Match(Hit {
            master,
            app,
            host: req.host,
            dns_labels: false,
        });
    }
    Probe::Match(Hit::with_host(master, req.host))
}

const MPEG_DASH: nfguard_proto::AppId = nfguard_proto::ids::MPEGDASH;

/// MPEG-DASH over HTTP as nDPI's `mpegdash.c` recognises it: a first line ending in
/// `.mp4 HTTP/1.1` or `.m4s HTTP/1.1` (segment requests), or a header line that is
/// `Content-Type: …video/mp4` or starts with `DASH` (DASH-specific headers). Header lines only,
/// within `MAX_HEADER_BYTES`.
fn is_mpeg_dash(data: &[u8]) -> bool {
    let block = data.get(..data.len().min(MAX_HEADER_BYTES)).unwrap_or(&[]);
    let mut lines = block
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or(&[]);
    if first.ends_with(b".mp4 HTTP/1.1") || first.ends_with(b".m4s HTTP/1.1") {
        return true;
    }
    lines.take_while(|l| !l.is_empty()).any(|l| {
        (l.starts_with(b"Content-Type:") && l.ends_with(b"video/mp4")) || l.starts_with(b"DASH")
    })
}

/// RFC 4918 §9 methods: nDPI's `http.c` labels a request using one `HTTP.WebDAV` whatever the host.
const WEBDAV_METHODS: &[&[u8]] = &[
    b"PROPFIND ",
    b"PROPPATCH ",
    b"MKCOL ",
    b"COPY ",
    b"MOVE ",
    b"LOCK ",
    b"UNLOCK ",
];
const WEBDAV: nfguard_proto::AppId = nfguard_proto::ids::WEBDAV;

/// Request content types that name the application whatever the host (nDPI `http.c`: OCSP
/// requests, RFC 6960 App. C.1; IPP, RFC 8010 §3.1).
const CONTENT_APPS: &[(&[u8], nfguard_proto::AppId)] = &[
    (b"application/ocsp-request", nfguard_proto::ids::OCSP),
    (b"application/ipp", nfguard_proto::ids::IPP),
];

fn starts_ignore_case(value: &[u8], prefix: &[u8]) -> bool {
    value
        .get(..prefix.len())
        .is_some_and(|v| v.eq_ignore_ascii_case(prefix))
}

/// Reads `Host` and `User-Agent` from the header block that follows the request line.
pub fn request_headers(data: &[u8]) -> Request<'_> {
    let mut out = Request::default();
    let limit = data.len().min(MAX_HEADER_BYTES);
    let block = data.get(..limit).unwrap_or(&[]);
    // Only whole lines count: a Host value cut by the segment end would be wrong, not short.
    let whole = block
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i.saturating_add(1));
    let block = block.get(..whole).unwrap_or(&[]);
    let mut lines = block.split_inclusive(|&b| b == b'\n');
    lines.next(); // request line
    for line in lines {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            out.complete = true;
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let value = trim(value.get(1..).unwrap_or(&[]));
        if name.eq_ignore_ascii_case(b"host") {
            out.host = strip_port(value);
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            out.user_agent = value;
        } else if name.eq_ignore_ascii_case(b"content-type") {
            out.content_type = value;
        }
    }
    out
}

/// `example.com:8080` → `example.com`; IPv6 literals keep their brackets' content.
fn strip_port(v: &[u8]) -> &[u8] {
    if let Some(rest) = v.strip_prefix(b"[") {
        return rest.split(|&b| b == b']').next().unwrap_or(rest);
    }
    v.split(|&b| b == b':').next().unwrap_or(v)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e.saturating_add(1));
    v.get(start..end).unwrap_or(&[])
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 40000, 80), data);
    let _ = request_headers(data);
}

#[cfg(test)]
// Tests may index, unwrap and panic: a failure is the point.
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    #[test]
    fn mpeg_dash_segments_and_responses() {
        let ctx = Ctx::client(6, 40000, 80);
        let seg = b"GET /live/chunk-1.m4s HTTP/1.1\r\nHost: cdn.example\r\n\r\n";
        // Decided once the Host line is whole (before the blank line).
        check_all_prefixes(&ctx, seg, seg.len() - 2, probe, |h| {
            assert_eq!((h.master, h.app), (ids::HTTP, MPEG_DASH));
            assert_eq!(h.host, b"cdn.example");
        });
        let page = b"GET /index.html HTTP/1.1\r\nHost: cdn.example\r\n\r\n";
        let Probe::Match(h) = probe(&ctx, page) else {
            panic!("HTTP request")
        };
        assert_eq!(h.app, ids::HTTP);
        let server = Ctx {
            from_client: false,
            ..ctx
        };
        let resp = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n\r\n";
        let Probe::Match(h) = probe(&server, resp) else {
            panic!("HTTP response")
        };
        assert_eq!(h.app, MPEG_DASH);
        // After the blank line it is body, not a header.
        let body = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nDASH";
        let Probe::Match(h) = probe(&server, body) else {
            panic!("HTTP response")
        };
        assert_eq!(h.app, ids::HTTP);
    }

    /// Issue #20: a Host that is too long, holds a NUL, or differs by case and a trailing dot is
    /// the flow's host as sent (the engine matches, escapes and flags it).
    #[test]
    fn malformed_host_is_kept_as_sent() {
        let ctx = Ctx::client(6, 40000, 80);
        let long = format!("{}.example-video.test", "a".repeat(300));
        for host in [
            long.as_bytes(),
            b"x\0.evil.example-video.test",
            b"WWW.Example-Video.TEST.",
        ] {
            let req = [
                &b"GET / HTTP/1.1\r\nHost: "[..],
                host,
                b":8080\r\nAccept: */*\r\n\r\n",
            ]
            .concat();
            let Probe::Match(h) = probe(&ctx, &req) else {
                panic!("{host:?}")
            };
            assert_eq!((h.master, h.host), (ids::HTTP, host), "{host:?}");
        }
    }

    /// What `curl http://www.youtube.com/watch` sends (curl 7.88, Debian 12).
    const CURL_GET: &[u8] = b"GET /watch HTTP/1.1\r\nHost: www.youtube.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

    #[test]
    fn get_all_prefixes() {
        let ctx = Ctx::client(6, 40000, 80);
        // The Host value is complete once its line ends.
        let need = find(CURL_GET, b"\r\nUser-Agent").unwrap();
        check_all_prefixes(&ctx, CURL_GET, need + 2, probe, |h| {
            assert_eq!(h.master, ids::HTTP);
        });
        let Probe::Match(h) = probe(&ctx, CURL_GET) else {
            panic!()
        };
        assert_eq!(h.host, b"www.youtube.com");
        let r = request_headers(CURL_GET);
        assert_eq!(r.user_agent, b"curl/7.88.1");
        assert!(r.complete);
    }

    #[test]
    fn response_and_port_in_host() {
        let ctx = Ctx::client(6, 40000, 80);
        assert!(probe(&ctx, b"HTTP/1.1 200 OK\r\n").is_match());
        let Probe::Match(h) = probe(&ctx, b"POST /x HTTP/1.0\r\nHost: a.example:8080\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!(h.host, b"a.example");
    }

    #[test]
    fn webdav_methods() {
        let ctx = Ctx::client(6, 40000, 80);
        let req = b"PROPFIND /webdav HTTP/1.1\r\nHost: www.dlp-test.com\r\nDepth: 1\r\n\r\n";
        let Probe::Match(h) = probe(&ctx, req) else {
            panic!()
        };
        assert_eq!(
            (h.master, h.app, h.host),
            (ids::HTTP, WEBDAV, &b"www.dlp-test.com"[..])
        );
        let Probe::Match(h) = probe(&ctx, b"PUT /webdav HTTP/1.1\r\nHost: a.example\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!(h.app, ids::HTTP, "PUT alone is plain HTTP");
        let ocsp = b"POST / HTTP/1.1\r\nHost: r3.o.lencr.org\r\nContent-Type: application/ocsp-request\r\n\r\n";
        let Probe::Match(h) = probe(&ctx, ocsp) else {
            panic!()
        };
        assert_eq!(h.app.name(), "OCSP");
        let ipp = b"POST /printers/p HTTP/1.1\r\nHost: 10.10.10.251\r\ncontent-type: Application/IPP\r\n\r\n";
        let Probe::Match(h) = probe(&Ctx::client(6, 40000, 631), ipp) else {
            panic!()
        };
        assert_eq!(h.app.name(), "IPP");
    }

    #[test]
    fn not_http() {
        let ctx = Ctx::client(6, 40000, 80);
        assert_eq!(probe(&ctx, b"SSH-2.0-x\r\n"), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"GET /\r\n\r\n"), Probe::NoMatch);
    }
}
