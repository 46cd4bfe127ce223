//! MQTT (MQTT 3.1.1 §2–§3): CONNECT at the stream start, and well-formed control packets seen
//! mid-flow. nDPI `src/lib/protocols/mqtt.c`.

use super::{Ctx, Dissector, Hit, Probe, at, be16, hit, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "mqtt",
    probe: mqtt,
    tcp_ports: &[1883, 8883],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::MQTT],
};

/// MQTT 3.1.1 §2.2.1 control packet types.
const MQTT_PUBLISH: u8 = 3;
const MQTT_SUBSCRIBE: u8 = 8;
const MQTT_SUBACK: u8 = 9;
const MQTT_UNSUBSCRIBE: u8 = 10;
/// nDPI `mqtt.c` only looks at packets whose remaining length fits the one-byte form.
const MQTT_MAX_PACKET: usize = 2 + 127;

fn mqtt<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.stream_start && at(data, 0) == 0x10 {
        // CONNECT: remaining length (1–4 bytes), then protocol name "MQTT" (4) or "MQIsdp" (3.1).
        let n = data
            .iter()
            .skip(1)
            .take(4)
            .take_while(|b| **b & 0x80 != 0)
            .count();
        let p = n.saturating_add(2);
        let name = data.get(p..).unwrap_or(&[]);
        if name.starts_with(b"\x00\x04MQTT") || name.starts_with(b"\x00\x06MQIsdp") {
            return hit(ids::MQTT);
        }
    }
    // Any later control packet on its own, as nDPI `src/lib/protocols/mqtt.c` accepts mid-flow
    // (a broker connection is often captured long after CONNECT): one segment holding exactly one
    // packet with a one-byte remaining length, the type's fixed flags (MQTT 3.1.1 §2.2.2) and its
    // fixed size or minimum size (§3.2–§3.14). Most of those are one or two bytes of signature (a
    // PINGREQ is `c0 00`), so off the MQTT ports only a PUBLISH, whose topic name is checked too,
    // is taken: anything else would steal other protocols' flows.
    if !ctx.is_tcp() || data.len() > MQTT_MAX_PACKET || data.len() < 2 {
        return Probe::NoMatch;
    }
    if usize::from(at(data, 1)).checked_add(2) != Some(data.len()) {
        return Probe::NoMatch;
    }
    let (kind, flags) = (at(data, 0) >> 4, at(data, 0) & 0x0f);
    if kind != MQTT_PUBLISH && !DISSECTOR.likely(ctx) {
        return Probe::NoMatch;
    }
    let ok = match kind {
        // CONNACK, PUBACK, PUBREC, PUBCOMP, UNSUBACK: flags 0, two bytes of variable header.
        2 | 4 | 5 | 7 | 11 => flags == 0 && data.len() == 4,
        // PUBREL: flags 0b0010.
        6 => flags == 2 && data.len() == 4,
        // PINGREQ, PINGRESP, DISCONNECT: flags 0, nothing after the fixed header.
        12..=14 => flags == 0 && data.len() == 2,
        MQTT_PUBLISH => mqtt_publish(flags, data),
        MQTT_SUBSCRIBE => flags == 2 && data.len() >= 8,
        MQTT_UNSUBSCRIBE => flags == 2 && data.len() >= 7,
        MQTT_SUBACK => flags == 0 && data.len() >= 5,
        // CONNECT is only taken with its protocol name (above); 0 and 15 are reserved.
        _ => false,
    };
    proto_if(ok, ids::MQTT)
}

/// PUBLISH (§3.3): QoS 0–2, no DUP at QoS 0, a topic name that fits the packet and has no NUL or
/// wildcard (§4.7.3; nDPI only checks the sizes), then a packet id at QoS 1 and 2.
fn mqtt_publish(flags: u8, data: &[u8]) -> bool {
    let qos = (flags >> 1) & 3;
    let dup = flags & 8 != 0;
    if qos == 3 || (qos == 0 && dup) {
        return false;
    }
    let Some(topic_len) = be16(data, 2).map(usize::from) else {
        return false;
    };
    let id_len = if qos == 0 { 0 } else { 2 };
    let Some(topic) = data.get(4..4usize.saturating_add(topic_len)) else {
        return false;
    };
    topic_len > 0
        && 4usize.saturating_add(topic_len).saturating_add(id_len) <= data.len()
        && topic
            .iter()
            .all(|&b| b >= 0x20 && b != b'#' && b != b'+' && b != 0x7f)
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn each_small_protocol_mqtt() {
        let t = |p| Ctx::client(6, 40000, p);
        assert_eq!(
            mqtt(&t(1883), b"\x10\x12\x00\x04MQTT\x04\x02\x00\x3c"),
            hit(ids::MQTT)
        );
    }

    #[test]
    fn mqtt_control_packets_mid_flow() {
        // nDPI's coap_mqtt.pcap: a broker connection captured after CONNECT (port 17501). PINGREQ,
        // PINGRESP, then a QoS 1 PUBLISH to topic "Bus17Info" and its PUBACK.
        let c = Ctx {
            stream_start: false,
            ..Ctx::client(6, 53522, 17501)
        };
        // Off the MQTT ports the two- and four-byte control packets are too weak (a PINGREQ is
        // `c0 00`); on 1883 they are taken.
        let on_port = Ctx {
            stream_start: false,
            ..Ctx::client(6, 53522, 1883)
        };
        for short in [&b"\xc0\x00"[..], b"\xd0\x00", b"\x40\x02\x00\x02"] {
            assert_eq!(mqtt(&c, short), Probe::NoMatch);
            assert_eq!(mqtt(&on_port, short), hit(ids::MQTT));
        }
        let mut publish = b"\x32\x00\x00\x09Bus17Info\x00\x04Update triggered".to_vec();
        publish[1] = (publish.len() - 2) as u8;
        assert_eq!(mqtt(&c, &publish), hit(ids::MQTT));
        // Remaining length that does not match the segment, reserved flags, a wildcard topic,
        // QoS 3, and UDP are all refused.
        assert_eq!(mqtt(&c, b"\xc0\x01"), Probe::NoMatch);
        assert_eq!(mqtt(&c, b"\xc1\x00"), Probe::NoMatch);
        assert_eq!(mqtt(&c, b"\x40\x02\x00"), Probe::NoMatch);
        assert_eq!(mqtt(&c, b"\x30\x05\x00\x03a/#"), Probe::NoMatch);
        assert_eq!(mqtt(&c, b"\x36\x07\x00\x03abc\x00\x01"), Probe::NoMatch);
        assert_eq!(mqtt(&c, b"\x30\x05\x00\x09abc"), Probe::NoMatch);
        assert_eq!(mqtt(&Ctx::client(17, 1, 2), b"\xc0\x00"), Probe::NoMatch);
        // A CONNECT without its protocol name is not MQTT.
        assert_eq!(mqtt(&c, b"\x10\x02\x00\x00"), Probe::NoMatch);
    }
}
