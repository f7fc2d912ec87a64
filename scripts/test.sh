#!/usr/bin/env bash
# The test command: unit tests and integration tests (a real berthd per test, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --all-targets
cargo test --release --workspace -- --test-threads=4
