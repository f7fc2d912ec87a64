#!/usr/bin/env bash
# Builds a busybox rootfs tar from Debian's busybox-static (no adduser there: the
# /etc/passwd and /etc/group lines are written here). Usage: mkrootfs.sh OUT.tar
set -euo pipefail
out=${1:?usage: mkrootfs.sh OUT.tar}
bb=$(command -v busybox || true)
[ -x "${bb:-}" ] || { echo "busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,etc,root,tmp,proc,sys,dev,home,var,usr/bin}
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for a in $("$bb" --list); do [ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' > "$dir/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$dir" -cf "$out" .
