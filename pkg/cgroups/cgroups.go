// Package cgroups places a container's processes in a cgroup and writes their limits;
// it hides v1 vs v2.
//
// One container gets one cgroup, flat under the cgroup root, named by the caller
// (crate passes "crate-<id>"):
//
//	v2: <root>/<name>                       one directory, every controller
//	v1: <mountpoint of controller>/<name>   one directory per hierarchy
//	    (memory, cpu, cpuacct, pids, and devices when there are device
//	    rules; cpu and cpuacct may share one hierarchy)
//
// Device rules (Limits.Devices) are files in the devices hierarchy on v1; v2
// has no devices controller, so a BPF program attached to the directory
// checks every mknod and open instead (devices_bpf_linux.go).
//
// Flat, so that removing the cgroup leaves nothing behind. The lifecycle is
// New (checks only) -> Create -> Place -> ... -> Stats -> Kill -> Destroy.
//
// The translation from Limits to file writes is done by pure functions
// (v1Writes, v2Writes) so it can be tested without root; this file holds
// everything that is not Linux-specific.
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

// Limits are what crate asks for; zero means "no limit".
type Limits struct {
	MemoryBytes int64 // memory (and memory+swap) limit in bytes
	CPUQuotaUs  int64 // CPU time allowed per period, in microseconds
	CPUPeriodUs int64 // length of the period; 0 with a quota means DefaultCPUPeriodUs
	Pids        int64 // maximum number of tasks (processes and threads)

	// Devices is the device allow-list: every device is denied, then these
	// rules allow some (DefaultDevices is Docker's list). The only deny rule
	// accepted is "deny everything" (type a, rwm), which the OCI form of the
	// list starts with; it takes back the rules before it. nil means no
	// device rules at all, every device allowed: only for callers that want
	// exactly that. An empty, non-nil list denies every device.
	Devices []specs.LinuxDeviceCgroup
}

// DefaultCPUPeriodUs is the kernel's default CFS period; a quota alone is
// interpreted relative to it, as docker and runc do.
const DefaultCPUPeriodUs = 100000

// Validate rejects limits the kernel would reject later with a less helpful
// EINVAL.
func (l Limits) Validate() error {
	for _, f := range []struct {
		flag string
		v    int64
	}{
		{"memory", l.MemoryBytes}, {"cpu quota", l.CPUQuotaUs},
		{"cpu period", l.CPUPeriodUs}, {"pids", l.Pids},
	} {
		if f.v < 0 {
			return fmt.Errorf("invalid %s limit %d: must not be negative", f.flag, f.v)
		}
	}
	// The kernel accepts CFS periods from 1 ms to 1 s and quotas of at least 1 ms.
	if l.CPUPeriodUs != 0 && (l.CPUPeriodUs < 1000 || l.CPUPeriodUs > 1000000) {
		return fmt.Errorf("invalid cpu period %dus: must be between 1000 and 1000000", l.CPUPeriodUs)
	}
	if l.CPUQuotaUs != 0 && l.CPUQuotaUs < 1000 {
		return fmt.Errorf("invalid cpu quota %dus: must be at least 1000", l.CPUQuotaUs)
	}
	return validateDevices(l.Devices)
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

// write is one value written to one file of the cgroup directory.
type write struct {
	file  string
	value string
	// optional writes are skipped when the file does not exist: swap limits
	// are missing when the kernel does not account swap (swapaccount=0).
	optional bool
}

func (w write) String() string { return w.file + "=" + w.value }

// cpuPeriod is the period to write, or 0 when none is needed.
func cpuPeriod(l Limits) int64 {
	if l.CPUPeriodUs != 0 {
		return l.CPUPeriodUs
	}
	if l.CPUQuotaUs != 0 {
		return DefaultCPUPeriodUs
	}
	return 0
}

// v2Writes turns limits into writes to the single cgroup2 directory, in order.
func v2Writes(l Limits) []write {
	var ws []write
	if l.MemoryBytes != 0 {
		mem := strconv.FormatInt(l.MemoryBytes, 10)
		// v2 limits swap on its own (memory.swap.max), not memory+swap as v1
		// does; 0 makes the total equal to the memory limit, like v1's memsw.
		ws = append(ws,
			write{file: "memory.max", value: mem},
			write{file: "memory.swap.max", value: "0", optional: true})
	}
	if p := cpuPeriod(l); p != 0 {
		quota := "max"
		if l.CPUQuotaUs != 0 {
			quota = strconv.FormatInt(l.CPUQuotaUs, 10)
		}
		ws = append(ws, write{file: "cpu.max", value: quota + " " + strconv.FormatInt(p, 10)})
	}
	if l.Pids != 0 {
		ws = append(ws, write{file: "pids.max", value: strconv.FormatInt(l.Pids, 10)})
	}
	return ws
}

// v1Writes turns limits into writes per v1 controller, in order within each
// controller. The order matters: memsw must stay >= memory.limit at every
// moment, and the quota is checked against the period.
func v1Writes(l Limits) map[string][]write {
	ws := map[string][]write{}
	if l.MemoryBytes != 0 {
		mem := strconv.FormatInt(l.MemoryBytes, 10)
		ws["memory"] = []write{
			{file: "memory.limit_in_bytes", value: mem},
			{file: "memory.memsw.limit_in_bytes", value: mem, optional: true},
		}
	}
	if p := cpuPeriod(l); p != 0 {
		ws["cpu"] = append(ws["cpu"], write{file: "cpu.cfs_period_us", value: strconv.FormatInt(p, 10)})
		if l.CPUQuotaUs != 0 {
			ws["cpu"] = append(ws["cpu"], write{file: "cpu.cfs_quota_us", value: strconv.FormatInt(l.CPUQuotaUs, 10)})
		}
	}
	if l.Pids != 0 {
		ws["pids"] = []write{{file: "pids.max", value: strconv.FormatInt(l.Pids, 10)}}
	}
	if l.Devices != nil {
		ws["devices"] = v1DeviceWrites(l.Devices)
	}
	return ws
}

// neededControllers lists, in a fixed order, the controllers the non-zero
// limits need, each with the crate flag that asked for it (for the error).
// Device rules need the devices controller on v1 only; see v1Needs.
func neededControllers(l Limits) []need {
	var ns []need
	if l.MemoryBytes != 0 {
		ns = append(ns, need{controller: "memory", flag: "--memory"})
	}
	if l.CPUQuotaUs != 0 || l.CPUPeriodUs != 0 {
		ns = append(ns, need{controller: "cpu", flag: "--cpu"})
	}
	if l.Pids != 0 {
		ns = append(ns, need{controller: "pids", flag: "--pids"})
	}
	return ns
}

// v1Needs is neededControllers for a v1 host: device rules are written to
// the devices hierarchy.
func v1Needs(l Limits) []need {
	ns := neededControllers(l)
	if l.Devices != nil {
		ns = append(ns, need{controller: "devices", flag: "the device allow-list"})
	}
	return ns
}

type need struct{ controller, flag string }

func (n need) missing() error {
	return fmt.Errorf("%s needs the %s cgroup controller, which is not available (enable it in the kernel/boot options)",
		n.flag, n.controller)
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
