package hostcheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHost is a host described by files under a temporary directory and by
// the answers of its system calls.
type fakeHost struct {
	dir    string
	proc   string // ProcRoot
	cgroup string // CgroupRoot
	state  string // StateRoot, which exists
	files  map[string]string
	mounts []string // mountinfo lines, numbered when written
	nsRoot bool     // the first line ("/") is the namespace's root mount
	probes probes
	init   func() (string, error)
}

// newFakeHost is a healthy pure cgroup v2 host on Linux 6.1.
func newFakeHost(t *testing.T) *fakeHost {
	dir := t.TempDir()
	// The mount table names real paths: resolve the temporary directory's.
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{
		dir:    dir,
		proc:   filepath.Join(dir, "proc"),
		cgroup: filepath.Join(dir, "sys/fs/cgroup"),
		state:  filepath.Join(dir, "var/lib/crate"),
		files: map[string]string{
			"proc/sys/kernel/osrelease":            "6.1.0-18-amd64\n",
			"proc/filesystems":                     "nodev\tsysfs\nnodev\tcgroup2\n\text4\nnodev\toverlay\n",
			"proc/self/status":                     "Name:\tcrate\nSeccomp:\t0\nSeccomp_filters:\t0\n",
			"sys/fs/cgroup/cgroup.controllers":     "cpuset cpu io memory hugetlb pids rdma misc\n",
			"sys/fs/cgroup/cgroup.subtree_control": "cpuset cpu io memory pids\n",
			"sys/fs/cgroup/cgroup.procs":           "1\n2\n",
			"var/lib/crate/.keep":                  "",
			"usr/libexec/crate/crate-init":         "\x7fELF",
		},
		probes: probes{
			euid:          func() int { return 0 },
			seccompMode:   func() (int, error) { return 0, nil },
			seccompFilter: func() (bool, error) { return true, nil },
			bpfDevice:     func() error { return nil },
			freeBytes:     func(string) (uint64, error) { return 10 << 30, nil },
		},
	}
	for _, ns := range []string{"pid", "mnt", "uts", "ipc", "net", "cgroup"} {
		h.files["proc/self/ns/"+ns] = ""
	}
	h.mount("/", "ext4", "rw")
	h.mount(h.cgroup, "cgroup2", "rw,nsdelegate")
	h.init = func() (string, error) { return filepath.Join(dir, "usr/libexec/crate/crate-init"), nil }
	return h
}

func (h *fakeHost) mount(point, fsType, super string) {
	h.mounts = append(h.mounts, fmt.Sprintf("- / %s rw - %s %s %s", point, fsType, fsType, super))
}

// v1 turns the host into a cgroup v1 one: a tmpfs of hierarchies, and a
// controller-less cgroup2 at unified/ when hybrid.
func (h *fakeHost) v1(hybrid bool, controllers ...string) {
	h.mounts = h.mounts[:1] // "/" only
	h.mount(h.cgroup, "tmpfs", "rw,mode=755")
	for _, c := range controllers {
		h.mount(filepath.Join(h.cgroup, c), "cgroup", "rw,"+c)
	}
	if hybrid {
		h.mount(filepath.Join(h.cgroup, "unified"), "cgroup2", "rw")
	}
}

