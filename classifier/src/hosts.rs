//! One compiled matcher (Aho–Corasick) over host names — TLS/QUIC SNI, HTTP Host, DNS query names —
//! built from nDPI's `host_match[]` list (`hosts_data.rs`). Matching follows nDPI's domain rules:
//! a pattern matches where it starts at a label boundary and ends at the end of the name, at a
//! label boundary, or with its own trailing `.` (`youtube.` matches `www.youtube.com`); the
//! longest matching pattern wins. Names are compared lower-case, at most `MAX_HOST_LEN` bytes.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use nfguard_proto::AppId;

use crate::hosts_data::HOST_MATCH;

/// DNS names are at most 253 bytes in text form (RFC 1035 §2.3.4).
pub const MAX_HOST_LEN: usize = 253;

/// What a host name says about the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostApp {
    pub app: AppId,
    /// nDPI's category for this host entry.
    pub category: &'static str,
}

/// The compiled matcher; build once, share read-only.
pub struct HostMatcher {
    ac: AhoCorasick,
    /// Per pattern: (app, category, pattern length, may start inside a label, may end inside one).
    rows: Vec<(AppId, &'static str, usize, bool, bool)>,
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
            .map(|((raw, id, cat), p)| {
                // nDPI 4.11 writes `-buy.itunes.apple.com` (any `…-buy` label) and
                // `igcdn-photos-` (any label continuing after the dash); 4.2 wrote `.apple.com`.
                let open_start = raw.starts_with('-');
                let open_end = p.ends_with('.') || p.ends_with('-');
                (AppId(*id), *cat, p.len(), open_start, open_end)
            })
            .collect();
        HostMatcher { ac, rows }
    }

    /// The application for `host`, if any pattern matches under the domain rules.
    pub fn lookup(&self, host: &[u8]) -> Option<HostApp> {
        if host.is_empty() || host.len() > MAX_HOST_LEN {
            return None;
        }
        let host = host.strip_suffix(b".").unwrap_or(host);
        let mut best: Option<(usize, HostApp)> = None;
        for m in self.ac.find_overlapping_iter(host) {
            let Some(&(app, category, len, open_start, open_end)) =
                self.rows.get(m.pattern().as_usize())
            else {
                continue;
            };
            let left_ok =
                open_start || m.start() == 0 || host.get(m.start().wrapping_sub(1)) == Some(&b'.');
            let right_ok = open_end || m.end() == host.len() || host.get(m.end()) == Some(&b'.');
            if !(left_ok && right_ok) {
                continue;
            }
            if best.is_none_or(|(l, _)| len > l) {
                best = Some((len, HostApp { app, category }));
            }
        }
        best.map(|(_, h)| h)
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
        assert_eq!(app(&m, "xigcdn-photos-a.akamaihd.net"), None);
        // The longest match wins: `ocsp.pki.goog` is OCSP, not Google's `goog`.
        assert_eq!(app(&m, "ocsp.pki.goog"), Some("OCSP"));
        assert_eq!(app(&m, "pic.1kxun.com"), Some("1kxun"));
    }
}
