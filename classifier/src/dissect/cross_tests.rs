//! Cross-protocol false-positive tests: on an inline firewall a weak signature steals other
//! protocols' flows, and the corpus test only sees the corpus. Every dissector in [`DISSECTORS`]
//! gets the first packets of the well-known protocols (real recordings from `testdata/`) and
//! random bytes, on random high ports, and only the right dissector may match.
#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use super::{Ctx, DISSECTORS, Probe, ids};
use nfguard_proto::AppId;
use nfguard_proto::types::{IPPROTO_TCP, IPPROTO_UDP};

/// High ports no dissector lists as its own.
const CLIENT_PORT: u16 = 40312;
const SERVER_PORT: u16 = 47123;

const TLS_CLIENT_HELLO: &[u8] = include_bytes!("../../testdata/tls_client_hello_curl.bin");
const TLS_SERVER_HELLO: &[u8] = include_bytes!("../../testdata/tls_server_hello.bin");
const DNS_QUERY: &[u8] = include_bytes!("../../testdata/dns_query_udp.bin");
const DNS_ANSWER: &[u8] = include_bytes!("../../testdata/dns_answer_udp.bin");
const SSH_BANNER: &[u8] = include_bytes!("../../testdata/ssh_client_banner.bin");
/// aioquic's first QUIC v1 Initial datagram from `lab_quic_h3.pcap`.
const QUIC_INITIAL: &[u8] = include_bytes!("../../testdata/quic_initial_lab.bin");
const HTTP_GET: &[u8] =
    b"GET /watch HTTP/1.1\r\nHost: www.youtube.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
const HTTP_POST: &[u8] =
    b"POST /api/v1/items HTTP/1.1\r\nHost: example.org\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
/// Recorded from real clients on loopback (`testdata/README.md`).
const SMB1_NEGOTIATE: &[u8] = include_bytes!("../../testdata/smb1_negotiate_curl_lo.bin");
const LDAP_BIND: &[u8] = include_bytes!("../../testdata/ldap_bind_curl_lo.bin");
const GIT_UPLOAD_PACK: &[u8] = include_bytes!("../../testdata/git_upload_pack_lo.bin");
/// `openssl s_client -dtls1_2`'s first ClientHello (`testdata/README.md`).
const DTLS_CLIENT_HELLO: &[u8] = include_bytes!("../../testdata/dtls_client_hello_openssl_lo.bin");
/// `curl --http2-prior-knowledge`'s first segment (`testdata/README.md`).
const H2C_PRIOR_KNOWLEDGE: &[u8] = include_bytes!("../../testdata/h2c_prior_knowledge_curl_lo.bin");
/// impacket's DCE/RPC bind to EPM over TCP (`testdata/README.md`).
const DCERPC_BIND: &[u8] = include_bytes!("../../testdata/dcerpc_bind_impacket_lo.bin");
/// `openvpn --tls-auth … --auth SHA384`'s first datagram (`testdata/README.md`).
const OPENVPN_RESET: &[u8] = include_bytes!("../../testdata/openvpn_reset_tls_auth_sha384_lo.bin");
/// mcstatus's RakNet Unconnected Ping to a Minecraft Bedrock server.
const RAKNET_PING: &[u8] = include_bytes!("../../testdata/raknet_ping_mcstatus_lo.bin");
// Industrial and enterprise first packets (issue #15 part C): asyncua's recorded OPC UA Hello,
// the rest built from their specs (each dissector's tests say which section).
/// asyncua 2.1's Hello (`testdata/README.md`).
const OPC_UA_HELLO: &[u8] = include_bytes!("../../testdata/opcua_hello_asyncua_lo.bin");
const ZABBIX_REQUEST: &[u8] =
    b"ZBXD\x01\x1b\x00\x00\x00\x00\x00\x00\x00{\"request\":\"active checks\"}";
const FIX_LOGON: &[u8] =
    b"8=FIX.4.4\x019=65\x0135=A\x0149=CLIENT\x0156=BROKER\x0134=1\x0198=0\x01108=30\x0110=062\x01";
