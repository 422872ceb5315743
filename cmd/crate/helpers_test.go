package main

// Helpers for the integration tests: they run the real crate and crate-init
// binaries, as root, against images the tests build themselves from the
// host's static busybox, and check that every run leaves nothing behind.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crate-run/crate/pkg/testutil"
)

// Paths set by TestMain.
var (
	crateBin string // the crate binary under test
	initBin  string // the crate-init binary under test
	testTmp  string // removed when the tests end
)

// TestMain builds both binaries once, unless CRATE_BIN and CRATE_INIT_BIN
// name prebuilt ones (the cgroup v2 VM has no Go toolchain to spare).
func TestMain(m *testing.M) {
	var err error
	testTmp, err = os.MkdirTemp("", "crate-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	crateBin, initBin = os.Getenv("CRATE_BIN"), os.Getenv("CRATE_INIT_BIN")
	if crateBin == "" || initBin == "" {
		crateBin, initBin = filepath.Join(testTmp, "crate"), filepath.Join(testTmp, "crate-init")
		for bin, pkg := range map[string]string{crateBin: ".", initBin: "../crate-init"} {
			cmd := exec.Command("go", "build", "-trimpath", "-o", bin, pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
				os.Exit(1)
			}
		}
	}
	code := m.Run()
	os.RemoveAll(testTmp)
	os.Exit(code)
}

// env is one test's private world: its state root and log file, so that
// leftovers can be checked and logs read without looking at anyone else's.
type env struct {
	t       *testing.T
	root    string // --data-root
	runDir  string // --root
	logFile string // --log-file
	// timeout is the safety net of each crate command: a hung crate fails
	// its test instead of stalling the whole run until go test's own
	// timeout. Not a measure: a test of something that used to hang
	// shortens it.
	timeout time.Duration
}

func newEnv(t *testing.T) *env {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	return &env{t: t, root: filepath.Join(dir, "state"), runDir: filepath.Join(dir, "run"), logFile: filepath.Join(dir, "crate.log"),
		timeout: 3 * time.Minute}
}

// result is how one crate command ended.
type result struct {
	code           int
	stdout, stderr string
	name           string // the container's --name
}

// newName returns a container name unique to this run of the tests.
func newName() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// command returns a crate command with the test's state root and log file.
func (e *env) command(args ...string) *exec.Cmd {
	all := append([]string{"--data-root", e.root, "--root", e.runDir, "--log-file", e.logFile}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	e.t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, crateBin, all...)
	cmd.Env = append(os.Environ(), "CRATE_INIT="+initBin)
	return cmd
}

// run runs `crate run --name NAME ARGS...` to the end and checks that it
// left nothing behind.
func (e *env) run(args ...string) result {
	e.t.Helper()
	name := newName()
	cmd := e.command(append([]string{"run", "--name", name}, args...)...)
	r := e.finish(cmd, name)
	e.noLeftovers(name)
	return r
}

// crate runs any crate command (no container name is added).
func (e *env) crate(args ...string) result {
	e.t.Helper()
	return e.finish(e.command(args...), "")
}

func (e *env) finish(cmd *exec.Cmd, name string) result {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := exitStatus(e.t, cmd, cmd.Run())
	return result{code: code, stdout: stdout.String(), stderr: stderr.String(), name: name}
}

// exitStatus is the exit code of cmd, which ended with err (from Run or Wait);
// an error that is no exit status fails the test.
func exitStatus(t *testing.T, cmd *exec.Cmd, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("run %v: %v", cmd.Args, err)
	return 0
}

// runOK runs a container that must exit 0 and returns its stdout.
func (e *env) runOK(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("crate run %q: exit %d, want 0\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// started is a container running in the background, for tests that signal
// it or look at the host while it runs.
type started struct {
	cmd    *exec.Cmd
	name   string
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *bytes.Buffer
}

// start starts `crate run` and returns once the container has printed its
// first line (by convention "ready"), so it is known to be running.
func (e *env) start(args ...string) *started {
	e.t.Helper()
	name := newName()
	cmd := e.command(append([]string{"run", "--name", name}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	s := &started{cmd: cmd, name: name, stdin: stdin, lines: bufio.NewScanner(stdout), stderr: &bytes.Buffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line := s.next(); line != "ready" {
		e.t.Fatalf("first line %q, want ready; stderr: %s", line, s.stderr)
	}
	return s
}

// next returns the container's next line of output ("" at EOF).
func (s *started) next() string {
	if !s.lines.Scan() {
		return ""
	}
	return s.lines.Text()
}

// wait waits for crate to exit and returns its exit code and the rest of
// the output.
func (e *env) wait(s *started) result {
	e.t.Helper()
	var rest []string
	for line := s.next(); line != ""; line = s.next() {
		rest = append(rest, line)
	}
	code := exitStatus(e.t, s.cmd, s.cmd.Wait())
	e.noLeftovers(s.name)
	return result{code: code, stdout: strings.Join(rest, "\n"), stderr: s.stderr.String(), name: s.name}
}

// noLeftovers checks that nothing of container name remains: no container
// directory, no state, no cgroup in any hierarchy, no mount under the state
// root.
func (e *env) noLeftovers(name string) {
	e.t.Helper()
	if name == "" {
		return
	}
	if _, err := os.Lstat(filepath.Join(e.root, "containers", name)); err == nil {
		e.t.Errorf("leftover container directory %s", name)
	}
	if _, err := os.Lstat(filepath.Join(e.runDir, name)); err == nil {
		e.t.Errorf("leftover state %s", filepath.Join(e.runDir, name))
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/crate-" + name)
	v1, _ := filepath.Glob("/sys/fs/cgroup/*/crate-" + name)
	if left := append(cgroups, v1...); len(left) > 0 {
		e.t.Errorf("leftover cgroups: %v", left)
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		e.t.Fatal(err)
	}
	if bytes.Contains(mountinfo, []byte(e.root)) {
		e.t.Errorf("leftover mounts under %s", e.root)
	}
}

// logEntries reads this env's JSON log file.
func (e *env) logEntries() []map[string]any {
	e.t.Helper()
	data, err := os.ReadFile(e.logFile)
	if err != nil {
		e.t.Fatal(err)
	}
	var entries []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			e.t.Fatalf("log line is not JSON: %q", line)
		}
		entries = append(entries, m)
	}
	return entries
}

// countLog counts the log entries with message msg.
func (e *env) countLog(msg string) int {
	e.t.Helper()
	n := 0
	for _, m := range e.logEntries() {
		if m["@message"] == msg {
			n++
		}
	}
	return n
}

// logEntry returns the first log entry of container name with message msg.
func (e *env) logEntry(name, msg string) map[string]any {
	e.t.Helper()
	for _, m := range e.logEntries() {
		if m["container_id"] == name && m["@message"] == msg {
			return m
		}
	}
	e.t.Fatalf("no %q log entry for container %s", msg, name)
	return nil
}

// busyboxFiles is a root filesystem with the host's static busybox and a
// link for each applet; extra files are added to it.
func busyboxFiles(t *testing.T, extra ...testutil.File) []testutil.File {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("read /bin/busybox (install busybox-static): %v", err)
	}
	out, err := exec.Command("/bin/busybox", "--list-full").Output()
	if err != nil {
		t.Fatalf("busybox --list-full: %v", err)
	}
	files := []testutil.File{}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys", "dev", "mnt"} {
		files = append(files, testutil.File{Name: d, Mode: 0o755, Typeflag: tar.TypeDir})
	}
	files = append(files,
		testutil.File{Name: "tmp", Mode: 0o1777, Typeflag: tar.TypeDir},
		testutil.File{Name: "bin/busybox", Mode: 0o755, Body: bb},
		testutil.File{Name: "etc/passwd", Mode: 0o644, Body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		testutil.File{Name: "etc/group", Mode: 0o644, Body: []byte("root:x:0:\nnogroup:x:65534:\n")},
	)
	for _, applet := range strings.Fields(string(out)) {
		if applet != "bin/busybox" {
			files = append(files, testutil.File{Name: applet, Typeflag: tar.TypeSymlink, Link: "/bin/busybox"})
		}
	}
	return append(files, extra...)
}

// rootfsImage writes files as a gzip-compressed tar in a temporary directory and
// returns its path.
func rootfsImage(t *testing.T, files []testutil.File) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.tar.gz")
	writeImage(t, p, files)
	return p
}

func writeImage(t *testing.T, p string, files []testutil.File) {
	t.Helper()
	if err := os.WriteFile(p, testutil.Gzip(t, testutil.Tar(t, files)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// busyboxImage is the plain busybox image, built once per test binary run.
func busyboxImage(t *testing.T) string {
	t.Helper()
	p := filepath.Join(testTmp, "busybox.tar.gz")
	if _, err := os.Stat(p); err != nil {
		writeImage(t, p, busyboxFiles(t))
	}
	return p
}
