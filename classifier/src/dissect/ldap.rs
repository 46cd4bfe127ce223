//! LDAP (RFC 4511 §4.1.1, BER per §5.1): `LDAPMessage ::= SEQUENCE { messageID INTEGER,
//! protocolOp CHOICE { [APPLICATION n] … } }`, over TCP 389/3268 and as CLDAP over UDP 389
//! (RFC 1798). nDPI's `src/lib/protocols/ldap.c` matches bind and search operations at fixed
//! offsets for two length forms; this probe walks the BER headers. Off the LDAP ports only a
//! bindRequest with version 2 or 3 or a searchRequest with its baseObject string is taken,
//! because "SEQUENCE, INTEGER, application tag" alone is a common BER shape.

use super::asn1::{Ber, Fail};
use super::{Ctx, Dissector, Hit, Probe, ids};

pub const DISSECTOR: Dissector = Dissector {
    name: "ldap",
    probe,
    tcp_ports: &[389, 3268],
    udp_ports: &[389],
    reassemble: false,
    emits: &[ids::LDAP],
};

/// RFC 4511 §4.2, §4.5.1: the bindRequest and searchRequest application tags (constructed).
const BIND_REQUEST: u8 = 0x60;
const SEARCH_REQUEST: u8 = 0x63;
/// RFC 4511 Appendix B: protocolOp tags, [APPLICATION 0..=25]. Constructed (0x60 | n) except
/// unbindRequest (2), delRequest (10) and abandonRequest (16), which are primitive (0x40 | n).
const PRIMITIVE_OPS: [u8; 3] = [2, 10, 16];
const MAX_OP: u8 = 25;
/// The 4-byte messageID limit (RFC 4511 §4.1.1.1: 0..=2^31-1).
const MAX_ID_OCTETS: usize = 4;

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let on_port = super::Dissector::likely(&DISSECTOR, ctx);
    match message(data, on_port) {
        Ok(()) => Probe::Match(Hit::proto(ids::LDAP)),
        Err(Fail::Short) => Probe::NeedMore,
        Err(Fail::Bad) => Probe::NoMatch,
    }
}

fn message(b: &[u8], on_port: bool) -> Result<(), Fail> {
    let mut r = Ber::new(b);
    r.expect(&[0x30])?;
    let total = r.len()?;
    let after_header = r.remaining();
    // messageID
    r.expect(&[0x02])?;
    let id_len = r.len()?;
    if !(1..=MAX_ID_OCTETS).contains(&id_len) {
        return Err(Fail::Bad);
    }
    r.skip(id_len)?;
    let op = r.byte()?;
    let number = op & 0x1f;
    let class_ok = if PRIMITIVE_OPS.contains(&number) {
        op & 0xe0 == 0x40
    } else {
        op & 0xe0 == 0x60
    };
    if !class_ok || number > MAX_OP {
        return Err(Fail::Bad);
    }
    let op_len = r.len()?;
    // The operation must fit in the message (messageID and op headers already read).
    let used = after_header.saturating_sub(r.remaining());
    if used.checked_add(op_len).is_none_or(|n| n > total) {
        return Err(Fail::Bad);
    }
    match op {
        // version INTEGER (1..127), RFC 4511 §4.2: 3, or 2 from old clients.
        BIND_REQUEST => {
            r.expect(&[0x02, 0x01])?;
            if !matches!(r.byte()?, 2 | 3) {
                return Err(Fail::Bad);
            }
            r.expect(&[0x04]) // name LDAPDN (OCTET STRING)
        }
        // baseObject LDAPDN (OCTET STRING).
        SEARCH_REQUEST => r.expect(&[0x04]),
        _ if on_port => Ok(()),
        _ => Err(Fail::Bad),
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 49193, 389), data);
    let _ = probe(&Ctx::client(17, 49193, 9999), data);
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

    /// RFC 4511 §4.2 simple bindRequest, as `ldapsearch -x -D cn=admin,dc=example,dc=org -w x`
    /// encodes it: messageID 1, version 3, name, simple [0] password.
    fn bind_request() -> Vec<u8> {
        let dn = b"cn=admin,dc=example,dc=org";
        let mut op = vec![0x02, 0x01, 0x03, 0x04, dn.len() as u8];
        op.extend_from_slice(dn);
        op.extend_from_slice(&[0x80, 0x01, b'x']);
        let mut msg = vec![0x02, 0x01, 0x01, 0x60, op.len() as u8];
        msg.extend(op);
        let mut v = vec![0x30, msg.len() as u8];
        v.extend(msg);
        v
    }

    #[test]
    fn bind_request_all_prefixes() {
        for ctx in [Ctx::client(6, 49193, 389), Ctx::client(6, 49193, 10389)] {
            check_all_prefixes(&ctx, &bind_request(), 11, probe, |h| {
                assert_eq!(h.master.name(), "LDAP")
            });
        }
    }

    #[test]
    fn responses_only_on_the_ldap_port() {
        // bindResponse: messageID 1, resultCode success, matchedDN "", diagnosticMessage "".
        let resp = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
        ];
        let server = |port| Ctx {
            from_client: false,
            ..Ctx::client(6, 49193, port)
        };
        assert!(probe(&server(389), &resp).is_match());
        assert_eq!(probe(&server(10389), &resp), Probe::NoMatch);
    }

    #[test]
    fn not_ldap() {
        let ctx = Ctx::client(17, 40000, 389);
        // SNMPv2c GetRequest: version INTEGER then an OCTET STRING, not an application tag.
        assert_eq!(
            probe(&ctx, b"\x30\x26\x02\x01\x01\x04\x06public\xa0\x19"),
            Probe::NoMatch
        );
        // An operation longer than its message.
        let mut bad = bind_request();
        bad[6] = 0x7f;
        assert_eq!(probe(&ctx, &bad), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"\x16\x03\x01\x00"), Probe::NoMatch);
    }

    /// curl 7.88.1 (OpenLDAP 2.5) opening `ldap://127.0.0.1:10389/…`: an anonymous LDAPv3 simple
    /// bind, recorded on loopback (`testdata/first_segment.py`).
    const CURL_BIND: &[u8] = include_bytes!("../../testdata/ldap_bind_curl_lo.bin");

    #[test]
    fn recorded_curl_bind_all_prefixes() {
        for ctx in [Ctx::client(6, 40000, 389), Ctx::client(6, 40000, 10389)] {
            check_all_prefixes(&ctx, CURL_BIND, 11, probe, |h| {
                assert_eq!(h.master, crate::dissect::ids::LDAP)
            });
        }
    }
}
