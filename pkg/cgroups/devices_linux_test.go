package cgroups

// Device rules enforced for real: a child in the cgroup creates and opens
// device nodes and reports what the kernel answered. Like the other
// integration tests, these run on the v1 CI host (devices hierarchy) and in
// the cgroup v2 VM (BPF program).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/testutil"
)

// The device helper is this test binary, run again as the child: its
// environment says what to do.
const (
	deviceStepsEnv = "CRATE_TEST_DEVICE_STEPS" // steps, separated by ";"
	deviceDirEnv   = "CRATE_TEST_DEVICE_DIR"   // where the child mounts its tmpfs
)

// TestDeviceHelper is not a test: it is the child of runDeviceSteps. It
// waits for EOF on stdin (sent once it is in the cgroup), mounts a tmpfs in
// its own mount namespace, so that it may hold device nodes, and runs each
// step, printing 0 or the errno it failed with, one line per step:
//
//	mknod NAME c|b MAJOR MINOR   a node in the tmpfs
//	open PATH r|w|rw             PATH absolute, or a name in the tmpfs; nothing is read
func TestDeviceHelper(t *testing.T) {
	steps := os.Getenv(deviceStepsEnv)
	if steps == "" {
		return // run as a test: nothing to do
	}
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "device helper: "+format+"\n", args...)
		os.Exit(2)
	}
	if _, err := io.ReadAll(os.Stdin); err != nil {
		fail("wait for the gate: %v", err)
	}
	dir := os.Getenv(deviceDirEnv)
	// The mount namespace is the child's own (Unshareflags), and Go made its
	// mounts private: this tmpfs is invisible to the host and dies with us.
	if err := unix.Mount("crate-test-devices", dir, "tmpfs", 0, "mode=0700"); err != nil {
		fail("mount tmpfs on %s: %v", dir, err)
	}
	for _, step := range strings.Split(steps, ";") {
		f := strings.Fields(step)
		var err error
		switch {
		case len(f) == 5 && f[0] == "mknod":
			mode := uint32(unix.S_IFCHR)
			if f[2] == "b" {
				mode = unix.S_IFBLK
			}
			major, _ := strconv.Atoi(f[3])
			minor, _ := strconv.Atoi(f[4])
			err = unix.Mknod(filepath.Join(dir, f[1]), mode|0o600, int(unix.Mkdev(uint32(major), uint32(minor))))
		case len(f) == 3 && f[0] == "open":
			path := f[1]
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			flags := map[string]int{"r": unix.O_RDONLY, "w": unix.O_WRONLY, "rw": unix.O_RDWR}[f[2]]
			var fd int
			if fd, err = unix.Open(path, flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0); err == nil {
				unix.Close(fd)
			}
		default:
			fail("bad step %q", step)
		}
		var errno unix.Errno
		if err != nil && !errors.As(err, &errno) {
			fail("%s: %v", step, err)
		}
		fmt.Println(int(errno))
	}
	os.Exit(0)
}

// step is one thing the child tries, and the errno it should get (0: none).
type step struct {
	do   string
	want unix.Errno
}

