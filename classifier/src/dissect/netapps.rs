//! Three TCP protocols recognised by their opening message: SOCKS4/4a/5 (proxy handshakes), IRC
//! (registration lines and the server's first NOTICE) and Git's native protocol (a pkt-line
//! naming the service).
//!
//! Facts: nDPI `src/lib/protocols/socks45.c` (SOCKS4 request `04 01|02 … 00`, SOCKS5 greeting
//! `05 01 00`), the SOCKS4 protocol note and RFC 1928 §3 (version 5, NMETHODS, METHODS: 0 no auth,
//! 1 GSSAPI, 2 user/password, 3–0x7F IANA, 0x80–0xFE private); nDPI `irc.c` and RFC 2812 §3.1
//! (`NICK nickname`, `USER user mode unused :realname`, `PASS`), IRCv3 `CAP LS`; nDPI `git.c` and
//! Git's `gitprotocol-pack` (pkt-line: 4 hex digits of length including themselves, then
//! `git-upload-pack `, `git-receive-pack ` or `git-upload-archive `).

use super::{Ctx, Dissector, Hit, Probe, at, http::find, ids, proto_if};

// ---------------------------------------------------------------- SOCKS

pub const SOCKS_DISSECTOR: Dissector = Dissector {
    name: "socks",
    probe: socks,
    tcp_ports: &[1080],
    udp_ports: &[],
    reassemble: false,
};

/// SOCKS4: version, command, port (2), address (4), user id, NUL.
const SOCKS4_MIN: usize = 9;
/// User id (and SOCKS4a host name) bytes looked at before the NUL.
const SOCKS4_MAX_TAIL: usize = 255;
/// RFC 1928: NMETHODS is 1..=255; real clients offer a handful.
const SOCKS5_MAX_METHODS: u8 = 9;

fn socks<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || !ctx.from_client || !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    let ok = match at(data, 0) {
        4 => socks4(data),
        5 => socks5(data),
        _ => false,
    };
    proto_if(ok, ids::SOCKS)
}

fn socks4(data: &[u8]) -> bool {
    // CONNECT (1) or BIND (2), the request ends with the user id's NUL (nDPI's test) and the
    // user id is text; SOCKS4a puts 0.0.0.x (x ≠ 0) as address and a host name after it.
    let tail = data.get(8..).unwrap_or(&[]);
    let text = |s: &[u8]| s.iter().all(|b| b.is_ascii_graphic());
    matches!(at(data, 1), 1 | 2)
        && data.len() >= SOCKS4_MIN
        && tail.len() <= SOCKS4_MAX_TAIL
        && data.last() == Some(&0)
        && tail.split(|&b| b == 0).take(2).all(text)
}

fn socks5(data: &[u8]) -> bool {
    // VER, NMETHODS, METHODS: the whole greeting and nothing else.
    let n = at(data, 1);
    let methods = data.get(2..).unwrap_or(&[]);
    (1..=SOCKS5_MAX_METHODS).contains(&n)
        && methods.len() == usize::from(n)
        && methods
            .iter()
            .all(|&m| m <= 3 || (0x80..=0xfe).contains(&m))
}

// ---------------------------------------------------------------- IRC

pub const IRC_DISSECTOR: Dissector = Dissector {
    name: "irc",
    probe: irc,
    tcp_ports: &[194, 6665, 6666, 6667, 6668, 6669, 6697, 7000],
    udp_ports: &[],
    reassemble: false,
};

/// RFC 2812 §2.3: a message is at most 512 bytes including CR LF.
const IRC_MAX_LINE: usize = 512;
/// Bytes of the server's first line searched for its command.
const IRC_PREFIX_SCAN: usize = 64;

fn irc<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    let line = first_line(data);
    let ok = if ctx.from_client {
        irc_client_line(line) || (line.starts_with(b"PASS ") && IRC_DISSECTOR.likely(ctx))
    } else {
        irc_server_line(line)
    };
    proto_if(ok, ids::IRC)
}

