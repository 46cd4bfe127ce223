//! `nfguard.toml`: what the firewall does, one section per process. Every field has one documented
//! default; unknown keys are errors; every error reads `FILE:LINE: TOML.PATH: message`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ipnet::IpNet;
use serde::Deserialize;

use crate::types::Verdict;
use crate::units::{ByteSize, HumanDuration};

/// A configuration error that names where it is: `nfguard.toml:14: capture.queues: expected …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {path}: {message}")]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the file could not be read.
    pub line: usize,
    /// Dotted TOML path (`rule[0].app`), or `-` for the whole file.
    pub path: String,
    pub message: String,
}

/// Deserializes `text` (the contents of `file`) into `T`, turning any error into a [`ConfigError`]
/// with the line and TOML path of the offending value.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(file, text, "-", &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = toml_path(e.path());
        toml_error(file, text, &path, e.inner())
    })
}

/// Reads a config or rule file: its name as given (for error messages) and its text. Only a regular
/// file of at most [`MAX_CONFIG_FILE_BYTES`](crate::limits::MAX_CONFIG_FILE_BYTES) is read: a FIFO
/// would block `nfguard check` forever and `/dev/zero` would fill memory.
///
/// # Errors
/// `FILE:0: -: cannot read: …` for an unreadable file, a FIFO, device or directory, or one too large.
pub fn read_config_file(path: &Path) -> Result<(String, String), ConfigError> {
    let file = path.display().to_string();
    match read_bounded(path) {
        Ok(text) => Ok((file, text)),
        Err(message) => Err(ConfigError {
            file,
            line: 0,
            path: "-".into(),
            message: format!("cannot read: {message}"),
        }),
    }
}

/// The text of a regular file of at most
/// [`MAX_CONFIG_FILE_BYTES`](crate::limits::MAX_CONFIG_FILE_BYTES) (configs, rule files, the token
/// file): a FIFO, device or directory is refused without blocking, a larger file without reading it.
///
/// # Errors
/// What is wrong, as a message (the caller names the file).
pub fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let limit = crate::limits::MAX_CONFIG_FILE_BYTES;
    // O_NONBLOCK: opening a FIFO without a writer would otherwise block before the type check.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file (FIFOs, devices and directories are refused)".into());
    }
    if meta.len() > limit {
        return Err(format!(
            "{} bytes is more than the {limit} a config may have",
            meta.len()
        ));
    }
    let mut text = String::new();
    f.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > limit {
        return Err(format!(
            "grew past the {limit} bytes a config may have while read"
        ));
    }
    Ok(text)
}

/// An error found after parsing (a semantic check) at a known TOML path: finds the path's line in `text`.
pub fn error_at(file: &str, text: &str, path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line: line_of_path(text, path),
        path: path.to_string(),
        message: message.into(),
    }
}

fn toml_error(file: &str, text: &str, path: &str, e: &toml::de::Error) -> ConfigError {
    let line = match e.span() {
        Some(span) => line_at(text, span.start),
        None => line_of_path(text, path),
    };
    let path = if path.is_empty() { "-" } else { path };
    ConfigError {
        file: file.to_string(),
        line,
        path: path.to_string(),
        message: e.message().trim().to_string(),
    }
}

/// `rule[0].app`-style path from serde_path_to_error's path.
fn toml_path(p: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in p.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    if out.is_empty() { "-".into() } else { out }
}

fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// Best-effort line of a dotted path (`rule[2].app`, `capture.queues`) in a TOML document: finds the
/// `[[rule]]` / `[capture]` header occurrence, then the key below it. Falls back to the header's line, then 1.
pub fn line_of_path(text: &str, path: &str) -> usize {
    let mut segs = path.split('.').peekable();
    let mut start_line = 0usize;
    let lines: Vec<&str> = text.lines().collect();
    let mut table = String::new();
    let mut found_header = 0usize;
    // Leading segments name tables; walk headers for them.
    while let Some(seg) = segs.peek().copied() {
        if segs.clone().count() == 1 && !table.is_empty() {
            break;
        }
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        let full = if table.is_empty() {
            name.to_string()
        } else {
            format!("{table}.{name}")
        };
        let mut seen = 0usize;
        let mut hit = None;
        for (i, l) in lines.iter().enumerate().skip(start_line) {
            let t = l.trim();
            if t == format!("[[{full}]]") || t == format!("[{full}]") {
                if index.is_none_or(|want| want == seen) {
                    hit = Some(i);
                    break;
                }
                seen += 1;
            }
        }
        match hit {
            Some(i) => {
                start_line = i + 1;
                found_header = i + 1;
                table = full;
                segs.next();
            }
            None => break,
        }
    }
    if let Some(key) = segs.next() {
        let key = key.split('[').next().unwrap_or(key);
        for (i, l) in lines.iter().enumerate().skip(start_line) {
            let t = l.trim_start();
            if t.starts_with('[') && i >= start_line && found_header > 0 {
                break;
            }
            if let Some(rest) = t.strip_prefix(key)
                && rest.trim_start().starts_with('=')
            {
                return i + 1;
            }
        }
    }
    found_header.max(1)
}

