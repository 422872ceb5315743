#!/bin/bash
# test-v2.sh - run the cgroup and container integration tests under pure
# cgroup v2, in a throw-away VM (scripts/vm/run-in-vm.sh), since this
# project's own machines run cgroup v1. Expects bin/crate and bin/crate-init
# (make build). Arguments go to both test binaries, e.g. -test.run TestCPULimit.
set -euo pipefail

cd "$(dirname "$0")/.."
project=$PWD
vm=$project/scripts/vm/run-in-vm.sh

mkdir -p build
# Static test binaries: the VM has the host's /usr but no Go build cache.
CGO_ENABLED=0 go test -c -o build/cgroups.test ./pkg/cgroups
CGO_ENABLED=0 go test -c -o build/crate.test ./cmd/crate
# The hostile tests' attack program, which they would otherwise build.
(cd cmd/crate && CGO_ENABLED=0 go build -trimpath -o ../../build/attack ./testdata/attack)
# crictl, for the engine tests' containerd CRI (a Go tool dependency).
cp "$(go tool -n crictl)" build/crictl
# A crate-init of another version, which crate must refuse.
CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=other" -o build/crate-init-other ./cmd/crate-init

# The VM's root is a tmpfs the initramfs switched to, as an installed
# machine's is a disk: a container's pivot_root leaves nothing of the host
# above the container (see scripts/vm/guest-init.sh), and /tmp is a tmpfs of
# its own, where the tests make their state roots.
args="-test.v -test.count=1 -test.timeout=30m"
# Without arguments: the tests whose behaviour depends on cgroups or the
# kernel. Those of the command line, the image store, the logs and the
# terminal relay behave the same on any kernel, and the host has run them.
kernelIndependent='^(TestBadInputIsRefused|TestRunAsNonRootIsRefused|TestMan.*|TestBashCompletion.*|TestCompletion.*'
kernelIndependent+='|TestCommandCannotStart|TestInitOfAnotherVersion|TestImage.*|TestConcurrentFirstRuns|TestBadLayers'
kernelIndependent+='|TestImportSurvivesACrash|TestHomeFollowsTheUser|TestBothFlagOrders|TestLifecycleBadInput|TestRunLog.*'
kernelIndependent+='|TestCrateLog.*|TestCrateVersion|TestTerminal.*|TestStdin|TestExecTerminal|TestDetachedTerminal'
kernelIndependent+='|TestExecLeavesAChildOnTheTerminal|TestHostileTerminalWithoutTTY|TestWorkdirAndEnv|TestHostname'
kernelIndependent+='|TestHostileImageNameIsAnID|TestHostileImageNames|TestHostileImageIndexBomb|TestHostileImageFIFO'
kernelIndependent+='|TestLogsOnTerminal|TestPsQuotesImageStrings|TestQuoteShort|TestWriteJSON|TestCgroupLimitWording'
kernelIndependent+='|TestImagePrune|TestPruneRacingStarts|TestSystemDf|TestImportKeepsFreeSpace|TestImportSurvivesAFullDisk'
kernelIndependent+='|TestHostileImageOverlayXattrs|TestHostileDfWalk|TestLogOpts|TestLogLimits|TestLogsFollowRotation|TestOutputOnFullDisk'
kernelIndependent+='|TestRuntimeForm|TestRuntimeVersion|TestOCIErrorsReachLogAndStderr)$'
if [ $# -eq 0 ]; then
	args="$args -test.skip \"$kernelIndependent\""
else
	args="$args $(printf "%q " "$@")"
fi
inner="cd $project/pkg/cgroups && $project/build/cgroups.test $args &&
cd $project/cmd/crate && $project/build/crate.test $args"
# The soak test runs shorter here than on the host: what it must show under
# v2 is that no cgroup of a killed container stays, which a few dozen
# faulted starts show, and a start in an emulated VM is slow.
exec "$vm" --timeout 2100 \
	--env "CI=${CI:-}" \
	--env "CRATE_SOAK=${CRATE_SOAK:-20}" \
	--env "CRATE_BIN=$project/bin/crate" \
	--env "CRATE_INIT_BIN=$project/bin/crate-init" \
	--env "CRATE_ATTACK_BIN=$project/build/attack" \
	--env "CRATE_OTHER_INIT_BIN=$project/build/crate-init-other" \
	--env "CRATE_CRICTL=$project/build/crictl" \
	"$project" -- /bin/sh -c "
		grep -q '^0::/\$' /proc/self/cgroup && [ \"\$(stat -f -c %T /sys/fs/cgroup)\" = cgroup2fs ] || { echo 'not pure cgroup v2' >&2; exit 1; }
		$inner"
