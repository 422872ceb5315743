package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/testutil"
	"golang.org/x/sys/unix"
)

// copiedRootfs imports the two-layer test image and copies its root filesystem.
func copiedRootfs(t *testing.T) (testStore, *Image, string) {
	t.Helper()
	s := newTestStore(t, "")
	lower, upper := twoLayers(t)
	img := importOK(t, s, imageOf(lower, upper), "app")
	dest := t.TempDir()
	if err := s.CopyRootfs(context.Background(), img, dest); err != nil {
		t.Fatalf("CopyRootfs: %v", err)
	}
	return s, img, dest
}

func TestCopyRootfsAppliesLayers(t *testing.T) {
	testutil.RequireRoot(t)
	_, _, dest := copiedRootfs(t)
	for _, tc := range []struct {
		path string
		want string // file content, "<dir: a b>" for a directory's entries, "" if absent
	}{
		{"etc/old", ""}, // whited out
		{"etc/keep", "kept\n"},
		{"opt", "<dir: c>"}, // opaque: nothing of the lower opt
		{"swap", "now a file\n"},
		{"f2d", "<dir: x>"},
		{"bin/tool", "#!/bin/sh\necho tool\n"},
		{longName, "long\n"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if got := describe(filepath.Join(dest, tc.path)); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
	tool, link := lstat(t, filepath.Join(dest, "bin/tool")), lstat(t, filepath.Join(dest, "bin/tool-link"))
	if tool.Ino != link.Ino || tool.Mode&0o7777 != 0o4755 {
		t.Errorf("bin/tool: ino %d mode %o, tool-link ino %d: want one setuid file", tool.Ino, tool.Mode&0o7777, link.Ino)
	}
	if target, err := os.Readlink(filepath.Join(dest, "etc/link")); err != nil || target != "/etc/keep" {
		t.Errorf("etc/link -> %q, %v", target, err)
	}
	if v := getxattr(t, filepath.Join(dest, "opt"), opaqueXattr); v != "" {
		t.Errorf("the store's opaque marking leaked into the copy")
	}
}

// describe is a file's content, a directory's entry names, or "" if absent.
func describe(p string) string {
	if ents, err := os.ReadDir(p); err == nil {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return "<dir: " + strings.Join(names, " ") + ">"
	}
	b, _ := os.ReadFile(p)
	return string(b)
}

// TestCopyRootfsMatchesOverlay mounts the layers as overlayfs would be mounted for a
// container and compares the two trees entry by entry.
func TestCopyRootfsMatchesOverlay(t *testing.T) {
	testutil.RequireRoot(t)
	s, img, dest := copiedRootfs(t)
	mnt := t.TempDir()
	var lowers []string
	for _, l := range slices.Backward(img.Layers) { // overlay lists the top layer first
		lowers = append(lowers, s.LayerDir(l))
	}
	err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lowers, ":"))
	if errors.Is(err, unix.ENODEV) {
		t.Skip("this kernel has no overlayfs")
	}
	if err != nil {
		t.Fatalf("mount overlay on %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	want, got := snapshot(t, mnt), snapshot(t, dest)
	for p, w := range want {
		if g := got[p]; g != w {
			t.Errorf("%s:\n overlay: %s\n copy:    %s", p, w, g)
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s is in the copy, not in the overlay: %s", p, g)
		}
	}
}

// snapshot describes every entry of a tree: type, mode, owner, size, mtime, link
// target or content, extended attributes, and which earlier entry it is a hardlink of.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	entries := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		// A merged directory shows the upper layer's owner, mode and times, in both.
		desc := fmt.Sprintf("mode %o owner %d:%d size %d mtime %d", st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Sec)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			desc += fmt.Sprintf(" %q", b)
			if first, ok := inodes[st.Ino]; ok {
				desc += " link of " + first
			} else {
				inodes[st.Ino] = rel
			}
		}
		if attrs, err := listXattrs(p); err == nil && len(attrs) > 0 {
			desc += fmt.Sprintf(" xattrs %v", attrs)
		}
		entries[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}
