package cgroups

import (
	"errors"
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
	withCPU := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20)},
		CPU: &specs.LinuxCPU{Quota: ptr[int64](50000), Period: ptr[uint64](100000)}}
	noCPU := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20)}}
	withDevices := *withCPU
	withDevices.Devices = spec.DefaultDeviceRules()
	tests := []struct {
		name            string
		mountinfo       string
		path            string
		all             bool
		limits          *specs.LinuxResources
		wantDirs        map[string]string
		wantPath        string
		wantHierarchies []string
	}{
		{"separate cpu and cpuacct", mountinfoSeparate, "crate-x", false, withCPU, map[string]string{
			"memory":  "/sys/fs/cgroup/memory/crate-x",
			"cpu":     "/sys/fs/cgroup/cpu/crate-x",
			"cpuacct": "/sys/fs/cgroup/cpuacct/crate-x",
			"pids":    "/sys/fs/cgroup/pids/crate-x",
		}, "/sys/fs/cgroup/memory/crate-x", []string{"memory", "cpu", "cpuacct", "pids"}},
		// No CPU limit: no CPU group of its own (a slower start, for nothing).
		{"separate cpu and cpuacct, no CPU limit", mountinfoSeparate, "crate-x", false, noCPU, map[string]string{
			"memory":  "/sys/fs/cgroup/memory/crate-x",
			"cpuacct": "/sys/fs/cgroup/cpuacct/crate-x",
			"pids":    "/sys/fs/cgroup/pids/crate-x",
		}, "/sys/fs/cgroup/memory/crate-x", []string{"memory", "cpuacct", "pids"}},
		// Co-mounted, cpu comes with cpuacct: the hierarchy is mounted by both names.
		{"co-mounted cpu,cpuacct, no CPU limit", mountinfoCoMounted, "crate-x", false, noCPU, map[string]string{
			"memory":  "/sys/fs/cgroup/memory/crate-x",
			"cpu":     "/sys/fs/cgroup/cpu,cpuacct/crate-x",
			"cpuacct": "/sys/fs/cgroup/cpu,cpuacct/crate-x",
			"pids":    "/sys/fs/cgroup/pids/crate-x",
		}, "/sys/fs/cgroup/memory/crate-x", []string{"memory", "cpu,cpuacct", "pids"}},
		{"device rules add the devices hierarchy, last", mountinfoSeparate, "crate-x", false,
			&withDevices, map[string]string{
				"memory":  "/sys/fs/cgroup/memory/crate-x",
				"cpu":     "/sys/fs/cgroup/cpu/crate-x",
				"cpuacct": "/sys/fs/cgroup/cpuacct/crate-x",
				"pids":    "/sys/fs/cgroup/pids/crate-x",
				"devices": "/sys/fs/cgroup/devices/crate-x",
			}, "/sys/fs/cgroup/memory/crate-x", []string{"memory", "cpu", "cpuacct", "pids", "devices"}},
		// An engine's nested path, in every hierarchy: freezer, cpuset,
		// blkio and the rest too, devices last all the same.
		{"all hierarchies, nested path", mountinfoAll, "/kubepods/pod1/ctr", true, nil, map[string]string{
			"memory":   "/sys/fs/cgroup/memory/kubepods/pod1/ctr",
			"cpu":      "/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr",
			"cpuacct":  "/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr",
			"pids":     "/sys/fs/cgroup/pids/kubepods/pod1/ctr",
			"cpuset":   "/sys/fs/cgroup/cpuset/kubepods/pod1/ctr",
			"blkio":    "/sys/fs/cgroup/blkio/kubepods/pod1/ctr",
			"freezer":  "/sys/fs/cgroup/freezer/kubepods/pod1/ctr",
			"net_cls":  "/sys/fs/cgroup/net_cls,net_prio/kubepods/pod1/ctr",
			"net_prio": "/sys/fs/cgroup/net_cls,net_prio/kubepods/pod1/ctr",
			"devices":  "/sys/fs/cgroup/devices/kubepods/pod1/ctr",
		}, "/sys/fs/cgroup/memory/kubepods/pod1/ctr",
			[]string{"memory", "cpu,cpuacct", "pids", "cpuset", "blkio", "freezer", "net_cls,net_prio", "devices"}},
		// Not all: a cpuset limit adds the cpuset hierarchy alone.
		{"cpuset limit", mountinfoAll, "crate-x", false, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}}, map[string]string{
			"memory":  "/sys/fs/cgroup/memory/crate-x",
			"cpu":     "/sys/fs/cgroup/cpu,cpuacct/crate-x",
			"cpuacct": "/sys/fs/cgroup/cpu,cpuacct/crate-x",
			"pids":    "/sys/fs/cgroup/pids/crate-x",
			"cpuset":  "/sys/fs/cgroup/cpuset/crate-x",
		}, "/sys/fs/cgroup/memory/crate-x", []string{"memory", "cpu,cpuacct", "pids", "cpuset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := newManager(nil, Config{Root: "/sys/fs/cgroup", Path: tt.path, Resources: tt.limits, AllHierarchies: tt.all},
				fakeSystem(unix.TMPFS_MAGIC, tt.mountinfo))
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
	memory := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20)}}
	cpu := &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](50000)}}
	tests := []struct {
		name           string
		sys            system
		limits         *specs.LinuxResources
		wantController string // "" when New must succeed
		wantResource   string
	}{
		{"v1 memory", fakeSystem(unix.TMPFS_MAGIC, onlyCPU), memory, "memory", "memory.limit"},
		{"v1 pids", fakeSystem(unix.TMPFS_MAGIC, onlyCPU), &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}, "pids", "pids.limit"},
		{"v1 cpu present", fakeSystem(unix.TMPFS_MAGIC, onlyCPU), cpu, "", ""},
		{"v1 no limits need nothing", fakeSystem(unix.TMPFS_MAGIC, ""), nil, "", ""},
		{"v2 memory", fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""), memory, "memory", "memory.limit"},
		{"v2 cpu present", fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""), cpu, "", ""},
		{"v2 io", fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""), &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](100)}}, "", ""},
		{"v2 hugetlb", fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""), &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB"}}},
			"hugetlb", "hugepageLimits"},
		{"v2 unified of a missing controller", fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""),
			&specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, "memory", "unified.memory.high"},
		{"v1 devices", fakeSystem(unix.TMPFS_MAGIC, onlyCPU), &specs.LinuxResources{Devices: spec.DefaultDeviceRules()}, "devices", "devices"},
		// v2 has no devices controller: a BPF program does its work.
		{"v2 devices need no controller", fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""), &specs.LinuxResources{Devices: spec.DefaultDeviceRules()}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newManager(nil, Config{Root: v2Root, Path: "crate-x", Resources: tt.limits}, tt.sys)
			var me *MissingControllerError
			switch {
			case tt.wantController == "" && err != nil:
				t.Errorf("newManager = %v, want success", err)
			case tt.wantController != "" && (!errors.As(err, &me) || *me != MissingControllerError{tt.wantController, tt.wantResource}):
				t.Errorf("newManager = %v, want %s missing for %s", err, tt.wantController, tt.wantResource)
			}
		})
	}
	_, err := newManager(nil, Config{Root: v2Root, Path: "crate-x",
		Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "x", Access: "r"}}}},
		fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""))
	if err == nil || !strings.Contains(err.Error(), "invalid device rule 0") {
		t.Errorf("newManager with a bad device rule = %v", err)
	}
}

