//! RFC 9001 Appendix A vectors: keys, header protection, the client Initial (protected here from
//! the RFC's plaintext, then checked against the RFC's protected header, sample and final bytes),
//! and the server Initial of A.3 decrypted byte for byte.

use super::*;
use crate::dissect::ids;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const DCID: &str = "8394c8f03e515708";
/// A.2: the CRYPTO frame carrying the ClientHello (SNI example.com), padded to 1162 bytes.
const CLIENT_PAYLOAD: &str = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868
    04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578
    616d706c652e636f6dff01000100000a00080006001d00170018001000070005
    04616c706e000500050100000000003300260024001d00209370b2c9caa47fba
    baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400
    0d0010000e0403050306030203080408050806002d00020101001c0002400100
    3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000
    75300901100f088394c8f03e51570806048000ffff";
const CLIENT_UNPROTECTED_HEADER: &str = "c300000001088394c8f03e5157080000449e00000002";
const CLIENT_PROTECTED_HEADER: &str = "c000000001088394c8f03e5157080000449e7b9aec34";
const CLIENT_SAMPLE: &str = "d1b1c98dd7689fb8ec11d242b123dc9b";
const CLIENT_SUFFIX: &str = "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241
    e221af44860018ab0856972e194cd934";
/// A.3: the server Initial and its plaintext.
const SERVER_PACKET: &str = "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a
    5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3
    dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84
    022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4
    2158407dd074ee";
const SERVER_PAYLOAD: &str = "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739
    88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94
    0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00
    020304";

/// Protects a client Initial the way RFC 9001 A.2 does (test-side inverse of `decrypt_initial`).
fn protect_client(header: &[u8], payload: &[u8], pn: u64, pn_offset: usize) -> Vec<u8> {
    let keys = initial_keys(Version::V1, &SALT_V1, &hex(DCID), false).unwrap();
    let mut nonce = keys.iv;
    for (n, p) in nonce.iter_mut().rev().zip(pn.to_be_bytes().iter().rev()) {
        *n ^= p;
    }
    let mut body = payload.to_vec();
    let tag = Aes128Gcm::new(GenericArray::from_slice(&keys.key))
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), header, &mut body)
        .unwrap();
    body.extend_from_slice(&tag);
    let mut packet = header.to_vec();
    packet.extend_from_slice(&body);
    let mask = hp_mask(&keys.hp, &packet[pn_offset + 4..pn_offset + 20]).unwrap();
    let pn_len = usize::from(packet[0] & 3) + 1;
    packet[0] ^= mask[0] & 0x0f;
    for i in 0..pn_len {
        packet[pn_offset + i] ^= mask[1 + i];
    }
    packet
}

fn rfc_client_initial() -> Vec<u8> {
    let mut payload = hex(CLIENT_PAYLOAD);
    payload.resize(1162, 0);
    protect_client(&hex(CLIENT_UNPROTECTED_HEADER), &payload, 2, 18)
}

