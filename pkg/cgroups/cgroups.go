// Package cgroups owns a container's cgroup: it makes it (with its missing
// ancestors), places processes in it, turns the OCI runtime spec's
// LinuxResources into its files, updates, freezes, lists, counts, kills and
// removes it; it hides v1 vs v2.
//
// A container gets one cgroup, at the path its caller names from the root of
// each hierarchy (Config.Path): crate run's flat "crate-<id>", or an OCI
// cgroupsPath such as "/kubepods/burstable/pod<uid>/<id>":
//
//	v2: <root>/<path>                       one directory, every controller
//	v1: <mountpoint of controller>/<path>   one directory per hierarchy
//	    (memory, cpuacct, pids, and those the resources need: cpu, cpuset,
//	    blkio, hugetlb, devices when there are device rules; or every
//	    hierarchy crate knows, with Config.AllHierarchies)
//
// Device rules (LinuxResources.Devices) are files in the devices hierarchy on
// v1; v2 has no devices controller, so a BPF program attached to the
// directory checks every mknod and open instead (devices_bpf_linux.go).
//
// The lifecycle is New (checks only) -> Create -> Start or Place -> ...
// (Update, Freeze, Thaw, Pids, Usage) -> Stats -> Kill -> Destroy, which
// removes the container's own cgroup, not the ancestors Create made (as runc:
// they are shared with other containers).
//
// The spec's resources become file writes in one place, the pure functions
// v1Writes and v2Writes (resources.go), tested without root; this file holds
// the rest of what is not Linux-specific.
package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Mode says which cgroup API the host offers.
type Mode int

const (
	// ModeV1 is the legacy API: one hierarchy per controller (hybrid hosts
	// included: their controller-less cgroup2 mount is not used).
	ModeV1 Mode = iota + 1
	// ModeV2 is the unified API: /sys/fs/cgroup itself is cgroup2.
	ModeV2
)

func (m Mode) String() string {
	switch m {
	case ModeV1:
		return "v1"
	case ModeV2:
		return "v2"
	default:
		return fmt.Sprintf("Mode(%d)", int(m))
	}
}

// Stats are the counters read from the cgroup before it is destroyed. A
// counter the kernel does not offer (an old kernel, an unmounted controller)
// reads as zero.
type Stats struct {
	OOMKills   uint64        // processes killed by the OOM killer inside the cgroup
	MemoryPeak uint64        // highest memory usage seen, in bytes
	CPUTime    time.Duration // user+system CPU time of every process ever in the cgroup
	PidsPeak   uint64        // highest number of tasks seen (pids.peak; newer kernels only)
	// PidsLimitHits counts the forks and new threads the pids limit refused
	// (pids.events "max").
	PidsLimitHits uint64
}

// Usage is what a live container uses now, and its limits (0: none), for
// crate stats.
type Usage struct {
	CPUTime     time.Duration // user+system CPU time so far
	MemoryUsage uint64        // bytes charged to the cgroup now (page cache included, as the limit counts it)
	MemoryLimit uint64
	Pids        uint64 // tasks now
	PidsLimit   uint64
}

// noLimit reads a v1 limit file's "unlimited" (the largest page-aligned
// int64) as 0, v2's "max" already does.
func noLimit(v uint64) uint64 {
	if v >= 1<<62 {
		return 0
	}
	return v
}

// Config says which cgroup New manages, and its limits.
type Config struct {
	// Root is where the cgroup filesystems are mounted: DefaultRoot, or a
	// directory a test makes.
	Root string
	// Path is the cgroup's path from the root of each hierarchy: a single
	// name ("crate-<id>"), or an OCI cgroupsPath, "/a/b/c" or "a/b/c". A
	// relative path is taken from the root too (runc puts it under its own
	// parent cgroup; crate has none to offer, and an engine passes absolute
	// paths). ".." and a path that is the root itself are refused.
	Path string
	// Resources are the limits; nil is none.
	Resources *specs.LinuxResources
	// AllHierarchies puts the cgroup, on v1, in every mounted hierarchy of
	// a controller crate knows, as runc does, so that the freezer (pause),
	// full statistics and an engine's own readers find the container. Off,
	// only those its resources need (and memory, cpuacct and pids for the
	// counters): each hierarchy is one more mkdir and rmdir per container,
	// and crate run starts faster without them.
	AllHierarchies bool
}

// Manager owns one container's cgroup.
type Manager interface {
	// Create makes the cgroup directory (one per hierarchy on v1) and writes the limits.
	Create() error
	// Start starts cmd inside the cgroup: the process is born there, so it
	// never runs outside it, and no migration is needed. A migration (a write
	// to cgroup.procs) takes a global lock whose write side waits for an RCU
	// grace period, 5 to 10 ms, which would be most of a container's start.
	// The caller must have locked its goroutine to its OS thread.
	Start(cmd *exec.Cmd) error
	// Place moves a running process into the cgroup (into every hierarchy on v1).
	Place(pid int) error
	// Stats reads the counters; call it before Destroy.
	Stats() (Stats, error)
	// Usage reads what the container uses now.
	Usage() (Usage, error)
	// Update rewrites the limits of the created cgroup (OCI update): the
	// fields r sets, and no others. Device rules stay those of Create.
	Update(r *specs.LinuxResources) error
	// Freeze stops every process in the cgroup and returns once they are
	// all stopped; Thaw lets them go on. On v1 the cgroup must be in the
	// freezer hierarchy (Config.AllHierarchies), or they return a
	// *NotInHierarchyError.
	Freeze() error
	Thaw() error
	// Frozen reports whether the cgroup is frozen (OCI state "paused"); a v1
	// cgroup outside the freezer hierarchy never is.
	Frozen() (bool, error)
	// Pids lists every process in the cgroup and below it (OCI ps).
	Pids() ([]int, error)
	// Kill sends SIGKILL to every process left in the cgroup and returns
	// once the cgroup is empty.
	Kill() error
	// Destroy removes the cgroup. It is idempotent and succeeds when the
	// cgroup was never created.
	Destroy() error
	// Path names the cgroup for logs (v1: the memory hierarchy's directory).
	Path() string
	// Mode is the API in use.
	Mode() Mode
	// Hierarchies lists, on v1, the controllers of each hierarchy the
	// container is in, as mount options ("memory", "cpu,cpuacct", and
	// "devices" when there are device rules); nil on v2. The container
	// mounts these to see its own cgroup.
	Hierarchies() []string
}

// parseKeyValues parses the "key value" lines of files such as memory.events,
// memory.oom_control and cpu.stat. Lines that are not two fields are ignored
// (the format may grow); a value that is not a number is an error.
func parseKeyValues(r io.Reader) (map[string]uint64, error) {
	kv := map[string]uint64{}
	s := bufio.NewScanner(r)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) != 2 {
			continue
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse %q: %w", s.Text(), err)
		}
		kv[fields[0]] = v
	}
	return kv, s.Err()
}

// parseUint parses a file holding one number, such as memory.peak. "max"
// (an unlimited value) reads as 0.
func parseUint(data []byte) (uint64, error) {
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %q: %w", s, err)
	}
	return v, nil
}

// parseProcs parses cgroup.procs: one pid per line.
func parseProcs(data []byte) ([]int, error) {
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse pid %q: %w", f, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// parseProcCgroup reads /proc/PID/cgroup ("ID:CONTROLLERS:PATH" lines) into
// the path of each v1 controller's cgroup.
func parseProcCgroup(data string) map[string]string {
	paths := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue // the v2 line ("0::/path") names no controller
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	return paths
}
