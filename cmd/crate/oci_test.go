package main

// The runtime commands (runc's command line), driven as an engine drives
// them: a bundle, create with a pid file, start, state, kill, delete, exec
// with a process file, a console socket. The engines themselves are in
// engines_test.go.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/spec"
)

// ociBundle makes a bundle of the busybox image whose process runs args,
// with the config runc spec writes (changed by edit, if given), and
// returns its directory.
func ociBundle(t *testing.T, args []string, edit func(*specs.Spec)) string {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	extractImage(t, busyboxImage(t), rootfs)
	s := runcSpec(args)
	if edit != nil {
		edit(s)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// extractImage unpacks a gzip-compressed rootfs tarball into dir.
func extractImage(t *testing.T, image, dir string) {
	t.Helper()
	f, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode)|0o700)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			var body []byte
			if body, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, body, os.FileMode(h.Mode))
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// runcSpec is the config `runc spec` writes, with args as the process.
func runcSpec(args []string) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version:  "1.0.2-dev",
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "oci",
		Process: &specs.Process{
			Args: args, Cwd: "/",
			Env:             []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths:   []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// ociEnv runs the runtime commands against a run directory of its own, as
// an engine would: --root, --log and --log-format json.
type ociEnv struct {
	*env
	log string // the --log file
}

func newOCIEnv(t *testing.T) *ociEnv {
	t.Helper()
	e := newEnv(t)
	return &ociEnv{env: e, log: filepath.Join(t.TempDir(), "log.json")}
}

// runtime returns `crate --root R --log L --log-format json ARGS...`.
func (o *ociEnv) runtime(args ...string) *exec.Cmd {
	all := append([]string{"--log", o.log, "--log-format", "json"}, args...)
	return o.command(all...)
}

// ok runs a runtime command that must succeed and returns its stdout.
func (o *ociEnv) ok(args ...string) string {
	o.t.Helper()
	r := o.result(args...)
	if r.code != 0 {
		o.t.Fatalf("crate %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// result runs a runtime command and returns how it ended. Its output goes
// through files, not pipes: the stdio of create (and of exec) is the
// container's, which holds it as long as it runs.
func (o *ociEnv) result(args ...string) result {
	o.t.Helper()
	cmd := o.runtime(args...)
	dir := o.t.TempDir()
	files := make([]*os.File, 2)
	for i := range files {
		f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)))
		if err != nil {
			o.t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	cmd.Stdout, cmd.Stderr = files[0], files[1]
	code := exitStatus(o.t, cmd, cmd.Run())
	out, _ := os.ReadFile(files[0].Name())
	errOut, _ := os.ReadFile(files[1].Name())
	return result{code: code, stdout: string(out), stderr: string(errOut)}
}

// create creates container id of bundle, as containerd's shim does: its
// stdio are pipes, and create must return without anything of crate's
// holding them. It returns init's PID, read from the pid file.
func (o *ociEnv) create(id, bundle string, extra ...string) int {
	o.t.Helper()
	pidFile := filepath.Join(o.t.TempDir(), "pid")
	o.ok(append(append([]string{"create", "--bundle", bundle, "--pid-file", pidFile}, extra...), id)...)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		o.t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil {
		o.t.Fatalf("pid file %q: not a bare decimal PID: %v", data, err)
	}
	o.t.Cleanup(func() {
		o.runtime("delete", "--force", id).Run()
		o.noLeftovers(id)
	})
	return pid
}

// state is `crate state ID`, decoded.
func (o *ociEnv) state(id string) spec.StateOutput {
	o.t.Helper()
	var st spec.StateOutput
	if err := json.Unmarshal([]byte(o.ok("state", id)), &st); err != nil {
		o.t.Fatal(err)
	}
	return st
}

// waitExit waits for the process pid, not a child of the test, to exit.
func waitExit(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int((2 * time.Minute).Milliseconds()))
		if !errors.Is(err, unix.EINTR) {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestOCILifecycle: create leaves the container made, init in its cgroup
// and the command not run; start runs it; state tells created, running and
// stopped; delete removes everything but the bundle.
func TestOCILifecycle(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	bundle := ociBundle(t, []string{"sh", "-c", "touch /started; read line < /dev/shm/fifo 2>/dev/null; exec sleep 1000"}, nil)
	pid := o.create(id, bundle)

	cgroup, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cgroup), "/crate-"+id) {
		t.Errorf("right after create, init's cgroups are\n%s\nwant crate-%s", cgroup, id)
	}
	if st := o.state(id); st.Status != specs.StateCreated || st.Pid != pid || st.Bundle != bundle ||
		st.Rootfs != filepath.Join(bundle, "rootfs") || st.ID != id {
		t.Errorf("state after create = %+v, want created, pid %d, bundle %s", st, pid, bundle)
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs", "started")); err == nil {
		t.Fatal("the command ran before start")
	}
	o.ok("start", id)
	if _, err := os.Stat(filepath.Join(bundle, "rootfs", "started")); err != nil {
		t.Errorf("after start: %v", err)
	}
	if st := o.state(id); st.Status != specs.StateRunning || st.Pid != pid {
		t.Errorf("state after start = %+v, want running, pid %d", st, pid)
	}
	if out := o.result("start", id); out.code == 0 {
		t.Error("a second start succeeded")
	}
	if out := o.result("delete", id); out.code == 0 || !strings.Contains(out.stderr, "--force") {
		t.Errorf("delete of a running container: exit %d, stderr %q; want a refusal naming --force", out.code, out.stderr)
	}
	o.ok("kill", id, "KILL")
	waitExit(t, pid)
	if st := o.state(id); st.Status != specs.StateStopped {
		t.Errorf("state after the kill = %s, want stopped", st.Status)
	}
	o.ok("kill", "--all", id, "9") // as engines do, on a stopped container
	o.ok("delete", id)
	o.noLeftovers(id)
	if _, err := os.Stat(filepath.Join(bundle, "config.json")); err != nil {
		t.Errorf("the bundle went with the container: %v", err)
	}
	if out := o.result("state", id); out.code == 0 {
		t.Error("state of a deleted container succeeded")
	}
	o.ok("delete", "--force", id) // a missing one, with --force
}

// TestOCIOOMScoreAdj: process.oomScoreAdj is init's once created, and so
// the command's.
func TestOCIOOMScoreAdj(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	adj := 500 // raising it needs no capability
	pid := o.create(id, ociBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) { s.Process.OOMScoreAdj = &adj }))
	got, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/oom_score_adj")
	if err != nil || strings.TrimSpace(string(got)) != "500" {
		t.Errorf("init's oom_score_adj = %q (%v), want 500", got, err)
	}
	o.ok("delete", id)
}

