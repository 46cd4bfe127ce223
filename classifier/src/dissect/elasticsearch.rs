//! Elasticsearch node transport: "ES", a 32-bit length, the message (HTTP on 9200 stays HTTP in
//! nDPI). nDPI `src/lib/protocols/elasticsearch.c`.

use super::{Ctx, Dissector, Hit, Probe, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "elasticsearch",
    probe: elasticsearch,
    tcp_ports: &[9300],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::ELASTICSEARCH],
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
    } else if DISSECTOR.likely(ctx) {
        // nDPI: the segment holds the whole message (and maybe more).
        msg.is_some_and(|m| m <= data.len())
    } else {
        // Two letters and a length are little: off port, one whole message exactly.
        msg == Some(data.len()) && data.len() >= ES_HEADER.saturating_add(ES_MIN_MESSAGE)
    };
    proto_if(ok, ids::ELASTICSEARCH)
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
