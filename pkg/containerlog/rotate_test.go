package containerlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// filesOnDisk returns the names in the log's directory, sorted.
func filesOnDisk(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// rotated is the names a log of n files has: output.log, output.log.1, ... sorted.
func rotated(n int) []string {
	names := []string{"output.log"}
	for i := 1; i < n; i++ {
		names = append(names, "output.log."+strconv.Itoa(i))
	}
	slices.Sort(names)
	return names
}

func sum(lines []int) int {
	n := 0
	for _, l := range lines {
		n += l
	}
	return n
}

// fileEntries decodes the entries of one file of a log.
func fileEntries(t *testing.T, name string) (entries []entry, lines []int) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	for line := range bytes.Lines(data) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			t.Fatalf("%s ends with half an entry: %q", name, line)
		}
		e, err := decodeEntry(line[:len(line)-1])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		entries = append(entries, e)
		lines = append(lines, len(line))
	}
	return entries, lines
}

// TestRotation: the log is rotated when the next entry would take its file past
// MaxSize, MaxFiles files are kept, and what they hold, oldest first, is the end of the
// output, with nothing missing or repeated. With one file, the file starts over.
func TestRotation(t *testing.T) {
	for _, lim := range []Limits{
		{MaxSize: 1 << 10, MaxFiles: 1},
		{MaxSize: 1 << 10, MaxFiles: 2},
		{MaxSize: 4 << 10, MaxFiles: 5},
	} {
		t.Run(fmt.Sprintf("%d files of %d bytes", lim.MaxFiles, lim.MaxSize), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "output.log")
			w, err := Create(path, lim, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			const n = 2000
			var out strings.Builder
			for i := range n {
				fmt.Fprintf(&out, "line %d\n", i)
			}
			if err := w.Copy(Stdout, strings.NewReader(out.String())); err != nil {
				t.Fatal(err)
			}
			if err := w.Lost(); err != nil {
				t.Fatalf("Lost = %v", err)
			}
			if got, want := filesOnDisk(t, path), rotated(lim.MaxFiles); !slices.Equal(got, want) {
				t.Fatalf("files %q, want %q", got, want)
			}
			var seen []int
			var sizes, firsts []int // of each file, oldest first: its size, its first entry's
			for i := lim.MaxFiles - 1; i >= 0; i-- {
				entries, lines := fileEntries(t, fileName(path, i))
				sizes, firsts = append(sizes, sum(lines)), append(firsts, lines[0])
				for _, e := range entries {
					var k int
					if _, err := fmt.Sscanf(string(e.data), "line %d\n", &k); err != nil {
						t.Fatalf("%s: entry %q", fileName(path, i), e.data)
					}
					seen = append(seen, k)
				}
			}
			for i, size := range sizes {
				if size > int(lim.MaxSize) {
					t.Errorf("file %d of %d holds %d bytes, more than %d", i+1, len(sizes), size, lim.MaxSize)
				}
				if i+1 < len(sizes) && size+firsts[i+1] <= int(lim.MaxSize) {
					t.Errorf("file %d of %d was rotated at %d bytes, with room for the next entry", i+1, len(sizes), size)
				}
			}
			if len(seen) == 0 || seen[len(seen)-1] != n-1 || seen[0] == 0 {
				t.Fatalf("the files hold lines %v, want the last ones, up to %d", seen, n-1)
			}
			for i := 1; i < len(seen); i++ {
				if seen[i] != seen[i-1]+1 {
					t.Fatalf("line %d follows line %d", seen[i], seen[i-1])
				}
			}
		})
	}
}

