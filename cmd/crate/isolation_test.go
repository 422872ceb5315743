package main

import (
	"os"
	"strings"
	"testing"
)

func TestHostname(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	if got := strings.TrimSpace(e.runOK("--hostname", "box", img, "hostname")); got != "box" {
		t.Errorf("hostname = %q, want box", got)
	}
	r := e.run(img, "hostname")
	if got := strings.TrimSpace(r.stdout); r.code != 0 || got != r.name {
		t.Errorf("default hostname = %q (exit %d), want the container id %q", got, r.code, r.name)
	}
}

func TestCommandIsPID1AndSeesOnlyItsProcesses(t *testing.T) {
	e := newEnv(t)
	out := e.runOK(busyboxImage(t), "/bin/sh", "-c", `echo $$; ls -d /proc/[0-9]*`)
	lines := strings.Fields(out)
	if len(lines) == 0 || lines[0] != "1" {
		t.Fatalf("the command's pid = %q, want 1", out)
	}
	// The shell expands the glob itself: PID 1 is the only process.
	if procs := lines[1:]; len(procs) != 1 || procs[0] != "/proc/1" {
		t.Errorf("processes seen in the container: %q, want only /proc/1", procs)
	}
}

// TestOwnNamespaces compares each namespace of the container's PID 1 with
// the test's own, which are the host's.
func TestOwnNamespaces(t *testing.T) {
	e := newEnv(t)
	kinds := []string{"pid", "mnt", "uts", "ipc", "net", "cgroup"}
	script := ""
	for _, k := range kinds {
		script += "readlink /proc/self/ns/" + k + "; "
	}
	got := strings.Fields(e.runOK(busyboxImage(t), "/bin/sh", "-c", script))
	if len(got) != len(kinds) {
		t.Fatalf("namespaces inside: %q", got)
	}
	for i, k := range kinds {
		host, err := os.Readlink("/proc/self/ns/" + k)
		if err != nil {
			t.Fatal(err)
		}
		if got[i] == host {
			t.Errorf("%s namespace is the host's (%s)", k, host)
		}
	}
}

func TestOnlyLoopbackAndItIsUp(t *testing.T) {
	e := newEnv(t)
	out := e.runOK(busyboxImage(t), "/bin/sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags")
	fields := strings.Fields(out)
	if len(fields) != 3 || fields[0] != "lo" {
		t.Fatalf("interfaces: %q, want only lo", out)
	}
	// operstate of lo is "unknown" even when up; the IFF_UP bit says it.
	if flags := fields[2]; !strings.HasSuffix(flags, "9") {
		t.Errorf("lo flags %s: want IFF_UP|IFF_LOOPBACK (0x9)", flags)
	}
}

// TestMountInsideNotSeenOutside mounts a tmpfs in a running container and
// looks for it in the host's mount table while the container still runs.
func TestMountInsideNotSeenOutside(t *testing.T) {
	e := newEnv(t)
	// Mounting needs CAP_SYS_ADMIN, which a container lacks by default.
	c := e.start("-i", "--cap-add", "SYS_ADMIN", busyboxImage(t), "/bin/sh", "-c",
		"mount -t tmpfs crate-test-marker /mnt && echo ready && grep -c crate-test-marker /proc/self/mountinfo; read x")
	if inside := c.next(); inside != "1" {
		t.Fatalf("the mount inside the container: grep -c says %q, want 1", inside)
	}
	host, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(host), "crate-test-marker") {
		t.Error("the container's mount is visible on the host")
	}
	c.stdin.Write([]byte("done\n"))
	if r := e.wait(c); r.code != 0 {
		t.Errorf("exit %d, stderr: %s", r.code, r.stderr)
	}
}

func TestMinimalDev(t *testing.T) {
	e := newEnv(t)
	out := e.runOK(busyboxImage(t), "/bin/sh", "-c",
		"ls /dev | tr '\\n' ' '; echo; for l in ptmx fd stdin; do readlink /dev/$l; done; echo x > /dev/null && head -c 4 /dev/zero | wc -c; echo hi > /dev/shm/f && cat /dev/shm/f")
	for _, want := range []string{"fd full null ptmx pts random shm stderr stdin stdout tty urandom zero", "pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n", "\n4\nhi"} {
		if !strings.Contains(out, want) {
			t.Errorf("/dev: %q lacks %q", out, want)
		}
	}
}

func TestSysIsReadOnly(t *testing.T) {
	e := newEnv(t)
	r := e.run(busyboxImage(t), "/bin/sh", "-c", "echo 1 > /sys/kernel/profiling")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("write to /sys: exit %d, stderr %q; want a read-only file system error", r.code, r.stderr)
	}
}

func TestWorkdirAndEnv(t *testing.T) {
	e := newEnv(t)
	out := e.runOK("-w", "/srv/app", "-e", "GREETING=hello,world", "-e", "HOME=/home/x", busyboxImage(t),
		"/bin/sh", "-c", `pwd; echo "$GREETING $HOME $PATH"`)
	want := "/srv/app\nhello,world /home/x /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	if out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

// TestInitsEnvironmentStaysInit: crate-init runs with an environment of
// crate's (GOMAXPROCS), which the command, with or without --init, never
// sees.
func TestInitsEnvironmentStaysInit(t *testing.T) {
	e := newEnv(t)
	for _, flags := range [][]string{nil, {"--init"}} {
		out := e.runOK(append(flags, busyboxImage(t), "env")...)
		if strings.Contains(out, "GOMAXPROCS") {
			t.Errorf("crate run %v: the command's environment has crate-init's:\n%s", flags, out)
		}
	}
}

// TestNoPivot runs with chroot instead of pivot_root: the container works the
// same from the inside.
func TestNoPivot(t *testing.T) {
	e := newEnv(t)
	out := e.runOK("--no-pivot", "--hostname", "chrooted", busyboxImage(t), "/bin/sh", "-c", "hostname; echo $$; ls /")
	if !strings.HasPrefix(out, "chrooted\n1\n") || !strings.Contains(out, "busybox") && !strings.Contains(out, "bin") {
		t.Errorf("--no-pivot: %q", out)
	}
}

// TestBothFlagOrders runs the docker-like form, the original form with
// crate's flags after a one-word command, and -- handing a flag-looking word
// to the command.
func TestBothFlagOrders(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"flags first", []string{"--hostname", "box", "--memory", "64", "--cpu", "50", img, "hostname"}, "box\n"},
		{"original form", []string{img, "hostname", "--hostname", "box", "--memory", "64", "--cpu", "50"}, "box\n"},
		{"-- ends crate's flags", []string{img, "--", "/bin/echo", "--memory"}, "--memory\n"},
		{"the command's own flags", []string{img, "echo", "-n", "x", "--memory"}, "x --memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.runOK(tt.args...); got != tt.want {
				t.Errorf("crate run %q printed %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}
