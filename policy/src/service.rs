//! The policy process: answers `DecideRequest`s, `GetPolicy` and `PutPolicy` on `policy.sock`,
//! reloads the rule file (SIGHUP, file change, `PutPolicy`), publishes `PolicyChanged{epoch}` on
//! `policy-events.sock` (again every second), follows the store's `usage.sock` for quotas, and
//! reports its metrics heartbeat. `PutPolicy` is obeyed only with the bus secret
//! ([`nfguard_proto::bus_secret`]), which only the gateway holds besides this process.
//!
//! One task owns all state and serves one message at a time: a decision takes well under a
//! microsecond (see `benches/decide.rs`), far below the bus round trip, so there is nothing to gain
//! from actors or locks around the policy; the loop never awaits while holding state. A bad rule file
//! never replaces a good one. Each load, quota-state change and time-window edge is a new epoch, so
//! captures and the conntrack worker re-decide flows they had cached or offloaded.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nfguard_proto::bus::{
    BusError, Incoming, Publisher, Replier, RpcServer, Subscriber, ensure_runtime_dir, new_boot_id,
};
use nfguard_proto::bus_secret::BusSecret;
use nfguard_proto::config::{Config, ConfigError};
use nfguard_proto::metrics::SnapshotBuilder;
use nfguard_proto::pb;
use nfguard_proto::process::{endpoints, spawn_metrics};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::decision::Decision;
use crate::decision_log::decision_log_line;
use crate::facts::{FlowFacts, Usage};
use crate::policy::Policy;
use crate::time_window::Now;

/// How often the rule file's and its lists' mtime, size and inode are compared (DESIGN §7: reload
/// on change).
pub const FILE_POLL: Duration = Duration::from_secs(1);
/// At most one log line per this interval for requests refused for a missing bus secret.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// `PolicyChanged` is re-published this often so a subscriber that joined late learns the epoch.
pub const REPUBLISH: Duration = Duration::from_secs(1);

/// Why the process stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The rule file at start-up is unreadable or invalid (exit 64).
    #[error("{0}")]
    Policy(#[from] ConfigError),
    /// A bus endpoint could not be bound (exit 1).
    #[error("{0}")]
    Bus(#[from] BusError),
    #[error("runtime directory {dir}: {error}")]
    RuntimeDir { dir: PathBuf, error: std::io::Error },
}

impl RunError {
    /// 64 (`EX_USAGE`) for a bad rule file, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Policy(_) => nfguard_proto::process::EXIT_USAGE,
            _ => 1,
        }
    }
}

/// Counters the metrics heartbeat reports. A `std` mutex: held only for a few increments, never
/// across an `.await`.
#[derive(Debug, Default)]
struct Stats {
    rule_hits: BTreeMap<String, u64>,
    would_drop: BTreeMap<String, u64>,
    decisions: BTreeMap<&'static str, u64>,
    epoch: u64,
    reload_errors: u64,
    malformed: u64,
    expired: u64,
    /// State-changing requests without the bus secret.
    bus_refused: u64,
}

/// The file's identity for change detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode: m.ino(),
    })
}

/// Everything the loop owns.
struct State {
    path: PathBuf,
    user_mask: u32,
    /// `[policy] geoip`, joined to the config's directory.
    geoip: Option<PathBuf>,
    policy: Policy,
    epoch: u64,
    /// The rule file's, then each list file's.
    stamps: Vec<Option<FileStamp>>,
    usage: Usage,
    usage_hosts: Vec<IpAddr>,
    over_quota: Vec<(usize, IpAddr)>,
    next_edge: Option<u64>,
    decision_log: Option<std::fs::File>,
    events: Arc<Publisher>,
    stats: Arc<Mutex<Stats>>,
    /// What a `PutPolicy` must carry; `None`: every one is refused.
    bus_secret: Option<BusSecret>,
    /// When a refused request may be logged again.
    next_refusal_log: Instant,
}

