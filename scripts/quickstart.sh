#!/usr/bin/env bash
# Fresh machine to a running container: install, build, start berthd, import busybox, run.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
for p in busybox-static libseccomp-dev pkg-config nftables; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}"; fi
cargo build --release --bins
# The --init binary runs in images without libc: static, so built apart (see crates/berth-init).
cargo rustc --release -p berth-init --bin berth-init --features static-bin -- -C target-feature=+crt-static -C strip=debuginfo
sock=/run/berth/berth.sock
if ! ./target/release/berth -H "unix://$sock" version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup ./target/release/berthd >/var/log/berthd.log 2>&1 &
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
fi
export BERTH_HOST="unix://$sock"
tar=$(mktemp --suffix=.tar)
bash scripts/mkrootfs.sh "$tar"
./target/release/berth import "$tar" busybox:latest
rm -f "$tar"
./target/release/berth run --rm busybox echo hello from berth
