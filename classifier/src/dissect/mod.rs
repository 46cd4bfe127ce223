//! Payload dissectors, one module per protocol (a folder where it has several files: `tls/`,
//! `mail/`, `quic/`), all the same shape as Suricata's `rust/src/<proto>/`: a module doc citing
//! the nDPI source and the RFCs, constants, a bounded `probe` that borrows the packet and answers
//! [`Probe::Match`], [`Probe::NoMatch`] or [`Probe::NeedMore`], the `DISSECTOR` entry, the
//! protocol's own follow-up state where it has one, and tests. No dissector allocates, indexes
//! unchecked or panics on any input.
//!
//! This file is the registry: the module list and [`DISSECTORS`], the order probes are tried in.
//! Adding a protocol is its file plus its lines here; its supported ids (`emits`) and fuzzing
//! (`dissector::fuzz_entry`) follow from the entry.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod asn1;
mod byte_search;
pub mod dissector;
mod probe;
mod reader;

pub mod amqp;
pub mod bitcoin;
pub mod bittorrent;
pub mod capwap;
pub mod ciscovpn;
pub mod coap;
pub mod dcerpc;
pub mod dhcp;
pub mod dhcpv6;
pub mod discord;
pub mod dnp3;
pub mod dns;
pub mod dtls;
pub mod elasticsearch;
pub mod ethereum;
pub mod git;
pub mod gtp;
pub mod http;
pub mod http2;
pub mod iax;
pub mod iec104;
pub mod ipsec;
pub mod irc;
pub mod kafka;
pub mod kerberos;
pub mod ldap;
pub mod mail;
pub mod memcached;
pub mod mining;
pub mod modbus;
pub mod mongodb;
pub mod mqtt;
pub mod mysql;
pub mod netbios;
pub mod netflow;
pub mod nfs;
pub mod nintendo;
pub mod ntp;
pub mod openvpn;
pub mod postgresql;
pub mod pptp;
pub mod quic;
pub mod radius;
pub mod rdp;
pub mod resp;
pub mod rtp;
pub mod rtsp;
pub mod sip;
pub mod smb;
pub mod snmp;
pub mod socks;
pub mod softether;
pub mod spotify;
pub mod ssdp;
pub mod ssh;
pub mod steam;
pub mod stun;
pub mod syslog;
pub mod tailscale;
pub mod teamviewer;
pub mod telegram;
pub mod telnet;
pub mod teredo;
pub mod tftp;
pub mod tls;
pub mod tor;
pub mod vnc;
pub mod whatsapp;
pub mod wireguard;
pub mod world_of_warcraft;
pub mod xbox;
pub mod zoom;

// Games, voice and P2P from nDPI's dissectors (issue #15 part B).
pub mod activision;
pub mod among_us;
pub mod armagetron;
pub mod cod_mobile;
pub mod crossfire;
pub mod dofus;
pub mod edonkey;
pub mod genshin_impact;
pub mod gnutella;
pub mod guildwars;
pub mod lol_wild_rift;
pub mod raknet;
pub mod teamspeak;

// Industrial and enterprise from nDPI's dissectors (issue #15 part C).
pub mod ajp;
pub mod bacnet;
pub mod beckhoff_ads;
pub mod cassandra;
pub mod cip;
pub mod corba;
pub mod drda;
pub mod ethernet_ip;
pub mod ethersio;
pub mod fins;
pub mod fix;
pub mod hart_ip;
pub mod hl7;
pub mod iec62056;
pub mod ieee_c37118;
pub mod iso9506_mms;
pub mod nats;
pub mod opc_ua;
pub mod openwire;
pub mod oracle;
pub mod profinet_io;
pub mod ptpv2;
pub mod rtps;
pub mod s7comm;
pub mod someip;
pub mod zabbix;

/// The protocol ids, generated from the nDPI table (`nfguard_proto::ids`).
pub use nfguard_proto::ids;

pub(crate) use byte_search::find;
pub use dissector::{ANY, Dissector};
pub use probe::{Ctx, Hit, Probe};
pub(crate) use probe::{hit, prefixed, proto_if, starts};
pub use reader::Reader;
pub(crate) use reader::{at, be16, be32, le32};

// ---------------------------------------------------------------- registry

