#!/usr/bin/env bash
# Issue 5's build figures, in one run, side by side with Debian's dockerd when installed:
# the 3-step Dockerfile below (FROM busybox, RUN, COPY, ENV, CMD) built
#   - without cache (`--no-cache`; target <= 150 ms; Docker 20.10 here: 649 ms), and
#   - with every step cached (target <= 15 ms; Docker 20.10 here: 72 ms).
# Both engines build through their own CLI with the legacy builder (DOCKER_BUILDKIT=0 for
# docker) from the same context and the same busybox rootfs. dockerd runs on a private
# root and socket with iptables, bridge and forwarding off, and is stopped (by pid) at the
# end. Needs root; installs hyperfine and busybox-static; builds berth in release.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
export DOCKER_BUILDKIT=0
for p in hyperfine busybox-static; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq "$p"; }
done
cargo build --release --bins -q
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
sock="$work/berth.sock"
berth="./target/release/berth -H unix://$sock"
dsock="$work/dk/d.sock"
docker="docker -H unix://$dsock"
dpid= kpid=
cleanup() {
  set +e
  [ -n "$dpid" ] && { kill "$dpid"; wait "$dpid"; } 2>/dev/null
  [ -n "$kpid" ] && { kill "$kpid"; wait "$kpid"; } 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
./target/release/berthd -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
  --log-level warn 2>>"$work/berthd.log" &
dpid=$!
for _ in $(seq 200); do $berth version >/dev/null 2>&1 && break; sleep 0.01; done
bash scripts/mkrootfs.sh "$work/rootfs.tar"

have_docker=
if command -v dockerd >/dev/null; then
  mkdir -p "$work/dk"
  dockerd --data-root "$work/dk/root" --exec-root "$work/dk/exec" -H "unix://$dsock" \
    --pidfile "$work/dk/pid" --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    >"$work/dk/log" 2>&1 &
  kpid=$!
  for _ in $(seq 300); do $docker version >/dev/null 2>&1 && break; sleep 0.1; done
  $docker version >/dev/null 2>&1 && have_docker=1
fi

ctx="$work/ctx"
mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<'DF'
FROM busybox
RUN echo a > /a
COPY f /f
ENV X=1
CMD ["sh"]
DF
echo f >"$ctx/f"
$berth import "$work/rootfs.tar" busybox:latest >/dev/null
$berth build -q -t b "$ctx" >/dev/null
cmds=(
  -n "berth no cache" "$berth build --no-cache -q -t b $ctx"
  -n "berth cached" "$berth build -q -t b $ctx"
)
if [ -n "$have_docker" ]; then
  $docker import "$work/rootfs.tar" busybox:latest >/dev/null
  $docker build -q -t b "$ctx" >/dev/null 2>&1
  cmds+=(
    -n "docker no cache" "$docker build --no-cache -q -t b $ctx"
    -n "docker cached" "$docker build -q -t b $ctx"
  )
fi
res="$work/res.txt"
: >"$res"
i=0
while [ $i -lt ${#cmds[@]} ]; do
  name=${cmds[$((i+1))]} cmd=${cmds[$((i+2))]}
  i=$((i+3))
  hyperfine -N -w 2 -r "$runs" --export-json "$work/h.json" -n "$name" "$cmd" >/dev/null 2>&1 ||
    hyperfine -w 2 -r "$runs" --export-json "$work/h.json" -n "$name" "$cmd" >/dev/null
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["command"], r["median"])' "$work/h.json" >>"$res"
done
python3 - "$res" <<'PY'
import sys
res = {}
for line in open(sys.argv[1]):
    name, med = line.rsplit(" ", 1)
    res[name] = float(med)
print(f"{'median':16}{'berth':>10}{'docker':>10}{'docker/berth':>14}{'target':>10}")
for op, target in (("no cache", "0.150"), ("cached", "0.015")):
    b = res.get(f"berth {op}")
    d = res.get(f"docker {op}")
    ratio = f"{d / b:.1f}x" if b and d else "-"
    ds = f"{d:.3f}" if d else "-"
    print(f"{op:16}{b:>10.3f}{ds:>10}{ratio:>14}{target:>10}")
PY
