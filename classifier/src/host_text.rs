//! The host field as the flow record, API, JSON and replay show it: the name as sent, with every
//! control character, invalid UTF-8 byte, bidirectional or invisible formatting character and `\`
//! itself written `\xHH` (one per byte), at most [`MAX_HOST_TEXT`] bytes. Printable UTF-8 stays as
//! it is (nDPI shows such LLMNR names too). A longer text keeps its tail behind `…`: the tail is
//! what suffix rules match (`nfguard_proto::host_name`), and the policy reads its match name from
//! this text.

use std::fmt::Write as _;

/// Longest host text: a DNS name (253) with room for a few escapes; the `…` and the tail fit.
pub const MAX_HOST_TEXT: usize = 320;
const ELLIPSIS: &str = "…";

/// Characters that print as something they are not: controls, and the Unicode format characters
/// that reorder or hide text (bidi embeddings/overrides/isolates, zero-width joiners, BOM).
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

fn escape_bytes(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "\\x{b:02x}");
    }
}

/// The escaped, bounded text of `raw` (module docs). Plain ASCII names come out unchanged.
pub fn host_text(raw: &[u8]) -> String {
    if raw.len() <= MAX_HOST_TEXT && raw.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\') {
        return raw.iter().map(|&b| char::from(b)).collect();
    }
    let mut out = String::new();
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' || is_hidden(c) {
                escape_bytes(&mut out, c.encode_utf8(&mut [0u8; 4]).as_bytes());
            } else {
                out.push(c);
            }
        }
        escape_bytes(&mut out, chunk.invalid());
    }
    if out.len() <= MAX_HOST_TEXT {
        return out;
    }
    // Keep the tail: from a char boundary, and not inside a `\xHH` (every `\` starts one).
    let mut cut = out
        .len()
        .saturating_sub(MAX_HOST_TEXT.saturating_sub(ELLIPSIS.len()));
    while !out.is_char_boundary(cut) {
        cut = cut.saturating_add(1);
    }
    if let Some(back) = out
        .get(cut.saturating_sub(3)..cut)
        .and_then(|w| w.rfind('\\'))
    {
        cut = cut.saturating_sub(3).saturating_add(back).saturating_add(4);
    }
    let tail = out.get(cut..).unwrap_or_default();
    format!("{ELLIPSIS}{tail}")
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
        assert_eq!(host_text(b"a\\b\x7f\xc3"), "a\\x5cb\\x7f\\xc3");
        // Printable UTF-8 stays; a right-to-left override does not.
        assert_eq!(host_text("小佛.test".as_bytes()), "小佛.test");
        assert_eq!(host_text("a\u{202e}b".as_bytes()), "a\\xe2\\x80\\xaeb");
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
        let alphabet = b"ab.-_\0\\ \xff.AZ.x\xe4\xbd\x9b\xe2\x80\xae";
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
