package cgroups

// The one translation of a limit, from the OCI runtime spec's LinuxResources
// to the files of a cgroup: v1Writes and v2Writes. They are pure so that every
// conversion (the runc-compatible ones included) is table-tested without root.

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultCPUPeriodUs is the kernel's default CFS period; a quota alone is
// interpreted relative to it, as docker and runc do.
const DefaultCPUPeriodUs = 100000

// MissingControllerError says a limit needs a controller the host does not
// offer. Resource is the spec's field ("memory.limit", "pids.limit",
// "devices", "unified.io.max"): a caller words it in its own terms (crate run
// names the flag).
type MissingControllerError struct {
	Controller string
	Resource   string
}

func (e *MissingControllerError) Error() string {
	return fmt.Sprintf("%s needs the %s cgroup controller, which is not available (enable it in the kernel/boot options)",
		e.Resource, e.Controller)
}

// InvalidResourceError is a value the kernel would refuse later with a bare
// EINVAL, or that crate cannot apply on this host's cgroup version. Resource
// is the spec's field, as in MissingControllerError.
type InvalidResourceError struct {
	Resource string
	Value    string
	Reason   string
}

func (e *InvalidResourceError) Error() string {
	return fmt.Sprintf("invalid %s %s: %s", e.Resource, e.Value, e.Reason)
}

// NotInHierarchyError says a v1 cgroup was made without the hierarchy of a
// controller an operation needs (Freeze needs freezer; an Update may need
// cpu): only the hierarchies its resources needed, as for crate run, not
// Config.AllHierarchies.
type NotInHierarchyError struct{ Controller string }

func (e *NotInHierarchyError) Error() string {
	return fmt.Sprintf("the cgroup is not in the cgroup v1 %s hierarchy (it was made without AllHierarchies)", e.Controller)
}

func invalid(resource string, value any, reason string) error {
	return &InvalidResourceError{Resource: resource, Value: fmt.Sprint(value), Reason: reason}
}

// Validate rejects resources the kernel would reject later with a less
// helpful EINVAL, whatever the cgroup version. A nil r is no limits.
func Validate(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if m := r.Memory; m != nil {
		for _, f := range []struct {
			name string
			v    *int64
		}{{"memory.limit", m.Limit}, {"memory.reservation", m.Reservation}, {"memory.swap", m.Swap}} {
			if f.v != nil && *f.v < -1 {
				return invalid(f.name, *f.v, "must be -1 (no limit), 0 (unset) or a number of bytes")
			}
		}
		// OCI's swap is memory+swap, so it cannot be below the memory limit.
		if m.Limit != nil && m.Swap != nil && *m.Limit > 0 && *m.Swap > 0 && *m.Swap < *m.Limit {
			return invalid("memory.swap", *m.Swap, fmt.Sprintf("memory+swap must be at least memory.limit (%d)", *m.Limit))
		}
		if m.Swappiness != nil && *m.Swappiness > 100 {
			return invalid("memory.swappiness", *m.Swappiness, "must be between 0 and 100")
		}
	}
	if c := r.CPU; c != nil {
		// The kernel accepts CFS periods from 1 ms to 1 s and quotas of at least 1 ms.
		if c.Period != nil && *c.Period != 0 && (*c.Period < 1000 || *c.Period > 1000000) {
			return invalid("cpu.period", *c.Period, "must be between 1000 and 1000000 (µs)")
		}
		if c.Quota != nil && *c.Quota != 0 && *c.Quota != -1 && *c.Quota < 1000 {
			return invalid("cpu.quota", *c.Quota, "must be -1 (no limit) or at least 1000 (µs)")
		}
		// Below 2, runc's weight conversion would wrap around.
		if c.Shares != nil && *c.Shares != 0 && (*c.Shares < 2 || *c.Shares > 262144) {
			return invalid("cpu.shares", *c.Shares, "must be between 2 and 262144")
		}
		if c.Idle != nil && *c.Idle != 0 && *c.Idle != 1 {
			return invalid("cpu.idle", *c.Idle, "must be 0 or 1")
		}
	}
	if b := r.BlockIO; b != nil {
		if err := validWeight("blockIO.weight", b.Weight); err != nil {
			return err
		}
		for _, d := range b.WeightDevice {
			if err := validWeight("blockIO.weightDevice", d.Weight); err != nil {
				return err
			}
		}
	}
	for _, h := range r.HugepageLimits {
		if !pageSize.MatchString(h.Pagesize) {
			return invalid("hugepageLimits.pagesize", strconv.Quote(h.Pagesize), "want a size such as 2MB or 1GB")
		}
	}
	for k := range r.Unified {
		if k == "" || strings.ContainsRune(k, '/') || !strings.Contains(k, ".") || strings.HasPrefix(k, "cgroup.") {
			return invalid("unified", strconv.Quote(k), "want the name of a controller's file, such as memory.high")
		}
	}
	return validateDevices(r.Devices)
}

