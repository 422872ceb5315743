package main

// Detached containers and the commands that act on them: ps, logs, exec,
// stop, kill, wait, rm, inspect, stats and gc, with real containers, their
// supervisors, and their cgroups.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/state"
	"github.com/crate-run/crate/pkg/testutil"
)

// detach starts `crate run -d --name NAME ARGS...` and returns NAME; the
// container is removed (rm -f) when the test ends, if it still exists.
func (e *env) detach(args ...string) string {
	e.t.Helper()
	name := newName()
	r := e.crate(append([]string{"run", "-d", "--name", name}, args...)...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != name {
		e.t.Fatalf("crate run -d: exit %d, stdout %q (want the id %s)\nstderr: %s", r.code, r.stdout, name, r.stderr)
	}
	e.t.Cleanup(func() { e.crate("rm", "-f", name) })
	return name
}

// follow starts `crate logs -f NAME` and returns the lines of its stdout;
// it is stopped when the test ends, if it has not ended with the container.
func (e *env) follow(name string) *bufio.Scanner {
	e.t.Helper()
	logs := e.command("logs", "-f", name)
	stdout, err := logs.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := logs.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { logs.Process.Kill(); logs.Wait() })
	return bufio.NewScanner(stdout)
}

// ok runs a crate command that must exit 0 and returns its stdout.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.crate(args...)
	if r.code != 0 {
		e.t.Fatalf("crate %q: exit %d, want 0\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// ps returns what `crate ps -a --format json` lists.
func (e *env) ps() []state.State {
	e.t.Helper()
	list, err := parsePs(e.ok("ps", "-a", "--format", "json"))
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

func parsePs(out string) ([]state.State, error) {
	var list []state.State
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var st state.State
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
			return nil, fmt.Errorf("ps line %q: %v", sc.Text(), err)
		}
		list = append(list, st)
	}
	return list, nil
}

// get returns the container's entry in crate ps -a.
func (e *env) get(name string) state.State {
	e.t.Helper()
	for _, st := range e.ps() {
		if st.ID == name {
			return st
		}
	}
	e.t.Fatalf("container %s not in crate ps -a", name)
	return state.State{}
}

// TestDetached: crate run -d returns once the command runs, leaving the
// container to its own supervisor; ps lists it, logs -f follows its output
// while it writes and ends when it does, wait gives its exit code, and it
// is kept, with its output, until crate rm, which leaves nothing.
func TestDetached(t *testing.T) {
	e := newEnv(t)
	name := e.detach(busyboxImage(t), "sh", "-c",
		`i=0; while [ ! -e /tmp/stop ]; do i=$((i+1)); echo line $i; sleep 0.05; done; echo bye >&2; exit 3`)
	st := e.get(name)
	if st.Status != state.Running || st.InitPID == 0 || !st.Detached {
		t.Fatalf("ps: %+v, want running and detached with a PID", st)
	}
	if ps := e.ok("ps"); !strings.Contains(ps, name) || !strings.Contains(ps, "Up ") {
		t.Errorf("crate ps does not show %s up:\n%s", name, ps)
	}

	logs := e.command("logs", "-f", name)
	stdout, err := logs.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	logs.Stderr = &stderr
	if err := logs.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	// Lines arrive while the container runs: it cannot stop before the
	// exec below, which comes only once logs -f has printed two lines.
	for want := 1; want <= 2; want++ {
		if !lines.Scan() || lines.Text() != fmt.Sprintf("line %d", want) {
			t.Fatalf("logs -f: line %q, want \"line %d\" (stderr: %s)", lines.Text(), want, stderr.String())
		}
	}
	e.ok("exec", name, "touch", "/tmp/stop")
	last := 2
	for lines.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(lines.Text(), "line "))
		if err != nil || n != last+1 {
			t.Fatalf("logs -f: %q after line %d", lines.Text(), last)
		}
		last = n
	}
	if err := logs.Wait(); err != nil {
		t.Fatalf("logs -f: %v (stderr: %s)", err, stderr.String())
	}
	if stderr.String() != "bye\n" {
		t.Errorf("logs -f stderr %q, want bye", stderr.String())
	}
	if code := strings.TrimSpace(e.ok("wait", name)); code != "3" {
		t.Errorf("crate wait: %q, want 3", code)
	}
	st = e.get(name)
	if st.Status != state.Exited || st.ExitCode == nil || *st.ExitCode != 3 || st.Reason != "" {
		t.Errorf("after exit: %+v, want exited with code 3", st)
	}
	// Kept until rm: the output, with timestamps, and the directory.
	out := e.ok("logs", "--timestamps", name)
	first, _, _ := strings.Cut(out, "\n")
	stamp, text, _ := strings.Cut(first, " ")
	if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil || text != "line 1" {
		t.Errorf("logs --timestamps first line %q", first)
	}
	if got := e.ok("logs", "--since", "1ns", name); got != "" {
		t.Errorf("logs --since 1ns printed %q, want nothing", got)
	}
	if _, err := os.Stat(filepath.Join(e.root, "containers", name)); err != nil {
		t.Errorf("exited container's directory: %v", err)
	}
	e.ok("rm", name)
	e.noLeftovers(name)
	if list := e.ps(); len(list) != 0 {
		t.Errorf("ps -a after rm: %+v", list)
	}
}

