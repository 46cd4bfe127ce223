//! Tor's TLS disguise (nDPI `src/lib/protocols/tor.c`, `ndpi_is_tls_tor`): a Tor client's
//! ClientHello names a random host `www.<random>.com` or `.net` (Tor's `crypto_random_hostname(8,
//! 20, "www.", …)`: base32 of 8–20 random characters, padded up before encoding, so labels of up
//! to 32 characters occur; nDPI's tor.pcap has 10 to 21). nDPI calls such an SNI Tor when the random label
//! holds two separate runs of digits (its last character not counted); we require in addition the
//! Tor alphabet and length, so an ordinary `www.<word>.com` never qualifies. A label of that shape
//! with fewer digit runs is Tor only when the server is a listed Tor node (`ip_lists.rs`) — nDPI
//! decides that case with letter-bigram statistics instead.

use nfguard_proto::AppId;
use nfguard_proto::ids;

pub const TOR: AppId = ids::TOR;
/// Length bounds of Tor's random host label (base32 of at most 20 bytes is 32 characters).
const LABEL_LEN: std::ops::RangeInclusive<usize> = 8..=32;
/// Separate digit runs that make nDPI call the name random.
const DIGIT_RUNS: usize = 2;

/// What a TLS server name says about Tor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorSni {
    /// Not Tor's shape.
    No,
    /// Tor's shape, but as readable as a real name: Tor only if the server is a Tor node.
    Shape,
    /// Tor's shape with the digit runs nDPI looks for.
    Random,
}

/// Classifies a TLS SNI (bytes as sent).
pub fn classify(host: &[u8]) -> TorSni {
    let Some(rest) = host.strip_prefix(b"www.") else {
        return TorSni::No;
    };
    let Some(label) = rest
        .strip_suffix(b".com")
        .or_else(|| rest.strip_suffix(b".net"))
    else {
        return TorSni::No;
    };
    let base32 = |b: &u8| b.is_ascii_lowercase() || (b'2'..=b'7').contains(b);
    if !LABEL_LEN.contains(&label.len()) || !label.iter().all(base32) {
        return TorSni::No;
    }
    let counted = label.get(..label.len().saturating_sub(1)).unwrap_or(&[]);
    let runs = counted
        .iter()
        .zip(std::iter::once(&b'x').chain(counted.iter()))
        .filter(|(b, prev)| b.is_ascii_digit() && !prev.is_ascii_digit())
        .count();
    if runs >= DIGIT_RUNS {
        TorSni::Random
    } else {
        TorSni::Shape
    }
}

/// Whether a TLS SNI makes the flow Tor: Tor's random shape, or a readable one to a listed Tor
/// node (`ip_lists.rs`).
pub fn is_tor(sni: &[u8], server: std::net::IpAddr) -> bool {
    match classify(sni) {
        TorSni::Random => true,
        TorSni::Shape => crate::ip_lists::lookup(server) == Some(TOR),
        TorSni::No => false,
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = classify(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tor_hello_names() {
        // SNIs of nDPI's tests/pcap/tor.pcap, which nDPI labels TLS.Tor.
        assert_eq!(classify(b"www.q4cyamnc6mtokjurvdclt.com"), TorSni::Random);
        assert_eq!(classify(b"www.e6r5p57kbafwrxj3plz.com"), TorSni::Random);
        assert_eq!(classify(b"www.gfu7hbxpfp.com"), TorSni::Shape);
    }

    #[test]
    fn real_names_are_not_tor() {
        for name in [
            "www.google.com",
            "www.wikipedia.net",
            "www.example.org",
            "www.a1b2c.com",                              // too short
            "www.abcdefgh2jk3lmnopqrstuvwxyzabcdefg.com", // too long
            "www.ab0cd1efgh.com",                         // 0 and 1 are not base32
            "www.Q4CYAMNC6MTOKJ.com",                     // upper case
            "api.q4cyamnc6mtokjurvdclt.com",
            "",
        ] {
            assert_ne!(classify(name.as_bytes()), TorSni::Random, "{name}");
        }
        assert_eq!(classify(b"www.google.com"), TorSni::No);
        assert_eq!(classify(b"www.stackoverflow.com"), TorSni::Shape);
    }
}
