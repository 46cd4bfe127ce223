//! Crypto-currency mining (nDPI `src/lib/protocols/mining.c`): a Stratum JSON-RPC request from the
//! client whose first bytes name the `mining.subscribe`, `mining.authorize` or `mining.submit`
//! method.

use nfguard_proto::AppId;

use super::{ANY, Ctx, Dissector, Hit, Probe, find, ids, proto_if};

pub const MINING: AppId = ids::MINING;
/// How far into a request the Stratum method name is looked for (a request line is short; the
/// method comes right after `{"id":N,`).
const STRATUM_WINDOW: usize = 128;
const STRATUM_METHODS: [&[u8]; 3] = [
    b"\"mining.subscribe\"",
    b"\"mining.authorize\"",
    b"\"mining.submit\"",
];

pub const DISSECTOR: Dissector = Dissector {
    name: "mining",
    probe: probe_mining,
    tcp_ports: ANY,
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::MINING],
};

pub fn probe_mining<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || !ctx.from_client || !ctx.stream_start || data.first() != Some(&b'{') {
        return Probe::NoMatch;
    }
    let window = data.get(..STRATUM_WINDOW.min(data.len())).unwrap_or(&[]);
    let found = STRATUM_METHODS.iter().any(|m| find(window, m).is_some());
    proto_if(found, MINING)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn stratum_subscribe_is_mining() {
        let ctx = Ctx::client(6, 40000, 3333);
        let req = b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"cpuminer/2.5.1\"]}\n";
        assert_eq!(probe_mining(&ctx, req), Probe::Match(Hit::proto(MINING)));
        let json = b"{\"id\":1,\"method\":\"eth_getBalance\",\"params\":[]}\n";
        assert_eq!(probe_mining(&ctx, json), Probe::NoMatch);
        let server = Ctx {
            from_client: false,
            ..ctx
        };
        assert_eq!(probe_mining(&server, req), Probe::NoMatch);
    }
}
