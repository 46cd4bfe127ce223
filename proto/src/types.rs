//! Newtypes for values that cross process boundaries and are easy to swap by mistake.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::pb;

/// An NFQUEUE queue number (`--queue-num N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueNum(pub u16);

/// An nDPI protocol id (`[125] Skype_Teams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AppId(pub u16);

/// A packet or connection mark (`skb->mark`, `ct->mark`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mark(pub u32);

/// IP protocol numbers nfguard distinguishes.
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

/// A flow's identity: the client (SYN sender, else the ephemeral-port side) and the server, plus the L4 protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub l4: u8,
}

/// What happens to a packet or flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
}

// === impl AppId ===

impl AppId {
    pub const UNKNOWN: AppId = AppId(0);

    /// The protocol's nDPI name, or `"Unknown"` for an id outside the table.
    pub fn name(self) -> &'static str {
        crate::protocols::by_id(self).map_or("Unknown", |p| p.name)
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.0, self.name())
    }
}

// === impl Mark ===

impl Mark {
    /// `(self & !mask) | (bits & mask)`: nfguard never overwrites bits outside its masks (DESIGN §5).
    pub fn with_bits(self, mask: u32, bits: u32) -> Mark {
        Mark((self.0 & !mask) | (bits & mask))
    }

    /// The bits under `mask`, shifted down to start at bit 0.
    pub fn field(self, mask: u32) -> u32 {
        if mask == 0 {
            return 0;
        }
        (self.0 & mask) >> mask.trailing_zeros()
    }

    /// Places `value` into the field described by `mask` (shifted up to the mask's lowest bit).
    pub fn with_field(self, mask: u32, value: u32) -> Mark {
        if mask == 0 {
            return self;
        }
        self.with_bits(mask, value.checked_shl(mask.trailing_zeros()).unwrap_or(0))
    }
}

// === impl Verdict ===

impl Verdict {
    /// The verdict bits of DESIGN §5 (0 undecided, 1 pass, 2 drop, 3 reject).
    pub fn bits(self) -> u32 {
        match self {
            Verdict::Accept => 1,
            Verdict::Drop => 2,
            Verdict::Reject => 3,
        }
    }

    pub fn from_bits(bits: u32) -> Option<Verdict> {
        match bits {
            1 => Some(Verdict::Accept),
            2 => Some(Verdict::Drop),
            3 => Some(Verdict::Reject),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
            Verdict::Reject => "reject",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl FlowKey ===

impl FlowKey {
    /// The wire form used in bus messages.
    pub fn to_tuple(&self) -> pb::Tuple {
        pb::Tuple {
            client_ip: ip_bytes(self.client.ip()),
            server_ip: ip_bytes(self.server.ip()),
            client_port: u32::from(self.client.port()),
            server_port: u32::from(self.server.port()),
            l4: u32::from(self.l4),
        }
    }

    /// Reads a bus tuple; `None` when an address is not 4 or 16 bytes or a number is out of range.
    pub fn from_tuple(t: &pb::Tuple) -> Option<FlowKey> {
        Some(FlowKey {
            client: SocketAddr::new(
                ip_from_bytes(&t.client_ip)?,
                u16::try_from(t.client_port).ok()?,
            ),
            server: SocketAddr::new(
                ip_from_bytes(&t.server_ip)?,
                u16::try_from(t.server_port).ok()?,
            ),
            l4: u8::try_from(t.l4).ok()?,
        })
    }

    /// `"TCP"`, `"UDP"`, `"ICMP"`, `"ICMPV6"` or the number.
    pub fn l4_name(&self) -> String {
        l4_name(self.l4)
    }
}

/// Name of an IP protocol number as the flow JSON prints it: nDPI's spelling (ndpiReader's flow
/// JSON in the corpus reference prints IGMP, ESP and AH by name; `ndpi_get_ip_proto_name` in
/// `src/lib/ndpi_utils.c` adds VRRP), the IANA keyword for GRE and SCTP, else the number.
pub fn l4_name(l4: u8) -> String {
    match l4 {
        IPPROTO_TCP => "TCP".into(),
        IPPROTO_UDP => "UDP".into(),
        IPPROTO_ICMP => "ICMP".into(),
        IPPROTO_ICMPV6 => "ICMPV6".into(),
        2 => "IGMP".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        51 => "AH".into(),
        112 => "VRRP".into(),
        132 => "SCTP".into(),
        n => n.to_string(),
    }
}

/// 4 or 16 bytes of an address.
pub fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The address in 4 or 16 bytes, `None` for any other length.
pub fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::from(a));
    }
    <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn l4_names_follow_ndpi() {
        for (n, name) in [
            (6, "TCP"),
            (17, "UDP"),
            (1, "ICMP"),
            (58, "ICMPV6"),
            (2, "IGMP"),
        ] {
            assert_eq!(l4_name(n), name);
        }
        for (n, name) in [
            (47, "GRE"),
            (50, "ESP"),
            (51, "AH"),
            (112, "VRRP"),
            (132, "SCTP"),
        ] {
            assert_eq!(l4_name(n), name);
        }
        assert_eq!(l4_name(99), "99");
    }

    #[test]
    fn mark_keeps_foreign_bits() {
        let m = Mark(0xdead_0f00).with_bits(0x3, 2);
        assert_eq!(m.0, 0xdead_0f02);
        let m = m.with_field(0xffff_0000, 125);
        assert_eq!(m.0, 0x007d_0f02);
        assert_eq!(m.field(0xffff_0000), 125);
        assert_eq!(m.field(0x3), 2);
        assert_eq!(Mark(0x0f).field(0xfc), 3);
    }

    #[test]
    fn tuple_round_trip_v4_v6() {
        for (c, s) in [
            ("10.0.0.2:51000", "10.0.1.2:443"),
            ("[fd00::2]:51000", "[2001:db8::1]:443"),
        ] {
            let k = FlowKey {
                client: c.parse().unwrap(),
                server: s.parse().unwrap(),
                l4: IPPROTO_TCP,
            };
            assert_eq!(FlowKey::from_tuple(&k.to_tuple()), Some(k));
        }
    }

    #[test]
    fn bad_tuple_is_none() {
        let t = pb::Tuple {
            client_ip: vec![1, 2, 3],
            ..Default::default()
        };
        assert_eq!(FlowKey::from_tuple(&t), None);
        let t = pb::Tuple {
            client_ip: vec![1; 4],
            server_ip: vec![1; 4],
            client_port: 70000,
            ..Default::default()
        };
        assert_eq!(FlowKey::from_tuple(&t), None);
    }
}