// TestOCIKillSignals: kill takes signals as numbers and names, with or
// without SIG, and delivers them to the container's PID 1.
func TestOCIKillSignals(t *testing.T) {
	o := newOCIEnv(t)
	for _, sig := range []string{"15", "TERM", "SIGTERM"} {
		t.Run(sig, func(t *testing.T) {
			id := newName()
			bundle := ociBundle(t, []string{"sh", "-c", "trap 'touch /termed; exit 0' TERM; touch /ready; while :; do sleep 0.1; done"}, nil)
			pid := o.create(id, bundle)
			o.ok("start", id)
			o.ok("kill", id, sig)
			waitExit(t, pid)
			if _, err := os.Stat(filepath.Join(bundle, "rootfs", "termed")); err != nil {
				t.Errorf("the container's PID 1 did not get SIGTERM: %v", err)
			}
			o.ok("delete", id)
		})
	}
}

// TestOCIDeleteCreated: a container created and never started is deleted
// without --force, its init killed at the gate.
func TestOCIDeleteCreated(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	pid := o.create(id, ociBundle(t, []string{"true"}, nil))
	o.ok("delete", id)
	waitExit(t, pid)
	o.noLeftovers(id)
}

// TestOCIStdioNotHeld: create's caller gives it the container's stdio, and
// waits for every writer of them to close: nothing of crate may keep a
// copy once create and start have returned, or the caller hangs.
func TestOCIStdioNotHeld(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	bundle := ociBundle(t, []string{"echo", "hello"}, nil)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pidFile := filepath.Join(t.TempDir(), "pid")
	create := o.runtime("create", "--bundle", bundle, "--pid-file", pidFile, id)
	create.Stdout, create.Stderr = w, w
	err = create.Run()
	w.Close()
	t.Cleanup(func() { o.runtime("delete", "--force", id).Run() })
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	o.ok("start", id)
	// A safety net, not a measure: a leaked copy would block the read for ever.
	r.SetReadDeadline(time.Now().Add(2 * time.Minute))
	out, err := io.ReadAll(r) // EOF only once no process holds the pipe
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "hello\n" {
		t.Errorf("the container's stdout: %q, want hello", out)
	}
}

