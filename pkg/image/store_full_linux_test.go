package image

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/testutil"
)

// TestImportSurvivesAFullDisk fills the store's file system, with no reserve, so that
// the kernel's ENOSPC stops an import at each point in turn (a file's content, a
// directory, a symlink, the lock, the layer's description, the blob index, the image
// records), one block or one inode more each time, until the import fits. After each:
// nothing under layers/tmp, no temporary file, only whole layers and images, the image
// name on exactly one image; and once space is freed the same import works.
func TestImportSurvivesAFullDisk(t *testing.T) {
	testutil.RequireRoot(t)
	entries := []entry{dir("etc/"), file("etc/hostname", "crate\n"), symlink("etc/link", "hostname"),
		dir("usr/"), dir("usr/lib/"), file("usr/lib/one", "1"), file("usr/lib/two", strings.Repeat("2", 9000)),
		file("three", "3")}
	files := map[string]string{}
	for _, e := range entries {
		if e.Typeflag == '0' {
			files[e.Name] = e.body
		}
	}
	layer := layerOf(t, Gzip, entries...)
	// A config of two blocks, so that the new record needs more space than taking the
	// name away from the old one frees.
	src := func() *Source {
		src := imageOf(layer)
		src.Config.Config.Env = []string{"BIG=" + strings.Repeat("x", 6000)}
		return src
	}
	for _, limit := range []string{"blocks", "inodes"} {
		t.Run(limit, func(t *testing.T) {
			points := map[string]bool{}
			for left := 0; ; left++ {
				if left > 64 {
					t.Fatalf("the import never fit")
				}
				s := storeOn(t, "size=4m,nr_inodes=256", Reserve{})
				// An image already named app: the import takes the name.
				old := importOK(t, s, imageOf(layerOf(t, Gzip, file("old", "old"))), "app")
				var fill string
				if limit == "blocks" {
					fill = testutil.FillTo(t, s.root, int64(left)*4096)
				} else {
					fill = testutil.FillInodesTo(t, s.root, uint64(left))
				}
				img, err := s.Import(context.Background(), src(), "app")
				if err != nil && !errors.Is(err, unix.ENOSPC) {
					t.Fatalf("%d %s left: Import = %v, want ENOSPC or success", left, limit, err)
				}
				if err != nil {
					points[fullAt(s.root, err)] = true
				}
				requireConsistent(t, s, layer.DiffID, files)
				if app, err := s.Get("app"); err != nil || (app.ID != old.ID && (img == nil || app.ID != img.ID)) {
					t.Errorf("%d %s left: app names %v, %v", left, limit, app, err)
				}
				if err == nil {
					t.Logf("the import fits with %d %s left; it stopped at: %v", left, limit, keys(points))
					return
				}
				os.RemoveAll(fill)
				requireWholeImport(t, s, src(), files)
			}
		})
	}
}

// fullAt says where in root an ENOSPC err struck, for the test's log: the system
// call and the kind of file ("write record").
func fullAt(root string, err error) string {
	m := regexp.MustCompile(`(\w+) ` + regexp.QuoteMeta(root) + `/([^:]*): no space left on device`).FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	kind := "layer content"
	for prefix, k := range map[string]string{"images/": "record", "blobs/": "blob index", "layers/.locks/": "lock",
		"layers/sha256/": "layer description", "layers/tmp/": "layer content"} {
		if strings.HasPrefix(m[2], prefix) {
			kind = k
		}
	}
	if strings.HasPrefix(m[2], "layers/tmp/") && strings.Count(m[2], "/") == 2 {
		kind = "layer directory"
	}
	return m[1] + " " + kind
}

func keys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}

// requireConsistent checks the store after a failed import: nothing under layers/tmp,
// no temporary file anywhere, every image's layers in place, and the layer diffID, if
// it is in place, whole.
func requireConsistent(t *testing.T, s testStore, diffID digest.Digest, files map[string]string) {
	t.Helper()
	if ents, _ := os.ReadDir(filepath.Join(s.root, "layers", "tmp")); len(ents) != 0 {
		t.Errorf("layers/tmp holds %v", ents)
	}
	filepath.WalkDir(s.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return err
	})
	images, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, img := range images {
		for _, l := range img.Layers {
			if !s.hasLayer(l) {
				t.Errorf("image %s lists layer %s, which the store lacks", img.ID, l)
			}
		}
	}
	if !s.hasLayer(diffID) {
		return
	}
	for name, body := range files {
		if b, err := os.ReadFile(filepath.Join(s.LayerDir(diffID), name)); err != nil || string(b) != body {
			t.Errorf("layer %s is in place, but not whole: %s: %v", diffID, name, err)
		}
	}
}
