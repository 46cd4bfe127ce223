//! Kerberos V5 (RFC 4120): the KDC exchanges AS-REQ/AS-REP/TGS-REQ/TGS-REP, AP-REQ/AP-REP and
//! KRB-ERROR, each an ASN.1 APPLICATION-tagged SEQUENCE whose first two fields are `pvno` (5) and
//! `msg-type` (equal to the application tag number). Over TCP a 4-byte record mark comes first
//! (RFC 4120 §7.2.2: length of the record, high bit reserved 0). nDPI's
//! `src/lib/protocols/kerberos.c` looks for the same pvno/msg-type bytes at fixed offsets; this
//! probe walks the BER headers instead, so every length form is accepted.

use super::asn1::{Ber, Fail};
use super::{Ctx, Dissector, Hit, Probe, be32, ids};

pub const DISSECTOR: Dissector = Dissector {
    name: "kerberos",
    probe,
    tcp_ports: &[88],
    udp_ports: &[88],
    reassemble: false,
    emits: &[ids::KERBEROS],
};

/// RFC 4120 §5.4.1/§5.4.2/§5.5/§5.9.1: APPLICATION tags of the messages a KDC exchange starts
/// with (constructed, so 0x60 | number).
const KDC_REQ: [u8; 2] = [10, 12];
const MESSAGES: [u8; 7] = [10, 11, 12, 13, 14, 15, 30];
/// RFC 4120 §7.2.2: the record mark's high bit is reserved and must be 0.
const RESERVED_BIT: u32 = 0x8000_0000;
const PVNO: u8 = 5;

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let msg = if ctx.is_tcp() {
        // Record mark: the record may continue past this segment, never end before it.
        match be32(data, 0) {
            None => {
                return if data.len() < 4 {
                    Probe::NeedMore
                } else {
                    Probe::NoMatch
                };
            }
            Some(mark) if mark & RESERVED_BIT != 0 => return Probe::NoMatch,
            Some(mark) => {
                let body = data.get(4..).unwrap_or(&[]);
                if usize::try_from(mark).is_ok_and(|m| m < body.len()) || mark == 0 {
                    return Probe::NoMatch;
                }
                body
            }
        }
    } else {
        data
    };
    match message(msg) {
        Ok(()) => Probe::Match(Hit::proto(ids::KERBEROS)),
        Err(Fail::Short) => Probe::NeedMore,
        Err(Fail::Bad) => Probe::NoMatch,
    }
}

/// `[APPLICATION n] SEQUENCE { [a] pvno INTEGER (5), [a+1] msg-type INTEGER (n), … }`, where the
/// KDC-REQ fields are numbered from 1 and all the others from 0 (RFC 4120 §5.4.1).
fn message(b: &[u8]) -> Result<(), Fail> {
    let mut r = Ber::new(b);
    let tag = r.byte()?;
    let number = tag ^ 0x60;
    if tag & 0xe0 != 0x60 || !MESSAGES.contains(&number) {
        return Err(Fail::Bad);
    }
    r.len()?;
    r.expect(&[0x30])?;
    r.len()?;
    let first = if KDC_REQ.contains(&number) {
        0xa1
    } else {
        0xa0
    };
    r.expect(&[first, 0x03, 0x02, 0x01, PVNO])?;
    r.expect(&[first.wrapping_add(1), 0x03, 0x02, 0x01, number])
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 49157, 88), data);
    let _ = probe(&Ctx::client(17, 49157, 88), data);
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

    /// The start of an AS-REQ as Windows sends it over TCP (RFC 4120 §5.4.1 layout): record mark
    /// (235 bytes), [APPLICATION 10] with a 1-octet long-form length, SEQUENCE, pvno [1] 5,
    /// msg-type [2] 10, padata [3] ….
    const AS_REQ_TCP: &[u8] = &[
        0x00, 0x00, 0x00, 0xeb, // record mark
        0x6a, 0x81, 0xe8, // [APPLICATION 10], length 232
        0x30, 0x81, 0xe5, // SEQUENCE, length 229
        0xa1, 0x03, 0x02, 0x01, 0x05, // pvno 5
        0xa2, 0x03, 0x02, 0x01, 0x0a, // msg-type 10 (AS-REQ)
        0xa3, 0x15, 0x30, 0x13, // padata …
    ];

    /// A KRB-ERROR over UDP (RFC 4120 §5.9.1): [APPLICATION 30], pvno [0] 5, msg-type [1] 30.
    const KRB_ERROR_UDP: &[u8] = &[
        0x7e, 0x82, 0x01, 0x0e, 0x30, 0x82, 0x01, 0x0a, 0xa0, 0x03, 0x02, 0x01, 0x05, 0xa1, 0x03,
        0x02, 0x01, 0x1e, 0xa4, 0x11, 0x18, 0x0f,
    ];

    #[test]
    fn as_req_over_tcp_all_prefixes() {
        let ctx = Ctx::client(6, 49157, 88);
        check_all_prefixes(&ctx, AS_REQ_TCP, 20, probe, |h| {
            assert_eq!(h.master.name(), "Kerberos")
        });
    }

    #[test]
    fn krb_error_over_udp_all_prefixes() {
        let ctx = Ctx {
            from_client: false,
            ..Ctx::client(17, 49157, 88)
        };
        check_all_prefixes(&ctx, KRB_ERROR_UDP, 18, probe, |h| {
            assert_eq!(h.master, ids::KERBEROS)
        });
    }

    #[test]
    fn not_kerberos() {
        let tcp = Ctx::client(6, 49157, 88);
        let mut wrong_type = AS_REQ_TCP.to_vec();
        wrong_type[19] = 0x0c; // msg-type TGS-REQ inside an AS-REQ tag
        assert_eq!(probe(&tcp, &wrong_type), Probe::NoMatch);
        let mut v4 = AS_REQ_TCP.to_vec();
        v4[14] = 0x04;
        assert_eq!(probe(&tcp, &v4), Probe::NoMatch);
        // A record mark shorter than the segment.
        let mut short = AS_REQ_TCP.to_vec();
        short[3] = 0x05;
        assert_eq!(probe(&tcp, &short), Probe::NoMatch);
        // SMB2 over TCP 445 and an SNMP GetRequest are not Kerberos.
        assert_eq!(probe(&tcp, b"\x00\x00\x00\x44\xfeSMB@\x00"), Probe::NoMatch);
        let udp = Ctx::client(17, 40000, 161);
        assert_eq!(
            probe(&udp, b"\x30\x26\x02\x01\x01\x04\x06public"),
            Probe::NoMatch
        );
    }
}
