//! The server's first TLS (≤ 1.2) certificate and its subjectAltName dNSNames. nDPI matches each
//! dNSName against its host list when the SNI named no application (`src/lib/protocols/tls.c`,
//! `processCertificateElements`: `ndpi_match_hostname_protocol(..., dNSName, dNSName_len)` until
//! one matches), which is how SNI-less flows become `TLS.Webex` or `TLS.Waze`.
//!
//! Input is the reassembled start of the server's byte stream: TLS records (RFC 5246 §6.2.1)
//! carrying ServerHello then Certificate (§7.4.2: u24 list, u24 length + DER per certificate).
//! The DER walk (X.690 §8.1) reads only tags and lengths: Certificate → tbsCertificate → `[3]`
//! extensions → the extension with OID 2.5.29.17 → GeneralNames, `[2]` = dNSName (RFC 5280
//! §4.2.1.6). TLS 1.3 encrypts the certificate: a ChangeCipherSpec or application-data record
//! before it ends the search.

use crate::dissect::{Probe, Reader};
use crate::hosts::HostApp;
use crate::reassembly::MAX_HANDSHAKE_BYTES;

const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CERTIFICATE: u8 = 11;
/// Records walked before giving up (ServerHello and Certificate come first).
const MAX_RECORDS: usize = 8;
/// Handshake messages walked per record.
const MAX_MESSAGES: usize = 8;
/// DER elements walked per level (a tbsCertificate has ten at most, extensions a few dozen).
const MAX_ELEMENTS: usize = 64;
/// DER of OID 2.5.29.17 (subjectAltName).
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// GeneralName dNSName: `[2] IMPLICIT IA5String`.
const TAG_DNS_NAME: u8 = 0x82;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_EXTENSIONS: u8 = 0xa3;
const TAG_OID: u8 = 0x06;
const TAG_OCTET_STRING: u8 = 0x04;

/// The first certificate's DER bytes from the start of a server stream. `NoMatch` when the stream
/// is not TLS, the certificate is encrypted (TLS 1.3) or spans records (not followed here).
pub fn first_certificate(data: &[u8]) -> Probe<&[u8]> {
    let mut r = Reader::new(data);
    for _ in 0..MAX_RECORDS {
        let (Some(ct), Some(_version), Some(len)) = (r.u8(), r.u16(), r.u16()) else {
            return Probe::NeedMore;
        };
        // ChangeCipherSpec (TLS 1.3 compatibility), alert or application data: no clear certificate.
        if ct != CONTENT_HANDSHAKE {
            return Probe::NoMatch;
        }
        let len = usize::from(len);
        let complete = r.len() >= len;
        let record = if complete {
            r.take(len).unwrap_or(&[])
        } else {
            r.rest()
        };
        match certificate_in_record(record) {
            Probe::Match(cert) => return Probe::Match(cert),
            Probe::NeedMore if !complete => return Probe::NeedMore,
            // A message crossing a record boundary: not reassembled here.
            Probe::NeedMore => return Probe::NoMatch,
            Probe::NoMatch if !complete => return Probe::NeedMore,
            Probe::NoMatch => {}
        }
    }
    Probe::NoMatch
}

