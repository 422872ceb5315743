package main

// containerd driving the runtime: through ctr (its own client, its
// io.containerd.runc.v2 shim) and through its CRI plugin, as the kubelet
// would, with crictl.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// containerd is a containerd of one test, with its own root, state and
// socket, and the client options that reach it.
type containerd struct {
	dir, sock string
	namespace string // ctr's namespace, also the parent cgroup of its containers
	runtime   *recorder
	fifoDir   string
}

// containerdConfig is containerd's config.toml (version 2, containerd 1.6):
// plugins that need hardware, kernel modules or network this host and test
// do not have are disabled; the CRI plugin only when cri is set.
const containerdConfig = `version = 2
root = %[1]q
state = %[2]q
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
  %[4]s
]

[grpc]
  address = %[3]q

[plugins."io.containerd.internal.v1.opt"]
  # Not /opt/containerd: nothing of a test outside its directory.
  path = %[5]q
`

// containerdCRIConfig is added to containerdConfig for the CRI tests: the
// runtime handler "crate" runs the runtime under test through the runc
// shim; the sandbox image is the local pause image; the CNI configuration and
// plugin are the test's own; network namespaces are mounted under the state
// directory, not /var/run/netns.
const containerdCRIConfig = `
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[1]q
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  # The sandbox's oomScoreAdj is -998, and lowering it needs
  # CAP_SYS_RESOURCE, which root lacks here: runc's nsexec fails with
  # "failed to update /proc/self/oom_score_adj: Permission denied". This
  # keeps it no lower than containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[2]q
    conf_dir = %[3]q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "crate"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crate]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crate.options]
        BinaryName = %[4]q
        Root = %[5]q
`

// startContainerd starts a containerd whose containers run the runtime under
// test, wrapped in a recorder; with cri, its CRI plugin too.
func startContainerd(t *testing.T, cri bool) *containerd {
	t.Helper()
	bin := requireEngine(t, "containerd", "containerd")
	requireEngine(t, "ctr", "containerd")
	dir := engineDir(t)
	c := &containerd{dir: dir, sock: filepath.Join(dir, "containerd.sock"), fifoDir: filepath.Join(dir, "fifo")}
	c.namespace = engineCgroupParent(t, dir)[1:]
	c.runtime = newRecorder(t, dir, engineRuntime(t))
	disabled := `"io.containerd.grpc.v1.cri",`
	if cri {
		disabled = ""
	}
	config := fmt.Sprintf(containerdConfig, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock,
		disabled, filepath.Join(dir, "opt"))
	if cri {
		cniBin, cniConf := filepath.Join(dir, "cni", "bin"), filepath.Join(dir, "cni", "net.d")
		writeCNI(t, cniBin, cniConf)
		config += fmt.Sprintf(containerdCRIConfig, pauseImageName, cniBin, cniConf, c.runtime.path, filepath.Join(dir, "runc"))
	}
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, dir, "containerd successfully booted", bin, "--config", configPath, "--log-level", "info")
	// Registered after the daemon's cleanup, so run before it: what a
	// failed test left running goes while containerd can still do it.
	t.Cleanup(func() { c.removeAll(t) })
	c.ctr(t, "version").mustSucceed(t, "ctr version")
	return c
}

// ctr runs ctr against this containerd, in its namespace.
func (c *containerd) ctr(t *testing.T, args ...string) engineResult {
	t.Helper()
	return runEngineCommand(t, nil, "ctr", append([]string{"--address", c.sock, "--namespace", c.namespace}, args...)...)
}

// ctrArgs are ctr's options, for runs under a terminal.
func (c *containerd) ctrArgs(args ...string) []string {
	return append([]string{"--address", c.sock, "--namespace", c.namespace}, args...)
}

// runArgs are the options of every `ctr run`: the runtime under test, its
// state (--root) and the fifos under the test's directory rather than
// /run/containerd/runc/NAMESPACE and /run/containerd/fifo.
func (c *containerd) runArgs() []string {
	return []string{"--runc-binary", c.runtime.path, "--runc-root", filepath.Join(c.dir, "runc"), "--fifo-dir", c.fifoDir}
}

