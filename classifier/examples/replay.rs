//! Prints one DESIGN §6 JSON line per flow of a capture: `cargo run --example replay -- FILE`.
//! Used to score the engine with `shared/corpus/score.py run --cmd '<binary> {pcap}'`.

use std::io::Write;
use std::path::PathBuf;

fn main() {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: replay FILE");
        std::process::exit(64);
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let opts = nfguard_classifier::ReplayOptions::default();
    match nfguard_classifier::replay(&path, &opts, |f| {
        let _ = writeln!(out, "{}", f.to_json(None, None));
    }) {
        Ok(stats) if stats.truncated => eprintln!("warning: {} is truncated", path.display()),
        Ok(_) => {}
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
