//! Flow risks: facts about a flow worth a policy rule even when the application is allowed
//! (clear-text credentials, obsolete TLS, a protocol on a port not its own, a machine-generated
//! looking host name, an executable fetched over HTTP). Named as nDPI names them
//! (`ndpi_risk_enum` in `src/include/ndpi_typedefs.h`, printed by `ndpi_risk2code()` in
//! `src/lib/ndpi_utils.c`), which is what the policy's `risk = [...]` matches.
//!
//! A [`Risks`] value is a bitset: copying it or asking for its names allocates nothing. The
//! checks read only the packet (or reassembled stream start) that decided the flow, bounded by
//! `http::MAX_HEADER_BYTES`.

use nfguard_proto::AppId;
use nfguard_proto::protocols;
use nfguard_proto::types::{IPPROTO_TCP, IPPROTO_UDP};

use crate::dissect::{http, ids};

/// A set of flow risks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Risks(u8);

/// Each risk's bit and nDPI name, in the order names are listed.
const NAMES: [(u8, &str); 7] = [
    (
        Risks::CLEAR_TEXT_CREDENTIALS.0,
        "ndpi_clear_text_credentials",
    ),
    (Risks::TLS_OBSOLETE_VERSION.0, "ndpi_tls_obsolete_version"),
    (
        Risks::KNOWN_PROTOCOL_ON_NON_STANDARD_PORT.0,
        "ndpi_known_protocol_on_non_standard_port",
    ),
    (Risks::SUSPICIOUS_DGA_DOMAIN.0, "ndpi_suspicious_dga_domain"),
    (
        Risks::BINARY_APPLICATION_TRANSFER.0,
        "ndpi_binary_application_transfer",
    ),
    (Risks::INVALID_CHARACTERS.0, "ndpi_invalid_characters"),
    (Risks::MALFORMED_PACKET.0, "ndpi_malformed_packet"),
];

impl Risks {
    pub const NONE: Risks = Risks(0);
    /// User name and password readable on the wire (HTTP Basic, FTP/POP3 `PASS`, IMAP `LOGIN`).
    pub const CLEAR_TEXT_CREDENTIALS: Risks = Risks(1);
    /// TLS (or SSL) older than 1.2.
    pub const TLS_OBSOLETE_VERSION: Risks = Risks(1 << 1);
    /// HTTP, TLS, SSH or DNS on a port that is none of the protocol's registered ones.
    pub const KNOWN_PROTOCOL_ON_NON_STANDARD_PORT: Risks = Risks(1 << 2);
    /// A host name that looks machine-generated (domain generation algorithms).
    pub const SUSPICIOUS_DGA_DOMAIN: Risks = Risks(1 << 3);
    /// A Windows executable requested or served over plain HTTP.
    pub const BINARY_APPLICATION_TRANSFER: Risks = Risks(1 << 4);
    /// A server name (SNI, QUIC SNI, HTTP Host) holding bytes no host name holds: a NUL, a space,
    /// UTF-8 (nDPI raises `NDPI_INVALID_CHARACTERS` on such DNS names in `dns.c`).
    pub const INVALID_CHARACTERS: Risks = Risks(1 << 5);
    /// A server name longer than a DNS name may be (253 bytes): nDPI's `NDPI_MALFORMED_PACKET`,
    /// "an unexpected format … an attempt to jeopardize a valid protocol".
    pub const MALFORMED_PACKET: Risks = Risks(1 << 6);

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, other: Risks) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: Risks) {
        self.0 |= other.0;
    }

    /// The nDPI names of the risks present (`ndpi_clear_text_credentials`…).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .filter(move |(bit, _)| self.0 & bit != 0)
            .map(|&(_, name)| name)
    }

    /// Every risk name this crate can report (for `nfguard protocols` and config checks).
    pub fn all_names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().map(|&(_, name)| name)
    }
}

/// The risks of a server name as sent (before escaping): invalid bytes, excess length. An IP
/// literal (`::1` from `Host: [::1]`) is a valid server name.
pub fn of_server_name(raw: &[u8]) -> Risks {
    let d = nfguard_proto::host_name::Defects::of(raw);
    let mut r = Risks::NONE;
    if d.invalid_bytes
        && !std::str::from_utf8(raw).is_ok_and(|s| s.parse::<std::net::IpAddr>().is_ok())
    {
        r.insert(Risks::INVALID_CHARACTERS);
    }
    if d.too_long {
        r.insert(Risks::MALFORMED_PACKET);
    }
    r
}

