package main

// A detached container's output log on disk: its limits (--log-opt), its rotation as
// crate logs and crate logs -f read it, and what becomes of the output when the disk is
// full.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/containerlog"
	"github.com/crate-run/crate/pkg/state"
)

// logSizes returns the sizes of the files of container name's output log, by name.
func (e *env) logSizes(name string) map[string]int64 {
	e.t.Helper()
	files, err := filepath.Glob(filepath.Join(e.root, "containers", name, "output.log*"))
	if err != nil {
		e.t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			e.t.Fatal(err)
		}
		sizes[filepath.Base(f)] = fi.Size()
	}
	return sizes
}

// numbers reads output of seq: one number a line, each one more than the last.
func numbers(t *testing.T, out string) (first, last int) {
	t.Helper()
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		n, err := strconv.Atoi(line)
		if err != nil || (i > 0 && n != last+1) {
			t.Fatalf("line %q after %d, want the next number", line, last)
		}
		if i == 0 {
			first = n
		}
		last = n
	}
	return first, last
}

// TestLogLimits: a detached container that writes far more than --log-opt max-size times
// max-file keeps running; its log stays within the limits, in max-file files; crate logs
// shows the newest output, in order; crate ps and crate inspect show the limits.
func TestLogLimits(t *testing.T) {
	e := newEnv(t)
	name := e.detach("--log-opt", "max-size=4k", "--log-opt", "max-file=3", busyboxImage(t), "sh", "-c", "seq 1 3000; exec sleep 1000")
	lines := e.follow(name)
	for lines.Scan() && lines.Text() != "3000" {
	}
	if lines.Text() != "3000" {
		t.Fatalf("logs -f ended at %q before the last line, 3000", lines.Text())
	}
	st := e.get(name)
	if st.Status != state.Running {
		t.Errorf("after its output: %s, want still running", st.Status)
	}
	if want := (containerlog.Limits{MaxSize: 4 << 10, MaxFiles: 3}); st.LogLimits != want {
		t.Errorf("ps: log limits %+v, want %+v", st.LogLimits, want)
	}
	sizes := e.logSizes(name)
	if len(sizes) != 3 || sizes["output.log"] == 0 || sizes["output.log.1"] == 0 || sizes["output.log.2"] == 0 {
		t.Errorf("log files %v, want output.log, output.log.1 and output.log.2", sizes)
	}
	for f, size := range sizes {
		if size > 4<<10 {
			t.Errorf("%s holds %d bytes, more than max-size", f, size)
		}
	}
	first, last := numbers(t, e.ok("logs", name))
	if last != 3000 || first <= 1 {
		t.Errorf("logs shows lines %d to %d, want the newest ones, up to 3000", first, last)
	}
	var in []struct{ State state.State }
	if err := json.Unmarshal([]byte(e.ok("inspect", name)), &in); err != nil {
		t.Fatal(err)
	}
	if len(in) != 1 || in[0].State.LogLimits != st.LogLimits {
		t.Errorf("inspect: %+v, want the log limits", in)
	}
}

// TestLogsFollowRotation: crate logs -f follows the log across its rotations and prints
// every line once, in order. The container writes numbered lines in bursts of up to two
// files' worth (max-file), each once logs -f has printed the burst before.
func TestLogsFollowRotation(t *testing.T) {
	e := newEnv(t)
	name := e.detach("--log-opt", "max-size=4k", "--log-opt", "max-file=2", busyboxImage(t), "sleep", "1000")
	lines := e.follow(name)
	next := 1
	for burst := range 20 {
		n := 10 + burst*37%80 // entries of 75 bytes: about 54 fill a file
		// To the container's own stdout, which its supervisor copies into the log.
		e.ok("exec", name, "sh", "-c", fmt.Sprintf("seq %d %d >/proc/1/fd/1", next, next+n-1))
		for want := next; want < next+n; want++ {
			if !lines.Scan() || lines.Text() != strconv.Itoa(want) {
				t.Fatalf("logs -f: %q, want %d", lines.Text(), want)
			}
		}
		next += n
	}
	if sizes := e.logSizes(name); len(sizes) != 2 {
		t.Errorf("log files %v, want two", sizes)
	}
	e.ok("kill", name)
	if lines.Scan() {
		t.Errorf("logs -f printed %q after the last line", lines.Text())
	}
}

// tinyStateRoot puts the env's state root on a tmpfs of its own, unmounted when the test
// ends, and imports the busybox image there as "bb"; then it shrinks the tmpfs to what
// that takes and room more.
func (e *env) tinyStateRoot(room int64) {
	e.t.Helper()
	if err := os.MkdirAll(e.root, 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", e.root, "tmpfs", 0, "size=64m,mode=0700"); err != nil {
		e.t.Fatalf("mount a tmpfs on %s: %v", e.root, err)
	}
	e.t.Cleanup(func() {
		if err := unix.Unmount(e.root, 0); err != nil {
			e.t.Errorf("unmount %s: %v", e.root, err)
		}
	})
	e.ok("image", "import", "--name", "bb", busyboxImage(e.t))
	var st unix.Statfs_t
	if err := unix.Statfs(e.root, &st); err != nil {
		e.t.Fatal(err)
	}
	used := int64(st.Blocks-st.Bfree) * st.Bsize
	if err := unix.Mount("tmpfs", e.root, "tmpfs", unix.MS_REMOUNT, fmt.Sprintf("size=%d", used+room)); err != nil {
		e.t.Fatalf("shrink the tmpfs on %s: %v", e.root, err)
	}
}

// TestOutputOnFullDisk: when the disk of the state root fills up, the container neither
// blocks nor dies: it writes all its output and exits as it means to. The log holds
// whole entries only, the output up to where the disk was full; the state says the
// output was truncated and why, crate's log says it once, and crate logs notes it.
func TestOutputOnFullDisk(t *testing.T) {
	e := newEnv(t)
	e.tinyStateRoot(1 << 20)
	// Some 8 MB of entries for 1 MB of room; the exit code says seq wrote everything.
	name := e.detach("bb", "sh", "-c", "seq 1 100000 || exit 1; exit 7")
	if code := strings.TrimSpace(e.ok("wait", name)); code != "7" {
		t.Errorf("exit code %s, want 7: the container could not write its output", code)
	}
	st := e.get(name)
	if !strings.Contains(st.OutputTruncated, "no space left on device") {
		t.Errorf("state: output truncated %q, want the reason, no space left", st.OutputTruncated)
	}
	data, err := os.ReadFile(filepath.Join(e.root, "containers", name, "output.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		t.Errorf("output.log ends with half an entry: %q", data[max(0, len(data)-100):])
	}
	r := e.crate("logs", name)
	t.Logf("crate logs: stderr %q", r.stderr)
	if r.code != 0 {
		t.Errorf("logs: exit %d, stderr %q", r.code, r.stderr)
	}
	if first, last := numbers(t, r.stdout); first != 1 || last < 1000 || last >= 100000 {
		t.Errorf("logs shows lines %d to %d, want those from 1 up to where the disk was full", first, last)
	}
	if !strings.Contains(r.stderr, "truncated") || !strings.Contains(r.stderr, "no space left on device") ||
		strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("logs: stderr %q, want one line saying the output was truncated, and why", r.stderr)
	}
	entry := e.logEntry(name, "container output truncated: the rest of it is dropped")
	if n := e.countLog("container output truncated: the rest of it is dropped"); n != 1 ||
		!strings.Contains(fmt.Sprint(entry["error"]), "no space left on device") {
		t.Errorf("crate's log says it %d times, with %v; want once, with the reason", n, entry["error"])
	}
}
