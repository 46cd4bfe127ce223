//! What every nfguard process does the same way: command-line basics, logging set-up, config loading
//! with exit code 64, the shutdown signal, and the one-per-second `MetricsSnapshot` heartbeat.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bus::{BusError, Publisher, new_boot_id};
use crate::config::Config;
use crate::metrics::SnapshotBuilder;
use crate::pb;

/// Exit code for bad config or arguments (`EX_USAGE`).
pub const EXIT_USAGE: i32 = 64;
/// Heartbeat period; the supervisor kills a child silent for `heartbeat_timeout` (3 s).
pub use crate::limits::HEARTBEAT_INTERVAL;

/// Bus endpoint file names inside `runtime_dir` (DESIGN §3).
pub mod endpoints {
    pub const CLASSIFIER: &str = "classifier.sock";
    pub const POLICY: &str = "policy.sock";
    pub const POLICY_EVENTS: &str = "policy-events.sock";
    pub const FLOWS_CONNTRACK: &str = "flows-ct.sock";
    pub const STORE: &str = "store.sock";
    pub const USAGE: &str = "usage.sock";

    /// `flows-q<N>.sock`, published by capture worker N.
    pub fn flows_queue(queue: u16) -> String {
        format!("flows-q{queue}.sock")
    }

    /// `metrics-<part>.sock`; captures use part `capture-q<N>`.
    pub fn metrics(part: &str) -> String {
        format!("metrics-{part}.sock")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Arguments every nfguard binary takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// The nfguard.toml to use.
    #[arg(
        short = 'c',
        long = "config",
        default_value = "/etc/nfguard/nfguard.toml"
    )]
    pub config: PathBuf,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Read the bus secret (it authorizes `PutPolicy`) from standard input to its end: `nfguard run`
    /// writes it there, systemd gives a root-only file with `StandardInput=file:`.
    #[arg(long)]
    pub bus_secret_stdin: bool,
}

/// Initialises tracing once: `RUST_LOG`-style filter (default `info`), text or JSON lines, to stderr.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let peers = PeerErrorLimit;
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr).with_filter(peers))
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_filter(peers),
            )
            .try_init(),
    };
}

/// Lines a remote peer can cause at will, one per malformed HTTP request (actix-http logs each at
/// ERROR through the `log` crate): at most one per [`PEER_ERROR_INTERVAL`] reaches the log.
struct PeerErrorLimit;

const PEER_ERROR_TARGET: &str = "actix_http::h1::dispatcher";

impl<S> tracing_subscriber::layer::Filter<S> for PeerErrorLimit {
    fn enabled(
        &self,
        _: &tracing::Metadata<'_>,
        _: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        true
    }

    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        let target = event.metadata().target();
        let from_peer = if target == "log" {
            // Bridged `log` records keep their real target in the `log.target` field.
            let mut v = LogTarget(false);
            event.record(&mut v);
            v.0
        } else {
            target.starts_with(PEER_ERROR_TARGET)
        };
        !from_peer || PEER_ERRORS.allow()
    }
}

/// Finds whether a bridged `log` record came from [`PEER_ERROR_TARGET`].
struct LogTarget(bool);