// TestOCIInheritedFdNotHeld: a descriptor the engine leaves open in create
// (containerd's shim leaves a socket) is not held by the container,
// neither while it waits at the start gate nor after.
func TestOCIInheritedFdNotHeld(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	bundle := ociBundle(t, []string{"sleep", "1000"}, nil)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	create := o.runtime("create", "--bundle", bundle, id)
	// At fd 10, not close-on-exec: above the descriptors crate gives init,
	// which would cover a lower one.
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	for range 7 {
		create.ExtraFiles = append(create.ExtraFiles, devNull)
	}
	create.ExtraFiles = append(create.ExtraFiles, w)
	err = create.Run()
	w.Close()
	t.Cleanup(func() { o.runtime("delete", "--force", id).Run() })
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	// A safety net, not a measure: a held copy would block the read for ever.
	r.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if n, err := r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read of the engine's pipe with the container at its start gate: %d, %v; want EOF (no copy held)", n, err)
	}
}

// TestOCIExec: exec --process runs a process in the container, in the
// foreground with its exit code, or detached with its PID in the pid file.
func TestOCIExec(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	bundle := ociBundle(t, []string{"sleep", "1000"}, nil)
	pid := o.create(id, bundle)
	o.ok("start", id)
	process := func(args ...string) string {
		p := runcSpec(args).Process
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "process.json")
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	r := o.result("exec", "--process", process("sh", "-c", "hostname; exit 7"), id)
	if r.code != 7 || r.stdout != "oci\n" {
		t.Errorf("exec: exit %d, stdout %q; want 7 and the container's hostname", r.code, r.stdout)
	}
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	o.ok("exec", "--detach", "--pid-file", pidFile, "--process", process("sh", "-c", "echo $$ > /exec.pid; exec sleep 1000"), id)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	execPid, err := strconv.Atoi(string(data))
	if err != nil {
		t.Fatalf("exec's pid file %q: %v", data, err)
	}
	var ps []int
	if err := json.Unmarshal([]byte(o.ok("ps", "--format", "json", id)), &ps); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(slices.Sorted(slices.Values(ps)), slices.Sorted(slices.Values([]int{pid, execPid}))) {
		t.Errorf("ps --format json = %v, want init %d and the exec %d", ps, pid, execPid)
	}
	o.ok("kill", "--all", id, "KILL")
	waitExit(t, execPid)
	waitExit(t, pid)
	o.ok("delete", id)
}

// TestOCIPauseResume: pause freezes the container, state says paused,
// resume thaws it.
func TestOCIPauseResume(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	o.create(id, ociBundle(t, []string{"sleep", "1000"}, nil))
	o.ok("start", id)
	o.ok("pause", id)
	if st := o.state(id); st.Status != "paused" {
		t.Errorf("state after pause = %s, want paused", st.Status)
	}
	o.ok("resume", id)
	if st := o.state(id); st.Status != specs.StateRunning {
		t.Errorf("state after resume = %s, want running", st.Status)
	}
	o.ok("delete", "--force", id)
}

// TestOCIConsoleSocket: with process.terminal, create sends the master of
// the container's terminal to the console socket, and the command's stdio
// is the slave.
func TestOCIConsoleSocket(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	bundle := ociBundle(t, []string{"sh", "-c", "tty; echo typed: $(head -n1)"}, func(s *specs.Spec) { s.Process.Terminal = true })
	sock, masters := consoleSocket(t)
	o.create(id, bundle, "--console-socket", sock)
	master := <-masters
	if master == nil {
		t.Fatal("no terminal master came on the console socket")
	}
	defer master.Close()
	o.ok("start", id)
	if _, err := master.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	io.Copy(&out, master) // until EIO: the container's last holder of the slave is gone
	if s := out.String(); !strings.Contains(s, "/dev/pts/0") || !strings.Contains(s, "typed: hi") {
		t.Errorf("the terminal showed %q, want its name in the container's devpts, /dev/pts/0, and the line typed", s)
	}
}

