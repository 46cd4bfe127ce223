//! Replays the lab recordings of `testdata/lab_*.pcap` (real programs in network namespaces, see
//! `testdata/README.md` and `testdata/record.sh`) and checks what the engine learns from their
//! payloads: TLS and QUIC server names, the HTTP host, DNS names over UDP and TCP, SSH banners and
//! BitTorrent's handshake and DHT ping. Nothing here depends on ports: every flow must be
//! classified with confidence `dpi`.

use std::path::{Path, PathBuf};

use nfguard_classifier::replay::replay_bytes;
use nfguard_classifier::{Confidence, FlowSummary, ReplayOptions, replay};
use nfguard_proto::types::{IPPROTO_TCP, IPPROTO_UDP};

/// The lab's fixed client and server addresses (`record.sh`).
const CLIENT_IP: &str = "10.77.1.2";
const SERVER_IP: &str = "10.77.2.2";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// The one flow of a lab recording (each pcap holds a single client → server flow), after
/// checking the replay saw it the right way round.
fn only_flow(name: &str) -> FlowSummary {
    let mut flows = Vec::new();
    let stats = replay(&fixture(name), &ReplayOptions::default(), |f| {
        flows.push(f.clone());
    })
    .unwrap_or_else(|e| panic!("{name}: replay failed: {e}"));
    assert!(!stats.truncated, "{name}: capture is truncated");
    assert_eq!(flows.len(), 1, "{name}: expected one flow, got {flows:#?}");
    let flow = flows.remove(0);
    assert_eq!(flow.client.ip().to_string(), CLIENT_IP, "{name}: {flow:?}");
    assert_eq!(flow.server.ip().to_string(), SERVER_IP, "{name}: {flow:?}");
    assert!(flow.packets >= 2, "{name}: {flow:?}");
    flow
}

/// The capture's first `n` packets, as a pcap of their own (classic pcap, little-endian, as
/// tcpdump writes on x86): a 24-byte file header, then per record a 16-byte header whose third
/// field is the captured length.
fn first_packets(name: &str, n: usize) -> Vec<u8> {
    let data = std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        data.get(..4),
        Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]),
        "{name}: not a LE pcap"
    );
    let mut end = 24;
    for _ in 0..n {
        let caplen = data
            .get(end + 8..end + 12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .unwrap_or_else(|| panic!("{name}: fewer than {n} packets"));
        end += 16 + usize::try_from(caplen).expect("u32 fits usize");
    }
    data.get(..end)
        .unwrap_or_else(|| panic!("{name}: record past the end"))
        .to_vec()
}

/// Replays only the first `n` packets of a fixture and asserts the engine has *not* decided the
/// flow from its payload yet: proof that the fixture really needs the later packet(s).
fn assert_undecided_after(name: &str, n: usize) {
    let mut flows = Vec::new();
    replay_bytes(&first_packets(name, n), &ReplayOptions::default(), |f| {
        flows.push(f.clone());
    })
    .unwrap_or_else(|e| panic!("{name}: replay failed: {e}"));
    assert_eq!(flows.len(), 1, "{name}: {flows:#?}");
    let flow = &flows[0];
    assert_ne!(flow.confidence, Confidence::Dpi, "{name}: {flow:?}");
    assert_eq!(flow.host, "", "{name}: {flow:?}");
}

/// Asserts the flow was classified from its payload with `label` and `host`.
fn assert_dpi(name: &str, l4: u8, label: &str, host: &str) -> FlowSummary {
    let flow = only_flow(name);
    assert_eq!(flow.l4, l4, "{name}: {flow:?}");
    assert_eq!(flow.label, label, "{name}: {flow:?}");
    assert_eq!(flow.host, host, "{name}: {flow:?}");
    assert_eq!(flow.confidence, Confidence::Dpi, "{name}: {flow:?}");
    flow
}

#[test]
fn tls_sni_youtube() {
    assert_dpi(
        "lab_tls_www_youtube_com.pcap",
        IPPROTO_TCP,
        "TLS.YouTube",
        "www.youtube.com",
    );
}

#[test]
fn tls_sni_netflix() {
    assert_dpi(
        "lab_tls_www_netflix_com.pcap",
        IPPROTO_TCP,
        "TLS.NetFlix",
        "www.netflix.com",
    );
}

#[test]
fn tls_sni_github() {
    assert_dpi(
        "lab_tls_github_com.pcap",
        IPPROTO_TCP,
        "TLS.Github",
        "github.com",
    );
}

/// `openssl s_client` with client MTU 576: the 676-byte ClientHello record arrives as a 524-byte
/// and a 152-byte segment. The SNI is in the first one, but the record is only complete with the
/// second.
#[test]
fn tls_client_hello_split_over_two_segments() {
    // SYN, SYN-ACK, ACK and the first 524-byte segment.
    assert_undecided_after("lab_tls_split_hello.pcap", 4);
    assert_dpi(
        "lab_tls_split_hello.pcap",
        IPPROTO_TCP,
        "TLS.YouTube",
        "www.youtube.com",
    );
}

/// Client MTU 512: a 252-byte server name (hello bytes 265..517) starts in the 460-byte first
/// segment and ends in the second, so only a reassembled hello yields the whole name.
#[test]
fn tls_sni_split_across_segments() {
    let sni = format!(
        "{}.{}.{}.{}.www.youtube.com",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(44)
    );
    assert_eq!(sni.len(), 252);
    assert_undecided_after("lab_tls_split_sni.pcap", 4);
    assert_dpi("lab_tls_split_sni.pcap", IPPROTO_TCP, "TLS.YouTube", &sni);
}

