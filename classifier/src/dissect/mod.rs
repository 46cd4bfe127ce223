//! Payload dissectors, one module per protocol, all the same shape: constants, a bounded `probe`
//! that borrows the packet and answers [`Probe::Match`], [`Probe::NoMatch`] or [`Probe::NeedMore`],
//! a `fuzz_entry`, and tests. No dissector allocates, indexes unchecked or panics on any input.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use nfguard_proto::AppId;

mod asn1;
pub mod bittorrent;
pub mod crypto;
pub mod databases;
pub mod dhcp;
pub mod dhcpv6;
pub mod dns;
pub mod dtls;
pub mod ethereum;
pub mod games;
pub mod http;
pub mod iax;
pub mod industrial;
pub mod infra;
pub mod ipsec;
pub mod kerberos;
pub mod ldap;
pub mod messaging;
pub mod misc;
pub mod netapps;
pub mod nfs;
pub mod nintendo;
pub mod ntp;
pub mod quic;
pub mod radius;
pub mod remote;
pub mod rtp;
pub mod smb;
pub mod spotify;
pub mod ssh;
pub mod starttls;
pub mod steam;
pub mod stun;
pub mod teamviewer;
pub mod telegram;
pub mod teredo;
pub mod tls;
pub mod tls_cert;
pub mod tls_cert_names;
pub mod tls_records;
pub mod tor;
pub mod zoom;

/// A dissector's three answers (STYLE §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe<T> {
    /// This protocol; the value says what was learned.
    Match(T),
    /// Not this protocol (at least not this packet).
    NoMatch,
    /// Could be this protocol, but the bytes so far end too early to tell.
    NeedMore,
}

impl<T> Probe<T> {
    pub fn is_match(&self) -> bool {
        matches!(self, Probe::Match(_))
    }
}

/// What a dissector learned from one packet (or the reassembled start of a stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    /// The protocol that carries the flow (`TLS`, `DNS`, `HTTP`…).
    pub master: AppId,
    /// The application when the dissector itself knows it (else equal to `master`); the engine
    /// replaces it by a host-name match when there is one.
    pub app: AppId,
    /// SNI, HTTP Host or DNS query name as sent; empty when none.
    pub host: &'a [u8],
    /// `host` is a DNS name in wire form (length-prefixed labels), not text.
    pub dns_labels: bool,
}

impl<'a> Hit<'a> {
    /// A protocol with no application and no host.
    pub const fn proto(id: AppId) -> Hit<'static> {
        Hit {
            master: id,
            app: id,
            host: &[],
            dns_labels: false,
        }
    }

    pub const fn with_host(id: AppId, host: &'a [u8]) -> Hit<'a> {
        Hit {
            master: id,
            app: id,
            host,
            dns_labels: false,
        }
    }
}

/// What a dissector may know about the packet besides its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// IP protocol number (6 TCP, 17 UDP).
    pub l4: u8,
    pub from_client: bool,
    pub client_port: u16,
    pub server_port: u16,
    /// True when the payload starts at the beginning of its direction's byte stream (TCP), or is a
    /// whole datagram (UDP).
    pub stream_start: bool,
}

impl Ctx {
    /// A context for tests and fuzzing: client → server, start of stream.
    pub const fn client(l4: u8, client_port: u16, server_port: u16) -> Ctx {
        Ctx {
            l4,
            from_client: true,
            client_port,
            server_port,
            stream_start: true,
        }
    }

    pub fn is_tcp(&self) -> bool {
        self.l4 == nfguard_proto::types::IPPROTO_TCP
    }

    pub fn is_udp(&self) -> bool {
        self.l4 == nfguard_proto::types::IPPROTO_UDP
    }

    /// Either port equals `p`.
    pub fn has_port(&self, p: u16) -> bool {
        self.client_port == p || self.server_port == p
    }
}

