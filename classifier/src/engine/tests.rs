//! Engine tests: real recorded payloads through `classify`, reassembly, DNS cache, give-up.

use super::*;

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
    // `x.test` names no application: the server's certificate is awaited.
    assert_eq!(c.state, State::NeedMore);
    let c = e.classify(
        &mut f,
        &server(IPPROTO_TCP, 40000, 443, TLS13_FLIGHT, 5000),
        now,
    );
    assert_eq!(c.state, State::Done);
    assert_eq!(c.label(), "TLS");
    assert_eq!(c.host, "x.test");
    assert_eq!(c.confidence, Confidence::Dpi);
    assert_eq!(f.heap_bytes(), 0);
}

/// ServerHello (TLS 1.3 shape, body elided) then ChangeCipherSpec: the certificate is encrypted.
const TLS13_FLIGHT: &[u8] = &[22, 3, 3, 0, 4, 2, 0, 0, 0, 20, 3, 3, 0, 1, 1];

fn server<'a>(l4: u8, sport: u16, dport: u16, payload: &'a [u8], seq: u32) -> PacketView<'a> {
    PacketView {
        from_client: false,
        ..pkt(l4, sport, dport, payload, seq)
    }
}

#[test]
fn tls_certificate_names_give_the_app_when_the_sni_does_not() {
    use crate::dissect::tls_cert::tests::{cert, flight};
    let now = Instant::now();
    let flight = flight(&cert(&["unknown.example", "*.webex.com"]));
    let (a, b) = flight.split_at(100);
    let mut e = Engine::new(EngineConfig::default());
    let mut f = FlowState::new();
    let c = e.classify(&mut f, &pkt(IPPROTO_TCP, 40000, 443, CURL_HELLO, 1000), now);
    assert_eq!(c.state, State::NeedMore);
    let c = e.classify(&mut f, &server(IPPROTO_TCP, 40000, 443, a, 7000), now);
    assert_eq!(c.state, State::NeedMore, "certificate incomplete");
    let c = e.classify(&mut f, &server(IPPROTO_TCP, 40000, 443, b, 7100), now);
    assert_eq!((c.state, c.label().as_str()), (State::Done, "TLS.Webex"));
    assert_eq!(c.host, "x.test", "the host stays the SNI");
    // A certificate naming nothing known leaves plain TLS.
    let other = crate::dissect::tls_cert::tests::flight(&cert(&["unknown.example"]));
    let mut f = FlowState::new();
    e.classify(&mut f, &pkt(IPPROTO_TCP, 40001, 443, CURL_HELLO, 1000), now);
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
        assert_eq!(
            second.state,
            State::NeedMore,
            "reverse={reverse}: certificate awaited"
        );
        let second = e.classify(
            &mut f,
            &server(IPPROTO_TCP, 40000, 443, TLS13_FLIGHT, 1),
            now,
        );
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
    // Unknown port: Unknown.
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
        (last.state, last.label().as_str()),
        (State::GaveUp, "Unknown")
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
