package cgroups

import (
	"reflect"
	"strings"
	"testing"
)

func TestV2Writes(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		want   []write
	}{
		{"no limits", Limits{}, nil},
		{"memory", Limits{MemoryBytes: 32 << 20}, []write{
			{file: "memory.max", value: "33554432"},
			{file: "memory.swap.max", value: "0", optional: true},
		}},
		{"cpu quota and period", Limits{CPUQuotaUs: 50000, CPUPeriodUs: 200000}, []write{
			{file: "cpu.max", value: "50000 200000"},
		}},
		{"cpu quota with the default period", Limits{CPUQuotaUs: 150000}, []write{
			{file: "cpu.max", value: "150000 100000"},
		}},
		{"cpu period alone", Limits{CPUPeriodUs: 50000}, []write{
			{file: "cpu.max", value: "max 50000"},
		}},
		{"pids", Limits{Pids: 64}, []write{{file: "pids.max", value: "64"}}},
		{"all", Limits{MemoryBytes: 1 << 30, CPUQuotaUs: 100000, CPUPeriodUs: 100000, Pids: 10}, []write{
			{file: "memory.max", value: "1073741824"},
			{file: "memory.swap.max", value: "0", optional: true},
			{file: "cpu.max", value: "100000 100000"},
			{file: "pids.max", value: "10"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := v2Writes(tt.limits); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("v2Writes(%+v) = %v, want %v", tt.limits, got, tt.want)
			}
		})
	}
}

