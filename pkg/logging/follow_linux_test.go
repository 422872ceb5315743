package logging

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// lineWriter sends each complete line written to it on a channel, so a test can wait for
// output instead of sleeping.
type lineWriter struct {
	buf   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil { // incomplete: keep it for the next Write
			w.buf.Reset()
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.lines <- line[:len(line)-1]
	}
}

// next waits for the next line; the timeout only turns a hang into a failure.
func (w *lineWriter) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-w.lines:
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no line from Show within 10s")
		return ""
	}
}

func TestShowFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crate.log")
	appendLog(t, path, logLine{t0, hclog.Info, "crate", "container started", []any{"container_id", "abc"}})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &lineWriter{lines: make(chan string, 16)}
	done := make(chan error, 1)
	go func() { done <- Show(ctx, w, path, Filter{Container: "abc"}, false, true) }()

	if got, want := w.next(t), "2026-11-28T11:15:19.123Z [INFO]  crate: container started: container_id=abc"; got != want {
		t.Fatalf("first line = %q, want %q", got, want)
	}

	// An entry for another container is filtered out; the next one shows up.
	appendLog(t, path,
		logLine{t0.Add(time.Second), hclog.Info, "crate", "container started", []any{"container_id", "zzz"}},
		logLine{t0.Add(2 * time.Second), hclog.Warn, "crate.init", "exec", []any{"container_id", "abc", "path", "/bin/sh"}},
	)
	if got, want := w.next(t), "2026-11-28T11:15:21.123Z [WARN]  crate.init: exec: container_id=abc path=/bin/sh"; got != want {
		t.Fatalf("second line = %q, want %q", got, want)
	}

	// A line written in two parts is shown once, whole.
	line := `{"@level":"info","@message":"container exited","@module":"crate","@timestamp":"2026-11-28T11:15:22.123000Z","container_id":"abc","exit_code":0}`
	appendRaw(t, path, line[:40])
	appendRaw(t, path, line[40:]+"\n")
	if got, want := w.next(t), "2026-11-28T11:15:22.123Z [INFO]  crate: container exited: container_id=abc exit_code=0"; got != want {
		t.Fatalf("third line = %q, want %q", got, want)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Show after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Show did not return after cancel")
	}
	select {
	case l := <-w.lines:
		t.Errorf("unexpected extra line %q", l)
	default:
	}
}
