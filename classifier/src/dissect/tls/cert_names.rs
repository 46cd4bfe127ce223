//! Applications named by the server certificate's subject, after nDPI's
//! `tls_certificate_match[]` (`src/lib/ndpi_content_match.c.inc`, ntop/nDPI 4.11-dev): each
//! pattern is searched as a substring of the subject DN that `tls.c` prints
//! (`extractRDNSequence`: `C=…, ST=…, L=…, O=…, OU=…, CN=…` in certificate order, `, ` between).
//! Used only for TLS flows without a usable SNI (DESIGN §2: with one, the ClientHello decides).
//!
//! The DN is rendered into a fixed stack buffer: no allocation.

use nfguard_proto::{AppId, protocols};

use super::certificate::name_attributes;
use crate::dissect::find;

/// Bytes of the rendered DN kept (longer subjects are cut, as nDPI's 64–256-byte buffers do).
const MAX_DN: usize = 512;

/// nDPI's `tls_certificate_match[]`: (substring of the subject DN, protocol name).
pub const CERT_MATCH: &[(&str, &str)] = &[
    ("CN=AnyDesk Client", "AnyDesk"),
    ("O=philandro Software GmbH", "AnyDesk"),
    ("O=Kakao", "KakaoTalk"),
    ("O=ntop.org", "ntop"),
    ("O=Netflix", "NetFlix"),
    ("O=Cloudflare", "Cloudflare"),
    ("CN=simplednscrypt.org", "DNScrypt"),
    ("CN=*.gateway.messenger.live.com", "Teams"),
    ("OU=FortiGate", "FortiClient"),
    ("CN=www.update.microsoft.com", "WindowsUpdate"),
    ("CN=*.tunnelbear.com", "TunnelBear"),
    ("CN=cloudflareclient.com", "CloudflareWarp"),
    ("O=V Kontakte LLC", "VK"),
    ("O=Yandex LLC", "Yandex"),
    ("O=Riot Games, Inc.", "RiotGames"),
    ("O=Riot Games Inc", "RiotGames"),
    ("O=NoMachine", "NoMachine"),
    ("O=Private Internet Access", "PrivateInternetAccess"),
    ("O=Windscribe", "Windscribe"),
    ("O=Sonos, Inc", "Sonos"),
    ("CN=Snapchat Inc.", "SnapchatCall"),
    ("CN=NVIDIA GameStream", "GeForceNow"),
    // nDPI's last row (Rockstar Games) names a protocol newer than our 4.11-dev table: left out.
];

/// Renders a subject Name as nDPI prints it into `buf`; returns the length used.
pub fn render_dn(name: &[u8], buf: &mut [u8; MAX_DN]) -> usize {
    let mut n = 0usize;
    for (short, value) in name_attributes(name) {
        let sep: &[u8] = if n == 0 { b"" } else { b", " };
        for part in [sep, short.as_bytes(), b"=", value] {
            let end = n.saturating_add(part.len()).min(MAX_DN);
            let take = end.saturating_sub(n);
            if let (Some(dst), Some(src)) = (buf.get_mut(n..end), part.get(..take)) {
                dst.copy_from_slice(src);
            }
            n = end;
        }
    }
    n
}

/// The application whose pattern occurs in the subject DN (first in table order), if any.
pub fn app_of_subject(name: &[u8]) -> Option<AppId> {
    let mut buf = [0u8; MAX_DN];
    let n = render_dn(name, &mut buf);
    let dn = buf.get(..n).unwrap_or(&[]);
    CERT_MATCH
        .iter()
        .find(|(pattern, _)| find(dn, pattern.as_bytes()).is_some())
        .and_then(|(_, proto)| protocols::by_name(proto))
        .map(|p| p.id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// DER of a Name: one SET per (OID last byte, UTF8String value).
    fn name(attrs: &[(u8, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (oid, v) in attrs {
            let mut atv = vec![
                0x06,
                3,
                0x55,
                0x04,
                *oid,
                0x0c,
                u8::try_from(v.len()).unwrap(),
            ];
            atv.extend_from_slice(v.as_bytes());
            let mut seq = vec![0x30, u8::try_from(atv.len()).unwrap()];
            seq.extend(atv);
            body.push(0x31);
            body.push(u8::try_from(seq.len()).unwrap());
            body.extend(seq);
        }
        body
    }

    #[test]
    fn every_pattern_names_a_known_protocol() {
        for (pattern, proto) in CERT_MATCH {
            assert!(protocols::by_name(proto).is_some(), "{pattern}: {proto}");
        }
    }

    #[test]
    fn dn_rendered_as_ndpi_prints_it_and_matched() {
        let n = name(&[
            (0x06, "US"),
            (0x08, "California"),
            (0x07, "Sunnyvale"),
            (0x0a, "Fortinet"),
            (0x0b, "FortiGate"),
            (0x03, "FG100F"),
        ]);
        let mut buf = [0u8; MAX_DN];
        let len = render_dn(&n, &mut buf);
        assert_eq!(
            &buf[..len],
            b"C=US, ST=California, L=Sunnyvale, O=Fortinet, OU=FortiGate, CN=FG100F"
        );
        assert_eq!(
            app_of_subject(&n),
            protocols::by_name("FortiClient").map(|p| p.id)
        );
        let anydesk = name(&[(0x03, "AnyDesk Client")]);
        assert_eq!(
            app_of_subject(&anydesk),
            protocols::by_name("AnyDesk").map(|p| p.id)
        );
        assert_eq!(app_of_subject(&name(&[(0x03, "example.com")])), None);
        // A pattern split across two attributes does not match.
        assert_eq!(
            app_of_subject(&name(&[(0x0b, "Forti"), (0x03, "Gate")])),
            None
        );
    }

    #[test]
    fn every_prefix_and_long_names_are_safe() {
        let long = "x".repeat(200);
        let n = name(&[
            (0x0a, &long),
            (0x0b, &long),
            (0x03, &long),
            (0x0b, "FortiGate"),
        ]);
        // Cut at MAX_DN: the late OU is not seen, and nothing panics.
        let _ = app_of_subject(&n);
        for k in 0..=n.len() {
            let _ = app_of_subject(&n[..k]);
        }
    }
}
