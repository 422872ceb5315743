package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/testutil"
)

const mb = 1 << 20 // a MiB

func TestReserveOf(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		reserve Reserve
		size    int64 // of the file system
		want    int64
	}{
		{DefaultReserve, 10 * gib, gib / 2}, // 5% is less than 1 GiB
		{DefaultReserve, 100 * gib, gib},    // 1 GiB is less than 5%
		{DefaultReserve, 16 * mb, 16 * mb / 20},
		{Reserve{Percent: 10}, 100 * gib, 10 * gib},
		{Reserve{Bytes: 64 * mb}, 100 * gib, 64 * mb},
		{Reserve{}, 100 * gib, 0},
	} {
		if got := tc.reserve.Of(tc.size); got != tc.want {
			t.Errorf("%+v of %d bytes = %d, want %d", tc.reserve, tc.size, got, tc.want)
		}
	}
}

// storeOn is a store on a tmpfs of its own, mounted with opts, keeping reserve free.
func storeOn(t *testing.T, opts string, reserve Reserve) testStore {
	t.Helper()
	s := newTestStore(t, testutil.Tmpfs(t, opts))
	s.MinFree = reserve
	return s
}

// requireWholeImport imports src and checks that every file of files is in its layers.
func requireWholeImport(t *testing.T, s testStore, src *Source, files map[string]string) {
	t.Helper()
	img := importOK(t, s, src, "good")
	for name, body := range files {
		found := false
		for _, l := range img.Layers {
			if b, err := os.ReadFile(filepath.Join(s.LayerDir(l), name)); err == nil {
				found = string(b) == body
			}
		}
		if !found {
			t.Errorf("%s is not whole in the imported image", name)
		}
	}
}

// TestImportKeepsTheReserve: an import stops, with a *SpaceError and nothing left
// behind, where it would leave less free space than the reserve: before it writes
// anything, part-way through a layer, or at once for a small layer that expands beyond
// the free space (a decompression bomb).
func TestImportKeepsTheReserve(t *testing.T) {
	testutil.RequireRoot(t)
	var big []entry
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		big = append(big, file("big/"+name, randomBytes(2*mb)))
	}
	bomb := layerOf(t, Gzip, file("bomb", string(make([]byte, 256*mb))))
	for _, tc := range []struct {
		name     string
		reserve  Reserve
		leave    int64 // free bytes left before the import; 0: the whole tmpfs
		layer    Layer
		says     string
		partWay  bool // some of the layer was written before it stopped
		nothingN bool // nothing of the layer was written
	}{
		{"a layer that would cross the reserve", Reserve{Bytes: 4 * mb}, 0, layerOf(t, Gzip, big...),
			"expands beyond the free space", true, false},
		{"a decompression bomb", DefaultReserve, 0, bomb, "expands beyond the free space", false, true},
		{"free space below the reserve already", Reserve{Percent: 25}, 3 * mb, layerOf(t, Gzip, file("x", "x")),
			"below the reserve", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := storeOn(t, "size=16m", tc.reserve)
			filler := ""
			if tc.leave > 0 {
				filler = testutil.FillTo(t, s.root, tc.leave)
			}
			_, err := s.Import(context.Background(), imageOf(tc.layer), "big")
			var se *SpaceError
			if !errors.As(err, &se) || errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Import = %v; want a *SpaceError saying %q before the disk is full", err, tc.says)
			}
			t.Log(err)
			if tc.partWay && se.Written == 0 || tc.nothingN && se.Written != 0 {
				t.Errorf("stopped after %d bytes written; part way: %v", se.Written, tc.partWay)
			}
			requireNothingLeft(t, s.root)
			if filler != "" {
				os.Remove(filler)
			}
			good := layerOf(t, Gzip, file("etc/hostname", "crate\n"))
			requireWholeImport(t, s, imageOf(good), map[string]string{"etc/hostname": "crate\n"})
		})
	}
}
