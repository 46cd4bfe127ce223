//! Tunnel decapsulation for the replay: given one IP packet's protocol and payload, finds the IP
//! packet a tunnel carries inside it, so the replay can emit the inner flow as nDPI's ndpiReader
//! does (`example/reader_util.c`, `ndpi_workflow_process_packet` with `decode_tunnels`).
//!
//! Covered: GRE version 0 (RFC 2784/2890: IPv4, IPv6, Transparent Ethernet Bridging, ERSPAN
//! type II/III) and the PPTP enhanced GRE version 1 (RFC 2637 §4.1, PPP inside), CAPWAP data
//! (RFC 5415, UDP 5247, IEEE 802.11 data frame + LLC/SNAP), VXLAN (RFC 7348, UDP 4789), TZSP
//! (UDP 37008, Ethernet inside) and GTP-U (UDP 2152, T-PDU). 6in4 (41) and IP-in-IP (4) are
//! followed by the replay loop itself, which replaces the outer packet as ndpiReader does.
//!
//! Every function returns a sub-slice of its input: nothing is copied or allocated.
// Tunnel headers come from the capture file: as untrusted as any packet (STYLE §2).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use nfguard_proto::types::IPPROTO_UDP;

use crate::capture_file::{self, link};
use crate::dissect::be16;

/// IP protocol number of GRE.
pub const IPPROTO_GRE: u8 = 47;
/// UDP ports of the tunnels decoded here (reader_util.c: `NDPI_CAPWAP_DATA_PORT`, `TZSP_PORT`,
/// `GTP_U_V1_PORT`, the VXLAN default port).
const CAPWAP_DATA_PORT: u16 = 5247;
const VXLAN_PORT: u16 = 4789;
const TZSP_PORT: u16 = 37008;
const GTP_U_PORT: u16 = 2152;
/// GTP-U extension headers followed at most.
const MAX_GTP_EXTENSIONS: usize = 8;
/// TZSP tags skipped at most before giving up.
const MAX_TZSP_TAGS: usize = 32;

/// The IP packet (starting at its version nibble) carried by a tunnel packet whose IP protocol is
/// `proto` and whose IP payload is `l4`; `None` when it is not a tunnel this module decodes.
#[must_use]
pub fn inner_ip(proto: u8, l4: &[u8]) -> Option<&[u8]> {
    let ip = match proto {
        IPPROTO_GRE => gre(l4)?,
        IPPROTO_UDP => udp(l4)?,
        _ => return None,
    };
    // Only hand back something that starts like an IP header.
    matches!(ip.first()? >> 4, 4 | 6).then_some(ip)
}

/// GRE: reader_util.c `ndpi_is_valid_gre_tunnel`, with the flag layout of RFC 2784/2890 (v0) and
/// RFC 2637 §4.1 (v1).
fn gre(b: &[u8]) -> Option<&[u8]> {
    let flags = be16(b, 0)?;
    let proto = be16(b, 2)?;
    let (csum, routing, key, seq, strict, recur, ack) = (
        flags & 0x8000 != 0,
        flags & 0x4000 != 0,
        flags & 0x2000 != 0,
        flags & 0x1000 != 0,
        flags & 0x0800 != 0,
        flags & 0x0700 != 0,
        flags & 0x0080 != 0,
    );
    // Source routing (RFC 1701) is obsolete; reserved bits must be zero.
    if routing || strict || recur || flags & 0x0078 != 0 {
        return None;
    }
    let mut at = 4usize;
    match flags & 0x0007 {
        0 => {
            if ack {
                return None;
            }
            for present in [csum, key, seq] {
                if present {
                    at = at.checked_add(4)?;
                }
            }
        }
        1 => {
            // Enhanced GRE carries PPP only, always with the key (payload length + call id).
            if csum || !key || proto != 0x880b {
                return None;
            }
            for present in [key, seq, ack] {
                if present {
                    at = at.checked_add(4)?;
                }
            }
        }
        _ => return None,
    }
    let inner = b.get(at..)?;
    match proto {
        0x0800 | 0x86dd => Some(inner),
        0x880b => ppp(inner),
        // Transparent Ethernet Bridging.
        0x6558 => capture_file::ip_of_frame(link::ETHERNET, inner),
        // ERSPAN type II: 8-byte header, then the mirrored Ethernet frame.
        0x88be => capture_file::ip_of_frame(link::ETHERNET, inner.get(8..)?),
        // ERSPAN type III: 12-byte header, 8 more when the O bit (last bit) says a platform
        // specific sub-header follows.
        0x22eb => {
            let skip = if inner.get(11)? & 1 != 0 { 20 } else { 12 };
            capture_file::ip_of_frame(link::ETHERNET, inner.get(skip..)?)
        }
        _ => None,
    }
}

