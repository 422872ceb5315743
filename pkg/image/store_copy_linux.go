package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CopyRootfs builds img's root filesystem in dest, an existing directory, by copying
// its layers bottom-up: the fallback for when overlayfs cannot be used. The result is
// what an overlay of the layers would show: a whiteout removes the path from dest, an
// opaque directory first empties dest's directory, directories merge, and everything
// else replaces what lower layers put there. Owners, modes, times, extended attributes,
// hardlinks (within a layer), devices, fifos and symlinks are preserved.
//
// Each layer is applied with the same extractor as an archive, so the same rules keep
// every write beneath dest: the layers come from images, and images are not trusted.
func (s *Store) CopyRootfs(ctx context.Context, img *Image, dest string) error {
	for _, diffID := range img.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := applyLayer(ctx, s.LayerDir(diffID), dest); err != nil {
			return fmt.Errorf("copy layer %s to %s: %w", diffID, dest, err)
		}
	}
	return nil
}

// applyLayer copies the layer directory layer over dest.
func applyLayer(ctx context.Context, layer, dest string) error {
	var stats Stats
	x, err := newExtractor(layer, dest, &stats)
	if err != nil {
		return err
	}
	defer x.close()
	x.layered = true
	fd, err := unix.Open(layer, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", layer, err)
	}
	w := &layerWalker{ctx: ctx, x: x, layer: layer, links: map[inode]string{}}
	if err := w.dir(fd, "."); err != nil {
		return err
	}
	return x.finishDirs()
}

// inode identifies a file, to find the other names of a hardlinked one.
type inode struct{ dev, ino uint64 }

// layerWalker turns the tree of a layer directory into the tar headers the extractor
// takes, in tar's order: a directory before what is in it.
type layerWalker struct {
	ctx   context.Context
	x     *extractor
	layer string
	links map[inode]string // the first name seen of each file with several links
}

// dir applies directory fd (named name, relative to the layer) and what is in it, then
// closes fd.
func (w *layerWalker) dir(fd int, name string) error {
	f := os.NewFile(uintptr(fd), filepath.Join(w.layer, name))
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat %s: %w", Printable(f.Name()), err)
	}
	hdr, err := w.header(name, tar.TypeDir, &st)
	if err != nil {
		return err
	}
	if err := w.x.extract(hdr, nil); err != nil {
		return err
	}
	children, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", Printable(f.Name()), err)
	}
	slices.Sort(children) // the same input, the same order of work
	if name != "." && (w.opaque(name) || slices.Contains(children, whiteoutOpaque)) {
		if err := w.clearDest(name); err != nil {
			return err
		}
	}
	// Whiteouts kept as OCI marker files (a layer on overlayfs) hide lower
	// layers only, so they go first: an entry of this layer with the same name
	// wins over them, whichever sorts first.
	for _, c := range children {
		if target, ok := strings.CutPrefix(c, whiteoutPrefix); ok && !strings.HasPrefix(c, whiteoutMeta) {
			if err := w.removeDest(path.Join(name, target)); err != nil {
				return err
			}
		}
	}
	for _, c := range children {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(c, whiteoutPrefix) {
			continue
		}
		if err := w.entry(fd, c, path.Join(name, c)); err != nil {
			return err
		}
	}
	return nil
}

// entry applies the entry base of directory parent (named name in the layer).
func (w *layerWalker) entry(parent int, base, name string) error {
	p := Printable(filepath.Join(w.layer, name)) // for messages
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("fstatat %s: %w", p, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		fd, err := openat2(parent, base, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("openat2 %s: %w", p, err)
		}
		return w.dir(fd, name)
	case unix.S_IFCHR:
		if st.Rdev == 0 {
			return w.removeDest(name)
		}
		return w.node(name, tar.TypeChar, &st)
	case unix.S_IFBLK:
		return w.node(name, tar.TypeBlock, &st)
	case unix.S_IFIFO:
		return w.node(name, tar.TypeFifo, &st)
	case unix.S_IFLNK:
		target, err := readlinkat(parent, base)
		if err != nil {
			return fmt.Errorf("readlinkat %s: %w", p, err)
		}
		hdr, err := w.header(name, tar.TypeSymlink, &st)
		if err != nil {
			return err
		}
		hdr.Linkname = target
		return w.x.extract(hdr, nil)
	case unix.S_IFREG:
		return w.file(parent, base, name, &st)
	}
	return nil // a socket: it belongs to a process, not to an image
}

