//! `nfguard-capture --queue N -c nfguard.toml`: one NFQUEUE worker (DESIGN §4).

use clap::Parser;
use nfguard_proto::process::{
    CommonArgs, block_on_main, init_logging, load_config_or_exit, shutdown_signal,
};

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

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    init_logging(args.common.log_format);
    let cfg = load_config_or_exit(&args.common.config);
    match args.queue {
        Some(queue) => block_on_main(nfguard_capture::run(cfg, queue, shutdown_signal()), |_| 1),
        None => block_on_main(
            nfguard_capture::conntrack::run(cfg, shutdown_signal()),
            |_| 1,
        ),
    }
}
