package main

// The harness of the engine tests: real container engines (containerd, its
// CRI, podman, Docker) run with throw-away state and drive an OCI runtime
// through its runc-compatible command line. The runtime comes from one place,
// engineRuntime; each engine is handed a small wrapper around it that records
// every call (arguments, working directory, stdio, the bundle's config.json),
// so a test can show which runtime ran and what the engine asked of it.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/moby/sys/mountinfo"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/testutil"
)

// engineTimeout is the safety net of each engine command and of an engine's
// start and stop: a hung engine or runtime fails its test instead of stalling
// the run. Not a measure of anything.
const engineTimeout = 2 * time.Minute

// engineImageName is the name the busybox image is loaded under in every
// engine, the name `docker pull busybox` would give it.
const engineImageName = "docker.io/library/busybox:latest"

// engineRuntime is the OCI runtime the engines are told to use: the crate
// under test (its crate-init beside it), or the one the environment
// variable CRATE_ENGINE_RUNTIME names (runc, to compare).
func engineRuntime(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CRATE_ENGINE_RUNTIME")
	if p == "" {
		return crateBin
	}
	if !strings.Contains(p, "/") {
		return testutil.RequireTool(t, p, p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// requireEngine returns the path of an engine's program, and needs root:
// every engine here is run rootful. A missing program skips the test
// locally and fails it when CI=true (testutil.RequireTool).
func requireEngine(t *testing.T, name, debianPackage string) string {
	t.Helper()
	testutil.RequireRoot(t)
	return testutil.RequireTool(t, name, debianPackage)
}

// requireFile is RequireTool for a program outside $PATH.
func requireFile(t *testing.T, path, debianPackage string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing, and CI=true: apt-get install -y %s", path, debianPackage)
	}
	t.Skipf("%s is missing: apt-get install -y %s", path, debianPackage)
}

// recorder is the wrapper an engine runs as its OCI runtime: a shell
// script that appends one line per call to calls.log and execs the real
// runtime, so the runtime's process tree and exit status are the engine's
// own. It also keeps a copy of the config.json of each create or run (with
// the engine's variables and the fds it inherits), and of the process.json
// of each exec.
type recorder struct {
	path string // the wrapper, handed to the engine as its runtime
	dir  string // calls.log and the copies
}

// The fields of a line of calls.log are separated by tabs: the wrapper's
// pid, its working directory, where fds 0, 1 and 2 point, then the
// arguments. No engine passes a tab in an argument.
const recorderScript = `#!/bin/sh
dir=%q
# Before the script opens anything: descriptors 3-9 the engine left open.
for fd in 3 4 5 6 7 8 9; do
	[ -e /proc/$$/fd/$fd ] && echo "fd $fd -> $(readlink /proc/$$/fd/$fd)"
done >"$dir/$$-fds"
line="$$	$(pwd)	$(readlink /proc/$$/fd/0)	$(readlink /proc/$$/fd/1)	$(readlink /proc/$$/fd/2)"
sub= bundle= process= prev=
for a in "$@"; do
	line="$line	$a"
	case "$prev" in
	--bundle|-b) bundle=$a ;;
	--process|-p) process=$a ;;
	esac
	case "$a" in
	--bundle=*) bundle=${a#--bundle=} ;;
	--process=*) process=${a#--process=} ;;
	create|run|exec|start|state|kill|delete|pause|resume|ps|update|features|list|events|checkpoint|restore|spec)
		[ -z "$sub" ] && sub=$a ;;
	esac
	prev=$a
done
printf '%%s\n' "$line" >>"$dir/calls.log"
case "$sub" in
create|run)
	cp "${bundle:-.}/config.json" "$dir/$$-$sub-config.json" 2>/dev/null
	# What the runtime inherits besides its arguments: the engine-specific
	# variables (not the rest of the host's environment) and descriptors.
	{ env | grep -E '^(NOTIFY_SOCKET|LISTEN_|TTRPC_ADDRESS|LD_LIBRARY_PATH|XDG_RUNTIME_DIR|_OCI_|_CONTAINERS_|CONTAINERS_|DOCKER_|GOMAXPROCS)'
	  cat "$dir/$$-fds"; } >"$dir/$$-$sub-env" ;;
exec)
	[ -n "$process" ] && cp "$process" "$dir/$$-exec-process.json" 2>/dev/null
	cp "$dir/$$-fds" "$dir/$$-exec-env" ;;
esac
rm -f "$dir/$$-fds"
exec %q "$@"
`

// newRecorder writes the wrapper around runtime in a new directory of dir.
func newRecorder(t *testing.T, dir, runtime string) *recorder {
	t.Helper()
	// Named as the runtime is: podman keys features on the runtime's name
	// (runtime_supports_json: only for runc, crun and a few others does it
	// pass --log-format=json), so a wrapper named otherwise would see
	// podman call it differently.
	wrapper := filepath.Join(dir, "runtime-wrapper", filepath.Base(runtime))
	if err := os.Mkdir(filepath.Dir(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &recorder{path: wrapper, dir: filepath.Join(dir, "runtime-calls")}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path, fmt.Appendf(nil, recorderScript, r.dir, runtime), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.saveNotes(t) })
	return r
}

// runtimeCall is one call of the runtime, as the wrapper recorded it.
type runtimeCall struct {
	pid, cwd string
	stdio    [3]string
	args     []string
}

// String is the call as a command line.
func (c runtimeCall) String() string { return "runtime " + strings.Join(c.args, " ") }

// calls returns the runtime's calls so far, in order.
func (r *recorder) calls(t *testing.T) []runtimeCall {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, "calls.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var calls []runtimeCall
	for line := range strings.Lines(string(b)) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(f) < 5 {
			t.Fatalf("calls.log: short line %q", line)
		}
		calls = append(calls, runtimeCall{pid: f[0], cwd: f[1], stdio: [3]string{f[2], f[3], f[4]}, args: f[5:]})
	}
	return calls
}

// requireCalled fails the test unless the runtime was called with each
// subcommand: proof that the engine ran the runtime under test and not its
// own default.
func (r *recorder) requireCalled(t *testing.T, subcommands ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range r.calls(t) {
		for _, a := range c.args {
			if !strings.HasPrefix(a, "-") {
				seen[a] = true
			}
		}
	}
	for _, s := range subcommands {
		if !seen[s] {
			t.Errorf("the engine never called the runtime's %q; its calls:\n%s", s, r.dump(t))
		}
	}
}

// dump is the recorded calls, one a line.
func (r *recorder) dump(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, c := range r.calls(t) {
		fmt.Fprintf(&b, "%s\n", c)
	}
	return b.String()
}

// saveNotes copies what the wrapper recorded to $CRATE_ENGINE_NOTES/NAME,
// NAME being the test's name, when that variable is set: the engine notes
// (what each engine asks of its runtime) are made from these.
func (r *recorder) saveNotes(t *testing.T) {
	notes := os.Getenv("CRATE_ENGINE_NOTES")
	if notes == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(r.dir, "calls.log")); err != nil {
		return // never called (the containerd under dockerd has its own)
	}
	dst := filepath.Join(notes, strings.ReplaceAll(t.Name(), "/", "-"))
	os.RemoveAll(dst) // an earlier run's
	if err := os.CopyFS(dst, os.DirFS(r.dir)); err != nil {
		t.Errorf("save the runtime's calls: %v", err)
	}
}

