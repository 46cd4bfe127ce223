//! Engine tests: real recorded payloads through `classify`, reassembly, DNS cache, give-up.

use super::*;
use crate::dissect::dtls;
use crate::stun_cache::STUN_EXTRA_PACKETS;
use nfguard_proto::types::IPPROTO_ICMP;

const CURL_HELLO: &[u8] = include_bytes!("../../testdata/tls_client_hello_curl.bin");
const DIG_QUERY: &[u8] = include_bytes!("../../testdata/dns_query_udp.bin");
const DIG_ANSWER: &[u8] = include_bytes!("../../testdata/dns_answer_udp.bin");

fn pkt<'a>(l4: u8, sport: u16, dport: u16, payload: &'a [u8], seq: u32) -> PacketView<'a> {
    PacketView {
        l4,
        client: SocketAddr::from(([10, 0, 0, 2], sport)),
        server: SocketAddr::from(([142, 250, 1, 1], dport)),
        from_client: true,
        payload,
        tcp_seq: seq,
        tcp_syn: false,
    }
}

/// The recorded hello with its SNI rewritten to `www.youtube.com` is not possible without
/// re-encoding lengths, so YouTube is tested through HTTP and DNS; TLS gives `x.test`.
#[test]
fn tls_hello_in_one_segment() {
    let mut e = Engine::new(EngineConfig::default());
    let mut f = FlowState::new();
    let now = Instant::now();
    let c = e.classify(&mut f, &pkt(IPPROTO_TCP, 40000, 443, CURL_HELLO, 1000), now);
    // With an SNI the ClientHello decides, before the server answers.
    assert_eq!(c.state, State::Done, "{c:?}");
    assert_eq!(c.label(), "TLS");
    assert_eq!(c.host, "x.test");
    assert_eq!(c.confidence, Confidence::Dpi);
    assert_eq!(f.heap_bytes(), 0);
}

/// Issue #19: the deciding ClientHello's JA4 (PyPI `ja4plus` 1.4.0's value for this curl) and
/// ECH flag reach the wire form.
#[test]
fn tls_hello_carries_ja4_to_pb() {
    let mut e = Engine::new(EngineConfig::default());
    let mut f = FlowState::new();
    let c = e.classify(
        &mut f,
        &pkt(IPPROTO_TCP, 40000, 443, CURL_HELLO, 1000),
        Instant::now(),
    );
    let pb = c.to_pb();
    assert_eq!(pb.ja4, "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6");
    assert!(!pb.ech);
}

/// Issue #20: malformed server names through the engine — the host shown escaped and bounded,
/// the app found from the valid suffix, the risk named — for TLS and HTTP alike.
#[test]
fn malformed_server_names_are_escaped_matched_and_flagged() {
    use crate::dissect::testutil::{client_hello_message, tls_record};
    use crate::risks::Risks;
    let long = format!("{}.www.youtube.com", "a".repeat(300));
    let cases: [(&[u8], &str, Risks); 3] = [
        (
            b"x\0.www.youtube.com",
            "x\\x00.www.youtube.com",
            Risks::INVALID_CHARACTERS,
        ),
        (long.as_bytes(), long.as_str(), Risks::MALFORMED_PACKET),
        (b"WWW.YouTube.COM.", "WWW.YouTube.COM.", Risks::NONE),
    ];
    let now = Instant::now();
    for (raw, text, risk) in cases {
        let mut e = Engine::new(EngineConfig::default());
        let hello = tls_record(&client_hello_message(raw));
        let http = [&b"GET / HTTP/1.1\r\nHost: "[..], raw, b"\r\n\r\n"].concat();
        for (payload, port, label) in [(&hello, 443, "TLS.YouTube"), (&http, 80, "HTTP.YouTube")] {
            let mut f = FlowState::new();
            let c = e.classify(&mut f, &pkt(IPPROTO_TCP, 40000, port, payload, 1), now);
            assert_eq!(
                (c.label(), c.state),
                (label.to_string(), State::Done),
                "{text}"
            );
            assert_eq!(c.host, text);
            assert!(c.risks.contains(risk), "{text}: {:?}", c.risks);
            assert_eq!(
                c.risks.contains(Risks::INVALID_CHARACTERS),
                risk == Risks::INVALID_CHARACTERS
            );
        }
    }
}

