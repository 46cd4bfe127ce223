#!/usr/bin/env bash
# The habits CI checks before the tests: formatting, clippy with warnings as errors, and that the
# fuzz crates (not workspace members: cargo-fuzz builds them on nightly) still compile on stable.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "lint: cargo fmt --all --check" >&2
cargo fmt --all --check
echo "lint: cargo clippy --workspace --all-targets -- -D warnings" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
for fuzz in capture/fuzz classifier/fuzz; do
    echo "lint: cargo check --manifest-path $fuzz/Cargo.toml" >&2
    # Own lock file per fuzz crate; not --locked, so a dependency added to the library updates it.
    cargo check --manifest-path "$fuzz/Cargo.toml" --target-dir target/fuzz-check --all-targets
done
