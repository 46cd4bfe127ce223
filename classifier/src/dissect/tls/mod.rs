//! TLS (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2): the ClientHello's SNI, ALPN and supported versions,
//! or a ServerHello when the client's side was missed. Works on the reassembled start of a TCP
//! stream; the engine reassembles up to `MAX_HANDSHAKE_BYTES` when this probe says `NeedMore`.
//! `parse_client_hello` is shared with QUIC, whose CRYPTO frames carry the bare handshake message.

use super::{Ctx, Dissector, Hit, Probe, Reader, ids};

pub mod cert_names;
pub mod certificate;
pub mod ja4;
pub mod records;

/// ContentType::handshake.
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_SERVER_HELLO: u8 = 2;
/// A ClientHello larger than this is not worth waiting for (linkerd `client_hello.rs` uses the
/// same bound; post-quantum key shares make ~1.8 KiB hellos normal).
pub const MAX_HELLO_LEN: usize = 8192;

const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// Ports on which TLS is DNS over TLS (RFC 7858 §3.1).
const DOT_PORT: u16 = 853;

pub const DISSECTOR: Dissector = Dissector {
    name: "tls",
    probe,
    tcp_ports: &[443, 853, 993, 995, 465, 8443, 5223, 5228, 4433],
    udp_ports: &[],
    reassemble: true,
    emits: &[
        ids::DOH_DOT,
        ids::TLS,
        ids::MAIL_SMTPS,
        ids::MAIL_IMAPS,
        ids::MAIL_POPS,
    ],
};

/// What a ClientHello says, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientHello<'a> {
    pub sni: &'a [u8],
    /// The raw ALPN protocol list (RFC 7301 §3.1), each name with a 1-byte length.
    pub alpn: &'a [u8],
    /// The highest version offered in supported_versions, else legacy_version.
    pub version: u16,
}

impl<'a> ClientHello<'a> {
    /// The first ALPN protocol name, if any.
    pub fn first_alpn(&self) -> Option<&'a [u8]> {
        Reader::new(self.alpn).vec8()
    }
}

/// Probes the start of a TCP stream for a TLS ClientHello (or ServerHello).
pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    let mut r = Reader::new(data);
    let (Some(ct), Some(major), Some(minor)) = (r.u8(), r.u8(), r.u8()) else {
        return prefix_plausible(data);
    };
    if ct != CONTENT_HANDSHAKE || major != 3 || minor > 4 {
        return Probe::NoMatch;
    }
    let Some(len) = r.u16() else {
        return Probe::NeedMore;
    };
    let len = usize::from(len);
    if !(4..=MAX_HELLO_LEN).contains(&len) {
        return Probe::NoMatch;
    }
    // The handshake header tells the message type before the whole record is there.
    let Some(&hs_type) = r.rest().first() else {
        return Probe::NeedMore;
    };
    if hs_type != HANDSHAKE_CLIENT_HELLO && hs_type != HANDSHAKE_SERVER_HELLO {
        return Probe::NoMatch;
    }
    let Some(record) = r.take(len) else {
        return Probe::NeedMore;
    };
    let master = if ctx.has_port(DOT_PORT) {
        ids::DOH_DOT
    } else {
        ids::TLS
    };
    if let Some(mail) = mail_over_tls(ctx) {
        // Implicit-TLS mail: the mail protocol is the master, and the app stays the same until a
        // host name names one.
        return match parse_handshake(record) {
            Probe::Match(Handshake::ClientHello(ch)) => Probe::Match(Hit::with_host(mail, ch.sni)),
            Probe::NoMatch => Probe::NoMatch,
            _ => Probe::Match(Hit::proto(mail)),
        };
    }
    match parse_handshake(record) {
        Probe::Match(Handshake::ClientHello(ch)) => Probe::Match(Hit {
            master: ids::TLS,
            app: master,
            host: ch.sni,
            dns_labels: false,
        }),
        Probe::Match(Handshake::ServerHello) => Probe::Match(Hit {
            master: ids::TLS,
            app: master,
            host: &[],
            dns_labels: false,
        }),
        // A handshake message split across several records: only the first record is read, and
        // that is enough to know this is TLS, though not the SNI.
        Probe::NeedMore => Probe::Match(Hit {
            master: ids::TLS,
            app: master,
            host: &[],
            dns_labels: false,
        }),
        Probe::NoMatch => Probe::NoMatch,
    }
}