fn server<'a>(l4: u8, sport: u16, dport: u16, payload: &'a [u8], seq: u32) -> PacketView<'a> {
    PacketView {
        from_client: false,
        ..pkt(l4, sport, dport, payload, seq)
    }
}

fn be16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

fn put16(b: &mut [u8], at: usize, v: usize) {
    b[at..at + 2].copy_from_slice(&u16::try_from(v).unwrap().to_be_bytes());
}

/// The recorded curl hello without its server_name extension (record, handshake and extension
/// lengths rewritten): what an SNI-less client sends.
fn hello_without_sni() -> Vec<u8> {
    let h = CURL_HELLO;
    // record(5) handshake(4) version(2) random(32)
    let mut at = 5 + 4 + 2 + 32;
    at += 1 + usize::from(h[at]); // session id
    at += 2 + be16(h, at); // cipher suites
    at += 1 + usize::from(h[at]); // compression methods
    let ext_len_at = at;
    let (mut out, mut i) = (h[..at + 2].to_vec(), at + 2);
    let end = i + be16(h, ext_len_at);
    while i < end {
        let (ty, len) = (be16(h, i), be16(h, i + 2));
        if ty != 0 {
            out.extend_from_slice(&h[i..i + 4 + len]);
        }
        i += 4 + len;
    }
    let removed = h.len() - out.len();
    put16(&mut out, ext_len_at, be16(h, ext_len_at) - removed);
    put16(&mut out, 3, be16(h, 3) - removed);
    let hs_len = (usize::from(h[6]) << 16 | be16(h, 7)) - removed;
    out[6] = u8::try_from(hs_len >> 16).unwrap();
    put16(&mut out, 7, hs_len & 0xffff);
    out
}

#[test]
fn tls_certificate_names_give_the_app_when_there_is_no_sni() {
    use crate::dissect::tls::certificate::tests::{cert, flight};
    let now = Instant::now();
    let hello = hello_without_sni();
    let flight = flight(&cert(&["unknown.example", "*.webex.com"]));
    let (a, b) = flight.split_at(100);
    let mut e = Engine::new(EngineConfig::default());
    let mut f = FlowState::new();
    let c = e.classify(&mut f, &pkt(IPPROTO_TCP, 40000, 443, &hello, 1000), now);
    assert_eq!(
        c.state,
        State::NeedMore,
        "no SNI: the certificate is awaited"
    );
    let c = e.classify(&mut f, &server(IPPROTO_TCP, 40000, 443, a, 7000), now);
    assert_eq!(c.state, State::NeedMore, "certificate incomplete");
    let c = e.classify(&mut f, &server(IPPROTO_TCP, 40000, 443, b, 7100), now);
    assert_eq!((c.state, c.label().as_str()), (State::Done, "TLS.Webex"));
    assert_eq!(c.host, "");
    // A certificate naming nothing known leaves plain TLS.
    let other = crate::dissect::tls::certificate::tests::flight(&cert(&["unknown.example"]));
    let mut f = FlowState::new();
    e.classify(&mut f, &pkt(IPPROTO_TCP, 40001, 443, &hello, 1000), now);
    let c = e.classify(&mut f, &server(IPPROTO_TCP, 40001, 443, &other, 1), now);
    assert_eq!((c.state, c.label().as_str()), (State::Done, "TLS"));
}