// removeAll kills and deletes every task and container a failed test left.
func (c *containerd) removeAll(t *testing.T) {
	t.Helper()
	// ctr's, the CRI's and dockerd's namespaces.
	for _, ns := range []string{c.namespace, "k8s.io", "moby"} {
		ids := runEngineCommand(t, nil, "ctr", "--address", c.sock, "--namespace", ns, "containers", "list", "--quiet").stdout
		for _, id := range strings.Fields(ids) {
			t.Logf("removing container %s left in namespace %s", id, ns)
			runEngineCommand(t, nil, "ctr", "--address", c.sock, "--namespace", ns, "tasks", "kill", "--signal", "SIGKILL", id)
			runEngineCommand(t, nil, "ctr", "--address", c.sock, "--namespace", ns, "tasks", "delete", "--force", id)
			runEngineCommand(t, nil, "ctr", "--address", c.sock, "--namespace", ns, "containers", "delete", id)
		}
	}
}

// importImage imports an image archive into namespace ns.
func (c *containerd) importImage(t *testing.T, ns, archive string) {
	t.Helper()
	runEngineCommand(t, nil, "ctr", "--address", c.sock, "--namespace", ns, "images", "import", archive).
		mustSucceed(t, "ctr images import")
}

func TestEngineContainerd(t *testing.T) {
	c := startContainerd(t, false)
	c.importImage(t, c.namespace, engineImage(t))

	t.Run("run", func(t *testing.T) {
		out := c.ctr(t, append(append([]string{"run"}, c.runArgs()...), "--rm", engineImageName, "run1", "echo", "hi")...).
			mustSucceed(t, "ctr run")
		if out != "hi\n" {
			t.Errorf("ctr run echo hi: stdout %q, want %q", out, "hi\n")
		}
	})

	t.Run("terminal", func(t *testing.T) {
		out, code := runInPty(t, nil, "ctr", c.ctrArgs(append(append([]string{"run"}, c.runArgs()...),
			"--rm", "-t", engineImageName, "tty1", "sh", "-c", "tty; [ -t 0 ] && echo stdin-is-a-terminal")...)...)
		if code != 0 || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "stdin-is-a-terminal") {
			t.Errorf("ctr run -t: exit %d, output %q; want 0 and a /dev/pts terminal", code, out)
		}
	})

	t.Run("detached", func(t *testing.T) {
		const id = "detached1"
		c.ctr(t, append(append([]string{"run"}, c.runArgs()...), "-d", engineImageName, id, "sleep", "2147483647")...).
			mustSucceed(t, "ctr run -d")
		defer func() {
			c.ctr(t, "containers", "delete", id).mustSucceed(t, "ctr containers delete")
		}()

		out := c.ctr(t, "tasks", "exec", "--exec-id", "exec1", "--fifo-dir", c.fifoDir, id, "cat", "/proc/1/comm").
			mustSucceed(t, "ctr tasks exec")
		if out != "sleep\n" { // in the task's pid namespace
			t.Errorf("ctr tasks exec cat /proc/1/comm: stdout %q, want %q", out, "sleep\n")
		}
		ps := c.ctr(t, "tasks", "ps", id).mustSucceed(t, "ctr tasks ps")
		if len(strings.Split(strings.TrimSpace(ps), "\n")) != 2 { // the header and sleep
			t.Errorf("ctr tasks ps: want one process, got\n%s", ps)
		}

		c.ctr(t, "tasks", "pause", id).mustSucceed(t, "ctr tasks pause")
		if st := c.taskStatus(t, id); st != "PAUSED" {
			t.Errorf("after pause: task status %q, want PAUSED", st)
		}
		c.ctr(t, "tasks", "resume", id).mustSucceed(t, "ctr tasks resume")
		if st := c.taskStatus(t, id); st != "RUNNING" {
			t.Errorf("after resume: task status %q, want RUNNING", st)
		}

		c.ctr(t, "tasks", "kill", "--signal", "SIGKILL", id).mustSucceed(t, "ctr tasks kill")
		// delete waits for the task to have exited (it fails on a running one).
		c.ctr(t, "tasks", "delete", id).mustSucceed(t, "ctr tasks delete")
	})

	t.Run("failing command", func(t *testing.T) {
		r := c.ctr(t, append(append([]string{"run"}, c.runArgs()...), "--rm", engineImageName, "fail1", "/nonexistent")...)
		t.Logf("ctr run /nonexistent: exit %d, stderr:\n%s", r.code, r.stderr)
		if r.code == 0 || !strings.Contains(r.stderr, "/nonexistent") {
			t.Errorf("ctr run /nonexistent: exit %d, stderr %q; want a failure naming /nonexistent", r.code, r.stderr)
		}
		// --rm does not remove a container whose task never started.
		c.ctr(t, "containers", "delete", "fail1")
	})

	c.runtime.requireCalled(t, "create", "start", "exec", "ps", "pause", "resume", "kill", "delete")
	if left := c.ctr(t, "containers", "list", "--quiet").stdout; left != "" {
		t.Errorf("containers left: %s", left)
	}
}

