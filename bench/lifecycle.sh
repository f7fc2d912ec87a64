#!/usr/bin/env bash
# Issue 3's lifecycle figures, in one run on a private berthd:
#   - berthd start time (spawn to a ping that answers) and idle RSS;
#   - 100 sequential `run -d busybox sleep 3600` (target <= 3 s);
#   - memory of everything Berth runs per container: the PSS of the shims (target <= 0.5 MiB);
#   - `rm -f` of those 100 running containers in one command (target <= 1 s);
#   - `exec true` latency, side by side with `crun exec` into a crun container of the same
#     rootfs (and Docker when a dockerd with busybox is running).
# Needs root; installs hyperfine, crun and busybox-static; builds berth in release.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-100}
runs=${RUNS:-30}
for p in hyperfine crun busybox-static; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq "$p"; }
done
cargo build --release --bins -q
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
sock="$work/berth.sock"
export BERTH_HOST="unix://$sock"
berth=./target/release/berth
dpid=
start_daemon() {
  ./target/release/berthd -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
    --log-level warn 2>>"$work/berthd.log" &
  dpid=$!
}
stop_daemon() {
  if [ -n "$dpid" ]; then kill "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
  dpid=
}
cleanup() {
  set +e
  if [ -n "$dpid" ]; then
    ids=$($berth ps -aq 2>/dev/null)
    [ -n "$ids" ] && $berth rm -f $ids >/dev/null 2>&1
  fi
  stop_daemon
  [ -n "${cpid:-}" ] && { crun --root "$work/crun" kill bench-ctr KILL; crun --root "$work/crun" delete -f bench-ctr; } >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# 1. start time: spawn to the first answered ping, 10 times (the first one creates the store).
start_daemon; for _ in $(seq 200); do $berth version >/dev/null 2>&1 && break; sleep 0.01; done
stop_daemon
starts=()
for _ in $(seq 10); do
  t0=$(now_ms); start_daemon
  until curl -fsS --unix-socket "$sock" http://x/_ping >/dev/null 2>&1; do sleep 0.002; done
  starts+=($(( $(now_ms) - t0 )))
  stop_daemon; rm -f "$sock"
done
start_ms=$(printf '%s\n' "${starts[@]}" | median)
start_daemon
until curl -fsS --unix-socket "$sock" http://x/_ping >/dev/null 2>&1; do sleep 0.01; done
sleep 1
idle_rss=$(rss_kib "$dpid")

bash scripts/mkrootfs.sh "$work/rootfs.tar"
$berth import "$work/rootfs.tar" busybox:latest >/dev/null
$berth run --rm busybox true

# 2. 100 sequential run -d.
t0=$(now_ms)
for i in $(seq "$n"); do $berth run -d busybox sleep 3600 >/dev/null; done
run_ms=$(( $(now_ms) - t0 ))

# 3. PSS of the per-container processes (the shims; the container's own sleep is the
#    user's). smaps_rollup's Pss shares pages between the shims as the kernel accounts them.
pss_total=0; shims=0
for p in /proc/[0-9]*; do
  cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
  case "$cmd" in *" shim "*"$work"*) ;; *) continue ;; esac
  pss=$(awk '/^Pss:/ {print $2}' "$p/smaps_rollup" 2>/dev/null) || continue
  pss_total=$(( pss_total + pss )); shims=$(( shims + 1 ))
done
busy_rss=$(rss_kib "$dpid")

# 4. exec latency, berth vs crun (a crun container on a bundle of the same rootfs).
exec_target=$($berth ps -q | head -1)
if [ -d /sys/fs/cgroup/unified ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mkdir -p /sys/fs/cgroup/hugetlb
  mount -t cgroup -o hugetlb hugetlb /sys/fs/cgroup/hugetlb 2>/dev/null || true
fi
mkdir -p "$work/bundle/rootfs"
tar -C "$work/bundle/rootfs" -xf "$work/rootfs.tar"
(cd "$work/bundle" && crun spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"sleep", "3600"/' config.json)
crun --root "$work/crun" run -d -b "$work/bundle" bench-ctr && cpid=1
cmds=(-n "berth exec" "$berth exec $exec_target true")
[ -n "${cpid:-}" ] && cmds+=(-n "crun exec" "crun --root $work/crun exec bench-ctr true")
if command -v docker >/dev/null && [ -S /var/run/docker.sock ] && docker -H unix:///var/run/docker.sock image inspect busybox >/dev/null 2>&1; then
  dctr=$(docker -H unix:///var/run/docker.sock run -d --rm busybox sleep 3600)
  cmds+=(-n "docker exec" "docker -H unix:///var/run/docker.sock exec $dctr true")
fi
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/exec.json" "${cmds[@]}" >/dev/null
[ -n "${dctr:-}" ] && docker -H unix:///var/run/docker.sock rm -f "$dctr" >/dev/null

# 5. rm -f of all the running containers in one command.
ids=$($berth ps -q --no-trunc)
t0=$(now_ms)
$berth rm -f $ids >/dev/null
rm_ms=$(( $(now_ms) - t0 ))
left=$($berth ps -aq | wc -l)

python3 - "$work/exec.json" <<PY
import json, sys
res = {r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[1]))["results"]}
n, shims = $n, $shims
def row(what, value, target=""):
    print(f"{what:48s} {value:>12s}  {target}")
row("berthd start (spawn to ping), median of 10", "$start_ms ms", "target <= 50 ms")
row("berthd idle RSS", f"{$idle_rss/1024:.1f} MiB", "target <= 15 MiB")
row(f"{n} sequential run -d busybox sleep 3600", f"{$run_ms/1000:.2f} s", "target <= 3 s")
row(f"PSS per container ({shims} shims)", f"{$pss_total/max(shims,1)/1024:.2f} MiB", "target <= 0.5 MiB")
row(f"berthd RSS with {n} containers", f"{$busy_rss/1024:.1f} MiB")
row(f"rm -f of {n} running containers", f"{$rm_ms/1000:.2f} s", "target <= 1 s")
row("containers left after rm -f", "$left")
for k, v in res.items():
    row(f"{k} true, median", f"{v:.1f} ms")
if "berth exec" in res and "crun exec" in res:
    row("berth exec / crun exec", f"{res['berth exec'] / res['crun exec']:.2f}x")
if "berth exec" in res and "docker exec" in res:
    row("docker exec / berth exec", f"{res['docker exec'] / res['berth exec']:.2f}x")
PY
