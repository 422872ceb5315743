package spec

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rlimits maps --ulimit names to their RLIMIT_ names, as docker run spells them.
var rlimits = map[string]string{
	"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
	"locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
	"nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
	"rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
	"stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

// ParseUlimit reads a --ulimit value, NAME=SOFT[:HARD] (one number sets
// both), into an OCI rlimit.
func ParseUlimit(v string) (specs.POSIXRlimit, error) {
	const help = "want NAME=SOFT[:HARD], like nofile=1024:4096"
	name, values, ok := strings.Cut(v, "=")
	typ, known := rlimits[name]
	if !ok || !known {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: %s (names: core, cpu, fsize, nofile, nproc, stack, ...)", v, help)
	}
	softText, hardText, twoValues := strings.Cut(values, ":")
	if !twoValues {
		hardText = softText
	}
	soft, err1 := strconv.ParseUint(softText, 10, 64)
	hard, err2 := strconv.ParseUint(hardText, 10, 64)
	if err1 != nil || err2 != nil {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: %s", v, help)
	}
	if soft > hard {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: the soft limit is above the hard one", v)
	}
	return specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}, nil
}

// namespacedSysctls are the sysctls that belong to the container's own
// namespaces (IPC, network), so that setting them cannot touch the host.
// The same list as Docker's.
var namespacedSysctls = []string{
	"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
	"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
}

// ParseSysctl reads a --sysctl value, KEY=VALUE, and refuses a key that is
// not namespaced: it would change the host's kernel.
func ParseSysctl(v string) (key, value string, err error) {
	key, value, ok := strings.Cut(v, "=")
	if !ok || key == "" || strings.Contains(key, "/") || strings.Contains(key, "..") {
		return "", "", fmt.Errorf("--sysctl %q: want KEY=VALUE, like net.ipv4.ip_forward=1", v)
	}
	for _, k := range namespacedSysctls {
		if key == k {
			return key, value, nil
		}
	}
	if strings.HasPrefix(key, "fs.mqueue.") || strings.HasPrefix(key, "net.") {
		return key, value, nil
	}
	return "", "", fmt.Errorf("--sysctl %q: not namespaced, so setting it would change the host's kernel; crate allows net.*, fs.mqueue.* and the IPC ones (kernel.shm*, kernel.msg*, kernel.sem)", v)
}