// TestEntrySplitToFit: an entry that would not fit in a file of MaxSize (a long line of
// control characters, each escaped in six bytes) is split into entries that do, at the
// start of a character, and the output comes back whole.
func TestEntrySplitToFit(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("\x01", MaxEntry-1) + "\n",
		strings.Repeat("é", 3000) + "\n",
		strings.Repeat("\xff", 3000) + "\n",
	} {
		path := filepath.Join(t.TempDir(), "output.log")
		lim := Limits{MaxSize: MinSize, MaxFiles: 200}
		w, err := Create(path, lim, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Copy(Stderr, strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		w.Close()
		var got []byte
		files := filesOnDisk(t, path)
		for i := len(files) - 1; i >= 0; i-- {
			name := fileName(path, i)
			entries, lines := fileEntries(t, name)
			if len(entries) == 0 {
				t.Fatalf("%s is empty", name)
			}
			for j, e := range entries {
				if lines[j] > MinSize {
					t.Fatalf("%s: an entry of %d bytes, more than %d", name, lines[j], MinSize)
				}
				got = append(got, e.data...)
			}
		}
		if string(got) != in {
			t.Errorf("%d files hold %q..., want %q...", len(files), got[:min(len(got), 20)], in[:20])
		}
	}
}

// TestRotationFails: when the log cannot be rotated (here the oldest file is a directory
// that cannot be removed), it ends, as on a failed write, instead of growing past its
// limit; the reason is told once and nothing half done is left behind.
func TestRotationFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "output.log")
	if err := os.MkdirAll(path+".1/in-the-way", 0o755); err != nil {
		t.Fatal(err)
	}
	var lost []error
	lim := Limits{MaxSize: MinSize, MaxFiles: 2}
	w, err := Create(path, lim, func(err error) { lost = append(lost, err) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Copy(Stdout, strings.NewReader(strings.Repeat("a line\n", 1000))); err != nil {
		t.Fatal(err)
	}
	if len(lost) != 1 || !strings.Contains(lost[0].Error(), "rotate") {
		t.Errorf("told %v, want once that the log could not be rotated", lost)
	}
	if got, want := filesOnDisk(t, path), []string{"output.log", "output.log.1"}; !slices.Equal(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
	entries, lines := fileEntries(t, path)
	if size := sum(lines); len(entries) == 0 || size > MinSize || size+lines[0] <= MinSize {
		t.Errorf("output.log holds %d bytes, want it full up to %d", size, MinSize)
	}
}

// TestShowRotated: Show prints what the files of a rotated log hold, oldest first, as one
// output.
func TestShowRotated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output.log")
	lim := Limits{MaxSize: MinSize, MaxFiles: 3}
	w, err := Create(path, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	if err := w.Copy(Stdout, strings.NewReader(in.String())); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var kept string // what the files hold, oldest first
	for i := lim.MaxFiles - 1; i >= 0; i-- {
		entries, _ := fileEntries(t, fileName(path, i))
		for _, e := range entries {
			kept += string(e.data)
		}
	}
	if !strings.HasSuffix(in.String(), kept) || strings.Count(kept, "\n") < 25 {
		t.Fatalf("the files hold %q, want the end of the output, more than two files of it", kept)
	}
	stdout, _, err := show(t, path, Options{})
	if err != nil || stdout != kept {
		t.Errorf("Show printed %q, %v\nwant %q", stdout, err, kept)
	}
	// No limits recorded: a container of before the rotation, whose log is one file.
	newest, _ := fileEntries(t, path)
	var out bytes.Buffer
	if err := Show(context.Background(), path, 0, &out, io.Discard, Options{}, nil); err != nil || out.Len() != sumData(newest) {
		t.Errorf("Show of one file printed %q, %v; want output.log's %d bytes", out.String(), err, sumData(newest))
	}
}

func sumData(entries []entry) int {
	n := 0
	for _, e := range entries {
		n += len(e.data)
	}
	return n
}

// TestShowRotatedCutEntry: an entry cut short at the end of an older file is corrupt (its
// rest never comes), and not glued to the first entry of the next file.
func TestShowRotatedCutEntry(t *testing.T) {
	path, w := newLog(t)
	writeEntries(t, w, at{0, Stdout, "old\n"})
	appendRaw(t, path, `{"time":"2026-11-28T16:05:24Z","stream":"stdout","log":"cut`)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"time":"2026-11-28T16:05:25Z","stream":"stdout","log":"new\n"}`+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := show(t, path, Options{})
	if stdout != "old\nnew\n" || err == nil || !strings.Contains(err.Error(), "skipped 1 corrupt lines") {
		t.Errorf("Show printed %q, %v; want both entries and 1 corrupt line", stdout, err)
	}
}
