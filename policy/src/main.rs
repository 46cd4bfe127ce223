//! `nfguard-policy`: the policy process. Parses arguments, sets up logging, loads `nfguard.toml`
//! and runs [`nfguard_policy::service::run`] until SIGTERM or SIGINT.

use clap::Parser;
use nfguard_proto::process::{CommonArgs, init_logging, load_config_or_exit, shutdown_signal};

/// Decides flows by the rules in policy.toml for the capture workers, over the nfguard bus.
#[derive(Debug, Parser)]
#[command(name = "nfguard-policy", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    let args = Args::parse();
    init_logging(args.common.log_format);
    let cfg = load_config_or_exit(&args.common.config);
    // A current-thread runtime: the bus round trip is about half as long as on the multi-threaded
    // one on small machines (research/crates.md §2.4), and the policy loop is single-owner anyway.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(nfguard_policy::service::run(cfg, shutdown_signal())) {
        tracing::error!(error = %e, "Policy process failed.");
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