#[test]
fn tls_hello_split_across_two_segments_and_out_of_order() {
    let now = Instant::now();
    for reverse in [false, true] {
        let mut e = Engine::new(EngineConfig::default());
        let mut f = FlowState::new();
        let mut syn = pkt(IPPROTO_TCP, 40000, 443, &[], 999);
        syn.tcp_syn = true;
        assert_eq!(e.classify(&mut f, &syn, now).state, State::NeedMore);
        let (a, b) = CURL_HELLO.split_at(200);
        let segs = if reverse {
            [
                pkt(IPPROTO_TCP, 40000, 443, b, 1200),
                pkt(IPPROTO_TCP, 40000, 443, a, 1000),
            ]
        } else {
            [
                pkt(IPPROTO_TCP, 40000, 443, a, 1000),
                pkt(IPPROTO_TCP, 40000, 443, b, 1200),
            ]
        };
        let first = e.classify(&mut f, &segs[0], now);
        assert_eq!(first.state, State::NeedMore, "reverse={reverse}");
        assert!(f.heap_bytes() > 0, "reassembling");
        let second = e.classify(&mut f, &segs[1], now);
        assert_eq!(second.state, State::Done, "reverse={reverse}");
        assert_eq!(second.host, "x.test");
        assert_eq!(f.heap_bytes(), 0, "nothing kept after DONE");
    }
}

#[test]
fn http_host_gives_app_and_category() {
    let mut e = Engine::new(EngineConfig::default());
    let mut f = FlowState::new();
    let req = b"GET / HTTP/1.1\r\nHost: www.youtube.com\r\nUser-Agent: curl/7.88.1\r\n\r\n";
    let c = e.classify(&mut f, &pkt(IPPROTO_TCP, 40000, 80, req, 1), Instant::now());
    assert_eq!(c.label(), "HTTP.YouTube");
    assert_eq!(c.category, "Media");
}

#[test]
fn dns_query_answer_then_cache_classifies_next_flow() {
    let mut e = Engine::new(EngineConfig::default());
    let now = Instant::now();
    let mut f = FlowState::new();
    let q = pkt(IPPROTO_UDP, 40663, 53, DIG_QUERY, 0);
    let c = e.classify(&mut f, &q, now);
    assert_eq!(c.state, State::NeedMore, "waits for the answer");
    let mut a = pkt(IPPROTO_UDP, 40663, 53, DIG_ANSWER, 0);
    a.from_client = false;
    let c = e.classify(&mut f, &a, now);
    assert_eq!(c.state, State::Done);
    assert_eq!(c.label(), "DNS.YouTube");
    assert_eq!(c.host, "www.youtube.com");
    assert_eq!(e.dns_cache().len(), 1);
    // A later flow to 142.250.1.1 with an unknown protocol: classified on its first packet.
    let mut g = FlowState::new();
    let c = e.classify(
        &mut g,
        &pkt(IPPROTO_TCP, 41000, 5000, b"\x00\x01opaque", 1),
        now,
    );
    assert_eq!(c.state, State::Done);
    assert_eq!(c.app.name(), "YouTube");
    assert_eq!(c.confidence, Confidence::DpiCache);
}

/// A DNS response for `name` → 142.250.1.1 (the test server), as a resolver sends it.
fn dns_answer(name: &str) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m.extend_from_slice(&[
        0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 142, 250, 1, 1,
    ]);
    m
}

/// Issue #19: a name of no known application is cached too, and a later flow that names no host
/// itself carries it (host lists match the DNS name of the destination); it classifies nothing.
#[test]
fn dns_name_of_the_server_is_the_host_of_a_nameless_flow() {
    let mut e = Engine::new(EngineConfig {
        max_dpi_packets: 2,
        ..EngineConfig::default()
    });
    let now = Instant::now();
    let mut f = FlowState::new();
    let answer = dns_answer("ads.tracker.example.test");
    let mut a = pkt(IPPROTO_UDP, 40663, 53, &answer, 0);
    a.from_client = false;
    e.classify(&mut f, &pkt(IPPROTO_UDP, 40663, 53, DIG_QUERY, 0), now);
    e.classify(&mut f, &a, now);
    assert_eq!(
        e.dns_cache()
            .get(&a.server.ip(), now)
            .map(|c| (&*c.name, c.app)),
        Some(("ads.tracker.example.test", AppId::UNKNOWN))
    );
    let mut g = FlowState::new();
    let mut last = Classification::default();
    for i in 0..2u32 {
        last = e.classify(
            &mut g,
            &pkt(IPPROTO_TCP, 41000, 5000, b"\x00\x01opaque", 1 + i * 8),
            now,
        );
    }
    assert_eq!(last.state, State::GaveUp);
    assert_ne!(
        last.confidence,
        Confidence::DpiCache,
        "a name of no app classifies nothing"
    );
    assert_eq!(last.host, "ads.tracker.example.test");
    // A flow with its own name keeps it.
    let mut h = FlowState::new();
    let c = e.classify(&mut h, &pkt(IPPROTO_TCP, 40000, 443, CURL_HELLO, 1000), now);
    assert_eq!(c.host, "x.test");
}

