//! DRDA (IBM Distributed Relational Database Architecture, DB2 and Derby; Open Group DRDA Vol. 3
//! DDM: each DSS is a 6-byte header — length, magic `0xd0`, format, correlation id — then a DDM
//! object of length `DSS length − 6` and its code point). nDPI `src/lib/protocols/drda.c`: a TCP
//! segment of at least 10 bytes, on any port, whose first DSS has the magic and the two lengths
//! agreeing; when the segment holds more than that DSS, every further one must agree too and the
//! last must end with the segment.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, be16, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "drda",
    probe,
    tcp_ports: ANY,
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::DRDA],
};

/// DSS header (6) + DDM length and code point (4).
const HEADER: usize = 10;
const DSS_MAGIC: u8 = 0xd0;
/// The DSS length counts its own 6 header bytes before the DDM object.
const DSS_HEADER: u16 = 6;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || data.len() < HEADER {
        return Probe::NoMatch;
    }
    let Some(first) = dss_len(data) else {
        return Probe::NoMatch;
    };
    if data.len() <= first {
        return Probe::Match(Hit::proto(ids::DRDA));
    }
    // Chained DSSs, walked as nDPI does: while a whole header fits after the ones seen.
    let mut end = first;
    while end.checked_add(HEADER).is_some_and(|n| n < data.len()) {
        let Some(len) = data.get(end..).and_then(dss_len) else {
            return Probe::NoMatch;
        };
        end = end.saturating_add(len);
    }
    proto_if(end == data.len(), ids::DRDA)
}

/// The length of the DSS at the start of `dss` when its header is consistent.
fn dss_len(dss: &[u8]) -> Option<usize> {
    let len = be16(dss, 0)?;
    let ddm = be16(dss, 6)?;
    (at(dss, 2) == DSS_MAGIC && ddm.checked_add(DSS_HEADER) == Some(len))
        .then_some(usize::from(len))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    /// One DSS (DRDA Vol. 3 §4.4): magic 0xd0, `format`, correlation id 1, a DDM object with
    /// `codepoint` and `params`.
    fn dss(format: u8, codepoint: u16, params: &[u8]) -> Vec<u8> {
        let ddm = u16::try_from(params.len() + 4).unwrap();
        let mut p = (ddm + 6).to_be_bytes().to_vec();
        p.extend([DSS_MAGIC, format, 0x00, 0x01]);
        p.extend(ddm.to_be_bytes());
        p.extend(codepoint.to_be_bytes());
        p.extend_from_slice(params);
        p
    }

    /// EXCSAT (0x1041) with EXTNAM (0x115e) "derby" in EBCDIC, chained (format 0x41) to an
    /// ACCSEC (0x106d) with SECMEC (0x11a2) 3: the first segment of a Derby/DB2 client.
    fn excsat_accsec() -> Vec<u8> {
        let mut p = dss(
            0x41,
            0x1041,
            &[0x00, 0x09, 0x11, 0x5e, 0x84, 0x85, 0x99, 0x82, 0xa8],
        );
        p.extend(dss(0x01, 0x106d, &[0x00, 0x06, 0x11, 0xa2, 0x00, 0x03]));
        p
    }

    #[test]
    fn drda_excsat_alone_and_chained() {
        let ctx = Ctx::client(6, 40000, 1527);
        let one = dss(
            0x41,
            0x1041,
            &[0x00, 0x09, 0x11, 0x5e, 0x84, 0x85, 0x99, 0x82, 0xa8],
        );
        assert_eq!(probe(&ctx, &one), Probe::Match(Hit::proto(ids::DRDA)));
        assert!(probe(&Ctx::client(6, 40000, 50000), &excsat_accsec()).is_match());
        // nDPI takes a first DSS cut by the segment end.
        assert!(probe(&ctx, &one[..12]).is_match());
    }

    #[test]
    fn not_drda() {
        // Every prefix of one DSS: nothing before its 10-byte header, then DRDA (nDPI takes a
        // DSS the segment cuts); of two chained, only the whole.
        let ctx = Ctx::client(6, 40000, 50000);
        let one = dss(
            0x41,
            0x1041,
            &[0x00, 0x09, 0x11, 0x5e, 0x84, 0x85, 0x99, 0x82, 0xa8],
        );
        for n in 0..=one.len() {
            assert_eq!(probe(&ctx, &one[..n]).is_match(), n >= HEADER, "{n}");
        }
        let two = excsat_accsec();
        for n in one.len() + 1..two.len() {
            assert_eq!(probe(&ctx, &two[..n]), Probe::NoMatch, "{n}");
        }
        let ctx = Ctx::client(6, 40000, 50000);
        let good = excsat_accsec();
        // Wrong magic, lengths disagreeing, trailing bytes after the last DSS, a bad second DSS.
        for (i, v) in [(2, 0xd1), (7, 0x0e)] {
            let mut p = good.clone();
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
        let mut trailing = good.clone();
        trailing.extend([0; 11]);
        assert_eq!(probe(&ctx, &trailing), Probe::NoMatch);
        let mut second = good.clone();
        second[21] = 0;
        assert_eq!(probe(&ctx, &second), Probe::NoMatch);
        assert_eq!(probe(&ctx, &good[..9]), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 40000, 50000), &good), Probe::NoMatch);
    }
}
