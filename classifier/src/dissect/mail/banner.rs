//! The greetings and first commands of the plain-text mail and file-transfer protocols: SMTP
//! (RFC 5321 §4.2 `220 … ESMTP`, `EHLO`), POP3 (RFC 1939 §4 `+OK`), IMAP (RFC 9051 §7.1 `* OK`) and
//! FTP (RFC 959 `220`, `USER`). nDPI `src/lib/protocols/smtp.c`, `mail_pop.c`, `mail_imap.c`,
//! `ftp_control.c`. The in-band TLS upgrade that may follow is `mail/starttls.rs`.

use crate::dissect::{Ctx, Dissector, Hit, Probe, at, find, hit, ids, prefixed, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "mail",
    probe: mail,
    tcp_ports: &[25, 587, 110, 143, 21, 23],
    udp_ports: &[],
    reassemble: false,
    emits: &[
        ids::MAIL_SMTP,
        ids::FTP_CONTROL,
        ids::MAIL_POP,
        ids::MAIL_IMAP,
    ],
};

fn mail<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    if ctx.from_client {
        return prefixed(data, &[b"EHLO ", b"HELO "], ids::MAIL_SMTP)
            .or(|| {
                prefixed(data, &[b"USER ", b"CAPA\r\n"], ids::FTP_CONTROL).and_port(ctx, 21, true)
            })
            .or(|| {
                prefixed(data, &[b"USER ", b"CAPA\r\n", b"AUTH "], ids::MAIL_POP)
                    .and_port(ctx, 110, true)
            });
    }
    if data.starts_with(b"220") && (at(data, 3) == b' ' || at(data, 3) == b'-') {
        let smtp = find(data, b"SMTP").is_some() || find(data, b"ESMTP").is_some();
        let ftp = find(data, b"FTP").is_some() || ctx.has_port(21);
        return if smtp {
            // smtp.c keeps the greeting's host name as the flow's host.
            match super::starttls::smtp_greeting_host(data) {
                Some(host) => Probe::Match(Hit::with_host(ids::MAIL_SMTP, host)),
                None => hit(ids::MAIL_SMTP),
            }
        } else if ftp {
            hit(ids::FTP_CONTROL)
        } else {
            proto_if(ctx.has_port(25) || ctx.has_port(587), ids::MAIL_SMTP)
        };
    }
    prefixed(data, &[b"+OK"], ids::MAIL_POP).or(|| prefixed(data, &[b"* OK"], ids::MAIL_IMAP))
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::dissect::testutil::server;

    #[test]
    fn each_small_protocol_mail_banner() {
        assert_eq!(
            mail(&server(6, 25), b"220 mx.example ESMTP Postfix\r\n"),
            Probe::Match(Hit::with_host(ids::MAIL_SMTP, b"mx.example"))
        );
        assert_eq!(
            mail(&server(6, 25), b"220 ESMTP ready\r\n"),
            hit(ids::MAIL_SMTP)
        );
        assert_eq!(
            mail(&server(6, 110), b"+OK POP3 ready\r\n"),
            hit(ids::MAIL_POP)
        );
        assert_eq!(
            mail(&server(6, 143), b"* OK IMAP4rev1\r\n"),
            hit(ids::MAIL_IMAP)
        );
    }
}