/// The registry: every stateless dissector, in the order tried after the port-likely ones (a
/// protocol's module is declared above). QUIC is stateful and reached through
/// [`dissector::quic`].
pub static DISSECTORS: &[Dissector] = &[
    tls::DISSECTOR,
    // Before HTTP: Gnutella's downloads are HTTP requests with Gnutella header lines.
    gnutella::DISSECTOR,
    http::DISSECTOR,
    dns::DISSECTOR,
    ssh::DISSECTOR,
    bittorrent::DISSECTOR,
    bittorrent::DHT_DISSECTOR,
    stun::DISSECTOR,
    dhcp::DISSECTOR,
    dhcpv6::DISSECTOR,
    ntp::DISSECTOR,
    ssdp::DISSECTOR,
    netbios::DISSECTOR,
    syslog::DISSECTOR,
    snmp::DISSECTOR,
    mail::DISSECTOR,
    mysql::DISSECTOR,
    postgresql::DISSECTOR,
    rtsp::DISSECTOR,
    mqtt::DISSECTOR,
    tftp::DISSECTOR,
    sip::DISSECTOR,
    openvpn::DISSECTOR,
    wireguard::DISSECTOR,
    whatsapp::DISSECTOR,
    spotify::DISSECTOR,
    nintendo::DISSECTOR,
    teredo::DISSECTOR,
    nfs::DISSECTOR,
    ethereum::DISSECTOR,
    telegram::DISSECTOR,
    iax::DISSECTOR,
    teamviewer::DISSECTOR,
    zoom::DISSECTOR,
    steam::DISSECTOR,
    bitcoin::DISSECTOR,
    mining::DISSECTOR,
    rdp::DISSECTOR,
    vnc::DISSECTOR,
    telnet::DISSECTOR,
    smb::DISSECTOR,
    kerberos::DISSECTOR,
    ldap::DISSECTOR,
    radius::DISSECTOR,
    ipsec::DISSECTOR,
    mongodb::DISSECTOR,
    resp::DISSECTOR,
    memcached::DISSECTOR,
    elasticsearch::DISSECTOR,
    amqp::DISSECTOR,
    kafka::DISSECTOR,
    modbus::DISSECTOR,
    dnp3::DISSECTOR,
    iec104::DISSECTOR,
    coap::DISSECTOR,
    socks::DISSECTOR,
    irc::DISSECTOR,
    git::DISSECTOR,
    pptp::DISSECTOR,
    netflow::DISSECTOR,
    world_of_warcraft::DISSECTOR,
    discord::DISSECTOR,
    xbox::DISSECTOR,
    // Issue #15 (part A): plain DTLS, cleartext HTTP/2, DCE/RPC, tunnels.
    dtls::DISSECTOR,
    http2::DISSECTOR,
    dcerpc::DISSECTOR,
    tailscale::DISSECTOR,
    ciscovpn::DISSECTOR,
    softether::DISSECTOR,
    capwap::DISSECTOR,
    gtp::DISSECTOR,
    // Games, voice and P2P (issue #15 part B).
    teamspeak::DISSECTOR,
    activision::DISSECTOR,
    among_us::DISSECTOR,
    genshin_impact::DISSECTOR,
    cod_mobile::DISSECTOR,
    edonkey::DISSECTOR,
    lol_wild_rift::DISSECTOR,
    crossfire::DISSECTOR,
    guildwars::DISSECTOR,
    dofus::DISSECTOR,
    armagetron::DISSECTOR,
    raknet::DISSECTOR,
    // Industrial and enterprise (issue #15 part C): patterns first, length-only signatures last.
    s7comm::DISSECTOR,
    iso9506_mms::DISSECTOR,
    opc_ua::DISSECTOR,
    ethernet_ip::DISSECTOR,
    zabbix::DISSECTOR,
    openwire::DISSECTOR,
    beckhoff_ads::DISSECTOR,
    fins::DISSECTOR,
    iec62056::DISSECTOR,
    ieee_c37118::DISSECTOR,
    rtps::DISSECTOR,
    ethersio::DISSECTOR,
    cip::DISSECTOR,
    ptpv2::DISSECTOR,
    someip::DISSECTOR,
    fix::DISSECTOR,
    hl7::DISSECTOR,
    nats::DISSECTOR,
    ajp::DISSECTOR,
    corba::DISSECTOR,
    drda::DISSECTOR,
    oracle::DISSECTOR,
    bacnet::DISSECTOR,
    hart_ip::DISSECTOR,
    cassandra::DISSECTOR,
    // Late: Application Data records of a flow whose handshake was missed.
    tls::records::DISSECTOR,
    // Last: the weakest signature (one header's bit pattern).
    rtp::DISSECTOR,
];

#[cfg(test)]
mod cross_tests;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
pub(crate) mod testutil {
    use super::*;

    /// A context for a server → client packet at the start of the stream, client port 40000.
    pub fn server(l4: u8, port: u16) -> Ctx {
        Ctx {
            from_client: false,
            ..Ctx::client(l4, 40000, port)
        }
    }

    /// A TLS 1.3 ClientHello handshake message built from RFC 8446 §4.1.2 with one server_name
    /// (RFC 6066 §3, any bytes), ALPN `h2` and supported_versions `0x0304`.
    pub fn client_hello_message(sni: &[u8]) -> Vec<u8> {
        fn vec16(v: &[u8]) -> Vec<u8> {
            let mut out = u16::try_from(v.len()).unwrap().to_be_bytes().to_vec();
            out.extend_from_slice(v);
            out
        }
        let mut names = vec![0u8]; // NameType::host_name
        names.extend(vec16(sni));
        let mut exts = Vec::new();
        for (ty, data) in [
            (0u16, vec16(&names)),
            (16, vec16(b"\x02h2")),
            (43, vec![2, 3, 4]),
        ] {
            exts.extend(ty.to_be_bytes());
            exts.extend(vec16(&data));
        }
        let mut body = vec![3, 3];
        body.extend([0x11; 32]); // random
        body.push(0); // legacy_session_id
        body.extend(vec16(&[0x13, 0x01])); // TLS_AES_128_GCM_SHA256
        body.extend([1, 0]); // null compression
        body.extend(vec16(&exts));
        let len = u32::try_from(body.len()).unwrap().to_be_bytes();
        let mut msg = vec![1, len[1], len[2], len[3]];
        msg.extend(body);
        msg
    }

