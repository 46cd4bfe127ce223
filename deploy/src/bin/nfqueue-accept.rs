//! `nfqueue-accept --queue N [--copy-range B]`: the smallest NFQUEUE consumer, accepting every packet.
//! The lab's self-test (traffic passes an `-j NFQUEUE` rule only while something answers) and the
//! Rust floor for capture benchmarks. Prints `ready` on stdout once bound and configured.

use std::io::Write;

use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 0)]
    queue: u16,
    #[arg(long, default_value_t = 4096)]
    copy_range: u16,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match serve(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(args: &Args) -> std::io::Result<()> {
    let mut q = nfq::Queue::open()?;
    q.bind(args.queue)?;
    // bind() resets the copy range to 65535; configure before traffic arrives.
    q.set_copy_range(args.queue, args.copy_range)?;
    q.set_fail_open(args.queue, true)?;
    println!("ready");
    std::io::stdout().flush()?;
    loop {
        let mut msg = match q.recv() {
            Ok(m) => m,
            // ENOBUFS, a late verdict's ENOENT and EINTR are reported here; none is fatal.
            Err(e) => {
                eprintln!("recv: {e}");
                continue;
            }
        };
        msg.set_verdict(nfq::Verdict::Accept);
        if let Err(e) = q.verdict(msg) {
            eprintln!("verdict: {e}");
        }
    }
}
