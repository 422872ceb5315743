package initproc

// Volumes (the spec's bind mounts) are made in two halves, one on each side
// of the root switch, so that no path is ever trusted where it cannot be
// resolved safely:
//
//   - openVolumes, before the switch, while init still sees the host: each
//     host path is cloned with open_tree(2) into a detached mount tree, held
//     by a file descriptor, and given its attributes (read-only, private)
//     with mount_setattr(2).
//   - attachVolumes, after the switch and after every other mount, in the
//     spec's order (a volume may sit on a tmpfs, or on another volume): the
//     container path is resolved inside the root and never out of it, the
//     directory (or file) it names is opened, and the tree is attached to
//     that open descriptor with move_mount(2).
//
// Why not mount(2) with the container path: the path belongs to the image,
// which may hold a symlink such as /data -> /etc, and mount(2) resolves the
// path again itself. Resolving inside the root first is not enough either: a
// process of another container sharing a volume can swap a directory for a
// symlink between that check and the mount (CVE-2021-30465). move_mount(2)
// to a descriptor mounts on exactly the directory that was resolved and
// opened, so the mount lands inside the root whatever the path says by then.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/initlog"
	"github.com/crate-run/crate/pkg/spec"
)

// volumes are the spec's bind mounts, opened as detached mount trees before
// the root switch and waiting to be attached after it.
type volumes struct {
	trees map[int]*os.File // by index in the spec's mounts
}

// openVolumes opens the source of every bind mount in mounts as a detached
// mount tree. It runs before the root switch: the sources are host paths.
func openVolumes(mounts []specs.Mount) (*volumes, error) {
	vs := &volumes{trees: map[int]*os.File{}}
	for i, m := range mounts {
		if !spec.IsBindMount(m) || spec.IsRootMount(m) {
			continue // the root is switchRoot's
		}
		tree, err := openTree(m)
		if err != nil {
			vs.Close()
			return nil, fmt.Errorf("volume %s:%s: %w", m.Source, m.Destination, err)
		}
		vs.trees[i] = tree
	}
	return vs, nil
}

// openTree clones m's source into a detached mount tree with m's options.
func openTree(m specs.Mount) (*os.File, error) {
	recursive, attrs, err := bindAttrs(m.Options)
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(m.Source) {
		return nil, fmt.Errorf("source %q must be an absolute host path", m.Source)
	}
	// OPEN_TREE_CLONE copies the mount instead of opening it: the copy
	// belongs to no mount namespace until it is attached. O_CLOEXEC is
	// OPEN_TREE_CLOEXEC, so the command never inherits the descriptor.
	flags := uint(unix.OPEN_TREE_CLONE | unix.O_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE // rbind: the mounts below the source too
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, m.Source, flags)
	if err != nil {
		return nil, &os.PathError{Op: "open_tree", Path: m.Source, Err: err}
	}
	tree := os.NewFile(uintptr(fd), m.Source)
	// A clone of a shared host mount joins the host mount's peer group:
	// without MS_PRIVATE, a mount made later under the volume inside the
	// container would appear on the host, and the host's inside the
	// container. Private is what Docker gives -v (rprivate). AT_RECURSIVE
	// makes "ro" read-only all the way down, submounts included.
	attr := &unix.MountAttr{Attr_set: attrs, Propagation: unix.MS_PRIVATE}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		tree.Close()
		return nil, &os.PathError{Op: "mount_setattr", Path: m.Source, Err: err}
	}
	return tree, nil
}

// bindAttrs reads a bind mount's options: whether it takes the mounts below
// the source along (rbind), and the mount_setattr(2) attributes to set.
// Options that clear a flag (rw, suid, ...) only undo an earlier option:
// they never make writable a host mount that is read-only. A file system
// option such as size= means nothing to a bind, and is an error.
func bindAttrs(options []string) (recursive bool, set uint64, err error) {
	for _, o := range options {
		switch o {
		case "bind":
			recursive = false
		case "rbind":
			recursive = true
		case "ro":
			set |= unix.MOUNT_ATTR_RDONLY
		case "rw":
			set &^= unix.MOUNT_ATTR_RDONLY
		case "nosuid":
			set |= unix.MOUNT_ATTR_NOSUID
		case "suid":
			set &^= unix.MOUNT_ATTR_NOSUID
		case "nodev":
			set |= unix.MOUNT_ATTR_NODEV
		case "dev":
			set &^= unix.MOUNT_ATTR_NODEV
		case "noexec":
			set |= unix.MOUNT_ATTR_NOEXEC
		case "exec":
			set &^= unix.MOUNT_ATTR_NOEXEC
		case "relatime":
			set = set&^unix.MOUNT_ATTR__ATIME | unix.MOUNT_ATTR_RELATIME
		case "noatime":
			set = set&^unix.MOUNT_ATTR__ATIME | unix.MOUNT_ATTR_NOATIME
		case "strictatime":
			set = set&^unix.MOUNT_ATTR__ATIME | unix.MOUNT_ATTR_STRICTATIME
		case "nodiratime":
			set |= unix.MOUNT_ATTR_NODIRATIME
		case "private", "rprivate":
			// Every volume is private: see openTree.
		default:
			return false, 0, fmt.Errorf("bind mount option %q not supported (crate knows bind, rbind, ro, rw, [no]suid, [no]dev, [no]exec, relatime, noatime, strictatime, nodiratime, rprivate)", o)
		}
	}
	return recursive, set, nil
}