/// Cursor over untrusted bytes: every read is bounds-checked and returns `None` past the end
/// (rustls `msgs/codec.rs` `Reader`).
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (out, rest) = self.buf.split_at_checked(n)?;
        self.buf = rest;
        Some(out)
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    pub fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes(b.try_into().ok()?))
    }

    pub fn u24(&mut self) -> Option<u32> {
        let b = self.take(3)?;
        let mut w = [0u8; 4];
        w.get_mut(1..)?.copy_from_slice(b);
        Some(u32::from_be_bytes(w))
    }

    pub fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes(b.try_into().ok()?))
    }

    /// A vector with a 1-byte length prefix.
    pub fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A vector with a 2-byte length prefix.
    pub fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }
}

/// The byte at `i`, 0 past the end (for pattern checks on short prefixes).
pub(crate) fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// Big-endian u16 at `i`, `None` past the end.
pub(crate) fn be16(b: &[u8], i: usize) -> Option<u16> {
    let s = b.get(i..i.checked_add(2)?)?;
    Some(u16::from_be_bytes(s.try_into().ok()?))
}

/// Big-endian u32 at `i`, `None` past the end.
pub(crate) fn be32(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i..i.checked_add(4)?)?;
    Some(u32::from_be_bytes(s.try_into().ok()?))
}

/// `Match` of protocol `id` (no host) when `found`, else `NoMatch`: the answer of most probes.
pub(crate) fn proto_if(found: bool, id: AppId) -> Probe<Hit<'static>> {
    if found {
        Probe::Match(Hit::proto(id))
    } else {
        Probe::NoMatch
    }
}

/// Whether `data` starts with `pat`; `NeedMore` when `data` is a proper prefix of `pat`.
pub(crate) fn starts(data: &[u8], pat: &[u8]) -> Probe<()> {
    if data.len() >= pat.len() {
        if data.get(..pat.len()) == Some(pat) {
            Probe::Match(())
        } else {
            Probe::NoMatch
        }
    } else if pat.get(..data.len()) == Some(data) {
        Probe::NeedMore
    } else {
        Probe::NoMatch
    }
}

/// Ids of the protocols the dissectors emit, checked against the nDPI table by a test
/// (`ids_match_table`) so a renumbering in `nfguard_proto::protocols` cannot go unnoticed.
pub mod ids {
    use nfguard_proto::AppId;
    pub const UNKNOWN: AppId = AppId(0);
    pub const FTP_CONTROL: AppId = AppId(1);
    pub const POP3: AppId = AppId(2);
    pub const SMTP: AppId = AppId(3);
    pub const IMAP: AppId = AppId(4);
    pub const DNS: AppId = AppId(5);
    pub const HTTP: AppId = AppId(7);
    pub const MDNS: AppId = AppId(8);
    pub const NTP: AppId = AppId(9);
    pub const NETBIOS: AppId = AppId(10);
    pub const SSDP: AppId = AppId(12);
    pub const SNMP: AppId = AppId(14);
    pub const SYSLOG: AppId = AppId(17);
    pub const DHCP: AppId = AppId(18);
    pub const POSTGRESQL: AppId = AppId(19);
    pub const MYSQL: AppId = AppId(20);
    pub const BITTORRENT: AppId = AppId(37);
    pub const RTP: AppId = AppId(87);
    pub const STUN: AppId = AppId(78);
    pub const ICMP: AppId = AppId(81);
    pub const TLS: AppId = AppId(91);
    pub const SSH: AppId = AppId(92);
    pub const ICMPV6: AppId = AppId(102);
    pub const DHCPV6: AppId = AppId(103);
    pub const LLMNR: AppId = AppId(154);
    pub const QUIC: AppId = AppId(188);
    pub const DOH_DOT: AppId = AppId(196);
    pub const TELNET: AppId = AppId(77);
    pub const TFTP: AppId = AppId(96);
    pub const IMAPS: AppId = AppId(51);
    pub const POPS: AppId = AppId(23);
    pub const SMTPS: AppId = AppId(29);
    pub const RTSP: AppId = AppId(50);
    pub const MQTT: AppId = AppId(222);
    pub const SIP: AppId = AppId(100);
    pub const OPENVPN: AppId = AppId(159);
    pub const WIREGUARD: AppId = AppId(206);
    pub const IGMP: AppId = AppId(82);
    // Group A infrastructure protocols (issue #6).
    pub const SMBV1: AppId = AppId(16);
    pub const SMBV23: AppId = AppId(41);
    pub const IPSEC: AppId = AppId(79);
    pub const RDP: AppId = AppId(88);
    pub const VNC: AppId = AppId(89);
    pub const KERBEROS: AppId = AppId(111);
    pub const LDAP: AppId = AppId(112);
    pub const RADIUS: AppId = AppId(146);
    pub const MONGODB: AppId = AppId(60);
    pub const RESP: AppId = AppId(182);
    pub const MEMCACHED: AppId = AppId(40);
    pub const MODBUS: AppId = AppId(44);
    pub const DNP3: AppId = AppId(244);
    pub const IEC60870: AppId = AppId(245);
    pub const COAP: AppId = AppId(27);
    pub const AMQP: AppId = AppId(192);
    pub const KAFKA: AppId = AppId(377);
    pub const IRC: AppId = AppId(65);
    pub const SOCKS: AppId = AppId(172);
    pub const GIT: AppId = AppId(226);
    pub const ELASTICSEARCH: AppId = AppId(330);
    pub const PPTP: AppId = AppId(115);
    pub const NETFLOW: AppId = AppId(128);
    // Round C: games and gamer chat.
    pub const WORLD_OF_WARCRAFT: AppId = AppId(76);
    pub const DISCORD: AppId = AppId(58);
    pub const XBOX: AppId = AppId(47);
}

