//! `nfguard`: the operator's command. A thin dispatcher over the `nfguard` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nfguard::{cli, rules, supervisor};
use nfguard_proto::process::{
    EXIT_USAGE, LogFormat, init_logging, load_config_or_exit, shutdown_signal,
};
use nfguard_proto::units::HumanDuration;

#[derive(Parser)]
#[command(
    name = "nfguard",
    version,
    about = "Application-aware firewall over Linux NFQUEUE"
)]
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
        #[arg(
            short = 'c',
            long = "config",
            default_value = "/etc/nfguard/nfguard.toml"
        )]
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
        /// Only the protocols nfguard detects from payload or host names (rules on the others
        /// can never match a classified flow).
        #[arg(long)]
        supported: bool,
    },
    /// Print nfguard's iptables/ip6tables chains and HTB classes for a config; install or remove them.
    Rules {
        #[arg(
            short = 'c',
            long = "config",
            default_value = "/etc/nfguard/nfguard.toml"
        )]
        config: PathBuf,
        /// Install the rules.
        #[arg(long, conflicts_with = "remove")]
        apply: bool,
        /// Remove exactly the rules `--apply` installs.
        #[arg(long)]
        remove: bool,
        /// With --apply: roll back unless `nfguard rules --confirm` runs within this time (e.g. 30s).
        /// Alone: confirm a pending --apply.
        #[arg(long, num_args = 0..=1, default_missing_value = "")]
        confirm: Option<String>,
    },
    /// Build a namespace lab (client, NAT router running nfguard, server), drive real traffic through it
    /// and show what nfguard sees. Needs root.
    Demo {
        /// Stop after this long (e.g. 30s); default: until Ctrl-C.
        #[arg(long)]
        duration: Option<HumanDuration>,
        /// Leave the lab in place for exploring.
        #[arg(long)]
        keep: bool,
    },
    /// Recent flows from the store: what nfguard saw and decided.
    Flows {
        #[arg(
            short = 'c',
            long = "config",
            default_value = "/etc/nfguard/nfguard.toml"
        )]
        config: PathBuf,
        /// Application label or name (TLS.YouTube, YouTube, DNS).
        #[arg(long)]
        app: Option<String>,
        /// Host name (SNI, HTTP Host, DNS query).
        #[arg(long)]
        host: Option<String>,
        /// accept, drop, reject or shape.
        #[arg(long)]
        verdict: Option<String>,
        /// Rule name.
        #[arg(long)]
        rule: Option<String>,
        /// Only flows seen in this window (e.g. 10m, 1h).
        #[arg(long)]
        since: Option<HumanDuration>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Classify a pcap or pcapng file offline: one line (or JSON object) per flow.
    Replay {
        file: PathBuf,
        /// One JSON object per flow (the format score.py and scripts read).
        #[arg(long)]
        json: bool,
        /// Also decide each flow with this rule file (a dry run).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// user_mask the rule file's `mark` values are checked against.
        #[arg(long, default_value_t = 0)]
        user_mask: u32,
        /// GeoIP database (`.mmdb`) for the rule file's country matchers, as `[policy] geoip`.
        #[arg(long, requires = "policy")]
        geoip: Option<PathBuf>,
        /// Also print each packet's verdict and why (provisional, decided, cached, midstream…).
        #[arg(long)]
        verdicts: bool,
        /// Give TCP flows first seen without SYN `midstream_verdict`, as a live queue does (by
        /// default they are classified: the capture's start cut into them).
        #[arg(long)]
        live_midstream: bool,
    },
    /// Validate nfguard.toml and its rule file, and that the user `nfguard run` starts the children
    /// as may use every file and directory they name; exit 64 on error.
    Check {
        #[arg(
            short = 'c',
            long = "config",
            default_value = "/etc/nfguard/nfguard.toml"
        )]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    match args.command {
        Cmd::Protocols {
            json,
            category,
            supported,
        } => exit(
            cli::print_protocols(
                &mut std::io::stdout().lock(),
                json,
                category.as_deref(),
                supported,
            ),
            EXIT_USAGE,
        ),
        Cmd::Demo { duration, keep } => demo_command(duration, keep),
        Cmd::Flows {
            config,
            app,
            host,
            verdict,
            rule,
            since,
            limit,
        } => {
            let cfg = load_config_or_exit(&config);
            let filter = nfguard::flows::FlowFilter {
                app,
                host,
                verdict,
                rule,
                since: since.map(|d| d.0),
                limit,
            };
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return fail(&e.into()),
            };
            let mut out = std::io::stdout().lock();
            exit(
                rt.block_on(nfguard::flows::print_flows(&cfg, &filter, &mut out))
                    .map(|_| ()),
                1,
            )
        }
        Cmd::Replay {
            file,
            json,
            policy,
            user_mask,
            geoip,
            verdicts,
            live_midstream,
        } => {
            let opts = ReplayFlags {
                json,
                verdicts,
                live_midstream,
            };
            replay_command(&file, opts, policy.as_deref(), geoip.as_deref(), user_mask)
        }
        Cmd::Rules {
            config,
            apply,
            remove,
            confirm,
        } => rules_command(&config, apply, remove, confirm.as_deref()),
        Cmd::Check { config } => match cli::check_config(&config) {
            Ok((_, policy)) => {
                // Skipped list lines are worth a look, not a failure (lists are others' files).
                for w in policy.warnings() {
                    eprintln!("warning: {w}");
                }
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
            let bin_dir = cfg
                .supervisor
                .bin_dir
                .clone()
                .unwrap_or_else(supervisor::default_bin_dir);
            let config_abs = std::fs::canonicalize(&config).unwrap_or(config);
            let run_as = match nfguard::run_as::RunAs::resolve(&cfg)
                .and_then(|who| nfguard::run_as::check_access(&cfg, &who, &bin_dir).map(|()| who))
            {
                Ok(who) => who,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_USAGE as u8);
                }
            };
            let specs = supervisor::children(&cfg, &config_abs, &bin_dir, args.log_format);
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return fail(&e.into()),
            };
            let plan = if cfg.capture.manage_rules {
                let planned = cli::load_policy(&cfg)
                    .map_err(anyhow::Error::from)
                    .and_then(|p| Ok(rules::plan(&cfg, &cli::shaper_classes(&p))?));
                match planned {
                    Ok(plan) => Some(plan),
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        return ExitCode::from(EXIT_USAGE as u8);
                    }
                }
            } else {
                None
            };
            let after_start = || {
                if let Some(plan) = &plan {
                    match plan.apply() {
                        Ok(()) => tracing::info!("Installed nfguard's iptables rules."),
                        Err(e) => {
                            tracing::error!(error = %e, "Cannot install nfguard's iptables rules; traffic is not queued.")
                        }
                    }
                }
            };
            let before_stop = || {
                if let Some(plan) = &plan
                    && let Err(e) = plan.remove()
                {
                    tracing::error!(error = %e, "Removing nfguard's iptables rules failed.");
                }
            };
            let run = supervisor::supervise(
                &cfg,
                &run_as,
                specs,
                shutdown_signal(),
                after_start,
                before_stop,
            );
            exit(rt.block_on(run).map_err(anyhow::Error::from), 1)
        }
    }
}

