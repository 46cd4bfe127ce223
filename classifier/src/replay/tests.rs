//! Replay of captures recorded here on loopback (tcpdump -w, Ethernet link type): curl against
//! openssl s_server, and dig against a stub resolver. The same packets are re-encoded as
//! big-endian pcap, pcapng, raw-IP, SLL, SLL2 and null link types to test every reader path.

use super::*;

const CURL_TLS: &[u8] = include_bytes!("../../testdata/curl_tls_lo.pcap");
const DIG_DNS: &[u8] = include_bytes!("../../testdata/dig_dns_lo.pcap");

fn run(data: &[u8]) -> (Vec<FlowSummary>, ReplayStats) {
    let mut out = vec![];
    let stats = replay_bytes(data, &ReplayOptions::default(), |f| out.push(f.clone())).unwrap();
    (out, stats)
}

/// One pcap record: (seconds, microseconds, bytes).
type Record = (u32, u32, Vec<u8>);

/// (header, records) of a little-endian pcap.
fn split_pcap(data: &[u8]) -> (Vec<u8>, Vec<Record>) {
    let mut recs = vec![];
    let mut at = 24;
    while at + 16 <= data.len() {
        let r = |i: usize| u32::from_le_bytes(data[at + i..at + i + 4].try_into().unwrap());
        let (sec, us, incl) = (r(0), r(4), r(8) as usize);
        recs.push((sec, us, data[at + 16..at + 16 + incl].to_vec()));
        at += 16 + incl;
    }
    (data[..24].to_vec(), recs)
}

fn pcap_with(
    link: u32,
    big: bool,
    recs: &[(u32, u32, Vec<u8>)],
    map: impl Fn(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = vec![];
    out.extend_from_slice(&w32(0xa1b2_c3d4));
    out.extend_from_slice(&w16(2));
    out.extend_from_slice(&w16(4));
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&w32(65535));
    out.extend_from_slice(&w32(link));
    for (s, u, frame) in recs {
        let f = map(frame);
        out.extend_from_slice(&w32(*s));
        out.extend_from_slice(&w32(*u));
        out.extend_from_slice(&w32(f.len() as u32));
        out.extend_from_slice(&w32(f.len() as u32));
        out.extend_from_slice(&f);
    }
    out
}

fn pcapng(recs: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![];
    let block = |out: &mut Vec<u8>, ty: u32, body: &[u8]| {
        let mut b = body.to_vec();
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
        let len = (12 + b.len()) as u32;
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&b);
        out.extend_from_slice(&len.to_le_bytes());
    };
    let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = vec![1, 0, 0, 0];
    idb.extend_from_slice(&65535u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for (s, u, f) in recs {
        let ts = u64::from(*s) * 1_000_000 + u64::from(*u);
        let mut epb = vec![0, 0, 0, 0];
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(f);
        block(&mut out, 6, &epb);
    }
    out
}

fn check_tls(flows: &[FlowSummary]) {
    assert_eq!(flows.len(), 1, "{flows:?}");
    let f = &flows[0];
    assert_eq!(f.label, "TLS");
    assert_eq!(f.host, "x.test");
    assert_eq!(f.server.port(), 4433);
    assert_eq!(f.confidence, Confidence::Dpi);
    assert!(f.packets > 5);
}