// engineImage is a `docker save` archive of the busybox image, named
// engineImageName, built once per test binary run from the host's static
// busybox: nothing is downloaded.
func engineImage(t *testing.T) string {
	return engineImageArchive(t, "busybox-engine.tar", engineImageName, ocispec.ImageConfig{Cmd: []string{"sh"}})
}

// pauseImageName is the sandbox ("pause") image of the CRI tests.
const pauseImageName = "localhost/crate-pause:test"

// pauseImage is the sandbox image of a CRI pod: busybox sleeping for ever.
// A pod's sandbox only holds its namespaces; the kubelet's pause binary
// does the same (and reaps zombies, which no test here needs).
func pauseImage(t *testing.T) string {
	return engineImageArchive(t, "pause-engine.tar", pauseImageName,
		ocispec.ImageConfig{Entrypoint: []string{"/bin/sleep", "2147483647"}})
}

var engineImageMu sync.Mutex

func engineImageArchive(t *testing.T, file, name string, cfg ocispec.ImageConfig) string {
	t.Helper()
	engineImageMu.Lock()
	defer engineImageMu.Unlock()
	p := filepath.Join(testTmp, file)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	cfg.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	testutil.DockerSave(t, p+".tmp", name, cfg, testutil.Tar(t, busyboxFiles(t)))
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
	return p
}

// engineDir is a temporary directory for an engine's state. Its cleanup
// first unmounts whatever is still mounted under it, deepest first:
// containerd and dockerd leave their snapshots' and netns' mounts behind
// when stopped, and a stopped engine cannot unmount them any more. Only
// mounts under this directory are touched.
func engineDir(t *testing.T) string {
	t.Helper()
	// /tmp/crate-engine-*: a name that says whose leftovers these would be.
	dir, err := os.MkdirTemp("", "crate-engine-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if left := unmountUnder(t, dir); len(left) > 0 {
			t.Logf("unmounted what the stopped engine left mounted: %q", left)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove the engine's state: %v", err)
		}
	})
	return dir
}

