//! One compiled matcher (Aho–Corasick) over host names — TLS/QUIC SNI, HTTP Host, DNS query names —
//! built from nDPI's `host_match[]` list (`hosts_data.rs`). Overlapping patterns resolve as nDPI's
//! automaton does (`ac_domain_match_handler` in `src/lib/ndpi_main.c`, `ac_automata_search` and
//! `ac_automata_exact_match` in `src/lib/third_party/src/ahocorasick.c`, `ndpi_string_to_automa`):
//! - a pattern not ending in `.` or `-` must end at the end of the name;
//! - matches are visited by end position, at one position the longest first;
//! - a pattern equal to the whole name wins at once;
//! - otherwise a dotted pattern starting with a letter and found after the second byte must
//!   follow a `.` or `-`; any other (dotless, dash-led, or starting at byte 0 or 1) counts as is;
//! - among the rest the highest domain level (`ndpi_domain_level`: `a.` = 1, `a.b` = 2) wins,
//!   the first seen on a tie.
//!
//! Names are compared ASCII case-insensitively, at most `MAX_HOST_LEN` bytes; no allocation.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use nfguard_proto::AppId;

use crate::hosts_data::HOST_MATCH;

/// DNS names are at most 253 bytes in text form (RFC 1035 §2.3.4).
pub const MAX_HOST_LEN: usize = 253;
/// Matches ending at one position that are ordered longest first (a name has few nested
/// suffix patterns; more than this at one position are visited in automaton order).
const SAME_END: usize = 16;

/// What a host name says about the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostApp {
    pub app: AppId,
    /// nDPI's category for this host entry.
    pub category: &'static str,
}

/// One pattern's facts for the resolution rules.
#[derive(Debug, Clone, Copy)]
struct Row {
    app: AppId,
    category: &'static str,
    /// `ndpi_domain_level` of the pattern.
    level: u8,
    /// Must end at the end of the name (nDPI `rep.at_end`).
    at_end: bool,
    /// Contains a dot and starts with neither `.` nor `-` (nDPI's domain branch).
    domain: bool,
}

/// The compiled matcher; build once, share read-only.
pub struct HostMatcher {
    ac: AhoCorasick,
    rows: Vec<Row>,
}

/// `ndpi_domain_level` (`src/lib/ndpi_main.c`): 1 + the labels after the first, 0 when the
/// pattern has `..`, `.-` or starts with them.
fn domain_level(p: &str) -> u8 {
    // Columns: letter, '.', '-', level increment; rows: start, after leading '.', in a label,
    // after a '.'.
    const AUTOMAT: [[u8; 4]; 4] = [[2, 1, 2, 0], [2, 0, 0, 0], [2, 3, 2, 0], [2, 0, 0, 1]];
    let (mut level, mut state) = (1u8, 0usize);
    for c in p.bytes() {
        let col = match c {
            b'-' => 2,
            b'.' => 1,
            _ => 0,
        };
        let row = AUTOMAT.get(state).copied().unwrap_or_default();
        level = level.saturating_add(row.get(3).copied().unwrap_or(0));
        state = usize::from(row.get(col).copied().unwrap_or(0));
        if state == 0 {
            break;
        }
    }
    if state >= 2 { level } else { 0 }
}

fn is_middle(c: u8) -> bool {
    c == b'.' || c == b'-'
}

impl HostMatcher {
    /// Builds the matcher over every `host_match[]` entry.
    ///
    /// # Panics
    /// Never for the built-in list (a test builds it); the automaton size is fixed at compile time.
    pub fn new() -> Self {
        let patterns: Vec<&str> = HOST_MATCH
            .iter()
            .map(|(p, _, _)| p.trim_start_matches('.'))
            .collect();
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(&patterns)
            .expect("the built-in host list compiles into an automaton");
        let rows = HOST_MATCH
            .iter()
            .zip(&patterns)
            .map(|((_, id, cat), p)| {
                let bytes = p.as_bytes();
                Row {
                    app: AppId(*id),
                    category: cat,
                    level: domain_level(p),
                    at_end: !bytes.last().copied().is_some_and(is_middle),
                    domain: bytes.contains(&b'.') && !bytes.first().copied().is_some_and(is_middle),
                }
            })
            .collect();
        HostMatcher { ac, rows }
    }

    /// The application for `host`, if any pattern matches under nDPI's rules (module docs).
    pub fn lookup(&self, host: &[u8]) -> Option<HostApp> {
        if host.is_empty() || host.len() > MAX_HOST_LEN {
            return None;
        }
        let host = host.strip_suffix(b".").unwrap_or(host);
        let mut best: Option<&Row> = None;
        let mut group = [(0usize, 0usize); SAME_END];
        let mut n = 0usize;
        let mut group_end = 0usize;
        // Overlapping matches come by non-decreasing end position.
        for m in self.ac.find_overlapping_iter(host) {
            if n > 0 && (m.end() != group_end || n == SAME_END) {
                let slots = group.get_mut(..n).unwrap_or_default();
                if let Some(hit) = self.visit_group(host, slots, group_end, &mut best) {
                    return Some(hit);
                }
                n = 0;
            }
            group_end = m.end();
            if let Some(slot) = group.get_mut(n) {
                *slot = (m.start(), m.pattern().as_usize());
                n = n.saturating_add(1);
            }
        }
        let slots = group.get_mut(..n).unwrap_or_default();
        if let Some(hit) = self.visit_group(host, slots, group_end, &mut best) {
            return Some(hit);
        }
        best.map(|r| HostApp {
            app: r.app,
            category: r.category,
        })
    }

