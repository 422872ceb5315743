package main

// Podman (rootful, no daemon) driving the runtime through conmon.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// podman is the podman of one test: its storage, run directory, locks and
// events under the test's directory, its configuration written by the test
// rather than read from /etc/containers.
type podman struct {
	dir          string
	runtime      *recorder
	env          []string // CONTAINERS_CONF, CONTAINERS_STORAGE_CONF
	global       []string // podman's global options
	cgroupParent string
}

// podmanConf is containers.conf. No systemd here: cgroupfs, events in a
// file. File locks under tmp_dir instead of the host-wide shared memory
// segment /dev/shm/libpod_lock. Root lacks CAP_SYS_RESOURCE here, so the
// rlimits podman sets by default (RLIMIT_NOFILE 1048576, above the hard
// limit) would fail in the runtime: they are set to what root may set.
const podmanConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %[1]q
lock_type = "file"
tmp_dir = %[2]q
static_dir = %[3]q
volume_path = %[4]q
image_copy_tmp_dir = %[5]q

[network]
network_config_dir = %[6]q
`

// podmanStorageConf is storage.conf: overlay under the test's directory.
const podmanStorageConf = `[storage]
driver = "overlay"
graphroot = %q
runroot = %q
`

// startPodman prepares a podman whose containers run the runtime under test,
// wrapped in a recorder, and loads the busybox image into it.
func startPodman(t *testing.T) *podman {
	t.Helper()
	requireEngine(t, "podman", "podman")
	requireEngine(t, "conmon", "conmon")
	dir := engineDir(t)
	p := &podman{dir: dir, runtime: newRecorder(t, dir, engineRuntime(t)), cgroupParent: engineCgroupParent(t, dir)}
	path := func(name string) string { return filepath.Join(dir, name) }
	for _, d := range []string{"tmp", "imagetmp", "networks"} {
		if err := os.MkdirAll(path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(podmanConf, path("events.log"), path("tmp"), path("root/libpod"), path("volumes"),
		path("imagetmp"), path("networks"))
	storage := fmt.Sprintf(podmanStorageConf, path("root"), path("runroot"))
	for name, body := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(path(name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// TMPDIR: podman makes container storage under /var/tmp by default,
	// which the cgroup v2 VM does not have.
	p.env = []string{"CONTAINERS_CONF=" + path("containers.conf"), "CONTAINERS_STORAGE_CONF=" + path("storage.conf"),
		"TMPDIR=" + path("tmp")}
	p.global = []string{"--root", path("root"), "--runroot", path("runroot"), "--tmpdir", path("tmp"),
		"--runtime", p.runtime.path, "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--storage-driver", "overlay"}
	// Rootful podman passes no --root to the runtime, whose state goes to its
	// default (/run/runc for runc). --runtime-flag root=DIR would move it,
	// but podman 4.3 leaves the runtime flags out of `delete --force`, which
	// would then look for the container in the default root.
	// Registered after engineDir's cleanup, so run before it.
	t.Cleanup(func() {
		p.podman(t, "rm", "--all", "--force", "--time", "0")
		// Unmounts the storage podman keeps mounted.
		p.podman(t, "system", "prune", "--force")
	})
	p.podman(t, "load", "--input", engineImage(t)).mustSucceed(t, "podman load")
	return p
}

// args are podman's command line for args.
func (p *podman) args(args ...string) []string {
	return append(append([]string{}, p.global...), args...)
}

// podman runs podman.
func (p *podman) podman(t *testing.T, args ...string) engineResult {
	t.Helper()
	return runEngineCommand(t, p.env, "podman", p.args(args...)...)
}

// runArgs are the options of every `podman run`.
func (p *podman) runArgs(args ...string) []string {
	return append([]string{"run", "--network", "none", "--cgroup-parent", p.cgroupParent}, args...)
}

func TestEnginePodman(t *testing.T) {
	p := startPodman(t)

	t.Run("run", func(t *testing.T) {
		out := p.podman(t, p.runArgs("--rm", engineImageName, "echo", "hi")...).mustSucceed(t, "podman run")
		if out != "hi\n" {
			t.Errorf("podman run echo hi: stdout %q, want %q", out, "hi\n")
		}
	})

	t.Run("terminal", func(t *testing.T) {
		out, code := runInPty(t, p.env, "podman", p.args(p.runArgs("--rm", "-it", engineImageName,
			"sh", "-c", "tty; [ -t 0 ] && echo stdin-is-a-terminal")...)...)
		if code != 0 || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "stdin-is-a-terminal") {
			t.Errorf("podman run -it: exit %d, output %q; want 0 and a /dev/pts terminal", code, out)
		}
	})

	t.Run("exec and stop", func(t *testing.T) {
		id := strings.TrimSpace(p.podman(t, p.runArgs(append([]string{"-d", engineImageName}, trapTerm...)...)...).
			mustSucceed(t, "podman run -d"))
		defer p.podman(t, "rm", "--force", "--time", "0", id)
		out := p.podman(t, "exec", id, "cat", "/proc/1/comm").mustSucceed(t, "podman exec")
		if out != "sh\n" { // in the container's pid namespace
			t.Errorf("podman exec cat /proc/1/comm: stdout %q, want %q", out, "sh\n")
		}
		p.podman(t, "stop", id).mustSucceed(t, "podman stop")
		// 0: the shell's trap ran, so SIGTERM reached it (not SIGKILL, 137).
		if code := strings.TrimSpace(p.podman(t, "inspect", "--format", "{{.State.ExitCode}}", id).
			mustSucceed(t, "podman inspect")); code != "0" {
			t.Errorf("after podman stop: exit code %s, want 0", code)
		}
		p.podman(t, "rm", id).mustSucceed(t, "podman rm")
	})

	t.Run("failing command", func(t *testing.T) {
		r := p.podman(t, p.runArgs("--rm", engineImageName, "/nonexistent")...)
		t.Logf("podman run /nonexistent: exit %d, stderr:\n%s", r.code, r.stderr)
		// Podman finds 127 in the runtime's error text ("no such file or
		// directory"), as a shell would for a missing command.
		if r.code != 127 || !strings.Contains(r.stderr, "/nonexistent") {
			t.Errorf("podman run /nonexistent: exit %d, stderr %q; want 127 and /nonexistent named", r.code, r.stderr)
		}
	})

	p.runtime.requireCalled(t, "create", "start", "exec", "kill", "delete")
	if left := p.podman(t, "ps", "--all", "--quiet").mustSucceed(t, "podman ps"); left != "" {
		t.Errorf("containers left: %s", left)
	}
}