#[test]
fn gives_up_after_max_packets_with_port_guess() {
    let mut e = Engine::new(EngineConfig {
        max_dpi_packets: 3,
        ..EngineConfig::default()
    });
    let mut f = FlowState::new();
    let now = Instant::now();
    let mut states = vec![];
    for i in 0..3u32 {
        let c = e.classify(
            &mut f,
            &pkt(IPPROTO_TCP, 40000, 3306, b"\x01\x02\x03zz", 1 + i * 5),
            now,
        );
        states.push((c.state, c.confidence, c.label()));
    }
    assert_eq!(states[0].0, State::NeedMore);
    assert_eq!(
        states[2],
        (State::GaveUp, Confidence::Port, "MySQL".to_string())
    );
    // Unknown port: the server address (142.250.0.0/15 is in nDPI's Google list, `ip_lists.rs`).
    let mut g = FlowState::new();
    let mut last = Classification::default();
    for i in 0..3u32 {
        last = e.classify(
            &mut g,
            &pkt(IPPROTO_TCP, 40000, 45678, b"zzzz", 1 + i * 4),
            now,
        );
    }
    assert_eq!(
        (last.state, last.confidence, last.label().as_str()),
        (State::GaveUp, Confidence::Ip, "Google")
    );
}

#[test]
fn icmp_is_known_from_the_header() {
    let mut e = Engine::new(EngineConfig::default());
    let mut f = FlowState::new();
    let p = pkt(IPPROTO_ICMP, 0, 0, &[8, 0, 0, 0], 0);
    assert_eq!(e.classify(&mut f, &p, Instant::now()).label(), "ICMP");
}

#[test]
fn state_sizes() {
    let flow = std::mem::size_of::<FlowState>();
    let dpi = std::mem::size_of::<Dpi>();
    println!("size_of FlowState = {flow} B, boxed Dpi = {dpi} B");
    assert!(flow <= 16, "{flow}");
    assert!(dpi <= 512, "{dpi}");
}

/// A STUN message: binding request (or 401 error response) with the given attributes.
fn stun_msg(msg_type: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (ty, v) in attrs {
        body.extend_from_slice(&ty.to_be_bytes());
        body.extend_from_slice(&u16::try_from(v.len()).unwrap().to_be_bytes());
        body.extend_from_slice(v);
        body.resize(body.len().div_ceil(4) * 4, 0);
    }
    let mut m = msg_type.to_be_bytes().to_vec();
    m.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    m.extend_from_slice(&[7; 12]);
    m.extend_from_slice(&body);
    m
}

