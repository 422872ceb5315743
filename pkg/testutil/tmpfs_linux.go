package testutil

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a tmpfs of the test's own, with mount options opts
// ("size=16m,nr_inodes=200"), on a new temporary directory, and unmounts it
// when the test ends: a small file system a test may fill up without
// touching the host's.
func Tmpfs(t testing.TB, opts string) string {
	t.Helper()
	RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		t.Fatalf("mount a tmpfs (%s) on %s: %v", opts, dir, err)
	}
	// Detached: a container the test ran may still be leaving it.
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// FillTo takes the space of dir's file system, with a file in dir, until
// only free bytes are left (to a block), and returns the file.
func FillTo(t testing.TB, dir string, free int64) string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	take := int64(st.Bavail)*st.Bsize - free
	if take < 0 {
		t.Fatalf("%s has %d bytes free, fewer than the %d to leave", dir, int64(st.Bavail)*st.Bsize, free)
	}
	f, err := os.CreateTemp(dir, "filler-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if take > 0 {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, take); err != nil {
			t.Fatalf("fallocate %d bytes in %s: %v", take, dir, err)
		}
	}
	return f.Name()
}

// FillInodesTo takes the inodes of dir's file system, with empty files in a
// new directory under dir, until only free are left, and returns the
// directory.
func FillInodesTo(t testing.TB, dir string, free uint64) string {
	t.Helper()
	fill, err := os.MkdirTemp(dir, "inodes-")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		if st.Ffree < free {
			t.Fatalf("%s has %d inodes free, fewer than the %d to leave", dir, st.Ffree, free)
		}
		if st.Ffree == free {
			return fill
		}
		if err := os.WriteFile(filepath.Join(fill, strconv.Itoa(i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