/// A PPP frame (RFC 1661, with or without the HDLC address/control bytes `ff 03`) carrying IPv4
/// (0x0021) or IPv6 (0x0057); the protocol field may be compressed to one byte (RFC 1661 §6.5).
fn ppp(b: &[u8]) -> Option<&[u8]> {
    let b = if b.starts_with(&[0xff, 0x03]) {
        b.get(2..)?
    } else {
        b
    };
    match *b.first()? {
        0x21 | 0x57 => b.get(1..),
        0x00 if matches!(b.get(1)?, 0x21 | 0x57) => b.get(2..),
        _ => None,
    }
}

/// UDP-carried tunnels, recognised by port and then by header shape.
fn udp(b: &[u8]) -> Option<&[u8]> {
    let (sport, dport) = (be16(b, 0)?, be16(b, 2)?);
    let payload = b.get(8..)?;
    let on = |port: u16| sport == port || dport == port;
    if on(CAPWAP_DATA_PORT) {
        capwap(payload)
    } else if on(VXLAN_PORT) {
        vxlan(payload)
    } else if on(TZSP_PORT) {
        tzsp(payload)
    } else if on(GTP_U_PORT) {
        gtp_u(payload)
    } else {
        None
    }
}

/// CAPWAP data channel (RFC 5415 §4.3): preamble type 0 (not DTLS), HLEN in 4-byte words, then
/// an IEEE 802.11 data frame (24-byte header), LLC/SNAP (8 bytes) with the ethertype last.
/// reader_util.c tests the frame control's second byte for 0x08, the byte order Cisco access
/// points send it in; the standard order (0x08 first) is taken too.
fn capwap(b: &[u8]) -> Option<&[u8]> {
    if b.first()? & 0x0f != 0 {
        return None;
    }
    let hlen = usize::from(b.get(1)? >> 3).checked_mul(4)?;
    let wlan = b.get(hlen..)?;
    let fc = wlan.get(..2)?;
    if fc != [0x08, 0x01] && fc != [0x08, 0x02] && fc.get(1) != Some(&0x08) {
        return None;
    }
    let llc = wlan.get(24..32)?;
    if llc.get(..3)? != [0xaa, 0xaa, 0x03] {
        return None;
    }
    match be16(llc, 6)? {
        0x0800 | 0x86dd => wlan.get(32..),
        _ => None,
    }
}

/// VXLAN (RFC 7348 §5): flags byte with only the I bit, reserved bytes zero, then Ethernet.
fn vxlan(b: &[u8]) -> Option<&[u8]> {
    let h = b.get(..8)?;
    if h.first()? != &0x08 || h.get(1..4)? != [0, 0, 0] || h.get(7)? != &0 {
        return None;
    }
    capture_file::ip_of_frame(link::ETHERNET, b.get(8..)?)
}

/// TZSP (reader_util.c): version 1, type 0 (received frame), encapsulation 1 (Ethernet), then
/// tags (0 padding, 1 end, else type + length + value) up to the frame.
fn tzsp(b: &[u8]) -> Option<&[u8]> {
    if b.get(..4)? != [1, 0, 0, 1] {
        return None;
    }
    let mut at = 4usize;
    for _ in 0..MAX_TZSP_TAGS {
        match *b.get(at)? {
            0 => at = at.checked_add(1)?,
            1 => return capture_file::ip_of_frame(link::ETHERNET, b.get(at.checked_add(1)?..)?),
            _ => {
                let len = usize::from(*b.get(at.checked_add(1)?)?);
                at = at.checked_add(2)?.checked_add(len)?;
            }
        }
    }
    None
}

/// GTP-U v1 T-PDU (3GPP TS 29.281 §5.1; reader_util.c's GTP branch): 8-byte header, 4 more when
/// any of E/S/PN is set, then the extension-header chain when E is set.
fn gtp_u(b: &[u8]) -> Option<&[u8]> {
    let flags = *b.first()?;
    if flags >> 5 != 1 || flags & 0x10 == 0 || *b.get(1)? != 0xff {
        return None;
    }
    let mut at = 8usize;
    if flags & 0x07 != 0 {
        at = 12;
        if flags & 0x04 != 0 {
            let mut next = *b.get(11)?;
            for _ in 0..MAX_GTP_EXTENSIONS {
                if next == 0 {
                    break;
                }
                let len = usize::from(*b.get(at)?).checked_mul(4)?;
                if len == 0 {
                    return None;
                }
                at = at.checked_add(len)?;
                next = *b.get(at.checked_sub(1)?)?;
            }
            if next != 0 {
                return None;
            }
        }
    }
    b.get(at..)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    if let Some((&proto, rest)) = data.split_first() {
        let _ = inner_ip(proto, rest);
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests;