/// What the risk checks need to know about the deciding packet.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub l4: u8,
    pub master: AppId,
    /// The application; its own registered ports are standard too (DoT on 853 is TLS's app).
    pub app: AppId,
    pub server_port: u16,
    pub client_port: u16,
    /// The host name found (SNI, HTTP Host, DNS query), as text.
    pub host: &'a [u8],
    /// Whether the host list knows the host (known names are never DGA-suspicious).
    pub host_known: bool,
    /// The bytes the dissector decided on.
    pub data: &'a [u8],
    pub from_client: bool,
}

/// The risks visible in the packet that decided the flow.
pub fn assess(f: &Facts<'_>) -> Risks {
    let mut r = Risks::NONE;
    if non_standard_port(f.l4, f.master, f.server_port, f.client_port)
        && !registered_port(f.l4, f.app, f.server_port, f.client_port)
    {
        r.insert(Risks::KNOWN_PROTOCOL_ON_NON_STANDARD_PORT);
    }
    if f.master == ids::TLS && tls_obsolete(f.data) {
        r.insert(Risks::TLS_OBSOLETE_VERSION);
    }
    if f.master == ids::HTTP {
        r.insert(http_risks(f.data));
    }
    if f.from_client && clear_text_login(f.master, f.data) {
        r.insert(Risks::CLEAR_TEXT_CREDENTIALS);
    }
    if !f.host_known && is_dga_like(f.host) {
        r.insert(Risks::SUSPICIOUS_DGA_DOMAIN);
    }
    r
}

/// nDPI raises this for protocols with well-known ports found elsewhere (`ndpi_main.c`,
/// `ndpi_check_protocol_port_mismatch_exceptions` and the default-port check); limited here to
/// the protocols whose port is a strong convention.
fn non_standard_port(l4: u8, master: AppId, server_port: u16, client_port: u16) -> bool {
    let relevant = matches!(master, m if m == ids::HTTP || m == ids::TLS || m == ids::SSH)
        && l4 == IPPROTO_TCP
        || master == ids::DNS && l4 == IPPROTO_UDP;
    if !relevant {
        return false;
    }
    let Some(p) = protocols::by_id(master) else {
        return false;
    };
    let ports = if l4 == IPPROTO_TCP {
        p.tcp_ports
    } else {
        p.udp_ports
    };
    !ports.is_empty() && !ports.contains(&server_port) && !ports.contains(&client_port)
}

/// Whether `app` registers either port itself.
fn registered_port(l4: u8, app: AppId, server_port: u16, client_port: u16) -> bool {
    protocols::by_id(app).is_some_and(|p| {
        let ports = if l4 == IPPROTO_TCP {
            p.tcp_ports
        } else {
            p.udp_ports
        };
        ports.contains(&server_port) || ports.contains(&client_port)
    })
}

/// A ClientHello or ServerHello whose version field is below TLS 1.2 (0x0303) and that offers
/// no `supported_versions` (TLS 1.3 hellos carry 0x0303 in the legacy field). nDPI's `tls.c`
/// flags versions below 1.2 as `NDPI_TLS_OBSOLETE_VERSION`.
fn tls_obsolete(data: &[u8]) -> bool {
    // Record header (5): type 22; handshake header (4): type 1 or 2; then the version.
    let (Some(&22), Some(&hs)) = (data.first(), data.get(5)) else {
        return false;
    };
    if hs != 1 && hs != 2 {
        return false;
    }
    let (Some(&major), Some(&minor)) = (data.get(9), data.get(10)) else {
        return false;
    };
    major == 3 && minor < 3 || major < 3
}

/// HTTP: `Authorization: Basic` (clear-text credentials) and requests for Windows executables
/// (`.exe`, `.msi`, `.cab`) or responses typed as one (`application/x-dosexec`,
/// `application/x-msdownload`, `application/vnd.microsoft.portable-executable`), after nDPI's
/// `http.c` (`binary_exec_file_ext`, `binary_exec_file_mimes_*`).
fn http_risks(data: &[u8]) -> Risks {
    let mut r = Risks::NONE;
    let block = data
        .get(..data.len().min(http::MAX_HEADER_BYTES))
        .unwrap_or(&[]);
    let mut lines = block.split(|&b| b == b'\n');
    if let Some(first) = lines.next() {
        let target = first.split(|&b| b == b' ').nth(1).unwrap_or(&[]);
        let path = target.split(|&b| b == b'?').next().unwrap_or(&[]);
        if [&b".exe"[..], b".msi", b".cab"]
            .iter()
            .any(|ext| ends_with_ignore_case(path, ext))
        {
            r.insert(Risks::BINARY_APPLICATION_TRANSFER);
        }
    }
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or(&[]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if name.eq_ignore_ascii_case(b"authorization")
            && value
                .get(..6)
                .is_some_and(|v| v.eq_ignore_ascii_case(b"basic "))
        {
            r.insert(Risks::CLEAR_TEXT_CREDENTIALS);
        } else if name.eq_ignore_ascii_case(b"content-type")
            && [
                &b"application/x-dosexec"[..],
                b"application/x-msdownload",
                b"application/vnd.microsoft.portable-executable",
            ]
            .iter()
            .any(|t| {
                value
                    .get(..t.len())
                    .is_some_and(|v| v.eq_ignore_ascii_case(t))
            })
        {
            r.insert(Risks::BINARY_APPLICATION_TRANSFER);
        }
    }
    r
}