#[test]
fn rfc9001_a1_keys() {
    let c = initial_keys(Version::V1, &SALT_V1, &hex(DCID), false).unwrap();
    assert_eq!(c.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
    assert_eq!(c.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
    assert_eq!(c.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
    let s = initial_keys(Version::V1, &SALT_V1, &hex(DCID), true).unwrap();
    assert_eq!(s.key.to_vec(), hex("cf3a5331653c364c88f0f379b6067e37"));
    assert_eq!(s.iv.to_vec(), hex("0ac1493ca1905853b0bba03e"));
    assert_eq!(s.hp.to_vec(), hex("c206b8d9b9f0f37644430b490eeaa314"));
    assert_eq!(
        hp_mask(&c.hp, &hex(CLIENT_SAMPLE)).unwrap()[..5].to_vec(),
        hex("437b9aec36")
    );
}

#[test]
fn rfc9001_a2_client_initial_gives_sni() {
    let packet = rfc_client_initial();
    assert_eq!(packet.len(), 1200);
    assert_eq!(packet[..22].to_vec(), hex(CLIENT_PROTECTED_HEADER));
    assert_eq!(packet[22..38].to_vec(), hex(CLIENT_SAMPLE));
    assert!(packet.ends_with(&hex(CLIENT_SUFFIX)));
    let ctx = Ctx::client(17, 40000, 443);
    let (mut crypto, mut scratch) = (None, Vec::new());
    let Probe::Match(h) = probe(&ctx, &packet, &mut crypto, &mut scratch) else {
        panic!("no match");
    };
    assert_eq!(h.sni, b"example.com");
    assert_eq!(h.version, V1);
    // One flipped ciphertext bit fails authentication: not QUIC we can read.
    let mut bad = packet.clone();
    bad[600] ^= 1;
    let (mut crypto, mut scratch) = (None, Vec::new());
    assert_eq!(probe(&ctx, &bad, &mut crypto, &mut scratch), Probe::NoMatch);
    let _ = ids::QUIC;
}

#[test]
fn rfc9001_a3_server_initial_decrypts() {
    let packet = hex(SERVER_PACKET);
    let keys = initial_keys(Version::V1, &SALT_V1, &hex(DCID), true).unwrap();
    // Reuse the receive path with server keys: header protection then AEAD.
    let pn_offset = 18;
    let mask = hp_mask(&keys.hp, &packet[pn_offset + 4..pn_offset + 20]).unwrap();
    assert_eq!(mask[..5].to_vec(), hex("2ec0d8356a"));
    let first = packet[0] ^ (mask[0] & 0x0f);
    let pn_len = usize::from(first & 3) + 1;
    let mut header = packet[..pn_offset + pn_len].to_vec();
    header[0] = first;
    let mut pn = 0u64;
    for i in 0..pn_len {
        header[pn_offset + i] ^= mask[1 + i];
        pn = (pn << 8) | u64::from(header[pn_offset + i]);
    }
    assert_eq!(pn, 1);
    let mut nonce = keys.iv;
    nonce[11] ^= 1;
    let body = &packet[pn_offset + pn_len..];
    let (ct, tag) = body.split_at(body.len() - 16);
    let mut out = ct.to_vec();
    Aes128Gcm::new(GenericArray::from_slice(&keys.key))
        .decrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &header,
            &mut out,
            Tag::from_slice(tag),
        )
        .unwrap();
    assert_eq!(out, hex(SERVER_PAYLOAD));
}

#[test]
fn crypto_frames_split_across_initials_out_of_order() {
    // The RFC ClientHello cut in two CRYPTO frames, each in its own Initial, sent in reverse order.
    let frame = hex(CLIENT_PAYLOAD);
    let hello = &frame[4..]; // after type 0x06, offset 0x00, length 0x40f1
    let (a, b) = hello.split_at(100);
    let mut second = vec![0x06, 0x40, 100, 0x40 | (b.len() >> 8) as u8, b.len() as u8];
    second.extend_from_slice(b);
    second.resize(1162, 0);
    let mut first = vec![0x06, 0x00, 0x40, a.len() as u8];
    first.extend_from_slice(a);
    first.resize(1162, 0);
    let header = hex(CLIENT_UNPROTECTED_HEADER);
    let p2 = protect_client(&header, &second, 2, 18);
    let mut h1 = header.clone();
    h1[21] = 3; // packet number 3
    let p1 = protect_client(&h1, &first, 3, 18);
    let ctx = Ctx::client(17, 40000, 443);
    let (mut crypto, mut scratch) = (None, Vec::new());
    assert_eq!(probe(&ctx, &p2, &mut crypto, &mut scratch), Probe::NeedMore);
    let Probe::Match(h) = probe(&ctx, &p1, &mut crypto, &mut scratch) else {
        panic!("no match after both halves")
    };
    assert_eq!(h.sni, b"example.com");
}

#[test]
fn every_prefix_of_an_initial_is_not_a_match() {
    // A cut datagram never decrypts; it must not panic either.
    let packet = rfc_client_initial();
    let ctx = Ctx::client(17, 40000, 443);
    for n in 0..packet.len() {
        let (mut crypto, mut scratch) = (None, Vec::new());
        assert_eq!(
            probe(&ctx, &packet[..n], &mut crypto, &mut scratch),
            Probe::NoMatch,
            "{n}"
        );
    }
}

/// Issue #20: a client Initial whose ClientHello (built from the spec, `testutil`) carries a
/// malformed SNI — too long, a NUL, upper case and a trailing dot — gives that SNI as sent.
#[test]
fn malformed_sni_in_an_initial_is_kept_as_sent() {
    use crate::dissect::testutil::client_hello_message;
    let long = format!("{}.example-video.test", "a".repeat(300));
    for sni in [
        long.as_bytes(),
        b"x\0.evil.example-video.test",
        b"WWW.Example-Video.TEST.",
    ] {
        let msg = client_hello_message(sni);
        let mut payload = vec![0x06, 0x00, 0x40 | (msg.len() >> 8) as u8, msg.len() as u8];
        payload.extend_from_slice(&msg);
        payload.resize(1162, 0);
        let packet = protect_client(&hex(CLIENT_UNPROTECTED_HEADER), &payload, 2, 18);
        let ctx = Ctx::client(17, 40000, 443);
        let (mut crypto, mut scratch) = (None, Vec::new());
        let Probe::Match(h) = probe(&ctx, &packet, &mut crypto, &mut scratch) else {
            panic!("no match for {sni:?}");
        };
        assert_eq!(h.sni, sni);
    }
}

#[test]
fn google_versions_are_the_deployed_tags_only() {
    for tag in [*b"Q024", *b"Q039", *b"Q046", *b"Q050", *b"T050", *b"T051"] {
        let v = u32::from_be_bytes(tag);
        assert_eq!(Version::from_u32(v), Version::Google(v), "{tag:?}");
    }
    for tag in [
        *b"Q\xff\x00\x01",
        *b"Q060",
        *b"T046",
        *b"Q1x6",
        *b"Q04a",
        *b"R046",
    ] {
        let v = u32::from_be_bytes(tag);
        assert_eq!(Version::from_u32(v), Version::Unknown(v), "{tag:?}");
    }
}

/// A scan's random datagram with the long-header bits set and a `Q`/`T` first version byte is
/// not QUIC (the loose version test took one in 512 such datagrams; flows_on_record saw it).
#[test]
fn random_long_header_datagrams_are_not_quic() {
    let ctx = Ctx::client(17, 41000, 9);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut claimed = 0;
    for round in 0..20_000u32 {
        let mut data = [0u8; 32];
        for b in &mut data {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state.to_le_bytes()[0];
        }
        data[0] |= 0xc0;
        data[1] = if round % 2 == 0 { b'Q' } else { b'T' };
        let (mut crypto, mut scratch) = (None, Vec::new());
        if probe(&ctx, &data, &mut crypto, &mut scratch) != Probe::NoMatch {
            claimed += 1;
        }
    }
    assert_eq!(claimed, 0, "random datagrams taken for QUIC");
}