// TestDetachedRm: with --rm a detached container leaves nothing once it ends.
func TestDetachedRm(t *testing.T) {
	e := newEnv(t)
	name := e.detach("--rm", busyboxImage(t), "sleep", "1000")
	e.ok("kill", name)
	// Removed as it ended: no code to give, whether wait saw it end or not.
	r := e.crate("wait", name)
	if r.code != exitCrateFailed || !(strings.Contains(r.stderr, "removed") || strings.Contains(r.stderr, "no container")) {
		t.Errorf("wait on a --rm container: exit %d, stderr %q", r.code, r.stderr)
	}
	e.noLeftovers(name)
}

// TestDetachedTerminal: with -d -t the terminal's output is captured, as the
// container's stdout.
func TestDetachedTerminal(t *testing.T) {
	e := newEnv(t)
	name := e.detach("-t", busyboxImage(t), "sh", "-c", "tty; echo hi")
	e.ok("wait", name)
	if out := e.ok("logs", name); out != "/dev/console\r\nhi\r\n" {
		t.Errorf("logs: %q, want the terminal's output", out)
	}
	// A terminal's line ends are no control to escape.
	if r := e.onTerminals(true, false, "logs", name); r.stdout != "/dev/console\r\nhi\r\n" {
		t.Errorf("logs on a terminal: %q, want the terminal's output", r.stdout)
	}
}

// TestLogsOnTerminal: crate logs writes a container's control characters out
// visibly to a terminal, so that a detached container cannot move the
// operator's cursor, clear the screen, set the window title or answer back;
// colours pass, and so does everything with --raw or to a pipe or a file.
// Each of crate's outputs is judged on its own: the container's stderr goes
// to crate's stderr.
func TestLogsOnTerminal(t *testing.T) {
	e := newEnv(t)
	// printf's octal escapes: ESC, BEL, CR, U+009B (8-bit CSI) in UTF-8, and
	// a byte that is not UTF-8.
	name := e.detach(busyboxImage(t), "sh", "-c",
		`printf 'a\033[1;31mred\033[0m\tb\033]0;title\007c\033[2J\rd\302\233e\377\n'; printf 'err\033[Kx\n' >&2`)
	e.ok("wait", name)
	const (
		rawOut     = "a\x1b[1;31mred\x1b[0m\tb\x1b]0;title\x07c\x1b[2J\rd\u009be\xff\n"
		escapedOut = "a\x1b[1;31mred\x1b[0m\tb" + `\x1b]0;title\ac\x1b[2J\rd\u009be\xff` + "\n"
		rawErr     = "err\x1b[Kx\n"
		escapedErr = `err\x1b[Kx` + "\n"
	)
	for _, c := range []struct {
		what                 string
		args                 []string
		stdoutTTY, stderrTTY bool
		stdout, stderr       string
	}{
		{"stdout a terminal", []string{"logs", name}, true, false, escapedOut, rawErr},
		{"stderr a terminal", []string{"logs", name}, false, true, rawOut, escapedErr},
		{"both, following", []string{"logs", "-f", name}, true, true, escapedOut, escapedErr},
		{"--raw", []string{"logs", "--raw", name}, true, true, rawOut, rawErr},
		{"pipes", []string{"logs", name}, false, false, rawOut, rawErr},
	} {
		t.Run(c.what, func(t *testing.T) {
			r := e.onTerminals(c.stdoutTTY, c.stderrTTY, c.args...)
			if r.code != 0 || r.stdout != c.stdout || r.stderr != c.stderr {
				t.Errorf("crate %q: exit %d\nstdout %q\nwant   %q\nstderr %q\nwant   %q",
					c.args, r.code, r.stdout, c.stdout, r.stderr, c.stderr)
			}
		})
	}
}