/// The first line without its CR LF; empty when there is no complete line within the limit.
fn first_line(data: &[u8]) -> &[u8] {
    let window = data.get(..IRC_MAX_LINE.min(data.len())).unwrap_or(&[]);
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return &[];
    };
    let line = window.get(..nl).unwrap_or(&[]);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn irc_client_line(line: &[u8]) -> bool {
    if let Some(nick) = line.strip_prefix(b"NICK ") {
        // RFC 2812 §2.3.1: letter or special first, then letters, digits, specials, '-'.
        let special = |b: &u8| b"[]\\`_^{|}".contains(b);
        return nick
            .first()
            .is_some_and(|b| b.is_ascii_alphabetic() || special(b))
            && nick
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || special(b) || *b == b'-');
    }
    if let Some(rest) = line.strip_prefix(b"USER ") {
        // user, mode, unused, then ":realname".
        let Some(colon) = find(rest, b" :") else {
            return false;
        };
        let params = rest.get(..colon).unwrap_or(&[]);
        return params.split(|&b| b == b' ').count() == 3
            && params.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    }
    line == b"CAP LS" || line.starts_with(b"CAP LS ")
}

fn irc_server_line(line: &[u8]) -> bool {
    if line.starts_with(b"NOTICE AUTH :") {
        return true;
    }
    // ":server.name NOTICE …" or a numeric reply such as ":server.name 001 nick :Welcome".
    let Some(rest) = line.strip_prefix(b":") else {
        return false;
    };
    let Some(sp) = rest.iter().take(IRC_PREFIX_SCAN).position(|&b| b == b' ') else {
        return false;
    };
    let host = rest.get(..sp).unwrap_or(&[]);
    let cmd = rest.get(sp.saturating_add(1)..).unwrap_or(&[]);
    let numeric = cmd.len() > 4 && cmd.iter().take(3).all(u8::is_ascii_digit) && at(cmd, 3) == b' ';
    !host.is_empty()
        && host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(b))
        && (cmd.starts_with(b"NOTICE ") || numeric)
}

// ---------------------------------------------------------------- Git

pub const GIT_DISSECTOR: Dissector = Dissector {
    name: "git",
    probe: git,
    tcp_ports: &[9418],
    udp_ports: &[],
    reassemble: false,
};

const GIT_SERVICES: [&[u8]; 3] = [
    b"git-upload-pack ",
    b"git-receive-pack ",
    b"git-upload-archive ",
];
/// pkt-line length digits.
const PKT_LEN: usize = 4;