// taskStatus is the status ctr shows for task id (RUNNING, PAUSED, ...).
func (c *containerd) taskStatus(t *testing.T, id string) string {
	t.Helper()
	out := c.ctr(t, "tasks", "list").mustSucceed(t, "ctr tasks list")
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	t.Fatalf("no task %s in\n%s", id, out)
	return ""
}

// cniPlugin is the only CNI plugin of the CRI tests: it gives the pod's
// network namespace an eth0 with a documentation address, a veth whose
// peer stays in the same namespace: no bridge, interface or route on the
// host. (A dummy interface would do, but this kernel has no dummy driver.) The CRI plugin
// needs a CNI result with an address on eth0 for every pod that does not
// use the host's network.
const cniPlugin = `#!/bin/sh
set -e
read -r config || true
case "$CNI_COMMAND" in
ADD)
	nsenter --net="$CNI_NETNS" ip link add "$CNI_IFNAME" type veth peer name crate-peer
	nsenter --net="$CNI_NETNS" ip addr add 192.0.2.2/24 dev "$CNI_IFNAME"
	nsenter --net="$CNI_NETNS" ip link set "$CNI_IFNAME" up
	printf '{"cniVersion":"0.4.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"version":"4","address":"192.0.2.2/24","interface":0}]}\n' "$CNI_IFNAME" "$CNI_NETNS"
	;;
VERSION)
	echo '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}'
	;;
esac
`