// ------------------------------------------------------------------ nfguard.toml

/// The whole `nfguard.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the bus's ipc sockets, created mode 0700. Default `/run/nfguard`.
    pub runtime_dir: PathBuf,
    pub capture: CaptureConfig,
    pub classifier: ClassifierConfig,
    pub policy: PolicyConfig,
    pub store: StoreConfig,
    pub gateway: GatewayConfig,
    pub supervisor: SupervisorConfig,
    pub export: ExportConfig,
    /// Where this config was read from; relative paths inside it resolve against its directory.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// The bus secret this process holds (policy and gateway only; never in the file): see
    /// [`crate::bus_secret`].
    #[serde(skip)]
    pub bus_secret: Option<crate::bus_secret::BusSecret>,
}

/// `[capture]`: the NFQUEUE workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Queues to serve, `"N"` or `"A:B"` as iptables `--queue-balance A:B`. Default `"0:1"`.
    pub queues: QueueRange,
    /// Interfaces whose forwarded traffic is queued (empty: all). Default empty.
    pub interfaces: Vec<String>,
    /// Netfilter hook of nfguard's chain: `forward` (router, default), `input` or `output` (host firewall).
    pub hook: Hook,
    /// Addresses never queued (management subnet). Loopback is always excluded. Default empty.
    pub never_queue: Vec<IpNet>,
    /// Bytes of each packet copied to user space. Default 4096 (post-quantum ClientHellos put the SNI past 512).
    pub copy_range: u16,
    /// Kernel queue length in packets. Default 4096.
    pub queue_max_len: u32,
    /// Netlink socket receive buffer (`SO_RCVBUFFORCE`). Default `"8MiB"`.
    pub socket_buffer: ByteSize,
    /// How long a held packet waits for classifier/policy before `default_verdict`. Default `"25ms"`.
    pub verdict_timeout: HumanDuration,
    /// Verdict when a peer times out, is down, or the pending table is full. Default `accept` (fail-open).
    pub default_verdict: Verdict,
    /// Verdict for a flow first seen mid-stream with no connmark to recover from. Default `accept`.
    pub midstream_verdict: Verdict,
    /// Kernel accepts packets when the queue is full (NFQA_CFG_F_FAIL_OPEN). Default `true`.
    pub fail_open: bool,
    /// Hand decided flows back to the kernel through CONNMARK (NF_REPEAT + nfguard's chain). Default `true`.
    pub offload: bool,
    /// `masked` (default): verdict/shaper/app fields under their masks; `protocol`: the plain nDPI id (ntopng).
    pub mark_mode: MarkMode,
    /// Mark bits for the verdict (0 undecided, 1 pass, 2 drop, 3 reject). Default `0x3`.
    pub verdict_mask: u32,
    /// Mark bits for the HTB shaper class. Default `0xfc`.
    pub shaper_mask: u32,
    /// Mark bits policy rules may set with `mark = N`. Default `0`: bits 8–15 are left to other tools
    /// (kube-proxy, wg-quick, policy routing); give nfguard bits here to use `mark` in rules.
    pub user_mask: u32,
    /// Mark bits for the nDPI application id. Default `0xffff0000`.
    pub app_mask: u32,
    /// The supervisor installs `nfguard rules` after the captures are up and removes them on stop. Default `false`.
    pub manage_rules: bool,
    /// Flows tracked per queue. Default 65536.
    pub flow_table_size: usize,
    /// Packets held awaiting a reply per queue; beyond it, `default_verdict`. Default 4096.
    pub max_pending: usize,
    /// How often a live decided flow's UPDATE event (its counters so far) goes to the store; at least
    /// 1 s (flows are swept every 5 s, so updates come at most that often). Default `"60s"`.
    pub flow_update_interval: HumanDuration,
    /// What a queue does with new flows while its peers answer slower than half of
    /// `verdict_timeout`: `bypass-new` (default) gives them `default_verdict` at once, counted as
    /// `nfguard_fail_open_total{reason="overload"}`, so decided flows and flows already asked keep
    /// their answers; `ask` asks anyway (timeouts and a full pending table then decide).
    pub overload: Overload,
}

/// `[classifier]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierConfig {
    /// Payload packets inspected per flow before giving up (nDPI's default). Default 32.
    /// Counted in one place, the classifier engine: packets that carry payload and reached DPI
    /// (SYNs, pure ACKs and packets of decided flows do not count); the flow is then GAVE_UP.
    pub max_dpi_packets: u32,
    /// Idle time after which a classifier forgets a flow's DPI state. Default `"2m"`.
    pub flow_idle_timeout: HumanDuration,
    /// Once started, the classifier process may make only the system calls on its allow-list
    /// (`classifier/src/seccomp.rs`); any other kills it. Turn off only to diagnose. Default `true`.
    pub seccomp: bool,
}

