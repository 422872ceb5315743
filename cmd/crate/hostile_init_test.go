package main

// Hostile containers against crate-init's own steps: the kernel facts it
// uses, the order it mounts in, what it reads from the image, how crate exec
// enters a running container, and what the container may do to the
// operator's terminal. The container's file system is hostile, always: its
// image, its volumes, and its PID 1 once it runs, which may chroot, unmount
// or over-mount in its own view, and swap files for FIFOs and symlinks.

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crate-run/crate/pkg/testutil"
)

// dockerDefaultCaps is Docker's default capability set as a mask: CHOWN
// DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
// NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
const dockerDefaultCaps = 0xa80425fb

// Capability bits the tests add to the default set.
const (
	capNetRaw   = 1 << 13
	capSysAdmin = 1 << 21
)

// hostCaps reads the test's own bounding and effective sets: what crate,
// run by the test, holds and can hand on.
func hostCaps(t *testing.T) (bnd, eff uint64) {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	return capField(t, string(status), "CapBnd"), capField(t, string(status), "CapEff")
}

// wantCaps is the line `/attack caps` prints for a process of root that
// keeps set (nonRoot: a user other than root, who holds none of it).
func wantCaps(t *testing.T, set uint64, nonRoot bool) string {
	t.Helper()
	bnd, eff := hostCaps(t)
	held := set & eff
	if nonRoot {
		held = 0
	}
	return fmt.Sprintf("caps: bnd=%#x prm=%#x eff=%#x inh=0x0 amb=0x0\n", set&bnd, held, held)
}

// detachReady starts a detached container whose command prints "ready" once
// it is set up, and returns its name once it has, with the lines it prints
// after that.
func (e *env) detachReady(args ...string) (string, *bufio.Scanner) {
	e.t.Helper()
	name := e.detach(args...)
	logs := e.command("logs", "-f", name)
	stdout, err := logs.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	logs.Stderr = os.Stderr
	if err := logs.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { logs.Process.Kill(); logs.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		e.t.Fatalf("container %s: first line %q, want ready (crate ps -a: %s)", name, lines.Text(), e.ok("ps", "-a"))
	}
	return name, lines
}

// execCase is one crate exec into a running container: it must exit with
// code having printed want.
type execCase struct {
	name  string
	flags []string // exec's own
	cmd   []string
	want  string
	code  int
}

func (e *env) execCases(t *testing.T, container string, cases []execCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := slices.Concat([]string{"exec"}, c.flags, []string{container}, c.cmd)
			r := e.crate(args...)
			if r.code != c.code || r.stdout != c.want {
				t.Errorf("crate %q: exit %d, stdout %q; want %d, %q\nstderr: %s", args, r.code, r.stdout, c.code, c.want, r.stderr)
			}
		})
	}
}

// TestHostileExecIntoChrootedPID1: the container's PID 1 chroots into a
// directory with a forged /proc/sys/kernel/cap_last_cap of -1 (it has
// CAP_SYS_CHROOT by default). crate exec must not read anything there: it
// enters the root of the container's mount namespace, not PID 1's chroot,
// and drops the capabilities the container does not keep whatever that file
// says; with --no-pivot too, where the container's root was moved over the
// host's.
func TestHostileExecIntoChrootedPID1(t *testing.T) {
	e := newEnv(t)
	for _, flags := range [][]string{nil, {"--no-pivot"}} {
		t.Run(strings.Join(append([]string{"run"}, flags...), " "), func(t *testing.T) {
			name, _ := e.detachReady(append(flags, attackImage(t), "/attack", "chroot-forge", "/fake")...)
			e.execCases(t, name, []execCase{
				{name: "capabilities", cmd: attack("caps"), want: wantCaps(t, dockerDefaultCaps, false)},
				{name: "root", cmd: attack("stat", "/fake/attack"), want: "stat: ok\n"},
				{name: "-u nobody", flags: []string{"-u", "nobody"}, cmd: attack("caps"), want: wantCaps(t, dockerDefaultCaps, true)},
				{name: "-w", flags: []string{"-w", "/fake"}, cmd: attack("stat", "attack"), want: "stat: ok\n"},
			})
		})
	}
}

