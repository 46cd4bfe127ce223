//! In-band TLS upgrades of the plain-text mail and file-transfer protocols: SMTP `STARTTLS`
//! (RFC 3207), IMAP `STARTTLS` (RFC 9051 §6.2.1), POP3 `STLS` (RFC 2595 §4) and FTP `AUTH TLS`
//! (RFC 4217 §4). nDPI follows the command into TLS and labels the flow SMTPS / IMAPS / POPS /
//! FTPS (`src/lib/protocols/smtp.c`, `mail_imap.c`, `mail_pop.c`, `ftp_control.c`). The engine
//! watches a few packets after the banner with these functions, then decides: the secure id once
//! the server accepts the upgrade, the plain one as soon as the client sends a command that only
//! makes sense in clear text (so the flow is not held longer than the exchange needs).
//!
//! Also here: the host name of an SMTP greeting (`220 mx.example ESMTP …`), which smtp.c stores
//! as the flow's host name.

use nfguard_proto::AppId;

use crate::dissect::ids;

/// nDPI's `NDPI_PROTOCOL_FTPS`.
pub const FTPS: AppId = ids::FTPS;

/// Payload packets after a banner watched for the upgrade: greeting, EHLO and its reply, STARTTLS
/// and its reply fit in five; a few more allow split replies. `max_dpi_packets` bounds it too
/// (give-up reports the plain protocol).
pub const WATCH_PACKETS: u8 = 8;

/// The follow-up of a plain mail/FTP flow after its banner (the engine's `FollowUp::StartTls`):
/// packets still watched, and whether the client sent the upgrade command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    left: u8,
    asked: bool,
}

impl Watch {
    pub const fn new() -> Self {
        Watch {
            left: WATCH_PACKETS,
            asked: false,
        }
    }

    /// One payload packet of protocol `plain`: `Some(true)` once the server accepts the client's
    /// STARTTLS / STLS / AUTH TLS (or a TLS handshake record shows up), `Some(false)` on a
    /// clear-text command, a refusal, or when the watch runs out; `None` while the exchange goes on.
    pub fn advance(&mut self, plain: AppId, from_client: bool, data: &[u8]) -> Option<bool> {
        self.left = self.left.saturating_sub(1);
        // ContentType::handshake, major version 3.
        let tls_record = data.first() == Some(&0x16) && data.get(1) == Some(&3);
        let verdict = if tls_record {
            Some(true)
        } else if from_client {
            match command(plain, data) {
                Command::StartTls => {
                    self.asked = true;
                    None
                }
                Command::Neutral => None,
                Command::Plain => Some(false),
            }
        } else if self.asked {
            reply(plain, data)
        } else {
            None
        };
        match verdict {
            Some(v) => Some(v),
            None if self.left == 0 => Some(false),
            None => None,
        }
    }
}

impl Default for Watch {
    fn default() -> Self {
        Self::new()
    }
}

/// What a client command says about an upcoming upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// The upgrade command itself.
    StartTls,
    /// A command allowed before the upgrade (greeting, capability query, no-op): keep watching.
    Neutral,
    /// Anything else: the session goes on in clear text.
    Plain,
}

/// The secure counterpart of a plain protocol that has an in-band upgrade; `None` otherwise.
#[must_use]
pub fn secure_of(plain: AppId) -> Option<AppId> {
    match plain {
        ids::MAIL_SMTP => Some(ids::MAIL_SMTPS),
        ids::MAIL_IMAP => Some(ids::MAIL_IMAPS),
        ids::MAIL_POP => Some(ids::MAIL_POPS),
        ids::FTP_CONTROL => Some(FTPS),
        _ => None,
    }
}

