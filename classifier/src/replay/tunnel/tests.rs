//! Each tunnel is built by hand around one inner IPv4/UDP packet; decapsulation must return
//! exactly that packet, reject near misses, and survive every prefix.

use super::*;

/// IPv4/UDP 10.0.0.2:40000 -> 10.0.0.1:53 with a 4-byte payload.
fn inner() -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
    ];
    p.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4]);
    p
}

fn eth(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// (name, IP protocol, tunnel payload) for every shape decoded.
fn cases() -> Vec<(&'static str, u8, Vec<u8>)> {
    let ip = inner();
    // PPTP enhanced GRE as gre.pcap carries it: K, S, A set, version 1, PPP 0x880b.
    let gre_v1 = cat(&[
        &[0x30, 0x81, 0x88, 0x0b, 0x01, 0x4a, 0x98, 0x50],
        &[0, 0, 0, 0x6a, 0, 0, 0, 0x8c],
        &[0xff, 0x03, 0x00, 0x21],
        &ip,
    ]);
    let gre_v0_key = cat(&[&[0x20, 0x00, 0x08, 0x00, 0, 0, 0, 7], &ip]);
    let gre_teb = cat(&[&[0x00, 0x00, 0x65, 0x58], &eth(&ip)]);
    let erspan2 = cat(&[
        &[0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1],
        &[0x10, 0, 0, 1, 0, 0, 0, 0],
        &eth(&ip),
    ]);
    let erspan3 = cat(&[
        &[0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 1],
        &[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
        &[0; 8],
        &eth(&ip),
    ]);
    // CAPWAP data as capwap.pcap carries it: HLEN 4 (16 bytes), 802.11 FC byte-swapped.
    let mut wlan = vec![0x01, 0x08, 0x2c, 0x00];
    wlan.extend_from_slice(&[0x11; 20]);
    wlan.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
    let capwap = udp(
        12380,
        5247,
        &cat(&[
            &[0x00, 0x20, 0x43, 0x20],
            &[0; 4],
            &[0x01, 0x04, 0xed, 0x4d],
            &[0; 4],
            &wlan,
            &ip,
        ]),
    );
    let vxlan = udp(
        50000,
        4789,
        &cat(&[&[0x08, 0, 0, 0, 0, 0, 0x2a, 0], &eth(&ip)]),
    );
    let tzsp = udp(
        50000,
        37008,
        &cat(&[&[1, 0, 0, 1], &[0, 10, 4, 1, 2, 3, 4, 1], &eth(&ip)]),
    );
    // GTP-U with S set and one 4-byte extension (PDU session container 0x85).
    let gtp = udp(
        2152,
        2152,
        &cat(&[
            &[0x36, 0xff, 0, 40, 0, 0, 0, 1],
            &[0, 0, 0, 0x85],
            &[1, 0x10, 0x01, 0x00],
            &ip,
        ]),
    );
    vec![
        ("gre v1 ppp", 47, gre_v1),
        ("gre v0 key", 47, gre_v0_key),
        ("gre teb", 47, gre_teb),
        ("erspan ii", 47, erspan2),
        ("erspan iii", 47, erspan3),
        ("capwap", 17, capwap),
        ("vxlan", 17, vxlan),
        ("tzsp", 17, tzsp),
        ("gtp-u", 17, gtp),
    ]
}

#[test]
fn every_tunnel_yields_the_inner_packet() {
    let ip = inner();
    for (name, proto, b) in cases() {
        assert_eq!(inner_ip(proto, &b), Some(ip.as_slice()), "{name}");
    }
}

#[test]
fn every_prefix_is_safe_and_short_headers_give_nothing() {
    for (name, proto, b) in cases() {
        for n in 0..=b.len() {
            let got = inner_ip(proto, &b[..n]);
            // A result is always a suffix of the input, and never before the tunnel header ends.
            if let Some(g) = got {
                assert!(b[..n].ends_with(g), "{name} {n}");
                assert!(n - g.len() >= 4, "{name} {n}");
            }
        }
    }
}

#[test]
fn near_misses_are_not_tunnels() {
    let ip = inner();
    // GRE: routing bit, reserved bits, version 2, v1 without key or not PPP, v0 with ack.
    for flags in [0x4000u16, 0x0008, 0x0002, 0x1001, 0x0080] {
        let mut b = flags.to_be_bytes().to_vec();
        b.extend_from_slice(&[0x08, 0x00]);
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&ip);
        assert_eq!(inner_ip(47, &b), None, "{flags:#x}");
    }
    // An unknown GRE payload type and a PPP frame carrying LCP.
    assert_eq!(inner_ip(47, &cat(&[&[0, 0, 0x12, 0x34], &ip])), None);
    let lcp = cat(&[
        &[0x30, 0x01, 0x88, 0x0b, 0, 4, 0, 1, 0, 0, 0, 1],
        &[0xff, 0x03, 0xc0, 0x21],
        &ip,
    ]);
    assert_eq!(inner_ip(47, &lcp), None);
    // The same bytes on a port that is not a tunnel, and CAPWAP with the DTLS preamble.
    let (_, _, capwap) = cases().into_iter().find(|c| c.0 == "capwap").unwrap();
    let mut other = capwap.clone();
    other[2..4].copy_from_slice(&5248u16.to_be_bytes());
    assert_eq!(inner_ip(17, &other), None);
    let mut dtls = capwap.clone();
    dtls[8] = 0x01;
    assert_eq!(inner_ip(17, &dtls), None);
    // VXLAN without the I flag; TCP is never a tunnel here.
    let vx = udp(1, 4789, &cat(&[&[0, 0, 0, 0, 0, 0, 0x2a, 0], &eth(&ip)]));
    assert_eq!(inner_ip(17, &vx), None);
    assert_eq!(inner_ip(6, &vx), None);
    // A payload that does not start like IP is refused even when the header is right.
    let junk = cat(&[&[0x00, 0x00, 0x08, 0x00], &[0x00; 20]]);
    assert_eq!(inner_ip(47, &junk), None);
}