    /// `msg` in one handshake record (RFC 8446 §5.1).
    pub fn tls_record(msg: &[u8]) -> Vec<u8> {
        let mut out = vec![22, 3, 1];
        out.extend(u16::try_from(msg.len()).unwrap().to_be_bytes());
        out.extend_from_slice(msg);
        out
    }

    /// Every proper prefix of `data` must give `NeedMore` until `need` bytes, and every prefix from
    /// `need` on must give the final answer `check` accepts (linkerd `check_all_prefixes`).
    pub fn check_all_prefixes(
        ctx: &Ctx,
        data: &[u8],
        need: usize,
        probe: for<'a> fn(&Ctx, &'a [u8]) -> Probe<Hit<'a>>,
        check: impl Fn(&Hit<'_>),
    ) {
        for n in 0..data.len() {
            let r = probe(ctx, &data[..n]);
            if n < need {
                assert_eq!(r, Probe::NeedMore, "prefix of {n} bytes");
            } else {
                match r {
                    Probe::Match(h) => check(&h),
                    other => panic!("prefix of {n} bytes: {other:?}"),
                }
            }
        }
        match probe(ctx, data) {
            Probe::Match(h) => check(&h),
            other => panic!("whole input: {other:?}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use nfguard_proto::protocols::by_name;

    #[test]
    fn ids_match_table() {
        for (id, name) in [
            (ids::FTP_CONTROL, "FTP_CONTROL"),
            (ids::MAIL_POP, "POP3"),
            (ids::MAIL_SMTP, "SMTP"),
            (ids::MAIL_IMAP, "IMAP"),
            (ids::DNS, "DNS"),
            (ids::HTTP, "HTTP"),
            (ids::MDNS, "MDNS"),
            (ids::NTP, "NTP"),
            (ids::NETBIOS, "NetBIOS"),
            (ids::SSDP, "SSDP"),
            (ids::SNMP, "SNMP"),
            (ids::SYSLOG, "Syslog"),
            (ids::DHCP, "DHCP"),
            (ids::POSTGRES, "PostgreSQL"),
            (ids::MYSQL, "MySQL"),
            (ids::BITTORRENT, "BitTorrent"),
            (ids::RTP, "RTP"),
            (ids::STUN, "STUN"),
            (ids::IP_ICMP, "ICMP"),
            (ids::TLS, "TLS"),
            (ids::SSH, "SSH"),
            (ids::IP_ICMPV6, "ICMPV6"),
            (ids::DHCPV6, "DHCPV6"),
            (ids::LLMNR, "LLMNR"),
            (ids::QUIC, "QUIC"),
            (ids::DOH_DOT, "DoH_DoT"),
            (ids::TELNET, "Telnet"),
            (ids::TFTP, "TFTP"),
            (ids::MAIL_IMAPS, "IMAPS"),
            (ids::MAIL_POPS, "POPS"),
            (ids::MAIL_SMTPS, "SMTPS"),
            (ids::RTSP, "RTSP"),
            (ids::MQTT, "MQTT"),
            (ids::SIP, "SIP"),
            (ids::OPENVPN, "OpenVPN"),
            (ids::WIREGUARD, "WireGuard"),
            (ids::IP_IGMP, "IGMP"),
            (ids::SMBV1, "SMBv1"),
            (ids::SMBV23, "SMBv23"),
            (ids::IPSEC, "IPSec"),
            (ids::RDP, "RDP"),
            (ids::VNC, "VNC"),
            (ids::KERBEROS, "Kerberos"),
            (ids::LDAP, "LDAP"),
            (ids::RADIUS, "Radius"),
            (ids::MONGODB, "MongoDB"),
            (ids::RESP, "RESP"),
            (ids::MEMCACHED, "Memcached"),
            (ids::MODBUS, "Modbus"),
            (ids::DNP3, "DNP3"),
            (ids::IEC60870, "IEC60870"),
            (ids::COAP, "COAP"),
            (ids::AMQP, "AMQP"),
            (ids::APACHE_KAFKA, "Kafka"),
            (ids::IRC, "IRC"),
            (ids::SOCKS, "SOCKS"),
            (ids::GIT, "Git"),
            (ids::ELASTICSEARCH, "Elasticsearch"),
            (ids::PPTP, "PPTP"),
            (ids::NETFLOW, "NetFlow"),
            (ids::WORLDOFWARCRAFT, "WorldOfWarcraft"),
            (ids::DISCORD, "Discord"),
            (ids::XBOX, "Xbox"),
        ] {
            assert_eq!(by_name(name).map(|p| p.id), Some(id), "{name}");
        }
    }
}
