//! NTP (RFC 5905 §7.3): a 48-byte header on UDP port 123 with version 1–4 and a valid mode.

use super::{Ctx, Dissector, Hit, Probe, ids, proto_if};

/// RFC 5905 §7.3: the fixed header is 48 bytes.
const HEADER_LEN: usize = 48;
const NTP_PORT: u16 = 123;

pub const DISSECTOR: Dissector = Dissector {
    name: "ntp",
    probe,
    tcp_ports: &[],
    udp_ports: &[NTP_PORT],
    reassemble: false,
    emits: &[ids::NTP],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.has_port(NTP_PORT) || data.len() < HEADER_LEN {
        return Probe::NoMatch;
    }
    let b0 = super::at(data, 0);
    let version = (b0 >> 3) & 0x7;
    let mode = b0 & 0x7;
    // Mode 0 is reserved; mode 7 is ntpd's private (monlist) mode, still NTP.
    proto_if((1..=4).contains(&version) && mode != 0, ids::NTP)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 123, 123), data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request() {
        // `ntpdate -q` style v4 client request: LI 0, VN 4, mode 3, the rest zero.
        let mut p = [0u8; 48];
        p[0] = 0x23;
        assert!(probe(&Ctx::client(17, 40000, 123), &p).is_match());
        assert_eq!(
            probe(&Ctx::client(17, 40000, 123), &p[..47]),
            Probe::NoMatch
        );
        assert_eq!(probe(&Ctx::client(17, 40000, 124), &p), Probe::NoMatch);
        p[0] = 0x3b; // version 7
        assert_eq!(probe(&Ctx::client(17, 40000, 123), &p), Probe::NoMatch);
    }
}
