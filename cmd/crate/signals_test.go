package main

import (
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// waitForSignal is a PID 1 that handles sig: a PID 1 gets only the signals
// it has a handler for. `wait` returns as soon as a trapped signal arrives.
func waitForSignal(sig string) []string {
	return []string{"/bin/sh", "-c", "trap 'echo got " + sig + "; exit 42' " + sig + "; echo ready; sleep 1000 & wait"}
}

func TestSignalsReachPID1(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	signals := []struct {
		name string
		sig  syscall.Signal
	}{
		{"INT", syscall.SIGINT}, {"TERM", syscall.SIGTERM}, {"HUP", syscall.SIGHUP}, {"QUIT", syscall.SIGQUIT},
		{"USR1", syscall.SIGUSR1}, {"USR2", syscall.SIGUSR2}, {"WINCH", syscall.SIGWINCH},
	}
	for _, s := range signals {
		t.Run(s.name, func(t *testing.T) {
			c := e.start(append([]string{img}, waitForSignal(s.name)...)...)
			c.cmd.Process.Signal(s.sig)
			r := e.wait(c)
			if r.code != 42 || r.stdout != "got "+s.name {
				t.Errorf("exit %d, stdout %q; want 42 and %q\nstderr: %s", r.code, r.stdout, "got "+s.name, r.stderr)
			}
		})
	}
}

// TestStopTimeout: `sleep` as PID 1 has no handler, so SIGTERM does nothing;
// crate kills it once --stop-timeout has passed.
func TestStopTimeout(t *testing.T) {
	e := newEnv(t)
	c := e.start("--stop-timeout", "1s", busyboxImage(t), "/bin/sh", "-c", "echo ready; exec sleep 1000")
	c.cmd.Process.Signal(syscall.SIGTERM)
	r := e.wait(c)
	if r.code != 137 || !strings.Contains(r.stderr, "still running after the stop timeout") {
		t.Errorf("exit %d, stderr %q; want 137 after the stop timeout", r.code, r.stderr)
	}
}

// TestSecondInterruptKills: a second SIGINT does not wait for the timeout.
func TestSecondInterruptKills(t *testing.T) {
	e := newEnv(t)
	c := e.start("--stop-timeout", "1h", busyboxImage(t), "/bin/sh", "-c",
		"trap 'echo got INT' INT; echo ready; while :; do sleep 1000 & wait; done")
	c.cmd.Process.Signal(syscall.SIGINT)
	// Once the container says it got the first, the second is a new signal
	// (two pending SIGINTs would merge into one).
	if line := c.next(); line != "got INT" {
		t.Fatalf("after the first SIGINT: %q", line)
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	r := e.wait(c)
	if r.code != 137 || !strings.Contains(r.stderr, "second stop signal") {
		t.Errorf("exit %d, stderr %q; want 137 after the second SIGINT", r.code, r.stderr)
	}
}

// TestContainerCannotSignalTheHostGroup: kill(0) signals the caller's process
// group, which no PID namespace bounds; the container's own session keeps the
// signal inside.
func TestContainerCannotSignalTheHostGroup(t *testing.T) {
	e := newEnv(t)
	got := make(chan os.Signal, 1)
	signal.Notify(got, syscall.SIGUSR1)
	defer signal.Stop(got)
	// crate runs in this test's process group, so before the fix the test
	// itself received the signal.
	e.runOK(busyboxImage(t), "/bin/sh", "-c", "trap '' USR1; kill -USR1 0")
	select {
	case <-got:
		t.Error("a signal to the container's process group reached the host")
	default:
	}
}
