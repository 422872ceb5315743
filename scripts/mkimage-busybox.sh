#!/bin/bash
# mkimage-busybox.sh OUT.tar.gz - build the demo and test image: a root
# filesystem holding Debian's static busybox and a link for each of its
# applets, packed as a gzip-compressed tar owned by root.
set -euo pipefail

out=${1:?usage: $0 OUT.tar.gz}
busybox=${BUSYBOX:-/bin/busybox}

# Debian's busybox-static is what we want: one static binary, so the image
# needs no C library. The dynamic busybox package would not run in it.
if ! [ -x "$busybox" ] || ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
	echo "$0: $busybox is missing or not static; install it: sudo apt-get install busybox-static" >&2
	exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,proc,sys,dev,run,var/log}
install -d -m 1777 "$root/tmp"
install -m 0755 "$busybox" "$root/bin/busybox"
# --list-full prints each applet with its usual directory, e.g. usr/bin/env.
"$busybox" --list-full | while read -r applet; do
	[ "$applet" = bin/busybox ] && continue
	ln -sf /bin/busybox "$root/$applet"
done
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP

# The demo's command: what a container sees of itself.
mkdir -p "$root/usr/local/bin"
cat >"$root/usr/local/bin/whoami-container" <<'DEMO'
#!/bin/sh
# Prints what this container sees: its name, limits, network and processes.
cg=/sys/fs/cgroup
limit() { for f in "$@"; do [ -r "$cg/$f" ] && { cat "$cg/$f"; return; }; done; echo "(none)"; }
echo "hostname:       $(hostname)"
echo "memory limit:   $(limit memory.max memory/memory.limit_in_bytes) bytes"
echo "cpu quota:      $(limit cpu.max cpu/cpu.cfs_quota_us) us of CPU time per 100000 us"
echo "pids limit:     $(limit pids.max pids/pids.max)"
echo "interfaces:     $(ls /sys/class/net | tr '\n' ' ')"
echo "processes:"
ps
DEMO
chmod 0755 "$root/usr/local/bin/whoami-container"

mkdir -p "$(dirname "$out")"
tar --numeric-owner --owner=0 --group=0 -C "$root" -czf "$out.tmp" .
mv "$out.tmp" "$out"
echo "built $out ($(du -h "$out" | cut -f1))"
