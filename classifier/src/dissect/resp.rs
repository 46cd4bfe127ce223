//! Redis RESP (RESP specification: `*`/`$`/`~` type byte, decimal length, CR LF).
//! nDPI `src/lib/protocols/resp.c`.

use super::{Ctx, Dissector, Hit, Probe, at, ids};

pub const DISSECTOR: Dissector = Dissector {
    name: "resp",
    probe: resp,
    tcp_ports: &[6379],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::RESP],
};

/// nDPI `resp.c`: at least 10 bytes, a type byte, up to 3 digits, CR LF.
const RESP_MIN_LEN: usize = 10;
const RESP_MAX_DIGITS: usize = 3;

fn resp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || data.len() < RESP_MIN_LEN {
        return Probe::NoMatch;
    }
    // Arrays (`*`), bulk strings (`$`) and RESP3 sets (`~`) carry a decimal count.
    if !matches!(at(data, 0), b'*' | b'$' | b'~') {
        return Probe::NoMatch;
    }
    let digits = data
        .iter()
        .skip(1)
        .take(RESP_MAX_DIGITS)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let crlf = data.get(digits.saturating_add(1)..digits.saturating_add(3)) == Some(b"\r\n");
    if digits == 0 || !crlf {
        return Probe::NoMatch;
    }
    // Off the Redis port, also want the first element of an array to be a bulk string
    // (`*2\r\n$3\r\nGET\r\n…`): that is what every client sends.
    let element = at(data, digits.saturating_add(3));
    let command_array = at(data, 0) == b'*' && element == b'$';
    if !DISSECTOR.likely(ctx) && !command_array {
        return Probe::NoMatch;
    }
    Probe::Match(Hit::proto(ids::RESP))
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

    /// `redis-cli SET key value` on the wire (RESP spec "Sending commands to a Redis server").
    const SET: &[u8] = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";

    #[test]
    fn resp_commands() {
        assert!(
            matches!(resp(&Ctx::client(6, 40000, 6379), SET), Probe::Match(h) if h.master.name() == "RESP")
        );
        assert!(resp(&Ctx::client(6, 40000, 7000), SET).is_match());
        // A bulk reply is RESP on the Redis port only.
        let server = Ctx {
            from_client: false,
            ..Ctx::client(6, 40000, 6379)
        };
        assert!(resp(&server, b"$11\r\nhello world\r\n").is_match());
        let off = Ctx {
            server_port: 7000,
            ..server
        };
        assert_eq!(resp(&off, b"$11\r\nhello world\r\n"), Probe::NoMatch);
    }

    #[test]
    fn not_resp() {
        let ctx = Ctx::client(6, 40000, 6379);
        assert_eq!(resp(&ctx, b"*3\r\n"), Probe::NoMatch);
        assert_eq!(resp(&ctx, b"*1234\r\n$3\r\nGET"), Probe::NoMatch);
        assert_eq!(resp(&ctx, b"GET / HTTP/1.1\r\n\r\n"), Probe::NoMatch);
        assert_eq!(resp(&ctx, b"SSH-2.0-OpenSSH_9.2\r\n"), Probe::NoMatch);
    }
}
