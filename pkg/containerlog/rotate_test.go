package containerlog

import (
	"bytes"
	"fmt"
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