fn ends_with_ignore_case(v: &[u8], suffix: &[u8]) -> bool {
    v.len() >= suffix.len()
        && v.get(v.len().saturating_sub(suffix.len())..)
            .is_some_and(|t| t.eq_ignore_ascii_case(suffix))
}

/// FTP and POP3 `PASS`, IMAP `LOGIN` commands in the client's data (nDPI's `ftp_control.c`,
/// `mail_pop.c`, `mail_imap.c` set `NDPI_CLEAR_TEXT_CREDENTIALS` on them). Only visible when
/// that packet is the one inspected.
fn clear_text_login(master: AppId, data: &[u8]) -> bool {
    const FTP_CONTROL: AppId = ids::FTP_CONTROL;
    const POP3: AppId = ids::MAIL_POP;
    if master == FTP_CONTROL || master == POP3 {
        return data
            .get(..5)
            .is_some_and(|v| v.eq_ignore_ascii_case(b"PASS "));
    }
    if master == ids::MAIL_IMAP {
        // `A001 LOGIN user pass`: a tag, then the command.
        let mut words = data.split(|&b| b == b' ');
        let _tag = words.next();
        return words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(b"LOGIN"));
    }
    false
}

/// A simplified form of nDPI's `ndpi_check_dga_name()` (`ndpi_main.c`): the longest label below
/// the registrable domain is long and looks random: at least 4 digits mixed with letters, or a run
/// of 6+ consonants, or no vowel at all in 10+ letters. IP literals and short names never match.
fn is_dga_like(host: &[u8]) -> bool {
    if host.is_empty()
        || host
            .iter()
            .all(|b| b.is_ascii_digit() || *b == b'.' || *b == b':')
    {
        return false;
    }
    let labels = host.split(|&b| b == b'.');
    let count = host.split(|&b| b == b'.').count();
    // Skip the TLD; the second-level label is the usual DGA output.
    labels.take(count.saturating_sub(1)).any(label_looks_random)
}

fn label_looks_random(label: &[u8]) -> bool {
    if label.len() < 10 || label.contains(&b'-') {
        return false;
    }
    let mut digits = 0usize;
    let mut letters = 0usize;
    let mut vowels = 0usize;
    let mut run = 0usize;
    let mut max_run = 0usize;
    for &b in label {
        let c = b.to_ascii_lowercase();
        if c.is_ascii_digit() {
            digits = digits.saturating_add(1);
            run = 0;
        } else if c.is_ascii_lowercase() {
            letters = letters.saturating_add(1);
            if b"aeiouy".contains(&c) {
                vowels = vowels.saturating_add(1);
                run = 0;
            } else {
                run = run.saturating_add(1);
                max_run = max_run.max(run);
            }
        } else {
            return false;
        }
    }
    (digits >= 4 && letters >= 4) || max_run >= 6 || (letters >= 10 && vowels == 0)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for master in [
        ids::HTTP,
        ids::TLS,
        ids::MAIL_IMAP,
        ids::FTP_CONTROL,
        ids::DNS,
    ] {
        let f = Facts {
            l4: IPPROTO_TCP,
            master,
            app: master,
            server_port: 8080,
            client_port: 40000,
            host: data.get(..data.len().min(64)).unwrap_or(&[]),
            host_known: false,
            data,
            from_client: true,
        };
        let _ = assess(&f).names().count();
    }
}

