//! Ethereum peer-to-peer (nDPI `src/lib/protocols/ethereum.c`): discovery v4 datagrams to or from
//! UDP 30303, 99–1279 bytes, whose packet type (byte 97, after hash and signature) is at most 4;
//! over TCP, a 301–599 byte RLPx message with byte 2 = 0x04 to ports 30300–30305, or JSON-RPC
//! mining traffic naming `"eth1.0"` or `"worker":`.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, at, find, ids, proto_if};

pub const ETHEREUM: AppId = ids::ETHEREUM;
const DISCOVERY_PORT: u16 = 30303;
const TYPE_OFFSET: usize = 97;
/// nDPI's bound on a discovery packet: NODES (type 4) and below.
const MAX_TYPE: u8 = 4;

pub const DISSECTOR: Dissector = Dissector {
    name: "ethereum",
    probe,
    tcp_ports: &[30300, 30301, 30302, 30303, 30304, 30305],
    udp_ports: &[DISCOVERY_PORT],
    reassemble: false,
    emits: &[ids::ETHEREUM],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let n = data.len();
    if ctx.is_udp() {
        let ok = n > TYPE_OFFSET.saturating_add(1)
            && n < 1280
            && ctx.has_port(DISCOVERY_PORT)
            && at(data, TYPE_OFFSET) <= MAX_TYPE;
        return proto_if(ok, ETHEREUM);
    }
    if n <= 10 {
        return Probe::NoMatch;
    }
    if n > 300 && n < 600 && at(data, 2) == 0x04 {
        return proto_if((30300..=30305).contains(&ctx.server_port), ETHEREUM);
    }
    if find(data, b"{").is_some()
        && (find(data, b"\"eth1.0\"").is_some() || find(data, b"\"worker\":").is_some())
    {
        return Probe::Match(Hit::proto(ETHEREUM));
    }
    Probe::NoMatch
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 30303, 30303), data);
    let _ = probe(&Ctx::client(6, 40000, 30303), data);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn discovery_rlpx_and_stratum() {
        let udp = Ctx::client(17, 30303, 20182);
        let mut ping = vec![0u8; 150];
        ping[TYPE_OFFSET] = 1;
        assert!(probe(&udp, &ping).is_match());
        ping[TYPE_OFFSET] = 5;
        assert_eq!(probe(&udp, &ping), Probe::NoMatch);
        ping[TYPE_OFFSET] = 1;
        assert_eq!(probe(&Ctx::client(17, 4000, 4001), &ping), Probe::NoMatch);
        assert_eq!(probe(&udp, &ping[..98]), Probe::NoMatch);
        let tcp = Ctx::client(6, 40000, 30303);
        let mut auth = vec![0u8; 400];
        auth[2] = 0x04;
        assert!(probe(&tcp, &auth).is_match());
        assert_eq!(probe(&Ctx::client(6, 40000, 443), &auth), Probe::NoMatch);
        let login =
            br#"{"worker": "eth1.0", "jsonrpc": "2.0", "id": 2, "method": "eth_submitLogin"}"#;
        assert!(probe(&Ctx::client(6, 40000, 8008), login).is_match());
    }
}
