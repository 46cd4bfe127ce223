//! RTSP (RFC 2326 §6): a request line naming an `rtsp://` URL and `RTSP/1.0`, or a response.
//! nDPI `src/lib/protocols/rtsp.c`.

use super::{Ctx, Dissector, Hit, Probe, find, hit, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "rtsp",
    probe: rtsp,
    tcp_ports: &[554, 8554],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::RTSP],
};

fn rtsp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    if data.starts_with(b"RTSP/1.0 ") {
        return hit(ids::RTSP);
    }
    let line = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    proto_if(
        find(line, b" rtsp://").is_some() && find(line, b"RTSP/1.0").is_some(),
        ids::RTSP,
    )
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn each_small_protocol_rtsp() {
        let t = |p| Ctx::client(6, 40000, p);
        assert_eq!(
            rtsp(&t(554), b"OPTIONS rtsp://cam/ RTSP/1.0\r\n"),
            hit(ids::RTSP)
        );
    }
}
