use super::*;

fn vec8(b: &[u8]) -> Vec<u8> {
    let mut v = vec![b.len() as u8];
    v.extend_from_slice(b);
    v
}

fn vec16(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn u16s(vals: &[u16]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// A ClientHello body (RFC 8446 §4.1.2) offering `ciphers` and the extensions `exts` in that
/// order; SNI, ALPN, signature_algorithms and supported_versions get real contents.
fn hello(ciphers: &[u16], exts: &[u16], sig_algs: &[u16]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0; 32]);
    body.extend(vec8(&[]));
    body.extend(vec16(&u16s(ciphers)));
    body.extend(vec8(&[0]));
    let mut ext_bytes = Vec::new();
    for &e in exts {
        let data = match e {
            EXT_SERVER_NAME => vec16(&[vec![0], vec16(b"example.test")].concat()),
            EXT_ALPN => vec16(&[vec8(b"h2"), vec8(b"http/1.1")].concat()),
            EXT_SIGNATURE_ALGORITHMS => vec16(&u16s(sig_algs)),
            EXT_SUPPORTED_VERSIONS => vec8(&u16s(&[0x7a7a, 0x0304, 0x0303])),
            _ => Vec::new(),
        };
        ext_bytes.extend(e.to_be_bytes());
        ext_bytes.extend(vec16(&data));
    }
    body.extend(vec16(&ext_bytes));
    body
}

/// The Chrome hello of FoxIO's JA4 examples, as its raw form `JA4_r` lists it:
/// `t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,
/// 000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,4469,fe0d,ff01_0403,0804,0401,0503,0805,
/// 0501,0806,0601` → `t13d1516h2_8daaf6152771_02713d6af862`. Sent here in Chrome's shuffled
/// wire order with GREASE values, which JA4 must not see.
#[test]
fn foxio_chrome_vector() {
    let ciphers = [
        0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ];
    let exts = [
        0x8a8a, 0x0023, 0x0017, 0x001b, 0x0012, 0x000a, 0x0000, 0xfe0d, 0x4469, 0x000d, 0xff01,
        0x0005, 0x002b, 0x000b, 0x002d, 0x0010, 0x0033, 0x1a1a,
    ];
    let sigs = [
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ];
    let f = fingerprint(&hello(&ciphers, &exts, &sigs), Transport::Tcp).unwrap();
    assert_eq!(f.ja4(), "t13d1516h2_8daaf6152771_02713d6af862");
    assert!(f.ech);
    // The same hello without ECH, over QUIC: the same lists, another `a` and `c`.
    let no_ech: Vec<u16> = exts.iter().copied().filter(|&e| e != 0xfe0d).collect();
    let f = fingerprint(&hello(&ciphers, &no_ech, &sigs), Transport::Quic).unwrap();
    assert!(
        f.ja4().starts_with("q13d1515h2_8daaf6152771_"),
        "{}",
        f.ja4()
    );
    assert_ne!(f.ja4(), "q13d1515h2_8daaf6152771_02713d6af862");
    assert!(!f.ech);
}

/// The curl ClientHello recorded on loopback (`testdata/tls_client_hello_curl.bin`); the
/// expected value is what PyPI's `ja4plus` 1.4.0 computes on the same client's capture
/// `testdata/curl_tls_lo.pcap` (`ja4plus --format csv --types ja4 analyze curl_tls_lo.pcap`).
#[test]
fn curl_hello_matches_ja4plus() {
    let rec = include_bytes!("../../../../testdata/tls_client_hello_curl.bin");
    let f = fingerprint(&rec[9..], Transport::Tcp).unwrap();
    assert_eq!(f.ja4(), "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6");
    assert!(!f.ech);
}

/// No SNI, no ALPN, no extensions at all (a TLS 1.0 hello): `i`, `00`, the zero hash.
#[test]
fn bare_hello() {
    let mut body = vec![3, 1];
    body.extend_from_slice(&[0; 32]);
    body.extend(vec8(&[]));
    body.extend(vec16(&u16s(&[0x002f, 0x0035])));
    body.extend(vec8(&[0]));
    let f = fingerprint(&body, Transport::Tcp).unwrap();
    assert!(f.ja4().starts_with("t10i020000_"), "{}", f.ja4());
    assert!(f.ja4().ends_with("_000000000000"), "{}", f.ja4());
    // No ciphers either.
    let f = fingerprint(&hello(&[], &[EXT_SERVER_NAME], &[]), Transport::Tcp).unwrap();
    assert_eq!(f.ja4(), "t12d000100_000000000000_000000000000");
}

#[test]
fn alpn_end_characters() {
    assert_eq!(&alpn_chars(b"h2"), b"h2");
    assert_eq!(&alpn_chars(b"http/1.1"), b"h1");
    assert_eq!(&alpn_chars(b"x"), b"xx");
    assert_eq!(&alpn_chars(&[0xba, 0xad]), b"99");
    assert_eq!(&alpn_chars(&[b'h', 0x1f]), b"99");
    assert_eq!(&alpn_chars(b""), b"00");
}

#[test]
fn truncated_hellos_are_none_and_never_panic() {
    let rec = include_bytes!("../../../../testdata/tls_client_hello_curl.bin");
    let body = &rec[9..];
    for n in 0..body.len() {
        let _ = fingerprint(&body[..n], Transport::Tcp);
    }
    assert!(fingerprint(&body[..40], Transport::Tcp).is_none());
    // More cipher suites than the stack buffer holds: no fingerprint rather than a wrong one.
    let many: Vec<u16> = (1..=300).collect();
    assert!(fingerprint(&hello(&many, &[], &[]), Transport::Tcp).is_none());
}

/// The record and handshake shells: a whole ClientHello record gives the body's fingerprint, a
/// ServerHello, another content type or a handshake longer than its record none.
#[test]
fn record_and_handshake_shells() {
    use crate::dissect::testutil::tls_record;
    let body = hello(
        &[0x1301],
        &[EXT_SERVER_NAME, EXT_ENCRYPTED_CLIENT_HELLO],
        &[],
    );
    let mut msg = vec![HANDSHAKE_CLIENT_HELLO, 0];
    msg.extend((body.len() as u16).to_be_bytes());
    msg.extend(&body);
    let f = of_record(&tls_record(&msg)).unwrap();
    assert_eq!(Some(f), fingerprint(&body, Transport::Tcp));
    assert!(f.ech);
    assert_eq!(
        of_handshake(&msg, Transport::Quic).map(|f| f.ja4().as_bytes()[0]),
        Some(b'q')
    );
    let mut server = msg.clone();
    server[0] = 2;
    assert_eq!(of_record(&tls_record(&server)), None);
    let mut app_data = tls_record(&msg);
    app_data[0] = 23;
    assert_eq!(of_record(&app_data), None);
    // The record ends before the handshake message does (a hello split over records).
    let split = tls_record(&msg[..msg.len() - 10]);
    assert_eq!(of_record(&split), None);
}