func (h *fakeHost) run(t *testing.T) []Result {
	t.Helper()
	var mountinfo strings.Builder
	for i, line := range h.mounts {
		parent := 1
		if i == 0 && h.nsRoot {
			parent = 20 // itself
		}
		fmt.Fprintf(&mountinfo, "%d %d 0:%d%s\n", 20+i, parent, i, strings.TrimPrefix(line, "-"))
	}
	h.files["proc/self/mountinfo"] = mountinfo.String()
	for name, content := range h.files {
		p := filepath.Join(h.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return run(Options{ProcRoot: h.proc, CgroupRoot: h.cgroup, ModulesRoot: filepath.Join(h.dir, "lib/modules"),
		StateRoot: h.state, FindInit: h.init}, h.probes)
}

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *fakeHost)
		want  map[string]Status // the checks not named must be OK
		// detail is a check's expected detail, in part.
		detail map[string]string
	}{
		{
			name:   "healthy v2",
			detail: map[string]string{"cgroup mode": "v2", "cgroup memory": "enabled", "state root": "ext4, 10.0 GiB free"},
		},
		{
			name:   "v2 without memory controller",
			setup:  func(h *fakeHost) { h.files["sys/fs/cgroup/cgroup.controllers"] = "cpu io pids\n" },
			want:   map[string]Status{"cgroup memory": Warn},
			detail: map[string]string{"cgroup memory": "--memory fails"},
		},
		{
			name:  "v2 without pids controller, which every run uses",
			setup: func(h *fakeHost) { h.files["sys/fs/cgroup/cgroup.controllers"] = "cpu io memory\n" },
			want:  map[string]Status{"cgroup pids": Missing},
		},
		{
			name: "v2 controller not enabled yet, at the real root",
			setup: func(h *fakeHost) {
				h.files["sys/fs/cgroup/cgroup.subtree_control"] = "cpu pids\n"
			},
			detail: map[string]string{"cgroup memory": "crate enables it"},
		},
		{
			name: "v2 cgroup namespace root with processes of its own",
			setup: func(h *fakeHost) {
				h.files["sys/fs/cgroup/cgroup.type"] = "domain\n"
				h.files["sys/fs/cgroup/cgroup.subtree_control"] = ""
			},
			want: map[string]Status{"cgroup memory": Missing, "cgroup cpu": Missing, "cgroup pids": Missing},
		},
		{
			name:  "v2 without BPF device programs",
			setup: func(h *fakeHost) { h.probes.bpfDevice = func() error { return errors.New("bpf: invalid argument") } },
			want:  map[string]Status{"cgroup devices": Missing},
		},
		{
			name:   "v1 hybrid",
			setup:  func(h *fakeHost) { h.v1(true, "cpu", "cpuacct", "memory", "devices", "pids") },
			detail: map[string]string{"cgroup mode": "v1 (hybrid)", "cgroup memory": "/sys/fs/cgroup/memory"},
		},
		{
			name:   "v1 without memory or devices",
			setup:  func(h *fakeHost) { h.v1(false, "cpu", "pids") },
			want:   map[string]Status{"cgroup memory": Warn, "cgroup devices": Missing},
			detail: map[string]string{"cgroup mode": "v1"},
		},
		{
			name:  "no cgroup file system",
			setup: func(h *fakeHost) { h.mounts = h.mounts[:1] },
			want:  map[string]Status{"cgroup mode": Missing},
		},
		{
			name: "initramfs root",
			setup: func(h *fakeHost) {
				h.mounts[0] = strings.Replace(h.mounts[0], "ext4 ext4", "rootfs rootfs", 1)
				h.nsRoot = true
			},
			want:   map[string]Status{"pivot_root": Missing},
			detail: map[string]string{"state root": "rootfs"},
		},
		{
			// switch_root's way, and the v2 VM test harness's.
			name:   "initramfs bound over /",
			setup:  func(h *fakeHost) { h.mounts[0] = strings.Replace(h.mounts[0], "ext4 ext4", "rootfs rootfs", 1) },
			detail: map[string]string{"pivot_root": "/ is rootfs"},
		},
		{
			name:  "old kernel",
			setup: func(h *fakeHost) { h.files["proc/sys/kernel/osrelease"] = "4.19.0-27-amd64\n" },
			want:  map[string]Status{"kernel": Missing},
		},
		{
			name: "overlay a loadable module",
			setup: func(h *fakeHost) {
				h.files["proc/filesystems"] = "nodev\tsysfs\n\text4\n"
				h.files["lib/modules/6.1.0-18-amd64/modules.dep"] = "kernel/fs/overlayfs/overlay.ko:\n"
			},
			want:   map[string]Status{"overlayfs": Warn},
			detail: map[string]string{"overlayfs": "not loaded"},
		},
		{
			name:   "overlay missing from the kernel",
			setup:  func(h *fakeHost) { h.files["proc/filesystems"] = "nodev\tsysfs\n\text4\n" },
			want:   map[string]Status{"overlayfs": Warn},
			detail: map[string]string{"overlayfs": "--storage copy"},
		},
		{
			name:   "state root on overlayfs",
			setup:  func(h *fakeHost) { h.mount(h.state, "overlay", "rw,lowerdir=/a,upperdir=/b") },
			want:   map[string]Status{"overlay upper": Warn},
			detail: map[string]string{"state root": "overlay"},
		},
		{
			name:   "state root not created yet",
			setup:  func(h *fakeHost) { h.state = filepath.Join(h.state, "sub/dir") },
			detail: map[string]string{"state root": "(not created yet): ext4"},
		},
		{
			name:  "no network namespaces",
			setup: func(h *fakeHost) { delete(h.files, "proc/self/ns/net") },
			want:  map[string]Status{"namespace net": Missing},
		},
		{
			name:  "not root",
			setup: func(h *fakeHost) { h.probes.euid = func() int { return 1000 } },
			want:  map[string]Status{"root": Missing},
		},
		{
			name:  "no seccomp at all",
			setup: func(h *fakeHost) { h.files["proc/self/status"] = "Name:\tcrate\n" },
			want:  map[string]Status{"seccomp": Missing},
		},
		{
			name:  "seccomp without filter mode",
			setup: func(h *fakeHost) { h.probes.seccompFilter = func() (bool, error) { return false, nil } },
			want:  map[string]Status{"seccomp": Missing},
		},
		{
			name:  "crate-init not found",
			setup: func(h *fakeHost) { h.init = func() (string, error) { return "", errors.New("crate-init not found") } },
			want:  map[string]Status{"crate-init": Missing},
		},
		{
			name:   "crate-init not a regular executable file",
			setup:  func(h *fakeHost) { h.init = func() (string, error) { return h.dir, nil } },
			want:   map[string]Status{"crate-init": Missing},
			detail: map[string]string{"crate-init": "not executable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			results := h.run(t)
			seen := map[string]bool{}
			for _, r := range results {
				seen[r.Name] = true
				want := OK
				if s, ok := tt.want[r.Name]; ok {
					want = s
				}
				if r.Status != want {
					t.Errorf("%s: %s (%s), want %s", r.Name, r.Status, r.Detail, want)
				}
				if r.Status != OK && r.Fix == "" {
					t.Errorf("%s: %s without a fix", r.Name, r.Status)
				}
				if d, ok := tt.detail[r.Name]; ok && !strings.Contains(r.Detail, d) {
					t.Errorf("%s: detail %q, want it to contain %q", r.Name, r.Detail, d)
				}
			}
			for name := range tt.want {
				if !seen[name] {
					t.Errorf("no %q check in %+v", name, results)
				}
			}
		})
	}
}