/// `[policy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The rule file, relative to this config's directory. Default `policy.toml`.
    pub rules: PathBuf,
    /// JSON lines for rules with `log = true`. Default none.
    pub decision_log: Option<PathBuf>,
    /// MaxMind DB file (`.mmdb`, country or city) for `src_country` / `dst_country` rules,
    /// relative to this config's directory. Default none.
    pub geoip: Option<PathBuf>,
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The sled database directory. Default `/var/lib/nfguard/store`.
    pub path: PathBuf,
    /// Records and aggregates older than this are deleted. Default `"7d"`.
    pub retention: HumanDuration,
    /// Batching interval of writes (the most a kill -9 can lose). Default `"1s"`.
    pub flush_interval: HumanDuration,
    /// sled page cache. Default `"64MiB"` (sled's own default is 1 GiB).
    pub cache_capacity: ByteSize,
}

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// HTTP listen address. Default `127.0.0.1:3100` (3000 is Grafana's).
    pub listen: SocketAddr,
    /// File holding the bearer token for writes (and reads when `listen` is not loopback). Default none.
    pub token_file: Option<PathBuf>,
    /// Host header values served (`name` or `name:port`, case-insensitive); others get 421, so a
    /// DNS-rebinding page cannot read the API through a browser on this host. Default empty: for a
    /// loopback `listen` its address and `localhost`; for any other `listen` every host (the bearer
    /// token guards reads there).
    pub allowed_hosts: Vec<String>,
    /// Open connections served at once; one more is answered 503 and closed. Default 512.
    pub max_connections: usize,
}

/// `[supervisor]`: `nfguard run`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// A child with no heartbeat (MetricsSnapshot) for this long is killed and restarted. Default `"3s"`.
    pub heartbeat_timeout: HumanDuration,
    /// First restart delay, doubled per quick crash up to `restart_backoff_max`. Default `"100ms"`.
    pub restart_backoff: HumanDuration,
    /// Default `"5s"`.
    pub restart_backoff_max: HumanDuration,
    /// Time a child gets after SIGTERM before SIGKILL. Default `"5s"`.
    pub stop_timeout: HumanDuration,
    /// Directory of the nfguard-* binaries. Default: next to the running `nfguard`.
    pub bin_dir: Option<PathBuf>,
    /// User the children run as: store, policy, classifier and gateway with no capability, the
    /// captures and the conntrack worker with `CAP_NET_ADMIN` only. Default: `nfguard` when that
    /// user exists.
    pub user: Option<String>,
    /// Lets the children run as root (`user = "root"`, or no `user` and no `nfguard` user); without
    /// it `nfguard run` refuses to start them. They still get no capability beyond the above. Default `false`.
    pub allow_root: bool,
}

/// `[export]`: flow records to IPFIX collectors (RFC 7011), sent by the store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// Collectors, `udp://ADDRESS:PORT` or `tcp://ADDRESS:PORT` (an IP address, not a name). Default
    /// empty: no export, no socket. Filled from `ipfix_raw` when the file is parsed.
    #[serde(skip)]
    pub ipfix: Vec<Collector>,
    /// `ipfix` as written, with each element's position (so an error names the element's own line).
    #[serde(rename = "ipfix")]
    pub ipfix_raw: Vec<toml::Spanned<String>>,
    /// IPFIX Observation Domain ID of this gateway's records. Default 1.
    pub observation_domain: u32,
    /// UDP: templates are re-sent at least this often (RFC 7011 §8.4). Default `"60s"`.
    pub template_refresh: HumanDuration,
    /// Records waiting per collector; past it records are dropped and counted. Default 65536.
    pub queue: usize,
    /// Largest IPFIX message over UDP, IP and UDP headers excluded. Default 1400 (a 1500-byte path
    /// with room for tunnels and IPv6).
    pub max_message: u16,
}

/// One IPFIX collector of `[export] ipfix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collector {
    pub transport: Transport,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Inclusive range of NFQUEUE numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueRange {
    pub first: u16,
    pub last: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Forward,
    Input,
    Output,
}

/// `[capture] overload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overload {
    BypassNew,
    Ask,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkMode {
    Masked,
    Protocol,
}

// === impl Config ===

impl Default for Config {
    fn default() -> Self {
        Config {
            runtime_dir: PathBuf::from("/run/nfguard"),
            capture: CaptureConfig::default(),
            classifier: ClassifierConfig::default(),
            policy: PolicyConfig::default(),
            store: StoreConfig::default(),
            gateway: GatewayConfig::default(),
            supervisor: SupervisorConfig::default(),
            export: ExportConfig::default(),
            source: None,
            bus_secret: None,
        }
    }
}

