package cgroups

import (
	"reflect"
	"strings"
	"testing"
)

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

// mountinfoAll is a systemd host's full v1 layout, with co-mounted
// net_cls,net_prio, and name=systemd, which crate does not use.
const mountinfoAll = `25 18 0:22 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
30 25 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
31 25 0:28 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
32 25 0:29 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio
33 25 0:30 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer
34 25 0:31 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
35 25 0:32 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
`

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
