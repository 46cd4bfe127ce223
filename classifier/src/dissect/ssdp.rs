//! SSDP (UPnP Device Architecture 1.1 §1.3, UDP 1900): `M-SEARCH` / `NOTIFY` requests and their
//! `HTTP/1.1 200 OK` replies. nDPI `src/lib/protocols/ssdp.c`.

use super::{Ctx, Dissector, Hit, Probe, ids, prefixed};

pub const DISSECTOR: Dissector = Dissector {
    name: "ssdp",
    probe: ssdp,
    tcp_ports: &[],
    udp_ports: &[1900],
    reassemble: false,
    emits: &[ids::SSDP],
};

fn ssdp<'a>(_ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    prefixed(
        data,
        &[
            b"M-SEARCH * HTTP/1.1",
            b"NOTIFY * HTTP/1.1",
            b"HTTP/1.1 200 OK\r\n",
        ],
        ids::SSDP,
    )
    .and_port(_ctx, 1900, data.starts_with(b"HTTP/"))
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::dissect::hit;

    #[test]
    fn each_small_protocol_ssdp() {
        let u = |p| Ctx::client(17, 40000, p);
        assert_eq!(
            ssdp(
                &u(1900),
                b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
            ),
            hit(ids::SSDP)
        );
    }
}