func TestNewV2EnablesOnlyAvailable(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory io\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := newManager(nil, Config{Root: root, Path: "crate-x"}, fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""))
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
	// What the resources need comes on top, if the root offers it.
	m, err = newManager(nil, Config{Root: root, Path: "/a/b", Resources: &specs.LinuxResources{
		BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](100)}}}, fakeSystem(unix.CGROUP2_SUPER_MAGIC, ""))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"memory", "cpu", "io"}; !reflect.DeepEqual(m.(*v2).enable, want) {
		t.Errorf("enable = %v, want %v", m.(*v2).enable, want)
	}
	if want := filepath.Join(root, "a/b"); m.Path() != want {
		t.Errorf("Path = %s, want %s", m.Path(), want)
	}
}

func TestNewRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", ".", "..", "/", "a/../b", "../crate-x"} {
		if _, err := newManager(nil, Config{Root: "/sys/fs/cgroup", Path: name}, fakeSystem(unix.TMPFS_MAGIC, "")); err == nil {
			t.Errorf("newManager accepted the name %q", name)
		}
	}
}

// TestDestroyNeverCreated needs no root: nothing exists, so nothing is touched.
func TestDestroyNeverCreated(t *testing.T) {
	m, err := New(nil, Config{Root: DefaultRoot, Path: "crate-test-never-created"})
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