    /// The matches ending at `end`, longest (earliest start) first, as nDPI's node lists its own
    /// pattern before those of its failure chain.
    fn visit_group<'a>(
        &'a self,
        host: &[u8],
        slots: &mut [(usize, usize)],
        end: usize,
        best: &mut Option<&'a Row>,
    ) -> Option<HostApp> {
        slots.sort_unstable_by_key(|&(start, _)| start);
        slots
            .iter()
            .find_map(|&(start, idx)| self.visit(host, start, end, idx, best))
    }

    /// One match; `Some` when it equals the whole name (nDPI returns at once).
    fn visit<'a>(
        &'a self,
        host: &[u8],
        start: usize,
        end: usize,
        idx: usize,
        best: &mut Option<&'a Row>,
    ) -> Option<HostApp> {
        let row = self.rows.get(idx)?;
        if row.at_end && end != host.len() {
            return None;
        }
        if start == 0 && end == host.len() {
            return Some(HostApp {
                app: row.app,
                category: row.category,
            });
        }
        if start > 1 && row.domain {
            let before = host.get(start.wrapping_sub(1)).copied();
            if !before.is_some_and(is_middle) {
                return None;
            }
        }
        if best.is_none_or(|b| b.level < row.level) {
            *best = Some(row);
        }
        None
    }
}

impl Default for HostMatcher {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfguard_proto::protocols::by_name;

    fn app(m: &HostMatcher, host: &str) -> Option<&'static str> {
        m.lookup(host.as_bytes()).map(|h| h.app.name())
    }

    #[test]
    fn well_known_apps() {
        let m = HostMatcher::new();
        for (host, want) in [
            ("www.youtube.com", "YouTube"),
            ("i.ytimg.com", "YouTube"),
            ("www.google.com", "Google"),
            ("www.netflix.com", "NetFlix"),
            ("www.facebook.com", "Facebook"),
            ("scontent.cdninstagram.com", "Instagram"),
            ("web.whatsapp.com", "WhatsApp"),
            ("www.amazon.com", "Amazon"),
            ("s3.amazonaws.com", "AmazonAWS"),
            ("teams.microsoft.com", "Teams"),
            ("www.apple.com", "Apple"),
            ("www.icloud.com", "AppleiCloud"),
            ("open.spotify.com", "Spotify"),
            ("www.tiktok.com", "TikTok"),
            ("api.twitter.com", "Twitter"),
            ("www.dropbox.com", "Dropbox"),
            ("www.webex.com", "Webex"),
            ("zoom.us", "Zoom"),
            ("github.com", "Github"),
            ("web.telegram.org", "Telegram"),
            ("discord.com", "Discord"),
            ("www.twitch.tv", "Twitch"),
            ("www.reddit.com", "Reddit"),
            ("www.linkedin.com", "LinkedIn"),
            ("www.snapchat.com", "Snapchat"),
        ] {
            assert_eq!(app(&m, host), Some(want), "{host}");
            assert!(by_name(want).is_some());
        }
    }

    #[test]
    fn label_boundaries() {
        let m = HostMatcher::new();
        // A pattern inside a label does not match.
        assert_eq!(app(&m, "notyoutube.example"), None);
        assert_eq!(app(&m, "example.org"), None);
        assert_eq!(app(&m, ""), None);
        // Case and a trailing root dot do not matter.
        assert_eq!(app(&m, "WWW.NETFLIX.COM."), Some("NetFlix"));
        // Dash patterns of nDPI 4.11: open towards the dash.
        assert_eq!(app(&m, "p53-buy.itunes.apple.com"), Some("AppleStore"));
        assert_eq!(app(&m, "igcdn-photos-a-a.akamaihd.net"), Some("Instagram"));
        // A dotless pattern takes nDPI's generic branch: it may start anywhere.
        assert_eq!(app(&m, "xigcdn-photos-a.akamaihd.net"), Some("Instagram"));
        // A dotted one found after the second byte must follow `.` or `-`; at byte 1 it need not.
        assert_eq!(app(&m, "ab.xnetflix.com"), None);
        assert_eq!(app(&m, "anetflix.com"), Some("NetFlix"));
        // Patterns without a trailing `.`/`-` must end the name.
        assert_eq!(app(&m, "www.netflix.com.example"), None);
        // The longest match wins: `ocsp.pki.goog` is OCSP, not Google's `goog`.
        assert_eq!(app(&m, "ocsp.pki.goog"), Some("OCSP"));
        assert_eq!(app(&m, "pic.1kxun.com"), Some("1kxun"));
    }

    #[test]
    fn ndpi_resolution_order() {
        let m = HostMatcher::new();
        // `weixin.` (level 1) is seen first, `qq.com` (level 2) later and higher: QQ, as nDPI says.
        assert_eq!(app(&m, "hkextshort.weixin.qq.com"), Some("QQ"));
        // Same end, longest first: `-teams.cloudapp.net` (Teams) before `teams.cloudapp.net`.
        assert_eq!(
            app(&m, "c-flightproxy-euno-01-teams.cloudapp.net"),
            Some("Teams")
        );
        // A whole-name pattern wins over any level.
        assert_eq!(app(&m, "docs.google.com"), Some("GoogleDocs"));
        assert_eq!(domain_level("a."), 1);
        assert_eq!(domain_level("a.b"), 2);
        assert_eq!(domain_level("fna.fbcdn.net"), 3);
        assert_eq!(domain_level("a..b"), 0);
    }
}
