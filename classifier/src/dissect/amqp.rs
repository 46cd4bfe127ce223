//! AMQP: the protocol header or 0-9-1 frames. AMQP 0-9-1 specification §4.2.2 (protocol header
//! `AMQP` 0 0 9 1; AMQP 1.0 §2.2 uses `AMQP` id 1 0 0), §4.2.3 (frame: type, channel, size,
//! payload, frame-end 0xCE), §4.2.4–4.2.6 (method payload: class id, method id; content header:
//! class id, weight 0) and the class ids of its XML spec (connection 10, channel 20, access 30,
//! exchange 40, queue 50, basic 60, confirm 85, tx 90); nDPI `src/lib/protocols/amqp.c` (frame
//! type ≤ 3, size below 32768, class 10–110, method ≤ 120).

use super::{Ctx, Dissector, Hit, Probe, at, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "amqp",
    probe: amqp,
    tcp_ports: &[5672],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::AMQP],
};

const AMQP_PROTOCOL_HEADER: usize = 8;
/// Frame header (type, channel, size) + class id + method id.
const AMQP_FRAME_HEADER: usize = 7;
const AMQP_METHOD_HEAD: usize = AMQP_FRAME_HEADER + 4;
const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_END: u8 = 0xce;
/// nDPI's upper bound on a frame it inspects.
const AMQP_MAX_FRAME: u32 = 32768;
const AMQP_CLASSES: [u16; 8] = [10, 20, 30, 40, 50, 60, 85, 90];
/// nDPI: "Method basic NACK" (120) is the highest method id.
const AMQP_MAX_METHOD: u16 = 120;

fn amqp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    // The protocol header a client opens with: "AMQP", then protocol id 0–3 and the version.
    if ctx.stream_start && ctx.from_client && data.first().is_none_or(|&b| b == b'A') {
        return match super::starts(data, b"AMQP") {
            Probe::Match(()) if data.len() < AMQP_PROTOCOL_HEADER => Probe::NeedMore,
            Probe::Match(()) if at(data, 4) <= 3 => Probe::Match(Hit::proto(ids::AMQP)),
            Probe::NeedMore => Probe::NeedMore,
            _ => Probe::NoMatch,
        };
    }
    let frame_type = at(data, 0);
    let (Some(size), Some(class), Some(second)) = (be32(data, 3), be16(data, 7), be16(data, 9))
    else {
        return Probe::NoMatch;
    };
    let shape_ok = match frame_type {
        FRAME_METHOD => second <= AMQP_MAX_METHOD,
        // Content header: weight is always 0.
        FRAME_HEADER => second == 0,
        _ => false,
    };
    if !shape_ok
        || !AMQP_CLASSES.contains(&class)
        || size > AMQP_MAX_FRAME
        || data.len() < AMQP_METHOD_HEAD
    {
        return Probe::NoMatch;
    }
    // With the whole frame in the segment the frame-end octet confirms it; a frame cut by the
    // segment is only taken on the AMQP port.
    let end = usize::try_from(size)
        .ok()
        .and_then(|s| s.checked_add(AMQP_FRAME_HEADER));
    let confirmed = match end.map(|e| data.get(e)) {
        Some(Some(&b)) => b == FRAME_END,
        _ => DISSECTOR.likely(ctx),
    };
    proto_if(confirmed, ids::AMQP)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    #[test]
    fn amqp_protocol_header_all_prefixes() {
        let ctx = Ctx::client(6, 44205, 5672);
        check_all_prefixes(&ctx, b"AMQP\x00\x00\x09\x01", 8, amqp, |h| {
            assert_eq!(h.master.name(), "AMQP")
        });
        assert!(amqp(&Ctx::client(6, 44205, 5671), b"AMQP\x03\x01\x00\x00").is_match());
        assert_eq!(amqp(&ctx, b"AMQX\x00\x00\x09\x01"), Probe::NoMatch);
    }

    /// A basic.publish method frame (0-9-1 §4.2.3 layout): type 1, channel 1, size, class 60,
    /// method 40, reserved-1, exchange "celeryev", routing key, flags, frame-end.
    fn basic_publish() -> Vec<u8> {
        let mut payload = vec![0, 60, 0, 40, 0, 0, 8];
        payload.extend_from_slice(b"celeryev");
        payload.push(16);
        payload.extend_from_slice(b"worker.heartbeat");
        payload.push(0);
        let mut v = vec![1, 0, 1];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend(payload);
        v.push(FRAME_END);
        v
    }

    #[test]
    fn amqp_frames_mid_stream() {
        let mid = Ctx {
            stream_start: false,
            ..Ctx::client(6, 44205, 5672)
        };
        let f = basic_publish();
        assert!(amqp(&mid, &f).is_match());
        // Off the AMQP port the frame-end octet is what confirms it.
        let off = Ctx {
            server_port: 15672,
            ..mid
        };
        assert!(amqp(&off, &f).is_match());
        let mut no_end = f.clone();
        *no_end.last_mut().unwrap() = 0;
        assert_eq!(amqp(&off, &no_end), Probe::NoMatch);
        // Cut by the segment: only on 5672.
        assert!(amqp(&mid, &f[..20]).is_match());
        assert_eq!(amqp(&off, &f[..20]), Probe::NoMatch);
    }

    #[test]
    fn not_amqp() {
        let ctx = Ctx::client(6, 44205, 5672);
        let mut f = basic_publish();
        f[8] = 70; // no class 70
        assert_eq!(amqp(&ctx, &f), Probe::NoMatch);
        assert_eq!(
            amqp(&ctx, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"),
            Probe::NoMatch
        );
    }
}