/// Walks the handshake messages of one record; `NoMatch` when none is a Certificate.
fn certificate_in_record(record: &[u8]) -> Probe<&[u8]> {
    let mut r = Reader::new(record);
    for _ in 0..MAX_MESSAGES {
        if r.is_empty() {
            return Probe::NoMatch;
        }
        let (Some(t), Some(len)) = (r.u8(), r.u24()) else {
            return Probe::NeedMore;
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if t == HANDSHAKE_CERTIFICATE {
            let (Some(_list), Some(cert_len)) = (r.u24(), r.u24()) else {
                return Probe::NeedMore;
            };
            let cert_len = usize::try_from(cert_len).unwrap_or(usize::MAX);
            return match r.take(cert_len) {
                Some(cert) => Probe::Match(cert),
                None => Probe::NeedMore,
            };
        }
        if r.skip(len).is_none() {
            return Probe::NeedMore;
        }
    }
    Probe::NoMatch
}

/// One DER element: (tag, contents, rest). Only definite lengths up to 3 bytes (DER, X.690 §10.1).
fn der(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let mut r = Reader::new(data);
    let tag = r.u8()?;
    let first = r.u8()?;
    let len = match first {
        0..=0x7f => usize::from(first),
        0x81 => usize::from(r.u8()?),
        0x82 => usize::from(r.u16()?),
        0x83 => usize::try_from(r.u24()?).ok()?,
        _ => return None,
    };
    let body = r.take(len)?;
    Some((tag, body, r.rest()))
}

/// The contents of the certificate's subjectAltName GeneralNames, if it has one.
pub fn subject_alt_names(cert: &[u8]) -> Option<&[u8]> {
    let (TAG_SEQUENCE, cert_body, _) = der(cert)? else {
        return None;
    };
    let (TAG_SEQUENCE, tbs, _) = der(cert_body)? else {
        return None;
    };
    let mut rest = tbs;
    for _ in 0..MAX_ELEMENTS {
        let (tag, body, next) = der(rest)?;
        rest = next;
        if tag != TAG_EXTENSIONS {
            continue;
        }
        let (TAG_SEQUENCE, mut exts, _) = der(body)? else {
            return None;
        };
        for _ in 0..MAX_ELEMENTS {
            let (_, ext, next) = der(exts)?;
            exts = next;
            let (TAG_OID, oid, mut fields) = der(ext)? else {
                continue;
            };
            if oid != OID_SAN {
                continue;
            }
            // Skip the optional `critical` BOOLEAN up to the OCTET STRING.
            for _ in 0..2 {
                let (tag, value, next) = der(fields)?;
                if tag == TAG_OCTET_STRING {
                    let (TAG_SEQUENCE, names, _) = der(value)? else {
                        return None;
                    };
                    return Some(names);
                }
                fields = next;
            }
            return None;
        }
        return None;
    }
    None
}

/// The certificate's subject Name (RFC 5280 §4.1.2.6): the contents of the SEQUENCE after
/// version, serialNumber, signature, issuer and validity in tbsCertificate.
pub fn subject(cert: &[u8]) -> Option<&[u8]> {
    let (TAG_SEQUENCE, cert_body, _) = der(cert)? else {
        return None;
    };
    let (TAG_SEQUENCE, tbs, _) = der(cert_body)? else {
        return None;
    };
    let mut rest = tbs;
    // signature, issuer, validity, then subject: the fourth SEQUENCE.
    let mut sequences = 0usize;
    for _ in 0..MAX_ELEMENTS {
        let (tag, body, next) = der(rest)?;
        rest = next;
        if tag == TAG_SEQUENCE {
            sequences = sequences.saturating_add(1);
            if sequences == 4 {
                return Some(body);
            }
        }
    }
    None
}

/// The attributes of a Name (RDNSequence: SETs of SEQUENCE { OID, string }) that nDPI prints,
/// as (short name, value) in certificate order: C, ST, L, O, OU, CN (id-at 2.5.4.x).
pub fn name_attributes(name: &[u8]) -> impl Iterator<Item = (&'static str, &[u8])> {
    const TAG_SET: u8 = 0x31;
    let mut rdns = name;
    let mut current: &[u8] = &[];
    std::iter::from_fn(move || {
        for _ in 0..MAX_ELEMENTS {
            if current.is_empty() {
                let (tag, body, next) = der(rdns)?;
                rdns = next;
                if tag != TAG_SET {
                    continue;
                }
                current = body;
            }
            let Some((TAG_SEQUENCE, atv, next)) = der(current) else {
                current = &[];
                continue;
            };
            current = next;
            let Some((TAG_OID, oid, value)) = der(atv) else {
                continue;
            };
            let Some((_, value, _)) = der(value) else {
                continue;
            };
            let short = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x06] => "C",
                [0x55, 0x04, 0x07] => "L",
                [0x55, 0x04, 0x08] => "ST",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                _ => continue,
            };
            return Some((short, value));
        }
        None
    })
    .take(MAX_ELEMENTS)
}

/// The dNSName entries of a GeneralNames body, in order.
pub fn dns_names(names: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = names;
    std::iter::from_fn(move || {
        for _ in 0..MAX_ELEMENTS {
            let (tag, body, next) = der(rest)?;
            rest = next;
            if tag == TAG_DNS_NAME {
                return Some(body);
            }
        }
        None
    })
    .take(MAX_ELEMENTS)
}

