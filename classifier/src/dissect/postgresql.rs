//! PostgreSQL (frontend/backend protocol §55.2): the StartupMessage or SSLRequest whose length
//! covers the segment. nDPI `src/lib/protocols/postgres.c`.

use super::{Ctx, Dissector, Hit, Probe, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "postgresql",
    probe: postgresql,
    tcp_ports: &[5432],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::POSTGRES],
};

fn postgresql<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || !ctx.from_client {
        return Probe::NoMatch;
    }
    // StartupMessage (protocol 3.0) or SSLRequest (80877103), length covering the message.
    let len = be32(data, 0).and_then(|l| usize::try_from(l).ok());
    let code = be32(data, 4);
    proto_if(
        len == Some(data.len()) && matches!(code, Some(0x0003_0000 | 80_877_103 | 80_877_104)),
        ids::POSTGRES,
    )
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::dissect::hit;

    #[test]
    fn each_small_protocol_postgresql() {
        let t = |p| Ctx::client(6, 40000, p);
        assert_eq!(
            postgresql(&t(5432), &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]),
            hit(ids::POSTGRES)
        );
    }
}