// attachVolumes attaches the volumes, opened by openVolumes, in the order of
// mounts. It runs after the root switch, so "/" is the container's, and
// after every step that reads or writes through the container's own file
// systems (mountFileSystems and what follows it): a volume holds what the
// host's users or another container put there, and nothing of it may stand
// where init decides anything.
func attachVolumes(log *initlog.Logger, mounts []specs.Mount, vs *volumes) error {
	for i, m := range mounts {
		if !spec.IsBindMount(m) || spec.IsRootMount(m) {
			continue
		}
		if err := vs.attach(i, m); err != nil {
			return err
		}
		log.Trace("volume attached", "source", m.Source, "target", m.Destination)
	}
	return nil
}

// attach attaches the tree opened for mounts[i] = m at m's destination in
// the current root.
func (vs *volumes) attach(i int, m specs.Mount) error {
	tree, ok := vs.trees[i]
	if !ok {
		return fmt.Errorf("volume %s:%s: not opened before the root switch", m.Source, m.Destination)
	}
	delete(vs.trees, i)
	// Once attached, the mount lives on in the namespace; closing the
	// descriptor of a tree that was never attached unmounts it.
	defer tree.Close()
	if err := attachTree("/", tree, m.Destination); err != nil {
		return fmt.Errorf("volume %s:%s: %w", m.Source, m.Destination, err)
	}
	return nil
}

// Close closes the trees not attached (yet). They are close-on-exec anyway;
// this is for a start that fails half-way.
func (vs *volumes) Close() {
	if vs == nil {
		return
	}
	for i, tree := range vs.trees {
		tree.Close()
		delete(vs.trees, i)
	}
}

// attachTree attaches the detached mount tree at dest, a path inside the
// directory rootPath that is resolved as if rootPath were "/": no symlink
// and no ".." leads out of it. A missing destination is created: a
// directory, or an empty file when the tree's root is not a directory (a
// file, a socket, ...), as Docker does.
func attachTree(rootPath string, tree *os.File, dest string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(tree.Fd()), &st); err != nil {
		return &os.PathError{Op: "fstat", Path: tree.Name(), Err: err}
	}
	root, err := os.OpenFile(rootPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	target, inRoot, err := openMountPoint(root, dest, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return err
	}
	defer target.Close()
	return moveMount(tree, target, inRoot)
}

// openMountPoint opens (O_PATH) the directory, or with isDir false the file,
// dest names in root, as if root were "/", creating it if it is missing,
// and returns it with where it lies in the root.
func openMountPoint(root *os.File, dest string, isDir bool) (*os.File, string, error) {
	// SecureJoin says where dest lands, following the image's symlinks
	// within the root, dangling ones too (an image's /var/run -> /run with no
	// /run yet), so that what is missing is created where the symlink
	// points, inside the root. It only reads; the handle-based calls below
	// do the work and resolve the path again within the root, so a symlink
	// swapped in after the join can only lead somewhere else in the root.
	rootPath := root.Name()
	joined, err := securejoin.SecureJoin(rootPath, dest)
	if err != nil {
		return nil, "", fmt.Errorf("resolve %s in the root: %w", dest, err)
	}
	rel, err := filepath.Rel(rootPath, joined)
	if err != nil {
		return nil, "", fmt.Errorf("resolve %s in the root: %w", dest, err)
	}
	if rel == "." {
		return nil, "", fmt.Errorf("container path %s resolves to the root itself", dest)
	}
	inRoot := "/" + rel // where the mount lands, as the container sees it
	if !isDir {
		target, err := makeFileIn(root, rel)
		return target, inRoot, err
	}
	target, err := pathrs.MkdirAllHandle(root, rel, 0o755)
	if err != nil {
		return nil, "", fmt.Errorf("make directory %s: %w", inRoot, err)
	}
	return target, inRoot, nil
}

// makeFileIn opens (creating it empty if missing) the regular file rel inside
// root, to mount a file on. The returned handle is O_PATH: nothing is read.
func makeFileIn(root *os.File, rel string) (*os.File, error) {
	inRoot := "/" + rel
	parent, err := pathrs.MkdirAllHandle(root, filepath.Dir(rel), 0o755)
	if err != nil {
		return nil, fmt.Errorf("make directory %s: %w", filepath.Dir(inRoot), err)
	}
	defer parent.Close()
	name := filepath.Base(rel)
	// mknodat never follows a symlink in the last component: it fails with
	// EEXIST, and the O_NOFOLLOW open below then refuses the symlink.
	if err := unix.Mknodat(int(parent.Fd()), name, unix.S_IFREG|0o644, 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mknodat", Path: inRoot, Err: err}
	}
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "openat", Path: inRoot, Err: err}
	}
	target := os.NewFile(uintptr(fd), inRoot)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		target.Close()
		return nil, &os.PathError{Op: "fstat", Path: inRoot, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		target.Close()
		return nil, fmt.Errorf("container path %s is a directory, but the host path is not", inRoot)
	case unix.S_IFLNK:
		// Only a symlink swapped in after the join gets here.
		target.Close()
		return nil, &os.PathError{Op: "open mount point", Path: inRoot, Err: unix.ELOOP}
	}
	return target, nil
}