func validWeight(name string, w *uint16) error {
	if w != nil && *w != 0 && (*w < 10 || *w > 1000) {
		return invalid(name, *w, "must be between 10 and 1000")
	}
	return nil
}

// pageSize is a hugepage size as the hugetlb files name it.
var pageSize = regexp.MustCompile(`^[0-9]+[KMG]B$`)

// write is one value written to one file of the cgroup directory.
type write struct {
	file  string
	value string
	// optional writes are skipped when the file does not exist: swap limits
	// are missing when the kernel does not account swap (swapaccount=0),
	// cpu.idle and the CPU burst on older kernels.
	optional bool
	// alt is the file to write instead when file does not exist.
	alt string
	// resource is the spec's field the write comes from, for errors.
	resource string
}

// String is "file=value", with a "?" after an optional file and "|alt".
func (w write) String() string {
	f := w.file
	if w.alt != "" {
		f += "|" + w.alt
	}
	if w.optional {
		f += "?"
	}
	return f + "=" + w.value
}

func itoa[T int64 | uint64 | uint16 | uint32](v T) string { return fmt.Sprint(v) }

// set reports whether an optional number is given and not 0, which the spec
// (and runc) read as "unset".
func set[T int64 | uint64 | uint16](p *T) bool { return p != nil && *p != 0 }

// orMax is a v2 limit: -1 is "max".
func orMax(v int64) string {
	if v < 0 {
		return "max"
	}
	return itoa(v)
}

// cpuPeriod is the period to write, or 0 when none is needed.
func cpuPeriod(c *specs.LinuxCPU) uint64 {
	if set(c.Period) {
		return *c.Period
	}
	if set(c.Quota) {
		return DefaultCPUPeriodUs
	}
	return 0
}

// pidsMax is pids.max on both versions: as runc, 0 and below are no limit.
func pidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return itoa(limit)
}

// CPUSharesToWeight converts cgroup v1 cpu.shares (2..262144) to v2
// cpu.weight (1..10000) as runc does, so that a spec means the same under
// either runtime.
func CPUSharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	return 1 + ((shares-2)*9999)/262142
}

// BlkioWeightToIOWeight converts v1 blkio.weight (10..1000) to v2 io.weight
// (1..10000) as runc does.
func BlkioWeightToIOWeight(weight uint64) uint64 {
	if weight == 0 {
		return 0
	}
	return 1 + (weight-10)*9999/990
}

// v2SwapMax is memory.swap.max for OCI's memory+swap, as runc converts it:
// swap alone on v2. ok is false when nothing is to be written.
func v2SwapMax(m *specs.LinuxMemory) (value string, ok bool, err error) {
	var limit int64
	if m.Limit != nil {
		limit = *m.Limit
	}
	swap := *m.Swap
	switch {
	case limit == -1 && swap == 0, swap == -1:
		return "max", true, nil
	case swap == 0:
		return "", false, nil
	case limit <= 0:
		return "", false, invalid("memory.swap", swap, "a memory+swap limit needs a memory limit on cgroup v2")
	case swap < limit:
		return "", false, invalid("memory.swap", swap, fmt.Sprintf("memory+swap must be at least memory.limit (%d)", limit))
	}
	return itoa(swap - limit), true, nil
}

// blockDevice is "MAJOR:MINOR", as the io and blkio files name a device.
func blockDevice(d specs.LinuxBlockIODevice) string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// throttles lists the spec's block I/O throttles with their v1 file and v2
// io.max key.
func throttles(b *specs.LinuxBlockIO) []struct {
	resource, v1File, v2Key string
	devices                 []specs.LinuxThrottleDevice
} {
	return []struct {
		resource, v1File, v2Key string
		devices                 []specs.LinuxThrottleDevice
	}{
		{"blockIO.throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps", b.ThrottleReadBpsDevice},
		{"blockIO.throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps", b.ThrottleWriteBpsDevice},
		{"blockIO.throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops", b.ThrottleReadIOPSDevice},
		{"blockIO.throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops", b.ThrottleWriteIOPSDevice},
	}
}

