#!/bin/bash
# bench.sh - measure crate against runc, bubblewrap and a bare unshare+chroot,
# and print the figures side by side in one run:
#   1. warm start: /bin/true in a new container, image already imported;
#   2. cold start: the first run of a Debian minbase image vs tar -xzf of it;
#   3. disk: the state root with 10 containers of that image running;
#   4. scale: 50 containers started at once;
#   5. floor: the smallest --memory and --pids under which /bin/true starts
#      every time, for crate and runc.
# It also draws docs/bench-start-latency.png from part 1.
#
# Run as root from the repository: sudo make bench (or sudo scripts/bench.sh).
# Everything lives under build/bench: a private state root (the host's
# /var/lib/crate is not touched), the log, the runc bundle. All of it is
# removed at the end except the cached Debian image (debian-bookworm-minbase
# and its .tar.gz), which takes a minute of debootstrap to make.
# BENCH_RUNS (default 30), BENCH_COLD_RUNS (default 8) and BENCH_FLOOR_RUNS
# (default 100) set the run counts.
# BENCH_BASELINE=REV (a git revision, e.g. HEAD~1 or main) adds that build
# of crate to part 1, in the same rounds, as "crate@base": a change's cost
# in start time, measured against runc in one run; and to part 5.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
# sudo resets PATH; Go's own installer puts it in /usr/local/go.
export PATH=$PATH:/usr/local/go/bin

if [ "$(id -u)" != 0 ]; then
	echo "$0: containers need root: sudo make bench" >&2
	exit 1
fi
# hyperfine -N splits a command on spaces; a path with one would break it.
if [[ $repo == *[[:space:]]* ]]; then
	echo "$0: the repository path '$repo' contains a space; hyperfine cannot quote it" >&2
	exit 1
fi

runs=${BENCH_RUNS:-30}
cold_runs=${BENCH_COLD_RUNS:-8}
floor_runs=${BENCH_FLOOR_RUNS:-100}
baseline=${BENCH_BASELINE:-}
bench=$repo/build/bench
base=$bench/debian-bookworm-minbase # cached root filesystem directory
archive=$base.tar.gz                # cached image file, the same files
state=$bench/state                  # crate's state root for parts 1, 3, 4
cold_state=$bench/cold-state        # a fresh state root for every cold run under it
work=$bench/work                    # runc bundle, hyperfine output, scratch
log=$bench/crate.log
image="bench-debian:minbase"
crate=(bin/crate --data-root "$state" --log-file "$log")

# --- what the benchmark needs ------------------------------------------------

# Each command and the Debian package it comes in.
need=()
for pair in hyperfine:hyperfine runc:runc bwrap:bubblewrap debootstrap:debootstrap \
	gnuplot:gnuplot-nox unshare:util-linux findmnt:util-linux jq:jq python3:python3 \
	containerd:containerd ctr:containerd; do
	command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

make --no-print-directory build >/dev/null
# -B: the probe and its crate-init are built now, at one version.
make --no-print-directory -B build/bench/crate-floorprobe >/dev/null

# --- cleanup: everything made here but the cached image ----------------------

bg_pids=() # crate supervisors started in the background
ok=0
cleanup() {
	local p
	for p in "${bg_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${bg_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	runc --root "$work/runc" delete --force crate-bench-runc >/dev/null 2>&1 || true
	runc --root "$work/runc" delete --force crate-bench-floor >/dev/null 2>&1 || true
	runc --root "$work/runc-oci" delete --force crate-bench-oci >/dev/null 2>&1 || true
	bin/crate --root "$work/crate-oci" --log-file "$log" delete --force crate-bench-oci >/dev/null 2>&1 || true
	# A crate that failed half-way may leave a mount; take it down before
	# rm, which must not walk into it. Deepest first.
	{ findmnt -rn -o TARGET | grep "^$bench/" || true; } | sort -r | while read -r m; do
		umount -l "$m" || true
	done
	local cg
	# crate-bench: the parent of part 6's containers, named by ctr's
	# namespace, which the runtimes make but leave (it is shared).
	for cg in /sys/fs/cgroup/*/crate-bench-* /sys/fs/cgroup/crate-bench-* /sys/fs/cgroup/*/crate-bench /sys/fs/cgroup/crate-bench; do
		if [ -d "$cg" ]; then rmdir "$cg" 2>/dev/null || true; fi
	done
	rm -rf --one-file-system "$state" "$cold_state" "$work" "$bench/baseline"
	if [ "$ok" = 1 ]; then
		rm -f "$log"
	elif [ "${1:-}" = exit ] && [ -f "$log" ]; then
		echo "bench: failed; crate's log is kept: bin/crate log --log-file $log" >&2
	fi
}
trap 'cleanup exit' EXIT

