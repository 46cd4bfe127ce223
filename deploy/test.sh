#!/usr/bin/env bash
# Runs nfguard's whole test suite: unit, bus, in-process and netns end-to-end tests.
# Needs root (namespaces, iptables, NFQUEUE); installs the Debian packages the tests use if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "nfguard tests need root (network namespaces, iptables, NFQUEUE): run as root" >&2
    exit 64
fi
deploy/install-packages.sh

# Formatting, clippy and the fuzz crates' build fail fast, before the long suite (deploy/lint.sh).
[ "${NFGUARD_SKIP_LINT:-0}" = 1 ] || deploy/lint.sh

# Bench-only and fuzz crates are not workspace members; everything else is tested here.
exec cargo test --workspace --locked --no-fail-fast "$@"