// v2Writes turns resources into writes to the single cgroup2 directory, in
// order; unified's come last, so that they override. Device rules are not
// writes on v2 (see devices_bpf_linux.go). Each write's controller is the
// prefix of its file name (controllerOf).
func v2Writes(r *specs.LinuxResources) ([]write, error) {
	if r == nil {
		return nil, nil
	}
	var ws []write
	add := func(resource, file, value string) {
		ws = append(ws, write{file: file, value: value, resource: resource})
	}
	if m := r.Memory; m != nil {
		if set(m.Limit) {
			add("memory.limit", "memory.max", orMax(*m.Limit))
		}
		if set(m.Reservation) {
			add("memory.reservation", "memory.low", orMax(*m.Reservation))
		}
		if m.Swap != nil {
			v, ok, err := v2SwapMax(m)
			if err != nil {
				return nil, err
			}
			if ok {
				ws = append(ws, write{file: "memory.swap.max", value: v, optional: true, resource: "memory.swap"})
			}
		}
		// swappiness, disableOOMKiller and the kernel memory limits have no
		// v2 file; runc ignores them there too.
	}
	if c := r.CPU; c != nil {
		if set(c.Shares) {
			add("cpu.shares", "cpu.weight", itoa(CPUSharesToWeight(*c.Shares)))
		}
		if p := cpuPeriod(c); p != 0 {
			quota := "max"
			if set(c.Quota) {
				quota = orMax(*c.Quota)
			}
			add("cpu.quota", "cpu.max", quota+" "+itoa(p))
		}
		if c.Burst != nil {
			ws = append(ws, write{file: "cpu.max.burst", value: itoa(*c.Burst), optional: true, resource: "cpu.burst"})
		}
		if c.Idle != nil {
			ws = append(ws, write{file: "cpu.idle", value: itoa(*c.Idle), optional: true, resource: "cpu.idle"})
		}
		if set(c.RealtimeRuntime) || set(c.RealtimePeriod) {
			return nil, invalid("cpu.realtimeRuntime", "", "realtime CPU limits are not offered by cgroup v2")
		}
		if c.Cpus != "" {
			add("cpu.cpus", "cpuset.cpus", c.Cpus)
		}
		if c.Mems != "" {
			add("cpu.mems", "cpuset.mems", c.Mems)
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		add("pids.limit", "pids.max", pidsMax(*r.Pids.Limit))
	}
	if b := r.BlockIO; b != nil {
		if set(b.Weight) {
			add("blockIO.weight", "io.weight", itoa(BlkioWeightToIOWeight(uint64(*b.Weight))))
		}
		for _, d := range b.WeightDevice {
			if set(d.Weight) {
				add("blockIO.weightDevice", "io.weight",
					blockDevice(d.LinuxBlockIODevice)+" "+itoa(BlkioWeightToIOWeight(uint64(*d.Weight))))
			}
		}
		for _, t := range throttles(b) {
			for _, d := range t.devices {
				rate := "max" // a rate of 0 lifts the limit, as on v1
				if d.Rate != 0 {
					rate = itoa(d.Rate)
				}
				add(t.resource, "io.max", blockDevice(d.LinuxBlockIODevice)+" "+t.v2Key+"="+rate)
			}
		}
	}
	for _, h := range r.HugepageLimits {
		add("hugepageLimits", "hugetlb."+h.Pagesize+".max", itoa(h.Limit))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Unified)) {
		add("unified."+k, k, r.Unified[k])
	}
	return ws, nil
}

// controllerOf is the v2 controller of a cgroup file: "io" for io.max.
func controllerOf(file string) string {
	c, _, _ := strings.Cut(file, ".")
	return c
}

