//! Probe/operator tool: clear the given connmark bits (default the verdict bits, 0x3) of every
//! conntrack entry in this network namespace, as the conntrack worker does on a new policy epoch, and
//! print what happened. `ip netns exec NS cargo run -p nfguard-capture --example ct_clear -- 0x3`

fn main() {
    let mask = std::env::args()
        .nth(1)
        .and_then(|a| u32::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x3);
    match nfguard_capture::conntrack::clear_verdict_bits(mask) {
        Ok(r) => println!("{r:?}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
