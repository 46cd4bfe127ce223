//! `nfguard run`: starts store, policy, classifier, gateway, the conntrack worker, then one capture per
//! queue; restarts a child that exits or stops sending heartbeats (its `MetricsSnapshot`) with backoff;
//! on SIGTERM/SIGINT stops them in reverse order within a bound. Children's output goes to this
//! process's stderr, each line prefixed with the child's name.
//!
//! Each child is started through util-linux's `setpriv` as `[supervisor] user` with only the
//! capability its role needs ([`run_as`](crate::run_as)), `NO_NEW_PRIVS`, and `PR_SET_PDEATHSIG`
//! (all set right before the exec, without `unsafe` in our code): children die with the supervisor,
//! and the children on record in `runtime_dir` (`leftovers`) that an earlier, SIGKILLed run left
//! behind are stopped first. The policy process and the gateway get this run's bus secret on their
//! standard input ([`nfguard_proto::bus_secret`]); no other child ever sees it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nfguard_proto::bus::Subscriber;
use nfguard_proto::bus_secret::BusSecret;
use nfguard_proto::config::Config;
use nfguard_proto::pb;
use nfguard_proto::process::{LogFormat, endpoints, spawn_metrics};

use crate::leftovers;
use crate::run_as::{Privilege, RunAs};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A child that ran this long without trouble gets its backoff reset.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);
/// Time a freshly started child has to send its first heartbeat.
const STARTUP_GRACE: Duration = Duration::from_secs(5);
const CHECK_INTERVAL: Duration = Duration::from_millis(200);
/// util-linux's `setpriv` (Debian: package util-linux, essential): user, capabilities,
/// `NO_NEW_PRIVS` and the parent-death signal of each child.
const SETPRIV: &str = "/usr/bin/setpriv";
/// SIGSYS: what a seccomp filter's kill action looks like to the parent (`SECCOMP_RET_KILL_PROCESS`).
const SIGSYS: i32 = 31;
/// The binaries `nfguard run` starts, found in `[supervisor] bin_dir`.
pub const BINARIES: [&str; 5] = [
    "nfguard-store",
    "nfguard-policy",
    "nfguard-classifier",
    "nfguard-gateway",
    "nfguard-capture",
];

/// One supervised process.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Name in logs and the `part` label of its heartbeat (`capture-q0`).
    pub part: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub privilege: Privilege,
    /// Gets the bus secret on its standard input (`--bus-secret-stdin`).
    pub bus_secret: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("binary {0} not found (build the workspace: cargo build --release --workspace)")]
    MissingBinary(PathBuf),
    #[error("runtime dir {0}: {1}")]
    RuntimeDir(PathBuf, std::io::Error),
    #[error(transparent)]
    Bus(#[from] nfguard_proto::bus::BusError),
    #[error(
        "setpriv ({SETPRIV}, package util-linux) is missing: children cannot be started with fewer privileges"
    )]
    MissingSetpriv,
}

/// Restart counts and liveness, shared with the metrics heartbeat.
#[derive(Debug, Default)]
struct Status {
    up: HashMap<String, bool>,
    restarts: HashMap<String, u64>,
}

struct Running {
    spec: ChildSpec,
    child: Option<Child>,
    started: Instant,
    backoff: Duration,
    /// When a crashed child may start again.
    restart_at: Option<Instant>,
}