// onTerminals runs a crate command to its end with its stdout, its stderr or
// both on a terminal of their own (a pty without output processing, so that
// what crate writes arrives as it is), the others on pipes.
func (e *env) onTerminals(stdoutTTY, stderrTTY bool, args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	var stdout, stderr bytes.Buffer
	var slaves []*os.File
	var reading sync.WaitGroup
	for _, out := range []struct {
		tty bool
		buf *bytes.Buffer
		to  *io.Writer
	}{{stdoutTTY, &stdout, &cmd.Stdout}, {stderrTTY, &stderr, &cmd.Stderr}} {
		if !out.tty {
			*out.to = out.buf
			continue
		}
		master, slave, err := pty.Open()
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { master.Close() })
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			e.t.Fatal(err)
		}
		tio.Oflag &^= unix.OPOST // no \n to \r\n
		if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio); err != nil {
			e.t.Fatal(err)
		}
		*out.to = slave
		slaves = append(slaves, slave)
		// The master reads EIO once no one holds the slave any more.
		reading.Go(func() { io.Copy(out.buf, master) })
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	for _, s := range slaves {
		s.Close() // crate holds them now
	}
	code := exitStatus(e.t, cmd, cmd.Wait())
	reading.Wait()
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// TestExec: crate exec runs in every namespace of the container, its root,
// its cgroup, with its capabilities and seccomp filter; -e, -w, -u and -i
// work as in docker exec, exit codes come back, and an unknown command is
// 127.
func TestExec(t *testing.T) {
	e := newEnv(t)
	name := e.detach("--memory", "64", "--hostname", "box", busyboxImage(t), "sleep", "1000")
	memFile := "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	procs := "/sys/fs/cgroup/memory/cgroup.procs"
	if cgroupV2() {
		memFile, procs = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cgroup.procs"
	}
	script := `for ns in mnt uts ipc net pid cgroup; do [ "$(readlink /proc/1/ns/$ns)" = "$(readlink /proc/self/ns/$ns)" ] || echo "other $ns namespace"; done
[ "$(stat -L -c %d:%i /proc/1/root)" = "$(stat -c %d:%i /)" ] || echo "other root"
for f in CapEff CapBnd CapPrm Seccomp NoNewPrivs; do [ "$(grep "^$f:" /proc/1/status)" = "$(grep "^$f:" /proc/self/status)" ] || echo "other $f"; done
grep -qx $$ ` + procs + ` || echo "not in the cgroup"
echo "pid1=$(cat /proc/1/cmdline | tr '\0' ' ')"
echo "host=$(hostname) mem=$(cat ` + memFile + `) seccomp=$(grep ^Seccomp: /proc/self/status | tr -d '\t')"`
	out := e.ok("exec", name, "sh", "-c", script)
	want := "pid1=sleep 1000 \nhost=box mem=67108864 seccomp=Seccomp:2\n"
	if out != want {
		t.Errorf("exec sees:\n%s\nwant:\n%s", out, want)
	}

	cases := []struct {
		args  []string
		stdin string
		code  int
		out   string
	}{
		{[]string{"sh", "-c", "exit 5"}, "", 5, ""},
		{[]string{"-e", "FOO=bar", "-w", "/tmp", name, "sh", "-c", `echo $FOO $PWD $PATH`}, "", 0,
			"bar /tmp /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"},
		{[]string{"-u", "nobody", name, "id", "-u"}, "", 0, "65534\n"},
		{[]string{"-i", name, "cat"}, "piped in\n", 0, "piped in\n"},
		{[]string{name, "cat"}, "not read\n", 0, ""}, // without -i: /dev/null
		{[]string{"nosuchcommand"}, "", exitNotFound, ""},
	}
	for _, c := range cases {
		args := c.args
		if !slices.Contains(args, name) {
			args = append([]string{name}, args...)
		}
		cmd := e.command(append([]string{"exec"}, args...)...)
		cmd.Stdin = strings.NewReader(c.stdin)
		r := e.finish(cmd, "")
		if r.code != c.code || r.stdout != c.out {
			t.Errorf("exec %q: exit %d, stdout %q; want %d, %q (stderr: %s)", args, r.code, r.stdout, c.code, c.out, r.stderr)
		}
	}
}

