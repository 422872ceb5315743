package main

// A start whose crate-init dies before the command runs says why, in one
// line, with 125 and nothing left: the OOM killer (and under which memory
// limit), a signal. crate-init is stopped (SIGSTOP) by the test as soon as
// it exists, before it has executed the command, and then killed, or
// squeezed under a memory limit it cannot start in.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/container"
)

// TestInitKilledBeforeExec: crate-init killed by a signal before the command
// runs is named as such, not as an error of the sync socket.
func TestInitKilledBeforeExec(t *testing.T) {
	e := newEnv(t)
	e.timeout = time.Minute
	s := e.stoppedAtStart(busyboxImage(t), "true")
	if err := syscall.Kill(s.init, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	line := refusal(t, e.finishStopped(s))
	t.Logf("stderr: %s", line)
	if want := "crate-init was killed by SIGKILL before the command started"; !strings.Contains(line, want) {
		t.Errorf("stderr %q does not say %q", line, want)
	}
}

// TestInitOOMKilledBeforeExec: crate-init OOM-killed before the command
// runs is named as such, with the memory limit it was killed under. The
// limit is lowered under crate-init while it is stopped: a --memory that
// small is refused before anything starts.
func TestInitOOMKilledBeforeExec(t *testing.T) {
	e := newEnv(t)
	e.timeout = time.Minute
	s := e.stoppedAtStart("--memory", "64", busyboxImage(t), "true")
	squeezeMemory(t, s.name, s.init)
	if err := syscall.Kill(s.init, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatal(err)
	}
	line := refusal(t, e.finishStopped(s))
	t.Logf("stderr: %s", line)
	for _, want := range []string{"crate-init was OOM-killed before the command started", "memory limit of"} {
		if !strings.Contains(line, want) {
			t.Errorf("stderr %q does not say %q", line, want)
		}
	}
}

// TestInitDiedWording: each way crate-init can die before the command
// starts is worded with the flag to change, if a limit was in the way.
func TestInitDiedWording(t *testing.T) {
	floor := container.StartFloor(false)
	for _, tt := range []struct {
		err  container.InitDiedError
		want string
	}{
		{container.InitDiedError{Signal: syscall.SIGKILL, OOMKilled: true, MemoryLimit: 1 << 20, Floor: floor},
			"crate-init was OOM-killed before the command started: a memory limit of 1 MiB is below what a start needs (about " + humanBytes(floor.MemoryBytes) + "); raise --memory"},
		{container.InitDiedError{Signal: syscall.SIGKILL, OOMKilled: true, MemoryLimit: 64 << 20, Floor: floor},
			"crate-init was OOM-killed before the command started, under a memory limit of 64 MiB; raise --memory"},
		{container.InitDiedError{Signal: syscall.SIGKILL, OOMKilled: true},
			"crate-init was OOM-killed before the command started, with no memory limit: the host is out of memory"},
		{container.InitDiedError{ExitCode: 2, PidsLimited: true, PidsLimit: 2, Floor: floor},
			"crate-init could not start a thread before the command started: a pids limit of 2 is below what a start needs (" +
				strconv.FormatInt(floor.Pids, 10) + "); raise --pids"},
		{container.InitDiedError{ExitCode: 2, PidsLimited: true, PidsLimit: 100, Floor: floor},
			"crate-init could not start a thread before the command started: the pids limit of 100 was reached; raise --pids"},
		{container.InitDiedError{Signal: syscall.SIGKILL}, "crate-init was killed by SIGKILL before the command started"},
		{container.InitDiedError{ExitCode: 2}, "crate-init exited with code 2 before the command started"},
	} {
		got := explainInitDied(fmt.Errorf("start: %w", &tt.err)).Error()
		if !strings.Contains(got, tt.want) {
			t.Errorf("%+v: %q, want %q", tt.err, got, tt.want)
		}
	}
}

// finishStopped waits for the crate of s to end and checks that it left
// nothing behind.
func (e *env) finishStopped(s stoppedStart) result {
	e.t.Helper()
	code := exitStatus(e.t, s.cmd, s.cmd.Wait())
	e.noLeftovers(s.name)
	return result{code: code, stderr: s.stderr.String(), name: s.name}
}

// squeezeMemory lowers the memory limit of container name, whose crate-init
// is stopped at the gate, so far that crate-init cannot go on. On cgroup v2
// the limit goes to one page: the kernel reclaims what it can, then
// OOM-kills crate-init at once. (Not to 0: crate reads a limit of 0 as no
// limit, as the kernel's "max".) Cgroup v1 refuses (EBUSY) a limit below what
// the cgroup uses, but only after it has reclaimed what it could and
// emptied the per-CPU stocks of memory charged ahead, which the usage
// counts: a limit of exactly the usage read after that holds, and the
// mounts crate-init makes after the gate are over it, with nothing left to
// reclaim (there is no swap), so the OOM killer ends crate-init.
func squeezeMemory(t *testing.T, name string, init int) {
	t.Helper()
	if cgroupV2() {
		if err := os.WriteFile(filepath.Join("/sys/fs/cgroup", "crate-"+name, "memory.max"), []byte("4096"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	dir := filepath.Join("/sys/fs/cgroup/memory", "crate-"+name)
	// On v1 crate starts crate-init with one of its own threads stepped
	// into the container's cgroups, and steps it back once crate-init
	// runs. Until then the OOM killer counts crate among the cgroup's
	// processes, and would kill it, the larger one.
	for !onlyTasksOf(t, dir, init) {
	}
	limit := filepath.Join(dir, "memory.limit_in_bytes")
	if err := os.WriteFile(limit, []byte("4096"), 0o644); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("a 4096-byte limit: %v, want EBUSY", err)
	}
	// Only the kernel's own work in the cgroup moves the usage now: the
	// container's one process is stopped.
	for attempt := 0; ; attempt++ {
		data, err := os.ReadFile(filepath.Join(dir, "memory.usage_in_bytes"))
		if err != nil {
			t.Fatal(err)
		}
		usage, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		err = os.WriteFile(limit, []byte(strconv.FormatUint(usage, 10)), 0o644)
		if err == nil {
			t.Logf("memory limit lowered to the usage, %d bytes", usage)
			return
		}
		if !errors.Is(err, syscall.EBUSY) || attempt == 9 {
			t.Fatalf("a limit of the usage, %d bytes: %v", usage, err)
		}
	}
}

// onlyTasksOf reports whether every task of the cgroup dir is a thread of
// process pid.
func onlyTasksOf(t *testing.T, dir string, pid int) bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "tasks"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range strings.Fields(string(data)) {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "task", tid)); err != nil {
			return false
		}
	}
	return true
}

// TestCgroupLimitWording: the cgroup package names the spec's field; crate
// run names its flag, for the fields its flags set.
func TestCgroupLimitWording(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&cgroups.MissingControllerError{Controller: "memory", Resource: "memory.limit"},
			"--memory needs the memory cgroup controller, which is not available (enable it in the kernel/boot options)"},
		{&cgroups.MissingControllerError{Controller: "pids", Resource: "pids.limit"}, "--pids needs the pids cgroup controller"},
		{&cgroups.MissingControllerError{Controller: "devices", Resource: "devices"},
			"the device allow-list needs the devices cgroup controller, which is not available"},
		{&cgroups.InvalidResourceError{Resource: "cpu.quota", Value: "10", Reason: "must be at least 1000"},
			"invalid --cpu (cpu.quota 10): must be at least 1000"},
		// A field no flag sets keeps the package's wording.
		{&cgroups.MissingControllerError{Controller: "io", Resource: "blockIO.weight"}, "blockIO.weight needs the io cgroup controller"},
	} {
		got := explainCgroupLimit(fmt.Errorf("create: %w", tt.err))
		if !strings.Contains(got.Error(), tt.want) {
			t.Errorf("%v: %q, want %q", tt.err, got, tt.want)
		}
	}
}
