package main

import (
	"strings"
	"testing"
	"time"
)

// TestMemoryLimit allocates with dd, whose buffer is one block: a block over
// the limit is OOM-killed, one under it is not.
func TestMemoryLimit(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)

	// Under --init the command is init's child, and its SIGKILL reaches
	// crate as init's exit code 137: still an OOM kill.
	for _, flags := range [][]string{nil, {"--init"}} {
		r := e.run(append(flags, "--memory", "32", img, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")...)
		if r.code != 137 {
			t.Fatalf("%v 64 MiB under --memory 32: exit %d, want 137\nstderr: %s", flags, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "OOM-killed") || !strings.Contains(r.stderr, "memory limit of 32 MiB") {
			t.Errorf("%v stderr does not say the 32 MiB limit was hit: %q", flags, r.stderr)
		}
		if got := e.logEntry(r.name, "container exited"); got["oom_killed"] != true {
			t.Errorf("%v log of the OOM kill: %v", flags, got)
		}
	}

	r := e.run("--memory", "64M", img, "dd", "if=/dev/zero", "of=/dev/null", "bs=16M", "count=1")
	if r.code != 0 {
		t.Errorf("16 MiB under --memory 64M: exit %d, want 0\nstderr: %s", r.code, r.stderr)
	}
}

// TestCPULimit runs a busy loop for a while at --cpu 20 and divides the CPU
// time the cgroup counted by the wall time the container ran: about 0.2.
func TestCPULimit(t *testing.T) {
	e := newEnv(t)
	// Not timeout as PID 1: it would signal itself, and a PID 1 ignores that.
	r := e.run("--cpu", "20", busyboxImage(t), "/bin/sh", "-c", `timeout 3 sh -c "while :; do :; done"; echo $?`)
	if r.code != 0 || r.stdout != "143\n" {
		t.Fatalf("exit %d, stdout %q; want the loop ended by timeout (143)\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	exited := e.logEntry(r.name, "container exited")
	cpu := time.Duration(exited["cpu_time"].(float64))
	wall := time.Duration(exited["wall_time"].(float64))
	share := cpu.Seconds() / wall.Seconds()
	t.Logf("cpu %v over wall %v: %.2f of a CPU", cpu, wall, share)
	if share < 0.12 || share > 0.28 {
		t.Errorf("--cpu 20 used %.2f of a CPU, want about 0.20", share)
	}
}

// TestPidsLimit lets a shell fork 30 sleepers: --pids 10 stops it, --pids 50
// does not.
func TestPidsLimit(t *testing.T) {
	e := newEnv(t)
	forkLoop := "for i in $(seq 30); do sleep 60 & done; echo forked all"
	r := e.run("--pids", "10", busyboxImage(t), "/bin/sh", "-c", forkLoop)
	if r.code == 0 || !strings.Contains(r.stderr, "can't fork") || strings.Contains(r.stdout, "forked all") {
		t.Errorf("--pids 10: exit %d, stdout %q, stderr %q; want the shell to fail to fork", r.code, r.stdout, r.stderr)
	}
	if out := e.runOK("--pids", "50", busyboxImage(t), "/bin/sh", "-c", forkLoop); out != "forked all\n" {
		t.Errorf("--pids 50: %q", out)
	}
}

// TestLimitsSeenInside checks the limits reach the cgroup files the
// container sees as its own.
func TestLimitsSeenInside(t *testing.T) {
	e := newEnv(t)
	out := e.runOK("--memory", "48", "--cpu", "50", "--pids", "20", busyboxImage(t), "/bin/sh", "-c",
		"cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null; true")
	for _, want := range []string{"50331648", "50000", "20"} {
		if !strings.Contains(out, want) {
			t.Errorf("limits inside the container: %q lacks %s", out, want)
		}
	}
}