#[test]
fn curl_tls_every_format_and_link_type() {
    let (flows, stats) = run(CURL_TLS);
    check_tls(&flows);
    assert!(!stats.truncated);
    let (_, recs) = split_pcap(CURL_TLS);
    let eth = |f: &[u8]| f.to_vec();
    let raw = |f: &[u8]| f[14..].to_vec();
    let sll = |f: &[u8]| {
        let mut v = vec![0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        v.extend_from_slice(&f[14..]);
        v
    };
    let sll2 = |f: &[u8]| {
        let mut v = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        v.extend_from_slice(&f[14..]);
        v
    };
    let null = |f: &[u8]| {
        let mut v = 2u32.to_le_bytes().to_vec();
        v.extend_from_slice(&f[14..]);
        v
    };
    let vlan = |f: &[u8]| {
        // QinQ: 802.1ad outer tag, 802.1Q inner tag.
        let mut v = f[..12].to_vec();
        v.extend_from_slice(&[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14]);
        v.extend_from_slice(&f[12..]);
        v
    };
    for big in [false, true] {
        check_tls(&run(&pcap_with(1, big, &recs, eth)).0);
    }
    check_tls(&run(&pcap_with(101, false, &recs, raw)).0);
    check_tls(&run(&pcap_with(228, false, &recs, raw)).0);
    check_tls(&run(&pcap_with(113, false, &recs, sll)).0);
    check_tls(&run(&pcap_with(276, false, &recs, sll2)).0);
    check_tls(&run(&pcap_with(0, false, &recs, null)).0);
    check_tls(&run(&pcap_with(1, true, &recs, vlan)).0);
    let ng: Vec<_> = recs.iter().map(|(s, u, f)| (*s, *u, f.clone())).collect();
    check_tls(&run(&pcapng(&ng)).0);
}

#[test]
fn dig_dns_udp_and_tcp() {
    let (flows, _) = run(DIG_DNS);
    // Port 5353 in this recording (a stub resolver), so the master is MDNS by port; the names
    // still come from the payload.
    let hosts: Vec<_> = flows
        .iter()
        .map(|f| (f.l4, f.host.as_str(), f.app.name()))
        .collect();
    assert!(
        hosts.contains(&(17, "www.youtube.com", "YouTube")),
        "{hosts:?}"
    );
    assert!(
        hosts.contains(&(6, "www.google.com", "Google")),
        "{hosts:?}"
    );
}

#[test]
fn truncated_tail_keeps_flows_and_flags() {
    let cut = &CURL_TLS[..CURL_TLS.len() - 7];
    let (flows, stats) = run(cut);
    assert!(stats.truncated);
    check_tls(&flows);
}

#[test]
fn not_a_capture_is_an_error() {
    assert!(
        replay_bytes(
            b"hello world, not a pcap",
            &ReplayOptions::default(),
            |_| {}
        )
        .is_err()
    );
    let err = replay(
        Path::new("/nonexistent/x.pcap"),
        &ReplayOptions::default(),
        |_| {},
    );
    assert!(matches!(err, Err(ReplayError::Io { .. })));
}

#[test]
fn ipv4_fragments_are_reassembled() {
    // A UDP DNS query split into two IPv4 fragments (offset 0 with MF, then offset 16).
    let q = include_bytes!("../../testdata/dns_query_udp.bin");
    let mut udp = vec![0x9e, 0xd7, 0x00, 0x35];
    udp.extend_from_slice(&((8 + q.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(q);
    let ip = |payload: &[u8], off: u16, mf: bool| {
        let mut h = vec![
            0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 8, 8, 8, 8,
        ];
        h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        let fo = (off / 8) | if mf { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&fo.to_be_bytes());
        h.extend_from_slice(payload);
        h
    };
    let recs = vec![
        (1, 0, ip(&udp[..16], 0, true)),
        (1, 1, ip(&udp[16..], 16, false)),
    ];
    let (flows, stats) = run(&pcap_with(101, false, &recs, |f| f.to_vec()));
    assert_eq!(stats.fragments_reassembled, 1);
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].label, "DNS.YouTube");
    assert_eq!(flows[0].client.port(), 0x9ed7);
}

#[test]
fn json_line_matches_design() {
    let f = FlowSummary {
        l4: 6,
        client: "10.0.0.2:51000".parse().unwrap(),
        server: "[2001:db8::1]:443".parse().unwrap(),
        master: AppId(91),
        app: AppId(124),
        label: "TLS.YouTube".into(),
        category: "Media",
        confidence: Confidence::Dpi,
        host: "www.youtube.com".into(),
        risks: Risks::NONE,
        hello: None,
        packets: 12,
        bytes: 5120,
    };
    assert_eq!(
        f.to_json(Some("accept"), None),
        r#"{"l4":"TCP","src":"10.0.0.2:51000","dst":"[2001:db8::1]:443","label":"TLS.YouTube","master":"TLS","app":"YouTube","app_id":124,"master_id":91,"category":"Media","confidence":"dpi","host":"www.youtube.com","packets":12,"bytes":5120,"verdict":"accept","rule":null}"#
    );
    let dns = FlowSummary {
        master: AppId(5),
        app: AppId(5),
        label: "DNS".into(),
        host: "a\"b".into(),
        ..f
    };
    let j = dns.to_json(None, Some("r1"));
    assert!(
        j.contains(r#""master":"DNS","app":"DNS","app_id":5,"master_id":5"#),
        "{j}"
    );
    assert!(
        j.contains(r#""host":"a\"b""#) && j.ends_with(r#""verdict":null,"rule":"r1"}"#),
        "{j}"
    );
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["label"], "DNS");
    assert!(v.get("risks").is_none(), "{j}");
    let mut risky = dns.clone();
    risky.risks.insert(Risks::CLEAR_TEXT_CREDENTIALS);
    risky.risks.insert(Risks::SUSPICIOUS_DGA_DOMAIN);
    let v: serde_json::Value = serde_json::from_str(&risky.to_json(None, None)).unwrap();
    assert_eq!(
        v["risks"],
        serde_json::json!(["ndpi_clear_text_credentials", "ndpi_suspicious_dga_domain"])
    );
}

#[test]
fn portless_protocols_use_ndpi_names() {
    assert_eq!(nfguard_proto::types::l4_name(2), "IGMP");
    assert_eq!(nfguard_proto::types::l4_name(50), "ESP");
    assert_eq!(nfguard_proto::types::l4_name(51), "AH");
    assert_eq!(nfguard_proto::types::l4_name(47), "GRE");
    assert_eq!(nfguard_proto::types::l4_name(6), "TCP");
    assert_eq!(nfguard_proto::types::l4_name(132), "SCTP");
    assert_eq!(nfguard_proto::types::l4_name(200), "200");
}

#[test]
fn gre_keeps_the_outer_flow_and_emits_the_inner_one() {
    // The recorded DNS query inside IPv4/UDP, inside PPTP's enhanced GRE (PPP), inside IPv4.
    let q = include_bytes!("../../testdata/dns_query_udp.bin");
    let mut udp = vec![0x9e, 0xd7, 0x00, 0x35];
    udp.extend_from_slice(&((8 + q.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(q);
    let ipv4 = |proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]| {
        let mut h = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
        h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h.extend_from_slice(payload);
        h
    };
    let inner = ipv4(17, [192, 168, 10, 2], [192, 168, 103, 40], &udp);
    let mut gre = vec![0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
    gre.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
    gre.extend_from_slice(&inner);
    let outer = ipv4(47, [109, 105, 228, 253], [10, 177, 98, 84], &gre);
    let (flows, _) = run(&pcap_with(101, false, &[(1, 0, outer)], |f| f.to_vec()));
    let got: Vec<_> = flows
        .iter()
        .map(|f| (f.l4, f.client.to_string(), f.label.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (47, "109.105.228.253:0".to_string(), "GRE"),
            (17, "192.168.10.2:40663".to_string(), "DNS.YouTube"),
        ]
    );
}