const GIOP_LOCATE: &[u8] = b"GIOP\x01\x02\x00\x03\x00\x00\x00\x10\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x04NS\x00\x00";
const DRDA_EXCSAT: &[u8] = &[
    0x00, 0x13, 0xd0, 0x41, 0x00, 0x01, 0x00, 0x0d, 0x10, 0x41, 0x00, 0x09, 0x11, 0x5e, 0x84, 0x85,
    0x99, 0x82, 0xa8,
];
const BACNET_WHO_IS: &[u8] = &[
    0x81, 0x0b, 0x00, 0x0c, 0x01, 0x20, 0xff, 0xff, 0x00, 0xff, 0x10, 0x08,
];
const FINS_READ_DM: &[u8] = &[
    0x80, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x0a, 0x00, 0x11, 0x01, 0x01, 0x82, 0x00, 0x64, 0x00,
    0x00, 0x01,
];
const DLMS_SNRM: &[u8] = &[0x7e, 0xa0, 0x07, 0x03, 0x21, 0x93, 0x0f, 0x01, 0x7e];
/// Text first lines a server or client may send on any port.
const SMTP_BANNER: &[u8] = b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n";
const PLAIN_TEXT: &[u8] = b"hello, this is a line of plain text\r\n";
const JSON_LINE: &[u8] = b"{\"id\":1,\"op\":\"subscribe\",\"args\":[\"trades\"]}\n";
const HTTP_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n";

/// One first packet and the protocols allowed to claim it.
struct Sample {
    what: &'static str,
    l4: u8,
    from_client: bool,
    data: &'static [u8],
    allowed: &'static [AppId],
    /// The server port: a high one, or the protocol's own where its dissector requires it (DNS).
    server_port: u16,
}

fn samples() -> Vec<Sample> {
    let tcp = IPPROTO_TCP;
    let udp = IPPROTO_UDP;
    let s = |what, l4, from_client, data, allowed| Sample {
        what,
        l4,
        from_client,
        data,
        allowed,
        server_port: SERVER_PORT,
    };
    let dns = |what, from_client, data| Sample {
        server_port: 53,
        ..s(what, udp, from_client, data, &[ids::DNS])
    };
    vec![
        s("TLS ClientHello", tcp, true, TLS_CLIENT_HELLO, &[ids::TLS]),
        s("TLS ServerHello", tcp, false, TLS_SERVER_HELLO, &[ids::TLS]),
        s("HTTP GET", tcp, true, HTTP_GET, &[ids::HTTP]),
        s("HTTP POST", tcp, true, HTTP_POST, &[ids::HTTP]),
        s("HTTP response", tcp, false, HTTP_RESPONSE, &[ids::HTTP]),
        s("SSH banner", tcp, true, SSH_BANNER, &[ids::SSH]),
        dns("DNS query", true, DNS_QUERY),
        dns("DNS answer", false, DNS_ANSWER),
        s("QUIC Initial", udp, true, QUIC_INITIAL, &[]),
        s(
            "HTTP/2 preface",
            tcp,
            true,
            H2C_PRIOR_KNOWLEDGE,
            &[ids::HTTP2],
        ),
        s("OpenVPN reset", udp, true, OPENVPN_RESET, &[ids::OPENVPN]),
        s("DCE/RPC bind", tcp, true, DCERPC_BIND, &[ids::DCERPC]),
        s(
            "DTLS ClientHello",
            udp,
            true,
            DTLS_CLIENT_HELLO,
            &[ids::DTLS],
        ),
        s(
            "SMB1 negotiate",
            tcp,
            true,
            SMB1_NEGOTIATE,
            &[ids::NETBIOS, ids::SMBV1],
        ),
        s("LDAP bind", tcp, true, LDAP_BIND, &[ids::LDAP]),
        s("git upload-pack", tcp, true, GIT_UPLOAD_PACK, &[ids::GIT]),
        s(
            "RakNet unconnected ping",
            udp,
            true,
            RAKNET_PING,
            &[ids::RAKNET],
        ),
        // Industrial and enterprise (issue #15 part C), on high ports.
        s("OPC UA Hello", tcp, true, OPC_UA_HELLO, &[ids::OPC_UA]),
        s("Zabbix request", tcp, true, ZABBIX_REQUEST, &[ids::ZABBIX]),
        s("FIX logon", tcp, true, FIX_LOGON, &[ids::FIX]),
        s("GIOP LocateRequest", tcp, true, GIOP_LOCATE, &[ids::CORBA]),
        s("DRDA EXCSAT", tcp, true, DRDA_EXCSAT, &[ids::DRDA]),
        s("BACnet Who-Is", udp, true, BACNET_WHO_IS, &[ids::BACNET]),
        // ICF 0x80 is also RTP's version 2: RTP is tried last (WEAK_BY_DESIGN), after FINS.
        s("FINS read", udp, true, FINS_READ_DM, &[ids::FINS, ids::RTP]),
        s("DLMS SNRM", udp, true, DLMS_SNRM, &[ids::IEC62056]),
        s("SMTP banner", tcp, false, SMTP_BANNER, &[ids::MAIL_SMTP]),
        s("plain text line", tcp, true, PLAIN_TEXT, &[]),
        s("plain text reply", tcp, false, PLAIN_TEXT, &[]),
        s("JSON line", tcp, true, JSON_LINE, &[]),
        s("plain text datagram", udp, true, PLAIN_TEXT, &[]),
    ]
}

