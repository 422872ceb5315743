package initproc

// The container's file system is hostile, always: its image, its volumes
// (which the host's users or another container may change at any moment),
// and, for crate exec, its PID 1, which may have swapped any file for a
// symlink, a FIFO or a device. What init opens there goes through these
// helpers, so that a path can neither lead somewhere init did not mean nor
// make it wait for ever:
//
//   - strictly, for what crate itself owns (/proc, /dev, /sys and what lies
//     under them): resolved beneath a descriptor init holds, following no
//     symlink at all, and created where missing;
//   - as a regular file, for what init reads of the image (/etc/passwd,
//     /etc/group, a command that would not start): symlinks within the root
//     are followed, as the image means them, but no magic link of /proc
//     (/proc/self/fd/N would be one of init's own descriptors), nothing that
//     is not a regular file (a FIFO would block the open or the read for
//     ever, /dev/urandom would never end), nothing larger than a bound.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// strictResolve resolves a path beneath the directory it starts from,
// following no symlink and no magic link.
const strictResolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// ImagePathError is a path where crate makes a file system of its own
// (/proc, /dev, /sys, and what it mounts or creates under them) that the
// image has made something other than a directory: a symlink, which could
// lead the mount into a volume, a file, a FIFO.
type ImagePathError struct {
	Path string // in the container
	What string // what it is instead: "a symlink to \"/data/proc\""
}

func (e *ImagePathError) Error() string {
	return fmt.Sprintf("the image's %s is %s: crate mounts the container's own file system there and follows no link to it; fix the image", e.Path, e.What)
}

// openStrict opens rel beneath dir, following no symlink, with flags (and
// O_CLOEXEC). With sameMount, it does not cross into another mount either.
func openStrict(dir *os.File, rel string, flags uint64, sameMount bool) (*os.File, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: strictResolve}
	if sameMount {
		how.Resolve |= unix.RESOLVE_NO_XDEV
	}
	fd, err := unix.Openat2(int(dir.Fd()), rel, &how)
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: rel, Err: err}
	}
	return os.NewFile(uintptr(fd), rel), nil
}

// mkdirAllStrict opens the directory rel beneath dir (O_PATH), creating with
// mode 0755 each component that is missing, and following no symlink. inRoot
// is where dir is in the container, for errors. The caller closes the result.
func mkdirAllStrict(dir *os.File, inRoot, rel string) (*os.File, error) {
	cur, err := openStrict(dir, ".", unix.O_PATH|unix.O_DIRECTORY, false)
	if err != nil {
		return nil, err
	}
	for _, name := range strings.Split(rel, "/") {
		if name == "" || name == "." {
			continue
		}
		p := path.Join(inRoot, name)
		if name == ".." {
			cur.Close()
			return nil, fmt.Errorf("%s: \"..\" is not allowed here", p)
		}
		next, err := openStrict(cur, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW, false)
		if errors.Is(err, unix.ENOENT) {
			// EEXIST: made meanwhile; the open below decides what it is.
			if err := unix.Mkdirat(int(cur.Fd()), name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				cur.Close()
				return nil, &os.PathError{Op: "mkdirat", Path: p, Err: err}
			}
			next, err = openStrict(cur, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW, false)
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			err = &ImagePathError{Path: p, What: describe(cur, name)}
		}
		cur.Close()
		if err != nil {
			return nil, err
		}
		cur, inRoot = next, p
	}
	return cur, nil
}

// describe says what name, in dir, is when it should have been a directory.
func describe(dir *os.File, name string) string {
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Sprintf("not a directory (%v)", err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		buf := make([]byte, 256)
		n, err := unix.Readlinkat(int(dir.Fd()), name, buf)
		if err != nil {
			return "a symlink"
		}
		// %q: the target is the image's, and must not reach a terminal raw.
		return fmt.Sprintf("a symlink to %q", buf[:n])
	case unix.S_IFREG:
		return "a regular file"
	}
	return "a " + fileType(st.Mode)
}

// fileType names a file type for a message.
func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "file of an unknown type"
}

// openRegular opens the regular file at p in the container (the process's
// root), for reading, and returns it with its size. See the top of this file.
func openRegular(p string) (*os.File, int64, error) {
	how := unix.OpenHow{
		// O_NONBLOCK: opening a FIFO for reading would wait for a writer.
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, p, &how)
	if err != nil {
		return nil, 0, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, 0, &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, 0, fmt.Errorf("%s is a %s, not a regular file", p, fileType(st.Mode))
	}
	return f, st.Size, nil
}

// readRegular reads the regular file at p in the container, refusing one of
// more than limit bytes (or one that grows past it while it is read).
func readRegular(p string, limit int64) ([]byte, error) {
	f, size, err := openRegular(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooLarge := fmt.Errorf("%s is larger than %d MiB", p, limit>>20)
	if size > limit {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge
	}
	return data, nil
}