/// The follow-up of TLS without an application (the engine's `FollowUp::Certificate`): the
/// application named by the server's first certificate in `data` (the reassembled start of the
/// server's stream), the subject first as nDPI's `tls.c` walks it (subject DN, then the
/// subjectAltName dNSNames through `lookup`). `NeedMore` while the certificate is still arriving
/// within `MAX_HANDSHAKE_BYTES`; `Match(None)` when it names nothing or cannot be read.
pub fn app_of_first_certificate(
    data: &[u8],
    lookup: impl Fn(&[u8]) -> Option<HostApp>,
) -> Probe<Option<HostApp>> {
    match first_certificate(data) {
        Probe::Match(cert) => Probe::Match(
            subject(cert)
                .and_then(super::cert_names::app_of_subject)
                .map(|app| HostApp { app, category: "" })
                .or_else(|| subject_alt_names(cert).and_then(|n| dns_names(n).find_map(&lookup))),
        ),
        Probe::NeedMore if data.len() < MAX_HANDSHAKE_BYTES => Probe::NeedMore,
        _ => Probe::Match(None),
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    if let Probe::Match(cert) = first_certificate(data)
        && let Some(names) = subject_alt_names(cert)
    {
        let _ = dns_names(names).count();
    }
    if let Some(names) = subject_alt_names(data) {
        let _ = dns_names(names).count();
    }
    for input in [data, subject(data).unwrap_or(&[])] {
        let _ = name_attributes(input).count();
    }
    if let Probe::Match(cert) = first_certificate(data)
        && let Some(name) = subject(cert)
    {
        let _ = super::cert_names::app_of_subject(name);
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
pub(crate) mod tests {
    use super::*;

    /// DER element with a definite length.
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        let n = body.len();
        if n < 0x80 {
            v.push(n as u8);
        } else if n < 0x100 {
            v.extend([0x81, n as u8]);
        } else {
            v.extend([0x82, (n >> 8) as u8, n as u8]);
        }
        v.extend_from_slice(body);
        v
    }

    /// A certificate shaped like X.509 v3 with a SAN of the given names (signature omitted).
    pub(crate) fn cert(names: &[&str]) -> Vec<u8> {
        let mut gn = Vec::new();
        gn.extend(tlv(0x87, &[10, 0, 0, 1])); // an iPAddress first: skipped
        for n in names {
            gn.extend(tlv(TAG_DNS_NAME, n.as_bytes()));
        }
        let san = [
            tlv(TAG_OID, OID_SAN),
            tlv(0x01, &[0xff]),
            tlv(TAG_OCTET_STRING, &tlv(TAG_SEQUENCE, &gn)),
        ]
        .concat();
        let basic = [
            tlv(TAG_OID, &[0x55, 0x1d, 0x13]),
            tlv(TAG_OCTET_STRING, &[0x30, 0]),
        ]
        .concat();
        let exts = tlv(
            TAG_EXTENSIONS,
            &tlv(
                TAG_SEQUENCE,
                &[tlv(TAG_SEQUENCE, &basic), tlv(TAG_SEQUENCE, &san)].concat(),
            ),
        );
        let tbs = [
            tlv(0xa0, &tlv(0x02, &[2])),
            tlv(0x02, &[1, 2, 3]),
            tlv(TAG_SEQUENCE, &[]),
            tlv(TAG_SEQUENCE, &[]),
            tlv(TAG_SEQUENCE, &[]),
            tlv(TAG_SEQUENCE, &[]),
            tlv(TAG_SEQUENCE, &[0u8; 300]),
            exts,
        ]
        .concat();
        tlv(TAG_SEQUENCE, &tlv(TAG_SEQUENCE, &tbs))
    }

    /// Server flight: ServerHello record, then a Certificate record.
    pub(crate) fn flight(cert: &[u8]) -> Vec<u8> {
        let hello_body = vec![3, 3].into_iter().chain([0u8; 38]).collect::<Vec<_>>();
        let mut hello = vec![2, 0, 0, hello_body.len() as u8];
        hello.extend(&hello_body);
        let mut out = vec![22, 3, 3, 0, hello.len() as u8];
        out.extend(&hello);
        let list_len = cert.len() + 3;
        let msg_len = list_len + 3;
        let mut msg = vec![HANDSHAKE_CERTIFICATE];
        msg.extend(&(msg_len as u32).to_be_bytes()[1..]);
        msg.extend(&(list_len as u32).to_be_bytes()[1..]);
        msg.extend(&(cert.len() as u32).to_be_bytes()[1..]);
        msg.extend(cert);
        out.extend([22, 3, 3]);
        out.extend((msg.len() as u16).to_be_bytes());
        out.extend(msg);
        out
    }

    #[test]
    fn names_from_a_server_flight() {
        let c = cert(&["*.webex.com", "webex.com"]);
        let f = flight(&c);
        let Probe::Match(got) = first_certificate(&f) else {
            panic!("no certificate");
        };
        assert_eq!(got, &c[..]);
        let names: Vec<&[u8]> = dns_names(subject_alt_names(got).unwrap()).collect();
        assert_eq!(names, vec![&b"*.webex.com"[..], b"webex.com"]);
    }

    #[test]
    fn every_prefix_needs_more_then_matches() {
        let c = cert(&["a.example"]);
        let f = flight(&c);
        for n in 0..f.len() {
            assert_eq!(first_certificate(&f[..n]), Probe::NeedMore, "prefix {n}");
        }
        assert!(first_certificate(&f).is_match());
    }

    #[test]
    fn tls13_and_garbage_end_the_search() {
        // ServerHello then ChangeCipherSpec: TLS 1.3's encrypted certificate.
        let mut f = flight(&cert(&["x.example"]));
        let hello_len = 5 + usize::from(f[4]);
        f.truncate(hello_len);
        f.extend([20, 3, 3, 0, 1, 1]);
        assert_eq!(first_certificate(&f), Probe::NoMatch);
        assert_eq!(first_certificate(b"HTTP/1.1 200 OK\r\n"), Probe::NoMatch);
        assert_eq!(subject_alt_names(&[0x30, 0x84, 0, 0, 0, 1]), None);
        assert_eq!(dns_names(&[0x82, 5, b'a']).count(), 0);
    }
}
