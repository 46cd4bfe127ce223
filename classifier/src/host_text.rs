//! The host field as the flow record, API, JSON and replay show it: the name as sent, with every
//! byte outside printable ASCII (and `\` itself) written `\xHH`, at most [`MAX_HOST_TEXT`] bytes.
//! A longer text keeps its tail behind `…`: the tail is what suffix rules match
//! (`nfguard_proto::host_name`), and the policy reads its match name from this text.

use std::fmt::Write as _;

/// Longest host text: a DNS name (253) with room for a few escapes; the `…` and the tail fit.
pub const MAX_HOST_TEXT: usize = 320;
const ELLIPSIS: &str = "…";

/// Whether `b` is shown as itself.
fn is_plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'\\'
}

/// The escaped, bounded text of `raw` (module docs). Plain ASCII names come out unchanged.
pub fn host_text(raw: &[u8]) -> String {
    if raw.len() <= MAX_HOST_TEXT && raw.iter().all(|&b| is_plain(b)) {
        return raw.iter().map(|&b| char::from(b)).collect();
    }
    // Walk back from the end to find how much of the tail fits once escaped.
    let budget = MAX_HOST_TEXT.saturating_sub(ELLIPSIS.len());
    let mut used = 0usize;
    let mut start = raw.len();
    for (i, &b) in raw.iter().enumerate().rev() {
        let w = if is_plain(b) { 1 } else { 4 };
        if used.saturating_add(w) > budget {
            break;
        }
        used = used.saturating_add(w);
        start = i;
    }
    let mut out = String::with_capacity(used.saturating_add(ELLIPSIS.len()));
    if start > 0 {
        out.push_str(ELLIPSIS);
    }
    for &b in raw.get(start..).unwrap_or(&[]) {
        if is_plain(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use nfguard_proto::host_name::match_name;

    #[test]
    fn escapes_and_bounds() {
        assert_eq!(host_text(b"WWW.Example.test."), "WWW.Example.test.");
        assert_eq!(
            host_text(b"SSH-2.0-OpenSSH_9.2p1 Debian"),
            "SSH-2.0-OpenSSH_9.2p1 Debian"
        );
        assert_eq!(host_text(b"x\0.evil.test"), "x\\x00.evil.test");
        assert_eq!(host_text(b"a\\b\x7f\xc3\xa9"), "a\\x5cb\\x7f\\xc3\\xa9");
        let long = format!("{}.example-video.test", "a".repeat(5000));
        let t = host_text(long.as_bytes());
        assert!(t.len() <= MAX_HOST_TEXT, "{}", t.len());
        assert!(t.starts_with(ELLIPSIS) && t.ends_with("aaaa.example-video.test"));
        let nul = vec![0u8; 1000];
        let t = host_text(&nul);
        assert!(t.len() <= MAX_HOST_TEXT && t.ends_with("\\x00"));
    }

    /// The policy matches the text; the classifier the raw bytes: both must read the same name.
    #[test]
    fn text_and_raw_have_the_same_match_name() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"ab.-_\0\\ \xff.AZ.x";
        for n in 0..4000usize {
            // xorshift: reproducible names of every length up to 600, mostly valid bytes.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 600) as usize;
            let raw: Vec<u8> = (0..len)
                .map(|i| {
                    let r = seed.rotate_left((i % 64) as u32) ^ (i as u64 * 0x9e37_79b9);
                    alphabet[(r as usize) % alphabet.len()]
                })
                .collect();
            let raw = if n % 3 == 0 {
                [&raw[..], b".example-video.test"].concat()
            } else {
                raw
            };
            let text = host_text(&raw);
            let (a, b) = (match_name(&raw), match_name(text.as_bytes()));
            assert!(
                a.name.eq_ignore_ascii_case(b.name) && a.whole == b.whole,
                "{raw:?} → {text:?}: {:?} vs {:?}",
                String::from_utf8_lossy(a.name),
                String::from_utf8_lossy(b.name)
            );
        }
    }
}