// TestExecNotRunning: exec into a container whose PID 1 has exited, or one
// that does not exist, is one clear line and 125.
func TestExecNotRunning(t *testing.T) {
	e := newEnv(t)
	name := e.detach(busyboxImage(t), "true")
	e.ok("wait", name)
	for ref, want := range map[string]string{name: "is not running", "nosuchcontainer": `no container "nosuchcontainer"`} {
		r := e.crate("exec", ref, "true")
		if r.code != exitCrateFailed || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("exec into %s: exit %d, stderr %q; want 125 and one line saying %q", ref, r.code, r.stderr, want)
		}
	}
}

// TestExecTerminal: exec -it gives the command a terminal of the caller's
// size, and a resize of the caller's terminal reaches it.
func TestExecTerminal(t *testing.T) {
	e := newEnv(t)
	name := e.detach(busyboxImage(t), "sleep", "1000")
	s := e.commandOnTerminal(24, 80, "", "exec", "-it", name, "sh", "-c",
		`stty size; trap 'stty size; exit 7' WINCH; echo ready; sleep 1000 & wait`)
	s.expect("24 80\n")
	s.expect("ready\n")
	s.resize(40, 100)
	s.expect("40 100\n")
	if code, _ := s.end(); code != 7 {
		t.Errorf("exit %d, want 7", code)
	}
}

// TestStop: a PID 1 that ignores SIGTERM (sleep, without --init) is killed
// once the grace time is over; one that handles it ends by it.
func TestStop(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	t.Run("ignores SIGTERM", func(t *testing.T) {
		name := e.detach(img, "sleep", "1000")
		begin := time.Now()
		if out := e.ok("stop", "-t", "1", name); out != name+"\n" {
			t.Errorf("stop printed %q", out)
		}
		if waited := time.Since(begin); waited < time.Second {
			t.Errorf("stop returned after %v, before the 1 s grace time", waited)
		}
		st := e.get(name)
		if st.Status != state.Exited || *st.ExitCode != 137 || st.Signal != "SIGKILL" {
			t.Errorf("after stop: %+v, want exited 137 by SIGKILL", st)
		}
	})
	t.Run("handles SIGTERM", func(t *testing.T) {
		name := e.detach(img, "sh", "-c", `trap 'exit 3' TERM; echo ready; sleep 1000 & wait`)
		// crate run -d returns once sh runs, maybe before the trap is set:
		// a SIGTERM then would be ignored, as by any PID 1 without a handler.
		if lines := e.follow(name); !lines.Scan() || lines.Text() != "ready" {
			t.Fatalf("first line %q, want ready", lines.Text())
		}
		e.ok("stop", "-t", "600", name)
		if st := e.get(name); *st.ExitCode != 3 {
			t.Errorf("after stop: exit %d, want 3 (from the trap)", *st.ExitCode)
		}
	})
	t.Run("a foreground container", func(t *testing.T) {
		s := e.start(img, "sh", "-c", "echo ready; sleep 1000")
		e.ok("stop", "-t", "0", s.name)
		if r := e.wait(s); r.code != 137 {
			t.Errorf("crate run ended %d, want 137", r.code)
		}
	})
}