// TestHostileExecIntoUncoveredRoot: under --no-pivot, PID 1 given
// CAP_SYS_ADMIN can unmount the container's root and so uncover the host's
// in its mount namespace (the documented weakness of --no-pivot). crate
// exec refuses to enter a namespace whose root is the host's, rather than
// run the operator's command there.
func TestHostileExecIntoUncoveredRoot(t *testing.T) {
	e := newEnv(t)
	name, _ := e.detachReady("--no-pivot", "--cap-add", "SYS_ADMIN", attackImage(t), "/bin/sh", "-c",
		"umount -l / && echo ready && exec /attack pause")
	r := e.crate("exec", name, "/attack", "caps")
	if line := strings.TrimSpace(r.stderr); r.code != exitCrateFailed || r.stdout != "" || strings.Contains(line, "\n") || !strings.Contains(line, "host's root") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 125 and one line about the host's root", r.code, r.stdout, r.stderr)
	}
}

// TestHostileExecIntoForgedProc: PID 1, given CAP_SYS_ADMIN, covers /proc
// with a tmpfs holding a forged cap_last_cap, or unmounts /proc altogether,
// in the mount namespace crate exec joins. The exec'd process keeps the
// container's set, no more, and exec works without /proc.
func TestHostileExecIntoForgedProc(t *testing.T) {
	e := newEnv(t)
	img := attackImage(t)
	want := wantCaps(t, dockerDefaultCaps|capSysAdmin, false)
	for what, script := range map[string]string{
		"over-mounted": "mount -t tmpfs forged /proc && mkdir -p /proc/sys/kernel && echo -1 > /proc/sys/kernel/cap_last_cap",
		"unmounted":    "umount -l /proc",
	} {
		t.Run(what, func(t *testing.T) {
			name, _ := e.detachReady("--cap-add", "SYS_ADMIN", img, "/bin/sh", "-c", script+" && echo ready && exec /attack pause")
			e.execCases(t, name, []execCase{
				{name: "capabilities", cmd: attack("caps"), want: want},
				{name: "-u nobody", flags: []string{"-u", "nobody"}, cmd: attack("caps"),
					want: wantCaps(t, dockerDefaultCaps|capSysAdmin, true)},
			})
		})
	}
}