impl Config {
    /// Loads and validates `nfguard.toml`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming file, line and key for anything unreadable, unknown or inconsistent.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let (file, text) = read_config_file(path)?;
        let mut cfg = Config::parse(&file, &text)?;
        cfg.source = Some(path.to_path_buf());
        cfg.check_files(&file, &text)?;
        Ok(cfg)
    }

    /// Parses and validates config text; `file` is only used in error messages.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = parse_toml(file, text)?;
        cfg.export.resolve(file, text)?;
        cfg.validate(file, text)?;
        Ok(cfg)
    }

    fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let c = &self.capture;
        if c.flow_update_interval.0 < std::time::Duration::from_secs(1) {
            return Err(error_at(
                file,
                text,
                "capture.flow_update_interval",
                "flow_update_interval must be at least 1s",
            ));
        }
        if c.offload && c.mark_mode == MarkMode::Protocol {
            return Err(error_at(
                file,
                text,
                "capture.mark_mode",
                "mark_mode = \"protocol\" cannot be combined with capture.offload = true (the plain protocol mark leaves no room for verdict bits)",
            ));
        }
        let masks = [
            ("verdict_mask", c.verdict_mask),
            ("shaper_mask", c.shaper_mask),
            ("user_mask", c.user_mask),
            ("app_mask", c.app_mask),
        ];
        for (i, (name, a)) in masks.iter().enumerate() {
            if *name == "verdict_mask" && a.count_ones() < 2 {
                return Err(error_at(
                    file,
                    text,
                    &format!("capture.{name}"),
                    "needs at least 2 bits (pass, drop, reject)",
                ));
            }
            if *a != 0 && !is_contiguous(*a) {
                return Err(error_at(
                    file,
                    text,
                    &format!("capture.{name}"),
                    format!("{a:#x} is not a contiguous run of bits"),
                ));
            }
            for (other, b) in masks.iter().skip(i + 1) {
                if a & b != 0 {
                    return Err(error_at(
                        file,
                        text,
                        &format!("capture.{other}"),
                        format!("{b:#x} overlaps capture.{name} {a:#x}"),
                    ));
                }
            }
        }
        if c.app_mask != 0 && c.app_mask.count_ones() < 9 {
            return Err(error_at(
                file,
                text,
                "capture.app_mask",
                "needs at least 9 bits for nDPI ids up to 431",
            ));
        }
        if c.copy_range < 64 {
            return Err(error_at(
                file,
                text,
                "capture.copy_range",
                "must be at least 64 bytes (IP and TCP headers)",
            ));
        }
        if c.flow_table_size == 0 || c.max_pending == 0 {
            return Err(error_at(
                file,
                text,
                "capture",
                "flow_table_size and max_pending must be positive",
            ));
        }
        if c.flow_table_size > MAX_FLOW_TABLE_SIZE {
            return Err(error_at(
                file,
                text,
                "capture.flow_table_size",
                format!("at most {MAX_FLOW_TABLE_SIZE} flows per queue"),
            ));
        }
        if c.max_pending > MAX_PENDING {
            return Err(error_at(
                file,
                text,
                "capture.max_pending",
                format!("at most {MAX_PENDING} held packets per queue"),
            ));
        }
        if self.classifier.max_dpi_packets == 0 || self.classifier.max_dpi_packets > 255 {
            return Err(error_at(
                file,
                text,
                "classifier.max_dpi_packets",
                "must be between 1 and 255",
            ));
        }
        let s = &self.supervisor;
        let min_heartbeat = crate::limits::HEARTBEAT_INTERVAL * 3 / 2;
        if s.heartbeat_timeout.0 < min_heartbeat {
            return Err(error_at(
                file,
                text,
                "supervisor.heartbeat_timeout",
                format!(
                    "must be at least {}ms: children send a heartbeat every {}ms, so a shorter timeout restarts healthy children",
                    min_heartbeat.as_millis(),
                    crate::limits::HEARTBEAT_INTERVAL.as_millis()
                ),
            ));
        }
        if s.restart_backoff.0.is_zero() {
            return Err(error_at(
                file,
                text,
                "supervisor.restart_backoff",
                "must be positive (a zero delay restarts a crashing child in a busy loop)",
            ));
        }
        if s.restart_backoff.0 > s.restart_backoff_max.0 {
            return Err(error_at(
                file,
                text,
                "supervisor.restart_backoff_max",
                format!(
                    "{:?} is below restart_backoff {:?}",
                    s.restart_backoff_max.0, s.restart_backoff.0
                ),
            ));
        }
        if !self.gateway.listen.ip().is_loopback() && self.gateway.token_file.is_none() {
            return Err(error_at(
                file,
                text,
                "gateway.listen",
                format!(
                    "{} is reachable beyond this host, so every read needs the bearer token: set gateway.token_file (or listen on 127.0.0.1)",
                    self.gateway.listen
                ),
            ));
        }
        if !(1..=MAX_GATEWAY_CONNECTIONS).contains(&self.gateway.max_connections) {
            return Err(error_at(
                file,
                text,
                "gateway.max_connections",
                format!("must be between 1 and {MAX_GATEWAY_CONNECTIONS}"),
            ));
        }
        for (i, host) in self.gateway.allowed_hosts.iter().enumerate() {
            if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) || host.contains('/')
            {
                return Err(error_at(
                    file,
                    text,
                    &format!("gateway.allowed_hosts[{i}]"),
                    format!("{host:?} is not a host name or host:port"),
                ));
            }
        }
        for (i, name) in c.interfaces.iter().enumerate() {
            if let Err(e) = crate::iface::check_iface_name(name) {
                return Err(error_at(file, text, &format!("capture.interfaces[{i}]"), e));
            }
        }
        self.export.validate(file, text)?;
        self.check_memory(file, text)?;
        let ipc = self.runtime_dir.join("policy-events.sock");
        if ipc.as_os_str().len() + "ipc://".len() > crate::limits::MAX_IPC_PATH {
            return Err(error_at(
                file,
                text,
                "runtime_dir",
                format!(
                    "too long for ipc sockets ({} > {} bytes with the longest socket name)",
                    ipc.as_os_str().len(),
                    crate::limits::MAX_IPC_PATH
                ),
            ));
        }
        Ok(())
    }

    /// What the captures' tables can take at most, against this machine's memory (`/proc/meminfo`;
    /// skipped where it cannot be read): more than half of it would be taken from everything else the
    /// router runs, and an allocation the kernel refuses aborts the capture into a crash loop.
    fn check_memory(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let Some(total) = mem_total_bytes() else {
            return Ok(());
        };
        let c = &self.capture;
        let per_queue = (c.flow_table_size as u64)
            .saturating_mul(FLOW_ENTRY_BYTES)
            .saturating_add(
                (c.max_pending as u64)
                    .saturating_mul(u64::from(c.copy_range).saturating_add(PENDING_ENTRY_BYTES)),
            );
        let need = per_queue.saturating_mul(c.queues.len() as u64);
        if need > total / 2 {
            return Err(error_at(
                file,
                text,
                "capture.flow_table_size",
                format!(
                    "flow_table_size and max_pending of {} queues need up to {} MiB, more than half of this machine's {} MiB",
                    c.queues.len(),
                    need >> 20,
                    total >> 20
                ),
            ));
        }
        Ok(())
    }

    /// Checks of files the config names, once its directory is known ([`Config::load`]).
    fn check_files(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        if let Some(p) = &self.gateway.token_file {
            let p = self.base_dir().join(p);
            let token = read_bounded(&p).map_err(|e| {
                error_at(
                    file,
                    text,
                    "gateway.token_file",
                    format!("cannot read {}: {e}", p.display()),
                )
            })?;
            if token.trim().is_empty() {
                return Err(error_at(
                    file,
                    text,
                    "gateway.token_file",
                    format!("{} is empty", p.display()),
                ));
            }
        }
        Ok(())
    }

    /// The directory relative paths resolve against.
    pub fn base_dir(&self) -> PathBuf {
        self.source
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    /// `[policy] rules` resolved against the config's directory.
    pub fn rules_path(&self) -> PathBuf {
        self.base_dir().join(&self.policy.rules)
    }

    /// `[policy] geoip`, joined to this config's directory.
    pub fn geoip_path(&self) -> Option<PathBuf> {
        self.policy.geoip.as_ref().map(|p| self.base_dir().join(p))
    }

    /// The bus endpoint `ipc://<runtime_dir>/<name>`.
    pub fn endpoint(&self, name: &str) -> String {
        format!("ipc://{}", self.runtime_dir.join(name).display())
    }
}

