package main

// A detached container's output log on disk: its limits (--log-opt), its rotation as
// crate logs and crate logs -f read it, and what becomes of the output when the disk is
// full.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
