//! Compiles `proto/nfguard.proto` with the pure-Rust `protox` (no `protoc` needed on a fresh machine).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/nfguard.proto");
    let fds = protox::compile(["nfguard.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