/// Most `[gateway] max_connections`: each is a descriptor, and the gateway has one worker.
pub const MAX_GATEWAY_CONNECTIONS: usize = 65_536;
/// Flows per queue `nfguard check` accepts: 16 Mi entries are ~2 GiB of flow table per queue.
pub const MAX_FLOW_TABLE_SIZE: usize = 1 << 24;
/// Held packets per queue `nfguard check` accepts (the kernel queue itself holds at most 64 Ki).
pub const MAX_PENDING: usize = 1 << 20;
/// Bytes of one flow-table entry, rounded up (measured: 100 M entries asked the allocator for 11 GB).
const FLOW_ENTRY_BYTES: u64 = 128;
/// Bytes of one held packet besides its copied payload (message, id, deadline, flow slot).
const PENDING_ENTRY_BYTES: u64 = 256;

fn mem_total_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    kb.checked_mul(1024)
}

fn is_contiguous(m: u32) -> bool {
    let shifted = m >> m.trailing_zeros();
    shifted & shifted.wrapping_add(1) == 0
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            queues: QueueRange { first: 0, last: 1 },
            interfaces: Vec::new(),
            hook: Hook::Forward,
            never_queue: Vec::new(),
            copy_range: 4096,
            queue_max_len: 4096,
            socket_buffer: ByteSize(8 << 20),
            verdict_timeout: HumanDuration(std::time::Duration::from_millis(25)),
            default_verdict: Verdict::Accept,
            midstream_verdict: Verdict::Accept,
            fail_open: true,
            offload: true,
            mark_mode: MarkMode::Masked,
            verdict_mask: 0x3,
            shaper_mask: 0xfc,
            user_mask: 0,
            app_mask: 0xffff_0000,
            manage_rules: false,
            flow_table_size: 65_536,
            max_pending: 4096,
            flow_update_interval: HumanDuration(std::time::Duration::from_secs(60)),
            overload: Overload::BypassNew,
        }
    }
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            max_dpi_packets: 32,
            flow_idle_timeout: HumanDuration(std::time::Duration::from_secs(120)),
            seccomp: true,
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            rules: PathBuf::from("policy.toml"),
            decision_log: None,
            geoip: None,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("/var/lib/nfguard/store"),
            retention: HumanDuration(std::time::Duration::from_secs(7 * 86_400)),
            flush_interval: HumanDuration(std::time::Duration::from_secs(1)),
            cache_capacity: ByteSize(64 << 20),
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 3100)),
            token_file: None,
            allowed_hosts: Vec::new(),
            max_connections: 512,
        }
    }
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        use std::time::Duration;
        SupervisorConfig {
            heartbeat_timeout: HumanDuration(Duration::from_secs(3)),
            restart_backoff: HumanDuration(Duration::from_millis(100)),
            restart_backoff_max: HumanDuration(Duration::from_secs(5)),
            stop_timeout: HumanDuration(Duration::from_secs(5)),
            bin_dir: None,
            user: None,
            allow_root: false,
        }
    }
}

