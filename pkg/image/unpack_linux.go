package image

import (
	"archive/tar"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// How the safety rule is kept
//
// A tar entry is only a name, and a name can lie: "../../etc/passwd", "/etc/passwd", or
// the innocent "lib/passwd" after an earlier entry made "lib" a symlink to /etc. Cleaning
// names as strings catches the first two but not the third, and checking with lstat
// before writing leaves a window between check and use. So every directory an entry
// lives in is opened with openat2(2) relative to a descriptor of dest, with
//
//	RESOLVE_BENEATH       the kernel refuses any step that would leave dest ("..", "/")
//	RESOLVE_NO_SYMLINKS   the kernel refuses to follow any symlink on the way
//	RESOLVE_NO_MAGICLINKS and /proc-style magic links
//
// and the entry itself is made relative to that directory descriptor with a syscall that
// does not follow a symlink in the last component either (mkdirat, openat with O_EXCL and
// O_NOFOLLOW, symlinkat, linkat, mknodat). Symlinks in the archive are created as they
// are — an absolute target is normal in a root filesystem — but never followed here.

// resolveFlags is how every path inside dest is resolved; see above.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// paxXattr prefixes the PAX records that carry extended attributes (GNU tar, bsdtar and
// archive/tar all write this form).
const paxXattr = "SCHILY.xattr."

// Unpack extracts the archive at path into dest, an existing directory that should be
// empty. Nothing is ever written outside dest, whatever the archive says: an entry that
// would escape or pass through a symlink refuses the whole archive with an *Error.
//
// Owners are restored only when running as root (an unprivileged caller cannot give files
// away); modes including setuid, setgid and sticky, modification times, hardlinks,
// devices, fifos and extended attributes are restored too, file capabilities
// (security.capability) included, as docker restores them; overlayfs's own attributes
// are not (isOverlayXattr). Extended attributes that the file system of dest does not
// support are skipped, as are attributes an unprivileged caller may not set.
//
// Cancelling ctx stops the unpacking between entries and returns ctx.Err(). On any error
// dest is left half-filled: the caller removes it.
func Unpack(ctx context.Context, path, dest string) (Stats, error) {
	a, err := openArchive(path)
	if err != nil {
		return Stats{}, err
	}
	defer a.close()
	return extractArchive(ctx, a, dest, extractOptions{})
}

// extractOptions are what sets unpacking a layer for the store apart from unpacking a
// plain root filesystem.
type extractOptions struct {
	// whiteouts turns OCI whiteout entries (".wh.NAME", ".wh..wh..opq") into the
	// overlayfs form (a 0/0 character device, the trusted.overlay.opaque attribute)
	// instead of creating them as the ordinary files they are in the tar.
	whiteouts bool
	// space, if not nil, refuses an entry that would take the reserve of dest's file
	// system.
	space *spaceGuard
}

// extractArchive extracts every entry of a into dest; see Unpack.
func extractArchive(ctx context.Context, a *archive, dest string, opts extractOptions) (Stats, error) {
	start := time.Now()
	var stats Stats
	x, err := newExtractor(a.path, dest, &stats)
	if err != nil {
		return stats, err
	}
	defer x.close()
	x.whiteouts = opts.whiteouts && !onOverlayfs(x.root)
	x.space = opts.space
	content := archiveContent{a}
	for {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		hdr, err := a.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stats, err
		}
		if err := x.extract(hdr, content); err != nil {
			return stats, err
		}
	}
	if err := x.finishDirs(); err != nil {
		return stats, err
	}
	stats.Duration = time.Since(start)
	return stats, nil
}

// archiveContent reads the current entry of an archive, with its *Error labels.
type archiveContent struct{ a *archive }

func (c archiveContent) Read(p []byte) (int, error) { return c.a.read(p) }

// newExtractor opens dest for an extraction whose entries come from src (an archive
// path, or a layer directory for CopyRootfs), named in errors.
func newExtractor(src, dest string, stats *Stats) (*extractor, error) {
	// The one descriptor everything is resolved against: dest itself is trusted, what is
	// inside it is not.
	root, err := unix.Open(dest, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dest, err)
	}
	return &extractor{
		src:        src,
		dest:       dest,
		root:       root,
		parentFd:   -1,
		buf:        make([]byte, copyBufferSize),
		privileged: os.Geteuid() == 0,
		dirs:       map[string]*tar.Header{},
		stats:      stats,
	}, nil
}

