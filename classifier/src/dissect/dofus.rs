//! Dofus over TCP. nDPI `src/lib/protocols/dofus.c`, its single-segment checks: the Dofus 1.x
//! 13-byte message (`05 08` at 1, `04 a0` at 5, ending `01 94`) and the Dofus 2.0 messages
//! (`00 05 08 00 00 05 ? ? 00 05 18` of 11, 13 or 49 bytes; `01 b9 26` with two length-prefixed
//! fields filling the segment; the 56-byte `00 11 35 02 03 00 93 96 01 00` with two fields and a
//! final `01`). The Dofus 1.x text exchange (`HG`, `Ax`… then `AT`/`Ak`) pairs two packets and is
//! left out.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "dofus",
    probe,
    tcp_ports: ANY,
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::DOFUS],
};

/// The last two bytes of the 13-byte messages.
const TRAILER: u16 = 0x0194;
const V2_HEAD: u32 = 0x0005_0800;
const V2_LENS: [usize; 3] = [11, 13, 49];
/// `01 b9 26` messages are at least this long.
const FIELDS_MIN_LEN: usize = 41;
const LONG_HEAD: &[u8] = &[0x00, 0x11, 0x35, 0x02, 0x03, 0x00, 0x93, 0x96, 0x01, 0x00];
const LONG_LEN: usize = 56;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let found = ctx.is_tcp() && (v1(data) || v2_header(data) || v2_fields(data) || v2_long(data));
    proto_if(found, ids::DOFUS)
}

fn trailer(data: &[u8]) -> Option<u16> {
    be16(data, data.len().checked_sub(2)?)
}

fn v1(data: &[u8]) -> bool {
    data.len() == 13
        && be16(data, 1) == Some(0x0508)
        && be16(data, 5) == Some(0x04a0)
        && trailer(data) == Some(TRAILER)
}

fn v2_header(data: &[u8]) -> bool {
    let len = data.len();
    V2_LENS.contains(&len)
        && be32(data, 0) == Some(V2_HEAD)
        && be16(data, 4) == Some(0x0005)
        && be16(data, 8) == Some(0x0005)
        && at(data, 10) == 0x18
        && (len != 13 || trailer(data) == Some(TRAILER))
        && (len != 49 || be16(data, 15).map(|n| usize::from(n).saturating_add(17)) == Some(len))
}

/// `01 b9 26`, a 16-bit length and field, another 16-bit length and field, nothing after.
fn v2_fields(data: &[u8]) -> bool {
    if data.len() < FIELDS_MIN_LEN || !data.starts_with(&[0x01, 0xb9, 0x26]) {
        return false;
    }
    let Some(first) = be16(data, 3).map(usize::from) else {
        return false;
    };
    let second_at = first.saturating_add(5);
    be16(data, second_at)
        .is_some_and(|n| second_at.saturating_add(2).saturating_add(usize::from(n)) == data.len())
}

/// The 56-byte message: its head, two 16-bit-length fields, then `01` as the last byte.
fn v2_long(data: &[u8]) -> bool {
    if data.len() != LONG_LEN || !data.starts_with(LONG_HEAD) {
        return false;
    }
    let Some(first) = be16(data, 10).map(usize::from) else {
        return false;
    };
    let second_at = first.saturating_add(12);
    be16(data, second_at).is_some_and(|n| {
        let end = second_at.saturating_add(2).saturating_add(usize::from(n));
        end.saturating_add(1) == LONG_LEN && at(data, end) == 0x01
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const DOFUS: Probe<Hit<'static>> = Probe::Match(Hit::proto(ids::DOFUS));

    fn ctx() -> Ctx {
        Ctx::client(6, 50000, 5555)
    }

    /// Each shape built from nDPI dofus.c's conditions; free bytes are arbitrary.
    #[test]
    fn single_segment_messages() {
        let v1 = [
            0x00, 0x05, 0x08, 0x00, 0x00, 0x04, 0xa0, 0, 0, 0, 0, 0x01, 0x94,
        ];
        assert_eq!(probe(&ctx(), &v1), DOFUS);
        let mut v2 = vec![
            0x00, 0x05, 0x08, 0x00, 0x00, 0x05, 0x12, 0x34, 0x00, 0x05, 0x18,
        ];
        assert_eq!(probe(&ctx(), &v2), DOFUS);
        v2.extend([0x01, 0x94]);
        assert_eq!(probe(&ctx(), &v2), DOFUS);
        let mut fields = vec![0x01, 0xb9, 0x26, 0x00, 0x20];
        fields.extend([0x41; 32]);
        fields.extend([0x00, 0x04, 1, 2, 3, 4]);
        assert_eq!(fields.len(), 43);
        assert_eq!(probe(&ctx(), &fields), DOFUS);
        let mut long = LONG_HEAD.to_vec();
        long.extend([0x00, 0x10]);
        long.extend([0x42; 16]);
        long.extend([0x00, 0x19]);
        long.extend([0x43; 25]);
        long.push(0x01);
        assert_eq!(long.len(), LONG_LEN);
        assert_eq!(probe(&ctx(), &long), DOFUS);
    }

    #[test]
    fn not_dofus() {
        // A 13-byte v2 header without the trailer, fields that overrun, the long one without its
        // final 01, and UDP.
        let v2 = [
            0x00, 0x05, 0x08, 0x00, 0x00, 0x05, 0x12, 0x34, 0x00, 0x05, 0x18, 0, 0,
        ];
        assert_eq!(probe(&ctx(), &v2), Probe::NoMatch);
        let mut fields = vec![0x01, 0xb9, 0x26, 0x00, 0x20];
        fields.extend([0x41; 32]);
        fields.extend([0x00, 0x05, 1, 2, 3, 4]);
        assert_eq!(probe(&ctx(), &fields), Probe::NoMatch);
        let mut long = LONG_HEAD.to_vec();
        long.extend([0x00, 0x10]);
        long.extend([0x42; 16]);
        long.extend([0x00, 0x19]);
        long.extend([0x43; 25]);
        long.push(0x02);
        assert_eq!(probe(&ctx(), &long), Probe::NoMatch);
        let v1 = [
            0x00, 0x05, 0x08, 0x00, 0x00, 0x04, 0xa0, 0, 0, 0, 0, 0x01, 0x94,
        ];
        assert_eq!(probe(&Ctx::client(17, 50000, 5555), &v1), Probe::NoMatch);
        for n in 0..v1.len() {
            assert_eq!(probe(&ctx(), &v1[..n]), Probe::NoMatch, "{n}");
        }
    }
}
