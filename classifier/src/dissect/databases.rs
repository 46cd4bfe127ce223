//! Database and cache wire protocols: MongoDB (wire-protocol message header), Redis RESP,
//! Memcached (text and binary protocols, TCP and UDP) and Elasticsearch's node transport.
//!
//! Facts: nDPI `src/lib/protocols/mongodb.c` and the MongoDB wire-protocol reference (little-endian
//! `messageLength`, `requestID`, `responseTo`, `opCode`; OP_REPLY's `responseFlags` use 4 bits);
//! nDPI `resp.c` and the RESP specification (`*`/`$`/`~` type byte, decimal length, CR LF);
//! nDPI `memcached.c` and memcached's `protocol.txt` / `BinaryProtocolRevamped` (command and
//! response words; binary magic 0x80 request / 0x81 response; UDP frame header of 8 bytes);
//! nDPI `elasticsearch.c` (transport messages: "ES", a 32-bit length, the message; HTTP on 9200
//! stays HTTP in nDPI).

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

// ---------------------------------------------------------------- MongoDB

pub const MONGODB_DISSECTOR: Dissector = Dissector {
    name: "mongodb",
    probe: mongodb,
    tcp_ports: &[27017, 27018, 27019],
    udp_ports: &[],
    reassemble: false,
};

/// Message header: messageLength, requestID, responseTo, opCode (4 × int32).
const MONGO_HEADER: usize = 16;
const MONGO_HEADER_U32: u32 = 16;
/// MongoDB's `maxMessageSizeBytes` (48 MB); nDPI stops at 1 MB "to avoid false positives".
const MONGO_MAX_LEN: u32 = 1_000_000;
const OP_REPLY: u32 = 1;
/// OP_UPDATE..OP_KILL_CURSORS (2001–2007, 2003 reserved), OP_COMPRESSED (2012), OP_MSG (2013).
const MONGO_OPS: [u32; 9] = [2001, 2002, 2003, 2004, 2005, 2006, 2007, 2012, 2013];

fn le32(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i..i.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

fn mongodb<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    let (Some(len), Some(op)) = (le32(data, 0), le32(data, 12)) else {
        return Probe::NoMatch;
    };
    // The message may continue in later segments, never end before this one's bytes.
    let fits = usize::try_from(len).is_ok_and(|l| l >= data.len());
    if len <= MONGO_HEADER_U32 || len > MONGO_MAX_LEN || !fits || data.len() <= MONGO_HEADER {
        return Probe::NoMatch;
    }
    let ok = if op == OP_REPLY {
        // A reply answers a request (responseTo ≠ 0), its flags use the low 4 bits only. Weak
        // alone, so only on a MongoDB port.
        MONGODB_DISSECTOR.likely(ctx)
            && le32(data, 8).is_some_and(|r| r != 0)
            && le32(data, MONGO_HEADER).is_some_and(|f| f & 0xffff_fff0 == 0)
    } else {
        MONGO_OPS.contains(&op)
    };
    proto_if(ok, ids::MONGODB)
}

// ---------------------------------------------------------------- Redis (RESP)

pub const RESP_DISSECTOR: Dissector = Dissector {
    name: "resp",
    probe: resp,
    tcp_ports: &[6379],
    udp_ports: &[],
    reassemble: false,
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
    if !RESP_DISSECTOR.likely(ctx) && !command_array {
        return Probe::NoMatch;
    }
    Probe::Match(Hit::proto(ids::RESP))
}

// ---------------------------------------------------------------- Memcached