/// Plain STUN waits a few packets for the realm; the realm's application then labels the other
/// STUN flows of the same client socket from the cache (nDPI's stun_cache).
#[test]
fn stun_realm_in_a_later_message_and_cache_for_the_same_socket() {
    let mut e = Engine::new(EngineConfig::default());
    let now = Instant::now();
    let request = stun_msg(0x0001, &[(0x8022, b"client")]);
    let unauthorized = stun_msg(0x0111, &[(0x0014, b"signal.org")]);
    let mut turn = FlowState::new();
    let c = e.classify(&mut turn, &pkt(IPPROTO_UDP, 40000, 3478, &request, 0), now);
    assert_eq!(c.state, State::NeedMore, "{c:?}");
    let c = e.classify(
        &mut turn,
        &server(IPPROTO_UDP, 40000, 3478, &unauthorized, 0),
        now,
    );
    assert_eq!(
        (c.state, c.label().as_str()),
        (State::Done, "STUN.SignalVoip")
    );
    assert_eq!(c.confidence, Confidence::Dpi);

    // Same client socket, another server (a public STUN server): plain STUN until given up.
    let mut other = FlowState::new();
    let mut p = pkt(IPPROTO_UDP, 40000, 19302, &request, 0);
    p.server = SocketAddr::from(([172, 253, 1, 1], 19302));
    let mut last = Classification::default();
    for _ in 0..=STUN_EXTRA_PACKETS {
        last = e.classify(&mut other, &p, now);
        if last.state != State::NeedMore {
            break;
        }
    }
    assert_eq!(last.label(), "STUN.SignalVoip", "{last:?}");
    assert_eq!(last.confidence, Confidence::DpiCache);

    // Another client socket learns nothing from it.
    let mut third = FlowState::new();
    let p = pkt(IPPROTO_UDP, 40001, 19302, &request, 0);
    assert_eq!(e.classify(&mut third, &p, now).state, State::NeedMore);
    let c = e.finish(&mut third, &p, now);
    assert_eq!(
        (c.label().as_str(), c.confidence),
        ("STUN", Confidence::Dpi)
    );
}

/// STUN over TCP decides at once (later segments are not STUN-framed); over UDP, datagrams that
/// are not STUN (media) only count down the extra packets and never relabel the flow.
#[test]
fn stun_extra_packets_only_over_udp_and_media_does_not_relabel() {
    let mut e = Engine::new(EngineConfig::default());
    let now = Instant::now();
    let request = stun_msg(0x0001, &[(0x8022, b"client")]);
    let mut tcp = FlowState::new();
    let c = e.classify(&mut tcp, &pkt(IPPROTO_TCP, 40002, 3478, &request, 1), now);
    assert_eq!((c.state, c.label().as_str()), (State::Done, "STUN"));

    let mut udp = FlowState::new();
    let p = pkt(IPPROTO_UDP, 40003, 3478, &request, 0);
    assert_eq!(e.classify(&mut udp, &p, now).state, State::NeedMore);
    // An RTP-looking datagram (version 2, PT 0) on the same flow.
    let media = [0x80, 0, 0, 1, 0, 0, 0, 0xa0, 1, 2, 3, 4, 0xff, 0xff];
    let m = pkt(IPPROTO_UDP, 40003, 3478, &media, 0);
    let mut last = Classification::default();
    for _ in 0..STUN_EXTRA_PACKETS {
        last = e.classify(&mut udp, &m, now);
        if last.state != State::NeedMore {
            break;
        }
    }
    assert_eq!((last.state, last.label().as_str()), (State::Done, "STUN"));
}

/// The SMTP exchange of nDPI's smtp-starttls.pcap, one packet per line, through the engine.
fn smtp_session(e: &mut Engine, lines: &[(bool, &[u8])]) -> Vec<Classification> {
    let mut f = FlowState::new();
    let now = Instant::now();
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    let mut out = vec![];
    for &(from_client, line) in lines {
        let p = if from_client {
            cseq = cseq.wrapping_add(line.len() as u32);
            pkt(IPPROTO_TCP, 57406, 25, line, cseq - line.len() as u32)
        } else {
            sseq = sseq.wrapping_add(line.len() as u32);
            server(IPPROTO_TCP, 57406, 25, line, sseq - line.len() as u32)
        };
        out.push(e.classify(&mut f, &p, now));
    }
    out
}

