//! Memcached, text and binary protocols on TCP and UDP (memcached `protocol.txt`,
//! `BinaryProtocolRevamped`: command and response words; binary magic 0x80 request / 0x81
//! response; UDP frame header of 8 bytes). nDPI `src/lib/protocols/memcached.c`.

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "memcached",
    probe: memcached,
    tcp_ports: &[11211],
    udp_ports: &[11211],
    reassemble: false,
    emits: &[ids::MEMCACHED],
};

/// nDPI `memcached.c`: the text commands and responses it counts.
const MEMCACHED_WORDS: [&[u8]; 26] = [
    b"set ",
    b"add ",
    b"replace ",
    b"append ",
    b"prepend ",
    b"cas ",
    b"get ",
    b"gets ",
    b"delete ",
    b"incr ",
    b"decr ",
    b"touch ",
    b"gat ",
    b"gats ",
    b"stats",
    b"ERROR\r\n",
    b"CLIENT_ERROR ",
    b"SERVER_ERROR ",
    b"STORED\r\n",
    b"NOT_STORED\r\n",
    b"EXISTS\r\n",
    b"NOT_FOUND\r\n",
    b"END\r\n",
    b"DELETED\r\n",
    b"TOUCHED\r\n",
    b"STAT ",
];
/// UDP frame header: request id, sequence number, datagram count, reserved (RFC-less, memcached
/// `protocol.txt` "UDP protocol").
const MEMCACHED_UDP_HEADER: usize = 8;
/// Binary protocol header (24 bytes): magic, opcode, key length, extras length, data type 0, …
const MEMCACHED_BIN_HEADER: usize = 24;
/// The highest opcode the binary protocol defines (0x48, SASL/ranged ops end below it).
const MEMCACHED_MAX_OPCODE: u8 = 0x48;

fn memcached<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    // Every memcached signature is short: keep to the memcached port.
    if !DISSECTOR.likely(ctx) {
        return Probe::NoMatch;
    }
    let body = if ctx.is_udp() {
        // Datagram count ≥ 1, reserved 0 (nDPI's test).
        if data.len() < MEMCACHED_UDP_HEADER
            || (at(data, 4) == 0 && at(data, 5) == 0)
            || at(data, 6) != 0
            || at(data, 7) != 0
        {
            return Probe::NoMatch;
        }
        data.get(MEMCACHED_UDP_HEADER..).unwrap_or(&[])
    } else {
        data
    };
    let text = MEMCACHED_WORDS.iter().any(|w| body.starts_with(w));
    // Binary: magic, a defined opcode, data type 0 (raw bytes), whole header present.
    let binary = matches!(at(body, 0), 0x80 | 0x81)
        && at(body, 1) <= MEMCACHED_MAX_OPCODE
        && at(body, 5) == 0
        && body.len() >= MEMCACHED_BIN_HEADER;
    proto_if(text || binary, ids::MEMCACHED)
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
    fn memcached_text_binary_and_udp() {
        let tcp = Ctx::client(6, 59604, 11211);
        assert!(
            matches!(memcached(&tcp, b"stats\r\n"), Probe::Match(h) if h.master.name() == "Memcached")
        );
        assert!(memcached(&tcp, b"STAT pid 8837\r\nSTAT uptime 193\r\n").is_match());
        // Binary GET "Hello" (BinaryProtocolRevamped §"Example": magic 0x80, opcode 0, key 5).
        let mut get = vec![
            0x80, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
        ];
        get.resize(24, 0);
        get.extend_from_slice(b"Hello");
        assert!(memcached(&tcp, &get).is_match());
        // UDP: request 1, sequence 0, 1 datagram, reserved 0.
        let udp = Ctx::client(17, 40000, 11211);
        assert!(memcached(&udp, b"\x00\x01\x00\x00\x00\x01\x00\x00get foo\r\n").is_match());
        assert_eq!(
            memcached(&udp, b"\x00\x01\x00\x00\x00\x00\x00\x00get foo\r\n"),
            Probe::NoMatch
        );
    }

    #[test]
    fn not_memcached() {
        // "get " is an HTTP-ish word; away from 11211 it never counts.
        assert_eq!(
            memcached(&Ctx::client(6, 1, 8080), b"get foo\r\n"),
            Probe::NoMatch
        );
        let tcp = Ctx::client(6, 59604, 11211);
        assert_eq!(memcached(&tcp, b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
        assert_eq!(memcached(&tcp, b"\x80\xff\x00\x05"), Probe::NoMatch);
    }
}
