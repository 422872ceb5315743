#!/bin/bash
# run-in-vm.sh - run a command as root in a throw-away QEMU VM whose cgroups
# are pure cgroup v2, and exit with its exit status.
#
#   scripts/vm/run-in-vm.sh [--timeout SECONDS] [--mem MB] [--cpus N]
#                           [--env NAME=VALUE]... DIR -- COMMAND [ARG...]
#
# crate's own machines run cgroup v1, and their cgroup mounts must not be
# touched; most users run pure v2. This boots Debian's (or Ubuntu's) kernel
# package, unpacked, not installed, with an initramfs of busybox and the few
# modules the VM needs (scripts/vm/guest-init.sh is its init), and:
#
#   - shares DIR into the VM at the same path, read-write, and runs COMMAND
#     there as root, with stdin /dev/null, PATH, HOME and the --env
#     variables; its stdout and stderr come back on this script's stdout;
#   - shares the host's /usr and /etc read-only, so that the host's tools
#     and binaries work in the VM as they do on the host;
#   - gives it a real root, a tmpfs that the initramfs switched to, and
#     /sys/fs/cgroup as cgroup2 alone, every controller enabled for children.
#
# The kernel, modules and initramfs are cached in $CRATE_VM_CACHE (default
# ~/.cache/crate-vm) and made again when the kernel package or this
# directory's scripts change. Needs qemu-system-x86 (installed if missing, as
# root), apt-get download, dpkg-deb and busybox-static. Exit status: the
# command's; 124 when --timeout runs out; 125 when the VM failed before the
# command ended (the console's last lines are printed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
timeout=900 mem=2048 cpus=2
envs=()
usage() {
	sed -n '4,5p' "$0" | sed 's/^# *//' >&2
	exit 2
}
die() {
	echo "run-in-vm.sh: $*" >&2
	exit 125
}

dir=
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	--) shift; break ;;
	-*) usage ;;
	*) [ -z "$dir" ] || usage; dir=$1; shift ;;
	esac
done
[ -n "$dir" ] && [ $# -gt 0 ] || usage
dir=$(cd "$dir" && pwd)
case $dir in
/ | /tmp | /run | /run/* | /usr | /usr/* | /proc | /proc/* | /sys | /sys/* | /dev | /dev/*)
	die "DIR $dir cannot be shared at its own path in the VM" ;;
esac

# --- what it needs ----------------------------------------------------------

arch=$(dpkg --print-architecture)
[ "$arch" = amd64 ] || die "only amd64 hosts are supported (this is $arch)"
if ! command -v qemu-system-x86_64 >/dev/null; then
	[ "$(id -u)" = 0 ] || die "qemu-system-x86_64 is missing: apt-get install qemu-system-x86"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-system-x86 >/dev/null
fi
for tool in dpkg-deb apt-get apt-cache flock timeout; do
	command -v $tool >/dev/null || die "$tool is missing"
done
busybox=/bin/busybox
[ -x $busybox ] || die "$busybox is missing: apt-get install busybox-static"

# --- the cached kernel and initramfs ----------------------------------------

cache=${CRATE_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crate-vm}
mkdir -p "$cache"

# kernel_package names the newest kernel image package apt knows, through
# the distribution's meta-package: Debian's linux-image-amd64, Ubuntu's
# linux-image-virtual or linux-image-generic.
kernel_package() {
	local meta pkg
	for meta in "linux-image-$arch" linux-image-virtual linux-image-generic; do
		pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
		if [ -n "$pkg" ]; then
			echo "$pkg"
			return
		fi
	done
	die "apt knows no kernel package (linux-image-$arch, linux-image-virtual): run apt-get update"
}

# The modules the VM loads at boot, with what they depend on: the shares
# (9p over virtio), overlayfs, crate's storage, and veth, which the engine
# tests' CNI plugin makes a pod's interface with. The rest is built in.
boot_modules=(virtio_pci 9pnet_virtio 9p overlay veth)

# ko_depends prints the modules a module file depends on, from its .modinfo
# strings (a file may be compressed).
ko_depends() {
	local f=$1
	case $f in
	*.xz) xz -dc "$f" ;;
	*.zst) zstd -dcq "$f" ;;
	*) cat "$f" ;;
	esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' '
}

build_initramfs() {
	local pkg=$1 tmp=$cache/build.tmp
	rm -rf "$tmp" && mkdir -p "$tmp/debs" "$tmp/root" "$tmp/initrd/bin" "$tmp/initrd/modules"
	local version=${pkg#linux-image-} debs=("$pkg")
	# Ubuntu keeps most modules in linux-modules-VERSION.
	if apt-cache show "linux-modules-$version" >/dev/null 2>&1; then debs+=("linux-modules-$version"); fi
	echo "run-in-vm.sh: fetching ${debs[*]} (once)" >&2
	(cd "$tmp/debs" && apt-get download "${debs[@]}") >"$tmp/apt.log" 2>&1 ||
		{ cat "$tmp/apt.log" >&2; die "apt-get download ${debs[*]} failed"; }
	local deb
	for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
	local found vmlinuz= moddir=
	for found in "$tmp"/root/boot/vmlinuz-*; do vmlinuz=$found; done
	for found in "$tmp"/root/lib/modules/* "$tmp"/root/usr/lib/modules/*; do
		if [ -d "$found" ]; then moddir=$found; fi
	done
	[ -f "$vmlinuz" ] && [ -d "$moddir" ] || die "$pkg has no kernel or no modules"

	local -A path=()
	local f name
	while IFS= read -r f; do
		name=${f##*/} name=${name%%.ko*}
		path[${name//-/_}]=$f
	done < <(find "$moddir" -name '*.ko*')
	local order=()
	add() {
		local m=${1//-/_} d
		[[ " ${order[*]} " == *" $m "* ]] && return 0
		[ -n "${path[$m]:-}" ] || return 0 # built in
		for d in $(ko_depends "${path[$m]}"); do add "$d"; done
		order+=("$m")
	}
	for name in "${boot_modules[@]}"; do add "$name"; done
	for name in "${order[@]}"; do
		f=${path[$name]}
		case $f in
		*.xz) xz -dc "$f" ;;
		*.zst) zstd -dcq "$f" ;;
		*) cat "$f" ;;
		esac >"$tmp/initrd/modules/$name.ko"
		echo "$name" >>"$tmp/initrd/modules/order"
	done
	cp "$busybox" "$tmp/initrd/bin/busybox"
	cp "$here/guest-init.sh" "$tmp/initrd/init"
	chmod 755 "$tmp/initrd/init"
	(cd "$tmp/initrd" && find . | $busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$tmp/initrd.gz"
	cp "$vmlinuz" "$cache/vmlinuz.new"
	mv "$tmp/initrd.gz" "$cache/initrd.gz"
	mv "$cache/vmlinuz.new" "$cache/vmlinuz"
	rm -rf "$tmp"
}

