package cgroups

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

// crateRun is what crate run's --memory 32M --cpu 50 --pids 64 become
// (pkg/spec resources): memory+swap equal to memory, so no swap on top.
func crateRun() *specs.LinuxResources {
	return &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](32 << 20), Swap: ptr[int64](32 << 20)},
		CPU:    &specs.LinuxCPU{Quota: ptr[int64](50000), Period: ptr[uint64](100000)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](64)},
	}
}

func strs(ws []write) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

func TestV2Writes(t *testing.T) {
	dev := specs.LinuxBlockIODevice{Major: 8, Minor: 0}
	tests := []struct {
		name string
		r    *specs.LinuxResources
		want []string
	}{
		{"nil", nil, nil},
		{"empty", &specs.LinuxResources{}, nil},
		{"crate run", crateRun(), []string{"memory.max=33554432", "memory.swap.max?=0", "cpu.max=50000 100000", "pids.max=64"}},
		{"memory limit alone", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 30)}},
			[]string{"memory.max=1073741824"}},
		{"swap on top: memory+swap minus memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](300)}},
			[]string{"memory.max=100", "memory.swap.max?=200"}},
		{"swap -1 is max", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](-1)}},
			[]string{"memory.max=100", "memory.swap.max?=max"}},
		{"no memory limit, no swap limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-1), Swap: ptr[int64](0)}},
			[]string{"memory.max=max", "memory.swap.max?=max"}},
		{"swap 0 is unset", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](0)}},
			[]string{"memory.max=100"}},
		{"reservation is memory.low; v1-only fields ignored", &specs.LinuxResources{Memory: &specs.LinuxMemory{
			Reservation: ptr[int64](50), Swappiness: ptr[uint64](10), DisableOOMKiller: ptr(true)}},
			[]string{"memory.low=50"}},
		{"cpu quota with the default period", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](150000)}},
			[]string{"cpu.max=150000 100000"}},
		{"cpu period alone", &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr[uint64](50000)}},
			[]string{"cpu.max=max 50000"}},
		{"cpu quota -1", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](-1), Period: ptr[uint64](50000)}},
			[]string{"cpu.max=max 50000"}},
		{"shares as runc converts them", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](1024)}},
			[]string{"cpu.weight=39"}},
		{"cpuset, burst, idle", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1", Mems: "0", Burst: ptr[uint64](1000), Idle: ptr[int64](1)}},
			[]string{"cpu.max.burst?=1000", "cpu.idle?=1", "cpuset.cpus=0-1", "cpuset.mems=0"}},
		{"pids 0 and -1 are max", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](-1)}}, []string{"pids.max=max"}},
		{"pids 0", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](0)}}, []string{"pids.max=max"}},
		{"block I/O", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			Weight:                  ptr[uint16](500),
			WeightDevice:            []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev, Weight: ptr[uint16](10)}},
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 1 << 20}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 0}},
		}}, []string{"io.weight=4950", "io.weight=8:0 1", "io.max=8:0 rbps=1048576", "io.max=8:0 wiops=max"}},
		{"hugepages", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}},
			[]string{"hugetlb.2MB.max=4194304"}},
		{"unified last, sorted, over the others", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](5)},
			Unified: map[string]string{"pids.max": "7", "memory.high": "1000"}},
			[]string{"pids.max=5", "memory.high=1000", "pids.max=7"}},
		{"devices are no writes on v2", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := v2Writes(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if got := strs(ws); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("v2Writes = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestV2WritesRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    *specs.LinuxResources
		want string // the InvalidResourceError's Resource
	}{
		{"swap without a memory limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: ptr[int64](100)}}, "memory.swap"},
		{"swap below the limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](200), Swap: ptr[int64](100)}}, "memory.swap"},
		{"realtime", &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr[int64](100)}}, "cpu.realtimeRuntime"},
	} {
		_, err := v2Writes(tt.r)
		var ie *InvalidResourceError
		if !errors.As(err, &ie) || ie.Resource != tt.want {
			t.Errorf("%s: v2Writes = %v, want an InvalidResourceError for %s", tt.name, err, tt.want)
		}
	}
}

func TestV1Writes(t *testing.T) {
	dev := specs.LinuxBlockIODevice{Major: 8, Minor: 16}
	tests := []struct {
		name string
		r    *specs.LinuxResources
		want map[string][]string
	}{
		{"nil", nil, map[string][]string{}},
		{"crate run: limit before memsw, period before quota", crateRun(), map[string][]string{
			"memory": {"memory.limit_in_bytes=33554432", "memory.memsw.limit_in_bytes?=33554432"},
			"cpu":    {"cpu.cfs_period_us=100000", "cpu.cfs_quota_us=50000"},
			"pids":   {"pids.max=64"},
		}},
		{"no memory limit, no memsw limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-1), Swap: ptr[int64](0)}},
			map[string][]string{"memory": {"memory.limit_in_bytes=-1", "memory.memsw.limit_in_bytes?=-1"}}},
		{"memory extras", &specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: ptr[int64](10), Swappiness: ptr[uint64](0), DisableOOMKiller: ptr(true)}},
			map[string][]string{"memory": {"memory.soft_limit_in_bytes=10", "memory.swappiness=0", "memory.oom_control=1"}}},
		{"cpu quota with the default period", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](150000)}},
			map[string][]string{"cpu": {"cpu.cfs_period_us=100000", "cpu.cfs_quota_us=150000"}}},
		{"cpu period alone", &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr[uint64](50000)}},
			map[string][]string{"cpu": {"cpu.cfs_period_us=50000"}}},
		{"shares, realtime, cpuset", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](512),
			RealtimeRuntime: ptr[int64](950), RealtimePeriod: ptr[uint64](1000), Cpus: "1", Mems: "0"}},
			map[string][]string{
				"cpu":    {"cpu.shares=512", "cpu.rt_period_us=1000", "cpu.rt_runtime_us=950"},
				"cpuset": {"cpuset.cpus=1", "cpuset.mems=0"},
			}},
		{"pids -1", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](-1)}},
			map[string][]string{"pids": {"pids.max=max"}}},
		{"block I/O", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			Weight:                 ptr[uint16](300),
			WeightDevice:           []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev, Weight: ptr[uint16](20)}},
			ThrottleWriteBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 4096}},
		}}, map[string][]string{"blkio": {"blkio.weight|blkio.bfq.weight=300", "blkio.weight_device|blkio.bfq.weight_device=8:16 20",
			"blkio.throttle.write_bps_device=8:16 4096"}}},
		{"hugepages", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 1 << 30}}},
			map[string][]string{"hugetlb": {"hugetlb.1GB.limit_in_bytes=1073741824"}}},
		{"devices: deny all, then allow", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rw"}}},
			map[string][]string{"devices": {"devices.deny=a", "devices.allow=c 1:3 rw"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := v1Writes(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for c, w := range ws {
				got[c] = strs(w)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("v1Writes = %q, want %q", got, tt.want)
			}
		})
	}
	_, err := v1Writes(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}})
	var ie *InvalidResourceError
	if !errors.As(err, &ie) || ie.Resource != "unified" || !strings.Contains(err.Error(), "need cgroup v2") {
		t.Errorf("v1Writes with unified = %v, want an InvalidResourceError", err)
	}
}