func (w *layerWalker) node(name string, typ byte, st *unix.Stat_t) error {
	hdr, err := w.header(name, typ, st)
	if err != nil {
		return err
	}
	hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	return w.x.extract(hdr, nil)
}

// file copies a regular file, or links it to the copy of another name of it.
func (w *layerWalker) file(parent int, base, name string, st *unix.Stat_t) error {
	if st.Nlink > 1 {
		id := inode{uint64(st.Dev), st.Ino}
		if first, ok := w.links[id]; ok {
			return w.x.extract(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: first}, nil)
		}
		w.links[id] = name
	}
	hdr, err := w.header(name, tar.TypeReg, st)
	if err != nil {
		return err
	}
	fd, err := openat2(parent, base, unix.O_RDONLY|unix.O_NOFOLLOW)
	if err != nil {
		return fmt.Errorf("openat2 %s: %w", Printable(filepath.Join(w.layer, name)), err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(w.layer, name))
	defer f.Close()
	hdr.Size = st.Size
	return w.x.extract(hdr, f)
}

// header describes a layer entry as a tar header: what the extractor applies.
func (w *layerWalker) header(name string, typ byte, st *unix.Stat_t) (*tar.Header, error) {
	hdr := &tar.Header{
		Typeflag:   typ,
		Name:       name,
		Mode:       int64(st.Mode & 0o7777),
		Uid:        int(st.Uid),
		Gid:        int(st.Gid),
		ModTime:    time.Unix(st.Mtim.Unix()),
		AccessTime: time.Unix(st.Atim.Unix()),
	}
	xattrs, err := listXattrs(filepath.Join(w.layer, name))
	if err != nil {
		return nil, err
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattr+k] = v
	}
	return hdr, nil
}

// opaque reports whether directory name of the layer is marked opaque.
func (w *layerWalker) opaque(name string) bool {
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(w.layer, name), opaqueXattr, buf)
	return err == nil && string(buf[:n]) == "y"
}

// clearDest empties directory name of dest: an opaque directory shows nothing of the
// layers below.
func (w *layerWalker) clearDest(name string) error {
	parent, err := w.x.openDir(path.Dir(name), false)
	if err != nil {
		return w.entryErr(name, err)
	}
	defer unix.Close(parent)
	w.x.dropParent() // it may be inside what goes away
	return w.x.clearDir(parent, path.Base(name), name)
}

// removeDest applies a whiteout: name goes from dest, whole.
func (w *layerWalker) removeDest(name string) error {
	parent, err := w.x.openDir(path.Dir(name), false)
	var up *unsafePath
	if errors.As(err, &up) {
		// No such directory in dest (or not a directory there): nothing to hide.
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	w.x.dropParent()
	return w.x.removeAll(parent, path.Base(name), name)
}

func (w *layerWalker) entryErr(name string, err error) error {
	var up *unsafePath
	if errors.As(err, &up) {
		return &Error{Path: w.layer, Reason: fmt.Sprintf("entry %q: %s", name, up.reason)}
	}
	return err
}

// listXattrs reads the extended attributes of p (not following a symlink), less the
// overlayfs ones: those are the store's markings, not the image's.
//
// By path, not descriptor: symlinks and device nodes cannot be opened for it. Every
// directory on the way is a real one of the store, found by the walk with lstat.
func listXattrs(p string) (map[string]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if errors.Is(err, unix.ENOTSUP) || size == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("llistxattr %s: %w", Printable(p), err)
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, fmt.Errorf("llistxattr %s: %w", Printable(p), err)
	}
	attrs := map[string]string{}
	for _, key := range strings.Split(strings.TrimSuffix(string(buf[:size]), "\x00"), "\x00") {
		if isOverlayXattr(key) {
			continue
		}
		vsize, err := unix.Lgetxattr(p, key, nil)
		if err != nil {
			return nil, fmt.Errorf("lgetxattr %s %s: %w", Printable(key), Printable(p), err)
		}
		val := make([]byte, vsize)
		vsize, err = unix.Lgetxattr(p, key, val)
		if err != nil {
			return nil, fmt.Errorf("lgetxattr %s %s: %w", Printable(key), Printable(p), err)
		}
		attrs[key] = string(val[:vsize])
	}
	return attrs, nil
}

// readlinkat reads a symlink's target, whatever its length.
func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