/// Runs the policy process until `shutdown` resolves.
///
/// # Errors
/// [`RunError::Policy`] when the rule file at `cfg.rules_path()` is invalid at start-up (a later bad
/// file is logged and ignored), [`RunError::Bus`] when an endpoint cannot be bound.
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let path = cfg.rules_path();
    let user_mask = cfg.capture.user_mask;
    let geoip = cfg.geoip_path();
    let policy = Policy::load_with_geoip(&path, user_mask, geoip.as_deref())?;
    ensure_runtime_dir(&cfg.runtime_dir).map_err(|error| RunError::RuntimeDir {
        dir: cfg.runtime_dir.clone(),
        error,
    })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let mut server =
        RpcServer::<pb::PolicyRequest, pb::PolicyResponse>::bind(&cfg.endpoint(endpoints::POLICY))
            .await?;
    let replier = server.replier();
    let events =
        Arc::new(Publisher::bind(&cfg.endpoint(endpoints::POLICY_EVENTS), new_boot_id()).await?);
    let mut usage_sub = Subscriber::connect(&[cfg.endpoint(endpoints::USAGE)]);

    let stats = Arc::new(Mutex::new(Stats::default()));
    {
        let (stats, server_stats, event_stats, usage_stats) = (
            stats.clone(),
            server.stats(),
            events.stats(),
            usage_sub.stats(),
        );
        let collect = move |b: &mut SnapshotBuilder| {
            report(&stats, b);
            server_stats.report(b, "clients");
            event_stats.report(b, "policy-events");
            usage_stats.report(b, "usage");
        };
        spawn_metrics(&cfg, "policy", 0, collect, stopped(stop_rx.clone())).await?;
    }

    let decision_log = cfg.policy.decision_log.as_ref().and_then(|p| {
        let p = cfg.base_dir().join(p);
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
        {
            Ok(f) => Some(f),
            Err(e) => {
                error!(path = %p.display(), error = %e, "Cannot open the decision log; rules with log = true will not be logged.");
                None
            }
        }
    });

    // Epochs start at the Unix time in milliseconds, so they keep growing across restarts.
    let first_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(1));
    let mut st = State {
        stamps: Vec::new(),
        path,
        user_mask,
        geoip,
        policy,
        epoch: first_epoch,
        usage: Usage::empty(),
        usage_hosts: Vec::new(),
        over_quota: Vec::new(),
        next_edge: None,
        decision_log,
        events,
        stats,
        bus_secret: cfg.bus_secret.clone(),
        next_refusal_log: Instant::now(),
    };
    st.stamps = st.stamps_now();
    if st.bus_secret.is_none() {
        warn!(
            "No bus secret (--bus-secret-stdin): PutPolicy is refused; the rule file and SIGHUP still work."
        );
    }
    st.loaded("start");

    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut poll = tokio::time::interval(FILE_POLL);
    let mut republish = tokio::time::interval(REPUBLISH);
    let stop = stopped(stop_rx);
    tokio::pin!(stop);
    loop {
        let edge_sleep = sleep_until_unix(st.next_edge);
        tokio::select! {
            () = &mut stop => break,
            req = server.recv() => match req {
                Ok(req) => st.handle(req, &replier),
                Err(e) => {
                    error!(error = %e, "Policy socket closed.");
                    break;
                }
            },
            msg = usage_sub.recv() => {
                if let Ok(pb::Published { body: Some(pb::published::Body::Usage(u)), .. }) = msg {
                    st.usage_snapshot(&u);
                }
            }
            _ = poll.tick() => st.poll_file(),
            _ = republish.tick() => st.publish_epoch(),
            Some(()) = recv_hup(&mut hup) => st.reload("SIGHUP", true),
            () = edge_sleep => {
                info!(epoch = st.epoch + 1, "Time window edge; decisions change.");
                st.new_epoch();
            }
        }
    }
    info!("Policy process stopped.");
    Ok(())
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn recv_hup(hup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_unix(t: Option<u64>) {
    let Some(t) = t else {
        return std::future::pending().await;
    };
    let now = unix_now();
    let wait = Duration::from_secs(t.saturating_sub(now));
    tokio::time::sleep_until((Instant::now() + wait).into()).await;
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `unix_s` with the local UTC offset at that instant (the system time zone).
pub fn local_now(unix_s: u64) -> Now {
    use chrono::{Offset, TimeZone};
    let offset = i64::try_from(unix_s)
        .ok()
        .and_then(|s| chrono::Local.timestamp_opt(s, 0).single())
        .map_or(0, |t| t.offset().fix().local_minus_utc());
    Now {
        unix_s,
        utc_offset_s: offset,
    }
}

fn report(stats: &Mutex<Stats>, b: &mut SnapshotBuilder) {
    let Ok(s) = stats.lock() else { return };
    for (rule, n) in &s.rule_hits {
        b.counter("nfguard_rule_hits_total", &[("rule", rule)], *n);
    }
    for (rule, n) in &s.would_drop {
        b.counter("nfguard_would_drop_total", &[("rule", rule)], *n);
    }
    for (action, n) in &s.decisions {
        b.counter("nfguard_decisions_total", &[("action", action)], *n);
    }
    b.gauge("nfguard_policy_epoch", &[], s.epoch as f64);
    b.counter("nfguard_policy_reload_errors_total", &[], s.reload_errors);
    b.counter(
        "nfguard_policy_requests_dropped_total",
        &[("reason", "malformed")],
        s.malformed,
    );
    b.counter(
        "nfguard_policy_requests_dropped_total",
        &[("reason", "expired")],
        s.expired,
    );
    b.counter("nfguard_policy_bus_refused_total", &[], s.bus_refused);
}

// === impl State ===

impl State {
    fn handle(&mut self, req: Incoming<pb::PolicyRequest>, replier: &Replier<pb::PolicyResponse>) {
        let body = match req.body.body {
            Some(pb::policy_request::Body::Decide(ref d)) => {
                if req.expired() {
                    self.bump(|s| s.expired += 1);
                    return;
                }
                match self.decide(d) {
                    Some(dec) => pb::policy_response::Body::Decision(dec),
                    None => return,
                }
            }
            Some(pb::policy_request::Body::Get(_)) => {
                pb::policy_response::Body::Policy(pb::PolicyReply {
                    ok: true,
                    toml: self.policy.text().to_string(),
                    error: String::new(),
                    epoch: self.epoch,
                })
            }
            Some(pb::policy_request::Body::Put(ref p)) => {
                if !self.bus_secret.as_ref().is_some_and(|s| s.matches(&p.auth)) {
                    pb::policy_response::Body::Policy(self.refuse("PutPolicy"))
                } else {
                    pb::policy_response::Body::Policy(self.put(&p.toml))
                }
            }
            None => {
                self.bump(|s| s.malformed += 1);
                return;
            }
        };
        replier.reply(
            &req.reply_to,
            req.id,
            &pb::PolicyResponse { body: Some(body) },
        );
    }

    fn decide(&mut self, req: &pb::DecideRequest) -> Option<pb::Decision> {
        let facts = match FlowFacts::from_pb(req) {
            Ok(f) => f,
            Err(e) => {
                debug!(error = %e, "Malformed decide request.");
                self.bump(|s| s.malformed += 1);
                return None;
            }
        };
        let unix_s = if req.time_unix_s == 0 {
            unix_now()
        } else {
            req.time_unix_s
        };
        let now = local_now(unix_s);
        let d = self.policy.decide(&facts, now, &self.usage);
        self.record(&d);
        if d.log {
            self.log(&facts, &d, now);
        }
        let mut out = d.to_pb(self.epoch);
        out.flow = req.flow;
        Some(out)
    }

    fn record(&self, d: &Decision) {
        let Ok(mut s) = self.stats.lock() else { return };
        *s.decisions.entry(d.action.as_str()).or_default() += 1;
        if let Some(rule) = d.rule.as_deref() {
            if let Some(n) = s.rule_hits.get_mut(rule) {
                *n += 1;
            } else {
                s.rule_hits.insert(rule.to_string(), 1);
            }
            if d.would_drop {
                *s.would_drop.entry(rule.to_string()).or_default() += 1;
            }
        }
    }

    fn log(&mut self, f: &FlowFacts<'_>, d: &Decision, now: Now) {
        let Some(file) = self.decision_log.as_mut() else {
            return;
        };
        let mut line = decision_log_line(f, d, now);
        line.push('\n');
        if let Err(e) = file.write_all(line.as_bytes()) {
            warn!(error = %e, "Decision log write failed.");
        }
    }

    /// A state-changing request without the bus secret: counted, logged at most once per
    /// [`REFUSAL_LOG_INTERVAL`], answered with an error and nothing changed.
    fn refuse(&mut self, what: &'static str) -> pb::PolicyReply {
        self.bump(|s| s.bus_refused += 1);
        let now = Instant::now();
        if now >= self.next_refusal_log {
            self.next_refusal_log = now + REFUSAL_LOG_INTERVAL;
            warn!(
                request = what,
                "Refused a bus request without the bus secret (only the gateway holds it); further ones are counted in nfguard_policy_bus_refused_total."
            );
        }
        pb::PolicyReply {
            ok: false,
            toml: String::new(),
            error: format!("{what} refused: it needs the bus secret, which only the gateway holds"),
            epoch: self.epoch,
        }
    }

    /// `PutPolicy`: validate, write atomically, load. The old policy stays on any failure.
    fn put(&mut self, toml: &str) -> pb::PolicyReply {
        let name = self.path.file_name().map_or_else(
            || "policy.toml".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let fail = |error: String, epoch| pb::PolicyReply {
            ok: false,
            toml: String::new(),
            error,
            epoch,
        };
        let pre = self.stamps_now();
        let policy = match Policy::parse_in(self.dir(), &name, toml, self.user_mask)
            .and_then(|p| p.with_geoip(self.policy.geoip().cloned()))
        {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "PutPolicy rejected.");
                return fail(e.to_string(), self.epoch);
            }
        };
        if let Err(e) = crate::rule_file::write_atomically(&self.path, toml) {
            error!(path = %self.path.display(), error = %e, "Cannot write the policy file.");
            return fail(
                format!("{}:0: -: cannot write: {e}", self.path.display()),
                self.epoch,
            );
        }
        let mut pre = pre;
        if let Some(rule_file) = pre.first_mut() {
            *rule_file = stamp(&self.path);
        }
        self.install(policy, pre, "PutPolicy");
        pb::PolicyReply {
            ok: true,
            toml: String::new(),
            error: String::new(),
            epoch: self.epoch,
        }
    }

    /// The directory list files are read from: the rule file's.
    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// The rule file's stamp, then those of the lists the current policy names.
    fn stamps_now(&self) -> Vec<Option<FileStamp>> {
        let dir = self.dir();
        std::iter::once(stamp(&self.path))
            .chain(self.policy.list_files().iter().map(|f| stamp(&dir.join(f))))
            .collect()
    }

    fn poll_file(&mut self) {
        let now = self.stamps_now();
        if now != self.stamps {
            // A list changed under the same rule text: that is a new policy all the same.
            let lists_changed = now.get(1..) != self.stamps.get(1..);
            self.reload("file change", lists_changed);
        }
    }

    /// Loads the file and its lists; `force` makes a new epoch even when the text is unchanged
    /// (SIGHUP, a list changed).
    fn reload(&mut self, why: &'static str, force: bool) {
        // Stamped before reading: a file written during the load is a change at the next poll.
        let pre = self.stamps_now();
        match Policy::load_with_geoip(&self.path, self.user_mask, self.geoip.as_deref()) {
            Ok(p) => {
                if !force && p.text() == self.policy.text() {
                    self.stamps = pre;
                    return;
                }
                self.install(p, pre, why);
            }
            Err(e) => {
                error!(trigger = why, error = %e, "Policy file rejected; keeping the previous policy.");
                self.stamps = pre;
                self.bump(|s| s.reload_errors += 1);
            }
        }
    }

    /// Puts `p` in place; `pre` are the files' stamps taken before it was read (they stand when
    /// it names the same lists as the old policy).
    fn install(&mut self, p: Policy, pre: Vec<Option<FileStamp>>, why: &'static str) {
        let same_lists = p.list_files() == self.policy.list_files();
        self.policy = p;
        self.stamps = if same_lists { pre } else { self.stamps_now() };
        self.loaded(why);
    }

    /// A new policy is in place: new epoch, quota state and time edge from scratch.
    fn loaded(&mut self, why: &'static str) {
        for w in self.policy.warnings() {
            warn!(trigger = why, "{w}");
        }
        self.over_quota = self.over_quota_now();
        if why != "start" {
            self.epoch += 1;
        }
        self.next_edge = self.policy.next_time_edge(local_now(unix_now()));
        info!(
            trigger = why,
            epoch = self.epoch,
            rules = self.policy.rules().len(),
            mode = ?self.policy.mode(),
            "Policy loaded."
        );
        self.bump_epoch_stat();
        self.publish_epoch();
    }

    /// Same policy, new epoch (quota state or time window changed).
    fn new_epoch(&mut self) {
        self.epoch += 1;
        self.next_edge = self.policy.next_time_edge(local_now(unix_now()));
        self.bump_epoch_stat();
        self.publish_epoch();
    }

    fn usage_snapshot(&mut self, u: &pb::UsageSnapshot) {
        self.usage = Usage::from_pb(u);
        self.usage_hosts = u
            .hosts
            .iter()
            .filter_map(|h| nfguard_proto::types::ip_from_bytes(&h.ip))
            .collect();
        let over = self.over_quota_now();
        if over != self.over_quota {
            info!(
                hosts_over_quota = over.len(),
                epoch = self.epoch + 1,
                "Quota state changed; decisions change."
            );
            self.over_quota = over;
            self.new_epoch();
        }
    }

    fn over_quota_now(&self) -> Vec<(usize, IpAddr)> {
        self.policy.over_quota_hosts(&self.usage, &self.usage_hosts)
    }

    fn publish_epoch(&self) {
        self.events
            .publish(pb::published::Body::PolicyChanged(pb::PolicyChanged {
                epoch: self.epoch,
            }));
    }

    fn bump_epoch_stat(&self) {
        let epoch = self.epoch;
        self.bump(|s| s.epoch = epoch);
    }

    fn bump(&self, f: impl FnOnce(&mut Stats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }
}