exec 8>"$cache/lock"
flock 8
pkg=$(kernel_package)
stamp="$pkg $(cat "$here/guest-init.sh" "$0" | sha256sum | cut -c1-16)"
if [ "$(cat "$cache/stamp" 2>/dev/null)" != "$stamp" ] || [ ! -f "$cache/vmlinuz" ] || [ ! -f "$cache/initrd.gz" ]; then
	build_initramfs "$pkg"
	echo "$stamp" >"$cache/stamp"
fi
# Each run gets its own copy: a later build must not change a VM that runs.
run=$(mktemp -d "${TMPDIR:-/tmp}/crate-vm.XXXXXX")
cp "$cache/vmlinuz" "$cache/initrd.gz" "$run/"
flock -u 8
exec 8>&-

# --- the run ------------------------------------------------------------------

qemu_pid=
cleanup() {
	if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# sq quotes a word for sh.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
mkdir "$run/ctl"
echo "dir=$(sq "$dir")" >"$run/ctl/config"
{
	echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/bb/bin HOME=/root"
	for e in ${envs[@]+"${envs[@]}"}; do echo "export ${e%%=*}=$(sq "${e#*=}")"; done
	echo "cd $(sq "$dir") || exit 125"
	printf 'exec'
	for a in "$@"; do printf ' %s' "$(sq "$a")"; done
	echo
} >"$run/ctl/run.sh"

if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
	accel=(-accel kvm -cpu host)
else
	accel=(-accel tcg,thread=multi -cpu max)
fi
# The shares: PATH as mount tag ID, over 9p (a comma in PATH is doubled,
# as QEMU's option syntax wants).
shares=()
share() { # share ID PATH [OPTIONS]
	shares+=(-fsdev "local,id=$1,path=${2//,/,,},security_model=passthrough${3:+,$3}"
		-device "virtio-9p-pci,fsdev=$1,mount_tag=$1")
}
share ctl "$run/ctl"
share usr /usr readonly=on
share etc /etc readonly=on
share work "$dir"
timeout --foreground "$timeout" qemu-system-x86_64 \
	-machine pc "${accel[@]}" -m "$mem" -smp "$cpus" \
	-nodefaults -no-user-config -display none -no-reboot \
	-kernel "$run/vmlinuz" -initrd "$run/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet mitigations=off" \
	-serial "file:$run/console.log" -serial stdio \
	"${shares[@]}" </dev/null &
qemu_pid=$!
status=0
wait "$qemu_pid" || status=$?
qemu_pid=
if [ "$status" = 124 ]; then
	echo "run-in-vm.sh: the VM did not finish within $timeout s; the console's last lines:" >&2
	tail -n 30 "$run/console.log" >&2
	exit 124
fi
if [ ! -f "$run/ctl/status" ]; then
	echo "run-in-vm.sh: the VM ended (qemu: $status) before the command did; the console's last lines:" >&2
	tail -n 30 "$run/console.log" >&2
	exit 125
fi
exit "$(cat "$run/ctl/status")"
