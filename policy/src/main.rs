//! `nfguard-policy`: the policy process. Parses arguments, sets up logging, loads `nfguard.toml`
//! and runs [`nfguard_policy::service::run`] until SIGTERM or SIGINT.

use clap::Parser;
use nfguard_proto::process::{
    CommonArgs, block_on_main, init_logging, load_config_and_secret_or_exit, shutdown_signal,
};

/// Decides flows by the rules in policy.toml for the capture workers, over the nfguard bus.
#[derive(Debug, Parser)]
#[command(name = "nfguard-policy", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    init_logging(args.common.log_format);
    let cfg = load_config_and_secret_or_exit(&args.common);
    block_on_main(nfguard_policy::service::run(cfg, shutdown_signal()), |e| {
        tracing::error!(error = %e, "Policy process failed.");
        u8::try_from(e.exit_code()).unwrap_or(1)
    })
}
