//! `nfguard`: the operator's command. A thin dispatcher over the `nfguard` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nfguard::{cli, supervisor};
use nfguard_proto::process::{EXIT_USAGE, LogFormat, init_logging, load_config_or_exit, shutdown_signal};

#[derive(Parser)]
#[command(name = "nfguard", version, about = "Application-aware firewall over Linux NFQUEUE")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every nfguard process under a supervisor.
    Run {
        #[arg(short = 'c', long = "config", default_value = "/etc/nfguard/nfguard.toml")]
        config: PathBuf,
    },
    /// List the protocol ids (nDPI's id space), as `ntopng -h` does.
    Protocols {
        /// One JSON array instead of `[id] Name` lines.
        #[arg(long)]
        json: bool,
        /// Only this category (nDPI spelling, e.g. VoIP, Video).
        #[arg(long)]
        category: Option<String>,
    },
    /// Validate nfguard.toml and its rule file; exit 64 on error.
    Check {
        #[arg(short = 'c', long = "config", default_value = "/etc/nfguard/nfguard.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    match args.command {
        Cmd::Protocols { json, category } => exit(cli::print_protocols(&mut std::io::stdout().lock(), json, category.as_deref()), EXIT_USAGE),
        Cmd::Check { config } => match cli::check_config(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE as u8)
            }
        },
        Cmd::Run { config } => {
            let cfg = load_config_or_exit(&config);
            let bin_dir = cfg.supervisor.bin_dir.clone().unwrap_or_else(supervisor::default_bin_dir);
            let config_abs = std::fs::canonicalize(&config).unwrap_or(config);
            let specs = supervisor::children(&cfg, &config_abs, &bin_dir, args.log_format);
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return fail(&e.into()),
            };
            exit(rt.block_on(async { supervisor::supervise(&cfg, specs, shutdown_signal(), || {}, || {}).await.map_err(anyhow::Error::from) }), 1)
        }
    }
}

fn exit(r: anyhow::Result<()>, code: i32) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}