// === impl ExportConfig ===

/// Most collectors one store sends to (each has a queue and a thread).
pub const MAX_COLLECTORS: usize = 16;
/// Most records waiting per collector.
pub const MAX_EXPORT_QUEUE: usize = 1 << 22;
/// An IPFIX message must hold its header, a set header and the longest IPv6 record (721 bytes:
/// `nfguard_store::export::ipfix::MAX_RECORD`).
pub const MIN_EXPORT_MESSAGE: u16 = 768;

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            ipfix: Vec::new(),
            ipfix_raw: Vec::new(),
            observation_domain: 1,
            template_refresh: HumanDuration(std::time::Duration::from_secs(60)),
            queue: 65_536,
            max_message: 1400,
        }
    }
}

impl ExportConfig {
    /// Parses `ipfix_raw` into `ipfix`.
    fn resolve(&mut self, file: &str, text: &str) -> Result<(), ConfigError> {
        self.ipfix = self
            .ipfix_raw
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                raw.get_ref().parse().map_err(|message| ConfigError {
                    file: file.to_string(),
                    line: line_at(text, raw.span().start),
                    path: format!("export.ipfix[{i}]"),
                    message,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        if self.ipfix.len() > MAX_COLLECTORS {
            return Err(error_at(
                file,
                text,
                "export.ipfix",
                format!("at most {MAX_COLLECTORS} collectors"),
            ));
        }
        for (i, c) in self.ipfix.iter().enumerate() {
            if let Some(j) = self.ipfix.iter().take(i).position(|o| o == c) {
                let mut e = error_at(
                    file,
                    text,
                    &format!("export.ipfix[{i}]"),
                    format!("{c} is also export.ipfix[{j}]"),
                );
                if let Some(raw) = self.ipfix_raw.get(i) {
                    e.line = line_at(text, raw.span().start);
                }
                return Err(e);
            }
        }
        if self.template_refresh.0 < std::time::Duration::from_secs(1) {
            return Err(error_at(
                file,
                text,
                "export.template_refresh",
                "must be at least 1s",
            ));
        }
        if !(1..=MAX_EXPORT_QUEUE).contains(&self.queue) {
            return Err(error_at(
                file,
                text,
                "export.queue",
                format!("must be between 1 and {MAX_EXPORT_QUEUE} records"),
            ));
        }
        if self.max_message < MIN_EXPORT_MESSAGE {
            return Err(error_at(
                file,
                text,
                "export.max_message",
                format!("must be at least {MIN_EXPORT_MESSAGE} bytes"),
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        write!(f, "{scheme}://{}", self.addr)
    }
}

impl FromStr for Collector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (transport, rest) = if let Some(r) = s.strip_prefix("udp://") {
            (Transport::Udp, r)
        } else if let Some(r) = s.strip_prefix("tcp://") {
            (Transport::Tcp, r)
        } else {
            return Err(format!(
                "{s:?}: expected udp://ADDRESS:PORT or tcp://ADDRESS:PORT (IPFIX over SCTP is not supported)"
            ));
        };
        let addr: SocketAddr = rest.parse().map_err(|_| {
            format!("{s:?}: expected an IP address and port after the scheme (IPv6 in brackets: [2001:db8::1]:4739); host names are not resolved")
        })?;
        if addr.port() == 0 || addr.ip().is_unspecified() || addr.ip().is_multicast() {
            return Err(format!(
                "{s:?}: a collector needs a unicast address and a port other than 0"
            ));
        }
        Ok(Collector { transport, addr })
    }
}

// === impl QueueRange ===

impl QueueRange {
    pub fn iter(self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }

    pub fn len(self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    pub fn is_empty(self) -> bool {
        false
    }

    /// The iptables target arguments: `--queue-num N` or `--queue-balance A:B`.
    pub fn iptables_args(self) -> String {
        if self.first == self.last {
            format!("--queue-num {}", self.first)
        } else {
            format!("--queue-balance {}:{}", self.first, self.last)
        }
    }
}

impl FromStr for QueueRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("expected \"N\" or \"A:B\", got {s:?}");
        let (a, b) = s.split_once(':').unwrap_or((s, s));
        let first: u16 = a.trim().parse().map_err(|_| err())?;
        let last: u16 = b.trim().parse().map_err(|_| err())?;
        if last < first {
            return Err(format!("{s:?}: the last queue is below the first"));
        }
        if last - first >= 64 {
            return Err(format!("{s:?}: more than 64 queues"));
        }
        Ok(QueueRange { first, last })
    }
}

impl<'de> Deserialize<'de> for QueueRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = QueueRange;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"N\" or \"A:B\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<QueueRange, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<QueueRange, E> {
                self.visit_str(&n.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let c = Config::parse("nfguard.toml", "").unwrap();
        assert_eq!(c.capture.copy_range, 4096);
        assert_eq!(
            c.capture.verdict_timeout.0,
            std::time::Duration::from_millis(25)
        );
        assert_eq!(c.gateway.listen.port(), 3100);
        assert_eq!(c.capture.queues, QueueRange { first: 0, last: 1 });
    }

    #[test]
    fn bad_queue_names_file_line_and_key() {
        let text =
            "runtime_dir = \"/run/nfguard\"\n\n[capture]\ncopy_range = 4096\nqueues = \"0-3\"\n";
        let e = Config::parse("nfguard.toml", text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "nfguard.toml:5: capture.queues: expected \"N\" or \"A:B\", got \"0-3\""
        );
    }

    #[test]
    fn unknown_key_is_an_error() {
        let e = Config::parse("n.toml", "[capture]\nqueue = \"0\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unknown field `queue`"), "{e}");
    }

