package main

// Docker (dockerd 20.10, on a containerd of the test's) driving the runtime,
// registered as the runtime "crate".

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dockerClient is Debian's docker CLI (docker.io), named by its path: the
// machine's image has another, static docker CLI (28.x) in /usr/local/bin,
// which comes first in $PATH.
const dockerClient = "/usr/bin/docker"

// docker is a dockerd of one test: its data, run directory and socket under
// the test's directory, no bridge and no firewall rules.
type docker struct {
	dir, sock string
	runtime   *recorder
	env       []string
}

// startDocker starts a dockerd whose runtime "crate" is the runtime under
// test, wrapped in a recorder, and loads the busybox image into it.
func startDocker(t *testing.T) *docker {
	t.Helper()
	bin := requireEngine(t, "dockerd", "docker.io")
	requireFile(t, dockerClient, "docker.io")
	// dockerd's own containerd would make /opt/containerd (its opt plugin's
	// default, which dockerd does not let one set): it gets one of the test's
	// instead, as Debian's docker.service gives it the system's
	// (--containerd=/run/containerd/containerd.sock).
	ctrd := startContainerd(t, false)
	dir := engineDir(t)
	d := &docker{dir: dir, sock: filepath.Join(dir, "docker.sock"), runtime: newRecorder(t, dir, engineRuntime(t))}
	// The client's configuration (~/.docker) is the test's own too.
	d.env = []string{"DOCKER_CONFIG=" + filepath.Join(dir, "client")}
	// Not /etc/docker/daemon.json. Its one setting has no flag: dockerd
	// 20.10 would otherwise write its "trust key" to /etc/docker/key.json.
	config := filepath.Join(dir, "daemon.json")
	daemonJSON := fmt.Sprintf("{%q: %q}\n", "deprecated-key-path", filepath.Join(dir, "key.json"))
	if err := os.WriteFile(config, []byte(daemonJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, dir, "API listen on "+d.sock, bin,
		"--config-file", config,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"--host", "unix://"+d.sock,
		"--containerd", ctrd.sock,
		// No docker0, no iptables or ip6tables rules, no forwarding or
		// masquerading changed on the host: containers run with --network none.
		"--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
		"--userland-proxy=false",
		"--storage-driver", "overlay2",
		"--cgroup-parent", engineCgroupParent(t, dir),
		"--add-runtime", "crate="+d.runtime.path,
		"--log-level", "info")
	// Registered after the daemon's cleanup, so run before it.
	t.Cleanup(func() {
		ids := d.docker(t, "ps", "--all", "--quiet").stdout
		for _, id := range strings.Fields(ids) {
			t.Logf("removing container %s left behind", id)
			d.docker(t, "rm", "--force", id)
		}
	})
	d.docker(t, "load", "--input", engineImage(t)).mustSucceed(t, "docker load")
	return d
}

// args are the docker client's command line for args.
func (d *docker) args(args ...string) []string {
	return append([]string{"--host", "unix://" + d.sock}, args...)
}

// docker runs the docker client.
func (d *docker) docker(t *testing.T, args ...string) engineResult {
	t.Helper()
	return runEngineCommand(t, d.env, dockerClient, d.args(args...)...)
}

// runArgs are the options of every `docker run`.
func (d *docker) runArgs(args ...string) []string {
	return append([]string{"run", "--runtime", "crate", "--network", "none"}, args...)
}

func TestEngineDocker(t *testing.T) {
	d := startDocker(t)

	t.Run("run", func(t *testing.T) {
		out := d.docker(t, d.runArgs("--rm", engineImageName, "echo", "hi")...).mustSucceed(t, "docker run")
		if out != "hi\n" {
			t.Errorf("docker run echo hi: stdout %q, want %q", out, "hi\n")
		}
	})

	t.Run("terminal", func(t *testing.T) {
		out, code := runInPty(t, d.env, dockerClient, d.args(d.runArgs("--rm", "-it", engineImageName,
			"sh", "-c", "tty; [ -t 0 ] && echo stdin-is-a-terminal")...)...)
		if code != 0 || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "stdin-is-a-terminal") {
			t.Errorf("docker run -it: exit %d, output %q; want 0 and a /dev/pts terminal", code, out)
		}
	})

	t.Run("exec and stop", func(t *testing.T) {
		id := strings.TrimSpace(d.docker(t, d.runArgs(append([]string{"-d", engineImageName}, trapTerm...)...)...).
			mustSucceed(t, "docker run -d"))
		defer d.docker(t, "rm", "--force", id)
		out := d.docker(t, "exec", id, "cat", "/proc/1/comm").mustSucceed(t, "docker exec")
		if out != "sh\n" { // in the container's pid namespace
			t.Errorf("docker exec cat /proc/1/comm: stdout %q, want %q", out, "sh\n")
		}
		d.docker(t, "stop", id).mustSucceed(t, "docker stop")
		// 0: the shell's trap ran, so SIGTERM reached it (not SIGKILL, 137).
		if code := strings.TrimSpace(d.docker(t, "inspect", "--format", "{{.State.ExitCode}}", id).
			mustSucceed(t, "docker inspect")); code != "0" {
			t.Errorf("after docker stop: exit code %s, want 0", code)
		}
		d.docker(t, "rm", id).mustSucceed(t, "docker rm")
	})

	t.Run("failing command", func(t *testing.T) {
		r := d.docker(t, d.runArgs("--rm", engineImageName, "/nonexistent")...)
		t.Logf("docker run /nonexistent: exit %d, stderr:\n%s", r.code, r.stderr)
		// Docker finds 127 in the runtime's error text, as podman does.
		if r.code != 127 || !strings.Contains(r.stderr, "/nonexistent") {
			t.Errorf("docker run /nonexistent: exit %d, stderr %q; want 127 and /nonexistent named", r.code, r.stderr)
		}
	})

	d.runtime.requireCalled(t, "create", "start", "exec", "kill", "delete")
	if left := d.docker(t, "ps", "--all", "--quiet").mustSucceed(t, "docker ps"); left != "" {
		t.Errorf("containers left: %s", left)
	}
}
