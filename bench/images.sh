#!/usr/bin/env bash
# Issue 4's image figures, in one run, side by side with Debian's dockerd when installed:
#   - `save` of a ~100 MB image to a file (target <= 0.4 s; Docker 20.10 here: 0.82 s);
#   - `load` of that archive into a store without the image (target <= 0.5 s; Docker 0.96 s);
#   - `commit` of a container whose read-write layer holds 10k small files: as a new image
#     each time (the last one removed first), and again over an existing identical one
#     (Berth then finds the layer already unpacked and unpacks nothing).
# Both engines get the same image: busybox plus one 100 MB layer of incompressible data,
# made by a container and committed. dockerd runs on a private root and socket with
# iptables, bridge and forwarding off, and is stopped (by pid) at the end.
# Needs root; installs hyperfine and busybox-static; builds berth in release.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-10}
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
  [ -n "$kpid" ] && { $docker rm -f big files >/dev/null 2>&1; kill "$kpid"; wait "$kpid"; } 2>/dev/null
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

# The same steps on each engine: busybox, a 100 MB layer, a 10k-file container.
setup() { # $1: CLI
  $1 import "$work/rootfs.tar" busybox:latest >/dev/null
  $1 run --network none --name big busybox sh -c \
    'mkdir /big && for i in $(seq 10); do head -c 10485760 /dev/urandom > /big/f$i; done' >/dev/null
  $1 commit big big:latest >/dev/null
  $1 rm big >/dev/null
  $1 run --network none --name files busybox sh -c \
    'mkdir /many && cd /many && for d in $(seq 100); do mkdir $d; for f in $(seq 100); do echo $d$f > $d/$f; done; done' >/dev/null
}
setup "$berth"
[ -n "$have_docker" ] && setup "$docker"

cmds=(
  -n "berth save" "$berth save -o $work/b.tar big:latest"
  -n "berth load" --prepare "$berth rmi big:latest >/dev/null 2>&1 || true" "$berth load -q -i $work/b.tar"
  -n "berth commit 10k" --prepare "$berth rmi c10k >/dev/null 2>&1 || true" "$berth commit files c10k >/dev/null"
  -n "berth commit 10k again" "$berth commit files >/dev/null"
)
if [ -n "$have_docker" ]; then
  cmds+=(
    -n "docker save" "$docker save -o $work/d.tar big:latest"
    -n "docker load" --prepare "$docker rmi big:latest >/dev/null 2>&1 || true" "$docker load -q -i $work/d.tar"
    -n "docker commit 10k" --prepare "$docker rmi c10k >/dev/null 2>&1 || true" "$docker commit files c10k >/dev/null"
    -n "docker commit 10k again" "$docker commit files >/dev/null"
  )
fi
# hyperfine's --prepare applies to the commands after it; give each command its own run.
res="$work/res.txt"
: >"$res"
i=0
while [ $i -lt ${#cmds[@]} ]; do
  name=${cmds[$((i+1))]}
  if [ "${cmds[$((i+2))]}" = "--prepare" ]; then
    prep=${cmds[$((i+3))]}; cmd=${cmds[$((i+4))]}; i=$((i+5))
    hyperfine -w 1 -r "$runs" --prepare "$prep" --export-json "$work/h.json" -n "$name" "$cmd" >/dev/null
  else
    cmd=${cmds[$((i+2))]}; i=$((i+3))
    hyperfine -w 1 -r "$runs" --export-json "$work/h.json" -n "$name" "$cmd" >/dev/null
  fi
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["command"], r["median"])' "$work/h.json" >>"$res"
done
size=$(stat -c %s "$work/b.tar")
python3 - "$res" "$size" <<'PY'
import sys
res = {}
for line in open(sys.argv[1]):
    name, med = line.rsplit(" ", 1)
    res[name] = float(med)
print(f"archive size: {int(sys.argv[2]) / 1e6:.1f} MB")
print(f"{'':24}{'berth':>10}{'docker':>10}{'docker/berth':>14}{'target':>10}")
for op, target in (("save", "0.4 s"), ("load", "0.5 s"), ("commit 10k", ""), ("commit 10k again", "")):
    b = res.get(f"berth {op}")
    d = res.get(f"docker {op}")
    ratio = f"{d / b:.2f}x" if b and d else "-"
    ds = f"{d:.3f}" if d else "-"
    print(f"{op:24}{b:>10.3f}{ds:>10}{ratio:>14}{target:>10}")
PY
