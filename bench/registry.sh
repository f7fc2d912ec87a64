#!/usr/bin/env bash
# Issue 6's registry figures, in one run: push and pull of a ~100 MB image of three layers
# (busybox plus three RUN layers of ~33 MB of random bytes) over loopback,
#   - berth to/from berth-registry and to/from Debian's docker-registry (when installed),
#   - Debian's dockerd to/from the same registries, and skopeo pulling into an OCI layout,
#     when installed, side by side.
# Targets on this machine: pull <= 0.5 s, push <= 0.8 s (Docker 20.10 here: pull 1.17 s,
# push 3.04 s; skopeo pull 0.55 s). Pushes go to a fresh repository name each run (nothing
# to skip: the registry's storage is emptied before each run); pulls start from a store
# without the image (every image removed before each run).
# dockerd runs on a private root and socket with iptables, bridge and forwarding off and is
# stopped (by pid) at the end, as are both registries. Needs root; builds berth in release.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
for p in hyperfine busybox-static; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq "$p"; }
done
cargo build --release --bins -q
export DOCKER_BUILDKIT=0
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
sock="$work/berth.sock"
berth="./target/release/berth -H unix://$sock"
dsock="$work/dk/d.sock"
docker="docker -H unix://$dsock"
dpid= kpid= rpid= ppid=
cleanup() {
  set +e
  for p in $dpid $kpid $rpid $ppid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; }

./target/release/berthd -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
  --log-level warn 2>>"$work/berthd.log" &
dpid=$!
for _ in $(seq 200); do $berth version >/dev/null 2>&1 && break; sleep 0.01; done
bport=$(port)
./target/release/berth-registry serve --addr "127.0.0.1:$bport" --root "$work/breg" \
  >"$work/breg.log" 2>&1 &
rpid=$!
wait_port "$bport"
regs=("berth-registry=127.0.0.1:$bport=$work/breg")
if [ -x /usr/bin/docker-registry ]; then
  pport=$(port)
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$work/preg" "$pport" >"$work/preg.yml"
  /usr/bin/docker-registry serve "$work/preg.yml" >"$work/preg.log" 2>&1 &
  ppid=$!
  wait_port "$pport"
  regs+=("docker-registry=127.0.0.1:$pport=$work/preg")
fi
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

bash scripts/mkrootfs.sh "$work/rootfs.tar"
mkdir -p "$work/ctx"
cat >"$work/ctx/Dockerfile" <<'DF'
FROM busybox
RUN head -c 34000000 /dev/urandom > /l1
RUN head -c 34000000 /dev/urandom > /l2
RUN head -c 34000000 /dev/urandom > /l3
DF
$berth import "$work/rootfs.tar" busybox:latest >/dev/null
$berth build -q -t big "$work/ctx" >/dev/null
if [ -n "$have_docker" ]; then
  $docker import "$work/rootfs.tar" busybox:latest >/dev/null
  $docker build -q -t big "$work/ctx" >/dev/null 2>&1
fi

res="$work/res.txt"
: >"$res"
n=0
bench() { # name prepare command
  hyperfine -w 1 -r "$runs" --prepare "$2" --export-json "$work/h.json" -n "$1" "$3" >/dev/null
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["command"], r["median"])' "$work/h.json" >>"$res"
}
for reg in "${regs[@]}"; do
  name=${reg%%=*} rest=${reg#*=}
  addr=${rest%%=*} root=${rest#*=}
  wipe="find $root -type f -delete"
  bench "berth push $name" "$wipe; $berth tag big $addr/b/big:1" "$berth push -q $addr/b/big:1"
  $berth push -q "$addr/b/big:1" >/dev/null
  bench "berth pull $name" "$berth images -aq | sort -u | xargs -r $berth rmi -f >/dev/null 2>&1 || true" \
    "$berth pull -q $addr/b/big:1"
  $berth tag "$addr/b/big:1" big
  if command -v skopeo >/dev/null; then
    bench "skopeo pull $name" "rm -rf $work/oci" \
      "skopeo copy -q --src-tls-verify=false docker://$addr/b/big:1 oci:$work/oci:x"
  fi
  if [ -n "$have_docker" ]; then
    bench "docker push $name" "$wipe; $docker tag big $addr/d/big:1" "$docker push -q $addr/d/big:1"
    $docker push -q "$addr/d/big:1" >/dev/null
    bench "docker pull $name" "$docker images -aq | sort -u | xargs -r $docker rmi -f >/dev/null 2>&1 || true" \
      "$docker pull -q $addr/d/big:1"
    $docker tag "$addr/d/big:1" big
  fi
done
python3 - "$res" <<'PY'
import sys
res = {}
for line in open(sys.argv[1]):
    name, med = line.rsplit(" ", 1)
    res[name] = float(med)
regs = sorted({n.split(" ")[-1] for n in res})
print(f"{'median (s)':28}{'berth':>8}{'docker':>8}{'skopeo':>8}{'docker/berth':>14}{'target':>8}")
for reg in regs:
    for op, target in (("push", "0.8"), ("pull", "0.5")):
        b = res.get(f"berth {op} {reg}")
        d = res.get(f"docker {op} {reg}")
        s = res.get(f"skopeo {op} {reg}")
        fmt = lambda x: f"{x:.3f}" if x else "-"
        ratio = f"{d / b:.1f}x" if b and d else "-"
        print(f"{op + ' ' + reg:28}{fmt(b):>8}{fmt(d):>8}{fmt(s):>8}{ratio:>14}{target:>8}")
PY