/// TLS on the implicit-TLS mail ports is that mail protocol, as nDPI `tls.c`
/// `ndpi_tls_refine_master_protocol` names it: 465 and 587 SMTPS, 993 IMAPS, 995 POPS.
pub(crate) fn mail_over_tls(ctx: &Ctx) -> Option<nfguard_proto::AppId> {
    if !ctx.is_tcp() {
        None
    } else if ctx.has_port(465) || ctx.has_port(587) {
        Some(ids::MAIL_SMTPS)
    } else if ctx.has_port(993) {
        Some(ids::MAIL_IMAPS)
    } else if ctx.has_port(995) {
        Some(ids::MAIL_POPS)
    } else {
        None
    }
}

fn prefix_plausible(data: &[u8]) -> Probe<Hit<'_>> {
    match data {
        [] | [CONTENT_HANDSHAKE] | [CONTENT_HANDSHAKE, 3] => Probe::NeedMore,
        [CONTENT_HANDSHAKE, 3, v] if *v <= 4 => Probe::NeedMore,
        _ => Probe::NoMatch,
    }
}

/// A parsed handshake message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake<'a> {
    ClientHello(ClientHello<'a>),
    ServerHello,
}

/// Parses one handshake message (type, u24 length, body) at the start of `data`.
pub fn parse_handshake(data: &[u8]) -> Probe<Handshake<'_>> {
    let mut r = Reader::new(data);
    let (Some(t), Some(len)) = (r.u8(), r.u24()) else {
        return Probe::NeedMore;
    };
    let Ok(len) = usize::try_from(len) else {
        return Probe::NoMatch;
    };
    if len > MAX_HELLO_LEN {
        return Probe::NoMatch;
    }
    let Some(body) = r.take(len) else {
        return Probe::NeedMore;
    };
    match t {
        HANDSHAKE_CLIENT_HELLO => match parse_client_hello(body) {
            Some(ch) => Probe::Match(Handshake::ClientHello(ch)),
            None => Probe::NoMatch,
        },
        HANDSHAKE_SERVER_HELLO => Probe::Match(Handshake::ServerHello),
        _ => Probe::NoMatch,
    }
}

/// Parses a ClientHello body (after the handshake header); `None` when malformed.
pub fn parse_client_hello(body: &[u8]) -> Option<ClientHello<'_>> {
    parse_hello(body, false)
}

/// Parses a DTLS ClientHello body (RFC 6347 §4.2.1, RFC 9147 §5.3): TLS's, with a `cookie`
/// vector after the session id.
pub fn parse_dtls_client_hello(body: &[u8]) -> Option<ClientHello<'_>> {
    parse_hello(body, true)
}

fn parse_hello(body: &[u8], cookie: bool) -> Option<ClientHello<'_>> {
    let mut r = Reader::new(body);
    let legacy_version = r.u16()?;
    r.skip(32)?; // random
    r.vec8()?; // legacy_session_id
    if cookie {
        r.vec8()?;
    }
    r.vec16()?; // cipher_suites
    r.vec8()?; // legacy_compression_methods
    let mut out = ClientHello {
        version: legacy_version,
        ..ClientHello::default()
    };
    if r.is_empty() {
        // Extensions are optional before TLS 1.3.
        return Some(out);
    }
    let mut exts = Reader::new(r.vec16()?);
    while !exts.is_empty() {
        let ty = exts.u16()?;
        let data = exts.vec16()?;
        match ty {
            EXT_SERVER_NAME => {
                let mut list = Reader::new(Reader::new(data).vec16()?);
                while !list.is_empty() {
                    let name_type = list.u8()?;
                    let name = list.vec16()?;
                    // NameType::host_name, as sent: a malformed name (too long, a NUL) is still
                    // what the server may serve, so it is kept, matched by its valid suffix and
                    // flagged (`nfguard_proto::host_name`, `risks.rs`). The record bounds it.
                    if name_type == 0 && !name.is_empty() {
                        out.sni = name;
                        break;
                    }
                }
            }
            EXT_ALPN => out.alpn = Reader::new(data).vec16().unwrap_or(&[]),
            EXT_SUPPORTED_VERSIONS => {
                let mut v = Reader::new(Reader::new(data).vec8().unwrap_or(&[]));
                while let Some(ver) = v.u16() {
                    // Skip GREASE values (RFC 8701: 0x?a?a).
                    if ver & 0x0f0f != 0x0a0a && ver > out.version {
                        out.version = ver;
                    }
                }
            }
            _ => {}
        }
    }
    Some(out)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 40000, 443), data);
    let _ = parse_handshake(data);
    let _ = ja4::of_record(data);
}

