//! nDPI 4.11-dev protocol ids, names, default categories and ports.
//! Facts from nDPI's src/include/ndpi_protocol_ids.h and src/lib/ndpi_main.c (ndpi_set_proto_defaults); cite commit/version you used.
//!
//! Sources (nDPI 4.11-dev, the same id space as the corpus in `shared/corpus`, which was produced by
//! nDPI 4.11-dev commit 3b1286ab):
//! - ids 0..=414: `src/include/ndpi_protocol_ids.h` as in the ntop/nDPI fork `ypapy/nDPI_challenge`
//!   @ dffb6e0e6c567ff79a149411fdf62d20f1ea31f4 (4.10/4.11-dev era); ids 415..=431 (ZUG..DINGTALK):
//!   same header in `lucaderi/nDPI` @ d69446893df06c0ffa63228d6dfab3dada6ac616 (ids are append-only).
//! - names, breeds, default categories and default ports: `ndpi_init_protocol_defaults()`
//!   (`ndpi_set_proto_defaults(...)` calls) in `src/lib/ndpi_main.c` as in the ntop/nDPI fork
//!   `RajaMuhammadAwais/nDPI` @ 1ef65cc1e6781b340d05b6c82cdde7d8a8cd1616 (4.11-dev, Nov 2024: has
//!   Paltalk, not yet Naver). Category names: the `categories[]` array of the same file.
//! - Protocols that have no `ndpi_set_proto_defaults()` call get name/category/breed from the first
//!   `host_match[]` entry with their id in `src/lib/ndpi_content_match.c.inc` (that is what
//!   `ndpi_init_app_protocol()` does); read from `RajaMuhammadAwais/nDPI` @ 54378653 (a later dev
//!   snapshot). Those rows have no default ports. For ids 107 (ADS_Analytic_Track), 108
//!   (AdultContent), 203 (Github) and 221 (MS_OneDrive) no host_match entry was found in that
//!   snapshot: name and category are the ones nDPI 4.11-dev prints in the corpus (AdultContent not in
//!   the corpus: name/category/breed from nDPI 4.x knowledge, unverified).
//! - Every id of 0..=431 is a real protocol in 4.11-dev (no reserved/free slot remains), so no
//!   `Unknown_<id>` placeholder is needed.
//! - `breed` is what `ndpi_get_proto_breed_name()` prints: "Safe", "Acceptable", "Fun", "Unsafe",
//!   "Potentially Dangerous", "Tracker/Ads", "Dangerous", "Unrated".
//! - `category` is the protocol's *default* category. nDPI reports a per-flow category that can differ
//!   (DNS/mail masters impose theirs, host_match entries carry their own category, HTTP content
//!   types set Download/Media/Streaming, ...).
//! - Ports are the non-zero values of `ndpi_build_default_ports()` in declaration order.

#![allow(dead_code)]

/// One row of the table.
pub(crate) struct Row {
    pub id: u16,
    pub name: &'static str,
    pub category: &'static str,
    pub breed: &'static str,
    pub tcp_ports: &'static [u16],
    pub udp_ports: &'static [u16],
}

/// Every category name, as nDPI prints it, in nDPI's enum order.
///
/// Values of `ndpi_protocol_category_t` are given in comments. 20..=24 are the five user custom
/// categories (printed with user-defined labels) and 35..=98 are unused, so they are not listed.
pub(crate) const CATEGORIES: &[&str] = &[
    "Unspecified",      // 0
    "Media",            // 1
    "VPN",              // 2
    "Email",            // 3
    "DataTransfer",     // 4
    "Web",              // 5
    "SocialNetwork",    // 6
    "Download",         // 7
    "Game",             // 8
    "Chat",             // 9
    "VoIP",             // 10
    "Database",         // 11
    "RemoteAccess",     // 12
    "Cloud",            // 13
    "Network",          // 14
    "Collaborative",    // 15
    "RPC",              // 16
    "Streaming",        // 17
    "System",           // 18
    "SoftwareUpdate",   // 19
    "Music",            // 25
    "Video",            // 26
    "Shopping",         // 27
    "Productivity",     // 28
    "FileSharing",      // 29
    "ConnCheck",        // 30
    "IoT-Scada",        // 31
    "VirtAssistant",    // 32
    "Cybersecurity",    // 33
    "AdultContent",     // 34
    "Mining",           // 99
    "Malware",          // 100
    "Advertisement",    // 101
    "Banned_Site",      // 102
    "Site_Unavailable", // 103
    "Allowed_Site",     // 104
    "Antimalware",      // 105
    "Crypto_Currency",  // 106
    "Gambling",         // 107
];