fn git<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || !ctx.from_client || !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    let digits = data.get(..PKT_LEN.min(data.len())).unwrap_or(&[]);
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return Probe::NoMatch;
    }
    let rest = data.get(PKT_LEN.min(data.len())..).unwrap_or(&[]);
    let mut need_more = false;
    for service in GIT_SERVICES {
        match super::starts(rest, service) {
            Probe::Match(()) => {}
            Probe::NeedMore => {
                need_more = true;
                continue;
            }
            Probe::NoMatch => continue,
        }
        // The pkt-line must hold at least the service name.
        let len = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok());
        return match len {
            Some(l) if l >= PKT_LEN.saturating_add(service.len()) => {
                Probe::Match(Hit::proto(ids::GIT))
            }
            _ => Probe::NoMatch,
        };
    }
    if need_more || data.len() < PKT_LEN {
        Probe::NeedMore
    } else {
        Probe::NoMatch
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for ctx in [
        Ctx::client(6, 53535, 1080),
        Ctx::client(6, 45921, 6667),
        Ctx::client(6, 47991, 9418),
    ] {
        let _ = socks(&ctx, data);
        let _ = irc(&ctx, data);
        let _ = git(&ctx, data);
        let server = Ctx {
            from_client: false,
            ..ctx
        };
        let _ = irc(&server, data);
    }
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

    #[test]
    fn socks_requests() {
        let ctx = Ctx::client(6, 1637, 21477);
        // RFC 1928 greeting offering "no authentication", and one offering user/password too.
        assert!(matches!(socks(&ctx, &[5, 1, 0]), Probe::Match(h) if h.master.name() == "SOCKS"));
        assert!(socks(&ctx, &[5, 2, 0, 2]).is_match());
        // SOCKS4 CONNECT to 93.184.216.34:80 as user "bob"; SOCKS4a to "example.com".
        assert!(socks(&ctx, b"\x04\x01\x00\x50\x5d\xb8\xd8\x22bob\x00").is_match());
        assert!(socks(&ctx, b"\x04\x01\x00\x50\x00\x00\x00\x01\x00example.com\x00").is_match());
    }

    #[test]
    fn not_socks() {
        let ctx = Ctx::client(6, 1637, 1080);
        assert_eq!(socks(&ctx, &[5, 2, 0]), Probe::NoMatch); // 2 methods announced, 1 sent
        assert_eq!(socks(&ctx, &[5, 1, 0x50]), Probe::NoMatch);
        assert_eq!(
            socks(&ctx, b"\x04\x01\x00\x50\x5d\xb8\xd8\x22bob"),
            Probe::NoMatch
        );
        assert_eq!(socks(&ctx, b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
        let server = Ctx {
            from_client: false,
            ..ctx
        };
        assert_eq!(socks(&server, &[5, 1, 0]), Probe::NoMatch);
    }

    #[test]
    fn irc_registration_and_server_notice() {
        let client = Ctx::client(6, 45921, 8000);
        let user = b"USER guest 0 * :Ronnie Reagan\r\n";
        assert!(matches!(irc(&client, user), Probe::Match(h) if h.master.name() == "IRC"));
        assert!(irc(&client, b"NICK Wiz\r\nUSER guest 0 * :Ronnie\r\n").is_match());
        assert!(irc(&client, b"CAP LS 302\r\n").is_match());
        let server = Ctx {
            from_client: false,
            ..client
        };
        assert!(
            irc(
                &server,
                b":card.freenode.net NOTICE * :*** Looking up your hostname...\r\n"
            )
            .is_match()
        );
        assert!(irc(&server, b":irc.example.net 001 Wiz :Welcome\r\n").is_match());
    }

    #[test]
    fn not_irc() {
        let client = Ctx::client(6, 40000, 21);
        // FTP's USER has one parameter; POP3's too.
        assert_eq!(irc(&client, b"USER anonymous\r\n"), Probe::NoMatch);
        assert_eq!(irc(&client, b"NICK\r\n"), Probe::NoMatch);
        assert_eq!(irc(&client, b"PASS secret\r\n"), Probe::NoMatch);
        assert_eq!(irc(&client, b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
        let server = Ctx {
            from_client: false,
            ..client
        };
        assert_eq!(
            irc(&server, b"220 ftp.example.com FTP ready\r\n"),
            Probe::NoMatch
        );
        assert_eq!(irc(&server, b":: NOTICE\r\n"), Probe::NoMatch);
    }

    /// `git clone git://host/project.git` sends this pkt-line first (gitprotocol-pack §"Git
    /// Transport": service, path, NUL, "host=", NUL).
    const UPLOAD_PACK: &[u8] = b"0032git-upload-pack /project.git\0host=example.org\0";

    #[test]
    fn git_upload_pack_all_prefixes() {
        assert_eq!(UPLOAD_PACK.len(), 0x32);
        let ctx = Ctx::client(6, 47991, 9418);
        check_all_prefixes(&ctx, UPLOAD_PACK, 4 + 16, git, |h| {
            assert_eq!(h.master.name(), "Git")
        });
    }

    #[test]
    fn not_git() {
        let ctx = Ctx::client(6, 47991, 9418);
        assert_eq!(git(&ctx, b"0004git-upload-pack /x"), Probe::NoMatch);
        assert_eq!(git(&ctx, b"00zzgit-upload-pack /x"), Probe::NoMatch);
        assert_eq!(git(&ctx, b"0036git-clone /x"), Probe::NoMatch);
        assert_eq!(git(&ctx, b"GET /info/refs HTTP/1.1\r\n"), Probe::NoMatch);
    }

    /// What `git clone git://127.0.0.1:19418/project.git` sent first, recorded on loopback
    /// (`testdata/first_segment.py`).
    const GIT_RECORDED: &[u8] = include_bytes!("../../testdata/git_upload_pack_lo.bin");

    #[test]
    fn recorded_git_clone_all_prefixes() {
        let ctx = Ctx::client(6, 47991, 19418);
        check_all_prefixes(&ctx, GIT_RECORDED, 4 + 16, git, |h| {
            assert_eq!(h.master, ids::GIT)
        });
    }
}
