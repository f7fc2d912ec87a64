#!/usr/bin/env bash
# Median latency of `berth run --rm busybox true`, side by side with `crun run` on an OCI
# bundle of the same rootfs (and `docker run` on Debian's docker.io when it is running).
# Needs root, hyperfine and crun (apt-get install hyperfine crun); builds berth in release.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-30}
for p in hyperfine crun busybox-static; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq "$p"; }
done
cargo build --release --bins -q
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
  [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null || true
  umount -l "$work/bundle/rootfs" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/mkrootfs.sh "$work/rootfs.tar"

# berth
sock="$work/berth.sock"
./target/release/berthd -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
  --log-level warn 2>"$work/berthd.log" &
dpid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
export BERTH_HOST="unix://$sock"
./target/release/berth import "$work/rootfs.tar" busybox:latest >/dev/null
./target/release/berth run --rm busybox true

# crun: an OCI bundle of the same rootfs. On a hybrid cgroup host crun wants hugetlb v1.
if [ -d /sys/fs/cgroup/unified ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mkdir -p /sys/fs/cgroup/hugetlb
  mount -t cgroup -o hugetlb hugetlb /sys/fs/cgroup/hugetlb 2>/dev/null || true
fi
mkdir -p "$work/bundle/rootfs"
tar -C "$work/bundle/rootfs" -xf "$work/rootfs.tar"
(cd "$work/bundle" && crun spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' config.json)
cmds=(-n berth "./target/release/berth run --rm busybox true"
      -n crun "crun --root $work/crun run -b $work/bundle bench-\$RANDOM")
if command -v docker >/dev/null && [ -S /var/run/docker.sock ] && docker -H unix:///var/run/docker.sock image inspect busybox >/dev/null 2>&1; then
  cmds+=(-n docker "docker -H unix:///var/run/docker.sock run --rm busybox true")
fi
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/result.json" "${cmds[@]}"
python3 - "$work/result.json" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in res.items()}
for k, v in med.items():
    print(f"{k:8s} median {v:7.1f} ms")
if "berth" in med and "crun" in med:
    print(f"berth / crun  = {med['berth'] / med['crun']:.2f}x")
if "berth" in med and "docker" in med:
    print(f"docker / berth = {med['docker'] / med['berth']:.2f}x")
PY
