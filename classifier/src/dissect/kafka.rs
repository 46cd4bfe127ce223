//! Apache Kafka: the request header (Kafka protocol guide "Common Request and Response Structure":
//! int32 size, then request_api_key, request_api_version, correlation_id, nullable string
//! client_id). nDPI `src/lib/protocols/kafka.c` (port 9092).

use super::{Ctx, Dissector, Hit, Probe, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "kafka",
    probe: kafka,
    tcp_ports: &[9092],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::APACHE_KAFKA],
};

/// size, api key, api version, correlation id, client id length.
const KAFKA_HEADER: usize = 14;
/// Kafka's default `socket.request.max.bytes` (100 MiB).
const KAFKA_MAX_SIZE: u32 = 104_857_600;
/// Highest request api key and version defined as of Kafka 3.9 (keys 0–74, versions ≤ 17), with
/// headroom.
const KAFKA_MAX_API_KEY: u16 = 100;
const KAFKA_MAX_API_VERSION: u16 = 32;
/// Client ids looked at (they are short names such as "rdkafka" or "consumer-1").
const KAFKA_MAX_CLIENT_ID: usize = 64;

fn kafka<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || !ctx.from_client || data.len() < KAFKA_HEADER {
        return Probe::NoMatch;
    }
    // A size and three small integers are common in any length-prefixed binary protocol: off the
    // Kafka port only a connection's first request is taken, never a segment mid-flow.
    if !ctx.stream_start && !DISSECTOR.likely(ctx) {
        return Probe::NoMatch;
    }
    let (Some(size), Some(key), Some(version), Some(id_len)) =
        (be32(data, 0), be16(data, 4), be16(data, 6), be16(data, 12))
    else {
        return Probe::NoMatch;
    };
    // The request may continue in later segments, never end before this one's bytes.
    let fits = usize::try_from(size)
        .ok()
        .and_then(|s| s.checked_add(4))
        .is_some_and(|n| n >= data.len());
    if !fits || size > KAFKA_MAX_SIZE || key > KAFKA_MAX_API_KEY || version > KAFKA_MAX_API_VERSION
    {
        return Probe::NoMatch;
    }
    let client_ok = if id_len == u16::MAX {
        // A null client id (-1) says little: only on the Kafka port.
        DISSECTOR.likely(ctx)
    } else {
        let n = usize::from(id_len);
        let id = data.get(KAFKA_HEADER..KAFKA_HEADER.saturating_add(n));
        let printable = id.is_some_and(|s| {
            s.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@".contains(b))
        });
        (1..=KAFKA_MAX_CLIENT_ID).contains(&n) && printable
    };
    proto_if(client_ok, ids::APACHE_KAFKA)
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

    /// An ApiVersions v3 request from librdkafka (Kafka protocol guide: size, key 18, version 3,
    /// correlation id 1, client id "rdkafka", then the tagged body).
    fn api_versions() -> Vec<u8> {
        let mut body = vec![0, 18, 0, 3, 0, 0, 0, 1, 0, 7];
        body.extend_from_slice(b"rdkafka");
        body.extend_from_slice(b"\x00\x0elibrdkafka\x062.0.2\x00");
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend(body);
        v
    }

    #[test]
    fn kafka_request_header() {
        let req = api_versions();
        for port in [9092, 29092] {
            let ctx = Ctx::client(6, 40000, port);
            assert!(matches!(kafka(&ctx, &req), Probe::Match(h) if h.master.name() == "Kafka"));
        }
        // A null client id only on 9092.
        let mut null = req[..12].to_vec();
        null.extend_from_slice(&[0xff, 0xff, 0]);
        null[3] = (null.len() - 4) as u8;
        assert!(kafka(&Ctx::client(6, 40000, 9092), &null).is_match());
        assert_eq!(kafka(&Ctx::client(6, 40000, 29092), &null), Probe::NoMatch);
    }

    #[test]
    fn not_kafka() {
        let ctx = Ctx::client(6, 40000, 9092);
        let mut big_key = api_versions();
        big_key[4] = 0x10;
        assert_eq!(kafka(&ctx, &big_key), Probe::NoMatch);
        let mut short = api_versions();
        short[3] = 4; // size shorter than the segment
        assert_eq!(kafka(&ctx, &short), Probe::NoMatch);
        assert_eq!(
            kafka(&ctx, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Probe::NoMatch
        );
    }
}