    #[test]
    fn offload_with_protocol_marks_is_refused() {
        let e = Config::parse(
            "n.toml",
            "[capture]\noffload = true\nmark_mode = \"protocol\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("capture.mark_mode"), "{e}");
        assert!(e.message.contains("offload"), "{e}");
    }

    #[test]
    fn flow_update_interval_below_a_second_is_refused() {
        let e =
            Config::parse("n.toml", "[capture]\nflow_update_interval = \"500ms\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string().contains("capture.flow_update_interval"),
            "{e}"
        );
        let ok = Config::parse("n.toml", "[capture]\nflow_update_interval = \"2s\"\n").unwrap();
        assert_eq!(ok.capture.flow_update_interval.0.as_secs(), 2);
    }

    #[test]
    fn overlapping_masks_are_refused() {
        let e = Config::parse("n.toml", "[capture]\nshaper_mask = 0xff\n").unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{e}");
    }

    #[test]
    fn bad_units_name_the_key() {
        let e = Config::parse("n.toml", "[store]\nretention = \"7 days\"\n").unwrap_err();
        assert_eq!((e.line, e.path.as_str()), (2, "store.retention"));
    }

    #[test]
    fn line_of_nested_array_path() {
        let text =
            "default = \"accept\"\n[[rule]]\nname = \"a\"\n[[rule]]\nname = \"b\"\napp = [\"x\"]\n";
        assert_eq!(line_of_path(text, "rule[1].app"), 6);
        assert_eq!(line_of_path(text, "rule[0].name"), 3);
        assert_eq!(line_of_path(text, "default"), 1);
    }

    #[test]
    fn export_collectors_parse_and_errors_name_the_element() {
        let c = Config::parse(
            "n.toml",
            "[export]\nipfix = [\"udp://192.0.2.10:4739\", \"tcp://[2001:db8::1]:4739\"]\nobservation_domain = 7\n",
        )
        .unwrap();
        assert_eq!(c.export.ipfix.len(), 2);
        assert_eq!(c.export.ipfix[0].transport, Transport::Udp);
        assert_eq!(c.export.ipfix[1].to_string(), "tcp://[2001:db8::1]:4739");
        assert_eq!(c.export.observation_domain, 7);
        assert!(Config::parse("n.toml", "").unwrap().export.ipfix.is_empty());
        for (text, line, path, says) in [
            (
                "[export]\nipfix = [\n  \"udp://192.0.2.10:4739\",\n  \"sctp://192.0.2.10:4739\",\n]\n",
                4,
                "export.ipfix[1]",
                "expected udp://",
            ),
            (
                "[export]\nipfix = [\"udp://collector.example:4739\"]\n",
                2,
                "export.ipfix[0]",
                "not resolved",
            ),
            (
                "[export]\nipfix = [\"udp://192.0.2.1:0\"]\n",
                2,
                "export.ipfix[0]",
                "port other than 0",
            ),
            (
                "[export]\nipfix = [\"udp://192.0.2.1:4739\", \"udp://192.0.2.1:4739\"]\n",
                2,
                "export.ipfix[1]",
                "also export.ipfix[0]",
            ),
            (
                "[export]\ntemplate_refresh = \"0s\"\n",
                2,
                "export.template_refresh",
                "at least 1s",
            ),
            (
                "[export]\nmax_message = 100\n",
                2,
                "export.max_message",
                "at least 768",
            ),
        ] {
            let e = Config::parse("n.toml", text).unwrap_err();
            assert_eq!((e.line, e.path.as_str()), (line, path), "{e}");
            assert!(e.message.contains(says), "{e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("n.toml:{line}: {path}: ")),
                "{e}"
            );
        }
    }

    #[test]
    fn queue_ranges() {
        assert_eq!(
            "3".parse::<QueueRange>().unwrap().iptables_args(),
            "--queue-num 3"
        );
        assert_eq!("0:3".parse::<QueueRange>().unwrap().len(), 4);
        assert!("3:0".parse::<QueueRange>().is_err());
    }

    #[test]
    fn values_the_runtime_cannot_honour_are_refused() {
        for (text, path, says) in [
            (
                "[supervisor]\nheartbeat_timeout = \"0s\"\n",
                "supervisor.heartbeat_timeout",
                "heartbeat every 1000ms",
            ),
            (
                "[supervisor]\nheartbeat_timeout = \"1s\"\n",
                "supervisor.heartbeat_timeout",
                "at least 1500ms",
            ),
            (
                "[supervisor]\nrestart_backoff = \"10s\"\nrestart_backoff_max = \"5s\"\n",
                "supervisor.restart_backoff_max",
                "below restart_backoff",
            ),
            (
                "[supervisor]\nrestart_backoff = \"0s\"\n",
                "supervisor.restart_backoff",
                "busy loop",
            ),
            (
                "[capture]\nflow_table_size = 100000000\n",
                "capture.flow_table_size",
                "at most 16777216",
            ),
            (
                "[capture]\nflow_table_size = 18446744073709551615\n",
                "capture.flow_table_size",
                "at most",
            ),
            (
                "[capture]\nmax_pending = 4000000000\n",
                "capture.max_pending",
                "at most 1048576",
            ),
            (
                "[gateway]\nlisten = \"0.0.0.0:3100\"\n",
                "gateway.listen",
                "set gateway.token_file",
            ),
            (
                "[gateway]\nlisten = \"[::]:3100\"\n",
                "gateway.listen",
                "bearer token",
            ),
            (
                "[capture]\ninterfaces = [\"eth0\", \"x;touch${IFS}/tmp/PWNED;\"]\n",
                "capture.interfaces[1]",
                "not an interface name",
            ),
            (
                "[capture]\ninterfaces = [\"eth0 -j ACCEPT\"]\n",
                "capture.interfaces[0]",
                "not allowed",
            ),
        ] {
            let e = Config::parse("n.toml", text).unwrap_err();
            assert_eq!(e.path, path, "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
            assert!(e.line >= 2, "{text}: {e}");
        }
        let ok = "[supervisor]\nheartbeat_timeout = \"1500ms\"\nrestart_backoff = \"5s\"\n[gateway]\nlisten = \"0.0.0.0:3100\"\ntoken_file = \"t\"\n[capture]\ninterfaces = [\"wlan+\", \"br-lan\"]\n";
        Config::parse("n.toml", ok).unwrap();
    }

    #[test]
    fn tables_beyond_this_machines_memory_are_refused() {
        let Some(total) = mem_total_bytes() else {
            return;
        };
        // Within MAX_FLOW_TABLE_SIZE per queue, but 64 queues of it exceed any machine this runs on
        // below 128 GiB: 64 × 16 Mi × 128 B.
        if total >= 128 << 30 {
            return;
        }
        let e = Config::parse(
            "n.toml",
            "[capture]\nqueues = \"0:63\"\nflow_table_size = 16777216\n",
        )
        .unwrap_err();
        assert_eq!(e.path, "capture.flow_table_size", "{e}");
        assert!(e.message.contains("more than half of this machine"), "{e}");
    }

    #[test]
    fn fifos_devices_and_huge_files_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Returns at once (a blocking open or read would hang the test).
        let e = Config::load(&fifo).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        let e = Config::load(Path::new("/dev/zero")).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        let e = Config::load(dir.path()).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        let big = dir.path().join("big.toml");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(crate::limits::MAX_CONFIG_FILE_BYTES + 1).unwrap();
        let e = Config::load(&big).unwrap_err();
        assert_eq!((e.line, e.path.as_str()), (0, "-"));
        assert!(e.message.contains("more than the 16777216"), "{e}");
    }

    #[test]
    fn a_missing_or_empty_token_file_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("nfguard.toml");
        std::fs::write(&cfg, "[gateway]\ntoken_file = \"token\"\n").unwrap();
        let e = Config::load(&cfg).unwrap_err();
        assert_eq!((e.line, e.path.as_str()), (2, "gateway.token_file"), "{e}");
        assert!(e.message.contains("cannot read"), "{e}");
        std::fs::write(dir.path().join("token"), "\n").unwrap();
        let e = Config::load(&cfg).unwrap_err();
        assert!(e.message.contains("is empty"), "{e}");
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        Config::load(&cfg).unwrap();
    }
}