// ---------------------------------------------------------------- registry

/// A stateless dissector: the probe plus the ports it is tried first on.
pub struct Dissector {
    pub name: &'static str,
    pub probe: for<'a> fn(&Ctx, &'a [u8]) -> Probe<Hit<'a>>,
    pub tcp_ports: &'static [u16],
    pub udp_ports: &'static [u16],
    /// Whether the engine should reassemble the TCP stream start when this dissector says `NeedMore`.
    pub reassemble: bool,
}

impl Dissector {
    /// Whether this dissector's usual port is one of the packet's.
    pub fn likely(&self, ctx: &Ctx) -> bool {
        let ports = if ctx.is_tcp() {
            self.tcp_ports
        } else if ctx.is_udp() {
            self.udp_ports
        } else {
            return false;
        };
        ports.iter().any(|p| ctx.has_port(*p))
    }

    /// Whether this dissector applies to the packet's L4 at all.
    pub fn applies(&self, ctx: &Ctx) -> bool {
        (ctx.is_tcp() && !self.tcp_ports.is_empty()) || (ctx.is_udp() && !self.udp_ports.is_empty())
    }
}

/// Any port (the dissector applies to the transport but has no usual port).
pub const ANY: &[u16] = &[0];

/// Every stateless dissector, in the order tried after the port-likely ones. QUIC is stateful and
/// called by the engine directly.
pub static DISSECTORS: &[Dissector] = &[
    tls::DISSECTOR,
    http::DISSECTOR,
    dns::DISSECTOR,
    ssh::DISSECTOR,
    bittorrent::DISSECTOR,
    bittorrent::DHT_DISSECTOR,
    stun::DISSECTOR,
    dhcp::DISSECTOR,
    dhcpv6::DISSECTOR,
    ntp::DISSECTOR,
    misc::SSDP,
    misc::NETBIOS_NS,
    misc::SYSLOG,
    misc::SNMP,
    misc::MAIL_BANNERS,
    misc::MYSQL,
    misc::POSTGRESQL,
    misc::RTSP,
    misc::MQTT,
    misc::TFTP,
    misc::SIP,
    misc::OPENVPN,
    misc::WIREGUARD,
    misc::WHATSAPP,
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
    crypto::BITCOIN_DISSECTOR,
    crypto::MINING_DISSECTOR,
    remote::RDP_DISSECTOR,
    remote::VNC_DISSECTOR,
    remote::TELNET_DISSECTOR,
    smb::DISSECTOR,
    kerberos::DISSECTOR,
    ldap::DISSECTOR,
    radius::DISSECTOR,
    ipsec::DISSECTOR,
    databases::MONGODB_DISSECTOR,
    databases::RESP_DISSECTOR,
    databases::MEMCACHED_DISSECTOR,
    databases::ELASTICSEARCH_DISSECTOR,
    messaging::AMQP_DISSECTOR,
    messaging::KAFKA_DISSECTOR,
    industrial::MODBUS_DISSECTOR,
    industrial::DNP3_DISSECTOR,
    industrial::IEC104_DISSECTOR,
    industrial::COAP_DISSECTOR,
    netapps::SOCKS_DISSECTOR,
    netapps::IRC_DISSECTOR,
    netapps::GIT_DISSECTOR,
    infra::PPTP_DISSECTOR,
    infra::NETFLOW_DISSECTOR,
    games::WOW_DISSECTOR,
    games::DISCORD_DISSECTOR,
    games::XBOX_DISSECTOR,
    // Late: Application Data records of a flow whose handshake was missed.
    tls_records::DISSECTOR,
    // Last: the weakest signature (one header's bit pattern).
    rtp::DISSECTOR,
];

