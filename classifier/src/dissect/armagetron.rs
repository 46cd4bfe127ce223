//! Armagetron Advanced over UDP. nDPI `src/lib/protocols/armagetron.c`: three message shapes of
//! the game's network protocol (16-bit big-endian words: descriptor, message id, data length in
//! words, data), each ending in a zero word, on any port:
//! a login request (descriptor `000b`, id 0, `0008` first, the length covering the datagram), a
//! 16-byte sync (`001c`, nonzero id, length 4, `0000 0500 0001 0000`) and a net_sync (`0018`,
//! nonzero id, two equal words and a length-prefixed field followed by `00010000` or
//! `00000001`).

use super::{ANY, Ctx, Dissector, Hit, Probe, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "armagetron",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::ARMAGETRON],
};

/// nDPI: only datagrams longer than 10 bytes.
const MIN_LEN: usize = 11;
const SYNC_LEN: usize = 16;
/// nDPI: a net_sync is longer than 50 bytes.
const NET_SYNC_MIN_LEN: usize = 51;
/// Descriptor, id and length words before the data.
const HEADER_LEN: usize = 6;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let found = ctx.is_udp()
        && data.len() >= MIN_LEN
        && last_word_zero(data)
        && (login(data) || sync(data) || net_sync(data));
    proto_if(found, ids::ARMAGETRON)
}

fn last_word_zero(data: &[u8]) -> bool {
    data.len().checked_sub(2).and_then(|i| be16(data, i)) == Some(0)
}

/// The data length in words, as bytes after the header.
fn data_bytes(data: &[u8]) -> Option<usize> {
    be16(data, 4).map(|w| usize::from(w).saturating_mul(2))
}

fn login(data: &[u8]) -> bool {
    be32(data, 0) == Some(0x000b_0000)
        && data_bytes(data)
            .is_some_and(|n| n > 0 && n.saturating_add(HEADER_LEN).saturating_add(2) == data.len())
        && be16(data, 6) == Some(0x0008)
}

fn sync(data: &[u8]) -> bool {
    data.len() == SYNC_LEN
        && be16(data, 0) == Some(0x001c)
        && be16(data, 2).is_some_and(|id| id != 0)
        && be16(data, 4) == Some(4)
        && be32(data, 6) == Some(0x0000_0500)
        && be32(data, 10) == Some(0x0001_0000)
}

fn net_sync(data: &[u8]) -> bool {
    if data.len() < NET_SYNC_MIN_LEN
        || be16(data, 0) != Some(0x0018)
        || be16(data, 2).is_none_or(|id| id == 0)
    {
        return false;
    }
    let fits = data_bytes(data)
        .is_some_and(|n| n > 0 && n.saturating_add(HEADER_LEN).saturating_add(2) <= data.len());
    let Some(field) = be16(data, 14).map(usize::from) else {
        return false;
    };
    let after = field.saturating_add(16);
    fits && be16(data, 8) == be16(data, 12)
        && after.saturating_add(4) < data.len()
        && matches!(be32(data, after), Some(0x0001_0000 | 0x0000_0001))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const ARMA: Probe<Hit<'static>> = Probe::Match(Hit::proto(ids::ARMAGETRON));

    fn ctx() -> Ctx {
        Ctx::client(17, 50000, 4534)
    }

    /// Built from nDPI armagetron.c's conditions; free words are arbitrary.
    #[test]
    fn three_messages() {
        // Login: 000b 0000, 3 data words (0008, 1234, 5678), then the zero word.
        let login = [
            0x00, 0x0b, 0x00, 0x00, 0x00, 0x03, 0x00, 0x08, 0x12, 0x34, 0x56, 0x78, 0, 0,
        ];
        assert_eq!(probe(&ctx(), &login), ARMA);
        let sync = [
            0x00, 0x1c, 0x00, 0x07, 0x00, 0x04, 0, 0, 0x05, 0, 0, 0x01, 0, 0, 0, 0,
        ];
        assert_eq!(probe(&ctx(), &sync), ARMA);
        let mut ns = vec![0x00, 0x18, 0x00, 0x02, 0x00, 0x05, 0xaa, 0xaa, 0x11, 0x22];
        ns.extend([
            0xbb, 0xbb, 0x11, 0x22, 0x00, 0x04, 1, 2, 3, 4, 0x00, 0x01, 0x00, 0x00,
        ]);
        ns.resize(60, 0x33);
        ns.extend([0, 0]);
        assert_eq!(probe(&ctx(), &ns), ARMA);
    }

    #[test]
    fn not_armagetron() {
        let login = [
            0x00, 0x0b, 0x00, 0x00, 0x00, 0x03, 0x00, 0x08, 0x12, 0x34, 0x56, 0x78, 0, 0,
        ];
        // A length that does not cover the datagram, a nonzero last word, every prefix, TCP.
        let mut p = login.to_vec();
        p[5] = 4;
        assert_eq!(probe(&ctx(), &p), Probe::NoMatch);
        let mut p = login.to_vec();
        p[13] = 1;
        assert_eq!(probe(&ctx(), &p), Probe::NoMatch);
        for n in 0..login.len() {
            assert_eq!(probe(&ctx(), &login[..n]), Probe::NoMatch, "{n}");
        }
        assert_eq!(probe(&Ctx::client(6, 50000, 4534), &login), Probe::NoMatch);
        // A sync with message id 0.
        let sync = [
            0x00, 0x1c, 0x00, 0x00, 0x00, 0x04, 0, 0, 0x05, 0, 0, 0x01, 0, 0, 0, 0,
        ];
        assert_eq!(probe(&ctx(), &sync), Probe::NoMatch);
    }
}