/// Classifies a client command line of protocol `plain` (an id [`secure_of`] knows).
#[must_use]
pub fn command(plain: AppId, data: &[u8]) -> Command {
    let (upgrade, neutral): (&[&[u8]], &[&[u8]]) = match plain {
        ids::MAIL_SMTP => (
            &[b"STARTTLS"],
            &[b"EHLO", b"HELO", b"NOOP", b"RSET", b"HELP"],
        ),
        ids::MAIL_POP => (&[b"STLS"], &[b"CAPA", b"NOOP"]),
        ids::FTP_CONTROL => (
            &[b"AUTH TLS", b"AUTH SSL"],
            &[b"FEAT", b"SYST", b"NOOP", b"HELP"],
        ),
        // IMAP commands carry a tag first (RFC 9051 §2.2.1): `a1 STARTTLS`.
        ids::MAIL_IMAP => {
            let cmd = after_tag(data).unwrap_or(&[]);
            return if word_is(cmd, b"STARTTLS") {
                Command::StartTls
            } else if [b"CAPABILITY".as_slice(), b"NOOP", b"ID"]
                .iter()
                .any(|w| word_is(cmd, w))
            {
                Command::Neutral
            } else {
                Command::Plain
            };
        }
        _ => return Command::Plain,
    };
    if upgrade.iter().any(|w| word_is(data, w)) {
        Command::StartTls
    } else if neutral.iter().any(|w| word_is(data, w)) {
        Command::Neutral
    } else {
        Command::Plain
    }
}

/// A server reply's answer to the upgrade command: `Some(true)` accepted (SMTP `220`, FTP `234`,
/// POP3 `+OK`, IMAP `<tag> OK`), `Some(false)` refused (4xx/5xx, `-ERR`, `<tag> NO|BAD`), `None`
/// when the bytes are not that answer (an earlier multi-line reply still arriving).
#[must_use]
pub fn reply(plain: AppId, data: &[u8]) -> Option<bool> {
    match plain {
        ids::MAIL_SMTP | ids::FTP_CONTROL => {
            let ok: &[u8] = if plain == ids::MAIL_SMTP {
                b"220"
            } else {
                b"234"
            };
            if data.starts_with(ok) {
                Some(true)
            } else if matches!(data.first(), Some(b'4' | b'5')) {
                Some(false)
            } else {
                None
            }
        }
        ids::MAIL_POP if data.starts_with(b"+OK") => Some(true),
        ids::MAIL_POP if data.starts_with(b"-ERR") => Some(false),
        // Untagged lines (`* …`) may come first; the tagged completion decides.
        ids::MAIL_IMAP => data
            .split(|&b| b == b'\n')
            .filter(|l| !l.starts_with(b"*") && !l.starts_with(b"+"))
            .filter_map(after_tag)
            .find_map(|rest| {
                if word_is(rest, b"OK") {
                    Some(true)
                } else if word_is(rest, b"NO") || word_is(rest, b"BAD") {
                    Some(false)
                } else {
                    None
                }
            }),
        _ => None,
    }
}

/// The host name an SMTP greeting announces (`220 mx.example ESMTP`, `220-mx.example …`), as
/// smtp.c takes it; `None` when the greeting has no name-like first word.
#[must_use]
pub fn smtp_greeting_host(data: &[u8]) -> Option<&[u8]> {
    let rest = data.strip_prefix(b"220")?;
    let rest = rest
        .strip_prefix(b" ")
        .or_else(|| rest.strip_prefix(b"-"))?;
    let end = rest
        .iter()
        .position(|b| matches!(b, b' ' | b'\r' | b'\n'))
        .unwrap_or(rest.len());
    let name = rest.get(..end)?;
    let name_like = name.contains(&b'.')
        && name.len() <= 253
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    name_like.then_some(name)
}

/// The rest of an IMAP line after its tag and one space.
fn after_tag(line: &[u8]) -> Option<&[u8]> {
    let sp = line.iter().position(|&b| b == b' ')?;
    let tag = line.get(..sp)?;
    if tag.is_empty() || !tag.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    line.get(sp.checked_add(1)?..)
}