/// The children for `cfg`, in start order.
pub fn children(
    cfg: &Config,
    config_path: &Path,
    bin_dir: &Path,
    log_format: LogFormat,
) -> Vec<ChildSpec> {
    let common = |extra: &[&str]| {
        let mut a: Vec<String> = extra.iter().map(|s| (*s).to_string()).collect();
        a.extend(["-c".into(), config_path.display().to_string()]);
        if log_format == LogFormat::Json {
            a.extend(["--log-format".into(), "json".into()]);
        }
        a
    };
    let child = |part: &str, program: &str, extra: &[&str], privilege, bus_secret: bool| {
        let mut args = common(extra);
        if bus_secret {
            args.push("--bus-secret-stdin".into());
        }
        ChildSpec {
            part: part.into(),
            program: bin_dir.join(program),
            args,
            privilege,
            bus_secret,
        }
    };
    let mut v = vec![
        child("store", "nfguard-store", &[], Privilege::None, false),
        child("policy", "nfguard-policy", &[], Privilege::None, true),
        child(
            "classifier",
            "nfguard-classifier",
            &[],
            Privilege::None,
            false,
        ),
        child("gateway", "nfguard-gateway", &[], Privilege::None, true),
        child(
            "conntrack",
            "nfguard-capture",
            &["--conntrack"],
            Privilege::NetAdmin,
            false,
        ),
    ];
    for q in cfg.capture.queues.iter() {
        v.push(child(
            &format!("capture-q{q}"),
            "nfguard-capture",
            &["--queue", &q.to_string()],
            Privilege::NetAdmin,
            false,
        ));
    }
    v
}

/// The directory of the running executable, where the nfguard-* binaries are installed side by side.
pub fn default_bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs `specs` until `shutdown` resolves, then stops them in reverse order.
/// `after_start` runs once every capture worker sent its first heartbeat (used to install iptables rules), and
/// `before_stop` before the first child is stopped.
///
/// Children run as `run_as` (see [`crate::run_as`]).
///
/// # Errors
/// A missing binary or `setpriv`, or an unusable runtime dir; a child's failure is handled by
/// restarting it.
pub async fn supervise(
    cfg: &Config,
    run_as: &RunAs,
    specs: Vec<ChildSpec>,
    shutdown: impl std::future::Future<Output = ()>,
    after_start: impl FnOnce(),
    before_stop: impl FnOnce(),
) -> Result<(), SupervisorError> {
    for s in &specs {
        if !s.program.exists() {
            return Err(SupervisorError::MissingBinary(s.program.clone()));
        }
    }
    if !Path::new(SETPRIV).exists() {
        return Err(SupervisorError::MissingSetpriv);
    }
    nfguard_proto::bus::ensure_runtime_dir_for(
        &cfg.runtime_dir,
        Some(run_as.uid),
        Some((run_as.uid, run_as.gid)),
    )
    .map_err(|e| SupervisorError::RuntimeDir(cfg.runtime_dir.clone(), e))?;

    let status = Arc::new(Mutex::new(Status::default()));
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let st = status.clone();
    // The mutex is never held across an await: std is fine.
    let _metrics = spawn_metrics(
        cfg,
        "supervisor",
        0,
        move |b| {
            let Ok(s) = st.lock() else { return };
            for (part, up) in &s.up {
                b.gauge(
                    "nfguard_process_up",
                    &[("part", part)],
                    if *up { 1.0 } else { 0.0 },
                );
            }
            for (part, n) in &s.restarts {
                b.counter("nfguard_process_restarts_total", &[("part", part)], *n);
            }
        },
        async move {
            let _ = metrics_stopped.await;
        },
    )
    .await?;
    // The gateway (the children's user) subscribes to it: theirs, like every socket in runtime_dir.
    // lchown: a planted link is never followed.
    let own_socket = cfg.runtime_dir.join(endpoints::metrics("supervisor"));
    if let Err(e) = std::os::unix::fs::lchown(&own_socket, Some(run_as.uid), Some(run_as.gid)) {
        tracing::warn!(path = %own_socket.display(), error = %e, "Cannot give the supervisor's metrics socket to the children's user; the gateway will not show the supervisor.");
    }
    // Bound the supervisor's heartbeat socket: no other live supervisor uses this runtime dir, so
    // children on record are leftovers of a dead one.
    let dir = cfg.runtime_dir.clone();
    let stop_timeout = cfg.supervisor.stop_timeout.0;
    let stopped =
        tokio::task::spawn_blocking(move || leftovers::stop_leftovers(&dir, stop_timeout))
            .await
            .unwrap_or_default();
    if !stopped.is_empty() {
        tracing::warn!(parts = ?stopped, "Stopped children an earlier nfguard run left running.");
    }

    let heartbeat_endpoints: Vec<String> = specs
        .iter()
        .map(|s| cfg.endpoint(&endpoints::metrics(&s.part)))
        .collect();
    let mut heartbeats = Subscriber::connect(&heartbeat_endpoints);
    let mut last_beat: HashMap<String, Instant> = HashMap::new();

    let launch = Launch {
        run_as: run_as.clone(),
        secret: BusSecret::generate(),
    };
    tracing::info!(user = %run_as.name, uid = run_as.uid, "Starting the children.");
    let base_backoff = cfg.supervisor.restart_backoff.0;
    let mut running: Vec<Running> = Vec::new();
    for spec in specs {
        let child = start(&spec, &launch);
        let ok = child.is_some();
        set_status(&status, &spec.part, ok, false);
        running.push(Running {
            spec,
            child,
            started: Instant::now(),
            backoff: base_backoff,
            restart_at: (!ok).then(|| Instant::now() + base_backoff),
        });
    }
    record_children(&cfg.runtime_dir, &running);
    // Rules go in once every capture worker is bound (its first heartbeat), or after the start-up grace.
    let mut after_start = Some(after_start);
    let captures: Vec<String> = running
        .iter()
        .map(|r| r.spec.part.clone())
        .filter(|p| p.starts_with("capture-"))
        .collect();
    let started_at = Instant::now();

    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            m = heartbeats.recv() => {
                if let Ok(pb::Published { body: Some(pb::published::Body::Metrics(s)), .. }) = m {
                    last_beat.insert(s.part, Instant::now());
                }
            }
            _ = tick.tick() => {
                let mut restarted = false;
                for r in &mut running {
                    restarted |= check(r, cfg, &launch, &status, &mut last_beat).await;
                }
                if restarted {
                    record_children(&cfg.runtime_dir, &running);
                }
            }
        }
        if after_start.is_some()
            && (captures.iter().all(|p| last_beat.contains_key(p))
                || started_at.elapsed() > STARTUP_GRACE)
            && let Some(f) = after_start.take()
        {
            f();
        }
    }

    tracing::info!("Stopping children.");
    if after_start.is_none() {
        before_stop();
    }
    let stop_timeout = cfg.supervisor.stop_timeout.0;
    for r in running.iter_mut().rev() {
        if let Some(child) = r.child.as_mut() {
            stop_child(&r.spec.part, child, stop_timeout).await;
        }
        set_status(&status, &r.spec.part, false, false);
    }
    let _ = std::fs::remove_file(leftovers::record_path(&cfg.runtime_dir));
    let _ = stop_metrics.send(());
    Ok(())
}

