package container

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveContainerDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c1")
	for _, d := range []string{"rootfs", "upper/etc", "work/work/incompat/volatile"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"layers", "upper/etc/hostname", "work/work/incompat/volatile/dirty"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeContainerDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after removal: %v", dir, err)
	}
	if err := removeContainerDir(dir); err != nil {
		t.Errorf("removing it again: %v, want nothing to do", err)
	}
}