fn ctx(l4: u8, from_client: bool, server_port: u16) -> Ctx {
    Ctx {
        from_client,
        ..Ctx::client(l4, CLIENT_PORT, server_port)
    }
}

/// Every stateless dissector that claims `data`, with the id it claims.
fn claims(ctx: &Ctx, data: &[u8]) -> Vec<(&'static str, AppId)> {
    DISSECTORS
        .iter()
        .filter(|d| d.applies(ctx))
        .filter_map(|d| match (d.probe)(ctx, data) {
            Probe::Match(h) => Some((d.name, h.master)),
            _ => None,
        })
        .collect()
}

#[test]
fn every_dissector_rejects_the_first_packets_of_other_well_known_protocols() {
    let mut wrong = Vec::new();
    for s in samples() {
        let c = ctx(s.l4, s.from_client, s.server_port);
        let claimed = claims(&c, s.data);
        // The right dissector must claim it, or the table tests nothing.
        if !s.allowed.is_empty() && claimed.is_empty() {
            wrong.push(format!("nobody claims the {}", s.what));
        }
        for (name, master) in claimed {
            if !s.allowed.contains(&master) {
                wrong.push(format!("{name} claims the {} as {master:?}", s.what));
            }
        }
    }
    assert!(wrong.is_empty(), "false positives:\n{}", wrong.join("\n"));
}

/// xorshift64*: a fixed-seed generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Dissectors whose signature is a bit pattern nDPI itself accepts on any port (RTP's version
/// bits and payload type): random bytes may hit them, and they are tried last for that reason.
const WEAK_BY_DESIGN: &[&str] = &["rtp"];

/// How often any one dissector may claim random datagrams / segments (out of `ROUNDS` per
/// transport and direction); a strong signature (≥ 4 fixed bytes) practically never does.
const ROUNDS: usize = 4000;
const MAX_RANDOM_CLAIMS: usize = 2;

#[test]
fn random_bytes_on_high_ports_are_nobodys() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut hits: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut buf = [0u8; 256];
    for l4 in [IPPROTO_TCP, IPPROTO_UDP] {
        for from_client in [true, false] {
            let c = ctx(l4, from_client, SERVER_PORT);
            for _ in 0..ROUNDS {
                let len = 1 + (rng.next() % 255) as usize;
                for b in buf.iter_mut().take(len) {
                    *b = rng.next() as u8;
                }
                for (name, _) in claims(&c, &buf[..len]) {
                    *hits.entry(name).or_default() += 1;
                }
            }
        }
    }
    let weak: Vec<_> = hits
        .iter()
        .filter(|(n, k)| !WEAK_BY_DESIGN.contains(n) && **k > MAX_RANDOM_CLAIMS)
        .collect();
    assert!(weak.is_empty(), "random bytes claimed: {weak:?}");
}

/// Short binary segments any application exchanges mid-flow (acknowledgements, keep-alives,
/// length-prefixed records): off every protocol's port none is a signature. (At a stream start
/// `05 01 00` is a SOCKS5 greeting and the last one a Kafka request, as nDPI takes them.)
const SHORT_SEGMENTS: &[&[u8]] = &[
    &[0xc0, 0x00],
    &[0xd0, 0x00],
    &[0xe0, 0x00],
    &[0x20, 0x02, 0x00, 0x00],
    &[0x40, 0x02, 0x00, 0x01],
    &[0x70, 0x02, 0x12, 0x34],
    &[0x62, 0x02, 0x00, 0x07],
    &[0x90, 0x03, 0x00, 0x01, 0x00],
    &[0x82, 0x08, 0x00, 0x01, 0x00, 0x03, b'a', b'/', b'b', 0x00],
    &[0x00, 0x03, 0x00, 0x01, 0x41, 0x42],
    &[0x00, 0x04, 0x00, 0x01],
    &[0x05, 0x01, 0x00],
    // A length-prefixed request: size, two small ids, a short name.
    &[
        0, 0, 0, 16, 0, 3, 0, 1, 0, 0, 0, 7, 0, 4, b'n', b'o', b'd', b'e',
    ],
];

#[test]
fn short_mid_flow_segments_on_high_ports_are_nobodys() {
    let mut wrong = Vec::new();
    for from_client in [true, false] {
        let c = Ctx {
            stream_start: false,
            ..ctx(IPPROTO_TCP, from_client, SERVER_PORT)
        };
        for seg in SHORT_SEGMENTS {
            for (name, _) in claims(&c, seg) {
                wrong.push(format!(
                    "{name} claims {seg:02x?} (from_client {from_client})"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "false positives:\n{}", wrong.join("\n"));
}
