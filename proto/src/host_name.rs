//! Host names as a server reads them, for matching: the one normalization the classifier (nDPI host
//! list) and the policy (`host = [...]` rules) share, so a malformed SNI or Host header cannot be
//! read one way by the firewall and another way by the server.
//!
//! A name is matched without one trailing root dot and case-insensitively (comparisons use
//! `eq_ignore_ascii_case`, so nothing here allocates or copies). A name that is longer than a DNS
//! name may be or holds bytes no host name holds (a NUL, a space, a `\x00` escape, UTF-8) is not
//! ignored: it is matched by its longest valid suffix that starts at a label, at most
//! [`MAX_NAME_LEN`] bytes — `x\0.evil.example.test` as `evil.example.test`, 300 bytes of `a` then
//! `.example.test` as `example.test`. Such a suffix only ever stands in for suffix and glob
//! patterns, never for an exact name ([`MatchName::whole`]).
//!
//! The suffix of a name is the same as the suffix of its escaped display form (`\xHH` for every
//! byte outside the printable ASCII range, the tail kept when cut), because an escape stays inside
//! the label of the byte it replaces and starts with `\`, itself invalid.

/// A DNS name is at most 253 bytes in text form (RFC 1035 §2.3.4, without the root dot).
pub const MAX_NAME_LEN: usize = 253;

/// Letters, digits, `-`, `.` and `_` (service labels, and what real SNIs carry): the bytes of a
/// host name.
pub fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// What a host name is matched as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchName<'a> {
    /// The name without its trailing dot, or its longest valid suffix (may be empty); original case.
    pub name: &'a [u8],
    /// `name` is the whole name (well formed): exact patterns may match it.
    pub whole: bool,
}

/// The name `host` is matched as (module docs).
pub fn match_name(host: &[u8]) -> MatchName<'_> {
    let h = host.strip_suffix(b".").unwrap_or(host);
    let bad = h.iter().rposition(|&b| !is_name_byte(b));
    if bad.is_none() && h.len() <= MAX_NAME_LEN {
        return MatchName {
            name: h,
            whole: true,
        };
    }
    // The earliest byte the suffix may start at: past the last invalid byte, within the length.
    let min_start = bad
        .map_or(0, |i| i.saturating_add(1))
        .max(h.len().saturating_sub(MAX_NAME_LEN));
    // It starts at a label: right after a dot at or past `min_start - 1`. `min_start >= 1` here.
    let from = min_start.saturating_sub(1);
    let start = h
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'.'))
        .map_or(h.len(), |dot| from.saturating_add(dot).saturating_add(1));
    MatchName {
        name: h.get(start..).unwrap_or(&[]),
        whole: false,
    }
}

/// What is wrong with a host name, for the flow risks (nDPI's names, `ndpi_typedefs.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Defects {
    /// A byte no host name holds (`NDPI_INVALID_CHARACTERS`).
    pub invalid_bytes: bool,
    /// Longer than [`MAX_NAME_LEN`] without the trailing dot (`NDPI_MALFORMED_PACKET`).
    pub too_long: bool,
}

impl Defects {
    pub fn of(host: &[u8]) -> Defects {
        let h = host.strip_suffix(b".").unwrap_or(host);
        Defects {
            invalid_bytes: !h.iter().all(|&b| is_name_byte(b)),
            too_long: h.len() > MAX_NAME_LEN,
        }
    }

    pub fn is_empty(self) -> bool {
        !self.invalid_bytes && !self.too_long
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(h: &[u8]) -> (&str, bool) {
        let n = match_name(h);
        (std::str::from_utf8(n.name).unwrap_or("?"), n.whole)
    }

    #[test]
    fn well_formed_names_are_whole() {
        assert_eq!(m(b"WWW.Example.test."), ("WWW.Example.test", true));
        assert_eq!(m(b"a_b-c.test"), ("a_b-c.test", true));
        let max = "a".repeat(MAX_NAME_LEN);
        assert_eq!(m(max.as_bytes()), (max.as_str(), true));
        assert_eq!(m(format!("{max}.").as_bytes()), (max.as_str(), true));
        assert_eq!(m(b""), ("", true));
    }

    #[test]
    fn malformed_names_match_their_longest_valid_suffix() {
        assert_eq!(
            m(b"x\0.evil.example-video.test"),
            ("evil.example-video.test", false)
        );
        assert_eq!(
            m(b"x\\x00.evil.example-video.test."),
            ("evil.example-video.test", false)
        );
        assert_eq!(m(b"\0.example.test"), ("example.test", false));
        assert_eq!(m(b"a.example.test\0"), ("", false));
        assert_eq!(m(b"example test"), ("", false));
        // A dot right after the invalid byte: the suffix starts after it.
        assert_eq!(m(b"a b.c.d"), ("c.d", false));
        let long = format!("{}.example-video.test", "a".repeat(300));
        assert_eq!(m(long.as_bytes()), ("example-video.test", false));
        // Many short labels: the longest suffix within 253 bytes, starting at a label.
        let labels = format!("{}example.test", "ab.".repeat(100));
        let (name, whole) = m(labels.as_bytes());
        assert!(!whole);
        assert!(
            name.len() <= MAX_NAME_LEN && name.len() > MAX_NAME_LEN - 3,
            "{name}"
        );
        assert!(name.starts_with("ab.") && name.ends_with(".example.test"));
    }

    #[test]
    fn defects() {
        assert!(Defects::of(b"www.example.test.").is_empty());
        assert_eq!(
            Defects::of(b"x\0.test"),
            Defects {
                invalid_bytes: true,
                too_long: false
            }
        );
        let long = "a".repeat(254);
        assert_eq!(
            Defects::of(long.as_bytes()),
            Defects {
                invalid_bytes: false,
                too_long: true
            }
        );
    }
}