// TestRuncConversions pins the v2 conversions to runc's formulas' ends.
func TestRuncConversions(t *testing.T) {
	for _, tt := range []struct{ shares, weight uint64 }{{0, 0}, {2, 1}, {1024, 39}, {262144, 10000}} {
		if got := CPUSharesToWeight(tt.shares); got != tt.weight {
			t.Errorf("CPUSharesToWeight(%d) = %d, want %d", tt.shares, got, tt.weight)
		}
	}
	for _, tt := range []struct{ blkio, io uint64 }{{0, 0}, {10, 1}, {500, 4950}, {1000, 10000}} {
		if got := BlkioWeightToIOWeight(tt.blkio); got != tt.io {
			t.Errorf("BlkioWeightToIOWeight(%d) = %d, want %d", tt.blkio, got, tt.io)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		r    *specs.LinuxResources
		want string // the InvalidResourceError's Resource; "" for valid
	}{
		{"nil", nil, ""},
		{"crate run", crateRun(), ""},
		{"at the bounds", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](1000), Period: ptr[uint64](1000000), Shares: ptr[uint64](2)}}, ""},
		{"no-limit values", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-1), Swap: ptr[int64](-1)},
			CPU: &specs.LinuxCPU{Quota: ptr[int64](-1)}, Pids: &specs.LinuxPids{Limit: ptr[int64](-1)}}, ""},
		{"negative memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-5)}}, "memory.limit"},
		{"swap below memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](10), Swap: ptr[int64](5)}}, "memory.swap"},
		{"swappiness", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr[uint64](101)}}, "memory.swappiness"},
		{"short period", &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr[uint64](999)}}, "cpu.period"},
		{"long period", &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr[uint64](1000001)}}, "cpu.period"},
		{"small quota", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](10)}}, "cpu.quota"},
		{"shares of 1", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](1)}}, "cpu.shares"},
		{"blkio weight", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](5)}}, "blockIO.weight"},
		{"hugepage size", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../2MB"}}}, "hugepageLimits.pagesize"},
		{"unified key with a slash", &specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}, "unified"},
		{"unified core file", &specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, "unified"},
	}
	for _, tt := range tests {
		err := Validate(tt.r)
		var ie *InvalidResourceError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Validate = %v, want nil", tt.name, err)
		case tt.want != "" && (!errors.As(err, &ie) || ie.Resource != tt.want):
			t.Errorf("%s: Validate = %v, want an InvalidResourceError for %s", tt.name, err, tt.want)
		}
	}
	err := Validate(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](10)}})
	if want := "invalid cpu.quota 10: must be -1 (no limit) or at least 1000 (µs)"; err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %q", err, want)
	}
}

