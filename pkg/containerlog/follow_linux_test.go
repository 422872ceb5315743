package containerlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink collects what Show prints and lets a test wait until it has printed something,
// instead of sleeping.
type sink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newSink() *sink { return &sink{wrote: make(chan struct{}, 1)} }

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.buf.Write(p)
	s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default: // a wake-up is already pending
	}
	return len(p), nil
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until everything printed is want; the timeout only turns a hang into a failure.
func (s *sink) waitFor(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		got := s.String()
		if got == want {
			return
		}
		if !strings.HasPrefix(want, got) {
			t.Fatalf("printed %q, want %q", got, want)
		}
		select {
		case <-s.wrote:
		case <-timeout:
			t.Fatalf("printed %q after 10s, want %q", got, want)
		}
	}
}

func waitReturn(t *testing.T, result <-chan error) error {
	t.Helper()
	select {
	case err := <-result:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Show did not return within 10s")
		return nil
	}
}

// following is Show following a log while a Copy feeds it the container's stdout.
type following struct {
	pw     *io.PipeWriter // the container's stdout, through a pipe as to its supervisor
	copied chan error
	done   chan struct{}
	result chan error
}

// follow starts Show following the log at path, kept in maxFiles files, and the Copy
// into w.
func follow(w *Writer, path string, maxFiles int, stdout, stderr io.Writer) *following {
	f := &following{copied: make(chan error, 1), done: make(chan struct{}), result: make(chan error, 1)}
	go func() {
		f.result <- Show(context.Background(), path, maxFiles, stdout, stderr, Options{Follow: true}, f.done)
	}()
	pr, pw := io.Pipe()
	f.pw = pw
	go func() { f.copied <- w.Copy(Stdout, pr) }()
	return f
}

// end ends the container's output: done is closed only after the copier has returned,
// as the supervisor does, and Show must print all of it before it returns.
func (f *following) end(t *testing.T) {
	t.Helper()
	f.pw.Close()
	if err := <-f.copied; err != nil {
		t.Fatal(err)
	}
	close(f.done)
	if err := waitReturn(t, f.result); err != nil {
		t.Fatalf("Show: %v", err)
	}
}

func TestFollow(t *testing.T) {
	path, w := newLog(t)
	writeEntries(t, w, at{0, Stdout, "before\n"})

	stdout, stderr := newSink(), newSink()
	f := follow(w, path, DefaultLimits.MaxFiles, stdout, stderr)
	stdout.waitFor(t, "before\n")

	io.WriteString(f.pw, "one\n")
	stdout.waitFor(t, "before\none\n")

	if err := w.Copy(Stderr, strings.NewReader("oops\n")); err != nil {
		t.Fatal(err)
	}
	stderr.waitFor(t, "oops\n")

	// An entry appended in two writes is printed once, whole.
	line := `{"time":"2026-11-28T16:05:24Z","stream":"stdout","log":"in two writes\n"}`
	appendRaw(t, path, line[:25])
	appendRaw(t, path, line[25:]+"\n")
	stdout.waitFor(t, "before\none\nin two writes\n")

	// The container's last output, then it exits.
	io.WriteString(f.pw, "two\nthree")
	f.end(t)
	if got, want := stdout.String(), "before\none\nin two writes\ntwo\nthree"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got := stderr.String(); got != "oops\n" {
		t.Errorf("stderr = %q, want %q", got, "oops\n")
	}
}

func TestFollowDoneAlreadyClosed(t *testing.T) {
	path, w := newLog(t)
	writeEntries(t, w, at{0, Stdout, "exited long ago\n"})
	done := make(chan struct{})
	close(done)
	out := newSink()
	result := make(chan error, 1)
	go func() {
		result <- Show(context.Background(), path, DefaultLimits.MaxFiles, out, io.Discard, Options{Follow: true}, done)
	}()
	if err := waitReturn(t, result); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "exited long ago\n" {
		t.Errorf("stdout = %q", got)
	}
}

func TestFollowCancel(t *testing.T) {
	path, w := newLog(t)
	writeEntries(t, w, at{0, Stdout, "running\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newSink()
	result := make(chan error, 1)
	go func() {
		result <- Show(ctx, path, DefaultLimits.MaxFiles, out, io.Discard, Options{Follow: true}, make(chan struct{}))
	}()
	out.waitFor(t, "running\n")
	cancel()
	if err := waitReturn(t, result); err != nil {
		t.Errorf("Show after cancel = %v, want nil", err)
	}
}

// TestFollowAcrossRotation: a follower of a log rotated under it prints every line once,
// in order, when the log was rotated once between two looks, or as many times as it has
// files (the file the follower reads is then dropped, and read to its end all the same);
// with one file, which starts over, too.
func TestFollowAcrossRotation(t *testing.T) {
	for _, tt := range []struct {
		files int
		burst int // the most lines written between two looks: 12 of 80 bytes fill a file
	}{
		{files: 1, burst: 12},
		{files: 3, burst: 12},
		{files: 3, burst: 24},
	} {
		t.Run(fmt.Sprintf("%d files, %d lines at once", tt.files, tt.burst), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "output.log")
			w, err := Create(path, Limits{MaxSize: MinSize, MaxFiles: tt.files}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			stdout := newSink()
			f := follow(w, path, tt.files, stdout, io.Discard)
			var want strings.Builder
			n := 0
			for i := range 60 {
				var lines strings.Builder
				for range i%tt.burst + 1 {
					fmt.Fprintf(&lines, "line %d\n", n)
					n++
				}
				io.WriteString(f.pw, lines.String())
				want.WriteString(lines.String())
				stdout.waitFor(t, want.String())
			}
			f.end(t)
			if got := stdout.String(); got != want.String() {
				t.Errorf("printed %d bytes, want %d", len(got), want.Len())
			}
		})
	}
}