/// Puts the running children on record for the next run ([`leftovers`]).
fn record_children(runtime_dir: &Path, running: &[Running]) {
    let records: Vec<leftovers::ChildRecord> = running
        .iter()
        .filter_map(|r| leftovers::record_of(&r.spec.part, r.child.as_ref()?.id()?))
        .collect();
    if let Err(e) = leftovers::write(runtime_dir, &records) {
        tracing::warn!(error = %e, "Cannot record the children's pids; a SIGKILLed run's leftovers would not be found.");
    }
}

/// Restarts `r` when it exited or went silent and its backoff has passed; true when it was started again.
async fn check(
    r: &mut Running,
    cfg: &Config,
    launch: &Launch,
    status: &Mutex<Status>,
    last_beat: &mut HashMap<String, Instant>,
) -> bool {
    let now = Instant::now();
    let part = r.spec.part.clone();
    if let Some(child) = r.child.as_mut() {
        let exited = match child.try_wait() {
            Ok(Some(code)) if std::os::unix::process::ExitStatusExt::signal(&code) == Some(SIGSYS) => {
                Some("killed by its seccomp filter (SIGSYS: a system call outside its allow-list; the kernel's audit log names it)".to_string())
            }
            Ok(Some(code)) => Some(format!("exited ({code})")),
            Ok(None) => None,
            Err(e) => Some(format!("wait failed: {e}")),
        };
        let silent_for = now.duration_since(
            last_beat
                .get(&part)
                .copied()
                .unwrap_or(r.started)
                .max(r.started),
        );
        let grace = if last_beat.get(&part).is_some_and(|t| *t >= r.started) {
            cfg.supervisor.heartbeat_timeout.0
        } else {
            STARTUP_GRACE.max(cfg.supervisor.heartbeat_timeout.0)
        };
        let reason = match exited {
            Some(e) => Some(e),
            None if silent_for > grace => {
                tracing::warn!(part = %part, silent_ms = silent_for.as_millis() as u64, "Child sent no heartbeat; killing it.");
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                Some("no heartbeat".to_string())
            }
            None => None,
        };
        if let Some(reason) = reason {
            r.child = None;
            if now.duration_since(r.started) > HEALTHY_AFTER {
                r.backoff = cfg.supervisor.restart_backoff.0;
            }
            tracing::error!(part = %part, reason = %reason, backoff_ms = r.backoff.as_millis() as u64, "Child stopped; restarting it.");
            r.restart_at = Some(now + r.backoff);
            r.backoff = (r.backoff * 2).min(cfg.supervisor.restart_backoff_max.0);
            set_status(status, &part, false, false);
        }
    }
    if r.child.is_none() && r.restart_at.is_some_and(|t| t <= now) {
        r.child = start(&r.spec, launch);
        r.started = now;
        last_beat.remove(&part);
        r.restart_at = if r.child.is_some() {
            None
        } else {
            Some(now + r.backoff)
        };
        set_status(status, &part, r.child.is_some(), true);
        return r.child.is_some();
    }
    false
}