// TestHostileExecIsNeverTheHost watches the container's /proc, as a process
// holding CAP_SYS_PTRACE (--cap-add) can, while crate exec starts processes
// in it: none of them may ever show the host's file system through
// /proc/PID/root (a process that joined the PID namespace before it entered
// the container's root would, for as long as it takes to get there), nor a
// host binary writable through /proc/PID/exe.
func TestHostileExecIsNeverTheHost(t *testing.T) {
	e := newEnv(t)
	marker := filepath.Join(t.TempDir(), "host-marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The watcher is not PID 1: PID 1's end would kill the exec that
	// stops it before that exec could exit on its own.
	name, lines := e.detachReady("--cap-add", "SYS_PTRACE", attackImage(t), "/bin/sh", "-c",
		"/attack watch-roots "+marker+" /tmp/stop; exec sleep 1000")
	// A few suffice: a crate-init that joined the PID namespace before
	// the root was seen with the host's root in most of them.
	const execs = 10
	for range execs {
		// Each exec'd command waits until the watcher has seen it, so the
		// watcher is known to have looked at every one.
		e.ok("exec", name, "/bin/sh", "-c", `until [ -e /tmp/seen-$$ ]; do :; done`)
	}
	e.ok("exec", name, "touch", "/tmp/stop")
	if !lines.Scan() {
		t.Fatal("the watcher printed nothing")
	}
	var seen, host, writable int
	if _, err := fmt.Sscanf(lines.Text(), "watch-roots: seen=%d host=%d exe-writable=%d", &seen, &host, &writable); err != nil {
		t.Fatalf("watcher: %q: %v", lines.Text(), err)
	}
	if host != 0 || writable != 0 || seen < execs {
		t.Errorf("watcher: %q; want no process with the host's root or a writable exe, among at least %d", lines.Text(), execs)
	}
}

// withoutSystemDirs is busyboxFiles without /proc, /dev and /sys, for
// images that put something else there.
func withoutSystemDirs(t *testing.T, extra ...testutil.File) []testutil.File {
	t.Helper()
	files := slices.DeleteFunc(busyboxFiles(t), func(f testutil.File) bool {
		return f.Name == "proc" || f.Name == "dev" || f.Name == "sys"
	})
	return append(files, extra...)
}

// TestHostileSystemDirs: an image whose /proc, /dev or /sys is a symlink (into
// a volume, where the host's user or another container decides what lies)
// or not a directory is refused with one line, before anything runs: crate
// mounts procfs, the minimal /dev and sysfs there, and then reads and writes
// through them (capabilities, sysctls, masks). With /proc -> /data/proc and
// -v DIR:/data, procfs would be mounted in the volume and a forged
// cap_last_cap read from it.
func TestHostileSystemDirs(t *testing.T) {
	e := newEnv(t)
	vol := t.TempDir()
	for _, dir := range []string{"proc/sys/kernel", "dev", "sys"} {
		if err := os.MkdirAll(filepath.Join(vol, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(vol, "proc/sys/kernel/cap_last_cap"), []byte("-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := func(name, to string) testutil.File {
		return testutil.File{Name: name, Typeflag: tar.TypeSymlink, Link: to}
	}
	// The image has directories where its links lead, which the volume
	// then covers: mounted by path before the volume is attached, procfs
	// would land in the image's /data/proc and be hidden by the volume,
	// and /proc would lead to the volume's forged files.
	dirs := []testutil.File{{Name: "proc", Mode: 0o755, Typeflag: tar.TypeDir}, {Name: "dev", Mode: 0o755, Typeflag: tar.TypeDir},
		{Name: "sys", Mode: 0o755, Typeflag: tar.TypeDir}, {Name: "data", Mode: 0o755, Typeflag: tar.TypeDir},
		{Name: "data/proc", Mode: 0o755, Typeflag: tar.TypeDir}, {Name: "data/dev", Mode: 0o755, Typeflag: tar.TypeDir},
		{Name: "data/sys", Mode: 0o755, Typeflag: tar.TypeDir}}
	others := func(but string) []testutil.File {
		return slices.DeleteFunc(slices.Clone(dirs), func(f testutil.File) bool { return f.Name == but })
	}
	tests := []struct {
		name  string
		files []testutil.File
		dir   string // the one refused
	}{
		{"/proc into a volume", append(others("proc"), link("proc", "/data/proc")), "/proc"},
		{"/proc into a volume, relative", append(others("proc"), link("proc", "data/proc")), "/proc"},
		{"/proc two links away", append(others("proc"), link("proc", "/via/proc"), link("via", "/data")), "/proc"},
		{"/dev into a volume", append(others("dev"), link("dev", "/data/dev")), "/dev"},
		{"/sys into a volume", append(others("sys"), link("sys", "/data/sys")), "/sys"},
		{"/proc a file", append(others("proc"), testutil.File{Name: "proc", Mode: 0o644, Body: []byte("not procfs\n")}), "/proc"},
		{"/dev a FIFO", append(others("dev"), testutil.File{Name: "dev", Mode: 0o644, Typeflag: tar.TypeFifo}), "/dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := rootfsImage(t, append(withoutSystemDirs(t, testutil.File{Name: "attack", Mode: 0o755, Body: attackBinary(t)}), tt.files...))
			r := e.run("-v", vol+":/data", img, "/attack", "caps")
			line := strings.TrimSpace(r.stderr)
			if r.code != exitCrateFailed || strings.Contains(line, "\n") || !strings.Contains(line, "the image's "+tt.dir+" is ") {
				t.Errorf("exit %d, stdout %q, stderr %q; want 125 and one line saying what the image's %s is", r.code, r.stdout, r.stderr, tt.dir)
			}
		})
	}
}

// TestHostileSharedVolumeRace: a second container swaps a directory of a
// volume it shares for a symlink to "/" and back, as fast as it can, while
// containers are started with a volume attached below that directory. A
// volume can only land somewhere in their own root, and nothing they decide
// (capabilities, from the kernel; masks and sysctls, on their own procfs,
// made before any volume) is touched by the race.
func TestHostileSharedVolumeRace(t *testing.T) {
	e := newEnv(t)
	shared, inner := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(inner, "inner"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	etcMounts := mountsAt(t, "/etc")
	img := attackImage(t)
	racer, _ := e.detachReady("-v", shared+":/shared", img, "/bin/sh", "-c",
		`echo ready; while :; do rm -rf /shared/d; mkdir /shared/d; rm -rf /shared/d; ln -s / /shared/d; done 2>/dev/null`)
	want := wantCaps(t, dockerDefaultCaps, false)
	started, refused := 0, 0
	// /attack's own check of what it holds, and of /proc/kcore, masked.
	script := `/attack caps; [ -s /proc/kcore ] && echo "kcore readable"; true`
	for i := range 10 {
		r := e.run("-v", shared+":/vol", "-v", inner+":/vol/d/inner", img, "/bin/sh", "-c", script)
		switch {
		case r.code == 0 && r.stdout == want:
			started++
		case r.code == exitCrateFailed && r.stdout == "":
			// The volume's directory was a symlink, or missing, at the
			// wrong moment: refused, which is fine.
			refused++
		default:
			t.Errorf("run %d: exit %d, stdout %q, stderr %q; want %q or a refusal", i, r.code, r.stdout, r.stderr, want)
		}
	}
	t.Logf("%d containers started, %d refused", started, refused)
	e.ok("rm", "-f", racer)
	if n := mountsAt(t, "/etc"); n != etcMounts {
		t.Errorf("%d mounts on the host's /etc, %d before", n, etcMounts)
	}
	if _, err := os.Lstat("/inner"); err == nil {
		t.Error("a volume's file appeared in the host's /")
	}
}

// attackBinary is the attack program, as attackImage puts it in its image.
func attackBinary(t *testing.T) []byte {
	t.Helper()
	attackImage(t) // builds it if need be
	bin := os.Getenv("CRATE_ATTACK_BIN")
	if bin == "" {
		bin = filepath.Join(testTmp, "attack")
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// fileCaps is a security.capability attribute (VFS_CAP_REVISION_2) that
// grants inheritable, with the effective bit: a user whose inheritable set
// holds those capabilities gets them, effective, when it executes the file.
func fileCaps(inheritable uint64) string {
	const revision2, effective = 0x02000000, 0x1
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], revision2|effective)
	binary.LittleEndian.PutUint32(b[8:], uint32(inheritable))
	binary.LittleEndian.PutUint32(b[16:], uint32(inheritable>>32))
	return string(b)
}

// TestHostileInheritableCaps: the inheritable set is empty, as Docker's is
// since CVE-2022-24769. Were it the container's set, a user other than root
// (-u, or su/gosu in the image) would get those capabilities back by
// executing a file that carries them as inheritable file capabilities.
func TestHostileInheritableCaps(t *testing.T) {
	e := newEnv(t)
	body := attackBinary(t)
	img := rootfsImage(t, busyboxFiles(t,
		testutil.File{Name: "attack", Mode: 0o755, Body: body},
		testutil.File{Name: "fcap", Mode: 0o755, Body: body, Xattrs: map[string]string{"security.capability": fileCaps(capNetRaw)}}))
	runHostile(t, e, []hostileCase{
		{name: "root", img: img, cmd: attack("caps"), want: wantCaps(t, dockerDefaultCaps, false)},
		{name: "nobody", img: img, flags: []string{"-u", "nobody"}, cmd: attack("caps"), want: wantCaps(t, dockerDefaultCaps, true)},
		// su keeps the inheritable set across its setuid; /fcap's file
		// capabilities then grant whatever of it they name.
		{name: "su to nobody, who runs a file with inheritable capabilities", img: img,
			cmd: []string{"su", "-s", "/bin/sh", "-c", "/fcap caps", "nobody"}, want: wantCaps(t, dockerDefaultCaps, true)},
	})
}

// TestHostileTerminalWithoutTTY: crate run's stdout is the operator's
// terminal, without -t. A terminal is open for reading and writing, so the
// container could read what the operator types ahead for the next command,
// and with CAP_SYS_ADMIN push keystrokes into it (TIOCSTI) that the host's
// shell runs once crate exits. crate relays a terminal through pipes then.
func TestHostileTerminalWithoutTTY(t *testing.T) {
	e := newEnv(t)
	img := attackImage(t)
	t.Run("read type-ahead", func(t *testing.T) {
		s := e.onTerminal(24, 80, img, "/attack", "tty-read")
		s.send("typed ahead\n")
		s.expect("tty-read: ")
		if code, out := s.end(); code != 0 || !strings.HasPrefix(out, "EBADF") {
			t.Errorf("exit %d, tty-read: %q; want 0 and EBADF (the terminal must not be the container's)", code, out)
		}
	})
	t.Run("TIOCSTI", func(t *testing.T) {
		s := e.onTerminal(24, 80, "--cap-add", "SYS_ADMIN", img, "/attack", "tiocsti")
		s.expect("tiocsti: ")
		if code, out := s.end(); code != 0 || !strings.HasPrefix(out, "ENOTTY") {
			t.Errorf("exit %d, tiocsti: %q; want 0 and ENOTTY", code, out)
		}
	})
	t.Run("-i still reads the terminal", func(t *testing.T) {
		s := e.onTerminal(24, 80, "-i", img, "/bin/sh", "-c", `[ -t 0 ] || echo stdin-is-no-tty; read line; echo "got $line"`)
		s.send("hello\n")
		s.expect("got hello\n")
		if code, out := s.end(); code != 0 {
			t.Errorf("exit %d, output %q", code, out)
		}
	})
}

// TestHostileUserFiles: the image's (or, for exec, the running container's)
// /etc/passwd and /etc/group are read to switch user. A FIFO there would
// hang the start for good, a link to /dev/urandom would be read for ever;
// each is refused with one line. The tests fail, rather than hang, within
// the safety net of a minute.
func TestHostileUserFiles(t *testing.T) {
	e := newEnv(t)
	e.timeout = time.Minute
	// busybox's files, with one of them replaced.
	files := func(replace testutil.File) []testutil.File {
		files := slices.DeleteFunc(busyboxFiles(t), func(f testutil.File) bool { return f.Name == replace.Name })
		return append(files, replace)
	}
	refused := func(t *testing.T, r result, file string) {
		t.Helper()
		line := strings.TrimSpace(r.stderr)
		if r.code != exitCrateFailed || strings.Contains(line, "\n") || !strings.Contains(line, file) {
			t.Errorf("exit %d, stdout %q, stderr %q; want 125 and one line naming %s", r.code, r.stdout, r.stderr, file)
		}
	}
	for _, tt := range []struct {
		name string
		file testutil.File
	}{
		{"passwd a FIFO", testutil.File{Name: "etc/passwd", Mode: 0o644, Typeflag: tar.TypeFifo}},
		{"group a FIFO", testutil.File{Name: "etc/group", Mode: 0o644, Typeflag: tar.TypeFifo}},
		{"passwd a link to /dev/urandom", testutil.File{Name: "etc/passwd", Typeflag: tar.TypeSymlink, Link: "/dev/urandom"}},
	} {
		t.Run("run "+tt.name, func(t *testing.T) {
			refused(t, e.run("-u", "nobody", rootfsImage(t, files(tt.file)), "id"), "/"+tt.file.Name)
		})
	}
	t.Run("exec -u with passwd swapped for a FIFO", func(t *testing.T) {
		name, _ := e.detachReady(busyboxImage(t), "/bin/sh", "-c", "rm /etc/passwd && mkfifo /etc/passwd && echo ready && exec sleep 1000")
		refused(t, e.crate("exec", "-u", "nobody", name, "id"), "/etc/passwd")
	})
	t.Run("exec -u with passwd grown huge", func(t *testing.T) {
		name, _ := e.detachReady(busyboxImage(t), "/bin/sh", "-c",
			"yes 'x:x:0:0:x:/:/bin/sh' | head -c 40000000 >> /etc/passwd && echo ready && exec sleep 1000")
		refused(t, e.crate("exec", "-u", "nobody", name, "id"), "/etc/passwd")
	})
}

// TestInterruptedStart: a start that is stuck before the command runs ends
// on SIGTERM or SIGINT, within the stop timeout, or at once on a second
// one, leaving nothing. crate-init is stopped (SIGSTOP) by the test as soon
// as it exists, before it has executed the command.
func TestInterruptedStart(t *testing.T) {
	e := newEnv(t)
	e.timeout = time.Minute
	img := busyboxImage(t)
	tests := []struct {
		name        string
		stopTimeout string
		signals     []syscall.Signal
	}{
		{"SIGTERM, then the stop timeout", "1s", []syscall.Signal{syscall.SIGTERM}},
		{"SIGINT, then the stop timeout", "1s", []syscall.Signal{syscall.SIGINT}},
		// Two different signals: two of one kind may arrive as one.
		{"SIGTERM, then SIGINT", "1h", []syscall.Signal{syscall.SIGTERM, syscall.SIGINT}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e.stoppedAtStart("--stop-timeout", tt.stopTimeout, img, "sleep", "1000")
			for _, sig := range tt.signals {
				s.cmd.Process.Signal(sig)
			}
			var ee *exec.ExitError
			if err := s.cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != exitCrateFailed || !strings.Contains(s.stderr.String(), "interrupted") {
				t.Errorf("crate run: %v, stderr %q; want exit 125, interrupted", err, s.stderr.String())
			}
			e.noLeftovers(s.name)
		})
	}
}

// stoppedStart is a `crate run` whose crate-init the test has stopped
// (SIGSTOP) before it executed the command.
type stoppedStart struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	name   string
	init   int // crate-init's PID
}

// stoppedAtStart starts `crate run ARGS...` and stops its crate-init as soon
// as it exists, before it has executed the command. --cpu 1 slows
// crate-init down, so that the test finds it in time; if it has not, the
// test tries again with a new container.
func (e *env) stoppedAtStart(args ...string) stoppedStart {
	e.t.Helper()
	for attempt := 0; ; attempt++ {
		name := newName()
		cmd := e.command(append([]string{"run", "--name", name, "--cpu", "1"}, args...)...)
		stderr := &strings.Builder{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			e.t.Fatal(err)
		}
		if pid := stopInitBeforeExec(e.t, cmd.Process.Pid); pid != 0 {
			return stoppedStart{cmd: cmd, stderr: stderr, name: name, init: pid}
		}
		cmd.Process.Kill()
		cmd.Wait()
		e.crate("gc")
		if attempt == 4 {
			e.t.Fatal("crate-init executed the command before the test could stop it, five times")
		}
	}
}

// stopInitBeforeExec finds the crate-init that the crate of pid starts, and
// stops it with SIGSTOP; it returns its PID if it stopped it before it went
// through the gate: its name is still crate-init once it is stopped, so it
// has not executed the command, and it still shares the test's cgroup
// namespace, which it leaves first thing after the gate, so it has made
// none of the container yet.
func stopInitBeforeExec(t *testing.T, pid int) int {
	t.Helper()
	for {
		children := childrenOf(pid)
		if children == nil {
			t.Fatalf("crate (pid %d) exited before it started crate-init", pid)
		}
		for _, child := range children {
			switch command(child) {
			case "", crateBin:
				continue // forked, not yet executed: crate's own copy
			case "crate-init":
			default:
				return 0
			}
			syscall.Kill(child, syscall.SIGSTOP)
			for {
				stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
				if err != nil {
					return 0
				}
				// "PID (COMM) STATE ...": T once the stop has taken effect.
				if _, after, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(after, "T") {
					if command(child) != "crate-init" || !sameCgroupNamespace(child) {
						return 0
					}
					return child
				}
			}
		}
	}
}

// sameCgroupNamespace reports whether pid is in the test's cgroup namespace.
func sameCgroupNamespace(pid int) bool {
	ours, err := os.Readlink("/proc/self/ns/cgroup")
	if err != nil {
		return false
	}
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/cgroup", pid))
	return err == nil && theirs == ours
}

// childrenOf lists the children of pid's threads; nil once pid has exited
// (a zombie, not yet waited for, has no threads that could fork).
func childrenOf(pid int) []int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if _, after, _ := strings.Cut(string(stat), ") "); err != nil || strings.HasPrefix(after, "Z") {
		return nil
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil
	}
	children := []int{}
	for _, task := range tasks {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				children = append(children, n)
			}
		}
	}
	return children
}

// command is argv[0] of pid: crate-init's until it executes the command.
// (Its comm is the name it was executed by: a descriptor's number.)
func command(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	arg0, _, _ := strings.Cut(string(b), "\x00")
	return arg0
}
