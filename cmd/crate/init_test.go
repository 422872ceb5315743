package main

import (
	"strings"
	"syscall"
	"testing"
)

// With --init, crate-init is PID 1 and the command its child, whose exit
// code is the container's; as root or not (init switches user before it
// forks, and the child keeps what init's thread has).
func TestInitIsPID1(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			r := e.run("--init", "-u", user, img, "/bin/sh", "-c", `echo "$$ $(cat /proc/1/cmdline)"; exit 3`)
			pid, cmdline, _ := strings.Cut(strings.TrimSpace(r.stdout), " ")
			if r.code != 3 || pid == "1" || !strings.HasPrefix(cmdline, "crate-init") {
				t.Errorf("exit %d, the command's pid %q, PID 1 %q; want exit 3 from a command that is not PID 1 under crate-init\nstderr: %s",
					r.code, pid, cmdline, r.stderr)
			}
		})
	}
}

// orphanScript makes a process of the container exit after its parent, so
// that the kernel hands it to PID 1 to reap, then runs wait with the
// orphan's pid in $x. The command execs cat, which never waits for a child:
// without --init, PID 1 is then a process that leaves zombies, as many real
// commands do. The orphan is made in a background shell whose output cat
// prints and whose end ends cat; that shell starts only once cat has
// opened the FIFO, so the orphan is born after the exec. The orphan must
// outlive its parent, or the parent may reap it itself: it waits on a FIFO,
// and is let go only once its parent has exited (the background shell waits
// for that parent, its own child, and for nothing else).
func orphanScript(wait string) string {
	return `mkfifo /tmp/pid /tmp/go /tmp/out
{ sh -c '{ read _ </tmp/go; } & echo $! >/tmp/pid' & parent=$!
read x </tmp/pid; wait $parent; echo >/tmp/go; ` + wait + `; } >/tmp/out &
exec cat /tmp/out`
}

// TestInitReapsZombies: the orphan disappears once it has exited. Without
// --init the same script leaves it a zombie of PID 1, which is what the
// test would see if init did not reap it.
func TestInitReapsZombies(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)

	// With init, wait until the orphan is gone: only its parent, PID 1,
	// can make it go. It is a zombie for a moment first, so that is no
	// failure. (If init did not reap, this would spin until the helpers'
	// safety timeout failed the test.)
	out := e.runOK("--init", img, "/bin/sh", "-c", orphanScript(`while [ -e /proc/$x ]; do :; done; echo reaped`))
	if out != "reaped\n" {
		t.Errorf("with --init: %q, want reaped", out)
	}

	// Without, wait until it is a zombie whose parent is PID 1, or gone.
	out = e.runOK(img, "/bin/sh", "-c", orphanScript(`while [ -e /proc/$x ]; do
		read -r _ _ state ppid _ 2>/dev/null </proc/$x/stat
		if [ "$state $ppid" = "Z 1" ]; then echo "zombie of PID 1"; exit; fi
	done; echo reaped`))
	if out != "zombie of PID 1\n" {
		t.Errorf("without --init: %q, want the orphan left a zombie of PID 1", out)
	}
}

// TestInitForwardsSignals: `sleep` as PID 1 ignores SIGTERM, and crate would
// kill it only after --stop-timeout; under init it is not PID 1, so the
// forwarded signal ends it at once and init exits as a shell reports it.
func TestInitForwardsSignals(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	signals := []struct {
		name string
		sig  syscall.Signal
		code int
	}{
		{"TERM", syscall.SIGTERM, 143}, {"INT", syscall.SIGINT, 130}, {"HUP", syscall.SIGHUP, 129},
	}
	for _, s := range signals {
		t.Run(s.name, func(t *testing.T) {
			c := e.start("--init", "--stop-timeout", "60s", img, "/bin/sh", "-c", "echo ready; exec sleep 1000")
			c.cmd.Process.Signal(s.sig)
			r := e.wait(c)
			if r.code != s.code || strings.Contains(r.stderr, "stop timeout") {
				t.Errorf("exit %d, stderr %q; want %d, without waiting for the stop timeout", r.code, r.stderr, s.code)
			}
		})
	}
}