// extractor holds what stays open while one archive is unpacked.
type extractor struct {
	src  string // where entries come from, for *Error
	dest string
	root int // dest, opened once

	// whiteouts and space: see extractOptions.
	whiteouts bool
	space     *spaceGuard
	// layered: entries are applied over an earlier layer (CopyRootfs), so an entry
	// replaces whatever stands at its name, a whole directory tree included, as the
	// upper layer of an overlay hides everything below it.
	layered bool

	// The directory of the last entry, kept open because consecutive entries usually
	// share it: resolving it again for each file would cost a path walk per entry.
	parentDir string
	parentFd  int

	buf        []byte
	privileged bool // running as root: owners can be restored

	// Directory metadata is applied at the end: every entry created inside a directory
	// changes its mtime, and a read-only mode would stop an unprivileged caller from
	// creating the entries that follow.
	dirs map[string]*tar.Header // by clean name; a later entry for a name replaces an earlier

	stats *Stats
}

func (x *extractor) close() {
	x.dropParent()
	unix.Close(x.root)
}

// unsafePath is an entry path the rules refuse; it becomes an *Error naming the entry.
type unsafePath struct{ reason string }

func (e *unsafePath) Error() string { return e.reason }

// extract creates one entry; content reads a regular file's bytes.
func (x *extractor) extract(hdr *tar.Header, content io.Reader) error {
	name, reason := cleanName(hdr.Name)
	if reason != "" {
		return x.entryError(hdr, reason)
	}
	if err := x.space.entry(hdr); err != nil {
		return err
	}
	var err error
	switch {
	case x.whiteouts && isWhiteout(name):
		err = x.whiteout(name)
		x.stats.Others++
	case hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeGNUSparse || hdr.Typeflag == tar.TypeCont:
		// archive/tar has already expanded sparse files and turned old-style '\x00'
		// entries into TypeReg; contiguous files are plain files to Linux.
		err = x.inParent(name, hdr, func(parent int, base, name string, hdr *tar.Header) error {
			return x.file(parent, base, name, hdr, content)
		})
		x.stats.Files++
	default:
		err = x.extractOther(name, hdr)
	}
	var up *unsafePath
	if errors.As(err, &up) {
		return x.entryError(hdr, up.reason)
	}
	return err
}

// extractOther creates an entry that has no content: a directory, a link or a node.
func (x *extractor) extractOther(name string, hdr *tar.Header) error {
	var err error
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = x.dir(name, hdr)
		x.stats.Dirs++
	case tar.TypeSymlink:
		err = x.inParent(name, hdr, x.symlink)
		x.stats.Symlinks++
	case tar.TypeLink:
		err = x.inParent(name, hdr, x.hardlink)
		x.stats.Hardlinks++
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = x.inParent(name, hdr, x.node)
		x.stats.Others++
	case tar.TypeXGlobalHeader, 'V':
		// Global PAX defaults and GNU volume labels describe the archive, not a file.
		return nil
	default:
		return &unsafePath{fmt.Sprintf("unsupported entry type %q", hdr.Typeflag)}
	}
	return err
}

func (x *extractor) entryError(hdr *tar.Header, reason string) error {
	return &Error{Path: x.src, Reason: fmt.Sprintf("entry %q: %s", hdr.Name, reason)}
}

// cleanName turns an entry name into a clean path relative to dest ("." for dest
// itself), or says why it cannot be one. This is a first, readable line of defence; the
// kernel (RESOLVE_BENEATH) is the one that cannot be talked around.
func cleanName(name string) (clean, reason string) {
	switch {
	case name == "":
		return "", "empty name"
	case strings.HasPrefix(name, "/"):
		return "", "path is absolute"
	}
	// "a/../b" is just "b": only a ".." that climbs above the root is refused.
	clean = path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", "path escapes the root"
	}
	return clean, ""
}

// inParent opens the directory that holds name (creating missing ones) and calls mk
// with its descriptor and the last path component.
func (x *extractor) inParent(name string, hdr *tar.Header, mk func(parent int, base, name string, hdr *tar.Header) error) error {
	if name == "." {
		return &unsafePath{"only a directory can stand for the root"}
	}
	dir, base := path.Split(name)
	parent, err := x.parent(path.Clean(dir))
	if err != nil {
		return err
	}
	return mk(parent, base, name, hdr)
}

// parent returns a descriptor of directory dir, creating it if missing, reusing the one
// from the previous entry when it is the same directory.
func (x *extractor) parent(dir string) (int, error) {
	if x.parentFd >= 0 && dir == x.parentDir {
		return x.parentFd, nil
	}
	x.dropParent()
	fd, err := x.openDir(dir, true)
	if err != nil {
		return -1, err
	}
	x.parentDir, x.parentFd = dir, fd
	return fd, nil
}