pub const MEMCACHED_DISSECTOR: Dissector = Dissector {
    name: "memcached",
    probe: memcached,
    tcp_ports: &[11211],
    udp_ports: &[11211],
    reassemble: false,
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
    if !MEMCACHED_DISSECTOR.likely(ctx) {
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

// ---------------------------------------------------------------- Elasticsearch transport

pub const ELASTICSEARCH_DISSECTOR: Dissector = Dissector {
    name: "elasticsearch",
    probe: elasticsearch,
    tcp_ports: &[9300],
    udp_ports: &[],
    reassemble: false,
};

/// "ES" + message length.
const ES_HEADER: usize = 6;
/// A transport ping is "ES" with length -1 and nothing else.
const ES_PING: u32 = u32::MAX;
/// Transport header after the length: request id (8), status (1), version (4).
const ES_MIN_MESSAGE: usize = 13;

fn elasticsearch<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || !data.starts_with(b"ES") {
        return Probe::NoMatch;
    }
    let Some(len) = super::be32(data, 2) else {
        return Probe::NoMatch;
    };
    let msg = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(ES_HEADER));
    let ok = if len == ES_PING {
        data.len() == ES_HEADER
    } else if ELASTICSEARCH_DISSECTOR.likely(ctx) {
        // nDPI: the segment holds the whole message (and maybe more).
        msg.is_some_and(|m| m <= data.len())
    } else {
        // Two letters and a length are little: off port, one whole message exactly.
        msg == Some(data.len()) && data.len() >= ES_HEADER.saturating_add(ES_MIN_MESSAGE)
    };
    proto_if(ok, ids::ELASTICSEARCH)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for ctx in [
        Ctx::client(6, 51822, 27017),
        Ctx::client(6, 51822, 30000),
        Ctx::client(6, 51822, 6379),
        Ctx::client(6, 51822, 11211),
        Ctx::client(17, 51822, 11211),
        Ctx::client(6, 51822, 9300),
    ] {
        let _ = mongodb(&ctx, data);
        let _ = resp(&ctx, data);
        let _ = memcached(&ctx, data);
        let _ = elasticsearch(&ctx, data);
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

    /// An OP_MSG `{hello: 1, $db: "admin"}` as a 6.x driver sends it first (wire-protocol
    /// reference: header, flagBits 0, section kind 0, BSON document).
    fn op_msg_hello() -> Vec<u8> {
        let mut doc = Vec::new();
        doc.extend_from_slice(b"\x10hello\x00\x01\x00\x00\x00");
        doc.extend_from_slice(b"\x02$db\x00\x06\x00\x00\x00admin\x00");
        let mut bson = ((doc.len() + 5) as u32).to_le_bytes().to_vec();
        bson.extend(doc);
        bson.push(0);
        let mut body = vec![0, 0, 0, 0, 0]; // flagBits, section kind 0
        body.extend(bson);
        let mut v = ((16 + body.len()) as u32).to_le_bytes().to_vec();
        v.extend_from_slice(&1u32.to_le_bytes()); // requestID
        v.extend_from_slice(&0u32.to_le_bytes()); // responseTo
        v.extend_from_slice(&2013u32.to_le_bytes()); // OP_MSG
        v.extend(body);
        v
    }

    #[test]
    fn mongodb_op_msg_on_any_port() {
        let msg = op_msg_hello();
        for port in [27017, 30000] {
            let ctx = Ctx::client(6, 51822, port);
            assert!(matches!(mongodb(&ctx, &msg), Probe::Match(h) if h.master.name() == "MongoDB"));
        }
        // The header alone, or a length shorter than the segment, is not enough.
        let ctx = Ctx::client(6, 51822, 27017);
        assert_eq!(mongodb(&ctx, &msg[..16]), Probe::NoMatch);
        let mut short = msg.clone();
        short[0] = 20;
        assert_eq!(mongodb(&ctx, &short), Probe::NoMatch);
    }

    #[test]
    fn mongodb_reply_only_on_its_port() {
        let mut reply = 60u32.to_le_bytes().to_vec();
        reply.extend_from_slice(&[9, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]); // id 9, to 1, OP_REPLY
        reply.extend_from_slice(&[8, 0, 0, 0]); // AwaitCapable
        reply.resize(60, 0);
        let server = |port| Ctx {
            from_client: false,
            ..Ctx::client(6, 51822, port)
        };
        assert!(mongodb(&server(27017), &reply).is_match());
        assert_eq!(mongodb(&server(8080), &reply), Probe::NoMatch);
        reply[16] = 0x10; // an undefined flag bit
        assert_eq!(mongodb(&server(27017), &reply), Probe::NoMatch);
    }

    #[test]
    fn not_mongodb() {
        let ctx = Ctx::client(6, 51822, 27017);
        assert_eq!(
            mongodb(&ctx, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Probe::NoMatch
        );
        assert_eq!(
            mongodb(
                &ctx,
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefghijkl"
            ),
            Probe::NoMatch
        );
    }

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

    #[test]
    fn elasticsearch_transport() {
        // Transport handshake request shape: "ES", length, request id 1, status 0x08 (handshake),
        // version, then the variable header.
        let mut msg = vec![0, 0, 0, 0, 0, 0, 0, 1, 0x08, 0x00, 0x7a, 0x12, 0x03];
        msg.extend_from_slice(&[0, 0, 0, 0x1a, 0]);
        msg.resize(40, 0);
        let mut v = b"ES".to_vec();
        v.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        v.extend(msg);
        for port in [9300, 9301] {
            let ctx = Ctx::client(6, 40000, port);
            assert!(
                matches!(elasticsearch(&ctx, &v), Probe::Match(h) if h.master.name() == "Elasticsearch")
            );
        }
        let ctx = Ctx::client(6, 40000, 9300);
        assert!(elasticsearch(&ctx, b"ES\xff\xff\xff\xff").is_match());
        // Cut short, or a length that is not the segment's off port.
        assert_eq!(elasticsearch(&ctx, &v[..30]), Probe::NoMatch);
        let off = Ctx::client(6, 40000, 9301);
        let mut more = v.clone();
        more.push(0);
        assert_eq!(elasticsearch(&off, &more), Probe::NoMatch);
        assert_eq!(elasticsearch(&ctx, b"ESMTP ready\r\n"), Probe::NoMatch);
    }
}