// v1Writes turns resources into writes per v1 controller, in order within
// each controller. The order matters: memsw must stay >= memory.limit at
// every moment (Create starts from no limit; Update reorders when a limit
// grows, see v1.Update), and the quota is checked against the period.
func v1Writes(r *specs.LinuxResources) (map[string][]write, error) {
	ws := map[string][]write{}
	if r == nil {
		return ws, nil
	}
	add := func(controller string, w write) { ws[controller] = append(ws[controller], w) }
	if m := r.Memory; m != nil {
		if set(m.Limit) {
			add("memory", write{file: "memory.limit_in_bytes", value: itoa(*m.Limit), resource: "memory.limit"})
		}
		if m.Swap != nil {
			swap := *m.Swap
			if swap == 0 && m.Limit != nil && *m.Limit == -1 {
				swap = -1 // no memory limit: no memory+swap limit either
			}
			if swap != 0 {
				add("memory", write{file: "memory.memsw.limit_in_bytes", value: itoa(swap), optional: true, resource: "memory.swap"})
			}
		}
		if set(m.Reservation) {
			add("memory", write{file: "memory.soft_limit_in_bytes", value: itoa(*m.Reservation), resource: "memory.reservation"})
		}
		if m.Swappiness != nil {
			add("memory", write{file: "memory.swappiness", value: itoa(*m.Swappiness), resource: "memory.swappiness"})
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			add("memory", write{file: "memory.oom_control", value: "1", resource: "memory.disableOOMKiller"})
		}
	}
	if c := r.CPU; c != nil {
		if set(c.Shares) {
			add("cpu", write{file: "cpu.shares", value: itoa(*c.Shares), resource: "cpu.shares"})
		}
		if p := cpuPeriod(c); p != 0 {
			add("cpu", write{file: "cpu.cfs_period_us", value: itoa(p), resource: "cpu.period"})
			if set(c.Quota) {
				add("cpu", write{file: "cpu.cfs_quota_us", value: itoa(*c.Quota), resource: "cpu.quota"})
			}
		}
		if c.Burst != nil {
			add("cpu", write{file: "cpu.cfs_burst_us", value: itoa(*c.Burst), optional: true, resource: "cpu.burst"})
		}
		// The period first: the kernel checks the runtime against it.
		if set(c.RealtimePeriod) {
			add("cpu", write{file: "cpu.rt_period_us", value: itoa(*c.RealtimePeriod), resource: "cpu.realtimePeriod"})
		}
		if set(c.RealtimeRuntime) {
			add("cpu", write{file: "cpu.rt_runtime_us", value: itoa(*c.RealtimeRuntime), resource: "cpu.realtimeRuntime"})
		}
		if c.Idle != nil {
			add("cpu", write{file: "cpu.idle", value: itoa(*c.Idle), optional: true, resource: "cpu.idle"})
		}
		if c.Cpus != "" {
			add("cpuset", write{file: "cpuset.cpus", value: c.Cpus, resource: "cpu.cpus"})
		}
		if c.Mems != "" {
			add("cpuset", write{file: "cpuset.mems", value: c.Mems, resource: "cpu.mems"})
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		add("pids", write{file: "pids.max", value: pidsMax(*r.Pids.Limit), resource: "pids.limit"})
	}
	if b := r.BlockIO; b != nil {
		// Kernels without CFQ (5.0 and later) offer BFQ's weight instead.
		if set(b.Weight) {
			add("blkio", write{file: "blkio.weight", alt: "blkio.bfq.weight", value: itoa(*b.Weight), resource: "blockIO.weight"})
		}
		if set(b.LeafWeight) {
			add("blkio", write{file: "blkio.leaf_weight", value: itoa(*b.LeafWeight), optional: true, resource: "blockIO.leafWeight"})
		}
		for _, d := range b.WeightDevice {
			if set(d.Weight) {
				add("blkio", write{file: "blkio.weight_device", alt: "blkio.bfq.weight_device",
					value: blockDevice(d.LinuxBlockIODevice) + " " + itoa(*d.Weight), resource: "blockIO.weightDevice"})
			}
		}
		for _, t := range throttles(b) {
			for _, d := range t.devices {
				add("blkio", write{file: t.v1File, value: blockDevice(d.LinuxBlockIODevice) + " " + itoa(d.Rate), resource: t.resource})
			}
		}
	}
	for _, h := range r.HugepageLimits {
		add("hugetlb", write{file: "hugetlb." + h.Pagesize + ".limit_in_bytes", value: itoa(h.Limit), resource: "hugepageLimits"})
	}
	if r.Devices != nil {
		ws["devices"] = v1DeviceWrites(r.Devices)
	}
	if len(r.Unified) > 0 {
		k := slices.Sorted(maps.Keys(r.Unified))[0]
		return nil, invalid("unified", strconv.Quote(k), "unified resources need cgroup v2; this host runs cgroup v1")
	}
	return ws, nil
}

// checkUnified refuses a unified key whose controller the cgroup does not
// have (available: the root's cgroup.controllers), before anything is made.
func checkUnified(unified map[string]string, available []string) error {
	for _, k := range slices.Sorted(maps.Keys(unified)) {
		if c := controllerOf(k); !slices.Contains(available, c) {
			return &MissingControllerError{Controller: c, Resource: "unified." + k}
		}
	}
	return nil
}

// cleanPath checks a cgroup path (Config.Path) and returns it relative to
// the root of each hierarchy, without a leading "/": "crate-abc",
// "kubepods/burstable/pod1/abc".
func cleanPath(p string) (string, error) {
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", fmt.Errorf("invalid cgroup path %q: must not contain ..", p)
		}
	}
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	if rel == "" {
		return "", fmt.Errorf("invalid cgroup path %q: must name a cgroup below the root", p)
	}
	return rel, nil
}

// ancestors lists the cgroups above rel, from the top: "a", "a/b" for
// "a/b/c"; none for a flat name.
func ancestors(rel string) []string {
	var out []string
	for i := range len(rel) {
		if rel[i] == '/' {
			out = append(out, rel[:i])
		}
	}
	return out
}