#[test]
fn http_host() {
    assert_dpi(
        "lab_http_www_netflix_com.pcap",
        IPPROTO_TCP,
        "HTTP.NetFlix",
        "www.netflix.com",
    );
}

#[test]
fn dns_over_udp() {
    assert_dpi(
        "lab_dns_udp.pcap",
        IPPROTO_UDP,
        "DNS.Wikipedia",
        "www.wikipedia.org",
    );
}

#[test]
fn dns_over_tcp() {
    assert_dpi("lab_dns_tcp.pcap", IPPROTO_TCP, "DNS.Github", "github.com");
}

#[test]
fn ssh_banners() {
    let flow = only_flow("lab_ssh.pcap");
    assert_eq!(flow.l4, IPPROTO_TCP, "{flow:?}");
    assert_eq!(flow.label, "SSH", "{flow:?}");
    // The host field carries the server's banner (record.sh's sshd is Debian 12's OpenSSH).
    assert!(flow.host.starts_with("SSH-2.0-OpenSSH_"), "{flow:?}");
    assert_eq!(flow.confidence, Confidence::Dpi, "{flow:?}");
}

#[test]
fn quic_h3_one_initial() {
    assert_dpi(
        "lab_quic_h3.pcap",
        IPPROTO_UDP,
        "QUIC.YouTube",
        "www.youtube.com",
    );
}

/// aioquic with 30 extra ALPN names: a ~1.6 kB ClientHello whose CRYPTO data spans two Initial
/// datagrams (the SNI is in the first, the end of the hello in the second).
#[test]
fn quic_client_hello_over_two_initials() {
    assert_undecided_after("lab_quic_two_initials.pcap", 1);
    assert_dpi(
        "lab_quic_two_initials.pcap",
        IPPROTO_UDP,
        "QUIC.NetFlix",
        "www.netflix.com",
    );
}

/// aioquic with 600 GREASE signature algorithms ahead of `server_name`: the SNI itself is only in
/// the second Initial's CRYPTO frame.
#[test]
fn quic_sni_in_second_initial() {
    assert_undecided_after("lab_quic_sni_in_second_initial.pcap", 1);
    assert_dpi(
        "lab_quic_sni_in_second_initial.pcap",
        IPPROTO_UDP,
        "QUIC.Github",
        "github.com",
    );
}

#[test]
fn bittorrent_peer_wire_handshake() {
    let flow = only_flow("lab_bittorrent_handshake.pcap");
    assert_eq!(flow.l4, IPPROTO_TCP, "{flow:?}");
    assert_eq!(flow.label, "BitTorrent", "{flow:?}");
    assert_eq!(flow.confidence, Confidence::Dpi, "{flow:?}");
}

#[test]
fn bittorrent_dht_ping() {
    let flow = only_flow("lab_bittorrent_dht_ping.pcap");
    assert_eq!(flow.l4, IPPROTO_UDP, "{flow:?}");
    assert_eq!(flow.label, "BitTorrent", "{flow:?}");
    assert_eq!(flow.confidence, Confidence::Dpi, "{flow:?}");
}

/// JA4 of each recorded TLS and QUIC ClientHello through the whole replay path, against PyPI's
/// `ja4plus` 1.4.0 on the same files (`ja4plus --format csv --types ja4 analyze FILE`). The
/// split-hello captures need reassembly; the QUIC ones decryption and, for two of them, CRYPTO
/// data from two Initials (one with 600 GREASE signature algorithms JA4 must skip).
#[test]
fn ja4_equals_ja4plus_on_recorded_hellos() {
    for (name, ja4) in [
        ("curl_tls_lo.pcap", "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6"),
        (
            "lab_tls_github_com.pcap",
            "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
        ),
        (
            "lab_tls_split_hello.pcap",
            "t13d3111h2_e8f1e7e78f70_1f22a2ca17c4",
        ),
        (
            "lab_tls_split_sni.pcap",
            "t13d871000_c66346c74e42_5ac7197df9d2",
        ),
        ("lab_quic_h3.pcap", "q13d0307h3_55b375c5d22e_1cecd519fee8"),
        (
            "lab_quic_sni_in_second_initial.pcap",
            "q13d0307h3_55b375c5d22e_1cecd519fee8",
        ),
        (
            "lab_quic_two_initials.pcap",
            "q13d0307x0_55b375c5d22e_1cecd519fee8",
        ),
    ] {
        let mut flows = Vec::new();
        replay(&fixture(name), &ReplayOptions::default(), |f| {
            flows.push(f.clone());
        })
        .unwrap_or_else(|e| panic!("{name}: replay failed: {e}"));
        let flow = flows
            .iter()
            .find(|f| f.hello.is_some())
            .unwrap_or_else(|| panic!("{name}: no flow with a JA4: {flows:#?}"));
        let hello = flow.hello.expect("checked above");
        assert_eq!(hello.ja4(), ja4, "{name}");
        assert!(!hello.ech, "{name}");
        let v: serde_json::Value = serde_json::from_str(&flow.to_json(None, None))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v["ja4"], ja4, "{name}");
        assert_eq!(v["ech"], false, "{name}");
    }
    // A flow without a ClientHello carries neither field.
    let dns = only_flow("lab_dns_udp.pcap");
    assert!(dns.hello.is_none(), "{dns:?}");
    assert!(!dns.to_json(None, None).contains("ja4"));
}