// TestKill: kill -s delivers the signal named to PID 1; kill alone is SIGKILL.
func TestKill(t *testing.T) {
	e := newEnv(t)
	name := e.detach(busyboxImage(t), "sh", "-c", `trap 'echo got USR1' USR1; echo ready; while :; do sleep 1000 & wait; done`)
	lines := e.follow(name)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("first line %q, want ready", lines.Text())
	}
	e.ok("kill", "-s", "USR1", name)
	if !lines.Scan() || lines.Text() != "got USR1" {
		t.Fatalf("after kill -s USR1: %q, want got USR1", lines.Text())
	}
	e.ok("kill", name)
	if code := strings.TrimSpace(e.ok("wait", name)); code != "137" {
		t.Errorf("after kill: exit %s, want 137", code)
	}
	if r := e.crate("kill", "-s", "NOSUCH", name); r.code != exitCrateFailed || !strings.Contains(r.stderr, "unknown signal") {
		t.Errorf("kill -s NOSUCH: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestRm: rm refuses a running container and changes nothing; rm -f kills
// and removes it; either way nothing is left.
func TestRm(t *testing.T) {
	e := newEnv(t)
	name := e.detach(busyboxImage(t), "sleep", "1000")
	r := e.crate("rm", name)
	if r.code != exitCrateFailed || !strings.Contains(r.stderr, "is running") {
		t.Errorf("rm of a running container: exit %d, stderr %q", r.code, r.stderr)
	}
	if st := e.get(name); st.Status != state.Running {
		t.Fatalf("after a refused rm: %+v, want still running", st)
	}
	e.ok("rm", "-f", name)
	e.noLeftovers(name)
	if r := e.crate("rm", name); r.code != exitCrateFailed || !strings.Contains(r.stderr, "no container") {
		t.Errorf("rm of a removed container: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestInspectAndStats: inspect shows the state and the spec init got; stats
// shows what the container's cgroup files say.
func TestInspectAndStats(t *testing.T) {
	e := newEnv(t)
	name := e.detach("--memory", "64", "--pids", "50", "--cpu", "50", busyboxImage(t), "sleep", "1000")

	var in []struct {
		State state.State
		Spec  struct {
			Hostname string
			Process  struct{ Args []string }
		}
	}
	if err := json.Unmarshal([]byte(e.ok("inspect", name)), &in); err != nil {
		t.Fatal(err)
	}
	if len(in) != 1 || in[0].State.ID != name || in[0].State.Resources == nil ||
		*in[0].State.Resources.Memory.Limit != 64<<20 || *in[0].State.Resources.Pids.Limit != 50 ||
		in[0].Spec.Hostname != name || !slices.Equal(in[0].Spec.Process.Args, []string{"sleep", "1000"}) {
		t.Fatalf("inspect: %+v", in)
	}

	var got struct {
		ID          string
		CPUPercent  float64 `json:"cpu_percent"`
		MemoryUsage uint64  `json:"memory_usage_bytes"`
		MemoryLimit uint64  `json:"memory_limit_bytes"`
		Pids        uint64  `json:"pids"`
		PidsLimit   uint64  `json:"pids_limit"`
	}
	if err := json.Unmarshal([]byte(e.ok("stats", "--no-stream", "--format", "json", name)), &got); err != nil {
		t.Fatal(err)
	}
	memDir, pidsDir := "/sys/fs/cgroup/memory/crate-"+name, "/sys/fs/cgroup/pids/crate-"+name
	memLimit, pidsNow := "memory.limit_in_bytes", "pids.current"
	if cgroupV2() {
		memDir, pidsDir, memLimit = "/sys/fs/cgroup/crate-"+name, "/sys/fs/cgroup/crate-"+name, "memory.max"
	}
	read := func(p string) uint64 {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got.ID != name || got.MemoryLimit != read(filepath.Join(memDir, memLimit)) || got.MemoryLimit != 64<<20 ||
		got.PidsLimit != read(filepath.Join(pidsDir, "pids.max")) || got.Pids != read(filepath.Join(pidsDir, pidsNow)) ||
		got.MemoryUsage == 0 || got.MemoryUsage > got.MemoryLimit || got.CPUPercent < 0 || got.CPUPercent > 50+5 {
		t.Errorf("stats %+v do not match the cgroup", got)
	}
}

// TestSupervisorKilled: a supervisor killed with SIGKILL takes its container
// with it; ps -a shows it exited and why; gc removes what was left (the
// cgroup, the directory, the state).
func TestSupervisorKilled(t *testing.T) {
	e := newEnv(t)
	name := e.detach(busyboxImage(t), "sleep", "1000")
	st := e.get(name)
	init, err := unix.PidfdOpen(st.InitPID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(init)
	sup, err := unix.PidfdOpen(st.SupervisorPID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sup)
	if err := unix.PidfdSendSignal(sup, unix.SIGKILL, nil, 0); err != nil {
		t.Fatal(err)
	}
	// Both end: a pidfd turns readable when its process has. The bound is
	// a safety net, not a measure: the kernel kills init as the
	// supervisor's last thread exits.
	for _, p := range []struct {
		fd   int
		pid  int
		what string
	}{{sup, st.SupervisorPID, "the supervisor"}, {init, st.InitPID, "the container's PID 1"}} {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}, int(time.Minute/time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
			t.Fatalf("%s (pid %d) is still running a minute after the supervisor was killed:\n%s", p.what, p.pid, status)
		}
	}
	st = e.get(name)
	if st.Status != state.Exited || st.Reason != state.ReasonSupervisorDied {
		t.Errorf("ps -a after the supervisor died: %+v", st)
	}
	if ps := e.ok("ps", "-a"); !strings.Contains(ps, "supervisor died") {
		t.Errorf("ps -a does not say why:\n%s", ps)
	}
	r := e.crate("run", "--name", name, busyboxImage(t), "true")
	if r.code != exitCrateFailed || !strings.Contains(r.stderr, "crate rm "+name) {
		t.Errorf("run with the dead container's name: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := e.ok("gc"); !strings.Contains(out, name) {
		t.Errorf("gc printed %q, want %s", out, name)
	}
	e.noLeftovers(name)
	if out := e.ok("gc"); out != "" {
		t.Errorf("second gc printed %q", out)
	}
}

// TestParentDeathSignal: the command run as a container's PID 1, and a
// command crate exec runs, get SIGKILL from the kernel when their
// supervisor dies (what TestSupervisorKilled relies on). It is an
// attribute of one thread, so it survives only if crate-init executes the
// command from the thread crate started it on.
func TestParentDeathSignal(t *testing.T) {
	e := newEnv(t)
	img := attackImage(t)
	for i := 0; i < 3; i++ { // which thread runs what varies from run to run
		if out := e.runOK(img, "/attack", "pdeathsig"); out != "pdeathsig: SIGKILL\n" {
			t.Errorf("PID 1: %q, want SIGKILL", out)
		}
	}
	name := e.detach(img, "/bin/sleep", "1000")
	if out := e.ok("exec", name, "/attack", "pdeathsig"); out != "pdeathsig: SIGKILL\n" {
		t.Errorf("crate exec: %q, want SIGKILL", out)
	}
}

// TestGcAfterReboot: a reboot empties the run directory but not crate's
// root; gc removes the container directories nobody registered.
func TestGcAfterReboot(t *testing.T) {
	e := newEnv(t)
	name := e.detach(busyboxImage(t), "sleep", "1000")
	e.ok("kill", name)
	e.ok("wait", name)
	if err := os.RemoveAll(e.runDir); err != nil { // what a reboot does to /run
		t.Fatal(err)
	}
	if out := e.ok("gc"); !strings.Contains(out, name) {
		t.Errorf("gc printed %q, want %s", out, name)
	}
	e.noLeftovers(name)
}

// TestConcurrentDetached: 20 detached containers started at once, then ps,
// stop and rm on all of them at once: every command succeeds, ps never
// misses one nor reads a torn state file, and nothing is left.
func TestConcurrentDetached(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	e.ok("image", "import", "--name", "bb", img) // unpacked once, not raced
	const n = 20
	names := make([]string, n)
	for i := range names {
		names[i] = newName()
	}
	all := func(args func(name string) []string) []result {
		out := make([]result, n)
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Go(func() { out[i] = e.finish(e.command(args(name)...), name) })
		}
		wg.Wait()
		return out
	}
	check := func(what string, rs []result) {
		for _, r := range rs {
			if r.code != 0 {
				t.Fatalf("%s %s: exit %d, stderr %s", what, r.name, r.code, r.stderr)
			}
		}
	}
	check("run -d", all(func(name string) []string { return []string{"run", "-d", "--name", name, "bb", "sleep", "1000"} }))
	for _, name := range names {
		t.Cleanup(func() { e.crate("rm", "-f", name) })
	}

	// ps runs over and over while the others stop and remove: each listing
	// must parse, and hold every container until rm starts.
	psWhile := func(during func(), wantAll bool) {
		done := make(chan struct{})
		errs := make(chan error, 1)
		go func() {
			defer close(errs)
			for {
				select {
				case <-done:
					return
				default:
				}
				r := e.finish(e.command("ps", "-a", "--format", "json"), "")
				list, err := parsePs(r.stdout)
				if err == nil && r.code != 0 {
					err = fmt.Errorf("ps: exit %d: %s", r.code, r.stderr)
				}
				if err == nil && wantAll && len(list) != n {
					err = fmt.Errorf("ps listed %d containers, want %d", len(list), n)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
		during()
		close(done)
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	psWhile(func() { check("stop", all(func(name string) []string { return []string{"stop", "-t", "1", name} })) }, true)
	for _, st := range e.ps() {
		if st.Status != state.Exited || *st.ExitCode != 137 {
			t.Errorf("after stop: %s %s exit %v", st.ID, st.Status, st.ExitCode)
		}
	}
	psWhile(func() { check("rm", all(func(name string) []string { return []string{"rm", name} })) }, false)
	for _, name := range names {
		e.noLeftovers(name)
	}
	if list := e.ps(); len(list) != 0 {
		t.Errorf("ps -a after rm: %d containers", len(list))
	}
}

// TestLifecycleBadInput: the commands that act on containers say what is
// wrong in one line, with 125.
func TestLifecycleBadInput(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"stop", "--time=-1", "x"}, "must not be negative"},
		{[]string{"logs", "--since", "yesterday", "x"}, "--since"},
		{[]string{"kill", "-s", "0", "x"}, "not a signal number"},
		{[]string{"logs", "nosuch"}, `no container "nosuch"`},
		{[]string{"inspect", "nosuch"}, `no container "nosuch"`},
		{[]string{"stats", "--no-stream", "nosuch"}, `no container "nosuch"`},
		{[]string{"wait", "nosuch"}, `no container "nosuch"`},
		{[]string{"exec", "../x", "true"}, `"../x"`},
	} {
		r := e.crate(c.args...)
		if r.code != exitCrateFailed || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("crate %q: exit %d, stderr %q; want 125 and one line saying %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// cgroupV2 reports whether the host runs pure cgroup v2.
func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// TestPsQuotesImageStrings: the command comes from the image (its Cmd), so
// it may hold control characters meant for the operator's terminal (clear
// the screen, set the title, 8-bit CSI). crate ps quotes it, as docker ps
// does; the JSON of ps and inspect keeps the exact strings but writes every
// control character as an escape.
func TestPsQuotesImageStrings(t *testing.T) {
	e := newEnv(t)
	hostile := "\x1b[2J\x1b]0;owned\a\u009b31m\x7f"
	img := filepath.Join(t.TempDir(), "hostile.tar")
	testutil.DockerSave(t, img, "hostile:latest", ocispec.ImageConfig{
		Cmd: []string{"sh", "-c", "sleep 1000", hostile},
		Env: []string{"PATH=/bin", "HOSTILE=" + hostile},
	}, testutil.Tar(t, busyboxFiles(t)))
	name := e.detach(img)
	command := []string{"sh", "-c", "sleep 1000", hostile}

	// A terminal acts on C0 controls, DEL and C1 controls (U+0080 to U+009F).
	controls := func(s string) []rune {
		var found []rune
		for _, r := range s {
			if r != '\n' && r != '\t' && (r < 0x20 || r >= 0x7f && r <= 0x9f) {
				found = append(found, r)
			}
		}
		return found
	}

	table := e.ok("ps")
	if c := controls(table); len(c) > 0 {
		t.Errorf("crate ps prints control characters %q:\n%s", c, table)
	}
	if want := `"sh -c sleep 1000 \x1b[2J\x1b]…"`; !strings.Contains(table, want) {
		t.Errorf("crate ps:\n%s\nwant the command as %s", table, want)
	}

	psJSON := e.ok("ps", "--format", "json")
	if c := controls(psJSON); len(c) > 0 {
		t.Errorf("crate ps --format json prints control characters %q", c)
	}
	if st := e.get(name); !slices.Equal(st.Command, command) {
		t.Errorf("crate ps --format json command %q, want %q", st.Command, command)
	}

	inspect := e.ok("inspect", name)
	if c := controls(inspect); len(c) > 0 {
		t.Errorf("crate inspect prints control characters %q", c)
	}
	var in []struct {
		Spec struct{ Process struct{ Args, Env []string } }
	}
	if err := json.Unmarshal([]byte(inspect), &in); err != nil {
		t.Fatal(err)
	}
	if len(in) != 1 || !slices.Equal(in[0].Spec.Process.Args, command) || !slices.Contains(in[0].Spec.Process.Env, "HOSTILE="+hostile) {
		t.Errorf("crate inspect: %+v, want the image's exact command and environment", in)
	}
}

// killSupervisor SIGKILLs the supervisor of container name and waits until
// it and the container's PID 1 are gone (the kernel kills PID 1 as its
// supervisor dies).
func (e *env) killSupervisor(st state.State) {
	e.t.Helper()
	for _, pid := range []int{st.SupervisorPID, st.InitPID} {
		fd, err := unix.PidfdOpen(pid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		if pid == st.SupervisorPID {
			if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
				e.t.Fatal(err)
			}
		}
		// A pidfd turns readable when its process has ended; the bound is
		// a safety net.
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(time.Minute/time.Millisecond))
		unix.Close(fd)
		if err != nil || n == 0 {
			e.t.Fatalf("pid %d still runs a minute after its supervisor was killed (%v)", pid, err)
		}
	}
}

// TestLeftoversCollectedWithoutGc: what a SIGKILLed supervisor leaves is
// gone after the next crate command, without crate gc: all of it for a
// container that was to be removed (foreground, -d --rm); for one kept for
// crate rm (-d), its cgroup, while ps -a still shows it exited until rm.
func TestLeftoversCollectedWithoutGc(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	t.Run("foreground", func(t *testing.T) {
		c := e.start(img, "/bin/sh", "-c", "echo ready; exec sleep 1000")
		st := e.get(c.name)
		e.killSupervisor(st)
		c.cmd.Wait()
		e.ok("ps")
		e.noLeftovers(c.name)
	})
	t.Run("-d --rm", func(t *testing.T) {
		name := e.detach("--rm", img, "sleep", "1000")
		e.killSupervisor(e.get(name))
		e.ok("ps")
		e.noLeftovers(name)
	})
	t.Run("-d, kept for rm", func(t *testing.T) {
		name := e.detach(img, "sleep", "1000")
		st := e.get(name)
		e.killSupervisor(st)
		if ps := e.ok("ps", "-a"); !strings.Contains(ps, "supervisor died") {
			t.Errorf("ps -a does not show the container exited:\n%s", ps)
		}
		if _, err := os.Stat(st.Cgroup); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("its cgroup %s is still there after ps: %v", st.Cgroup, err)
		}
		if got := e.get(name); got.Status != state.Exited || got.Reason != state.ReasonSupervisorDied {
			t.Errorf("after the collection: %+v, want it kept, exited", got)
		}
		e.ok("rm", name)
		e.noLeftovers(name)
	})
	t.Run("by the supervisor of the next container", func(t *testing.T) {
		dead := e.detach("--rm", img, "sleep", "1000")
		e.killSupervisor(e.get(dead))
		watch := watchRemoval(t, filepath.Join(e.runDir, dead))
		e.detach(img, "sleep", "1000")
		watch()
		e.noLeftovers(dead)
	})
}

// watchRemoval starts watching path, and returns a function that waits
// until path no longer exists: inotify wakes it, with a minute's safety net.
func watchRemoval(t *testing.T, path string) func() {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_MOVED_FROM|unix.IN_DELETE); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		buf := make([]byte, 4096)
		for {
			if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
				return
			}
			left := time.Until(deadline)
			if left <= 0 {
				t.Fatalf("%s is still there a minute later", path)
			}
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left/time.Millisecond)+1)
			for {
				if _, err := unix.Read(fd, buf); err != nil {
					break
				}
			}
		}
	}
}