fail() {
	echo "bench: $*" >&2
	exit 1
}

# hyperfine ARGS... runs hyperfine quietly: its warnings about outliers are
# expected on a shared machine (the quartiles show the spread); its errors,
# such as a command that exited non-zero, are shown and end the run.
quiet_hyperfine() {
	if ! hyperfine --style none "$@" >"$work/hyperfine.out" 2>&1; then
		cat "$work/hyperfine.out" >&2
		fail "hyperfine failed"
	fi
}

# --- the Debian minbase image, made once ------------------------------------

# debootstrap from the mirror apt already uses: one-line sources.list
# entries first, then deb822 .sources files.
apt_mirror() {
	{
		grep -hE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			sed -E 's/\[[^]]*\]//' | awk '$3 == "bookworm" { print $2 }' || true
		awk '/^[[:space:]]*$/ { uri = "" }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && uri != "") print uri }' \
			/etc/apt/sources.list.d/*.sources 2>/dev/null || true
	} | head -n 1
}

mkdir -p "$bench"
if [ ! -f "$archive" ] || [ ! -d "$base" ]; then
	rm -rf "$base" "$base.tmp" "$archive" "$archive.tmp"
	mirror=${BENCH_MIRROR:-$(apt_mirror)}
	mirror=${mirror:-http://deb.debian.org/debian}
	echo "bench: building the Debian bookworm minbase image from $mirror (once)" >&2
	debootstrap --variant=minbase bookworm "$base.tmp" "$mirror" >"$bench/debootstrap.log" 2>&1 ||
		fail "debootstrap failed; see $bench/debootstrap.log"
	# As published container images do: no package cache, no package lists.
	rm -rf "$base.tmp"/var/cache/apt/archives/*.deb "$base.tmp"/var/lib/apt/lists/*
	tar -C "$base.tmp" --numeric-owner -czf "$archive.tmp" .
	mv "$base.tmp" "$base"
	mv "$archive.tmp" "$archive"
	rm -f "$bench/debootstrap.log"
fi

# A fresh start: nothing from an earlier, interrupted run.
cleanup start
rm -f "$log"
mkdir -p "$work"

# --- header ------------------------------------------------------------------

cgroup_mode() {
	if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
		echo "v2 (unified)"
	elif [ -d /sys/fs/cgroup/unified ]; then
		echo "v1 (hybrid: v1 controllers, v2 mounted at /sys/fs/cgroup/unified)"
	else
		echo "v1 (legacy)"
	fi
}

echo "crate benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine:   $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory"
echo "kernel:    $(uname -r)"
echo "cgroups:   $(cgroup_mode)"
echo "crate:     $(bin/crate version | head -n 1)"
if [ -n "$baseline" ]; then
	# The baseline is built from git's copy of REV, with the same Go: only
	# the code differs. Its own state root and log, under build/bench.
	base_dir=$bench/baseline
	rm -rf "$base_dir" && mkdir -p "$base_dir/src"
	git archive "$baseline" | tar -x -C "$base_dir/src" || fail "git archive $baseline failed"
	base_rev=$(git rev-parse --short "$baseline")
	make --no-print-directory -C "$base_dir/src" VERSION="$base_rev" COMMIT="$base_rev" build >/dev/null ||
		fail "building $baseline failed"
	# A crate of before --data-root called its state root --root.
	base_root=--data-root
	"$base_dir/src/bin/crate" --help 2>&1 | grep -q -- --data-root || base_root=--root
	base_crate=("$base_dir/src/bin/crate" "$base_root" "$base_dir/state" --log-file "$base_dir/crate.log")
	# Part 5's probe of the baseline; a revision older than the probe has
	# no minimum to lift, and its crate serves.
	base_exe=$base_dir/src/bin/crate
	if make --no-print-directory -C "$base_dir/src" VERSION="$base_rev" COMMIT="$base_rev" \
		build/bench/crate-floorprobe >/dev/null 2>&1; then
		base_exe=$base_dir/src/build/bench/crate-floorprobe
	fi
	base_probe=(env CRATE_INIT="$base_dir/src/bin/crate-init" "$base_exe" "${base_crate[@]:1}")
	echo "crate@base: $("${base_crate[@]}" version | head -n 1) ($baseline)"
fi
echo "runc:      $(runc --version | head -n 1)"
echo "bwrap:     $(bwrap --version)"
echo "unshare:   $(unshare --version)"
echo "tar:       $(tar --version | head -n 1)"
echo "hyperfine: $(hyperfine --version)"
echo "image:     Debian bookworm minbase (debootstrap), $(du -sb "$base" | cut -f1) bytes unpacked, $(stat -c %s "$archive") bytes as .tar.gz"
echo

# --- 1. warm start -----------------------------------------------------------

"${crate[@]}" image import "$archive" --name "$image" >/dev/null
if [ -n "$baseline" ]; then "${base_crate[@]}" image import "$archive" --name "$image" >/dev/null; fi
# Write the imported layer out now, or its writeback lands in crate's runs.
sync

# runc's default spec, as `runc spec` writes it (pid, net, ipc, uts and mount
# namespaces, read-only root, a cgroup), on the same directory, no terminal.
mkdir -p "$work/bundle"
(cd "$work/bundle" && runc spec)
jq --arg root "$base" '.root.path = $root | .process.args = ["/bin/true"] | .process.terminal = false' \
	"$work/bundle/config.json" >"$work/bundle/config.json.new"
mv "$work/bundle/config.json.new" "$work/bundle/config.json"

echo "== 1. warm start: /bin/true, image already on disk ($runs rounds) =="
# As in part 2, rounds: each runs every tool once, in an order shuffled
# from one round to the next. This machine's speed drifts by tens of percent
# within a minute; thirty runs of one tool and then thirty of the next would
# charge the drift to whichever ran at a slow moment, rounds spread it over
# all. Shuffled, not rotated: in a rotation each tool always follows the
# same one, and a container's teardown goes on in the kernel after it has
# exited (its network namespace, its mounts), charged to whatever runs next.
# A rotation put crate after crate@base every time: crate measured against a
# build of its own commit came out 8% slower rotated, 1.5% shuffled. The
# first three rounds are a warm-up, not counted. -N: no shell in between, so
# milliseconds are the tools' own.
warm=(crate "bin/crate --data-root $state --log-file $log run $image /bin/true"
	runc "runc --root $work/runc run --bundle $work/bundle crate-bench-runc"
	bwrap "bwrap --bind $base / --proc /proc --dev /dev --unshare-all -- /bin/true"
	floor "unshare -pfmuin chroot $base /bin/true")
if [ -n "$baseline" ]; then
	warm+=(crate@base "${base_crate[*]} run $image /bin/true")
fi
tools=$((${#warm[@]} / 2))
warmup_rounds=3
for r in $(seq 1 $((warmup_rounds + runs))); do
	cmds=()
	for j in $(seq 0 $((tools - 1)) | shuf); do
		cmds+=(-n "${warm[2 * j]}" "${warm[2 * j + 1]}")
	done
	quiet_hyperfine -N --runs 1 --export-json "$work/warm-$r.json" "${cmds[@]}"
done
for r in $(seq 1 $warmup_rounds); do rm -f "$work/warm-$r.json"; done
python3 scripts/bench-stats.py warm "$work/warm.dat" "$work"/warm-*.json
echo "floor = unshare -pfmuin chroot DIR /bin/true: the namespaces alone, no mounts, no cgroup"
echo "where crate's time goes, from its own log (median of the runs above):"
python3 scripts/bench-stats.py steps "$log"
echo

gnuplot -e "dat='$work/warm.dat'; out='docs/bench-start-latency.png'; tools=$tools; subtitle='$(nproc) CPUs, $(uname -r), cgroup $(cgroup_mode | cut -d' ' -f1), $(date -u +%Y-%m-%d); $runs runs each'" \
	scripts/bench-plot.gp

# --- 2. cold start -----------------------------------------------------------

echo "== 2. cold start: first run of the image file, empty state root each time ($cold_runs runs) =="
# One round is one run of each, crate first in odd rounds and tar first in
# even ones: this machine's disk and memory speed drift over minutes, and
# interleaving spreads the drift over both instead of charging it to one.
# Round 0 is a warm-up, not counted. Every run writes into a directory of its
# own and all are removed at the end: deleting 120 MB between runs would be
# timed too, as the root file system here is mounted with online discard
# and the next run's writes wait behind the discards. sync before each run,
# so one run's dirty pages are not written back during the next.
for r in $(seq 0 "$cold_runs"); do
	cmds=(-n crate "bin/crate --data-root $cold_state/$r --log-file $log run $archive /bin/true"
		-n tar "tar -xzf $archive -C $work/untar/$r")
	if [ $((r % 2)) = 0 ]; then
		cmds=("${cmds[@]:3:3}" "${cmds[@]:0:3}")
	fi
	quiet_hyperfine --runs 1 --export-json "$work/cold-$r.json" \
		--prepare "mkdir -p $work/untar/$r && sync" "${cmds[@]}"
done
rm -f "$work/cold-0.json"
python3 scripts/bench-stats.py cold "$work"/cold-*.json
rm -rf --one-file-system "$cold_state" "$work/untar"
echo

# --- 3. disk -----------------------------------------------------------------

n_disk=10
echo "== 3. disk: state root with $n_disk containers of the image running =="
for i in $(seq 1 $n_disk); do
	"${crate[@]}" run --name "bench-disk-$i" --stop-timeout 1s "$image" -- \
		/bin/sh -c 'echo started; exec sleep 30' >"$work/disk-$i.out" 2>&1 &
	bg_pids+=($!)
done
# Each container says "started" once its command runs; wait for all ten,
# but not for ever, and not for one that already died.
deadline=$((SECONDS + 30))
while [ "$(cat "$work"/disk-*.out | grep -c '^started$' || true)" -lt $n_disk ]; do
	for p in "${bg_pids[@]}"; do
		kill -0 "$p" 2>/dev/null || fail "a container of part 3 exited early: $(cat "$work"/disk-*.out)"
	done
	[ $SECONDS -lt $deadline ] || fail "after 30 s not all $n_disk containers had started"
	sleep 0.1
done
running=$(find "$state/containers" -mindepth 1 -maxdepth 1 | wc -l)
# -x: stay on this file system, so a container's overlay mount, if the host
# can see it, is not counted on top of the layers it shows.
total=$(du -sbx "$state" | cut -f1)
layers=$(du -sbx "$state/layers" | cut -f1)
containers=$(du -sbx "$state/containers" | cut -f1)
unpacked=$(du -sb "$base" | cut -f1)
mib() { awk -v b="$1" 'BEGIN { printf "%8.1f MiB", b / 1048576 }'; }
printf '%-40s %s\n' "image unpacked (du -sb of the rootfs)" "$(mib "$unpacked")"
printf '%-40s %s  (%.2f× the image)\n' "state root, $running containers running" "$(mib "$total")" \
	"$(awk -v a="$total" -v b="$unpacked" 'BEGIN { print a / b }')"
printf '%-40s %s\n' "  of which layers/" "$(mib "$layers")"
printf '%-40s %s  (%.1f KiB each)\n' "  of which containers/" "$(mib "$containers")" \
	"$(awk -v a="$containers" -v n="$running" 'BEGIN { print a / n / 1024 }')"
printf '%-40s %s\n' "one full copy each would be" "$(mib $((unpacked * n_disk)))"
if [ "$total" -le $((unpacked * 3 / 2)) ]; then verdict=MET; else verdict="NOT MET"; fi
echo "goal: about one image copy + small uppers — $verdict"
for p in "${bg_pids[@]}"; do
	kill -TERM "$p"
done
for p in "${bg_pids[@]}"; do
	wait "$p" || true # 143 or 137: stopped, as asked
done
bg_pids=()
left=$(find "$state/containers" -mindepth 1 -maxdepth 1 | wc -l)
echo "after SIGTERM: $left container directories left"
echo

# --- 4. scale ----------------------------------------------------------------

n_scale=50
echo "== 4. scale: $n_scale × crate run $image /bin/true at once =="
start=$(date +%s%N)
for i in $(seq 1 $n_scale); do
	"${crate[@]}" run --name "bench-scale-$i" "$image" /bin/true >"$work/scale-$i.out" 2>&1 &
	bg_pids+=($!)
done
failed=0
for p in "${bg_pids[@]}"; do
	wait "$p" || failed=$((failed + 1))
done
end=$(date +%s%N)
bg_pids=()
left_dirs=$(find "$state/containers" -mindepth 1 -maxdepth 1 | wc -l)
left_cgroups=$(find /sys/fs/cgroup -maxdepth 2 -name 'crate-bench-scale-*' | wc -l)
left_mounts=$(grep -c " $state/" /proc/self/mountinfo || true)
awk -v ns=$((end - start)) -v n=$n_scale 'BEGIN { printf "all exited after %.0f ms (%.1f ms per container)\n", ns / 1e6, ns / 1e6 / n }'
echo "failed: $failed of $n_scale"
echo "left behind: $left_dirs container directories, $left_cgroups cgroups, $left_mounts mounts"
if [ "$failed" = 0 ] && [ "$left_dirs" = 0 ] && [ "$left_cgroups" = 0 ] && [ "$left_mounts" = 0 ]; then
	echo "goal: all succeed, nothing left — MET"
else
	echo "goal: all succeed, nothing left — NOT MET"
	for i in $(seq 1 $n_scale); do
		if [ -s "$work/scale-$i.out" ]; then
			sed "s/^/  bench-scale-$i: /" "$work/scale-$i.out" | head -n 3
		fi
	done
fi
echo

# --- 5. floor ----------------------------------------------------------------

echo "== 5. floor: the smallest limits under which /bin/true starts $floor_runs times of $floor_runs =="
# starts N CMD... reports whether CMD succeeds N times in a row; it stops at
# the first failure. A run that failed may leave what crate gc or runc
# delete removes, or the next run would fail for that.
starts() {
	local n=$1 i
	shift
	for i in $(seq 1 "$n"); do
		if ! "$@" >/dev/null 2>&1; then
			"${crate[@]}" gc >/dev/null 2>&1 || true
			if [ -n "$baseline" ]; then "${base_crate[@]}" gc >/dev/null 2>&1 || true; fi
			runc --root "$work/runc" delete --force crate-bench-floor >/dev/null 2>&1 || true
			return 1
		fi
	done
}
# smallest STEP HIGH CMD... bisects the smallest multiple of STEP, up to
# HIGH, for which `CMD VALUE` starts floor_runs times of floor_runs,
# assuming that more never hurts. It prints the value, or "> HIGH".
smallest() {
	local step=$1 lo=0 hi=$2 mid
	shift 2
	if ! starts "$floor_runs" "$@" "$hi"; then
		echo "> $hi"
		return
	fi
	while [ $((hi - lo)) -gt "$step" ]; do
		mid=$(((lo + hi) / 2 / step * step))
		if starts "$floor_runs" "$@" "$mid"; then hi=$mid; else lo=$mid; fi
	done
	echo "$hi"
}
# crate's probe is crate built to start what crate run refuses, a limit
# below the minimum (see the Makefile), with the crate-init built beside it.
# A probe that cannot start a container at all would read as a floor above
# every limit tried.
probe=(env CRATE_INIT="$repo/build/bench/crate-floorprobe-init" build/bench/crate-floorprobe --data-root "$state" --log-file "$log")
"${probe[@]}" run --name bench-floor "$image" /bin/true >/dev/null ||
	fail "the floor probe (build/bench/crate-floorprobe) did not start /bin/true without limits"
crate_memory() { "${probe[@]}" run --name bench-floor --memory "${1}K" "$image" /bin/true; }
crate_pids() { "${probe[@]}" run --name bench-floor --pids "$1" "$image" /bin/true; }
crate_init_memory() { "${probe[@]}" run --name bench-floor --init --memory "${1}K" "$image" /bin/true; }
crate_init_pids() { "${probe[@]}" run --name bench-floor --init --pids "$1" "$image" /bin/true; }
base_memory() { "${base_probe[@]}" run --name bench-floor --memory "${1}K" "$image" /bin/true; }
base_pids() { "${base_probe[@]}" run --name bench-floor --pids "$1" "$image" /bin/true; }
# runc's bundle of part 1, with a memory limit (memory+swap the same, as
# crate's) or a pids limit.
runc_limited() {
	jq "$1" "$work/bundle/config.json" >"$work/bundle-floor/config.json"
	runc --root "$work/runc" run --bundle "$work/bundle-floor" crate-bench-floor
}
runc_memory() { runc_limited ".linux.resources.memory = {limit: $(($1 * 1024)), swap: $(($1 * 1024))}"; }
runc_pids() { runc_limited ".linux.resources.pids = {limit: $1}"; }
mkdir -p "$work/bundle-floor"
kib=64 # the memory step
rows=(crate crate_init runc)
if [ -n "$baseline" ]; then rows=(crate base crate_init runc); fi
printf '%-16s %12s %8s\n' "" "--memory" "--pids"
for row in "${rows[@]}"; do
	memory=$(smallest $kib 16384 "${row}_memory")
	pids=$(smallest 1 64 "${row}_pids")
	name=${row/_init/ --init}
	printf '%-16s %12s %8s\n' "${name/base/crate@base}" "$memory KiB" "$pids"
	if [ "$row" = crate ]; then crate_floor=$memory; fi
done
echo "(bisected, memory in $kib KiB steps, pids by one: the figure started /bin/true $floor_runs times of $floor_runs, one step below failed at least once)"
if [[ $crate_floor != ">"* ]] && [ "$crate_floor" -le 1024 ]; then verdict=MET; else verdict="NOT MET"; fi
echo "goal: crate's --memory floor ≤ 1 MiB — $verdict ($crate_floor KiB)"
echo

# --- 6. engines --------------------------------------------------------------

echo "== 6. as an engine's runtime: runc's create, start, delete, and ctr run ($runs rounds) =="
# The OCI cycle an engine drives for every container, on part 1's bundle,
# each runtime with a run directory of its own: create (the container made,
# its command waiting), start, and delete --force (the command may still be
# exiting), in one shell, the same for both. Then containerd's ctr run --rm
# of the same files as an image, through the runc shim, with runc or crate
# as its runtime: everything an engine adds around the runtime included.
oci_cycle() { # RUNTIME... prints the shell command of one cycle
	echo "$* create --bundle $work/bundle crate-bench-oci && $* start crate-bench-oci && $* delete --force crate-bench-oci"
}
engine=(crate "$(oci_cycle bin/crate --root "$work/crate-oci" --log-file "$log")"
	runc "$(oci_cycle runc --root "$work/runc-oci")")
# A containerd of this run's own, its state under build/bench.
ctrd=$work/containerd
mkdir -p "$ctrd"
printf '%s\n' 'version = 2' "root = \"$ctrd/root\"" "state = \"$ctrd/state\"" \
	'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]' \
	'[grpc]' "  address = \"$ctrd/containerd.sock\"" \
	'[plugins."io.containerd.internal.v1.opt"]' "  path = \"$ctrd/opt\"" >"$ctrd/config.toml"
containerd --config "$ctrd/config.toml" >"$ctrd/log" 2>&1 &
bg_pids+=($!)
ctr=(ctr --address "$ctrd/containerd.sock" --namespace crate-bench)
for _ in $(seq 100); do
	if "${ctr[@]}" version >/dev/null 2>&1; then break; fi
	sleep 0.1 # a daemon's start: nothing to wait on but its socket
done
"${ctr[@]}" version >/dev/null || fail "containerd did not start: $(tail -n 5 "$ctrd/log")"
# The image: part 1's files as the one layer of a docker save archive.
python3 scripts/bench-image.py "$archive" "$work/ctr-image.tar" docker.io/library/bench:latest
"${ctr[@]}" image import "$work/ctr-image.tar" >/dev/null || fail "ctr image import failed"
ctr_run() { # RUNTIME prints the command of one ctr run
	echo "${ctr[*]} run --rm --runc-binary $1 --runc-root $work/ctr-runtime docker.io/library/bench:latest crate-bench-ctr /bin/true"
}
engine+=("ctr+crate" "$(ctr_run "$repo/bin/crate")" "ctr+runc" "$(ctr_run "$(command -v runc)")")
tools=$((${#engine[@]} / 2))
for r in $(seq 1 $((warmup_rounds + runs))); do
	cmds=()
	for j in $(seq 0 $((tools - 1)) | shuf); do
		cmds+=(-n "${engine[2 * j]}" "${engine[2 * j + 1]}")
	done
	quiet_hyperfine --runs 1 --export-json "$work/engine-$r.json" "${cmds[@]}"
done
for r in $(seq 1 $warmup_rounds); do rm -f "$work/engine-$r.json"; done
python3 scripts/bench-stats.py engine "$work"/engine-*.json
"${ctr[@]}" image rm docker.io/library/bench:latest >/dev/null 2>&1 || true
echo
echo "plot: docs/bench-start-latency.png"
ok=1