func TestCheckUnified(t *testing.T) {
	err := checkUnified(map[string]string{"memory.high": "1", "io.max": "8:0 rbps=1"}, []string{"memory", "pids"})
	var me *MissingControllerError
	if !errors.As(err, &me) || me.Controller != "io" || me.Resource != "unified.io.max" {
		t.Errorf("checkUnified = %v, want io missing for unified.io.max", err)
	}
	if err := checkUnified(map[string]string{"memory.high": "1"}, []string{"memory"}); err != nil {
		t.Errorf("checkUnified = %v", err)
	}
	err = &MissingControllerError{Controller: "memory", Resource: "memory.limit"}
	want := "memory.limit needs the memory cgroup controller, which is not available (enable it in the kernel/boot options)"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

func TestCleanPath(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"crate-abc", "crate-abc"},
		{"/default/ctr1", "default/ctr1"},
		{"/docker/0123abcd", "docker/0123abcd"},
		{"/libpod_parent/libpod-x", "libpod_parent/libpod-x"},
		{"/kubepods/burstable/pod1234/ctr", "kubepods/burstable/pod1234/ctr"},
		{"relative/path", "relative/path"},
		{"//a//b/", "a/b"},
		{"/a/./b", "a/b"},
	} {
		if got, err := cleanPath(tt.path); err != nil || got != tt.want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
	for _, p := range []string{"", "/", ".", "..", "/..", "a/../b", "../crate-x", "/a/b/..", "./"} {
		if got, err := cleanPath(p); err == nil {
			t.Errorf("cleanPath(%q) = %q, want an error", p, got)
		}
	}
	if got := ancestors("a/b/c"); !reflect.DeepEqual(got, []string{"a", "a/b"}) {
		t.Errorf("ancestors = %q", got)
	}
	if got := ancestors("crate-x"); got != nil {
		t.Errorf("ancestors of a flat name = %q, want none", got)
	}
}

func TestMemswFirstWhenGrowing(t *testing.T) {
	ws, _ := v1Writes(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](200), Swap: ptr[int64](300)}})
	mem := ws["memory"]
	if got := strs(memswFirstWhenGrowing(mem, 100)); got[0] != "memory.memsw.limit_in_bytes?=300" {
		t.Errorf("growing from 100: %q, want memsw first", got)
	}
	if got := strs(memswFirstWhenGrowing(mem, 400)); got[0] != "memory.limit_in_bytes=200" {
		t.Errorf("shrinking from 400: %q, want the limit first", got)
	}
}
