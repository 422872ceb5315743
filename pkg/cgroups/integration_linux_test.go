package cgroups

// These tests make real cgroups named crate-test-<random> under
// /sys/fs/cgroup and remove them. They run on the v1 hybrid CI host and, from
// a test binary built with CGO_ENABLED=0, in the cgroup v2 VM
// (scripts/test-v2.sh); each checks the files of the mode it finds.

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/testutil"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// newTestCgroup returns a created cgroup with limits l and makes sure it is
// killed and removed when the test ends.
func newTestCgroup(t *testing.T, l *specs.LinuxResources) Manager {
	t.Helper()
	return newTestCgroupAt(t, DefaultRoot, l)
}

// newV2TestCgroup returns a created cgroup v2 cgroup without limits: under
// the root on a cgroup v2 host, and on a hybrid host (v1 controllers) in its
// controller-less cgroup2 hierarchy, /sys/fs/cgroup/unified, where the core
// files (cgroup.procs, cgroup.events, cgroup.kill, cgroup.freeze) work as on
// v2. Nothing of that hierarchy changes but the test's own cgroup.
func newV2TestCgroup(t *testing.T) *v2 {
	t.Helper()
	return newTestCgroupAt(t, v2TestRoot(t), nil).(*v2)
}

func newTestCgroupAt(t *testing.T, root string, l *specs.LinuxResources) Manager {
	t.Helper()
	return newTestCgroupWith(t, Config{Root: root, Path: testName(), Resources: l})
}

// testName is a cgroup name of the tests' own.
func testName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "crate-test-" + hex.EncodeToString(b)
}

// v2TestRoot is a cgroup2 root: the host's on a v2 host, the
// controller-less /sys/fs/cgroup/unified of a hybrid one (see
// newV2TestCgroup).
func v2TestRoot(t *testing.T) string {
	t.Helper()
	for _, root := range []string{DefaultRoot, filepath.Join(DefaultRoot, "unified")} {
		if mode, err := detectMode(root, hostSystem.fsType); err == nil && mode == ModeV2 {
			return root
		}
	}
	t.Skip("no cgroup2 hierarchy on this host")
	return ""
}

// newTestCgroupWith returns the created cgroup of cfg, and makes sure it is
// killed and removed when the test ends.
func newTestCgroupWith(t *testing.T, cfg Config) Manager {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: testWriter{t}})
	m, err := New(log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Kill(); err != nil {
			t.Errorf("Kill: %v", err)
		}
		if err := m.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	return m
}

// limits are resources as crate run makes them (memory+swap equal to
// memory); 0 leaves a limit out.
func limits(memory, quota int64, period uint64, pids int64) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if memory != 0 {
		r.Memory = &specs.LinuxMemory{Limit: ptr(memory), Swap: ptr(memory)}
	}
	if quota != 0 || period != 0 {
		r.CPU = &specs.LinuxCPU{Quota: ptr(quota), Period: ptr(period)}
	}
	if pids != 0 {
		r.Pids = &specs.LinuxPids{Limit: ptr(pids)}
	}
	return r
}

