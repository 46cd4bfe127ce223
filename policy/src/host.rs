//! Host name patterns (`host = "*.example.test"`) matched case-insensitively over the SNI, HTTP Host
//! or DNS name. `*` matches any run of characters (dots included), `?` one character.
//!
//! Choice: `*.example.test` also matches the bare `example.test` — operators who block a site mean the
//! site, and `example.test` usually serves the same content. Write `?*.example.test` to require a label.
//!
//! The flow's host is matched as a server reads it (`nfguard_proto::host_name::match_name`, shared
//! with the classifier): case and one trailing dot do not matter, and a name that is too long or
//! holds invalid bytes (shown escaped by the classifier, `x\x00.evil.example.test`) is matched by its
//! longest valid suffix — by suffix and glob patterns only, never by an exact one. The policy does
//! this itself, from the host text it is given, so no sender can hand it a pre-cut name.

use nfguard_proto::host_name::match_name;

/// Longest pattern accepted; a DNS name is at most 253 characters (RFC 1035 §2.3.4). Match names
/// are at most 253 bytes (`host_name::MAX_NAME_LEN`), which bounds glob matching to 255 × 253 steps.
pub(crate) const MAX_HOST_LEN: usize = 255;

/// A compiled host pattern, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// No wildcard: the whole name.
    Exact(Box<str>),
    /// `*.suffix`: `suffix` itself or any name ending in `.suffix`.
    Suffix(Box<str>),
    /// Any other glob.
    Glob(Box<str>),
}

impl HostPattern {
    /// Parses a pattern; `Err` says what is wrong with it.
    pub(crate) fn parse(p: &str) -> Result<HostPattern, String> {
        let p = p.trim().trim_end_matches('.').to_ascii_lowercase();
        if p.is_empty() {
            return Err("empty host pattern".into());
        }
        if p.len() > MAX_HOST_LEN {
            return Err(format!(
                "host pattern longer than {MAX_HOST_LEN} characters"
            ));
        }
        if let Some(bad) = p
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*' | '?')))
        {
            return Err(format!("{p:?}: {bad:?} cannot appear in a host name"));
        }
        if let Some(rest) = p.strip_prefix("*.")
            && !rest.contains(['*', '?'])
            && !rest.is_empty()
        {
            return Ok(HostPattern::Suffix(rest.into()));
        }
        if p.contains(['*', '?']) {
            Ok(HostPattern::Glob(p.into()))
        } else {
            Ok(HostPattern::Exact(p.into()))
        }
    }

    /// True when `host` (any case, optional trailing dot, malformed or not: module docs) matches.
    pub(crate) fn matches(&self, host: &str) -> bool {
        let n = match_name(host.as_bytes());
        match self {
            HostPattern::Exact(p) => n.whole && n.name.eq_ignore_ascii_case(p.as_bytes()),
            HostPattern::Suffix(s) => suffix_matches(n.name, s.as_bytes()),
            HostPattern::Glob(g) => glob_matches(g.as_bytes(), n.name),
        }
    }
}

/// `host == suffix` or `host` ends with `.suffix` (case-insensitive).
fn suffix_matches(host: &[u8], suffix: &[u8]) -> bool {
    let Some(cut) = host.len().checked_sub(suffix.len()) else {
        return false;
    };
    let (head, tail) = host.split_at(cut);
    tail.eq_ignore_ascii_case(suffix) && (head.is_empty() || head.last() == Some(&b'.'))
}

/// Iterative wildcard match with one backtrack point (linear in practice, no recursion).
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let pc = pattern.get(p).copied();
        let tc = text.get(t).map(u8::to_ascii_lowercase);
        match pc {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if c == b'?' || Some(c) == tc => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(p: &str, h: &str) -> bool {
        HostPattern::parse(p).unwrap().matches(h)
    }

    #[test]
    fn suffix_includes_bare_domain_and_subdomains() {
        assert!(m("*.example.test", "a.example.test"));
        assert!(m("*.example.test", "a.b.Example.TEST"));
        assert!(m("*.example.test", "example.test"));
        assert!(m("*.example.test", "example.test."));
        assert!(!m("*.example.test", "badexample.test"));
        assert!(!m("*.example.test", "example.test.evil"));
    }

    #[test]
    fn exact_and_globs() {
        assert!(m("www.Example.test", "WWW.example.test"));
        assert!(!m("www.example.test", "a.www.example.test"));
        assert!(m("video*.example.test", "video12.example.test"));
        assert!(!m("video*.example.test", "audio.example.test"));
        assert!(m("?*.example.test", "a.example.test"));
        assert!(!m("?*.example.test", "example.test"));
        assert!(m("*cdn*", "x.cdn.net"));
        assert!(m("*", "anything"));
        assert!(!m("a?c", "ac"));
    }

    /// Issue #20: a name a server still serves cannot slip past the rules by being malformed.
    #[test]
    fn malformed_names_match_by_their_valid_suffix() {
        let long = format!("{}.example.test", "a".repeat(300));
        assert!(m("*.example.test", &long));
        assert!(m("*", &long));
        assert!(!m("example.test", &long));
        assert!(!m("*.other.test", &long));
        for host in [
            "x\\x00.evil.example-video.test",
            "x\0.evil.example-video.test",
            "EVIL.Example-Video.TEST.",
            "a b.example-video.test",
        ] {
            assert!(m("*.example-video.test", host), "{host:?}");
            assert!(m("*video.test", host), "{host:?}");
            assert!(!m("*.video.test", host), "{host:?}");
        }
        // An exact pattern names a whole, well-formed name only.
        assert!(m("evil.example-video.test", "EVIL.Example-Video.TEST."));
        assert!(!m("evil.example-video.test", "x\0.evil.example-video.test"));
        // Nothing valid left: only `*` matches.
        assert!(m("*", "\x00\x01"));
        assert!(!m("*.test", "a.test\x00"));
    }

    #[test]
    fn bad_patterns() {
        assert!(HostPattern::parse("").is_err());
        assert!(HostPattern::parse("a b.test").is_err());
        assert!(HostPattern::parse(&"a".repeat(300)).is_err());
    }
}