// runDeviceSteps runs the helper in m: born there with Start, or started
// outside and moved in with Place before it does anything.
func runDeviceSteps(t *testing.T, m Manager, start bool, steps []step) []unix.Errno {
	t.Helper()
	var dos []string
	for _, s := range steps {
		dos = append(dos, s.do)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeviceHelper$")
	cmd.Env = append(os.Environ(), deviceStepsEnv+"="+strings.Join(dos, ";"), deviceDirEnv+"="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if start {
		runtime.LockOSThread() // as Start requires
		err = m.Start(cmd)
		runtime.UnlockOSThread()
	} else if err = cmd.Start(); err == nil {
		err = m.Place(cmd.Process.Pid)
	}
	stdin.Close()
	if err != nil {
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("device helper: %v\n%s", err, stderr.String())
	}
	var got []unix.Errno
	for _, line := range strings.Fields(stdout.String()) {
		n, err := strconv.Atoi(line)
		if err != nil {
			t.Fatalf("device helper printed %q:\n%s", stdout.String(), stderr.String())
		}
		got = append(got, unix.Errno(n))
	}
	if len(got) != len(steps) {
		t.Fatalf("device helper answered %d steps of %d:\n%s%s", len(got), len(steps), stdout.String(), stderr.String())
	}
	return got
}

func errnoName(e unix.Errno) string {
	if e == 0 {
		return "success"
	}
	return unix.ErrnoName(e)
}

// TestDeviceRules: what a root process in the container may mknod and open.
// /dev/mem is opened, never read.
func TestDeviceRules(t *testing.T) {
	testutil.RequireRoot(t)
	const eperm = unix.EPERM
	defaults := []step{
		{"open /dev/null rw", 0},
		{"mknod null c 1 3", 0}, // a node of its own for an allowed device
		{"open null rw", 0},
		{"mknod mem c 1 1", 0}, // mknod of any char device is allowed...
		{"open mem r", eperm},  // ... opening one outside the list is not
		{"mknod sda b 8 0", 0}, // the CVE: a node for the host's disk
		{"open sda r", eperm},
	}
	tests := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		start bool // born in the cgroup (Start) rather than moved in (Place)
		steps []step
	}{
		{"docker defaults, placed", spec.DefaultDeviceRules(), false, defaults},
		{"docker defaults, born in the cgroup", spec.DefaultDeviceRules(), true, defaults},
		{"read-only null, no mknod", []specs.LinuxDeviceCgroup{dev("c", 1, 3, "r")}, false, []step{
			{"open /dev/null r", 0},
			{"open /dev/null rw", eperm},
			{"mknod null c 1 3", eperm},
		}},
		{"any minor of major 1", []specs.LinuxDeviceCgroup{dev("c", 1, -1, "rw")}, true, []step{
			{"open /dev/full rw", 0},
			{"open /dev/tty r", eperm},
		}},
		{"deny everything", []specs.LinuxDeviceCgroup{}, true, []step{
			{"open /dev/null r", eperm},
			{"mknod mem c 1 1", eperm},
		}},
		{"OCI form", []specs.LinuxDeviceCgroup{denyAll, dev("c", 1, 3, "rw")}, false, []step{
			{"open /dev/null rw", 0},
			{"open /dev/zero r", eperm},
		}},
		{"allow everything", []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}, false, []step{
			{"mknod full c 1 7", 0},
			{"open full rw", 0},
			{"mknod sda b 8 0", 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestCgroup(t, &specs.LinuxResources{Devices: tt.rules})
			got := runDeviceSteps(t, m, tt.start, tt.steps)
			for i, s := range tt.steps {
				if got[i] != s.want {
					t.Errorf("%s (%v): %s, want %s", s.do, m.Mode(), errnoName(got[i]), errnoName(s.want))
				}
			}
		})
	}
}

// TestDeviceRulesWrittenV1 reads the rules back from devices.list.
func TestDeviceRulesWrittenV1(t *testing.T) {
	testutil.RequireRoot(t)
	m := newTestCgroup(t, &specs.LinuxResources{Devices: spec.DefaultDeviceRules()})
	if m.Mode() != ModeV1 {
		t.Skip("cgroup v1 only: v2 has no devices.list")
	}
	var want []string
	for _, r := range spec.DefaultDeviceRules()[1:] { // after the deny-all, the list devices.list shows
		want = append(want, formatDevice(r))
	}
	if got := readCgroupFile(t, m, "devices", "devices.list"); got != strings.Join(want, "\n") {
		t.Errorf("devices.list =\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// BenchmarkCreateDestroy measures what device rules add to a container's
// start and cleanup: on v1 a hierarchy and 13 writes, on v2 a BPF program.
func BenchmarkCreateDestroy(b *testing.B) {
	testutil.RequireRoot(b)
	for _, bc := range []struct {
		name    string
		devices []specs.LinuxDeviceCgroup
	}{{"no device rules", nil}, {"docker defaults", spec.DefaultDeviceRules()}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				m, err := New(nil, Config{Root: DefaultRoot, Path: fmt.Sprintf("crate-bench-%d-%d", os.Getpid(), i), Resources: withDevices(limits(0, 0, 0, 100), bc.devices)})
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Create(); err != nil {
					b.Fatal(err)
				}
				if err := m.Destroy(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
