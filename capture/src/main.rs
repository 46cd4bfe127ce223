//! `nfguard-capture --queue N -c nfguard.toml`: one NFQUEUE worker (DESIGN §4).

use clap::Parser;
use nfguard_proto::process::{CommonArgs, init_logging, load_config_or_exit, shutdown_signal};

#[derive(Debug, Parser)]
#[command(name = "nfguard-capture", about = "nfguard's NFQUEUE worker")]
struct Args {
    /// The NFQUEUE number to serve (one process per queue).
    #[arg(long, required_unless_present = "conntrack")]
    queue: Option<u16>,
    /// Run the conntrack worker instead (one per host): offloaded flows' counters, verdict resets on
    /// a new policy epoch.
    #[arg(long, conflicts_with = "queue")]
    conntrack: bool,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    let args = Args::parse();
    init_logging(args.common.log_format);
    let cfg = load_config_or_exit(&args.common.config);
    // Current-thread: the bus round trip is twice as slow on the multi-thread scheduler (crates.md §2.4).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = match args.queue {
        Some(queue) => rt.block_on(nfguard_capture::run(cfg, queue, shutdown_signal())),
        None => rt.block_on(nfguard_capture::conntrack::run(cfg, shutdown_signal())),
    };
    if let Err(e) = result {
        let mut msg = format!("error: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        eprintln!("{msg}");
        std::process::exit(1);
    }
}
