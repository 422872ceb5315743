package main

// Docker's safe defaults: capabilities, no_new_privs, masked and read-only
// /proc and /sys paths, a default pids limit.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// capEff reads a CapEff line's hexadecimal mask.
func capEff(t *testing.T, status string) uint64 { return capField(t, status, "CapEff") }

// capField reads the hexadecimal mask of field name (CapEff, CapBnd, ...)
// in the text of a /proc/PID/status.
func capField(t *testing.T, status, name string) uint64 {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in %q", name, status)
	return 0
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t)
	host, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	held := capEff(t, string(host)) // what crate, run by this test, holds
	// Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID
	// SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
	const defaultCaps = 0xa80425fb
	const netAdmin = 1 << 12
	tests := []struct {
		name  string
		flags []string
		want  uint64
	}{
		{"root gets the default set", nil, defaultCaps & held},
		{"a non-root user gets none", []string{"--user", "nobody"}, 0},
		{"--cap-drop ALL", []string{"--cap-drop", "ALL"}, 0},
		{"--cap-add NET_ADMIN", []string{"--cap-add", "NET_ADMIN"}, (defaultCaps | netAdmin) & held},
		{"--privileged keeps all crate holds", []string{"--privileged"}, held},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := e.runOK(append(tt.flags, busyboxImage(t), "cat", "/proc/self/status")...)
			if got := capEff(t, out); got != tt.want {
				t.Errorf("CapEff %#x, want %#x", got, tt.want)
			}
		})
	}
}

// TestRefusedByDefault tries what root in a container must not do.
func TestRefusedByDefault(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, script, says string
	}{
		{"mount", "mount -t tmpfs none /tmp", "permission denied"},
		{"write /proc/sys", "echo x > /proc/sys/kernel/ostype", "Read-only file system"},
		{"write /sys", "echo 1 > /sys/kernel/profiling", "Read-only file system"},
		{"set the hostname", "hostname other", "not permitted"},
		// MKNOD makes the node; the devices cgroup refuses to open it.
		{"read a host disk through a node", "mknod /tmp/disk b 8 0 && head -c 1 /tmp/disk", "not permitted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(busyboxImage(t), "/bin/sh", "-c", tt.script)
			if r.code == 0 || !strings.Contains(r.stderr, tt.says) {
				t.Errorf("exit %d, stderr %q; want a failure saying %q", r.code, r.stderr, tt.says)
			}
		})
	}
}

func TestMaskedPaths(t *testing.T) {
	e := newEnv(t)
	var script []string
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"} {
		if _, err := os.Stat(p); err == nil { // this kernel has it
			script = append(script, "wc -c < "+p)
		}
	}
	if _, err := os.Stat("/sys/firmware"); err == nil {
		script = append(script, "ls /sys/firmware | wc -l")
	}
	if len(script) == 0 {
		t.Fatal("this kernel has none of the masked paths to check")
	}
	for _, line := range strings.Fields(e.runOK(busyboxImage(t), "/bin/sh", "-c", strings.Join(script, "; "))) {
		if line != "0" {
			t.Errorf("a masked path shows %s bytes or entries (script %q)", line, script)
		}
	}
	// --privileged unmasks.
	if _, err := os.Stat("/proc/timer_list"); err == nil {
		if out := e.runOK("--privileged", busyboxImage(t), "/bin/sh", "-c", "wc -c < /proc/timer_list"); out == "0\n" {
			t.Error("--privileged still masks /proc/timer_list")
		}
	}
}

func TestNoNewPrivileges(t *testing.T) {
	e := newEnv(t)
	for flag, want := range map[string]string{"": "0", "no-new-privileges": "1"} {
		args := []string{busyboxImage(t), "grep", "NoNewPrivs", "/proc/self/status"}
		if flag != "" {
			args = append([]string{"--security-opt", flag}, args...)
		}
		if out := e.runOK(args...); strings.Fields(out)[1] != want {
			t.Errorf("--security-opt %q: %q, want NoNewPrivs %s", flag, out, want)
		}
	}
}