// unmountUnder unmounts every mount at or under dir, deepest first, and
// returns their mount points.
func unmountUnder(t *testing.T, dir string) []string {
	t.Helper()
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Errorf("read mountinfo: %v", err)
		return nil
	}
	var points []string
	for _, m := range mounts {
		points = append(points, m.Mountpoint)
	}
	// Deepest first: a mount under another one must go before it. A path
	// sorts after its prefixes, so reverse order is deepest first.
	slices.Sort(points)
	slices.Reverse(points)
	for _, p := range points {
		if err := unix.Unmount(p, 0); err != nil {
			// Busy (a process of a leaked container still in it): detach it,
			// so the directory can go; the test fails anyway.
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", p, err)
			}
		}
	}
	return points
}

// engineCgroupParent returns a parent cgroup path, named for crate, for the
// containers of one engine, and removes it from every hierarchy when the
// test ends: the runtime removes a container's own cgroup, but the parents
// it created stay.
func engineCgroupParent(t *testing.T, dir string) string {
	t.Helper()
	name := "crate-engine-" + filepath.Base(dir)[len("crate-engine-"):]
	t.Cleanup(func() { removeCgroupTree(t, name) })
	return "/" + name
}

// removeCgroupTree removes the cgroup name (a top-level one) and all below
// it from every mounted hierarchy, deepest first. A cgroup that still has
// processes cannot go and fails the test.
func removeCgroupTree(t *testing.T, name string) {
	t.Helper()
	hierarchies, err := filepath.Glob("/sys/fs/cgroup/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range append(hierarchies, "/sys/fs/cgroup") {
		top := filepath.Join(h, name)
		var dirs []string
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.Reverse(dirs) // WalkDir lists a directory before its children
		for _, d := range dirs {
			if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
				t.Errorf("remove cgroup %s: %v", d, err)
			}
		}
	}
}

// daemon is an engine's daemon, started by startDaemon and stopped when the
// test ends.
type daemon struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the daemon has exited
}

// startDaemon starts an engine's daemon and returns once it has written
// ready in its log (its own word that it serves requests). Its output goes
// to log in the engine's directory, shown when the test fails.
func startDaemon(t *testing.T, dir, ready string, name string, args ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(name, args...), logPath: filepath.Join(dir, filepath.Base(name)+".log"),
		exited: make(chan struct{})}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout, d.cmd.Stderr = pw, pw
	// Its own process group: a ^C of the test does not reach it first, and
	// the test stops it in order.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	readyc := make(chan struct{})
	go func() {
		// Children of the daemon (shims) may hold the pipe open after it
		// exits: the copy ends at the daemon's exit, not the pipe's EOF.
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if strings.Contains(line, ready) {
				once.Do(func() { close(readyc) })
			}
		}
	}()
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.stop(t)
		pr.Close()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(d.logPath)
			t.Logf("%s's log:\n%s", filepath.Base(name), tail(b, 60))
		}
	})
	select {
	case <-readyc:
	case <-d.exited:
		b, _ := os.ReadFile(d.logPath)
		t.Fatalf("%s exited before it was ready (%v):\n%s", name, d.cmd.ProcessState, tail(b, 60))
	case <-time.After(engineTimeout):
		t.Fatalf("%s not ready after %v (no %q in its log)", name, engineTimeout, ready)
	}
	return d
}

// stop stops the daemon with SIGTERM, as an init system would, and kills
// it if it has not exited within engineTimeout.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(unix.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(engineTimeout):
		t.Errorf("%s did not stop on SIGTERM; killed", d.cmd.Path)
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// tail is the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// engineResult is how one engine client command ended.
type engineResult struct {
	code           int
	stdout, stderr string
}

// runEngineCommand runs an engine's client to the end.
func runEngineCommand(t *testing.T, env []string, name string, args ...string) engineResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := exitStatus(t, cmd, cmd.Run())
	return engineResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustSucceed fails the test unless r is a success, and returns its stdout.
func (r engineResult) mustSucceed(t *testing.T, what string) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// runInPty runs an engine's client with a terminal as its stdin, stdout and
// stderr (as `-t` needs), to the end, and returns all it wrote and its exit
// status.
func runInPty(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		// Ends with EIO once the client, the last holder of the terminal's
		// other side, has exited.
		io.Copy(&out, ptmx)
		close(copied)
	}()
	code := exitStatus(t, cmd, cmd.Wait())
	<-copied
	return out.String(), code
}

// trapTerm is a command that runs until it gets SIGTERM and then exits 0:
// `stop` ends it at once instead of waiting for its timeout and SIGKILL (as
// pid 1 of its namespace, a shell without the trap ignores SIGTERM).
var trapTerm = []string{"sh", "-c", "trap 'exit 0' TERM; echo ready; sleep 2147483647 & wait"}
