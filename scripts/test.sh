#!/usr/bin/env bash
# The test command: unit tests and integration tests (a real berthd per test, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --all-targets
# The --init binary runs in images without libc: static, so built apart (see crates/berth-init).
cargo rustc --release -p berth-init --bin berth-init --features static-bin -- -C target-feature=+crt-static -C strip=debuginfo
cargo test --release --workspace -- --test-threads=4
