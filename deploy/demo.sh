#!/usr/bin/env bash
# Builds nfguard (release) and runs `nfguard demo`: a namespace lab with real traffic through nfguard.
# Needs root. Extra arguments go to `nfguard demo` (e.g. --duration 30s, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "nfguard demo creates network namespaces and iptables rules: run it as root" >&2
    exit 64
fi
deploy/install-packages.sh
cargo build --release --workspace --locked
exec "${CARGO_TARGET_DIR:-target}/release/nfguard" demo "$@"
