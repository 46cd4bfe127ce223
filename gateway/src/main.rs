//! `nfguard-gateway`: parses arguments, loads the config, runs [`nfguard_gateway::run`] until SIGTERM/SIGINT.

use clap::Parser;
use nfguard_proto::process::{CommonArgs, init_logging, load_config_or_exit, shutdown_signal};

#[derive(Debug, Parser)]
#[command(name = "nfguard-gateway", version, about = "nfguard's HTTP gateway")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    let args = Args::parse();
    init_logging(args.common.log_format);
    let cfg = load_config_or_exit(&args.common.config);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(nfguard_gateway::run(cfg, shutdown_signal())) {
        let mut msg = format!("error: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(&format!(": {s}"));
            source = s.source();
        }
        eprintln!("{msg}");
        std::process::exit(1);
    }
}