func withDevices(r *specs.LinuxResources, rules []specs.LinuxDeviceCgroup) *specs.LinuxResources {
	r.Devices = rules
	return r
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startInCgroup starts "sh -c script" and places it in m before the script
// runs: the shell first waits for EOF on its stdin, which is closed only
// after Place, so nothing the script does escapes the cgroup.
func startInCgroup(t *testing.T, m Manager, script string) *exec.Cmd {
	t.Helper()
	return placeCommand(t, m.Place, exec.Command("sh", "-c", "read gate; "+script))
}

// placeCommand starts cmd, a shell that first reads its stdin to EOF, has
// place move it, and then closes its stdin.
func placeCommand(t *testing.T, place func(pid int) error, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	if err := place(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	return cmd
}

// cgroupDirs lists every directory the cgroup should have, for the mode.
func cgroupDirs(m Manager) []string {
	if v, ok := m.(*v1); ok {
		return v.hierarchies
	}
	return []string{m.Path()}
}

// readCgroupFile reads a file of the cgroup; on v1, from the hierarchy of
// controller.
func readCgroupFile(t *testing.T, m Manager, controller, file string) string {
	t.Helper()
	dir := m.Path()
	if v, ok := m.(*v1); ok {
		dir = v.dirs[controller]
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestLimitsWritten(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, limits(64<<20, 50000, 200000, 64))
	type want struct{ controller, file, value string }
	var wants []want
	switch m.Mode() {
	case ModeV2:
		wants = []want{
			{"memory", "memory.max", "67108864"},
			{"cpu", "cpu.max", "50000 200000"},
			{"pids", "pids.max", "64"},
		}
		if exists(filepath.Join(m.Path(), "memory.swap.max")) {
			wants = append(wants, want{"memory", "memory.swap.max", "0"})
		}
	case ModeV1:
		wants = []want{
			{"memory", "memory.limit_in_bytes", "67108864"},
			{"cpu", "cpu.cfs_period_us", "200000"},
			{"cpu", "cpu.cfs_quota_us", "50000"},
			{"pids", "pids.max", "64"},
		}
		if exists(filepath.Join(m.Path(), "memory.memsw.limit_in_bytes")) {
			wants = append(wants, want{"memory", "memory.memsw.limit_in_bytes", "67108864"})
		}
	}
	for _, w := range wants {
		if got := readCgroupFile(t, m, w.controller, w.file); got != w.value {
			t.Errorf("%s = %q, want %q", w.file, got, w.value)
		}
	}
}

func TestPlaceKillDestroy(t *testing.T) {
	testutil.RequireRoot(t)
	// Device rules too, so that the devices hierarchy is checked on v1.
	m := newTestCgroup(t, withDevices(limits(0, 0, 0, 16), spec.DefaultDeviceRules()))
	// Two children as well, to see that Kill reaches more than the first process.
	cmd := startInCgroup(t, m, "sleep 1000 & sleep 1000 & wait")

	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	checkInCgroup(t, m, string(data))

	if err := m.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("process ended with %v, want killed by SIGKILL", err)
	}
	// A cgroup the container made below its own (a privileged one may)
	// goes too.
	for _, dir := range cgroupDirs(m) {
		if err := os.Mkdir(filepath.Join(dir, "crate-inner"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for _, dir := range cgroupDirs(m) {
		if exists(dir) {
			t.Errorf("%s still exists after Destroy", dir)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestDestroyRefusesLiveProcesses(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, nil)
	startInCgroup(t, m, "sleep 1000")
	err := m.Destroy()
	if !errors.Is(err, unix.EBUSY) {
		t.Errorf("Destroy with a process inside = %v, want EBUSY", err)
	}
}

func TestOOMKill(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, limits(32<<20, 0, 0, 0))
	// dd allocates its 64 MiB buffer and fills it: twice the limit.
	cmd := startInCgroup(t, m, "exec dd if=/dev/zero of=/dev/null bs=64M count=1")
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("dd ended with %v, want killed by SIGKILL", err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", st)
	if st.OOMKills < 1 {
		t.Errorf("OOMKills = %d, want at least 1", st.OOMKills)
	}
	if st.MemoryPeak == 0 && (m.Mode() == ModeV1 || exists(filepath.Join(m.Path(), "memory.peak"))) {
		t.Error("MemoryPeak = 0 after dd filled the memory limit")
	}
}

// TestPidsLimitHits: a fork the pids limit refuses is counted.
func TestPidsLimitHits(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, limits(0, 0, 0, 1))
	// The shell is the one process allowed: its fork fails.
	cmd := startInCgroup(t, m, "(exit 0)")
	cmd.Wait()
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", st)
	if st.PidsLimitHits < 1 {
		t.Errorf("PidsLimitHits = %d after a refused fork, want at least 1", st.PidsLimitHits)
	}
}

func TestCPUTime(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, nil)
	cmd := startInCgroup(t, m, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", st)
	if st.CPUTime <= 0 {
		t.Errorf("CPUTime = %v after a busy loop, want > 0", st.CPUTime)
	}
}

// TestUsage: a live cgroup's figures, for crate stats: its one process, the
// limits set. (Whether memory is charged yet depends on how far sh has got;
// crate stats' own test reads a container that has settled.)
func TestUsage(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, limits(64<<20, 0, 0, 10))
	cmd := startInCgroup(t, m, "exec sleep 1000")
	u, err := m.Usage()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("usage: %+v", u)
	if u.Pids != 1 || u.PidsLimit != 10 || u.MemoryLimit != 64<<20 || u.MemoryUsage > u.MemoryLimit {
		t.Errorf("usage %+v: want 1 of 10 pids, 64 MiB of memory", u)
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// startForking starts processes that keep forking children that exit at
// once, placed by place, and returns once they do: every PID Kill reads
// from cgroup.procs may be gone by the time it acts, and new ones come all
// the time.
func startForking(t *testing.T, place func(pid int) error) *exec.Cmd {
	t.Helper()
	loop := `while :; do (sleep 0 &); done`
	cmd := exec.Command("sh", "-c", `read gate; for i in 1 2 3; do (`+loop+`) & done; (echo forking; `+loop+`) & wait`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	placeCommand(t, place, cmd)
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "forking\n" {
		t.Fatalf("forking processes: first line %q, %v", line, err)
	}
	return cmd
}

// killAndRemove kills what runs in m, checks that each of cmds (the
// processes at the top) died of SIGKILL and that the cgroup is empty, and
// removes it.
func killAndRemove(t *testing.T, m Manager, cmds ...*exec.Cmd) {
	t.Helper()
	if err := m.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	for _, cmd := range cmds {
		var exit *exec.ExitError
		if err := cmd.Wait(); !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("the forking processes ended with %v, want killed by SIGKILL", err)
		}
	}
	for _, dir := range cgroupDirs(m) {
		if pids, err := procsTree(dir); err != nil || len(pids) > 0 {
			t.Errorf("after Kill, %s holds %v (%v)", dir, pids, err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for _, dir := range cgroupDirs(m) {
		if exists(dir) {
			t.Errorf("%s still exists after Destroy", dir)
		}
	}
}

// TestKillWhileForking: Kill empties a cgroup whose processes keep forking
// and exiting, in the host's mode (v1 on the CI host, v2 in the VM). That
// a PID reused meanwhile is not signalled cannot be forced in a test; what
// is tested is that the rounds of pidfd kills (v1) or cgroup.kill (v2) end
// with the cgroup empty.
func TestKillWhileForking(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, limits(0, 0, 0, 512))
	killAndRemove(t, m, startForking(t, m.Place))
}

// recordKillWrites makes v record the writes of Kill to cgroup.kill and
// cgroup.freeze, as "file=value". With noCgroupKill it answers the write to
// cgroup.kill as a kernel before 5.14 does: there is no such file. The
// kernel does everything else.
func recordKillWrites(v *v2, noCgroupKill bool) *[]string {
	var writes []string
	write := v.writeFile
	v.writeFile = func(path, value string) error {
		writes = append(writes, filepath.Base(path)+"="+value)
		if noCgroupKill && filepath.Base(path) == "cgroup.kill" {
			return &os.PathError{Op: "write", Path: path, Err: unix.ENOENT}
		}
		return write(path, value)
	}
	return &writes
}

// TestKillUsesCgroupKill: where the kernel has cgroup.kill (5.14), Kill
// writes it and never engages the freezer.
func TestKillUsesCgroupKill(t *testing.T) {
	testutil.RequireRoot(t)
	v := newV2TestCgroup(t)
	if !exists(v.file("cgroup.kill")) {
		t.Skip("this kernel has no cgroup.kill (Linux 5.14)")
	}
	writes := recordKillWrites(v, false)
	killAndRemove(t, v, startForking(t, v.Place))
	if want := []string{"cgroup.kill=1"}; !slices.Equal(*writes, want) {
		t.Errorf("Kill wrote %q, want %q", *writes, want)
	}
}

// TestKillByFreezing: without cgroup.kill, Kill freezes the cgroup, kills
// what it lists, and thaws it; processes in a cgroup below die too.
func TestKillByFreezing(t *testing.T) {
	testutil.RequireRoot(t)
	v := newV2TestCgroup(t)
	sub := filepath.Join(v.Path(), "crate-inner")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	writes := recordKillWrites(v, true)
	inSub := startForking(t, func(pid int) error { return writeFile(filepath.Join(sub, "cgroup.procs"), fmt.Sprint(pid)) })
	top := startForking(t, v.Place)
	if err := v.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if want := []string{"cgroup.kill=1", "cgroup.freeze=1", "cgroup.freeze=0"}; !slices.Equal(*writes, want) {
		t.Errorf("Kill wrote %q, want %q", *writes, want)
	}
	if freeze, err := os.ReadFile(v.file("cgroup.freeze")); err != nil || strings.TrimSpace(string(freeze)) != "0" {
		t.Errorf("after Kill, cgroup.freeze is %q (%v), want 0: thawed", freeze, err)
	}
	killAndRemove(t, v, inSub, top) // a second Kill, of an empty cgroup
}

func TestWriteErrorNamesFile(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, limits(0, 0, 0, 8))
	v, ok := m.(*v1)
	dir := m.Path()
	if ok {
		dir = v.dirs["pids"]
	}
	file := filepath.Join(dir, "pids.max")
	err := writeFile(file, "lots")
	if want := "write " + file + ": invalid argument"; err == nil || err.Error() != want {
		t.Errorf("writeFile = %v, want %q", err, want)
	}
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("writeFile error %v is not EINVAL", err)
	}
}

// TestV2EnablesControllers uses a cgroup of its own as the root, because the
// VM's real root has every controller enabled already: the container's
// cgroup only gets memory, cpu and pids if Create enables them in the
// parent's cgroup.subtree_control.
func TestV2EnablesControllers(t *testing.T) {
	testutil.RequireRoot(t)
	parent := newTestCgroup(t, nil)
	if parent.Mode() != ModeV2 {
		t.Skip("cgroup v2 only")
	}
	data, err := os.ReadFile(filepath.Join(parent.Path(), "cgroup.subtree_control"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != "" {
		t.Fatalf("a new cgroup's subtree_control is %q, want it empty", got)
	}
	m, err := New(nil, Config{Root: parent.Path(), Path: "crate-test-child", Resources: limits(64<<20, 10000, 0, 8)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	// Registered after the parent's cleanup, so it runs before it.
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	data, err = os.ReadFile(filepath.Join(m.Path(), "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "cpu", "pids"} {
		if !strings.Contains(" "+strings.TrimSpace(string(data))+" ", " "+c+" ") {
			t.Errorf("child cgroup.controllers = %q, want %s in it", data, c)
		}
	}
	if got := readCgroupFile(t, m, "pids", "pids.max"); got != "8" {
		t.Errorf("pids.max = %q, want 8", got)
	}
}

// TestStartIsBornInTheCgroup: a process started with Start is in the cgroup
// from its first instruction, and the thread that started it is back in its
// own cgroup afterwards. A pids limit of 1 takes the fallback path.
func TestStartIsBornInTheCgroup(t *testing.T) {
	testutil.RequireRoot(t)
	for _, l := range []*specs.LinuxResources{withDevices(limits(64<<20, 0, 0, 10), spec.DefaultDeviceRules()), limits(0, 0, 0, 1)} {
		t.Run(fmt.Sprintf("pids %d", *l.Pids.Limit), func(t *testing.T) {
			m := newTestCgroup(t, l)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			before, err := os.ReadFile("/proc/thread-self/cgroup")
			if err != nil {
				t.Fatal(err)
			}
			// The child reports its cgroups at once, so no migration after
			// the start could hide where it was born. The fallback does
			// migrate it after the start: there the child waits for a line.
			cmd := exec.Command("cat", "/proc/self/cgroup")
			born := *l.Pids.Limit != 1
			if !born {
				cmd = exec.Command("sh", "-c", "read gate; exec cat /proc/self/cgroup")
			}
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			cmd.Stdout = &out
			if err := m.Start(cmd); err != nil {
				t.Fatal(err)
			}
			stdin.Write([]byte("go\n"))
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			checkInCgroup(t, m, out.String())
			after, err := os.ReadFile("/proc/thread-self/cgroup")
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(before) {
				t.Errorf("the starting thread's cgroups changed:\n%s\nto\n%s", before, after)
			}
		})
	}
}

// checkInCgroup checks a /proc/PID/cgroup text: in every hierarchy the
// manager uses (v1), or in the unified one (v2), the process is in m's cgroup.
func checkInCgroup(t *testing.T, m Manager, procCgroup string) {
	t.Helper()
	name := "/" + filepath.Base(m.Path())
	for _, line := range strings.Split(strings.TrimSpace(procCgroup), "\n") {
		// hierarchy-id:controllers:path; v2 is "0::/crate-test-...".
		parts := strings.SplitN(line, ":", 3)
		inUse := m.Mode() == ModeV2 && parts[0] == "0"
		for _, c := range strings.Split(parts[1], ",") {
			if v, ok := m.(*v1); ok && v.dirs[c] != "" {
				inUse = true
			}
		}
		if inUse && parts[2] != name {
			t.Errorf("cgroup line %q, want the path %s", line, name)
		}
	}
}
