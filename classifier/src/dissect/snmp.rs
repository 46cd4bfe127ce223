//! SNMP (RFC 3416, BER-encoded messages on UDP 161/162): a SEQUENCE holding a version INTEGER
//! and a community OCTET STRING. nDPI `src/lib/protocols/snmp_proto.c`.

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "snmp",
    probe: snmp,
    tcp_ports: &[],
    udp_ports: &[161, 162],
    reassemble: false,
    emits: &[ids::SNMP],
};

fn snmp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !(ctx.has_port(161) || ctx.has_port(162)) || at(data, 0) != 0x30 {
        return Probe::NoMatch;
    }
    // SEQUENCE length (short or long form), then INTEGER version 0 (v1), 1 (v2c) or 3 (v3).
    let len_octets = match at(data, 1) {
        l if l < 0x80 => 1usize,
        0x81 => 2,
        0x82 => 3,
        _ => return Probe::NoMatch,
    };
    let v = 1usize.saturating_add(len_octets);
    proto_if(
        at(data, v) == 0x02
            && at(data, v.saturating_add(1)) == 1
            && matches!(at(data, v.saturating_add(2)), 0 | 1 | 3),
        ids::SNMP,
    )
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::dissect::hit;

    #[test]
    fn each_small_protocol_snmp() {
        let u = |p| Ctx::client(17, 40000, p);
        assert_eq!(
            snmp(&u(161), &[0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06]),
            hit(ids::SNMP)
        );
    }
}
