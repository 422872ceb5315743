package containerlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// newLog creates an empty log in a temporary directory; the writer is closed at cleanup,
// and must not have dropped any output by then.
func newLog(t *testing.T) (string, *Writer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "output.log")
	w, err := Create(path, DefaultLimits, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Lost(); err != nil {
			t.Errorf("the log dropped output: %v", err)
		}
		w.Close()
	})
	return path, w
}

// records returns the raw JSON objects in the log, one per line.
func records(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for line := range strings.Lines(string(data)) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// show runs Show without following on a log of DefaultLimits and returns what it printed
// on each stream.
func show(t *testing.T, path string, o Options) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = Show(context.Background(), path, DefaultLimits.MaxFiles, &out, &errOut, o, nil)
	return out.String(), errOut.String(), err
}

func TestCopyRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 40*1024)
	binary := "\xff\xfe ok \x00\xc3\x28\n"
	tests := []struct {
		name    string
		in      string
		entries []string // the output each entry holds
	}{
		{"lines", "hello\nworld\n", []string{"hello\n", "world\n"}},
		{"empty lines", "\n\na\n", []string{"\n", "\n", "a\n"}},
		{"html and escapes", "<a href=\"x\">&amp;</a>\t\r\n", []string{"<a href=\"x\">&amp;</a>\t\r\n"}},
		{"long line split", long + "\n", []string{long[:MaxEntry], long[MaxEntry : 2*MaxEntry], long[2*MaxEntry:] + "\n"}},
		{"not utf-8", binary, []string{binary}},
		{"last line without newline", "a\nno newline", []string{"a\n", "no newline"}},
		{"nothing", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, w := newLog(t)
			if err := w.Copy(Stdout, strings.NewReader(tt.in)); err != nil {
				t.Fatal(err)
			}
			recs := records(t, path)
			if len(recs) != len(tt.entries) {
				t.Fatalf("%d entries, want %d", len(recs), len(tt.entries))
			}
			for i, rec := range recs {
				e, err := decodeEntry(mustMarshal(t, rec))
				if err != nil {
					t.Fatal(err)
				}
				if string(e.data) != tt.entries[i] {
					t.Errorf("entry %d holds %q, want %q", i, e.data, tt.entries[i])
				}
				if rec["stream"] != "stdout" {
					t.Errorf("entry %d stream = %v", i, rec["stream"])
				}
			}
			stdout, stderr, err := show(t, path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if stdout != tt.in || stderr != "" {
				t.Errorf("Show printed stdout %q stderr %q, want stdout %q", stdout, stderr, tt.in)
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEntryFields pins the file format that other tools may read.
func TestEntryFields(t *testing.T) {
	path, w := newLog(t)
	w.append(newEncoder(), Stderr, t0, []byte("hi\n"))
	w.append(newEncoder(), Stdout, t0, []byte("\xff\n"))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-11-28T16:05:23.120000000Z","stream":"stderr","log":"hi\n"}` + "\n" +
		`{"time":"2026-11-28T16:05:23.120000000Z","stream":"stdout","bytes":"/wo="}` + "\n"
	if string(data) != want {
		t.Errorf("file holds\n%s\nwant\n%s", data, want)
	}
}

// eioReader gives its data and then EIO, like a pty master once the slave side is gone.
type eioReader struct{ data io.Reader }

func (r eioReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if errors.Is(err, io.EOF) {
		return n, syscall.EIO
	}
	return n, err
}

func TestCopyEIOIsEnd(t *testing.T) {
	path, w := newLog(t)
	if err := w.Copy(Stdout, eioReader{strings.NewReader("a\nb")}); err != nil {
		t.Fatalf("Copy returned %v, want nil on EIO", err)
	}
	if stdout, _, _ := show(t, path, Options{}); stdout != "a\nb" {
		t.Errorf("Show printed %q, want %q", stdout, "a\nb")
	}
}

func TestCopyErrors(t *testing.T) {
	_, w := newLog(t)
	if err := w.Copy("stdin", strings.NewReader("x\n")); err == nil {
		t.Error("Copy of an unknown stream: no error")
	}
	broken := errors.New("broken reader")
	if err := w.Copy(Stdout, io.MultiReader(strings.NewReader("x"), errReader{broken})); !errors.Is(err, broken) {
		t.Errorf("Copy = %v, want it to wrap %v", err, broken)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestConcurrentCopy feeds stdout and stderr through pipes at the same time, with lines
// long enough to be split; each stream must come back whole, so no entry mixes the two.
func TestConcurrentCopy(t *testing.T) {
	path, w := newLog(t)
	var want [2]strings.Builder
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i, stream := range []Stream{Stdout, Stderr} {
		r, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		for n := range 300 {
			fmt.Fprintf(&want[i], "%s %d %s\n", stream, n, strings.Repeat(string(stream[3:4]), n*97%(3*MaxEntry)))
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer r.Close()
			errs <- w.Copy(stream, r)
		}()
		go func() {
			defer wg.Done()
			// Small writes, so the two copiers take turns at the file.
			bw := bufio.NewWriterSize(pw, 4096)
			_, err := io.Copy(bw, strings.NewReader(want[i].String()))
			if err == nil {
				err = bw.Flush()
			}
			pw.Close()
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, err := show(t, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if stdout != want[0].String() {
		t.Errorf("stdout differs: %d bytes, want %d", len(stdout), want[0].Len())
	}
	if stderr != want[1].String() {
		t.Errorf("stderr differs: %d bytes, want %d", len(stderr), want[1].Len())
	}
}

// TestCopyDrainsAFailingLog: a log that cannot be written (/dev/full answers every write
// with ENOSPC, as a full disk does) is no reason to stop reading the container's output:
// the container would block on a full pipe. The reason is told once.
func TestCopyDrainsAFailingLog(t *testing.T) {
	var lost []error
	w, err := Create("/dev/full", DefaultLimits, func(err error) { lost = append(lost, err) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	in := strings.NewReader(strings.Repeat("a line of output\n", 10000))
	if err := w.Copy(Stdout, in); err != nil {
		t.Errorf("Copy = %v, want nil: output the log cannot take is dropped, not a reason to stop reading", err)
	}
	if in.Len() != 0 {
		t.Errorf("Copy left %d bytes unread: the container would block on a full pipe", in.Len())
	}
	if len(lost) != 1 || !errors.Is(lost[0], syscall.ENOSPC) {
		t.Errorf("told %v, want ENOSPC once", lost)
	}
	if err := w.Lost(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Lost = %v, want ENOSPC", err)
	}
}

// fullFile stands for a log file on a disk that fills up: it takes room bytes, then
// a write gets what still fits and ENOSPC. Truncate fails with truncErr if set.
type fullFile struct {
	room     int
	data     []byte
	truncErr error
}

func (f *fullFile) Write(p []byte) (int, error) {
	n := min(len(p), f.room-len(f.data))
	f.data = append(f.data, p[:n]...)
	if n < len(p) {
		return n, syscall.ENOSPC
	}
	return n, nil
}

func (f *fullFile) Truncate(size int64) error {
	if f.truncErr != nil {
		return f.truncErr
	}
	f.data = f.data[:size]
	return nil
}

func (f *fullFile) Close() error { return nil }

// encoded is the JSON line of one entry at t0, as the writer encodes it.
func encoded(t *testing.T, stream Stream, data string) []byte {
	t.Helper()
	rec, err := newEncoder().encode(stream, t0, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(rec)
}

// TestFailedWriteEndsTheLog: the entry a disk fills up in the middle of is cut back off,
// so that the log ends with a whole entry, and the log ends there: a later entry that
// would fit is dropped too (no hole in the middle of the log). If even the cut fails, the
// reason says so.
func TestFailedWriteEndsTheLog(t *testing.T) {
	first, second := encoded(t, Stdout, "first\n"), encoded(t, Stderr, "second\n")
	long, short := encoded(t, Stdout, strings.Repeat("x", 200)+"\n"), encoded(t, Stdout, "s\n")
	whole := string(first) + string(second)
	for _, tt := range []struct {
		name     string
		truncErr error
		want     string // what the file holds
		reason   string // what the reason says
	}{
		{"cut back", nil, whole, "no space left on device"},
		{"cut fails", syscall.EIO, whole + string(long[:len(short)]), "input/output error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fullFile{room: len(whole) + len(short), truncErr: tt.truncErr}
			var lost []error
			w := newWriter("output.log", f, DefaultLimits, func(err error) { lost = append(lost, err) })
			writeEntries(t, w, at{0, Stdout, "first\n"}, at{0, Stderr, "second\n"})
			if len(lost) != 0 {
				t.Fatalf("lost %v before the disk was full", lost)
			}
			writeEntries(t, w, at{0, Stdout, strings.Repeat("x", 200) + "\n"}, at{0, Stdout, "s\n"})
			if string(f.data) != tt.want {
				t.Errorf("file holds\n%q\nwant\n%q", f.data, tt.want)
			}
			if len(lost) != 1 || !errors.Is(lost[0], syscall.ENOSPC) || !strings.Contains(lost[0].Error(), tt.reason) {
				t.Errorf("told %v, want once ENOSPC saying %q", lost, tt.reason)
			}
		})
	}
}