// TestDefaultPidsLimit: without --pids a fork bomb still meets a limit.
func TestDefaultPidsLimit(t *testing.T) {
	e := newEnv(t)
	read := "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null; true"
	if out := strings.TrimSpace(e.runOK(busyboxImage(t), "/bin/sh", "-c", read)); out != "4096" {
		t.Errorf("default pids.max %q, want 4096", out)
	}
	if out := strings.TrimSpace(e.runOK("--pids", "-1", busyboxImage(t), "/bin/sh", "-c", read)); out != "max" {
		t.Errorf("--pids -1: pids.max %q, want max", out)
	}
}

// TestHostFdInvisible starts crate with an extra descriptor open, as a
// careless caller might (the CVE-2024-21626 class): the command sees only
// its standard streams.
func TestHostFdInvisible(t *testing.T) {
	e := newEnv(t)
	secret, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer secret.Close()
	// "; true" keeps sh as PID 1, listing its own descriptors: busybox would
	// otherwise exec ls in its place, and ls has a directory open.
	cmd := e.command("run", "--name", newName(), busyboxImage(t), "/bin/sh", "-c", "ls /proc/$$/fd; true")
	// fd 8 in crate, without close-on-exec; above the three crate-init gets.
	cmd.ExtraFiles = []*os.File{nil, nil, nil, nil, nil, secret}
	r := e.finish(cmd, "")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if fds := strings.Fields(r.stdout); strings.Join(fds, " ") != "0 1 2" {
		t.Errorf("descriptors open in the container: %v, want 0 1 2", fds)
	}
}

// TestReadOnlyRootWithTmpfs: --read-only refuses writes to the root, with
// an overlay and with a copy; a --tmpfs stays writable, with its options.
func TestReadOnlyRootWithTmpfs(t *testing.T) {
	e := newEnv(t)
	for _, storage := range []string{"overlay", "copy"} {
		t.Run(storage, func(t *testing.T) {
			r := e.run("--storage", storage, "--read-only", "--tmpfs", "/tmp:size=1m", busyboxImage(t), "/bin/sh", "-c",
				"touch /etc/x; touch /tmp/y && echo tmp-writable; grep ' /tmp ' /proc/mounts")
			if !strings.Contains(r.stderr, "Read-only file system") {
				t.Errorf("writing to the root: stderr %q, want a read-only error", r.stderr)
			}
			if !strings.HasPrefix(r.stdout, "tmp-writable\n") || !strings.Contains(r.stdout, "size=1024k") ||
				!strings.Contains(r.stdout, "nosuid,nodev,noexec") {
				t.Errorf("the tmpfs: %q", r.stdout)
			}
		})
	}
}

// TestUlimitAndSysctl: --ulimit reaches the command; a namespaced --sysctl
// is set in the container and not on the host.
func TestUlimitAndSysctl(t *testing.T) {
	e := newEnv(t)
	host, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	want := "1"
	if strings.TrimSpace(string(host)) == "1" {
		want = "0"
	}
	out := e.runOK("--ulimit", "nofile=100:200", "--sysctl", "net.ipv4.ip_forward="+want, busyboxImage(t),
		"/bin/sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward")
	if out != "100\n200\n"+want+"\n" {
		t.Errorf("got %q, want 100, 200 and ip_forward %s", out, want)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(after) != string(host) {
		t.Errorf("the host's ip_forward changed: %q -> %q", host, after)
	}
}

// TestVolumes: a read-write volume is the host's directory, both ways; a
// read-only one refuses writes; a file can be a volume too.
func TestVolumes(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "from-host"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := e.runOK("-v", dir+":/data", "-v", dir+":/ro:ro", "-v", filepath.Join(dir, "from-host")+":/etc/motd:ro",
		busyboxImage(t), "/bin/sh", "-c",
		"cat /data/from-host /etc/motd; echo bye > /data/from-container; touch /ro/x 2>&1 || echo ro-refused")
	if out != "hello\nhello\ntouch: /ro/x: Read-only file system\nro-refused\n" {
		t.Errorf("output %q", out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "from-container"))
	if err != nil || string(got) != "bye\n" {
		t.Errorf("the container's write, seen on the host: %q, %v", got, err)
	}
}
