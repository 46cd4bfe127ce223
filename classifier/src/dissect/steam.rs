//! Steam over UDP. nDPI `src/lib/protocols/steam.c`: a datagram starting `VS01` (Steam's UDP
//! transport hello) is Steam on any port. The in-home streaming discovery broadcast on port 27036
//! starts with `ff ff ff ff` then the little-endian magic 0xa05f4c21 (`21 4c 5f a0`), then the
//! length of a `CMsgRemoteClientBroadcastHeader` (SteamKit's `SteamDiscoveryTransport`, the
//! ValvePython/vaporbat discovery clients agree). nDPI's other Steam UDP checks pair a request
//! with its reply in the other direction (`ff ff ff ff` A2S queries); a stateless probe leaves
//! those to the port guess.

use nfguard_proto::AppId;

use super::{ANY, Ctx, Dissector, Hit, Probe, ids, proto_if, starts};

pub const STEAM: AppId = ids::STEAM;
const HELLO: &[u8; 4] = b"VS01";
const DISCOVERY_PORT: u16 = 27036;
const DISCOVERY: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0x21, 0x4c, 0x5f, 0xa0];
/// Magic (8) + header length (4).
const DISCOVERY_MIN_LEN: usize = 12;

pub const DISSECTOR: Dissector = Dissector {
    name: "steam",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::STEAM],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() {
        return Probe::NoMatch;
    }
    if data.len() > HELLO.len() && starts(data, HELLO).is_match() {
        return Probe::Match(Hit::proto(STEAM));
    }
    let discovery = ctx.has_port(DISCOVERY_PORT)
        && data.len() >= DISCOVERY_MIN_LEN
        && starts(data, &DISCOVERY).is_match();
    proto_if(discovery, STEAM)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, DISCOVERY_PORT, DISCOVERY_PORT), data);
    let _ = probe(&Ctx::client(17, 40000, 27015), data);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// A discovery broadcast: magic, header length 9, header (client_id, msg_type discovery).
    const BROADCAST: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0x21, 0x4c, 0x5f, 0xa0, 0x09, 0x00, 0x00, 0x00, 0x08, 0xd2, 0x09,
        0x10, 0x00, 0x18, 0x01, 0x20, 0x01,
    ];

    #[test]
    fn discovery_and_hello() {
        let ctx = Ctx::client(17, DISCOVERY_PORT, DISCOVERY_PORT);
        assert_eq!(probe(&ctx, BROADCAST), Probe::Match(Hit::proto(STEAM)));
        let hello = b"VS01\x00\x00\x00\x00\x01\x02";
        assert!(probe(&Ctx::client(17, 40000, 27017), hello).is_match());
    }

    #[test]
    fn not_steam() {
        // The magic off the discovery port, truncated, or altered.
        assert_eq!(
            probe(&Ctx::client(17, 40000, 27015), BROADCAST),
            Probe::NoMatch
        );
        let ctx = Ctx::client(17, DISCOVERY_PORT, DISCOVERY_PORT);
        assert_eq!(probe(&ctx, &BROADCAST[..11]), Probe::NoMatch);
        let mut b = BROADCAST.to_vec();
        b[4] = 0x22;
        assert_eq!(probe(&ctx, &b), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(6, 40000, 27017), b"VS01\x00\x00"),
            Probe::NoMatch
        );
        assert_eq!(
            probe(&Ctx::client(17, 40000, 27017), b"VS01"),
            Probe::NoMatch
        );
    }
}