// dropParent closes and forgets the cached parent.
func (x *extractor) dropParent() {
	if x.parentFd >= 0 {
		unix.Close(x.parentFd)
	}
	x.parentDir, x.parentFd = "", -1
}

// openDir opens dir (clean, relative to dest) as an O_PATH descriptor: enough to be the
// dirfd of the *at calls, not enough to read or write anything by accident.
func (x *extractor) openDir(dir string, create bool) (int, error) {
	// The common case, one syscall: the whole directory already exists.
	fd, err := openat2(x.root, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil {
		return fd, nil
	}
	// Walk one component at a time, to create what is missing and to name the exact
	// component that is a symlink or not a directory.
	cur, err := openat2(x.root, ".", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, fmt.Errorf("openat2 %s: %w", x.dest, err)
	}
	prefix := ""
	for _, c := range strings.Split(dir, "/") {
		prefix = path.Join(prefix, c)
		next, err := openat2(cur, c, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) && create {
			next, err = x.mkdirParent(cur, c, prefix)
		}
		unix.Close(cur)
		switch {
		case err == nil:
			cur = next
		case errors.Is(err, unix.ELOOP):
			return -1, &unsafePath{fmt.Sprintf("passes through symlink %q", prefix)}
		case errors.Is(err, unix.ENOTDIR):
			return -1, &unsafePath{fmt.Sprintf("passes through %q, which is not a directory", prefix)}
		case errors.Is(err, unix.ENOENT):
			return -1, &unsafePath{fmt.Sprintf("%q does not exist", prefix)}
		case errors.Is(err, unix.EXDEV):
			// Cannot happen with clean names; kept so that a mistake fails closed.
			return -1, &unsafePath{"path escapes the root"}
		default:
			return -1, x.syscallError("openat2", prefix, err)
		}
	}
	return cur, nil
}

// mkdirParent creates a directory the archive did not list but an entry needs, then
// opens it.
func (x *extractor) mkdirParent(parent int, base, name string) (int, error) {
	if err := unix.Mkdirat(parent, base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, x.syscallError("mkdirat", name, err)
	}
	// mkdirat's mode is cut by the umask; set 0755 explicitly so the result does not
	// depend on who runs us. Following a symlink is impossible: we just made a directory.
	if err := unix.Fchmodat(parent, base, 0o755, 0); err != nil {
		return -1, x.syscallError("fchmodat", name, err)
	}
	return openat2(parent, base, unix.O_PATH|unix.O_DIRECTORY)
}

// openat2 opens name beneath dirfd, following no symlink at all.
func openat2(dirfd int, name string, flags uint64) (int, error) {
	how := &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolveFlags}
	for {
		fd, err := unix.Openat2(dirfd, name, how)
		// EAGAIN: a concurrent rename made the kernel unsure the walk stayed beneath
		// dirfd; it asks to try again rather than guess. EINTR: a signal.
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
}

// replace makes room for a new entry where an old one stands, because later entries win
// in tar. The old entry is removed rather than written over: opening an existing file for
// writing would change every hardlink to it, and opening an existing symlink would write
// wherever it points.
func (x *extractor) replace(parent int, base, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return x.syscallError("fstatat", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(parent, base, 0); err != nil {
			return x.syscallError("unlinkat", name, err)
		}
		return nil
	}
	err := unix.Unlinkat(parent, base, unix.AT_REMOVEDIR)
	switch {
	case (errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST)) && x.layered:
		// An upper layer's entry hides a lower layer's whole tree.
		if err := x.removeAll(parent, base, name); err != nil {
			return err
		}
	case errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST):
		return &unsafePath{"would replace a directory that is not empty"}
	case err != nil:
		return x.syscallError("unlinkat", name, err)
	}
	// The cached parent descriptor would still reach the removed directory (or one
	// below it, had it been empty), not whatever takes its name next.
	if x.parentDir == name || strings.HasPrefix(x.parentDir, name+"/") {
		x.dropParent()
	}
	return nil
}

// create runs mk, the syscall op that makes the entry, and if the name is taken removes
// the old entry and runs it once more. Errors come back labelled with op and path.
func (x *extractor) create(parent int, base, name, op string, mk func() error) error {
	err := mk()
	if errors.Is(err, unix.EEXIST) {
		if err := x.replace(parent, base, name); err != nil {
			return err
		}
		err = mk()
	}
	if err != nil {
		return x.syscallError(op, name, err)
	}
	return nil
}

