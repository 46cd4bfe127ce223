//! `nfguard-classifier`: parses the common arguments, loads the config, and runs
//! [`nfguard_classifier::process::run`] until SIGTERM/SIGINT.

use clap::Parser;
use nfguard_proto::process::{
    CommonArgs, init_logging, load_config_or_exit, report_error, shutdown_signal,
};

#[derive(Debug, Parser)]
#[command(
    name = "nfguard-classifier",
    about = "nfguard's DPI classifier process"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    init_logging(args.common.log_format);
    let cfg = load_config_or_exit(&args.common.config);
    // The actors need an actix system (its arbiter is a current-thread tokio runtime).
    let seccomp = cfg.classifier.seccomp;
    // The filter goes on once the sockets are bound (`run_confined`), for every thread.
    let confine = move || {
        if seccomp {
            nfguard_classifier::seccomp::install()?;
            tracing::info!(
                "Seccomp filter installed; a system call outside its allow-list kills this process."
            );
        }
        Ok(())
    };
    let run = nfguard_classifier::process::run_confined(cfg, shutdown_signal(), confine);
    match actix_rt::System::new().block_on(run) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => report_error(&e, 1),
    }
}
