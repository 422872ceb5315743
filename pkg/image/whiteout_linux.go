package image

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Whiteouts: how a layer deletes what a lower layer has
//
// In an OCI layer tar a deletion is an empty file with a marker name:
//
//	.wh.NAME       NAME of a lower layer is gone
//	.wh..wh..opq   this directory hides everything lower layers have in it ("opaque")
//
// overlayfs, which stacks the unpacked layer directories into a root filesystem, says
// the same things in its own terms: a whiteout is a character device 0/0 named NAME, an
// opaque directory carries the extended attribute trusted.overlay.opaque="y". The store
// unpacks layers in overlayfs's terms, so a layer directory can be an overlay lowerdir
// as it is; CopyRootfs reads the same terms when no overlay can be mounted.
//
// overlayfs will not hold its own whiteouts: on a state root that is itself on overlayfs
// (crate inside a container) neither the 0/0 device nor the opaque attribute can be made.
// Layers there keep the OCI markers as the empty files they are in the tar; overlayfs
// cannot be used for containers there anyway, and CopyRootfs reads both forms.
//
// A whiteout only hides lower layers (OCI image spec, "Whiteouts"): an entry of the same
// layer with the same name wins over it, whichever comes first in the tar.

const (
	whiteoutPrefix = ".wh."
	// whiteoutMeta prefixes names that aufs kept for itself (.wh..wh.plnk, .wh..wh.aufs);
	// the only one with a meaning for us is the opaque marker.
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"

	// opaqueXattr marks an opaque directory for overlayfs. trusted.* can be set only
	// with CAP_SYS_ADMIN, which is why unpacking such a layer needs root.
	opaqueXattr = "trusted.overlay.opaque"
)

// isOverlayXattr reports whether attr is one overlayfs reads from the directories it
// stacks: trusted.overlay.* (opaque, redirect, metacopy, origin, ...), or user.overlay.*
// on a mount with the userxattr option. The store sets them for whiteouts; taken from
// an image, they would let a layer hide, redirect or borrow what the layers below it
// hold (and what else lies on their file system) beyond what OCI whiteouts can say.
func isOverlayXattr(attr string) bool {
	return strings.HasPrefix(attr, "trusted.overlay.") || strings.HasPrefix(attr, "user.overlay.")
}

// onOverlayfs reports whether the directory fd is on overlayfs.
func onOverlayfs(fd int) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(fd, &st) == nil && st.Type == unix.OVERLAYFS_SUPER_MAGIC
}

// isWhiteout says whether an entry name (clean, relative) is a whiteout marker.
func isWhiteout(name string) bool {
	return strings.HasPrefix(path.Base(name), whiteoutPrefix)
}

// whiteout turns the marker entry name into its overlayfs form.
func (x *extractor) whiteout(name string) error {
	dir, base := path.Split(name)
	dir = path.Clean(dir)
	switch {
	case base == whiteoutOpaque:
		return x.markOpaque(dir)
	case strings.HasPrefix(base, whiteoutMeta):
		return nil // aufs bookkeeping, meaningless outside aufs
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if target == "" || target == "." || target == ".." {
		return &unsafePath{"whiteout names no file"}
	}
	parent, err := x.parent(dir)
	if err != nil {
		return err
	}
	// Mode 0 and device 0/0 is what overlayfs recognises; mknod of exactly this device
	// needs no CAP_MKNOD since Linux 5.8.
	err = unix.Mknodat(parent, target, unix.S_IFCHR, 0)
	if errors.Is(err, unix.EEXIST) {
		return nil // the same layer has NAME: the entry wins over the whiteout
	}
	if err != nil {
		return x.syscallError("mknodat", path.Join(dir, target), err)
	}
	return nil
}

// markOpaque sets the opaque attribute on directory dir, creating it if the layer has
// not listed it yet.
func (x *extractor) markOpaque(dir string) error {
	pfd, err := x.openDir(dir, true)
	if err != nil {
		return err
	}
	unix.Close(pfd)
	// fsetxattr needs a real descriptor, not the O_PATH one openDir returns.
	fd, err := openat2(x.root, dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return x.syscallError("openat2", dir, err)
	}
	defer unix.Close(fd)
	err = unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0)
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("opaque directory %s: setting %s needs root: %w", x.path(dir), opaqueXattr, err)
	}
	if err != nil {
		return fmt.Errorf("fsetxattr %s on %s: %w", opaqueXattr, x.path(dir), err)
	}
	return nil
}

// removeAll removes base in parent and, if it is a directory, everything below it,
// without following any symlink.
func (x *extractor) removeAll(parent int, base, name string) error {
	err := unix.Unlinkat(parent, base, 0)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case !errors.Is(err, unix.EISDIR):
		return x.syscallError("unlinkat", name, err)
	}
	if err := x.clearDir(parent, base, name); err != nil {
		return err
	}
	if err := unix.Unlinkat(parent, base, unix.AT_REMOVEDIR); err != nil {
		return x.syscallError("unlinkat", name, err)
	}
	return nil
}

// clearDir removes everything inside directory base of parent, keeping the directory.
func (x *extractor) clearDir(parent int, base, name string) error {
	fd, err := openat2(parent, base, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return x.syscallError("openat2", name, err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(x.dest, name))
	defer f.Close()
	children, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", x.path(name), err)
	}
	for _, c := range children {
		if err := x.removeAll(fd, c, path.Join(name, c)); err != nil {
			return err
		}
	}
	return nil
}