/// The flow risks of a classification made from `data` (the deciding packet's payload).
pub fn of_classification(
    c: &crate::classification::Classification,
    ctx: &crate::dissect::Ctx,
    data: &[u8],
) -> Risks {
    assess(&Facts {
        l4: ctx.l4,
        master: c.master,
        app: c.app,
        server_port: ctx.server_port,
        client_port: ctx.client_port,
        host: c.host.as_bytes(),
        host_known: c.app != c.master,
        data,
        from_client: ctx.from_client,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn facts<'a>(master: AppId, port: u16, host: &'a [u8], data: &'a [u8]) -> Facts<'a> {
        Facts {
            l4: IPPROTO_TCP,
            master,
            app: master,
            server_port: port,
            client_port: 40000,
            host,
            host_known: false,
            data,
            from_client: true,
        }
    }

    fn names(r: Risks) -> Vec<&'static str> {
        r.names().collect()
    }

    #[test]
    fn http_basic_auth_and_executable_download() {
        let req = b"GET /setup.EXE?x=1 HTTP/1.1\r\nHost: example.com\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n";
        let r = assess(&facts(ids::HTTP, 80, b"example.com", req));
        assert_eq!(
            names(r),
            [
                "ndpi_clear_text_credentials",
                "ndpi_binary_application_transfer"
            ]
        );
        let plain =
            b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nAuthorization: Bearer x\r\n\r\n";
        assert!(assess(&facts(ids::HTTP, 80, b"example.com", plain)).is_empty());
        // Headers after the blank line (a body) do not count.
        let body = b"POST / HTTP/1.1\r\nHost: a\r\n\r\nAuthorization: Basic x\r\n";
        assert!(assess(&facts(ids::HTTP, 80, b"a", body)).is_empty());
    }

    #[test]
    fn non_standard_port() {
        let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let r = assess(&facts(ids::HTTP, 8081, b"a", req));
        assert!(
            r.contains(Risks::KNOWN_PROTOCOL_ON_NON_STANDARD_PORT),
            "{r:?}"
        );
        assert!(assess(&facts(ids::HTTP, 80, b"a", req)).is_empty());
        // A protocol without a port convention here is never flagged.
        assert!(assess(&facts(ids::STUN, 1, b"", b"")).is_empty());
    }

    #[test]
    fn tls_versions() {
        // Record header, ClientHello header, then the version field.
        let hello = |minor: u8| vec![22, 3, 1, 0, 40, 1, 0, 0, 36, 3, minor, 0];
        assert!(
            assess(&facts(ids::TLS, 443, b"", &hello(1))).contains(Risks::TLS_OBSOLETE_VERSION)
        );
        assert!(assess(&facts(ids::TLS, 443, b"", &hello(3))).is_empty());
        assert!(assess(&facts(ids::TLS, 443, b"", &hello(3)[..10])).is_empty());
    }

    #[test]
    fn clear_text_logins() {
        let r = assess(&facts(ids::MAIL_IMAP, 143, b"", b"a1 LOGIN bob secret\r\n"));
        assert_eq!(names(r), ["ndpi_clear_text_credentials"]);
        assert!(
            assess(&facts(AppId(2), 110, b"", b"PASS secret\r\n"))
                .contains(Risks::CLEAR_TEXT_CREDENTIALS)
        );
        assert!(
            !assess(&facts(AppId(2), 110, b"", b"STAT\r\n"))
                .contains(Risks::CLEAR_TEXT_CREDENTIALS)
        );
    }

    #[test]
    fn dga_names() {
        for h in [
            &b"xjwqkrtzvbnm.com"[..],
            b"a8f3k29d7q1z.net",
            b"www.qwrtzpsdfgh.org",
        ] {
            assert!(is_dga_like(h), "{}", String::from_utf8_lossy(h));
        }
        for h in [
            &b"www.google.com"[..],
            b"facebook.com",
            b"10.0.0.1",
            b"internationalization.example.org",
            b"my-long-hostname.example",
            b"",
        ] {
            assert!(!is_dga_like(h), "{}", String::from_utf8_lossy(h));
        }
        let mut f = facts(ids::TLS, 443, b"xjwqkrtzvbnm.com", b"");
        f.host_known = true;
        assert!(assess(&f).is_empty());
    }

    #[test]
    fn malformed_server_names() {
        assert!(of_server_name(b"WWW.Example.test.").is_empty());
        assert!(of_server_name(b"::1").is_empty());
        assert!(of_server_name(b"10.0.0.1").is_empty());
        assert_eq!(
            names(of_server_name(b"x\0.evil.example-video.test")),
            ["ndpi_invalid_characters"]
        );
        let long = format!("{}.example-video.test", "a".repeat(300));
        assert_eq!(
            names(of_server_name(long.as_bytes())),
            ["ndpi_malformed_packet"]
        );
        let both = format!("{long}\0");
        assert_eq!(
            names(of_server_name(both.as_bytes())),
            ["ndpi_invalid_characters", "ndpi_malformed_packet"]
        );
        assert!(Risks::all_names().any(|n| n == "ndpi_invalid_characters"));
    }

    #[test]
    fn every_prefix_never_panics() {
        let req = b"GET /a.exe HTTP/1.1\r\nAuthorization: Basic x\r\nContent-Type: application/x-dosexec\r\n\r\n";
        for n in 0..=req.len() {
            fuzz_entry(&req[..n]);
        }
    }
}
