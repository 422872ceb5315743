package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var testState = specs.State{
	Version:     specs.Version,
	ID:          "c1",
	Status:      specs.StateCreated,
	Pid:         4242,
	Bundle:      "/run/bundles/c1",
	Annotations: map[string]string{"k": "v"},
}

// hookScript writes an executable sh script into dir and returns a hook
// running it.
func hookScript(t *testing.T, dir, name, body string) specs.Hook {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return specs.Hook{Path: p}
}

// appendHook appends word to the file log, to see which hooks ran and in
// what order.
func appendHook(t *testing.T, dir, word, log string) specs.Hook {
	return hookScript(t, dir, word, "echo "+word+" >> "+log)
}

func failHook(t *testing.T, dir string) specs.Hook {
	return hookScript(t, dir, "fail", "echo oops >&2\nexit 3")
}

func readLog(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(data)), " ")
}

func testLogger(out *bytes.Buffer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: out, Level: hclog.Debug})
}

// TestRunDelivers: argv (argv[0] included), env and the state on stdin reach
// the hook as given.
func TestRunDelivers(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	h := specs.Hook{
		Path: sh,
		Args: []string{"my-hook", "-c", `tr '\0' ' ' < /proc/$$/cmdline > "$1.argv"; tr '\0' ' ' < /proc/$$/environ > "$1.env"; cat > "$1.stdin"`, "x", out},
		Env:  []string{"A=1", "B=two words"},
	}
	if err := Run(context.Background(), hclog.NewNullLogger(), CreateRuntime, []specs.Hook{h}, testState); err != nil {
		t.Fatal(err)
	}
	read := func(ext string) string {
		data, err := os.ReadFile(out + ext)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if got := read(".argv"); !strings.HasPrefix(got, "my-hook -c ") || !strings.HasSuffix(got, " x "+out+" ") {
		t.Errorf("argv = %q", got)
	}
	if got := read(".env"); got != "A=1 B=two words " {
		t.Errorf("environ = %q, want only the hook's env", got)
	}
	var st specs.State
	if err := json.Unmarshal([]byte(read(".stdin")), &st); err != nil {
		t.Fatalf("stdin: %v", err)
	}
	if st.ID != "c1" || st.Pid != 4242 || st.Status != specs.StateCreated || st.Bundle != testState.Bundle || st.Annotations["k"] != "v" {
		t.Errorf("state on stdin = %+v", st)
	}
}

// TestRunFailures: what a failing hook's error says, for each kind.
func TestRunFailures(t *testing.T) {
	tests := []struct {
		kind    Kind
		wantErr bool
		wantLog string // the hooks that ran
	}{
		{Prestart, true, "a"},
		{CreateRuntime, true, "a"},
		{Poststart, false, "a c"},
		{Poststop, false, "a c"},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "log")
			list := []specs.Hook{appendHook(t, dir, "a", log), failHook(t, dir), appendHook(t, dir, "c", log)}
			var logs bytes.Buffer
			err := Run(context.Background(), testLogger(&logs), tt.kind, list, testState)
			if got := readLog(t, log); got != tt.wantLog {
				t.Errorf("hooks that ran: %q, want %q", got, tt.wantLog)
			}
			if !tt.wantErr {
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
				if !strings.Contains(logs.String(), "[WARN]  hook failed") || !strings.Contains(logs.String(), "oops") {
					t.Errorf("no warning with the hook's stderr logged:\n%s", logs.String())
				}
				return
			}
			var hookErr *Error
			if !errors.As(err, &hookErr) {
				t.Fatalf("Run = %v, want *Error", err)
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 {
				t.Errorf("err = %v, want exit status 3", err)
			}
			if hookErr.Kind != tt.kind || hookErr.Index != 1 || strings.TrimSpace(string(hookErr.Stderr)) != "oops" {
				t.Errorf("err = %+v", hookErr)
			}
			if !strings.Contains(err.Error(), "stderr: oops") {
				t.Errorf("err %q does not include the hook's stderr", err)
			}
		})
	}
}

