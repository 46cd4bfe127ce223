//! DHCP (RFC 2131 §2, RFC 2132 §2): BOOTP op 1/2 with the magic cookie at offset 236.

use super::{Ctx, Dissector, Hit, Probe, be32, ids};

const COOKIE_OFFSET: usize = 236;
/// RFC 2132 §2: 99.130.83.99.
const MAGIC_COOKIE: u32 = 0x6382_5363;

pub const DISSECTOR: Dissector = Dissector {
    name: "dhcp",
    probe,
    tcp_ports: &[],
    udp_ports: &[67, 68],
    reassemble: false,
    emits: &[ids::DHCP],
};

pub fn probe<'a>(_ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let op = super::at(data, 0);
    if !(op == 1 || op == 2) || be32(data, COOKIE_OFFSET) != Some(MAGIC_COOKIE) {
        return Probe::NoMatch;
    }
    Probe::Match(Hit::proto(ids::DHCP))
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 68, 67), data);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn discover() {
        let mut p = vec![0u8; 300];
        p[0] = 1; // BOOTREQUEST
        p[1] = 1; // htype Ethernet
        p[2] = 6;
        p[236..240].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        p[240..243].copy_from_slice(&[53, 1, 1]); // DHCPDISCOVER
        assert!(probe(&Ctx::client(17, 68, 67), &p).is_match());
        assert_eq!(probe(&Ctx::client(17, 68, 67), &p[..239]), Probe::NoMatch);
    }
}
