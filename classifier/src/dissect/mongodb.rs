//! MongoDB wire protocol: the message header (little-endian `messageLength`, `requestID`,
//! `responseTo`, `opCode`; OP_REPLY's `responseFlags` use 4 bits). nDPI `src/lib/protocols/mongodb.c`
//! and the MongoDB wire-protocol reference.

use super::{Ctx, Dissector, Hit, Probe, ids, le32, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "mongodb",
    probe: mongodb,
    tcp_ports: &[27017, 27018, 27019],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::MONGODB],
};

/// Message header: messageLength, requestID, responseTo, opCode (4 × int32).
const MONGO_HEADER: usize = 16;
const MONGO_HEADER_U32: u32 = 16;
/// MongoDB's `maxMessageSizeBytes` (48 MB); nDPI stops at 1 MB "to avoid false positives".
const MONGO_MAX_LEN: u32 = 1_000_000;
const OP_REPLY: u32 = 1;
/// OP_UPDATE..OP_KILL_CURSORS (2001–2007, 2003 reserved), OP_COMPRESSED (2012), OP_MSG (2013).
const MONGO_OPS: [u32; 9] = [2001, 2002, 2003, 2004, 2005, 2006, 2007, 2012, 2013];

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
        DISSECTOR.likely(ctx)
            && le32(data, 8).is_some_and(|r| r != 0)
            && le32(data, MONGO_HEADER).is_some_and(|f| f & 0xffff_fff0 == 0)
    } else {
        MONGO_OPS.contains(&op)
    };
    proto_if(ok, ids::MONGODB)
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
}
