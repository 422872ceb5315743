package cgroups

// What an OCI runtime asks of a cgroup beyond crate run's: a nested path
// with ancestors to make, an update of the limits, pause (the freezer) and
// the list of processes. Like the other integration tests, these run on the
// v1 hybrid host and in the cgroup v2 VM (scripts/test-v2.sh); on the
// hybrid host the v2 freezer is also tried in its controller-less cgroup2.

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/testutil"
)

// newNestedTestCgroup creates the cgroup of cfg at /<top>/pod/ctr, top
// being a name of the tests' own, and removes top and pod when the test
// ends, after the cgroup itself (Destroy leaves ancestors, as runc does).
func newNestedTestCgroup(t *testing.T, cfg Config) (Manager, string) {
	t.Helper()
	top := testName()
	cfg.Path = "/" + top + "/pod/ctr"
	// Registered first, so it runs after the cgroup's own cleanup.
	t.Cleanup(func() {
		for _, mnt := range testMounts(t, cfg.Root) {
			for _, dir := range []string{filepath.Join(mnt, top, "pod"), filepath.Join(mnt, top)} {
				if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
					t.Errorf("remove the test's ancestor cgroup %s: %v", dir, err)
				}
			}
		}
	})
	return newTestCgroupWith(t, cfg), top
}

// testMounts lists where the hierarchies under root are mounted: root on
// v2, every v1 controller's mount point on v1.
func testMounts(t *testing.T, root string) []string {
	mode, err := detectMode(root, hostSystem.fsType)
	if err != nil {
		t.Fatal(err)
	}
	if mode == ModeV2 {
		return []string{root}
	}
	f, err := hostSystem.mountinfo()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mounts, err := parseV1Mounts(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mnt := range mounts {
		if !slices.Contains(out, mnt) {
			out = append(out, mnt)
		}
	}
	return out
}

// TestNestedPath: an engine's cgroupsPath, whose ancestors do not exist
// yet, in every hierarchy: they are made, the process is in the leaf, the
// limits are there, and Destroy removes the leaf only.
func TestNestedPath(t *testing.T) {
	testutil.RequireRoot(t)
	m, top := newNestedTestCgroup(t, Config{Root: DefaultRoot, Resources: limits(64<<20, 0, 0, 32), AllHierarchies: true})
	want := "/" + top + "/pod/ctr"
	if !strings.HasSuffix(m.Path(), want) {
		t.Errorf("Path = %s, want it to end in %s", m.Path(), want)
	}
	if v, ok := m.(*v1); ok {
		for _, c := range []string{"memory", "pids", "freezer", "devices"} {
			if _, mounted := v.mounted[c]; mounted && !exists(v.dirs[c]) {
				t.Errorf("no %s cgroup at %s with AllHierarchies", c, v.dirs[c])
			}
		}
		if dir, ok := v.dirs["cpuset"]; ok && readCgroupFile(t, m, "cpuset", "cpuset.cpus") == "" {
			t.Errorf("%s has no CPUs: a process could not join it", dir)
		}
	} else {
		// Each ancestor passes the controllers down.
		for _, dir := range []string{filepath.Join(DefaultRoot, top), filepath.Join(DefaultRoot, top, "pod")} {
			data, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"memory", "pids"} {
				if !slices.Contains(strings.Fields(string(data)), c) {
					t.Errorf("%s/cgroup.subtree_control = %q, want %s in it", dir, data, c)
				}
			}
		}
	}
	if got := readCgroupFile(t, m, "pids", "pids.max"); got != "32" {
		t.Errorf("pids.max = %q, want 32", got)
	}
	cmd := startInCgroup(t, m, "exec sleep 1000")
	out, err := os.ReadFile("/proc/" + itoa(int64(cmd.Process.Pid)) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	checkInCgroupAt(t, m, string(out), want)
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range cgroupDirs(m) {
		if exists(dir) {
			t.Errorf("%s still exists after Destroy", dir)
		}
		if !exists(filepath.Dir(dir)) {
			t.Errorf("Destroy removed the ancestor %s, which may be another container's", filepath.Dir(dir))
		}
	}
}

// TestNestedPathUnderExistingParent: a second container under the same
// parent (a pod's second container) finds its ancestors made.
func TestNestedPathUnderExistingParent(t *testing.T) {
	testutil.RequireRoot(t)
	first, top := newNestedTestCgroup(t, Config{Root: DefaultRoot, Resources: limits(0, 0, 0, 8)})
	second := newTestCgroupWith(t, Config{Root: DefaultRoot, Path: "/" + top + "/pod/ctr2", Resources: limits(0, 0, 0, 8)})
	if filepath.Dir(first.Path()) != filepath.Dir(second.Path()) {
		t.Errorf("%s and %s should share a parent", first.Path(), second.Path())
	}
}

// checkInCgroupAt checks a /proc/PID/cgroup text: in every hierarchy m
// uses, the process is at path.
func checkInCgroupAt(t *testing.T, m Manager, procCgroup, path string) {
	t.Helper()
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(procCgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		inUse := m.Mode() == ModeV2 && parts[0] == "0"
		for _, c := range strings.Split(parts[1], ",") {
			if v, ok := m.(*v1); ok && v.dirs[c] != "" {
				inUse = true
			}
		}
		if inUse {
			seen++
			if parts[2] != path {
				t.Errorf("cgroup line %q, want the path %s", line, path)
			}
		}
	}
	if seen == 0 {
		t.Errorf("no hierarchy of the cgroup in %q", procCgroup)
	}
}

// TestUpdate: the limits of a cgroup with a process in it change (OCI
// update); on v1 a memory limit grows past memsw and shrinks back, which
// takes the writes in both orders.
func TestUpdate(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, limits(64<<20, 0, 0, 10))
	startInCgroup(t, m, "exec sleep 1000")
	memFile := "memory.max"
	if m.Mode() == ModeV1 {
		memFile = "memory.limit_in_bytes"
	}
	for _, mem := range []int64{128 << 20, 48 << 20} {
		if err := m.Update(limits(mem, 0, 0, 20)); err != nil {
			t.Fatalf("Update to %d bytes: %v", mem, err)
		}
		if got := readCgroupFile(t, m, "memory", memFile); got != itoa(mem) {
			t.Errorf("%s = %s, want %d", memFile, got, mem)
		}
		if v, ok := m.(*v1); ok && exists(filepath.Join(v.dirs["memory"], "memory.memsw.limit_in_bytes")) {
			if got := readCgroupFile(t, m, "memory", "memory.memsw.limit_in_bytes"); got != itoa(mem) {
				t.Errorf("memsw = %s, want %d", got, mem)
			}
		}
	}
	if got := readCgroupFile(t, m, "pids", "pids.max"); got != "20" {
		t.Errorf("pids.max = %q, want 20", got)
	}
	// Only what the update sets changes.
	if err := m.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](-1)}}); err != nil {
		t.Fatal(err)
	}
	if got := readCgroupFile(t, m, "pids", "pids.max"); got != "max" {
		t.Errorf("pids.max = %q, want max", got)
	}
	if got := readCgroupFile(t, m, "memory", memFile); got != itoa(int64(48<<20)) {
		t.Errorf("%s = %s after a pids update, want it unchanged", memFile, got)
	}
	err := m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](-5)}})
	if !errors.As(err, new(*InvalidResourceError)) {
		t.Errorf("Update with a quota of -5 = %v, want an InvalidResourceError", err)
	}
}

