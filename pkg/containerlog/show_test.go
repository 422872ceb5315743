package containerlog

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 16, 5, 23, 120000000, time.UTC)

// at is one entry appended with a chosen time.
type at struct {
	sec    int // seconds after t0
	stream Stream
	data   string
}

func writeEntries(t *testing.T, w *Writer, entries ...at) {
	t.Helper()
	enc := newEncoder()
	for _, e := range entries {
		w.append(enc, e.stream, t0.Add(time.Duration(e.sec)*time.Second), []byte(e.data))
	}
}

func appendRaw(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestShow(t *testing.T) {
	// A line split in two on stdout, with a stderr line between the pieces.
	entries := []at{
		{0, Stdout, "first\n"},
		{1, Stderr, "warning\n"},
		{2, Stdout, "split "},
		{3, Stderr, "error\n"},
		{4, Stdout, "line\n"},
		{5, Stdout, "last"},
	}
	ts := func(sec int) string { return t0.Add(time.Duration(sec)*time.Second).Format(timeFormat) + " " }
	tests := []showCase{
		{"all", Options{}, "first\nsplit line\nlast", "warning\nerror\n"},
		{"since includes its own time", Options{Since: t0.Add(time.Second)}, "split line\nlast", "warning\nerror\n"},
		{"since mid-line leaves the whole line out", Options{Since: t0.Add(3 * time.Second)}, "last", "error\n"},
		{"since after all", Options{Since: t0.Add(time.Hour)}, "", ""},
		{"timestamps", Options{Timestamps: true},
			ts(0) + "first\n" + ts(2) + "split line\n" + ts(5) + "last",
			ts(1) + "warning\n" + ts(3) + "error\n"},
	}
	checkShow(t, entries, tests)
}

// showCase is one way to show a log, and what it prints.
type showCase struct {
	name           string
	opts           Options
	stdout, stderr string
}

// checkShow shows a log of entries in each of the ways cases say.
func checkShow(t *testing.T, entries []at, cases []showCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, w := newLog(t)
			writeEntries(t, w, entries...)
			stdout, stderr, err := show(t, path, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if stdout != c.stdout {
				t.Errorf("stdout = %q, want %q", stdout, c.stdout)
			}
			if stderr != c.stderr {
				t.Errorf("stderr = %q, want %q", stderr, c.stderr)
			}
		})
	}
}

func TestTimestampFormat(t *testing.T) {
	path, w := newLog(t)
	at := time.Date(2026, 11, 28, 17, 5, 23, 100, time.FixedZone("CET", 3600))
	w.append(newEncoder(), Stdout, at, []byte("x\n"))
	stdout, _, err := show(t, path, Options{Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "2026-11-28T16:05:23.000000100Z x\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestShowSkipsCorruptLines(t *testing.T) {
	path, w := newLog(t)
	writeEntries(t, w, at{0, Stdout, "before\n"})
	appendRaw(t, path, "not json\n")
	appendRaw(t, path, `{"time":"yesterday","stream":"stdout","log":"x\n"}`+"\n")
	appendRaw(t, path, `{"time":"2026-11-28T16:05:23Z","stream":"stdin","log":"x\n"}`+"\n")
	writeEntries(t, w, at{1, Stderr, "after\n"})

	stdout, stderr, err := show(t, path, Options{})
	if stdout != "before\n" || stderr != "after\n" {
		t.Errorf("printed stdout %q stderr %q, want the good entries", stdout, stderr)
	}
	if err == nil || !strings.Contains(err.Error(), "skipped 3 corrupt lines") {
		t.Errorf("Show = %v, want an error counting 3 corrupt lines", err)
	}
}

func TestShowMissingLog(t *testing.T) {
	if _, _, err := show(t, t.TempDir()+"/none.log", Options{}); err == nil {
		t.Error("Show of a missing log: no error")
	}
}

// TestPartialLastLine: an entry caught mid-append is neither printed half nor counted as
// corrupt, and the reader picks it up whole once the rest is written.
func TestPartialLastLine(t *testing.T) {
	path, w := newLog(t)
	writeEntries(t, w, at{0, Stdout, "whole\n"})
	line := `{"time":"2026-11-28T16:05:24Z","stream":"stdout","log":"late\n"}`
	appendRaw(t, path, line[:30])

	stdout, _, err := show(t, path, Options{})
	if err != nil || stdout != "whole\n" {
		t.Fatalf("Show = %q, %v; want %q and no error", stdout, err, "whole\n")
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lr := &lineReader{r: bufio.NewReader(f)}
	var got []string
	read := func() {
		for {
			l, ok, err := lr.next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			got = append(got, string(l))
		}
	}
	read()
	if len(got) != 1 {
		t.Fatalf("before the rest: %d lines, want 1", len(got))
	}
	appendRaw(t, path, line[30:]+"\n")
	read()
	if len(got) != 2 || got[1] != line {
		t.Fatalf("after the rest: lines %q, want the whole entry last", got)
	}
}