func TestV1Writes(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		want   map[string][]write
	}{
		{"no limits", Limits{}, map[string][]write{}},
		{"memory: limit before memsw", Limits{MemoryBytes: 32 << 20}, map[string][]write{
			"memory": {
				{file: "memory.limit_in_bytes", value: "33554432"},
				{file: "memory.memsw.limit_in_bytes", value: "33554432", optional: true},
			},
		}},
		{"cpu: period before quota", Limits{CPUQuotaUs: 50000, CPUPeriodUs: 200000}, map[string][]write{
			"cpu": {
				{file: "cpu.cfs_period_us", value: "200000"},
				{file: "cpu.cfs_quota_us", value: "50000"},
			},
		}},
		{"cpu quota with the default period", Limits{CPUQuotaUs: 150000}, map[string][]write{
			"cpu": {
				{file: "cpu.cfs_period_us", value: "100000"},
				{file: "cpu.cfs_quota_us", value: "150000"},
			},
		}},
		{"cpu period alone", Limits{CPUPeriodUs: 50000}, map[string][]write{
			"cpu": {{file: "cpu.cfs_period_us", value: "50000"}},
		}},
		{"pids", Limits{Pids: 64}, map[string][]write{
			"pids": {{file: "pids.max", value: "64"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := v1Writes(tt.limits); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("v1Writes(%+v) = %v, want %v", tt.limits, got, tt.want)
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		limits  Limits
		wantErr string // "" for valid
	}{
		{Limits{}, ""},
		{Limits{MemoryBytes: 1 << 20, CPUQuotaUs: 1000, CPUPeriodUs: 1000000, Pids: 1}, ""},
		{Limits{MemoryBytes: -1}, "invalid memory limit -1"},
		{Limits{Pids: -5}, "invalid pids limit -5"},
		{Limits{CPUPeriodUs: 999}, "invalid cpu period 999us"},
		{Limits{CPUPeriodUs: 1000001}, "invalid cpu period 1000001us"},
		{Limits{CPUQuotaUs: 10}, "invalid cpu quota 10us"},
	}
	for _, tt := range tests {
		err := tt.limits.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tt.limits, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tt.limits, err, tt.wantErr)
		}
	}
}

func TestNeededControllers(t *testing.T) {
	tests := []struct {
		limits Limits
		want   []string
	}{
		{Limits{}, nil},
		{Limits{MemoryBytes: 1}, []string{"memory"}},
		{Limits{CPUPeriodUs: 100000}, []string{"cpu"}},
		{Limits{MemoryBytes: 1, CPUQuotaUs: 1000, Pids: 1}, []string{"memory", "cpu", "pids"}},
	}
	for _, tt := range tests {
		var got []string
		for _, n := range neededControllers(tt.limits) {
			got = append(got, n.controller)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("neededControllers(%+v) = %v, want %v", tt.limits, got, tt.want)
		}
	}
	err := need{controller: "memory", flag: "--memory"}.missing()
	want := "--memory needs the memory cgroup controller, which is not available (enable it in the kernel/boot options)"
	if err.Error() != want {
		t.Errorf("missing() = %q, want %q", err, want)
	}
}

func TestParseKeyValues(t *testing.T) {
	tests := []struct {
		name, text string
		want       map[string]uint64
	}{
		{"v2 memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n",
			map[string]uint64{"low": 0, "high": 0, "max": 12, "oom": 2, "oom_kill": 1, "oom_group_kill": 0}},
		{"v1 memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
			map[string]uint64{"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 3}},
		{"v1 memory.oom_control before 4.13", "oom_kill_disable 0\nunder_oom 0\n",
			map[string]uint64{"oom_kill_disable": 0, "under_oom": 0}},
		{"v2 cpu.stat", "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\nnr_periods 0\n",
			map[string]uint64{"usage_usec": 123456, "user_usec": 100000, "system_usec": 23456, "nr_periods": 0}},
		{"cgroup.events", "populated 1\nfrozen 0\n", map[string]uint64{"populated": 1, "frozen": 0}},
		{"odd lines skipped", "\nsome thing else\nkey 7\n", map[string]uint64{"key": 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKeyValues(strings.NewReader(tt.text))
			if err != nil {
				t.Fatalf("parseKeyValues: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseKeyValues = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := parseKeyValues(strings.NewReader("oom_kill many\n")); err == nil {
		t.Error("parseKeyValues accepted a value that is not a number")
	}
}

func TestParseUint(t *testing.T) {
	tests := []struct {
		text    string
		want    uint64
		wantErr bool
	}{
		{"1048576\n", 1048576, false},
		{"max\n", 0, false},
		{"0", 0, false},
		{"", 0, true},
		{"-1\n", 0, true},
	}
	for _, tt := range tests {
		got, err := parseUint([]byte(tt.text))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseUint(%q) = %d, %v; want %d, error %v", tt.text, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseProcs(t *testing.T) {
	got, err := parseProcs([]byte("1\n42\n31337\n"))
	if err != nil || !reflect.DeepEqual(got, []int{1, 42, 31337}) {
		t.Errorf("parseProcs = %v, %v", got, err)
	}
	if got, err := parseProcs(nil); err != nil || got != nil {
		t.Errorf("parseProcs(empty) = %v, %v; want nil, nil", got, err)
	}
	if _, err := parseProcs([]byte("12\nx\n")); err == nil {
		t.Error("parseProcs accepted a pid that is not a number")
	}
}

// Mount tables as the hosts crate meets print them.
const (
	// Debian with cpu and cpuacct as separate hierarchies (our CI) and the
	// controller-less cgroup2 of a hybrid host.
	mountinfoSeparate = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	// systemd's usual layout: cpu and cpuacct co-mounted, with optional
	// fields before the separator.
	mountinfoCoMounted = `25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
30 25 0:27 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids
31 25 0:28 / /tmp/other\040place/memory rw,relatime - cgroup cgroup rw,memory
`
)

func TestParseV1Mounts(t *testing.T) {
	tests := []struct {
		name, text string
		want       map[string]string
	}{
		{"separate cpu and cpuacct", mountinfoSeparate, map[string]string{
			"cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct",
			"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids",
			"devices": "/sys/fs/cgroup/devices",
		}},
		{"co-mounted cpu,cpuacct; first mount wins", mountinfoCoMounted, map[string]string{
			"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
			"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids",
		}},
		{"pure v2 has none", "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", map[string]string{}},
		{"escaped mount point", `31 25 0:28 / /tmp/a\040b rw - cgroup cgroup rw,memory` + "\n",
			map[string]string{"memory": "/tmp/a b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseV1Mounts(strings.NewReader(tt.text))
			if err != nil {
				t.Fatalf("parseV1Mounts: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseV1Mounts = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := parseV1Mounts(strings.NewReader("1 2 3\n")); err == nil {
		t.Error("parseV1Mounts accepted a truncated line")
	}
}

func TestModeString(t *testing.T) {
	if ModeV1.String() != "v1" || ModeV2.String() != "v2" {
		t.Errorf("String() = %q, %q; want v1, v2", ModeV1, ModeV2)
	}
}
