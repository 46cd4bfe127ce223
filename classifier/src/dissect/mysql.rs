//! MySQL (client/server protocol, HandshakeV10): the server greeting with protocol version 10
//! and a `5.x`/`8.x` version string. nDPI `src/lib/protocols/mysql.c`.

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "mysql",
    probe: mysql,
    tcp_ports: &[3306],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::MYSQL],
};

fn mysql<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || ctx.from_client {
        return Probe::NoMatch;
    }
    // 3-byte length, sequence 0, protocol version 10, NUL-terminated server version "5.x"/"8.x".
    let len = u32::from_le_bytes([at(data, 0), at(data, 1), at(data, 2), 0]);
    proto_if(
        at(data, 3) == 0
            && at(data, 4) == 10
            && usize::try_from(len).ok().and_then(|l| l.checked_add(4)) == Some(data.len())
            && at(data, 5).is_ascii_digit()
            && at(data, 6) == b'.',
        ids::MYSQL,
    )
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::dissect::hit;
    use crate::dissect::testutil::server;

    #[test]
    fn each_small_protocol_mysql() {
        // HandshakeV10: length 15 (LE), sequence 0, protocol 10, "8.0.36\0", 7 more bytes.
        let my = b"\x0f\x00\x00\x00\x0a8.0.36\x00abcdefg";
        assert_eq!(mysql(&server(6, 3306), my), hit(ids::MYSQL));
    }
}
