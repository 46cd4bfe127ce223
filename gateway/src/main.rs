//! `nfguard-gateway`: parses arguments, loads the config, runs [`nfguard_gateway::run`] until SIGTERM/SIGINT.

use clap::Parser;
use nfguard_proto::process::{
    CommonArgs, block_on_main, init_logging, load_config_and_secret_or_exit, shutdown_signal,
};

#[derive(Debug, Parser)]
#[command(name = "nfguard-gateway", version, about = "nfguard's HTTP gateway")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    init_logging(args.common.log_format);
    let cfg = load_config_and_secret_or_exit(&args.common);
    block_on_main(nfguard_gateway::run(cfg, shutdown_signal()), |_| 1)
}