fn set_status(status: &Mutex<Status>, part: &str, up: bool, restarted: bool) {
    let Ok(mut s) = status.lock() else { return };
    s.up.insert(part.to_string(), up);
    let n = s.restarts.entry(part.to_string()).or_insert(0);
    if restarted {
        *n += 1;
    }
}

/// How every child is started in this run.
struct Launch {
    run_as: RunAs,
    secret: BusSecret,
}

fn start(spec: &ChildSpec, launch: &Launch) -> Option<Child> {
    // SIGTERM on the supervisor's death, not SIGKILL: a capture then gives its held packets their
    // verdicts before it exits.
    let mut cmd = Command::new(SETPRIV);
    cmd.args(launch.run_as.setpriv_args(spec.privilege))
        .arg(&spec.program)
        .args(&spec.args)
        .stdin(if spec.bus_secret {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .env(
            nfguard_proto::process::SUPERVISOR_PID_ENV,
            std::process::id().to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match cmd.spawn() {
        Ok(mut child) => {
            tracing::info!(part = %spec.part, pid = child.id().unwrap_or(0), "Started child.");
            if let Some(mut stdin) = child.stdin.take() {
                let mut secret = launch.secret.as_bytes().to_vec();
                secret.push(b'\n');
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    // Closing stdin afterwards is the end of the secret for the child.
                    let _ = stdin.write_all(&secret).await;
                });
            }
            if let Some(out) = child.stdout.take() {
                tokio::spawn(forward(spec.part.clone(), out));
            }
            if let Some(err) = child.stderr.take() {
                tokio::spawn(forward(spec.part.clone(), err));
            }
            Some(child)
        }
        Err(e) => {
            tracing::error!(part = %spec.part, error = %e, "Cannot start child.");
            None
        }
    }
}

async fn forward(part: String, stream: impl tokio::io::AsyncRead + Unpin) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("[{part}] {line}");
    }
}

async fn stop_child(part: &str, child: &mut Child, timeout: Duration) {
    if let Some(pid) = child.id()
        && let Ok(pid) = i32::try_from(pid)
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(_) => tracing::info!(part = %part, "Child stopped."),
        Err(_) => {
            tracing::warn!(part = %part, "Child ignored SIGTERM; killing it.");
            let _ = child.kill().await;
        }
    }
}