// writeCNI writes the CNI configuration and plugin of the CRI tests: the
// plugin above, then the standard loopback plugin (Debian's
// containernetworking-plugins), which containerd also runs on its own.
func writeCNI(t *testing.T, binDir, confDir string) {
	t.Helper()
	for _, d := range []string{binDir, confDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(binDir, "crate-veth"), []byte(cniPlugin), 0o755); err != nil {
		t.Fatal(err)
	}
	loopback := "/usr/lib/cni/loopback"
	requireFile(t, loopback, "containernetworking-plugins")
	if err := os.Symlink(loopback, filepath.Join(binDir, "loopback")); err != nil {
		t.Fatal(err)
	}
	conf := `{"cniVersion":"0.4.0","name":"crate-test","plugins":[{"type":"crate-veth"}]}`
	if err := os.WriteFile(filepath.Join(confDir, "10-crate.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// crictl runs `go tool crictl` against a containerd's CRI socket.
func (c *containerd) crictl(t *testing.T, args ...string) engineResult {
	t.Helper()
	// A config file of its own: without one, crictl looks for
	// /etc/crictl.yaml and then next to its binary, in Go's build cache.
	config := filepath.Join(c.dir, "crictl.yaml")
	if _, err := os.Stat(config); err != nil {
		y := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n", c.sock, c.sock)
		if err := os.WriteFile(config, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := crictlBin()
	if err != nil {
		t.Fatal(err)
	}
	return runEngineCommand(t, nil, bin, append([]string{"--config", config}, args...)...)
}

// crictlBin is the path of crictl, the Go tool dependency of go.mod: `go
// tool -n crictl` builds it (once, into Go's build cache) and names it. Each
// `go tool crictl` would cost a second of the go command's own checks.
// CRATE_CRICTL names a prebuilt one (the cgroup v2 VM has no build cache).
var crictlBin = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("CRATE_CRICTL"); p != "" {
		return p, nil
	}
	out, err := exec.Command("go", "tool", "-n", "crictl").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go tool -n crictl: %w\n%s", err, ee.Stderr)
		}
		return "", fmt.Errorf("go tool -n crictl: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
})

// writeEngineJSON writes v as JSON in the engine's directory and returns the path.
func writeEngineJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEngineContainerdCRI(t *testing.T) {
	c := startContainerd(t, true)
	c.importImage(t, "k8s.io", engineImage(t))
	c.importImage(t, "k8s.io", pauseImage(t))

	cgroupParent := "/" + c.namespace
	pod := writeEngineJSON(t, c.dir, "pod.json", map[string]any{
		"metadata": map[string]any{"name": "crate-pod", "namespace": "default", "uid": "crate-pod-uid", "attempt": 1},
		"hostname": "crate-pod",
		"linux":    map[string]any{"cgroup_parent": cgroupParent},
	})
	ctrConfig := writeEngineJSON(t, c.dir, "container.json", map[string]any{
		"metadata": map[string]any{"name": "app"},
		"image":    map[string]any{"image": engineImageName},
		"command":  trapTerm,
		"linux":    map[string]any{},
	})

	podID := strings.TrimSpace(c.crictl(t, "runp", "--runtime", "crate", pod).mustSucceed(t, "crictl runp"))
	defer func() {
		c.crictl(t, "stopp", podID).mustSucceed(t, "crictl stopp")
		c.crictl(t, "rmp", podID).mustSucceed(t, "crictl rmp")
	}()
	ctrID := strings.TrimSpace(c.crictl(t, "create", podID, ctrConfig, pod).mustSucceed(t, "crictl create"))
	c.crictl(t, "start", ctrID).mustSucceed(t, "crictl start")

	// The app container is in the pod's network namespace, which is not the
	// host's: the runtime joined the namespace the sandbox holds.
	var inspect struct {
		Info struct {
			Pid int `json:"pid"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(c.crictl(t, "inspectp", "-o", "json", podID).mustSucceed(t, "crictl inspectp")), &inspect); err != nil {
		t.Fatal(err)
	}
	podNet, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", inspect.Info.Pid))
	if err != nil {
		t.Fatalf("the sandbox's network namespace: %v", err)
	}
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	appNet := strings.TrimSpace(c.crictl(t, "exec", "-s", ctrID, "readlink", "/proc/self/ns/net").mustSucceed(t, "crictl exec"))
	if appNet != podNet || podNet == hostNet {
		t.Errorf("network namespaces: app %s, pod %s, host %s; want the app in the pod's, not the host's", appNet, podNet, hostNet)
	}
	if out := c.crictl(t, "exec", "-s", ctrID, "ip", "-o", "addr", "show", "eth0").mustSucceed(t, "crictl exec ip"); !strings.Contains(out, "192.0.2.2") {
		t.Errorf("the app's eth0: %q, want the CNI plugin's 192.0.2.2", out)
	}

	c.crictl(t, "stop", ctrID).mustSucceed(t, "crictl stop")
	c.crictl(t, "rm", ctrID).mustSucceed(t, "crictl rm")
	c.runtime.requireCalled(t, "create", "start", "exec", "kill", "delete")
}