#[cfg(test)]
// Tests may index, unwrap and panic: a failure is the point.
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    /// A ClientHello recorded from `curl -k --resolve x.test:4433:127.0.0.1 https://x.test:4433`
    /// against `openssl s_server` on loopback (TCP payload of the first data segment).
    pub const CURL_HELLO: &[u8] = include_bytes!("../../../testdata/tls_client_hello_curl.bin");

    #[test]
    fn curl_client_hello_all_prefixes() {
        let ctx = Ctx::client(6, 40000, 4433);
        let record_len = 5 + usize::from(u16::from_be_bytes([CURL_HELLO[3], CURL_HELLO[4]]));
        check_all_prefixes(&ctx, CURL_HELLO, record_len, probe, |h| {
            assert_eq!(h.master, ids::TLS);
            assert_eq!(h.host, b"x.test");
        });
    }

    #[test]
    fn alpn_and_version() {
        let body = &CURL_HELLO[9..];
        let ch = parse_client_hello(body).unwrap();
        assert_eq!(ch.sni, b"x.test");
        assert_eq!(ch.first_alpn(), Some(&b"h2"[..]));
        assert_eq!(ch.version, 0x0304);
    }

    #[test]
    fn dot_port_is_doh_dot() {
        let ctx = Ctx::client(6, 40000, 853);
        let Probe::Match(h) = probe(&ctx, CURL_HELLO) else {
            panic!()
        };
        assert_eq!((h.master, h.app), (ids::TLS, ids::DOH_DOT));
    }

    #[test]
    fn mail_ports_are_the_mail_protocol() {
        for (port, id) in [
            (465, ids::MAIL_SMTPS),
            (587, ids::MAIL_SMTPS),
            (993, ids::MAIL_IMAPS),
            (995, ids::MAIL_POPS),
        ] {
            let ctx = Ctx::client(6, 40000, port);
            let Probe::Match(h) = probe(&ctx, CURL_HELLO) else {
                panic!("{port}")
            };
            assert_eq!(
                (h.master, h.app, h.host),
                (id, id, &b"x.test"[..]),
                "{port}"
            );
        }
        // Plain text on a mail port is not TLS.
        let ctx = Ctx::client(6, 40000, 993);
        assert_eq!(probe(&ctx, b"* OK IMAP4rev1 ready\r\n"), Probe::NoMatch);
    }

    /// Issue #20: a malformed SNI is still the flow's host (the engine matches it by its valid
    /// suffix, shows it escaped and flags it), not silently dropped.
    #[test]
    fn malformed_sni_is_kept_as_sent() {
        use crate::dissect::testutil::{client_hello_message, tls_record};
        let ctx = Ctx::client(6, 40000, 443);
        let long = format!("{}.example-video.test", "a".repeat(300));
        for sni in [
            long.as_bytes(),
            b"x\0.evil.example-video.test",
            b"WWW.Example-Video.TEST.",
        ] {
            let rec = tls_record(&client_hello_message(sni));
            let Probe::Match(h) = probe(&ctx, &rec) else {
                panic!("{sni:?}")
            };
            assert_eq!((h.master, h.host), (ids::TLS, sni), "{sni:?}");
            let msg = client_hello_message(sni);
            let ch = parse_client_hello(&msg[4..]).unwrap();
            assert_eq!((ch.sni, ch.version), (sni, 0x0304));
        }
        // An empty host_name is no name.
        let rec = tls_record(&client_hello_message(b""));
        let Probe::Match(h) = probe(&ctx, &rec) else {
            panic!()
        };
        assert_eq!(h.host, b"");
    }

    #[test]
    fn not_tls() {
        let ctx = Ctx::client(6, 40000, 443);
        assert_eq!(probe(&ctx, b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
        // Application data record.
        assert_eq!(probe(&ctx, &[23, 3, 3, 0, 10, 1, 2]), Probe::NoMatch);
        // A handshake record whose length exceeds the bound.
        assert_eq!(probe(&ctx, &[22, 3, 1, 0xff, 0xff, 1]), Probe::NoMatch);
    }
}
