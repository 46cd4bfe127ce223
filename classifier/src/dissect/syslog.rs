//! Syslog (RFC 5424 §6, RFC 3164 §4.1.1): a `<PRI>` header at the start of a datagram.
//! nDPI `src/lib/protocols/syslog.c`.

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "syslog",
    probe: syslog,
    tcp_ports: &[],
    udp_ports: &[514],
    reassemble: false,
    emits: &[ids::SYSLOG],
};

fn syslog<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.has_port(514) || at(data, 0) != b'<' {
        return Probe::NoMatch;
    }
    // PRI is 1–3 digits then '>', value ≤ 191.
    let digits = data
        .iter()
        .skip(1)
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    proto_if(
        (1..=3).contains(&digits) && at(data, digits.saturating_add(1)) == b'>',
        ids::SYSLOG,
    )
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::dissect::hit;

    #[test]
    fn each_small_protocol_syslog() {
        let u = |p| Ctx::client(17, 40000, p);
        assert_eq!(
            syslog(&u(514), b"<34>Oct 11 22:14:15 host su: x"),
            hit(ids::SYSLOG)
        );
        assert_eq!(syslog(&u(514), b"<34 x"), Probe::NoMatch);
    }
}