// consoleSocket listens on a console socket, as an engine does, and
// returns its path and where the master it gets comes (nil for none).
func consoleSocket(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	masters := make(chan *os.File, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			masters <- nil
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || perr != nil || len(msgs) != 1 {
			masters <- nil
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			masters <- nil
			return
		}
		masters <- os.NewFile(uintptr(fds[0]), "master")
	}()
	return sock, masters
}

// TestOCIExecConsole: exec of a process with a terminal makes it in the
// container's devpts too, its master sent to the exec's console socket.
func TestOCIExecConsole(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	o.create(id, ociBundle(t, []string{"sleep", "1000"}, nil))
	o.ok("start", id)
	p := runcSpec([]string{"sh", "-c", "tty; echo typed: $(head -n1)"}).Process
	p.Terminal = true
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	process := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(process, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sock, masters := consoleSocket(t)
	o.ok("exec", "--detach", "--console-socket", sock, "--process", process, id)
	master := <-masters
	if master == nil {
		t.Fatal("no terminal master came on the console socket")
	}
	defer master.Close()
	if _, err := master.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	io.Copy(&out, master)
	if s := out.String(); !strings.Contains(s, "/dev/pts/") || !strings.Contains(s, "typed: hi") {
		t.Errorf("the exec's terminal showed %q, want a name in the container's /dev/pts and the line typed", s)
	}
	o.ok("delete", "--force", id)
}

// TestHostileOCIExecConsole: the terminal of an exec is opened in a
// container that runs, whose /dev/pts its processes may have replaced: a
// ptmx that is a symlink or a FIFO is refused, in one line, and nothing
// hangs on it.
func TestHostileOCIExecConsole(t *testing.T) {
	o := newOCIEnv(t)
	for _, tt := range []struct{ name, plant string }{
		{"symlink", "ln -s ../null /dev/pts/ptmx"},
		{"fifo", "mkfifo /dev/pts/ptmx"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := newName()
			o.create(id, ociBundle(t, []string{"sleep", "1000"}, nil))
			o.ok("start", id)
			processFile := func(terminal bool, args ...string) string {
				p := runcSpec(args).Process
				p.Terminal = terminal
				caps := append(p.Capabilities.Bounding, "CAP_SYS_ADMIN", "CAP_MKNOD")
				p.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
				data, err := json.Marshal(p)
				if err != nil {
					t.Fatal(err)
				}
				f := filepath.Join(t.TempDir(), "process.json")
				if err := os.WriteFile(f, data, 0o644); err != nil {
					t.Fatal(err)
				}
				return f
			}
			// The container's root takes its devpts away and plants its own ptmx.
			o.ok("exec", "--process", processFile(false, "sh", "-c", "umount /dev/pts && "+tt.plant), id)
			sock, masters := consoleSocket(t)
			r := o.result("exec", "--detach", "--console-socket", sock, "--process", processFile(true, "true"), id)
			if r.code == 0 || !strings.Contains(r.stderr, "/dev/pts/ptmx") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("exec with a planted %s ptmx: exit %d, stderr %q; want a refusal in one line naming /dev/pts/ptmx", tt.name, r.code, r.stderr)
			}
			select {
			case m := <-masters:
				if m != nil {
					m.Close()
					t.Error("a terminal master was sent for a planted ptmx")
				}
			default:
			}
			o.ok("delete", "--force", id)
		})
	}
}

// TestOCIErrorsReachLogAndStderr: a failing runtime command says why on
// stderr, for podman, and as a json line of level error in --log, whose
// message containerd shows.
func TestOCIErrorsReachLogAndStderr(t *testing.T) {
	o := newOCIEnv(t)
	bundle := ociBundle(t, []string{"true"}, func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" })
	id := newName()
	r := o.result("create", "--bundle", bundle, id)
	if r.code != 125 || !strings.Contains(r.stderr, "apparmorProfile") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("create: exit %d, stderr %q; want 125 and one line naming apparmorProfile", r.code, r.stderr)
	}
	o.noLeftovers(id)
	data, err := os.ReadFile(o.log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var last map[string]string
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("--log line %q: %v", lines[len(lines)-1], err)
	}
	if _, err := time.Parse(time.RFC3339, last["time"]); err != nil || last["level"] != "error" ||
		!strings.Contains(last["msg"], "apparmorProfile") {
		t.Errorf("last --log line %v, want level error, an RFC 3339 time and the message", last)
	}
}

