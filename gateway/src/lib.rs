//! nfguard-gateway: the HTTP face of nfguard (DESIGN §8) — `/metrics` (Prometheus text from every
//! process's `MetricsSnapshot` plus the kernel's NFQUEUE counters), the JSON API under `/api/v1/` (flows
//! and top-N from the store, the protocol table, the running policy, status), the embedded dashboard
//! at `/`, and `/health`.
//!
//! Bus sockets are created once per process, before the HTTP server starts, and shared by its single
//! actix worker through an `Arc`.
//!
//! `nfguard_process_up{part}` has one source: the gateway, from heartbeats (1 when a part's snapshot
//! arrived in the last [`state::UP_WINDOW`]); a copy in any snapshot (the supervisor's) is dropped.

pub mod api;
pub mod guard;
pub mod prom;
pub mod state;

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use nfguard_proto::bus::BusError;
use nfguard_proto::config::Config;

pub use state::AppState;

/// Why the gateway stopped.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot read the token file {path}: {message}")]
    TokenFile { path: String, message: String },
    #[error("the token file {0} is empty")]
    EmptyToken(String),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("HTTP server: {0}")]
    Server(std::io::Error),
}

/// Binds `[gateway] listen` and serves until `shutdown` resolves.
///
/// # Errors
/// See [`serve`]; also when the address cannot be bound.
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let addr = cfg.gateway.listen;
    let listener = TcpListener::bind(addr).map_err(|source| GatewayError::Listen {
        addr: addr.to_string(),
        source,
    })?;
    serve(cfg, listener, shutdown).await
}

/// Where the gateway reads what the config does not say (tests point these at fixtures).
#[derive(Debug, Clone)]
pub struct Options {
    /// The kernel's NFQUEUE table, default [`state::NFNETLINK_QUEUE`].
    pub nfnetlink_queue: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nfnetlink_queue: PathBuf::from(state::NFNETLINK_QUEUE),
        }
    }
}

/// Serves on an already bound listener (tests bind `127.0.0.1:0`).
///
/// # Errors
/// An unreadable or empty token file, a metrics endpoint that cannot be bound, or an HTTP server error.
pub async fn serve(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    serve_with(cfg, listener, Options::default(), shutdown).await
}

/// [`serve`] with explicit [`Options`].
///
/// # Errors
/// As [`serve`].
pub async fn serve_with(
    cfg: Config,
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let local = listener.local_addr().map_err(GatewayError::Server)?;
    match guard::raise_nofile_limit() {
        Ok(n) => tracing::debug!(nofile = n, "Descriptor limit raised to the hard limit."),
        Err(e) => tracing::warn!(error = %e, "Cannot raise the descriptor limit."),
    }
    let mut state = AppState::new(&cfg, local)?;
    state.nfqueue_path = options.nfnetlink_queue;
    let state = Arc::new(state);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    state::spawn_collector(state.clone(), &cfg, stopped());
    let st = state.clone();
    nfguard_proto::process::spawn_metrics(
        &cfg,
        "gateway",
        0,
        move |b| st.own_metrics(b),
        stopped(),
    )
    .await?;
    let server = api::server(state, listener).map_err(GatewayError::Server)?;
    let handle = server.handle();
    tracing::info!(listen = %local, "Gateway listening.");
    let server_task = tokio::spawn(server);
    shutdown.await;
    let _ = stop_tx.send(true);
    handle.stop(true).await;
    match server_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(GatewayError::Server(e)),
        Err(e) => return Err(GatewayError::Server(std::io::Error::other(e.to_string()))),
    }
    tracing::info!("Gateway stopped.");
    Ok(())
}