impl tracing::field::Visit for LogTarget {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "log.target" && value.starts_with(PEER_ERROR_TARGET) {
            self.0 = true;
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

/// One peer-caused line per this interval.
pub const PEER_ERROR_INTERVAL: Duration = Duration::from_secs(10);

static PEER_ERRORS: RateLimit = RateLimit::new();

/// Lets one event through per [`PEER_ERROR_INTERVAL`], measured from the first.
struct RateLimit {
    /// When the first event was seen; times below are milliseconds after it.
    start: std::sync::OnceLock<Instant>,
    /// When the next event may pass.
    next_ms: std::sync::atomic::AtomicU64,
}

impl RateLimit {
    const fn new() -> RateLimit {
        RateLimit {
            start: std::sync::OnceLock::new(),
            next_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn allow(&self) -> bool {
        use std::sync::atomic::Ordering;
        let now = u64::try_from(self.start.get_or_init(Instant::now).elapsed().as_millis())
            .unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(PEER_ERROR_INTERVAL.as_millis() as u64),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

/// Loads the config or prints the error (`FILE:LINE: PATH: message`) and exits with 64.
pub fn load_config_or_exit(path: &Path) -> Config {
    match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(EXIT_USAGE);
        }
    }
}

/// [`load_config_or_exit`], then with `--bus-secret-stdin` the bus secret from standard input (exit 64
/// when it is missing or malformed). A process holding the secret becomes non-dumpable
/// (`PR_SET_DUMPABLE` 0): other processes of its user can then neither ptrace it nor read its
/// memory or `/proc/PID/environ`.
pub fn load_config_and_secret_or_exit(args: &CommonArgs) -> Config {
    let mut cfg = load_config_or_exit(&args.config);
    if args.bus_secret_stdin {
        match crate::bus_secret::BusSecret::read_from(std::io::stdin().lock()) {
            Ok(s) => cfg.bus_secret = Some(s),
            Err(e) => {
                eprintln!("error: --bus-secret-stdin: {e}");
                std::process::exit(EXIT_USAGE);
            }
        }
        if let Err(e) = nix::sys::prctl::set_dumpable(false) {
            tracing::warn!(error = %e, "Cannot make this process non-dumpable; same-user processes could read the bus secret.");
        }
    }
    cfg
}

/// Prints `error: …` with the whole source chain to stderr and returns `code` for `main` to exit with.
pub fn report_error(e: &dyn std::error::Error, code: u8) -> std::process::ExitCode {
    let mut msg = format!("error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    eprintln!("{msg}");
    std::process::ExitCode::from(code)
}

/// Runs a process's `run` future to completion on a current-thread tokio runtime (the bus round trip
/// is about twice as slow on the multi-thread scheduler on small machines) and turns the outcome into
/// `main`'s exit status: success, or the error reported with the code `code_of` picks (64 for bad
/// config, 1 otherwise, by convention).
pub fn block_on_main<E: std::error::Error>(
    run: impl Future<Output = Result<(), E>>,
    code_of: impl Fn(&E) -> u8,
) -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report_error(&e, 1),
    };
    match rt.block_on(run) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => report_error(&e, code_of(&e)),
    }
}

/// The supervisor's pid, set in its children's environment (see [`shutdown_signal`]).
pub const SUPERVISOR_PID_ENV: &str = "NFGUARD_SUPERVISOR_PID";

/// Resolves on SIGTERM or SIGINT — or at once when this process was started by a supervisor
/// ([`SUPERVISOR_PID_ENV`]) that is no longer its parent. The parent-death signal is armed in the
/// child (by `setpriv --pdeathsig`) after the fork; a supervisor killed inside that window sends none,
/// so the check after the handlers are in place closes it (a later death signals as usual).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process can only be killed; never resolve.
        return futures::future::pending().await;
    };
    if let Some(supervisor) = orphaned_from_supervisor() {
        tracing::warn!(
            supervisor,
            "The supervisor that started this process is gone; stopping."
        );
        return;
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The supervisor's pid when [`SUPERVISOR_PID_ENV`] names one that is not this process's parent.
fn orphaned_from_supervisor() -> Option<u32> {
    let supervisor: u32 = std::env::var(SUPERVISOR_PID_ENV).ok()?.parse().ok()?;
    let parent = u32::try_from(nix::unistd::getppid().as_raw()).ok()?;
    (parent != supervisor).then_some(supervisor)
}

/// Binds `metrics-<part>.sock` and publishes a snapshot every second from `collect`, until `shutdown`.
/// The snapshot doubles as the supervisor's liveness heartbeat; under systemd it also sends `READY=1`
/// once bound and `WATCHDOG=1` with every snapshot.
///
/// # Errors
/// When the endpoint cannot be bound.
pub async fn spawn_metrics<F>(
    cfg: &Config,
    part: &str,
    queue: u32,
    collect: F,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Arc<Publisher>, BusError>
where
    F: Fn(&mut SnapshotBuilder) + Send + 'static,
{
    let publisher =
        Arc::new(Publisher::bind(&cfg.endpoint(&endpoints::metrics(part)), new_boot_id()).await?);
    let p = publisher.clone();
    let part = part.to_string();
    let started = Instant::now();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut shutdown => return,
            }
            let mut b = SnapshotBuilder::new();
            collect(&mut b);
            p.stats().report(&mut b, "metrics");
            let snap = b.finish(&part, queue, started.elapsed().as_secs());
            p.publish(pb::published::Body::Metrics(snap));
            // The same liveness for systemd (WatchdogSec) as for `nfguard run`.
            sd_notify("WATCHDOG=1");
        }
    });
    sd_notify("READY=1");
    Ok(publisher)
}

/// Sends a state line to systemd when running under `Type=notify` (`$NOTIFY_SOCKET` set); a no-op
/// otherwise. Failures are ignored: systemd notices a missing watchdog ping by itself.
pub fn sd_notify(state: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        // A leading '@' names a socket in the abstract namespace.
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let (Ok(addr), Ok(sock)) = (addr, UnixDatagram::unbound()) else {
        return;
    };
    let _ = sock.send_to_addr(state.as_bytes(), &addr);
}
