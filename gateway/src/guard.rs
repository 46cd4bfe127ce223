//! What keeps the gateway answering under abuse: the descriptor limit raised, a cap on open
//! connections (one more is answered 503), a Host allow-list against DNS rebinding, a deadline on
//! request bodies, and the browser security headers on every response.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use nfguard_proto::config::Config;
use sha2::Digest;

/// A request body (PUT /api/v1/policy) must arrive within this; a slow client is answered 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections actix still accepts past `max_connections`, so that they can be told 503 instead of
/// waiting unanswered in the kernel's backlog; past both, accepting pauses until one closes.
pub const OVER_CAP_ALLOWANCE: usize = 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (the default soft 1024 lets one client exhaust
/// the descriptors with idle connections). Returns the new soft limit.
///
/// # Errors
/// The `getrlimit`/`setrlimit` error.
pub fn raise_nofile_limit() -> nix::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// Open connections, counted from actix's `on_connect` to the connection's end.
#[derive(Debug, Default)]
pub struct Connections {
    open: AtomicUsize,
}

/// Lives in a connection's extensions: counts it while it is open, and says whether it came past the cap.
#[derive(Debug)]
pub struct ConnectionSlot {
    connections: Arc<Connections>,
    /// More than `max_connections` were open when this one arrived.
    pub over_cap: bool,
}

impl Connections {
    /// Counts a new connection; `over_cap` when it is beyond `max`.
    pub fn open(self: &Arc<Self>, max: usize) -> ConnectionSlot {
        let n = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        ConnectionSlot {
            connections: self.clone(),
            over_cap: n > max,
        }
    }

    pub fn count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.connections.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The Host header values the gateway serves (lower case, without port), or `None` for any.
#[derive(Debug, Clone)]
pub struct HostAllowList(Option<Vec<String>>);

impl HostAllowList {
    /// From `[gateway] allowed_hosts`, or its default for the address the gateway listens on (see
    /// the config key).
    pub fn new(cfg: &Config, listen: std::net::SocketAddr) -> HostAllowList {
        let g = &cfg.gateway;
        if !g.allowed_hosts.is_empty() {
            return HostAllowList(Some(g.allowed_hosts.iter().map(|h| host_part(h)).collect()));
        }
        if !listen.ip().is_loopback() {
            return HostAllowList(None);
        }
        let ip = match listen.ip() {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        HostAllowList(Some(vec!["localhost".into(), ip]))
    }

    /// Is a request with this Host header (none: an HTTP/1.0 client, which no browser is) served?
    pub fn allows(&self, host: Option<&str>) -> bool {
        match (&self.0, host) {
            (None, _) | (_, None) => true,
            (Some(list), Some(h)) => {
                let h = host_part(h);
                list.contains(&h)
            }
        }
    }
}

/// `Example.test:3100` → `example.test`, `[::1]:3100` → `[::1]`; a trailing dot is dropped.
fn host_part(h: &str) -> String {
    let h = h.trim();
    let name = if h.starts_with('[') {
        h.split_once(']')
            .map_or(h.to_string(), |(a, _)| format!("{a}]"))
    } else {
        h.split(':').next().unwrap_or(h).to_string()
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The security headers for `dashboard` (its one inline script is allowed by hash, nothing else runs).
pub fn security_headers(dashboard: &str) -> Vec<(header::HeaderName, HeaderValue)> {
    let script = dashboard
        .split_once("<script>")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map_or("", |(s, _)| s);
    let hash = base64(&sha2::Sha256::digest(script.as_bytes()));
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    );
    let mut v = vec![
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        v.push((header::CONTENT_SECURITY_POLICY, csp));
    }
    v
}

/// Standard base64 with padding (RFC 4648 §4), for the CSP hash.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> (Config, std::net::SocketAddr) {
        let c = Config::parse("n.toml", text).unwrap();
        let listen = c.gateway.listen;
        (c, listen)
    }

    fn hosts(text: &str) -> HostAllowList {
        let (c, listen) = cfg(text);
        HostAllowList::new(&c, listen)
    }

    #[test]
    fn loopback_default_allows_its_address_and_localhost_only() {
        let a = hosts("");
        for ok in [
            "localhost",
            "LOCALHOST:3100",
            "127.0.0.1:3100",
            "localhost.",
            "127.0.0.1",
        ] {
            assert!(a.allows(Some(ok)), "{ok}");
        }
        assert!(a.allows(None));
        for bad in [
            "evil.example",
            "rebind.attacker.test:3100",
            "127.0.0.2",
            "localhost.evil",
            "",
        ] {
            assert!(!a.allows(Some(bad)), "{bad}");
        }
        let v6 = hosts("[gateway]\nlisten = \"[::1]:3100\"\n");
        assert!(v6.allows(Some("[::1]:3100")));
        assert!(!v6.allows(Some("127.0.0.1:3100")));
    }

    #[test]
    fn configured_hosts_replace_the_default_and_beyond_loopback_any_is_served() {
        let a = hosts("[gateway]\nallowed_hosts = [\"fw.lan\", \"10.0.0.1:3100\"]\n");
        assert!(a.allows(Some("FW.lan:3100")));
        assert!(a.allows(Some("10.0.0.1")));
        assert!(!a.allows(Some("localhost")));
        let any = hosts("[gateway]\nlisten = \"0.0.0.0:3100\"\ntoken_file = \"t\"\n");
        assert!(any.allows(Some("whatever.example")));
    }

    #[test]
    fn connections_past_the_cap_are_marked_and_slots_are_given_back() {
        let c = Arc::new(Connections::default());
        let a = c.open(2);
        let b = c.open(2);
        let over = c.open(2);
        assert!(!a.over_cap && !b.over_cap && over.over_cap);
        drop(over);
        drop(a);
        assert_eq!(c.count(), 1);
        assert!(!c.open(2).over_cap);
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn the_dashboard_script_is_allowed_by_its_hash() {
        let h = security_headers("<html><script>let a = 1;</script></html>");
        let csp = h
            .iter()
            .find(|(n, _)| *n == header::CONTENT_SECURITY_POLICY)
            .unwrap();
        // sha256("let a = 1;"), base64.
        let want = base64(&sha2::Sha256::digest(b"let a = 1;"));
        assert!(
            csp.1
                .to_str()
                .unwrap()
                .contains(&format!("'sha256-{want}'"))
        );
        assert!(
            h.iter()
                .any(|(n, v)| *n == header::X_FRAME_OPTIONS && v == "DENY")
        );
    }
}