/// `nfguard replay`'s switches.
struct ReplayFlags {
    json: bool,
    verdicts: bool,
    live_midstream: bool,
}

fn replay_command(
    file: &std::path::Path,
    flags: ReplayFlags,
    policy: Option<&std::path::Path>,
    geoip: Option<&std::path::Path>,
    user_mask: u32,
) -> ExitCode {
    let policy = match policy
        .map(|p| nfguard_policy::Policy::load_with_geoip(p, user_mask, geoip))
        .transpose()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE as u8);
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let opts = nfguard::replay::Options {
        json: flags.json,
        policy: policy.as_ref(),
        verdicts: flags.verdicts,
        live_midstream: flags.live_midstream,
    };
    match nfguard::replay::run(file, opts, &mut out) {
        Ok(stats) => {
            let _ = std::io::Write::flush(&mut out);
            replay_warnings(file, &stats)
        }
        Err(e) => {
            let _ = std::io::Write::flush(&mut out);
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo_command(duration: Option<HumanDuration>, keep: bool) -> ExitCode {
    if !nfguard::lab::is_root() {
        eprintln!(
            "error: nfguard demo creates network namespaces and iptables rules: run it as root"
        );
        return ExitCode::from(EXIT_USAGE as u8);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(shutdown_signal());
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let opts = nfguard::demo::DemoOptions {
        duration: duration.map(|d| d.0),
        keep,
        bin_dir: supervisor::default_bin_dir(),
    };
    exit(nfguard::demo::run(&opts, &stop), 1)
}

fn rules_command(
    config: &std::path::Path,
    apply: bool,
    remove: bool,
    confirm: Option<&str>,
) -> ExitCode {
    let cfg = load_config_or_exit(config);
    let marker = confirm_marker(&cfg.runtime_dir);
    if confirm == Some("") && !apply {
        return match std::fs::remove_file(&marker) {
            Ok(()) => {
                println!("nfguard rules confirmed");
                ExitCode::SUCCESS
            }
            Err(_) => {
                eprintln!("error: no `nfguard rules --apply --confirm` is waiting");
                ExitCode::FAILURE
            }
        };
    }
    let policy = match cli::load_policy(&cfg) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE as u8);
        }
    };
    let plan = match rules::plan(&cfg, &cli::shaper_classes(&policy)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE as u8);
        }
    };
    if remove {
        return exit(plan.remove().map_err(Into::into), 1);
    }
    if !apply {
        print!("{}", plan.script());
        return ExitCode::SUCCESS;
    }
    let within = match confirm {
        None => return exit(plan.apply().map_err(Into::into), 1),
        Some("") => rules::DEFAULT_CONFIRM,
        Some(d) => match d.parse::<HumanDuration>() {
            Ok(d) => d.0,
            Err(e) => {
                eprintln!("error: --confirm: {e}");
                return ExitCode::from(EXIT_USAGE as u8);
            }
        },
    };
    let marker_dir = marker.parent().unwrap_or(&cfg.runtime_dir);
    if let Err(e) = nfguard_proto::bus::ensure_runtime_dir(marker_dir)
        .and_then(|()| std::fs::write(&marker, std::process::id().to_string()))
    {
        eprintln!("error: {}: {e}", marker.display());
        return ExitCode::FAILURE;
    }
    eprintln!(
        "Rules applied. Run `nfguard rules -c {} --confirm` within {} or they are removed again.",
        config.display(),
        HumanDuration(within)
    );
    match plan.apply_with_confirm(within, || !marker.exists()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            let _ = std::fs::remove_file(&marker);
            eprintln!(
                "error: not confirmed within {}; rules removed",
                HumanDuration(within)
            );
            ExitCode::from(2)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&marker);
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where a pending `rules --apply --confirm` waits for its confirmation: a directory of the
/// invoking user (root) beside `runtime_dir`, never inside it — `runtime_dir` belongs to the
/// service user, who could plant a link there for root to write through.
fn confirm_marker(runtime_dir: &std::path::Path) -> std::path::PathBuf {
    let dir = match runtime_dir.file_name() {
        Some(name) => runtime_dir.with_file_name(format!("{}-rules", name.to_string_lossy())),
        None => runtime_dir.join("rules"),
    };
    dir.join("unconfirmed")
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

/// Tells what a replay could not read. Exit 2 when data inside the file was skipped (an unreadable
/// pcapng block, packets of flows past the flow cap): the flows printed are not all there were. A
/// truncated tail (a capture cut while written) is reported but is not an error.
fn replay_warnings(
    file: &std::path::Path,
    stats: &nfguard_classifier::replay::ReplayStats,
) -> ExitCode {
    let where_ = stats
        .first_problem
        .map(|(at, why)| format!(" (first at byte {at}: {why})"))
        .unwrap_or_default();
    if stats.skipped_blocks > 0 {
        eprintln!(
            "warning: {}: {} unreadable pcapng block(s) skipped{where_}; the packets after them were read",
            file.display(),
            stats.skipped_blocks
        );
    }
    if stats.truncated {
        let at = if stats.skipped_blocks > 0 {
            String::new()
        } else {
            where_.clone()
        };
        eprintln!(
            "warning: {} ends inside a packet record{at}; flows up to there were reported",
            file.display()
        );
    }
    if stats.untracked_packets > 0 {
        eprintln!(
            "warning: {}: {} packet(s) of flows beyond the {}-flow cap were not classified",
            file.display(),
            stats.untracked_packets,
            nfguard_classifier::replay::MAX_FLOWS
        );
    }
    if stats.skipped_blocks > 0 || stats.untracked_packets > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
