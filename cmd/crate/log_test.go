package main

// crate's logs: JSON on stderr when asked, the debug-level log file every
// run appends to, and `crate log`, which reads that file back.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunLogsJSONOnStderr(t *testing.T) {
	e := newEnv(t)
	name := newName()
	cmd := e.command("--log-format", "json", "--log-level", "info", "run", "--name", name, busyboxImage(t), "echo", "hi")
	r := e.finish(cmd, name)
	e.noLeftovers(name)
	if r.code != 0 || r.stdout != "hi\n" {
		t.Fatalf("exit %d, stdout %q; want 0 and hi\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	var messages []string
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		if entry["container_id"] != name {
			t.Errorf("container_id %v, want %s, in %q", entry["container_id"], name, line)
		}
		if level := entry["@level"]; level == "debug" || level == "trace" {
			t.Errorf("%s entry on stderr at --log-level info: %q", level, line)
		}
		messages = append(messages, entry["@message"].(string))
	}
	for _, want := range []string{"layer unpacked", "container started", "container exited"} {
		if !slices.Contains(messages, want) {
			t.Errorf("no %q on stderr; messages: %q", want, messages)
		}
	}
}

func TestRunLogFileRecordsEachStep(t *testing.T) {
	e := newEnv(t)
	r := e.run("--memory", "64", busyboxImage(t), "echo", "hi")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstderr: %s", r.code, r.stderr)
	}

	// Each step's entry, and the fields that say how it went. logEntry only
	// finds entries that carry the container's id.
	steps := []struct {
		message string
		level   string
		fields  []string
	}{
		{"layer unpacked", "info", []string{"bytes", "files"}},
		{"cgroup created", "info", []string{"cgroup", "memory_bytes"}},
		{"init started", "debug", []string{"pid"}},
		{"container started", "info", []string{"pid", "args"}},
		{"container exited", "info", []string{"exit_code", "cpu_time", "memory_peak_bytes"}},
		{"cleaned up", "debug", []string{"duration"}},
	}
	for _, step := range steps {
		entry := e.logEntry(r.name, step.message)
		if entry["@level"] != step.level {
			t.Errorf("%q at level %v, want %s", step.message, entry["@level"], step.level)
		}
		for _, field := range step.fields {
			if _, ok := entry[field]; !ok {
				t.Errorf("%q has no %s: %v", step.message, field, entry)
			}
		}
	}
	if unpacked := e.logEntry(r.name, "layer unpacked"); unpacked["bytes"].(float64) <= 0 || unpacked["files"].(float64) <= 0 {
		t.Errorf("layer unpacked with no bytes or files: %v", unpacked)
	}
	if got := e.logEntry(r.name, "cgroup created")["memory_bytes"]; got != float64(64<<20) {
		t.Errorf("cgroup created with memory_bytes %v, want %d", got, 64<<20)
	}
	if got := e.logEntry(r.name, "container exited")["exit_code"]; got != float64(0) {
		t.Errorf("container exited with exit_code %v, want 0", got)
	}

	// init's own entries reach the file through the supervisor, named for init.
	fromInit := 0
	for _, entry := range e.logEntries() {
		if entry["@module"] == "crate.init" {
			fromInit++
			if entry["container_id"] != r.name {
				t.Errorf("init entry without the container's id: %v", entry)
			}
		}
	}
	if fromInit == 0 {
		t.Error(`no entry with @module "crate.init"`)
	}
}

func TestCrateLogFilters(t *testing.T) {
	e := newEnv(t)
	ok := e.run(busyboxImage(t), "echo", "hi")
	if ok.code != 0 {
		t.Fatalf("exit %d, want 0\nstderr: %s", ok.code, ok.stderr)
	}
	failed := e.run(busyboxImage(t), "nosuchcommand")
	if failed.code != exitNotFound {
		t.Fatalf("exit %d, want %d\nstderr: %s", failed.code, exitNotFound, failed.stderr)
	}
	anHourAhead := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	tests := []struct {
		name    string
		args    []string
		want    []string // each of these is in the output
		notWant []string // none of these is
		json    bool     // every line is JSON
	}{
		{
			name:    "one container",
			args:    []string{"--container", ok.name},
			want:    []string{ok.name, "layer unpacked", "cgroup created", "container started", "container exited", "cleaned up", "crate.init"},
			notWant: []string{failed.name},
		},
		{
			name: "a container by a prefix of its id",
			args: []string{"--container", ok.name[:5]},
			want: []string{ok.name, "container exited"},
		},
		{
			name:    "errors only",
			args:    []string{"--level", "error"},
			want:    []string{failed.name, "command not found"},
			notWant: []string{"[INFO]", "container started", ok.name},
		},
		{
			name: "as stored",
			args: []string{"--json", "--container", ok.name},
			want: []string{`"container_id":"` + ok.name + `"`, `"@message":"container exited"`},
			json: true,
		},
		{
			name: "the last hour",
			args: []string{"--since", "1h"},
			want: []string{ok.name, failed.name, "container exited"},
		},
		{
			name:    "nothing from the future",
			args:    []string{"--since", anHourAhead},
			notWant: []string{ok.name, failed.name},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.crate(append([]string{"log"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("crate log %q: exit %d\nstderr: %s", tt.args, r.code, r.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("crate log %q does not show %q:\n%s", tt.args, want, r.stdout)
				}
			}
			for _, notWant := range tt.notWant {
				if strings.Contains(r.stdout, notWant) {
					t.Errorf("crate log %q shows %q:\n%s", tt.args, notWant, r.stdout)
				}
			}
			if tt.json {
				for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
					if !json.Valid([]byte(line)) {
						t.Errorf("crate log %q: not a JSON line: %q", tt.args, line)
					}
				}
			}
		})
	}
}

// TestCrateLogFollow watches `crate log -f` print a container's end as it
// happens.
func TestCrateLogFollow(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(e.logFile, nil, 0o600); err != nil { // crate log wants the file to exist
		t.Fatal(err)
	}
	follower := e.command("log", "-f")
	stdout, err := follower.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	follower.Stderr = &stderr
	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { follower.Process.Kill(); follower.Wait() })
	lines := make(chan string)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
	}()

	// The first container's end may be read with what the file held at the
	// start; the second's is appended once the follower has shown the first,
	// so only following can show it.
	for range 2 {
		r := e.run(busyboxImage(t), "true")
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstderr: %s", r.code, r.stderr)
		}
		waitForLine(t, lines, &stderr, "container exited", r.name)
	}

	// SIGINT ends the follower cleanly.
	if err := follower.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := follower.Wait(); err != nil {
		t.Errorf("crate log -f after SIGINT: %v\nstderr: %s", err, &stderr)
	}
}

// waitForLine reads lines until one contains all of words.
func waitForLine(t *testing.T, lines <-chan string, stderr *bytes.Buffer, words ...string) {
	t.Helper()
	// A deadline, not a wait: the line is normally there at once.
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("crate log -f ended before it showed %q\nstderr: %s", words, stderr)
			}
			if containsAll(line, words) {
				return
			}
		case <-deadline:
			t.Fatalf("crate log -f did not show %q within 30s", words)
		}
	}
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// TestCrateVersion needs no root: it only prints.
func TestCrateVersion(t *testing.T) {
	cmd := exec.Command(crateBin, "version")
	cmd.Env = append(os.Environ(), "CRATE_INIT="+initBin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crate version: %v", err)
	}
	for _, want := range []string{"crate ", "crate-init: " + initBin} {
		if !strings.Contains(string(out), want) {
			t.Errorf("crate version does not say %q:\n%s", want, out)
		}
	}
}
