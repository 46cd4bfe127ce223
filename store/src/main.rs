//! `nfguard-store`: parses arguments, loads the config, runs [`nfguard_store::run`] until SIGTERM/SIGINT.

use clap::Parser;
use nfguard_proto::process::{
    CommonArgs, block_on_main, init_logging, load_config_or_exit, shutdown_signal,
};

/// glibc malloc slows the store to about half its ingest rate once retention starts deleting: sled
/// allocates and frees a node copy per key written, and after the first retention pass the freed chunks
/// fragment glibc's bins so `_int_malloc` walks them (33 % of CPU in glibc malloc in `perf` on
/// `examples/steady.rs`, issue #8). mimalloc's size-class pages do not degrade that way.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "nfguard-store", version, about = "nfguard's flow store")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    init_logging(args.common.log_format);
    let cfg = load_config_or_exit(&args.common.config);
    block_on_main(nfguard_store::run(cfg, shutdown_signal()), |_| 1)
}
