#!/bin/bash
# install-deps.sh [demo] - install from Debian's packages what crate's tests
# need (with "demo": only what the demo needs), and fetch the Go modules.
# Installs only what is missing.
set -euo pipefail

# busybox-static: the demo and test image; file: checks that busybox is
# static; xz-utils, zstd: compressed images.
packages=(busybox-static file xz-utils zstd)
if [ "${1:-}" != demo ]; then
	# qemu-system-x86: the cgroup v2 VM; groff-base, mandoc, man-db: render the
	# manual pages; zsh, fish: check the completion scripts; lintian, rpm:
	# check the packages (make test-package).
	packages+=(qemu-system-x86 groff-base mandoc man-db zsh fish lintian rpm)
	# The engine tests (cmd/crate/engine*_test.go) run the runtime under real
	# engines: runc: the runtime they run until crate speaks its command line,
	# and what the others are compared with; containerd: containerd, ctr and
	# the runc shim, for ctr and the CRI tests (crictl is a Go tool of
	# go.mod); containernetworking-plugins: the CNI loopback plugin the CRI
	# tests' pods use; podman, conmon: podman's tests (conmon is podman's
	# per-container monitor, which calls the runtime); docker.io: dockerd
	# and its CLI, /usr/bin/docker (the tests name it by path: a docker in
	# /usr/local/bin may come first in $PATH).
	packages+=(runc containerd containernetworking-plugins podman conmon docker.io)
fi
need=()
for pkg in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "$0: missing packages: ${need[*]}; run as root (sudo make ...) or install them" >&2
		exit 1
	fi
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi
go mod download