// dir creates a directory entry, or keeps the directory already there: a directory
// listed twice (or after its own children) only updates its metadata.
func (x *extractor) dir(name string, hdr *tar.Header) error {
	if name != "." {
		dir, base := path.Split(name)
		parent, err := x.parent(path.Clean(dir))
		if err != nil {
			return err
		}
		// 0700 for now: the archive's mode is applied by finishDirs.
		err = unix.Mkdirat(parent, base, 0o700)
		switch {
		case errors.Is(err, unix.EEXIST):
			if err := x.keepOrReplaceDir(parent, base, name); err != nil {
				return err
			}
		case err != nil:
			return x.syscallError("mkdirat", name, err)
		}
	}
	x.dirs[name] = hdr
	return nil
}

// keepOrReplaceDir handles a directory entry whose name is taken: an existing directory
// stays, anything else is replaced.
func (x *extractor) keepOrReplaceDir(parent int, base, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return x.syscallError("fstatat", name, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return nil
	}
	if err := x.replace(parent, base, name); err != nil {
		return err
	}
	if err := unix.Mkdirat(parent, base, 0o700); err != nil {
		return x.syscallError("mkdirat", name, err)
	}
	return nil
}

// file creates a regular file and copies its content.
func (x *extractor) file(parent int, base, name string, hdr *tar.Header, content io.Reader) error {
	var fd int
	err := x.create(parent, base, name, "openat", func() error {
		var err error
		// O_EXCL|O_NOFOLLOW: never open something that is already there, least of all
		// through a symlink. Mode 0600 until the owner is set: nobody else can read
		// half-written content, and no setuid bit exists before the file is complete.
		fd, err = unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), filepath.Join(x.dest, name))
	n, err := x.copy(f, name, content)
	x.stats.Bytes += n
	if err == nil {
		err = x.setOwnerModeXattrs(fd, name, hdr)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", x.path(name), cerr)
	}
	if err != nil {
		return err
	}
	return x.setTimes(parent, base, name, hdr)
}

// copy writes content to f: an archive's entry through the shared buffer, a file of a
// layer directory with copy_file_range (os.File.ReadFrom), which shares extents on file
// systems that can and never passes the bytes through user space.
func (x *extractor) copy(f *os.File, name string, content io.Reader) (int64, error) {
	if src, ok := content.(*os.File); ok {
		n, err := f.ReadFrom(src)
		if err != nil {
			return n, fmt.Errorf("copy %s to %s: %w", Printable(src.Name()), x.path(name), err)
		}
		return n, nil
	}
	var total int64
	for {
		n, rerr := content.Read(x.buf)
		if n > 0 {
			if _, err := f.Write(x.buf[:n]); err != nil {
				// Named once, as x.path quotes it: the *PathError repeats the raw name.
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				return total, fmt.Errorf("write %s: %w", x.path(name), err)
			}
			total += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// symlink creates a symlink as it is in the archive. Its target is not checked: it is
// only text until something follows it, and nothing here ever does.
func (x *extractor) symlink(parent int, base, name string, hdr *tar.Header) error {
	err := x.create(parent, base, name, "symlinkat", func() error { return unix.Symlinkat(hdr.Linkname, parent, base) })
	if err != nil {
		return err
	}
	if x.privileged {
		if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return x.syscallError("fchownat", name, err)
		}
	}
	return x.setTimes(parent, base, name, hdr)
}

// hardlink links name to an entry extracted earlier. The target gets the same checks as
// an entry name: a hardlink to /etc/shadow placed in the root filesystem would let the
// container rewrite the host's file.
func (x *extractor) hardlink(parent int, base, name string, hdr *tar.Header) error {
	target, reason := cleanName(hdr.Linkname)
	if reason != "" {
		if reason != "empty name" {
			reason = "is outside the root"
		}
		return &unsafePath{fmt.Sprintf("hardlink target %q %s", hdr.Linkname, reason)}
	}
	tdir, tbase := path.Split(target)
	tparent, err := x.openDir(path.Clean(tdir), false)
	if err != nil {
		var up *unsafePath
		if errors.As(err, &up) {
			return &unsafePath{fmt.Sprintf("hardlink target %q %s", hdr.Linkname, up.reason)}
		}
		return err
	}
	defer unix.Close(tparent)
	// Flags 0: if the target is itself a symlink, link the symlink, do not follow it.
	err = x.create(parent, base, name, "linkat", func() error { return unix.Linkat(tparent, tbase, parent, base, 0) })
	if errors.Is(err, unix.ENOENT) {
		return &unsafePath{fmt.Sprintf("hardlink target %q does not exist", hdr.Linkname)}
	}
	return err
}

// node creates a character or block device or a fifo.
func (x *extractor) node(parent int, base, name string, hdr *tar.Header) error {
	mode := uint32(hdr.Mode) & 0o7777
	var dev uint64
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
		dev = unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
		dev = unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	default:
		mode |= unix.S_IFIFO
	}
	err := x.create(parent, base, name, "mknodat", func() error { return unix.Mknodat(parent, base, mode, int(dev)) })
	if err != nil {
		return err
	}
	if x.privileged {
		if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return x.syscallError("fchownat", name, err)
		}
	}
	// A node cannot be opened to chmod it through a descriptor (opening a fifo blocks,
	// opening a device talks to the driver), so chmod by name. fchmodat would follow a
	// symlink, but base is the node mknodat just made and nothing else writes in dest.
	// Chmod after chown, which clears setuid/setgid; and explicitly, since mknodat's
	// mode was cut by the umask.
	if err := unix.Fchmodat(parent, base, mode&0o7777, 0); err != nil {
		return x.syscallError("fchmodat", name, err)
	}
	return x.setTimes(parent, base, name, hdr)
}