// TestRunTimeout: a hook blocked past its timeout is killed, with what it
// started, and the run fails. The hook blocks opening a FIFO nobody writes.
func TestRunTimeout(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	one := 1
	// cat is a child of the shell, holding the shell's stdout: only killing
	// the whole group lets the run end.
	h := hookScript(t, dir, "block", "echo waiting\ncat "+fifo+"\necho unreachable")
	h.Timeout = &one
	err := Run(context.Background(), hclog.NewNullLogger(), CreateRuntime, []specs.Hook{h}, testState)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run = %v, want ErrTimeout", err)
	}
	var hookErr *Error
	if errors.As(err, &hookErr) && strings.TrimSpace(string(hookErr.Stdout)) != "waiting" {
		t.Errorf("stdout = %q, want what the hook wrote before it blocked", hookErr.Stdout)
	}
	// A non-blocking open for writing fails with ENXIO when the FIFO has no
	// reader: cat, blocked opening it, would still count as one.
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
		t.Error("the hook's child still waits on the FIFO: the timeout did not kill it")
	} else if !errors.Is(err, unix.ENXIO) {
		t.Fatal(err)
	}
}

// TestRunCancelled: cancelling the caller's context kills the hook.
func TestRunCancelled(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	if err := unix.Mkfifo(ready, 0o600); err != nil {
		t.Fatal(err)
	}
	h := hookScript(t, dir, "block", "echo > "+ready+"\ncat "+fifo)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Opening ready returns once the hook has started and opened it.
		if f, err := os.Open(ready); err == nil {
			f.Close()
		}
		cancel()
	}()
	err := Run(ctx, hclog.NewNullLogger(), Prestart, []specs.Hook{h}, testState)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}

func TestRunOrder(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	var list []specs.Hook
	for _, w := range []string{"one", "two", "three", "four"} {
		list = append(list, appendHook(t, dir, w, log))
	}
	if err := Run(context.Background(), hclog.NewNullLogger(), Poststart, list, testState); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, log); got != "one two three four" {
		t.Errorf("order = %q", got)
	}
}

// TestRunBadHooks: hooks that cannot start are errors like failing ones.
func TestRunBadHooks(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-exec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	zero := 0
	tests := []struct {
		name string
		hook specs.Hook
		want error
	}{
		{"missing", specs.Hook{Path: filepath.Join(dir, "missing")}, os.ErrNotExist},
		{"not executable", specs.Hook{Path: notExec}, os.ErrPermission},
		{"zero timeout", specs.Hook{Path: "/bin/true", Timeout: &zero}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(context.Background(), hclog.NewNullLogger(), CreateRuntime, []specs.Hook{tt.hook}, testState)
			if !errors.As(err, new(*Error)) {
				t.Fatalf("Run = %v, want *Error", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Run = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRunOutputBounded: a hook's flood of output is cut, not kept whole.
func TestRunOutputBounded(t *testing.T) {
	dir := t.TempDir()
	h := hookScript(t, dir, "flood", "head -c 1000000 /dev/zero | tr '\\0' x >&2\nexit 1")
	err := Run(context.Background(), hclog.NewNullLogger(), CreateRuntime, []specs.Hook{h}, testState)
	var hookErr *Error
	if !errors.As(err, &hookErr) {
		t.Fatalf("Run = %v, want *Error", err)
	}
	if n := len(hookErr.Stderr); n > OutputLimit+len("[...]") || !bytes.HasSuffix(hookErr.Stderr, []byte("[...]")) {
		t.Errorf("kept %d bytes of stderr, want at most %d and a mark of the cut", n, OutputLimit)
	}
}

func TestOf(t *testing.T) {
	h := &specs.Hooks{
		Prestart:      []specs.Hook{{Path: "/a"}},
		CreateRuntime: []specs.Hook{{Path: "/b"}},
		Poststart:     []specs.Hook{{Path: "/c"}},
		Poststop:      []specs.Hook{{Path: "/d"}},
	}
	for i, k := range Kinds {
		if got := Of(h, k); len(got) != 1 || got[0].Path != "/"+string(rune('a'+i)) {
			t.Errorf("Of(%s) = %v", k, got)
		}
	}
	if Of(nil, Poststop) != nil {
		t.Error("Of(nil) is not nil")
	}
}
