//! IRC: registration lines and the server's first NOTICE. nDPI `src/lib/protocols/irc.c` and
//! RFC 2812 §3.1 (`NICK nickname`, `USER user mode unused :realname`, `PASS`), IRCv3 `CAP LS`.

use super::{Ctx, Dissector, Hit, Probe, at, find, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "irc",
    probe: irc,
    tcp_ports: &[194, 6665, 6666, 6667, 6668, 6669, 6697, 7000],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::IRC],
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
        irc_client_line(line) || (line.starts_with(b"PASS ") && DISSECTOR.likely(ctx))
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

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

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
}