// setOwnerModeXattrs applies owner, extended attributes and mode to an open file or
// directory, in the order the kernel needs: chown clears setuid/setgid and the
// security.capability attribute, so both come after it.
func (x *extractor) setOwnerModeXattrs(fd int, name string, hdr *tar.Header) error {
	if x.privileged {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return x.syscallError("fchown", name, err)
		}
	}
	if err := x.setXattrs(fd, name, hdr); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return x.syscallError("fchmod", name, err)
	}
	return nil
}

// setXattrs sets the extended attributes hdr carries, but overlayfs's own (see
// isOverlayXattr): those are the store's to set, for whiteouts, never the archive's.
func (x *extractor) setXattrs(fd int, name string, hdr *tar.Header) error {
	for key, value := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(key, paxXattr)
		if !ok || isOverlayXattr(attr) {
			continue
		}
		err := unix.Fsetxattr(fd, attr, []byte(value), 0)
		switch {
		case err == nil:
		case errors.Is(err, unix.ENOTSUP):
			// The file system of dest has no extended attributes (or not this
			// namespace): the files are still right, only poorer.
		case errors.Is(err, unix.EPERM) && !x.privileged:
			// trusted.* and security.* need privileges an unprivileged unpack lacks.
		default:
			return fmt.Errorf("fsetxattr %s on %s: %w", Printable(attr), x.path(name), err)
		}
	}
	return nil
}

// setTimes sets access and modification times of base in parent, without following a
// symlink (a symlink entry gets its own times, not its target's).
func (x *extractor) setTimes(parent int, base, name string, hdr *tar.Header) error {
	if err := unix.UtimesNanoAt(parent, base, timespecs(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return x.syscallError("utimensat", name, err)
	}
	return nil
}

func timespecs(hdr *tar.Header) []unix.Timespec {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := func(t time.Time) unix.Timespec {
		return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
	}
	return []unix.Timespec{ts(atime), ts(hdr.ModTime)}
}

// finishDirs applies the directory metadata held back during extraction, deepest
// directories first: a parent made read-only (or unsearchable) before its children are
// done would lock an unprivileged caller out of them.
func (x *extractor) finishDirs() error {
	names := slices.Collect(maps.Keys(x.dirs))
	depth := func(name string) int {
		if name == "." {
			return -1
		}
		return strings.Count(name, "/")
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(depth(b), depth(a)), strings.Compare(a, b))
	})
	for _, name := range names {
		// Open it again by name, with the same rules: a later entry may have replaced
		// the directory with a symlink, and its metadata must not land on the target.
		fd, err := openat2(x.root, name, unix.O_RDONLY|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			continue // replaced by a later non-directory entry
		}
		if err != nil {
			return x.syscallError("openat2", name, err)
		}
		err = x.finishDir(fd, name, x.dirs[name])
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) finishDir(fd int, name string, hdr *tar.Header) error {
	if x.privileged {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return x.syscallError("fchown", name, err)
		}
	}
	if err := x.setXattrs(fd, name, hdr); err != nil {
		return err
	}
	// Times before mode: resolving "." needs search permission on the directory, which
	// a mode like 0600 would take away from an unprivileged caller.
	if err := unix.UtimesNanoAt(fd, ".", timespecs(hdr), 0); err != nil {
		return x.syscallError("utimensat", name, err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return x.syscallError("fchmod", name, err)
	}
	return nil
}

// syscallError reads as "mknodat /var/lib/crate/x/dev/null: operation not permitted".
func (x *extractor) syscallError(op, name string, err error) error {
	return fmt.Errorf("%s %s: %w", op, x.path(name), err)
}

// path is where entry name goes, for messages: the archive chose the name.
func (x *extractor) path(name string) string {
	return Printable(filepath.Join(x.dest, name))
}