/// `data` starts with the command word `w` (any case), followed by the end of the word.
fn word_is(data: &[u8], w: &[u8]) -> bool {
    data.get(..w.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(w))
        && matches!(data.get(w.len()), None | Some(b' ' | b'\r' | b'\n'))
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for plain in [
        ids::MAIL_SMTP,
        ids::MAIL_IMAP,
        ids::MAIL_POP,
        ids::FTP_CONTROL,
        ids::TLS,
    ] {
        let _ = command(plain, data);
        let _ = reply(plain, data);
        let _ = secure_of(plain);
    }
    let _ = smtp_greeting_host(data);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn smtp_exchange_of_smtp_starttls_pcap() {
        // The lines of nDPI's smtp-starttls.pcap (mx.google.com), in order.
        let banner = b"220 mx.google.com ESMTP s4si9696358qcc.63 - gsmtp\r\n";
        assert_eq!(smtp_greeting_host(banner), Some(&b"mx.google.com"[..]));
        assert_eq!(
            command(ids::MAIL_SMTP, b"EHLO xxxxxxxxxxxxx.xxx.com\r\n"),
            Command::Neutral
        );
        assert_eq!(command(ids::MAIL_SMTP, b"STARTTLS\r\n"), Command::StartTls);
        assert_eq!(
            reply(ids::MAIL_SMTP, b"220 2.0.0 Ready to start TLS\r\n"),
            Some(true)
        );
        assert_eq!(
            reply(ids::MAIL_SMTP, b"454 4.7.0 TLS not available\r\n"),
            Some(false)
        );
        assert_eq!(reply(ids::MAIL_SMTP, b"250 CHUNKING\r\n"), None);
        assert_eq!(
            command(ids::MAIL_SMTP, b"MAIL FROM:<a@b.example>\r\n"),
            Command::Plain
        );
        assert_eq!(command(ids::MAIL_SMTP, b"starttls\r\n"), Command::StartTls);
        assert_eq!(command(ids::MAIL_SMTP, b"STARTTLSX\r\n"), Command::Plain);
    }

    #[test]
    fn ftp_imap_pop3_upgrades() {
        assert_eq!(
            command(ids::FTP_CONTROL, b"AUTH TLS\r\n"),
            Command::StartTls
        );
        assert_eq!(
            command(ids::FTP_CONTROL, b"USER anonymous\r\n"),
            Command::Plain
        );
        assert_eq!(
            reply(ids::FTP_CONTROL, b"234 Proceed with negotiation.\r\n"),
            Some(true)
        );
        assert_eq!(
            command(ids::MAIL_IMAP, b"a1 CAPABILITY\r\n"),
            Command::Neutral
        );
        assert_eq!(
            command(ids::MAIL_IMAP, b"a2 STARTTLS\r\n"),
            Command::StartTls
        );
        assert_eq!(
            command(ids::MAIL_IMAP, b"a2 LOGIN joe secret\r\n"),
            Command::Plain
        );
        assert_eq!(
            reply(
                ids::MAIL_IMAP,
                b"* CAPABILITY IMAP4rev1\r\na2 OK Begin TLS negotiation now\r\n"
            ),
            Some(true)
        );
        assert_eq!(
            reply(ids::MAIL_IMAP, b"a2 BAD unknown command\r\n"),
            Some(false)
        );
        assert_eq!(reply(ids::MAIL_IMAP, b"* CAPABILITY IMAP4rev1\r\n"), None);
        assert_eq!(command(ids::MAIL_POP, b"STLS\r\n"), Command::StartTls);
        assert_eq!(command(ids::MAIL_POP, b"USER joe\r\n"), Command::Plain);
        assert_eq!(reply(ids::MAIL_POP, b"+OK Begin TLS\r\n"), Some(true));
        assert_eq!(reply(ids::MAIL_POP, b"-ERR no\r\n"), Some(false));
        assert_eq!(secure_of(ids::FTP_CONTROL), Some(FTPS));
        assert_eq!(secure_of(ids::HTTP), None);
        assert_eq!(command(ids::HTTP, b"STARTTLS\r\n"), Command::Plain);
    }

    #[test]
    fn greeting_without_a_name_has_no_host() {
        assert_eq!(smtp_greeting_host(b"220 ESMTP ready\r\n"), None);
        assert_eq!(smtp_greeting_host(b"250 mx.example\r\n"), None);
        assert_eq!(
            smtp_greeting_host(b"220-dovecot.weberlab.de ESMTP Postfix\r\n"),
            Some(&b"dovecot.weberlab.de"[..])
        );
    }

    #[test]
    fn every_prefix_is_safe() {
        let lines: [&[u8]; 4] = [
            b"220 mx.google.com ESMTP s4si - gsmtp\r\n",
            b"a2 STARTTLS\r\n",
            b"* OK x\r\na2 OK go\r\n",
            b"AUTH TLS\r\n",
        ];
        for line in lines {
            for n in 0..=line.len() {
                fuzz_entry(&line[..n]);
                // A prefix never names more than the whole line does.
                if let Some(h) = smtp_greeting_host(&line[..n]) {
                    assert!(line[..n].windows(h.len()).any(|w| w == h));
                }
            }
        }
    }
}