/// Indexed by id: ROWS[i].id == i for every i in 0..=431.
#[rustfmt::skip]
pub(crate) const ROWS: &[Row] = &[
    Row { id: 0, name: "Unknown", category: "Unspecified", breed: "Unrated", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_UNKNOWN
    Row { id: 1, name: "FTP_CONTROL", category: "Download", breed: "Unsafe", tcp_ports: &[21], udp_ports: &[] }, // NDPI_PROTOCOL_FTP_CONTROL
    Row { id: 2, name: "POP3", category: "Email", breed: "Unsafe", tcp_ports: &[110], udp_ports: &[] }, // NDPI_PROTOCOL_MAIL_POP
    Row { id: 3, name: "SMTP", category: "Email", breed: "Acceptable", tcp_ports: &[25, 587], udp_ports: &[] }, // NDPI_PROTOCOL_MAIL_SMTP
    Row { id: 4, name: "IMAP", category: "Email", breed: "Unsafe", tcp_ports: &[143], udp_ports: &[] }, // NDPI_PROTOCOL_MAIL_IMAP
    Row { id: 5, name: "DNS", category: "Network", breed: "Acceptable", tcp_ports: &[53], udp_ports: &[53] }, // NDPI_PROTOCOL_DNS
    Row { id: 6, name: "IPP", category: "System", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IPP
    Row { id: 7, name: "HTTP", category: "Web", breed: "Acceptable", tcp_ports: &[80], udp_ports: &[] }, // NDPI_PROTOCOL_HTTP
    Row { id: 8, name: "MDNS", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[5353, 5354] }, // NDPI_PROTOCOL_MDNS
    Row { id: 9, name: "NTP", category: "System", breed: "Acceptable", tcp_ports: &[], udp_ports: &[123] }, // NDPI_PROTOCOL_NTP
    Row { id: 10, name: "NetBIOS", category: "System", breed: "Acceptable", tcp_ports: &[139], udp_ports: &[137, 138, 139] }, // NDPI_PROTOCOL_NETBIOS
    Row { id: 11, name: "NFS", category: "DataTransfer", breed: "Acceptable", tcp_ports: &[2049], udp_ports: &[2049] }, // NDPI_PROTOCOL_NFS
    Row { id: 12, name: "SSDP", category: "System", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SSDP
    Row { id: 13, name: "BGP", category: "Network", breed: "Acceptable", tcp_ports: &[179, 2605], udp_ports: &[] }, // NDPI_PROTOCOL_BGP
    Row { id: 14, name: "SNMP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[161, 162] }, // NDPI_PROTOCOL_SNMP
    Row { id: 15, name: "XDMCP", category: "RemoteAccess", breed: "Acceptable", tcp_ports: &[177], udp_ports: &[177] }, // NDPI_PROTOCOL_XDMCP
    Row { id: 16, name: "SMBv1", category: "System", breed: "Dangerous", tcp_ports: &[445], udp_ports: &[] }, // NDPI_PROTOCOL_SMBV1
    Row { id: 17, name: "Syslog", category: "System", breed: "Acceptable", tcp_ports: &[514, 601, 6514], udp_ports: &[514] }, // NDPI_PROTOCOL_SYSLOG
    Row { id: 18, name: "DHCP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[67, 68] }, // NDPI_PROTOCOL_DHCP
    Row { id: 19, name: "PostgreSQL", category: "Database", breed: "Acceptable", tcp_ports: &[5432], udp_ports: &[] }, // NDPI_PROTOCOL_POSTGRES
    Row { id: 20, name: "MySQL", category: "Database", breed: "Acceptable", tcp_ports: &[3306], udp_ports: &[] }, // NDPI_PROTOCOL_MYSQL
    Row { id: 21, name: "Outlook", category: "Email", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MS_OUTLOOK
    Row { id: 22, name: "VK", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_VK
    Row { id: 23, name: "POPS", category: "Email", breed: "Safe", tcp_ports: &[995], udp_ports: &[] }, // NDPI_PROTOCOL_MAIL_POPS
    Row { id: 24, name: "Tailscale", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[41641] }, // NDPI_PROTOCOL_TAILSCALE
    Row { id: 25, name: "Yandex", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YANDEX
    Row { id: 26, name: "ntop", category: "Network", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_NTOP
    Row { id: 27, name: "COAP", category: "RPC", breed: "Safe", tcp_ports: &[], udp_ports: &[5683, 5684] }, // NDPI_PROTOCOL_COAP
    Row { id: 28, name: "VMware", category: "RemoteAccess", breed: "Acceptable", tcp_ports: &[903], udp_ports: &[902, 903] }, // NDPI_PROTOCOL_VMWARE
    Row { id: 29, name: "SMTPS", category: "Email", breed: "Safe", tcp_ports: &[465], udp_ports: &[] }, // NDPI_PROTOCOL_MAIL_SMTPS
    Row { id: 30, name: "DTLS", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DTLS
    Row { id: 31, name: "UBNTAC2", category: "Network", breed: "Safe", tcp_ports: &[], udp_ports: &[10001] }, // NDPI_PROTOCOL_UBNTAC2
    Row { id: 32, name: "BFCP", category: "Video", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_BFCP
    Row { id: 33, name: "YandexMail", category: "Email", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YANDEX_MAIL
    Row { id: 34, name: "YandexMusic", category: "Music", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YANDEX_MUSIC
    Row { id: 35, name: "Gnutella", category: "Download", breed: "Potentially Dangerous", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GNUTELLA
    Row { id: 36, name: "eDonkey", category: "Download", breed: "Unsafe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_EDONKEY
    Row { id: 37, name: "BitTorrent", category: "Download", breed: "Acceptable", tcp_ports: &[51413, 53646], udp_ports: &[6771, 51413] }, // NDPI_PROTOCOL_BITTORRENT
    Row { id: 38, name: "Skype_TeamsCall", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SKYPE_TEAMS_CALL
    Row { id: 39, name: "Signal", category: "Chat", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SIGNAL
    Row { id: 40, name: "Memcached", category: "Network", breed: "Acceptable", tcp_ports: &[11211], udp_ports: &[11211] }, // NDPI_PROTOCOL_MEMCACHED
    Row { id: 41, name: "SMBv23", category: "System", breed: "Acceptable", tcp_ports: &[445], udp_ports: &[] }, // NDPI_PROTOCOL_SMBV23
    Row { id: 42, name: "Mining", category: "Mining", breed: "Unsafe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MINING
    Row { id: 43, name: "NestLogSink", category: "Cloud", breed: "Acceptable", tcp_ports: &[11095], udp_ports: &[] }, // NDPI_PROTOCOL_NEST_LOG_SINK
    Row { id: 44, name: "Modbus", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[502], udp_ports: &[] }, // NDPI_PROTOCOL_MODBUS
    Row { id: 45, name: "WhatsAppCall", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WHATSAPP_CALL
    Row { id: 46, name: "DataSaver", category: "Web", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DATASAVER
    Row { id: 47, name: "Xbox", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_XBOX
    Row { id: 48, name: "QQ", category: "Chat", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_QQ
    Row { id: 49, name: "TikTok", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TIKTOK
    Row { id: 50, name: "RTSP", category: "Media", breed: "Fun", tcp_ports: &[554], udp_ports: &[554] }, // NDPI_PROTOCOL_RTSP
    Row { id: 51, name: "IMAPS", category: "Email", breed: "Safe", tcp_ports: &[993], udp_ports: &[] }, // NDPI_PROTOCOL_MAIL_IMAPS
    Row { id: 52, name: "IceCast", category: "Media", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ICECAST
    Row { id: 53, name: "CPHA", category: "Network", breed: "Fun", tcp_ports: &[], udp_ports: &[8116] }, // NDPI_PROTOCOL_CPHA
    Row { id: 54, name: "iQIYI", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IQIYI
    Row { id: 55, name: "Zattoo", category: "Video", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ZATTOO
    Row { id: 56, name: "YandexMarket", category: "Shopping", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YANDEX_MARKET
    Row { id: 57, name: "YandexDisk", category: "Cloud", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YANDEX_DISK
    Row { id: 58, name: "Discord", category: "Collaborative", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DISCORD
    Row { id: 59, name: "AdobeConnect", category: "Video", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ADOBE_CONNECT
    Row { id: 60, name: "MongoDB", category: "Database", breed: "Acceptable", tcp_ports: &[27017], udp_ports: &[] }, // NDPI_PROTOCOL_MONGODB
    Row { id: 61, name: "Pluralsight", category: "Video", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PLURALSIGHT
    Row { id: 62, name: "YandexCloud", category: "Cloud", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YANDEX_CLOUD
    Row { id: 63, name: "OCSP", category: "Network", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_OCSP
    Row { id: 64, name: "VXLAN", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[4789] }, // NDPI_PROTOCOL_VXLAN
    Row { id: 65, name: "IRC", category: "Chat", breed: "Unsafe", tcp_ports: &[194], udp_ports: &[194] }, // NDPI_PROTOCOL_IRC
    Row { id: 66, name: "MerakiCloud", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MERAKI_CLOUD
    Row { id: 67, name: "Jabber", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_JABBER
    Row { id: 68, name: "Nats", category: "RPC", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_NATS
    Row { id: 69, name: "AmongUs", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[22023] }, // NDPI_PROTOCOL_AMONG_US
    Row { id: 70, name: "Yahoo", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YAHOO
    Row { id: 71, name: "DisneyPlus", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DISNEYPLUS
    Row { id: 72, name: "HART-IP", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[5094], udp_ports: &[] }, // NDPI_PROTOCOL_HART_IP
    Row { id: 73, name: "VRRP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IP_VRRP
    Row { id: 74, name: "Steam", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_STEAM
    Row { id: 75, name: "HalfLife2", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HALFLIFE2
    Row { id: 76, name: "WorldOfWarcraft", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WORLDOFWARCRAFT
    Row { id: 77, name: "Telnet", category: "RemoteAccess", breed: "Unsafe", tcp_ports: &[23], udp_ports: &[] }, // NDPI_PROTOCOL_TELNET
    Row { id: 78, name: "STUN", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[3478] }, // NDPI_PROTOCOL_STUN
    Row { id: 79, name: "IPSec", category: "VPN", breed: "Safe", tcp_ports: &[500], udp_ports: &[500, 4500] }, // NDPI_PROTOCOL_IPSEC
    Row { id: 80, name: "GRE", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IP_GRE
    Row { id: 81, name: "ICMP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IP_ICMP
    Row { id: 82, name: "IGMP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IP_IGMP
    Row { id: 83, name: "EGP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IP_EGP
    Row { id: 84, name: "SCTP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IP_SCTP
    Row { id: 85, name: "OSPF", category: "Network", breed: "Acceptable", tcp_ports: &[2604], udp_ports: &[] }, // NDPI_PROTOCOL_IP_OSPF
    Row { id: 86, name: "IP_in_IP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IP_IP_IN_IP
    Row { id: 87, name: "RTP", category: "Media", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_RTP
    Row { id: 88, name: "RDP", category: "RemoteAccess", breed: "Acceptable", tcp_ports: &[3389], udp_ports: &[3389] }, // NDPI_PROTOCOL_RDP
    Row { id: 89, name: "VNC", category: "RemoteAccess", breed: "Acceptable", tcp_ports: &[5900, 5901, 5800], udp_ports: &[] }, // NDPI_PROTOCOL_VNC
    Row { id: 90, name: "Tumblr", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TUMBLR
    Row { id: 91, name: "TLS", category: "Web", breed: "Safe", tcp_ports: &[443], udp_ports: &[] }, // NDPI_PROTOCOL_TLS
    Row { id: 92, name: "SSH", category: "RemoteAccess", breed: "Acceptable", tcp_ports: &[22], udp_ports: &[] }, // NDPI_PROTOCOL_SSH
    Row { id: 93, name: "Usenet", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_USENET
    Row { id: 94, name: "MGCP", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MGCP
    Row { id: 95, name: "IAX", category: "VoIP", breed: "Acceptable", tcp_ports: &[4569], udp_ports: &[4569] }, // NDPI_PROTOCOL_IAX
    Row { id: 96, name: "TFTP", category: "DataTransfer", breed: "Acceptable", tcp_ports: &[], udp_ports: &[69] }, // NDPI_PROTOCOL_TFTP
    Row { id: 97, name: "AFP", category: "DataTransfer", breed: "Acceptable", tcp_ports: &[548], udp_ports: &[548] }, // NDPI_PROTOCOL_AFP
    Row { id: 98, name: "YandexMetrika", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YANDEX_METRIKA
    Row { id: 99, name: "YandexDirect", category: "Advertisement", breed: "Tracker/Ads", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YANDEX_DIRECT
    Row { id: 100, name: "SIP", category: "VoIP", breed: "Acceptable", tcp_ports: &[5060, 5061], udp_ports: &[5060, 5061] }, // NDPI_PROTOCOL_SIP
    Row { id: 101, name: "TruPhone", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TRUPHONE
    Row { id: 102, name: "ICMPV6", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IP_ICMPV6
    Row { id: 103, name: "DHCPV6", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DHCPV6
    Row { id: 104, name: "Armagetron", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ARMAGETRON
    Row { id: 105, name: "Crossfire", category: "RPC", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CROSSFIRE
    Row { id: 106, name: "Dofus", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DOFUS
    Row { id: 107, name: "ADS_Analytic_Track", category: "Advertisement", breed: "Tracker/Ads", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ADS_ANALYTICS_TRACK
    Row { id: 108, name: "AdultContent", category: "AdultContent", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ADULT_CONTENT
    Row { id: 109, name: "Guildwars", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GUILDWARS
    Row { id: 110, name: "AmazonAlexa", category: "VirtAssistant", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_AMAZON_ALEXA
    Row { id: 111, name: "Kerberos", category: "Network", breed: "Acceptable", tcp_ports: &[88], udp_ports: &[88] }, // NDPI_PROTOCOL_KERBEROS
    Row { id: 112, name: "LDAP", category: "System", breed: "Acceptable", tcp_ports: &[389], udp_ports: &[389] }, // NDPI_PROTOCOL_LDAP
    Row { id: 113, name: "MapleStory", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MAPLESTORY
    Row { id: 114, name: "MsSQL-TDS", category: "Database", breed: "Acceptable", tcp_ports: &[1433, 1434], udp_ports: &[] }, // NDPI_PROTOCOL_MSSQL_TDS
    Row { id: 115, name: "PPTP", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PPTP
    Row { id: 116, name: "Warcraft3", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WARCRAFT3
    Row { id: 117, name: "WorldOfKungFu", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WORLD_OF_KUNG_FU
    Row { id: 118, name: "Slack", category: "Collaborative", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SLACK
    Row { id: 119, name: "Facebook", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_FACEBOOK
    Row { id: 120, name: "Twitter", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TWITTER
    Row { id: 121, name: "Dropbox", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[17500] }, // NDPI_PROTOCOL_DROPBOX
    Row { id: 122, name: "GMail", category: "Email", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GMAIL
    Row { id: 123, name: "GoogleMaps", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOOGLE_MAPS
    Row { id: 124, name: "YouTube", category: "Media", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YOUTUBE
    Row { id: 125, name: "Skype_Teams", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SKYPE_TEAMS
    Row { id: 126, name: "Google", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOOGLE
    Row { id: 127, name: "MS-RPCH", category: "RPC", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MS_RPCH
    Row { id: 128, name: "NetFlow", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[2055] }, // NDPI_PROTOCOL_NETFLOW
    Row { id: 129, name: "sFlow", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[6343] }, // NDPI_PROTOCOL_SFLOW
    Row { id: 130, name: "HTTP_Connect", category: "Web", breed: "Acceptable", tcp_ports: &[8080], udp_ports: &[] }, // NDPI_PROTOCOL_HTTP_CONNECT
    Row { id: 131, name: "HTTP_Proxy", category: "Web", breed: "Acceptable", tcp_ports: &[8080, 3128], udp_ports: &[] }, // NDPI_PROTOCOL_HTTP_PROXY
    Row { id: 132, name: "Citrix", category: "Network", breed: "Acceptable", tcp_ports: &[1494, 2598], udp_ports: &[] }, // NDPI_PROTOCOL_CITRIX
    Row { id: 133, name: "NetFlix", category: "Video", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_NETFLIX
    Row { id: 134, name: "LastFM", category: "Music", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_LASTFM
    Row { id: 135, name: "Waze", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WAZE
    Row { id: 136, name: "YouTubeUpload", category: "Media", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YOUTUBE_UPLOAD
    Row { id: 137, name: "Hulu", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HULU
    Row { id: 138, name: "CHECKMK", category: "DataTransfer", breed: "Acceptable", tcp_ports: &[6556], udp_ports: &[] }, // NDPI_PROTOCOL_CHECKMK
    Row { id: 139, name: "AJP", category: "Web", breed: "Acceptable", tcp_ports: &[8009, 8010], udp_ports: &[] }, // NDPI_PROTOCOL_AJP
    Row { id: 140, name: "Apple", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_APPLE
    Row { id: 141, name: "Webex", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WEBEX
    Row { id: 142, name: "WhatsApp", category: "Chat", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WHATSAPP
    Row { id: 143, name: "AppleiCloud", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_APPLE_ICLOUD
    Row { id: 144, name: "Viber", category: "VoIP", breed: "Fun", tcp_ports: &[7985, 5242, 5243, 4244], udp_ports: &[7985, 7987, 5242, 5243, 4244] }, // NDPI_PROTOCOL_VIBER
    Row { id: 145, name: "AppleiTunes", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_APPLE_ITUNES
    Row { id: 146, name: "Radius", category: "Network", breed: "Acceptable", tcp_ports: &[1812, 1813], udp_ports: &[1812, 1813] }, // NDPI_PROTOCOL_RADIUS
    Row { id: 147, name: "WindowsUpdate", category: "SoftwareUpdate", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WINDOWS_UPDATE
    Row { id: 148, name: "TeamViewer", category: "RemoteAccess", breed: "Acceptable", tcp_ports: &[5938], udp_ports: &[5938] }, // NDPI_PROTOCOL_TEAMVIEWER
    Row { id: 149, name: "EthernetGlobalData", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_EGD
    Row { id: 150, name: "LotusNotes", category: "Collaborative", breed: "Acceptable", tcp_ports: &[1352], udp_ports: &[] }, // NDPI_PROTOCOL_LOTUS_NOTES
    Row { id: 151, name: "SAP", category: "Network", breed: "Acceptable", tcp_ports: &[3201], udp_ports: &[] }, // NDPI_PROTOCOL_SAP
    Row { id: 152, name: "GTP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[2152, 2123] }, // NDPI_PROTOCOL_GTP
    Row { id: 153, name: "WSD", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[3702] }, // NDPI_PROTOCOL_WSD
    Row { id: 154, name: "LLMNR", category: "Network", breed: "Acceptable", tcp_ports: &[5355], udp_ports: &[5355] }, // NDPI_PROTOCOL_LLMNR
    Row { id: 155, name: "TocaBoca", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[5055] }, // NDPI_PROTOCOL_TOCA_BOCA
    Row { id: 156, name: "Spotify", category: "Music", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SPOTIFY
    Row { id: 157, name: "FacebookMessenger", category: "Chat", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MESSENGER
    Row { id: 158, name: "H323", category: "VoIP", breed: "Acceptable", tcp_ports: &[1719, 1720], udp_ports: &[1719, 1720] }, // NDPI_PROTOCOL_H323
    Row { id: 159, name: "OpenVPN", category: "VPN", breed: "Acceptable", tcp_ports: &[1194], udp_ports: &[1194] }, // NDPI_PROTOCOL_OPENVPN
    Row { id: 160, name: "NOE", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_NOE
    Row { id: 161, name: "CiscoVPN", category: "VPN", breed: "Acceptable", tcp_ports: &[10000, 8008], udp_ports: &[10000] }, // NDPI_PROTOCOL_CISCOVPN
    Row { id: 162, name: "TeamSpeak", category: "VoIP", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TEAMSPEAK
    Row { id: 163, name: "Tor", category: "VPN", breed: "Potentially Dangerous", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TOR
    Row { id: 164, name: "CiscoSkinny", category: "VoIP", breed: "Acceptable", tcp_ports: &[2000], udp_ports: &[] }, // NDPI_PROTOCOL_SKINNY
    Row { id: 165, name: "RTCP", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_RTCP
    Row { id: 166, name: "RSYNC", category: "DataTransfer", breed: "Acceptable", tcp_ports: &[873], udp_ports: &[] }, // NDPI_PROTOCOL_RSYNC
    Row { id: 167, name: "Oracle", category: "Database", breed: "Acceptable", tcp_ports: &[1521], udp_ports: &[] }, // NDPI_PROTOCOL_ORACLE
    Row { id: 168, name: "Corba", category: "RPC", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CORBA
    Row { id: 169, name: "UbuntuONE", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_UBUNTUONE
    Row { id: 170, name: "Whois-DAS", category: "Network", breed: "Acceptable", tcp_ports: &[43, 4343], udp_ports: &[] }, // NDPI_PROTOCOL_WHOIS_DAS
    Row { id: 171, name: "SD-RTN", category: "Media", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SD_RTN
    Row { id: 172, name: "SOCKS", category: "Web", breed: "Acceptable", tcp_ports: &[1080], udp_ports: &[1080] }, // NDPI_PROTOCOL_SOCKS
    Row { id: 173, name: "Nintendo", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_NINTENDO
    Row { id: 174, name: "RTMP", category: "Media", breed: "Acceptable", tcp_ports: &[1935], udp_ports: &[] }, // NDPI_PROTOCOL_RTMP
    Row { id: 175, name: "FTP_DATA", category: "Download", breed: "Acceptable", tcp_ports: &[20], udp_ports: &[] }, // NDPI_PROTOCOL_FTP_DATA
    Row { id: 176, name: "Wikipedia", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WIKIPEDIA
    Row { id: 177, name: "ZeroMQ", category: "RPC", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ZMQ
    Row { id: 178, name: "Amazon", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_AMAZON
    Row { id: 179, name: "eBay", category: "Shopping", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_EBAY
    Row { id: 180, name: "CNN", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CNN
    Row { id: 181, name: "Megaco", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[2944] }, // NDPI_PROTOCOL_MEGACO
    Row { id: 182, name: "RESP", category: "Database", breed: "Acceptable", tcp_ports: &[6379], udp_ports: &[] }, // NDPI_PROTOCOL_RESP
    Row { id: 183, name: "Pinterest", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PINTEREST
    Row { id: 184, name: "VHUA", category: "VoIP", breed: "Fun", tcp_ports: &[], udp_ports: &[58267] }, // NDPI_PROTOCOL_VHUA
    Row { id: 185, name: "Telegram", category: "Chat", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TELEGRAM
    Row { id: 186, name: "CoD_Mobile", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_COD_MOBILE
    Row { id: 187, name: "Pandora", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PANDORA
    Row { id: 188, name: "QUIC", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[443] }, // NDPI_PROTOCOL_QUIC
    Row { id: 189, name: "Zoom", category: "Video", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ZOOM
    Row { id: 190, name: "EAQ", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[6000] }, // NDPI_PROTOCOL_EAQ
    Row { id: 191, name: "Ookla", category: "Network", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_OOKLA
    Row { id: 192, name: "AMQP", category: "RPC", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_AMQP
    Row { id: 193, name: "KakaoTalk", category: "Chat", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_KAKAOTALK
    Row { id: 194, name: "KakaoTalk_Voice", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_KAKAOTALK_VOICE
    Row { id: 195, name: "Twitch", category: "Video", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TWITCH
    Row { id: 196, name: "DoH_DoT", category: "Network", breed: "Acceptable", tcp_ports: &[853], udp_ports: &[784, 853] }, // NDPI_PROTOCOL_DOH_DOT
    Row { id: 197, name: "WeChat", category: "Chat", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WECHAT
    Row { id: 198, name: "MPEG_TS", category: "Media", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MPEGTS
    Row { id: 199, name: "Snapchat", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SNAPCHAT
    Row { id: 200, name: "Sina", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SINA
    Row { id: 201, name: "GoogleMeet", category: "Chat", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOOGLE_MEET
    Row { id: 202, name: "IFLIX", category: "Video", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IFLIX
    Row { id: 203, name: "Github", category: "Collaborative", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GITHUB
    Row { id: 204, name: "BJNP", category: "System", breed: "Acceptable", tcp_ports: &[], udp_ports: &[8612] }, // NDPI_PROTOCOL_BJNP
    Row { id: 205, name: "Reddit", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_REDDIT
    Row { id: 206, name: "WireGuard", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[51820] }, // NDPI_PROTOCOL_WIREGUARD
    Row { id: 207, name: "SMPP", category: "Download", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SMPP
    Row { id: 208, name: "DNScrypt", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DNSCRYPT
    Row { id: 209, name: "TINC", category: "VPN", breed: "Acceptable", tcp_ports: &[655], udp_ports: &[655] }, // NDPI_PROTOCOL_TINC
    Row { id: 210, name: "Deezer", category: "Music", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DEEZER
    Row { id: 211, name: "Instagram", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_INSTAGRAM
    Row { id: 212, name: "Microsoft", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MICROSOFT
    Row { id: 213, name: "Starcraft", category: "Game", breed: "Fun", tcp_ports: &[1119], udp_ports: &[1119] }, // NDPI_PROTOCOL_STARCRAFT
    Row { id: 214, name: "Teredo", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TEREDO
    Row { id: 215, name: "HotspotShield", category: "VPN", breed: "Potentially Dangerous", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HOTSPOT_SHIELD
    Row { id: 216, name: "IMO", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IMO
    Row { id: 217, name: "GoogleDrive", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOOGLE_DRIVE
    Row { id: 218, name: "OCS", category: "Media", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_OCS
    Row { id: 219, name: "Microsoft365", category: "Collaborative", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MICROSOFT_365
    Row { id: 220, name: "Cloudflare", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CLOUDFLARE
    Row { id: 221, name: "MS_OneDrive", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MS_ONE_DRIVE
    Row { id: 222, name: "MQTT", category: "RPC", breed: "Acceptable", tcp_ports: &[1883, 8883], udp_ports: &[] }, // NDPI_PROTOCOL_MQTT
    Row { id: 223, name: "RX", category: "RPC", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_RX
    Row { id: 224, name: "AppleStore", category: "SoftwareUpdate", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_APPLESTORE
    Row { id: 225, name: "OpenDNS", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_OPENDNS
    Row { id: 226, name: "Git", category: "Collaborative", breed: "Safe", tcp_ports: &[9418], udp_ports: &[] }, // NDPI_PROTOCOL_GIT
    Row { id: 227, name: "DRDA", category: "Database", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DRDA
    Row { id: 228, name: "PlayStore", category: "SoftwareUpdate", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PLAYSTORE
    Row { id: 229, name: "SOMEIP", category: "RPC", breed: "Acceptable", tcp_ports: &[30491, 30501], udp_ports: &[30491, 30501, 30490] }, // NDPI_PROTOCOL_SOMEIP
    Row { id: 230, name: "FIX", category: "RPC", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_FIX
    Row { id: 231, name: "Playstation", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PLAYSTATION
    Row { id: 232, name: "Pastebin", category: "Download", breed: "Potentially Dangerous", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PASTEBIN
    Row { id: 233, name: "LinkedIn", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_LINKEDIN
    Row { id: 234, name: "SoundCloud", category: "Music", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SOUNDCLOUD
    Row { id: 235, name: "SteamDatagramRelay", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_VALVE_SDR
    Row { id: 236, name: "LISP", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[4342, 4341] }, // NDPI_PROTOCOL_LISP
    Row { id: 237, name: "Diameter", category: "Network", breed: "Acceptable", tcp_ports: &[3868], udp_ports: &[] }, // NDPI_PROTOCOL_DIAMETER
    Row { id: 238, name: "ApplePush", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_APPLE_PUSH
    Row { id: 239, name: "GoogleServices", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOOGLE_SERVICES
    Row { id: 240, name: "AmazonVideo", category: "Cloud", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_AMAZON_VIDEO
    Row { id: 241, name: "GoogleDocs", category: "Collaborative", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOOGLE_DOCS
    Row { id: 242, name: "WhatsAppFiles", category: "Download", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WHATSAPP_FILES
    Row { id: 243, name: "TargusDataspeed", category: "Network", breed: "Acceptable", tcp_ports: &[5001, 5201], udp_ports: &[5001, 5201] }, // NDPI_PROTOCOL_TARGUS_GETDATA
    Row { id: 244, name: "DNP3", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[20000], udp_ports: &[] }, // NDPI_PROTOCOL_DNP3
    Row { id: 245, name: "IEC60870", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[2404], udp_ports: &[] }, // NDPI_PROTOCOL_IEC60870
    Row { id: 246, name: "Bloomberg", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_BLOOMBERG
    Row { id: 247, name: "CAPWAP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[5246, 5247] }, // NDPI_PROTOCOL_CAPWAP
    Row { id: 248, name: "Zabbix", category: "Network", breed: "Acceptable", tcp_ports: &[10050, 10051], udp_ports: &[] }, // NDPI_PROTOCOL_ZABBIX
    Row { id: 249, name: "S7Comm", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_S7COMM
    Row { id: 250, name: "Teams", category: "Collaborative", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MSTEAMS
    Row { id: 251, name: "WebSocket", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WEBSOCKET
    Row { id: 252, name: "AnyDesk", category: "RemoteAccess", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ANYDESK
    Row { id: 253, name: "SOAP", category: "RPC", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SOAP
    Row { id: 254, name: "AppleSiri", category: "VirtAssistant", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_APPLE_SIRI
    Row { id: 255, name: "SnapchatCall", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SNAPCHAT_CALL
    Row { id: 256, name: "HP_VIRTGRP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HPVIRTGRP
    Row { id: 257, name: "GenshinImpact", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[22102] }, // NDPI_PROTOCOL_GENSHIN_IMPACT
    Row { id: 258, name: "Activision", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ACTIVISION
    Row { id: 259, name: "FortiClient", category: "VPN", breed: "Safe", tcp_ports: &[8013, 8014], udp_ports: &[] }, // NDPI_PROTOCOL_FORTICLIENT
    Row { id: 260, name: "Z3950", category: "Network", breed: "Acceptable", tcp_ports: &[210], udp_ports: &[] }, // NDPI_PROTOCOL_Z3950
    Row { id: 261, name: "Likee", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_LIKEE
    Row { id: 262, name: "GitLab", category: "Collaborative", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GITLAB
    Row { id: 263, name: "AVASTSecureDNS", category: "Network", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_AVAST_SECUREDNS
    Row { id: 264, name: "Cassandra", category: "Database", breed: "Acceptable", tcp_ports: &[7000, 9042], udp_ports: &[] }, // NDPI_PROTOCOL_CASSANDRA
    Row { id: 265, name: "AmazonAWS", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_AMAZON_AWS
    Row { id: 266, name: "Salesforce", category: "Cloud", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SALESFORCE
    Row { id: 267, name: "Vimeo", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_VIMEO
    Row { id: 268, name: "FacebookVoip", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_FACEBOOK_VOIP
    Row { id: 269, name: "SignalVoip", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SIGNAL_VOIP
    Row { id: 270, name: "Fuze", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_FUZE
    Row { id: 271, name: "GTP_U", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GTP_U
    Row { id: 272, name: "GTP_C", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GTP_C
    Row { id: 273, name: "GTP_PRIME", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GTP_PRIME
    Row { id: 274, name: "Alibaba", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ALIBABA
    Row { id: 275, name: "Crashlytics", category: "DataTransfer", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CRASHLYSTICS
    Row { id: 276, name: "Azure", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MICROSOFT_AZURE
    Row { id: 277, name: "iCloudPrivateRelay", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ICLOUD_PRIVATE_RELAY
    Row { id: 278, name: "EthernetIP", category: "Network", breed: "Acceptable", tcp_ports: &[44818], udp_ports: &[] }, // NDPI_PROTOCOL_ETHERNET_IP
    Row { id: 279, name: "Badoo", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_BADOO
    Row { id: 280, name: "AccuWeather", category: "Web", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ACCUWEATHER
    Row { id: 281, name: "GoogleClassroom", category: "Collaborative", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOOGLE_CLASSROOM
    Row { id: 282, name: "HSRP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[1985] }, // NDPI_PROTOCOL_HSRP
    Row { id: 283, name: "Cybersec", category: "Cybersecurity", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CYBERSECURITY
    Row { id: 284, name: "GoogleCloud", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOOGLE_CLOUD
    Row { id: 285, name: "Tencent", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TENCENT
    Row { id: 286, name: "RakNet", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_RAKNET
    Row { id: 287, name: "Xiaomi", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_XIAOMI
    Row { id: 288, name: "Edgecast", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_EDGECAST
    Row { id: 289, name: "Cachefly", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CACHEFLY
    Row { id: 290, name: "Softether", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SOFTETHER
    Row { id: 291, name: "MpegDash", category: "Media", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MPEGDASH
    Row { id: 292, name: "Dazn", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DAZN
    Row { id: 293, name: "GoTo", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOTO
    Row { id: 294, name: "RSH", category: "RemoteAccess", breed: "Unsafe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_RSH
    Row { id: 295, name: "1kxun", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_1KXUN
    Row { id: 296, name: "PGM", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IP_PGM
    Row { id: 297, name: "IP_PIM", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IP_PIM
    Row { id: 298, name: "collectd", category: "System", breed: "Acceptable", tcp_ports: &[], udp_ports: &[25826] }, // NDPI_PROTOCOL_COLLECTD
    Row { id: 299, name: "TunnelBear", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TUNNELBEAR
    Row { id: 300, name: "CloudflareWarp", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CLOUDFLARE_WARP
    Row { id: 301, name: "i3D", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_I3D
    Row { id: 302, name: "RiotGames", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_RIOTGAMES
    Row { id: 303, name: "Psiphon", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PSIPHON
    Row { id: 304, name: "UltraSurf", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ULTRASURF
    Row { id: 305, name: "Threema", category: "Chat", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_THREEMA
    Row { id: 306, name: "AliCloud", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ALICLOUD
    Row { id: 307, name: "AVAST", category: "Network", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_AVAST
    Row { id: 308, name: "TiVoConnect", category: "Network", breed: "Fun", tcp_ports: &[2190], udp_ports: &[2190] }, // NDPI_PROTOCOL_TIVOCONNECT
    Row { id: 309, name: "Kismet", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_KISMET
    Row { id: 310, name: "FastCGI", category: "Network", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_FASTCGI
    Row { id: 311, name: "FTPS", category: "Download", breed: "Unsafe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_FTPS
    Row { id: 312, name: "NAT-PMP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[5351] }, // NDPI_PROTOCOL_NATPMP
    Row { id: 313, name: "Syncthing", category: "Download", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SYNCTHING
    Row { id: 314, name: "CryNetwork", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CRYNET
    Row { id: 315, name: "Line", category: "Chat", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_LINE
    Row { id: 316, name: "LineCall", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_LINE_CALL
    Row { id: 317, name: "AppleTVPlus", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_APPLETVPLUS
    Row { id: 318, name: "DirecTV", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DIRECTV
    Row { id: 319, name: "HBO", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HBO
    Row { id: 320, name: "Vudu", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_VUDU
    Row { id: 321, name: "Showtime", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SHOWTIME
    Row { id: 322, name: "Dailymotion", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DAILYMOTION
    Row { id: 323, name: "Livestream", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_LIVESTREAM
    Row { id: 324, name: "Tencentvideo", category: "Streaming", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TENCENTVIDEO
    Row { id: 325, name: "IHeartRadio", category: "Music", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_IHEARTRADIO
    Row { id: 326, name: "Tidal", category: "Music", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TIDAL
    Row { id: 327, name: "TuneIn", category: "Music", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TUNEIN
    Row { id: 328, name: "SiriusXMRadio", category: "Music", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SIRIUSXMRADIO
    Row { id: 329, name: "Munin", category: "System", breed: "Acceptable", tcp_ports: &[4949], udp_ports: &[] }, // NDPI_PROTOCOL_MUNIN
    Row { id: 330, name: "Elasticsearch", category: "System", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ELASTICSEARCH
    Row { id: 331, name: "TuyaLP", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[6667] }, // NDPI_PROTOCOL_TUYA_LP
    Row { id: 332, name: "TPLINK_SHP", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[9999], udp_ports: &[9999] }, // NDPI_PROTOCOL_TPLINK_SHP
    Row { id: 333, name: "Source_Engine", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[27015] }, // NDPI_PROTOCOL_SOURCE_ENGINE
    Row { id: 334, name: "BACnet", category: "IoT-Scada", breed: "Safe", tcp_ports: &[], udp_ports: &[47808] }, // NDPI_PROTOCOL_BACNET
    Row { id: 335, name: "OICQ", category: "Chat", breed: "Acceptable", tcp_ports: &[], udp_ports: &[8000] }, // NDPI_PROTOCOL_OICQ
    Row { id: 336, name: "Heroes_of_the_Storm", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HOTS
    Row { id: 337, name: "FbookReelStory", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_FACEBOOK_REEL_STORY
    Row { id: 338, name: "SRTP", category: "Media", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SRTP
    Row { id: 339, name: "OperaVPN", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_OPERA_VPN
    Row { id: 340, name: "EpicGames", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_EPICGAMES
    Row { id: 341, name: "GeForceNow", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GEFORCENOW
    Row { id: 342, name: "Nvidia", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_NVIDIA
    Row { id: 343, name: "BITCOIN", category: "Crypto_Currency", breed: "Acceptable", tcp_ports: &[8333], udp_ports: &[] }, // NDPI_PROTOCOL_BITCOIN
    Row { id: 344, name: "ProtonVPN", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PROTONVPN
    Row { id: 345, name: "Thrift", category: "RPC", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_APACHE_THRIFT
    Row { id: 346, name: "Roblox", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ROBLOX
    Row { id: 347, name: "Service_Location_Protocol", category: "RPC", breed: "Acceptable", tcp_ports: &[427], udp_ports: &[427] }, // NDPI_PROTOCOL_SERVICE_LOCATION
    Row { id: 348, name: "Mullvad", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MULLVAD
    Row { id: 349, name: "HTTP2", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HTTP2
    Row { id: 350, name: "HAProxy", category: "Web", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HAPROXY
    Row { id: 351, name: "RMCP", category: "System", breed: "Safe", tcp_ports: &[], udp_ports: &[623] }, // NDPI_PROTOCOL_RMCP
    Row { id: 352, name: "Controller_Area_Network", category: "System", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CAN
    Row { id: 353, name: "Protobuf", category: "Network", breed: "Safe", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PROTOBUF
    Row { id: 354, name: "ETHEREUM", category: "Crypto_Currency", breed: "Acceptable", tcp_ports: &[30303], udp_ports: &[] }, // NDPI_PROTOCOL_ETHEREUM
    Row { id: 355, name: "TelegramVoip", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TELEGRAM_VOIP
    Row { id: 356, name: "SinaWeibo", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SINA_WEIBO
    Row { id: 357, name: "TeslaServices", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TESLA_SERVICES
    Row { id: 358, name: "PTPv2", category: "System", breed: "Acceptable", tcp_ports: &[], udp_ports: &[319, 320] }, // NDPI_PROTOCOL_PTPV2
    Row { id: 359, name: "RTPS", category: "RPC", breed: "Acceptable", tcp_ports: &[], udp_ports: &[7401] }, // NDPI_PROTOCOL_RTPS
    Row { id: 360, name: "OPC-UA", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[4840], udp_ports: &[] }, // NDPI_PROTOCOL_OPC_UA
    Row { id: 361, name: "S7CommPlus", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_S7COMM_PLUS
    Row { id: 362, name: "FINS", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[9600], udp_ports: &[9600] }, // NDPI_PROTOCOL_FINS
    Row { id: 363, name: "EtherSIO", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[6060] }, // NDPI_PROTOCOL_ETHERSIO
    Row { id: 364, name: "UMAS", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_UMAS
    Row { id: 365, name: "BeckhoffADS", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[48898], udp_ports: &[] }, // NDPI_PROTOCOL_BECKHOFF_ADS
    Row { id: 366, name: "ISO9506-1-MMS", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ISO9506_1_MMS
    Row { id: 367, name: "IEEE-C37118", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[4712], udp_ports: &[4713] }, // NDPI_PROTOCOL_IEEE_C37118
    Row { id: 368, name: "Ether-S-Bus", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[5050] }, // NDPI_PROTOCOL_ETHERSBUS
    Row { id: 369, name: "Monero", category: "Crypto_Currency", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MONERO
    Row { id: 370, name: "DCERPC", category: "RPC", breed: "Acceptable", tcp_ports: &[135], udp_ports: &[135] }, // NDPI_PROTOCOL_DCERPC
    Row { id: 371, name: "PROFINET_IO", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PROFINET_IO
    Row { id: 372, name: "HiSLIP", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[4880], udp_ports: &[] }, // NDPI_PROTOCOL_HISLIP
    Row { id: 373, name: "UFTP", category: "Download", breed: "Acceptable", tcp_ports: &[], udp_ports: &[1044] }, // NDPI_PROTOCOL_UFTP
    Row { id: 374, name: "OpenFlow", category: "Network", breed: "Acceptable", tcp_ports: &[6653], udp_ports: &[] }, // NDPI_PROTOCOL_OPENFLOW
    Row { id: 375, name: "JSON-RPC", category: "RPC", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_JSON_RPC
    Row { id: 376, name: "WebDAV", category: "Collaborative", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WEBDAV
    Row { id: 377, name: "Kafka", category: "RPC", breed: "Acceptable", tcp_ports: &[9092], udp_ports: &[] }, // NDPI_PROTOCOL_APACHE_KAFKA
    Row { id: 378, name: "NoMachine", category: "RemoteAccess", breed: "Acceptable", tcp_ports: &[4000], udp_ports: &[4000] }, // NDPI_PROTOCOL_NOMACHINE
    Row { id: 379, name: "IEC62056", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[4059], udp_ports: &[4059] }, // NDPI_PROTOCOL_IEC62056
    Row { id: 380, name: "HL7", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[2575], udp_ports: &[] }, // NDPI_PROTOCOL_HL7
    Row { id: 381, name: "Ceph", category: "DataTransfer", breed: "Acceptable", tcp_ports: &[3300, 6789], udp_ports: &[] }, // NDPI_PROTOCOL_CEPH
    Row { id: 382, name: "GoogleChat", category: "Chat", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOOGLE_CHAT
    Row { id: 383, name: "Roughtime", category: "System", breed: "Acceptable", tcp_ports: &[2002], udp_ports: &[2002] }, // NDPI_PROTOCOL_ROUGHTIME
    Row { id: 384, name: "PrivateInternetAccess", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PIA
    Row { id: 385, name: "KCP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_KCP
    Row { id: 386, name: "Dota2", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DOTA2
    Row { id: 387, name: "Mumble", category: "VoIP", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MUMBLE
    Row { id: 388, name: "Yojimbo", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_YOJIMBO
    Row { id: 389, name: "ElectronicArts", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ELECTRONICARTS
    Row { id: 390, name: "STOMP", category: "RPC", breed: "Acceptable", tcp_ports: &[61613], udp_ports: &[] }, // NDPI_PROTOCOL_STOMP
    Row { id: 391, name: "Radmin", category: "RemoteAccess", breed: "Acceptable", tcp_ports: &[4899], udp_ports: &[] }, // NDPI_PROTOCOL_RADMIN
    Row { id: 392, name: "Raft", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_RAFT
    Row { id: 393, name: "CIP", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[2222] }, // NDPI_PROTOCOL_CIP
    Row { id: 394, name: "Gearman", category: "RPC", breed: "Acceptable", tcp_ports: &[4730], udp_ports: &[] }, // NDPI_PROTOCOL_GEARMAN
    Row { id: 395, name: "TencentGames", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TENCENTGAMES
    Row { id: 396, name: "GaijinEntertainment", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[20011] }, // NDPI_PROTOCOL_GAIJIN
    Row { id: 397, name: "ANSI_C1222", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[1153], udp_ports: &[1153] }, // NDPI_PROTOCOL_C1222
    Row { id: 398, name: "Huawei", category: "Web", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HUAWEI
    Row { id: 399, name: "HuaweiCloud", category: "Cloud", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HUAWEI_CLOUD
    Row { id: 400, name: "DLEP", category: "Network", breed: "Acceptable", tcp_ports: &[854], udp_ports: &[854] }, // NDPI_PROTOCOL_DLEP
    Row { id: 401, name: "BFD", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[3784, 3785] }, // NDPI_PROTOCOL_BFD
    Row { id: 402, name: "NetEaseGames", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_NETEASE_GAMES
    Row { id: 403, name: "PathofExile", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_PATHOFEXILE
    Row { id: 404, name: "GoogleCall", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_GOOGLE_CALL
    Row { id: 405, name: "PFCP", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[8805] }, // NDPI_PROTOCOL_PFCP
    Row { id: 406, name: "FLUTE", category: "Download", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_FLUTE
    Row { id: 407, name: "LoLWildRift", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_LOLWILDRIFT
    Row { id: 408, name: "TES_Online", category: "Game", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_TESO
    Row { id: 409, name: "LDP", category: "Network", breed: "Acceptable", tcp_ports: &[646], udp_ports: &[646] }, // NDPI_PROTOCOL_LDP
    Row { id: 410, name: "KNXnet_IP", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[3671], udp_ports: &[3671] }, // NDPI_PROTOCOL_KNXNET_IP
    Row { id: 411, name: "Bluesky", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_BLUESKY
    Row { id: 412, name: "Mastodon", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_MASTODON
    Row { id: 413, name: "Threads", category: "SocialNetwork", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_THREADS
    Row { id: 414, name: "ViberVoip", category: "VoIP", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_VIBER_VOIP
    Row { id: 415, name: "ZUG", category: "Crypto_Currency", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ZUG
    Row { id: 416, name: "JRMI", category: "RPC", breed: "Acceptable", tcp_ports: &[1099], udp_ports: &[] }, // NDPI_PROTOCOL_JRMI
    Row { id: 417, name: "RipeAtlas", category: "Network", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_RIPE_ATLAS
    Row { id: 418, name: "HLS", category: "Media", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_HLS
    Row { id: 419, name: "ClickHouse", category: "Database", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CLICKHOUSE
    Row { id: 420, name: "Nano", category: "Crypto_Currency", breed: "Acceptable", tcp_ports: &[7075], udp_ports: &[] }, // NDPI_PROTOCOL_NANO
    Row { id: 421, name: "OpenWire", category: "RPC", breed: "Acceptable", tcp_ports: &[61616], udp_ports: &[] }, // NDPI_PROTOCOL_OPENWIRE
    Row { id: 422, name: "CNP-IP", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CNP_IP
    Row { id: 423, name: "ATG", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_ATG
    Row { id: 424, name: "TRDP", category: "IoT-Scada", breed: "Acceptable", tcp_ports: &[17225], udp_ports: &[17224, 17225] }, // NDPI_PROTOCOL_TRDP
    Row { id: 425, name: "Lustre", category: "DataTransfer", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_LUSTRE
    Row { id: 426, name: "NordVPN", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_NORDVPN
    Row { id: 427, name: "SurfShark", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SURFSHARK
    Row { id: 428, name: "CactusVPN", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_CACTUSVPN
    Row { id: 429, name: "Windscribe", category: "VPN", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_WINDSCRIBE
    Row { id: 430, name: "Sonos", category: "Music", breed: "Fun", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_SONOS
    Row { id: 431, name: "DingTalk", category: "Chat", breed: "Acceptable", tcp_ports: &[], udp_ports: &[] }, // NDPI_PROTOCOL_DINGTALK
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_indices() {
        assert_eq!(ROWS.len(), 432);
        for (i, row) in ROWS.iter().enumerate() {
            assert_eq!(usize::from(row.id), i);
        }
    }

    #[test]
    fn names_unique_case_insensitive() {
        let mut names: Vec<String> = ROWS.iter().map(|r| r.name.to_ascii_lowercase()).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn categories_known() {
        for row in ROWS {
            assert!(
                CATEGORIES.contains(&row.category),
                "{} {}",
                row.id,
                row.category
            );
        }
    }

    #[test]
    fn breeds_known() {
        const BREEDS: &[&str] = &[
            "Safe",
            "Acceptable",
            "Fun",
            "Unsafe",
            "Potentially Dangerous",
            "Tracker/Ads",
            "Dangerous",
            "Unrated",
        ];
        for row in ROWS {
            assert!(BREEDS.contains(&row.breed), "{} {}", row.id, row.breed);
        }
    }

    #[test]
    fn spot_checks() {
        let check = |id: usize, name: &str, category: &str| {
            assert_eq!(ROWS[id].name, name);
            assert_eq!(ROWS[id].category, category);
        };
        check(0, "Unknown", "Unspecified");
        check(5, "DNS", "Network");
        check(7, "HTTP", "Web");
        check(37, "BitTorrent", "Download");
        check(91, "TLS", "Web");
        check(124, "YouTube", "Media");
        check(125, "Skype_Teams", "VoIP");
        check(188, "QUIC", "Web");
        assert_eq!(ROWS[0].breed, "Unrated");
        assert_eq!(ROWS[5].udp_ports, &[53u16]);
        assert_eq!(ROWS[7].tcp_ports, &[80u16]);
        assert_eq!(ROWS[91].tcp_ports, &[443u16]);
        assert_eq!(ROWS[188].udp_ports, &[443u16]);
    }
}