#[test]
fn smtp_starttls_is_smtps_once_the_server_accepts() {
    let mut e = Engine::new(EngineConfig::default());
    let lines: &[(bool, &[u8])] = &[
        (
            false,
            b"220 mx.google.com ESMTP s4si9696358qcc.63 - gsmtp\r\n",
        ),
        (true, b"EHLO xxxxxxxxxxxxx.xxx.com\r\n"),
        (
            false,
            b"250-mx.google.com at your service\r\n250-STARTTLS\r\n250 CHUNKING\r\n",
        ),
        (true, b"STARTTLS\r\n"),
        (false, b"220 2.0.0 Ready to start TLS\r\n"),
    ];
    let out = smtp_session(&mut e, lines);
    // Undecided until the server's answer to STARTTLS, then SMTPS named from the greeting host.
    assert!(
        out[..4].iter().all(|c| c.state == State::NeedMore),
        "{out:?}"
    );
    let last = &out[4];
    assert_eq!(last.state, State::Done);
    assert_eq!(last.master, ids::MAIL_SMTPS);
    assert_eq!(last.host, "mx.google.com");
    assert_eq!(last.label(), "SMTPS.Google");
}

#[test]
fn plain_smtp_decides_on_the_first_clear_text_command() {
    let mut e = Engine::new(EngineConfig::default());
    let lines: &[(bool, &[u8])] = &[
        (false, b"220 mail.example.org ESMTP Postfix\r\n"),
        (true, b"EHLO client.example\r\n"),
        (false, b"250 mail.example.org\r\n"),
        (true, b"MAIL FROM:<a@example.org>\r\n"),
    ];
    let out = smtp_session(&mut e, lines);
    assert_eq!(out[2].state, State::NeedMore);
    assert_eq!(out[3].state, State::Done);
    assert_eq!(out[3].label(), "SMTP");
    // A refused STARTTLS is plain SMTP too.
    let refused: &[(bool, &[u8])] = &[
        (false, b"220 mail.example.org ESMTP\r\n"),
        (true, b"STARTTLS\r\n"),
        (false, b"454 4.7.0 TLS not available\r\n"),
    ];
    let out = smtp_session(&mut e, refused);
    assert_eq!((out[2].state, out[2].master), (State::Done, ids::MAIL_SMTP));
    // Neutral commands only: the watch ends after crate::dissect::mail::starttls::WATCH_PACKETS with plain SMTP.
    let mut idle: Vec<(bool, &[u8])> = vec![(false, b"220 mail.example.org ESMTP\r\n")];
    idle.extend(std::iter::repeat_n(
        (true, &b"NOOP\r\n"[..]),
        crate::dissect::mail::starttls::WATCH_PACKETS.into(),
    ));
    let out = smtp_session(&mut e, &idle);
    let n = out.len();
    assert!(out[..n - 1].iter().all(|c| c.state == State::NeedMore));
    assert_eq!(
        (out[n - 1].state, out[n - 1].master),
        (State::Done, ids::MAIL_SMTP)
    );
}

/// A DTLS ClientHello after the binding request relabels the STUN flow DTLS at once (nDPI's
/// stun.c), as in stun.pcap's Google Meet flow; without one it stays STUN (test above).
#[test]
fn dtls_handshake_after_stun_is_dtls() {
    let mut e = Engine::new(EngineConfig::default());
    let now = Instant::now();
    let request = stun_msg(0x0001, &[(0x8022, b"client")]);
    let mut udp = FlowState::new();
    let p = pkt(IPPROTO_UDP, 40004, 3478, &request, 0);
    assert_eq!(e.classify(&mut udp, &p, now).state, State::NeedMore);
    let mut hello = vec![22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 24];
    hello.extend_from_slice(&[1, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 12]);
    hello.extend_from_slice(&[0xfe, 0xfd]);
    hello.extend_from_slice(&[0xaa; 10]);
    let c = e.classify(&mut udp, &pkt(IPPROTO_UDP, 40004, 3478, &hello, 0), now);
    assert_eq!((c.state, c.label().as_str()), (State::Done, "DTLS"));
    // The same record on a flow that is not STUN is a plain DTLS flow (tls.c
    // `ndpi_search_tls_udp`), not QUIC by the port.
    for port in [5000, 443] {
        let mut plain = FlowState::new();
        let c = e.classify(&mut plain, &pkt(IPPROTO_UDP, 40005, port, &hello, 0), now);
        assert_eq!((c.master, c.app), (dtls::DTLS, dtls::DTLS), "{port}");
    }
}
