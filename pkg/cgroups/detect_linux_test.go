package cgroups

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// fakeSystem describes a host whose root has filesystem type rootType and
// whose mount table is mountinfo.
func fakeSystem(rootType int64, mountinfo string) system {
	return system{
		fsType:    func(string) (int64, error) { return rootType, nil },
		mountinfo: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(mountinfo)), nil },
	}
}

func TestDetectMode(t *testing.T) {
	tests := []struct {
		name    string
		fsType  int64
		want    Mode
		wantErr bool
	}{
		{"pure v2", unix.CGROUP2_SUPER_MAGIC, ModeV2, false},
		{"v1 or hybrid", unix.TMPFS_MAGIC, ModeV1, false},
		{"not a cgroup root", unix.EXT4_SUPER_MAGIC, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := detectMode("/sys/fs/cgroup", func(string) (int64, error) { return tt.fsType, nil })
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("detectMode = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestDetectModeHere checks the real host: this must not fail wherever the
// tests run (v1 hybrid on CI, v2 in the VM).
func TestDetectModeHere(t *testing.T) {
	mode, err := detectMode(DefaultRoot, hostSystem.fsType)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cgroup mode of this host: %v", mode)
}

func TestNewV1Hierarchies(t *testing.T) {
	withCPU := Limits{MemoryBytes: 1 << 20, CPUQuotaUs: 50000, CPUPeriodUs: 100000}
	noCPU := Limits{MemoryBytes: 1 << 20}
	tests := []struct {
		name            string
		mountinfo       string
		limits          Limits
		wantDirs        map[string]string
		wantPath        string
		wantHierarchies []string
	}{
		{"separate cpu and cpuacct", mountinfoSeparate, withCPU, map[string]string{
			"memory":  "/sys/fs/cgroup/memory/crate-x",
			"cpu":     "/sys/fs/cgroup/cpu/crate-x",
			"cpuacct": "/sys/fs/cgroup/cpuacct/crate-x",
			"pids":    "/sys/fs/cgroup/pids/crate-x",
		}, "/sys/fs/cgroup/memory/crate-x", []string{"memory", "cpu", "cpuacct", "pids"}},
		// No CPU limit: no CPU group of its own (a slower start, for nothing).
		{"separate cpu and cpuacct, no CPU limit", mountinfoSeparate, noCPU, map[string]string{
			"memory":  "/sys/fs/cgroup/memory/crate-x",
			"cpuacct": "/sys/fs/cgroup/cpuacct/crate-x",
			"pids":    "/sys/fs/cgroup/pids/crate-x",
		}, "/sys/fs/cgroup/memory/crate-x", []string{"memory", "cpuacct", "pids"}},
		// Co-mounted, cpu comes with cpuacct: the hierarchy is mounted by both names.
		{"co-mounted cpu,cpuacct, no CPU limit", mountinfoCoMounted, noCPU, map[string]string{
			"memory":  "/sys/fs/cgroup/memory/crate-x",
			"cpu":     "/sys/fs/cgroup/cpu,cpuacct/crate-x",
			"cpuacct": "/sys/fs/cgroup/cpu,cpuacct/crate-x",
			"pids":    "/sys/fs/cgroup/pids/crate-x",
		}, "/sys/fs/cgroup/memory/crate-x", []string{"memory", "cpu,cpuacct", "pids"}},
		{"device rules add the devices hierarchy, last", mountinfoSeparate,
			Limits{MemoryBytes: 1 << 20, CPUQuotaUs: 50000, CPUPeriodUs: 100000, Devices: spec.DefaultDeviceRules()}, map[string]string{
				"memory":  "/sys/fs/cgroup/memory/crate-x",
				"cpu":     "/sys/fs/cgroup/cpu/crate-x",
				"cpuacct": "/sys/fs/cgroup/cpuacct/crate-x",
				"pids":    "/sys/fs/cgroup/pids/crate-x",
				"devices": "/sys/fs/cgroup/devices/crate-x",
			}, "/sys/fs/cgroup/memory/crate-x", []string{"memory", "cpu", "cpuacct", "pids", "devices"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := newManager(nil, "/sys/fs/cgroup", "crate-x", tt.limits, fakeSystem(unix.TMPFS_MAGIC, tt.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			v := m.(*v1)
			if !reflect.DeepEqual(v.dirs, tt.wantDirs) {
				t.Errorf("dirs = %v, want %v", v.dirs, tt.wantDirs)
			}
			// Each hierarchy once, even when two controllers share it.
			seen := map[string]bool{}
			for _, d := range v.hierarchies {
				if seen[d] {
					t.Errorf("hierarchy %s listed twice", d)
				}
				seen[d] = true
			}
			if m.Path() != tt.wantPath || m.Mode() != ModeV1 {
				t.Errorf("Path, Mode = %s, %v; want %s, v1", m.Path(), m.Mode(), tt.wantPath)
			}
			if got := m.Hierarchies(); !reflect.DeepEqual(got, tt.wantHierarchies) {
				t.Errorf("Hierarchies = %q, want %q", got, tt.wantHierarchies)
			}
		})
	}
}

func TestNewMissingController(t *testing.T) {
	onlyCPU := "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
	v2Root := t.TempDir()
	if err := os.WriteFile(filepath.Join(v2Root, "cgroup.controllers"), []byte("cpuset cpu io\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sys     system
		limits  Limits
		wantErr string // "" when New must succeed
	}{
		{"v1 memory", fakeSystem(unix.TMPFS_MAGIC, onlyCPU), Limits{MemoryBytes: 1 << 20},
			"--memory needs the memory cgroup controller, which is not available"},
		{"v1 pids", fakeSystem(unix.TMPFS_MAGIC, onlyCPU), Limits{Pids: 10},
			"--pids needs the pids cgroup controller"},
		{"v1 cpu present", fakeSystem(unix.TMPFS_MAGIC, onlyCPU), Limits{CPUQuotaUs: 50000}, ""},
		{"v1 no limits need nothing", fakeSystem(unix.TMPFS_MAGIC, ""), Limits{}, ""},
		{"v2 memory", fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""), Limits{MemoryBytes: 1 << 20},
			"--memory needs the memory cgroup controller"},
		{"v2 cpu present", fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""), Limits{CPUQuotaUs: 50000}, ""},
		{"v1 devices", fakeSystem(unix.TMPFS_MAGIC, onlyCPU), Limits{Devices: spec.DefaultDeviceRules()},
			"the device allow-list needs the devices cgroup controller, which is not available"},
		// v2 has no devices controller: a BPF program does its work.
		{"v2 devices need no controller", fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""), Limits{Devices: spec.DefaultDeviceRules()}, ""},
		{"invalid device rule", fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""),
			Limits{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "x", Access: "r"}}}, "invalid device rule 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newManager(nil, v2Root, "crate-x", tt.limits, tt.sys)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("newManager = %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("newManager = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewV2EnablesOnlyAvailable(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory io\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := newManager(nil, root, "crate-x", Limits{}, fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""))
	if err != nil {
		t.Fatal(err)
	}
	v := m.(*v2)
	if want := []string{"memory", "cpu"}; !reflect.DeepEqual(v.enable, want) {
		t.Errorf("enable = %v, want %v", v.enable, want)
	}
	if want := filepath.Join(root, "crate-x"); m.Path() != want || m.Mode() != ModeV2 {
		t.Errorf("Path, Mode = %s, %v; want %s, v2", m.Path(), m.Mode(), want)
	}
}

func TestNewRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "../crate-x"} {
		if _, err := newManager(nil, "/sys/fs/cgroup", name, Limits{}, fakeSystem(unix.TMPFS_MAGIC, "")); err == nil {
			t.Errorf("newManager accepted the name %q", name)
		}
	}
}

// TestDestroyNeverCreated needs no root: nothing exists, so nothing is touched.
func TestDestroyNeverCreated(t *testing.T) {
	m, err := New(nil, DefaultRoot, "crate-test-never-created", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("Destroy of a cgroup never created: %v", err)
	}
	if err := m.Kill(); err != nil {
		t.Errorf("Kill of a cgroup never created: %v", err)
	}
}