#[cfg(test)]
mod cross_tests;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
pub(crate) mod testutil {
    use super::*;

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
            (ids::POP3, "POP3"),
            (ids::SMTP, "SMTP"),
            (ids::IMAP, "IMAP"),
            (ids::DNS, "DNS"),
            (ids::HTTP, "HTTP"),
            (ids::MDNS, "MDNS"),
            (ids::NTP, "NTP"),
            (ids::NETBIOS, "NetBIOS"),
            (ids::SSDP, "SSDP"),
            (ids::SNMP, "SNMP"),
            (ids::SYSLOG, "Syslog"),
            (ids::DHCP, "DHCP"),
            (ids::POSTGRESQL, "PostgreSQL"),
            (ids::MYSQL, "MySQL"),
            (ids::BITTORRENT, "BitTorrent"),
            (ids::RTP, "RTP"),
            (ids::STUN, "STUN"),
            (ids::ICMP, "ICMP"),
            (ids::TLS, "TLS"),
            (ids::SSH, "SSH"),
            (ids::ICMPV6, "ICMPV6"),
            (ids::DHCPV6, "DHCPV6"),
            (ids::LLMNR, "LLMNR"),
            (ids::QUIC, "QUIC"),
            (ids::DOH_DOT, "DoH_DoT"),
            (ids::TELNET, "Telnet"),
            (ids::TFTP, "TFTP"),
            (ids::IMAPS, "IMAPS"),
            (ids::POPS, "POPS"),
            (ids::SMTPS, "SMTPS"),
            (ids::RTSP, "RTSP"),
            (ids::MQTT, "MQTT"),
            (ids::SIP, "SIP"),
            (ids::OPENVPN, "OpenVPN"),
            (ids::WIREGUARD, "WireGuard"),
            (ids::IGMP, "IGMP"),
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
            (ids::KAFKA, "Kafka"),
            (ids::IRC, "IRC"),
            (ids::SOCKS, "SOCKS"),
            (ids::GIT, "Git"),
            (ids::ELASTICSEARCH, "Elasticsearch"),
            (ids::PPTP, "PPTP"),
            (ids::NETFLOW, "NetFlow"),
            (ids::WORLD_OF_WARCRAFT, "WorldOfWarcraft"),
            (ids::DISCORD, "Discord"),
            (ids::XBOX, "Xbox"),
        ] {
            assert_eq!(by_name(name).map(|p| p.id), Some(id), "{name}");
        }
    }

    #[test]
    fn reader_never_overreads() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Some(0x0102));
        assert_eq!(r.u16(), None);
        assert_eq!(r.u8(), Some(3));
        assert_eq!(r.u8(), None);
        assert_eq!(Reader::new(&[0, 0, 5, 1]).u24(), Some(5));
        assert_eq!(Reader::new(&[3, 1, 2]).vec8(), None);
    }
}