// TestUpdateOutsideTheHierarchy: on v1, a cgroup made for crate run has no
// cpu hierarchy of its own when cpu is mounted apart from cpuacct; a CPU
// limit then cannot be added by Update, and says why.
func TestUpdateOutsideTheHierarchy(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, limits(0, 0, 0, 10))
	v, ok := m.(*v1)
	if !ok {
		t.Skip("cgroup v1 only: v2 has one directory")
	}
	err := m.Update(limits(0, 50000, 100000, 0))
	if _, in := v.dirs["cpu"]; in {
		if err != nil || readCgroupFile(t, m, "cpu", "cpu.cfs_quota_us") != "50000" {
			t.Errorf("Update of the CPU quota = %v", err)
		}
		return
	}
	var ne *NotInHierarchyError
	if !errors.As(err, &ne) || ne.Controller != "cpu" {
		t.Errorf("Update of the CPU quota = %v, want a NotInHierarchyError for cpu", err)
	}
}

// startLoop starts a busy shell placed in m, which prints a line once it
// has forked its two children, and returns once it has.
func startLoop(t *testing.T, m Manager) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read gate; sleep 1000 & sleep 1000 & echo ready; while :; do :; done")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	placeCommand(t, m.Place, cmd)
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	return cmd
}

// TestPids: every process of the cgroup is listed (OCI ps).
func TestPids(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, limits(0, 0, 0, 16))
	cmd := startLoop(t, m)
	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 3 || !slices.Contains(pids, cmd.Process.Pid) {
		t.Errorf("Pids = %v, want the shell %d and its two children", pids, cmd.Process.Pid)
	}
}

// testFreeze freezes and thaws m with processes running inside.
func testFreeze(t *testing.T, m Manager) {
	t.Helper()
	cmd := startLoop(t, m)
	if frozen, err := m.Frozen(); err != nil || frozen {
		t.Fatalf("Frozen before Freeze = %v, %v", frozen, err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if frozen, err := m.Frozen(); err != nil || !frozen {
		t.Errorf("Frozen after Freeze = %v, %v; want true", frozen, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if frozen, err := m.Frozen(); err != nil || frozen {
		t.Errorf("Frozen after Thaw = %v, %v; want false", frozen, err)
	}
	// Frozen once more: Kill still empties it (the v1 freezer holds even
	// SIGKILL until it thaws).
	if err := m.Freeze(); err != nil {
		t.Fatalf("second Freeze: %v", err)
	}
	killAndRemove(t, m, cmd)
}

// TestFreeze: pause and resume (OCI pause), in the host's mode: on v1 the
// cgroup must be in the freezer hierarchy.
func TestFreeze(t *testing.T) {
	testutil.RequireRoot(t)
	testFreeze(t, newTestCgroupWith(t, Config{Root: DefaultRoot, Path: testName(), Resources: limits(0, 0, 0, 16), AllHierarchies: true}))
}

// TestFreezeV2: the cgroup.freeze way, in a cgroup2 hierarchy of the host
// (the controller-less one on a hybrid host).
func TestFreezeV2(t *testing.T) {
	testutil.RequireRoot(t)
	v := newV2TestCgroup(t)
	if !exists(v.file("cgroup.freeze")) {
		t.Skip("this kernel has no cgroup.freeze (Linux 5.2)")
	}
	testFreeze(t, v)
}

// TestFreezeNeedsTheFreezer: a v1 cgroup made for crate run is not in the
// freezer hierarchy; Freeze says so, and it is never frozen.
func TestFreezeNeedsTheFreezer(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, nil)
	if m.Mode() != ModeV1 {
		t.Skip("cgroup v1 only")
	}
	var ne *NotInHierarchyError
	if err := m.Freeze(); !errors.As(err, &ne) || ne.Controller != "freezer" {
		t.Errorf("Freeze = %v, want a NotInHierarchyError for freezer", err)
	}
	if frozen, err := m.Frozen(); err != nil || frozen {
		t.Errorf("Frozen = %v, %v; want false", frozen, err)
	}
}
