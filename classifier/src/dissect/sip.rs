//! SIP (RFC 3261 §7): a request or status line ending in `SIP/2.0`.
//! nDPI `src/lib/protocols/sip.c`.

use super::{Ctx, Dissector, Hit, Probe, find, hit, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "sip",
    probe: sip,
    tcp_ports: &[5060, 5061],
    udp_ports: &[5060, 5061],
    reassemble: false,
    emits: &[ids::SIP],
};

fn sip<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    if data.starts_with(b"SIP/2.0 ") {
        return hit(ids::SIP);
    }
    let line = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    proto_if(
        find(line, b" sip:").is_some() && find(line, b"SIP/2.0").is_some(),
        ids::SIP,
    )
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn each_small_protocol_sip() {
        let u = |p| Ctx::client(17, 40000, p);
        assert_eq!(
            sip(&u(5060), b"REGISTER sip:example.com SIP/2.0\r\n"),
            hit(ids::SIP)
        );
    }
}