// TestOCIHooks: prestart hooks run at create with the container's state on
// stdin, poststop hooks at delete.
func TestOCIHooks(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	out := t.TempDir()
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + filepath.Join(out, name)}}
	}
	bundle := ociBundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{Prestart: []specs.Hook{hook("prestart")}, Poststop: []specs.Hook{hook("poststop")}}
	})
	pid := o.create(id, bundle)
	var st specs.State
	data, err := os.ReadFile(filepath.Join(out, "prestart"))
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil || st.ID != id || st.Pid != pid || st.Bundle != bundle {
		t.Errorf("prestart hook's state %s (%v), want id %s, pid %d, bundle %s", data, err, id, pid, bundle)
	}
	o.ok("delete", id)
	if _, err := os.Stat(filepath.Join(out, "poststop")); err != nil {
		t.Errorf("poststop hook: %v", err)
	}
}

// TestOCIListAndCratePs: a container made by create shows in runc's list
// and in crate's own ps.
func TestOCIListAndCratePs(t *testing.T) {
	o := newOCIEnv(t)
	id := newName()
	o.create(id, ociBundle(t, []string{"sleep", "1000"}, nil))
	var list []spec.StateOutput
	if err := json.Unmarshal([]byte(o.ok("list", "--format", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].Status != specs.StateCreated {
		t.Errorf("list = %+v, want %s created", list, id)
	}
	if ps := o.ok("ps", "-a"); !strings.Contains(ps, id) || !strings.Contains(ps, "Created") {
		t.Errorf("crate ps -a:\n%s\nwant %s, created", ps, id)
	}
	o.ok("delete", id)
}

// TestRuntimeVersion: --version is runc's, with commit: and spec: lines.
func TestRuntimeVersion(t *testing.T) {
	out, err := exec.Command(crateBin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"crate version ", "\ncommit: ", "\nspec: " + specs.Version} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--version:\n%s\nwant %q", out, want)
		}
	}
}

// TestRuntimeForm: runc's forms of ps, exec and kill are told from crate's
// own by their arguments.
func TestRuntimeForm(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"ps"}, "ps"},
		{[]string{"ps", "-a"}, "ps"},
		{[]string{"ps", "--format", "json"}, "ps"},
		{[]string{"ps", "--format", "json", "abc"}, "oci-ps"},
		{[]string{"--root", "/r", "ps", "abc"}, "oci-ps"},
		{[]string{"--debug", "ps", "abc"}, "oci-ps"},
		{[]string{"exec", "abc", "ls"}, "exec"},
		{[]string{"exec", "-it", "abc", "sh"}, "exec"},
		{[]string{"exec", "--process", "/p.json", "abc"}, "oci-exec"},
		{[]string{"exec", "--process=/p.json", "-d", "abc"}, "oci-exec"},
		{[]string{"exec", "-p", "/p.json", "abc"}, "oci-exec"},
		{[]string{"kill", "abc"}, "kill"},
		{[]string{"kill", "abc", "def"}, "kill"},
		{[]string{"kill", "-s", "TERM", "abc"}, "kill"},
		{[]string{"kill", "-s", "TERM", "abc", "def"}, "kill"},
		{[]string{"kill", "abc", "9"}, "oci-kill"},
		{[]string{"kill", "abc", "SIGKILL"}, "oci-kill"},
		{[]string{"kill", "--all", "abc", "KILL"}, "oci-kill"},
		{[]string{"--log", "/l", "--log-format", "json", "kill", "abc", "15"}, "oci-kill"},
	}
	for _, tt := range tests {
		if got := commandWord(runtimeForm(tt.args)); got != tt.want {
			t.Errorf("%q: command %q, want %q", tt.args, got, tt.want)
		}
	}
}
