#!/usr/bin/env bash
# Issue 7's network figures: the median of `berth run --rm busybox true` on the default
# bridge (veth, address, route, nft unchanged) versus `--network none` (target <= 40 ms with
# the bridge; Docker 20.10 here: 361 ms, with `--network none` 298 ms), then 100 containers
# started (`run -d`) on one user network, with the time per container and a check that all
# 100 got distinct addresses and resolve each other by name.
# berthd runs on a private root with a bridge, subnet and nft table of its own, and is
# stopped (by pid) at the end with everything it made. When Debian's dockerd is installed
# (PEER=0 skips it), the same two runs go through it side by side, on a private root and a
# bridge made for it, with iptables, forwarding and masquerade off (they are not on the
# path of `run --rm true`), and the ratio is printed. Needs root and hyperfine; builds
# berth in release.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-30}
count=${COUNT:-100}
for p in hyperfine busybox-static; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq "$p"; }
done
cargo build --release --bins -q
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
sock="$work/berth.sock"
export BERTH_HOST="unix://$sock"
berth=./target/release/berth
bridge=bbench$$
bridge=${bridge:0:15}
table=berthbench$$
dpid=
kpid=
dbridge=bdk$$
dbridge=${dbridge:0:15}
docker="docker -H unix://$work/dk/d.sock"
cleanup() {
  set +e
  if [ -n "$dpid" ]; then
    $berth ps -aq | xargs -r $berth rm -f >/dev/null 2>&1
    $berth network rm benchnet >/dev/null 2>&1
    kill "$dpid"; wait "$dpid"
  fi 2>/dev/null
  if [ -n "$kpid" ]; then
    $docker ps -aq | xargs -r $docker rm -f >/dev/null 2>&1
    kill "$kpid"; wait "$kpid"
  fi 2>/dev/null
  ip link del "$dbridge" 2>/dev/null
  ip link del "$bridge" 2>/dev/null
  nft delete table inet "$table" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
./target/release/berthd -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
  --bridge "$bridge" --bip 10.240.0.1/16 --nft-table "$table" --log-level warn 2>"$work/berthd.log" &
dpid=$!
for _ in $(seq 200); do $berth version >/dev/null 2>&1 && break; sleep 0.01; done
bash scripts/mkrootfs.sh "$work/rootfs.tar"
$berth import "$work/rootfs.tar" busybox:latest >/dev/null
$berth run --rm busybox true
$berth run --rm --network none busybox true

hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run.json" \
  -n bridge "$berth run --rm busybox true" \
  -n none "$berth run --rm --network none busybox true"
if [ "${PEER:-1}" = 1 ] && command -v dockerd >/dev/null; then
  mkdir -p "$work/dk"
  ip link add "$dbridge" type bridge
  ip addr add 10.242.0.1/24 dev "$dbridge"
  ip link set "$dbridge" up
  dockerd --data-root "$work/dk/root" --exec-root "$work/dk/exec" -H "unix://$work/dk/d.sock" \
    --pidfile "$work/dk/pid" -b "$dbridge" --iptables=false --ip-forward=false \
    --ip-masq=false >"$work/dk/log" 2>&1 &
  kpid=$!
  for _ in $(seq 300); do $docker version >/dev/null 2>&1 && break; sleep 0.1; done
  $docker import "$work/rootfs.tar" busybox:latest >/dev/null
  $docker run --rm busybox true
  hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/drun.json" \
    -n "docker bridge" "$docker run --rm busybox true" \
    -n "docker none" "$docker run --rm --network none busybox true"
  kill "$kpid"; wait "$kpid" 2>/dev/null; kpid=
fi
python3 - "$work/run.json" "$work/drun.json" <<'PY'
import json, os, sys
res = {r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[1]))["results"]}
if os.path.exists(sys.argv[2]):
    res.update({r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[2]))["results"]})
for k in ("bridge", "none"):
    line = f"run --rm ({k:6s}) median {res[k]:6.1f} ms"
    if f"docker {k}" in res:
        d = res[f"docker {k}"]
        line += f"; dockerd {d:6.1f} ms, {d / res[k]:.1f}x"
    print(line)
print(f"bridge - none = {res['bridge'] - res['none']:.1f} ms")
PY

$berth network create --subnet 10.241.0.0/16 benchnet >/dev/null
start=$(date +%s.%N)
for i in $(seq "$count"); do
  $berth run -d --name "c$i" --network benchnet busybox sleep 600 >/dev/null
done
end=$(date +%s.%N)
python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[3]); print(f'{n} containers on one user network: {t:.2f} s, {t/n*1000:.1f} ms each')" "$start" "$end" "$count"
ips=$($berth network inspect benchnet -f '{{range .Containers}}{{.IPv4Address}} {{end}}' | tr ' ' '\n' | grep -c . || true)
uniq=$($berth network inspect benchnet -f '{{range .Containers}}{{.IPv4Address}} {{end}}' | tr ' ' '\n' | grep . | sort -u | wc -l)
echo "addresses: $ips, distinct: $uniq"
$berth exec c1 ping -c1 -W2 "c$count" >/dev/null && echo "c1 reaches c$count by name"
start=$(date +%s.%N)
$berth ps -aq | xargs -r $berth rm -f >/dev/null
end=$(date +%s.%N)
python3 -c "import sys; print(f'rm -f of {sys.argv[3]}: {float(sys.argv[2])-float(sys.argv[1]):.2f} s')" "$start" "$end" "$count"
echo "veths left on the network: $(ip -o link show master "br-$($berth network inspect benchnet -f '{{.Id}}' | cut -c1-12)" | wc -l)"
