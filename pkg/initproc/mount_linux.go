package initproc

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/crate-run/crate/pkg/initlog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/spec"
)

// MountError is a failed mount(2) or umount(2), with everything needed to
// reproduce it by hand.
type MountError struct {
	Op     string
	Source string
	Target string
	Type   string
	Flags  uintptr
	Data   string
	Err    error
}

func (e *MountError) Error() string {
	return fmt.Sprintf("%s %q on %q (type %q, flags %#x, data %q): %v", e.Op, e.Source, e.Target, e.Type, e.Flags, e.Data, e.Err)
}

func (e *MountError) Unwrap() error { return e.Err }

func mount(source, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return &MountError{Op: "mount", Source: source, Target: target, Type: fstype, Flags: flags, Data: data, Err: err}
	}
	return nil
}

// switchRoot makes rootfs the container's "/". Every mount here happens in
// init's own mount namespace, so they all vanish with it and none can leak to
// the host.
func switchRoot(log *initlog.Logger, rootfs string, rootMount *specs.Mount, propagation uintptr, noPivot bool) error {
	// Mounts are shared with the host by default on systemd machines: make
	// them private first (or, as an OCI bundle may ask, slaves that receive
	// the host's mounts), or the mounts below would propagate back out.
	if err := mount("", "/", "", unix.MS_REC|propagation, ""); err != nil {
		return err
	}
	// pivot_root needs the new root to be a mount point: the overlay of the
	// image's layers is one; a plain directory is bind-mounted onto itself.
	if rootMount != nil {
		flags, data := mountFlags(rootMount.Options)
		if err := mount(rootMount.Source, rootfs, rootMount.Type, flags, data); err != nil {
			return err
		}
		log.Debug("root mounted", "type", rootMount.Type, "rootfs", rootfs)
	} else if err := mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Chdir(rootfs); err != nil {
		return &os.PathError{Op: "chdir", Path: rootfs, Err: err}
	}
	if noPivot {
		log.Debug("switching root with chroot", "rootfs", rootfs)
		return chrootHere(rootfs)
	}
	log.Debug("switching root with pivot_root", "rootfs", rootfs)
	return pivotHere()
}

// pivotHere swaps the root for the current directory and detaches the old
// root, so nothing of the host's file system stays reachable, not even by a
// process that escapes a chroot.
func pivotHere() error {
	// pivot_root(".", ".") stacks the old root on top of the new one, which
	// saves making and removing a directory for it inside the image.
	if err := unix.PivotRoot(".", "."); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("pivot_root: %w (the host's root may be an initramfs, where only --no-pivot works)", err)
		}
		return os.NewSyscallError("pivot_root", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &MountError{Op: "umount", Target: "old root", Flags: unix.MNT_DETACH, Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}

// chrootHere is --no-pivot: move the new root over "/" and chroot into it.
// It works where pivot_root cannot (an initramfs root) but is weaker: the old
// root is only covered, not detached.
func chrootHere(rootfs string) error {
	if err := mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return err
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: rootfs, Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}

// The container's own file systems (/proc, the minimal /dev and what is
// mounted in it, /sys, the cgroup mounts, --tmpfs) are made after the root
// switch and before any volume is attached, each with the new mount API:
// fsopen and fsconfig make the file system, fsmount a detached mount of it,
// and move_mount attaches that mount to a directory init has opened and
// checked beneath the new root. No container path ever reaches mount(2),
// which would resolve it again, and nothing a volume holds can stand where
// procfs, /dev or sysfs go: the image's /proc, /dev and /sys must be plain
// directories (files.go's mkdirAllStrict), and every later step that reads
// or writes through them (device nodes, sysctls, masks, the capability
// bounding set) starts from the descriptors kept here, not from a path.

// fileSystems are the mounts init made that later steps work through.
type fileSystems struct {
	root           *os.File // the container's "/" (O_PATH)
	proc, dev, sys *os.File // the roots of those mounts; nil if the spec has none
}

// Close closes the descriptors; the mounts stay.
func (fs *fileSystems) Close() {
	if fs == nil {
		return
	}
	for _, f := range []*os.File{fs.root, fs.proc, fs.dev, fs.sys} {
		if f != nil {
			f.Close()
		}
	}
}

// systemDirs are the directories, and all below them, that belong to crate
// rather than to the image: resolved strictly (see mkdirAllStrict).
var systemDirs = []string{"/proc", "/dev", "/sys"}

// underSystemDir reports whether dest is one of systemDirs or lies below one.
func underSystemDir(dest string) bool {
	dest = path.Clean(dest)
	return slices.ContainsFunc(systemDirs, func(d string) bool { return dest == d || strings.HasPrefix(dest, d+"/") })
}

// mountFileSystems mounts every file system of mounts, in their order, but
// the root (switchRoot's) and the bind mounts (volumes, attached last by
// attachVolumes). It runs after the root switch.
func mountFileSystems(log *initlog.Logger, mounts []specs.Mount) (_ *fileSystems, err error) {
	root, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fs := &fileSystems{root: root}
	defer func() {
		if err != nil {
			fs.Close()
		}
	}()
	for _, m := range mounts {
		if spec.IsRootMount(m) || spec.IsBindMount(m) {
			continue
		}
		mnt, err := newMount(m)
		if err != nil {
			return nil, err
		}
		err = attachAt(root, mnt, m.Destination)
		switch {
		case err != nil:
			mnt.Close()
			return nil, err
		case m.Destination == "/proc":
			fs.proc = mnt
		case m.Destination == "/dev":
			fs.dev = mnt
		case m.Destination == "/sys":
			fs.sys = mnt
		default:
			mnt.Close()
		}
		log.Trace("mounted", "type", m.Type, "target", m.Destination)
	}
	return fs, nil
}

// attachAt attaches the detached mount mnt at dest in the root: a
// directory crate owns (systemDirs) resolved strictly, any other resolved as
// a volume's destination is, following the image's symlinks inside the root.
func attachAt(root, mnt *os.File, dest string) error {
	var target *os.File
	var err error
	if underSystemDir(dest) {
		target, err = mkdirAllStrict(root, "/", dest)
	} else {
		target, _, err = openMountPoint(root, dest, true)
	}
	if err != nil {
		return err
	}
	defer target.Close()
	return moveMount(mnt, target, dest)
}

// moveMount attaches the detached mount (or mount tree) mnt on the
// directory or file target, dest in the container.
func moveMount(mnt, target *os.File, dest string) error {
	flags := unix.MOVE_MOUNT_F_EMPTY_PATH | unix.MOVE_MOUNT_T_EMPTY_PATH
	if err := unix.MoveMount(int(mnt.Fd()), "", int(target.Fd()), "", flags); err != nil {
		return &MountError{Op: "move_mount", Source: mnt.Name(), Target: dest, Flags: uintptr(flags), Err: err}
	}
	return nil
}

// newMount makes the file system m describes as a detached mount, and
// returns a descriptor of its root. m's options are mount attributes (ro,
// nosuid, ...) or the file system's own parameters (mode=755, newinstance).
func newMount(m specs.Mount) (*os.File, error) {
	fail := func(op string, err error) error {
		return &MountError{Op: op, Source: m.Source, Target: m.Destination, Type: m.Type, Data: strings.Join(m.Options, ","), Err: err}
	}
	fsfd, err := unix.Fsopen(m.Type, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fail("fsopen", err)
	}
	defer unix.Close(fsfd)
	attrs, params := mountAttrs(m.Options)
	if m.Source != "" {
		params = append([]string{"source=" + m.Source}, params...)
	}
	for _, p := range params {
		key, value, hasValue := strings.Cut(p, "=")
		if hasValue {
			err = unix.FsconfigSetString(fsfd, key, value)
		} else {
			err = unix.FsconfigSetFlag(fsfd, key)
		}
		if err != nil {
			return nil, fail("fsconfig "+p, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fail("fsconfig create", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(attrs))
	if err != nil {
		return nil, fail("fsmount", err)
	}
	return os.NewFile(uintptr(mfd), m.Type), nil
}

// mountOptions are the mount(8) options that are not a file system's own:
// flags of mount(2) and, for the new mount API, attributes of fsmount(2) and
// mount_setattr(2). ("ro" is only the mount's: a file system shared with the
// host, a cgroup v1 hierarchy, must not turn read-only itself.)
var mountOptions = map[string]struct {
	clear bool
	flag  uintptr
	attr  uint64
}{
	"ro":          {false, unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
	"rw":          {true, unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
	"nosuid":      {false, unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
	"suid":        {true, unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
	"nodev":       {false, unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
	"dev":         {true, unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
	"noexec":      {false, unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	"strictatime": {false, unix.MS_STRICTATIME, unix.MOUNT_ATTR_STRICTATIME},
	"relatime":    {false, unix.MS_RELATIME, unix.MOUNT_ATTR_RELATIME},
	"noatime":     {false, unix.MS_NOATIME, unix.MOUNT_ATTR_NOATIME},
	"nodiratime":  {false, unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	"bind":        {false, unix.MS_BIND, 0},
	"rbind":       {false, unix.MS_BIND | unix.MS_REC, 0},
}

// privateOptions ask for what every mount init makes already is: private.
// Engines send them with every mount.
var privateOptions = map[string]bool{"private": true, "rprivate": true}

// mountFlags splits spec mount options into mount(2) flags and the data
// string the file system parses itself (mode=, size=, ...).
func mountFlags(options []string) (uintptr, string) {
	flags, _, params := splitOptions(options)
	return flags, strings.Join(params, ",")
}

// mountAttrs splits spec mount options into fsmount(2) attributes and the
// file system's own parameters.
func mountAttrs(options []string) (uint64, []string) {
	_, attrs, params := splitOptions(options)
	return attrs, params
}

// splitOptions reads spec mount options in order, a later one undoing an
// earlier one (ro, rw): the mount's flags, as mount(2) and as fsmount(2)
// take them, and the file system's own parameters.
func splitOptions(options []string) (flags uintptr, attrs uint64, params []string) {
	for _, o := range options {
		f, ok := mountOptions[o]
		switch {
		case privateOptions[o]:
			// Every mount init makes is private already.
		case !ok:
			params = append(params, o)
		case f.clear:
			flags &^= f.flag
			attrs &^= f.attr
		default:
			flags |= f.flag
			attrs |= f.attr
		}
	}
	return flags, attrs, params
}

// makeDev fills the container's /dev with the spec's device nodes and the
// usual links, through the descriptor of the tmpfs init mounted there.
func makeDev(fs *fileSystems, devices []specs.LinuxDevice) error {
	for _, d := range devices {
		var kind uint32
		switch d.Type {
		case "c", "u":
			kind = unix.S_IFCHR
		case "b":
			kind = unix.S_IFBLK
		default:
			return fmt.Errorf("device %s: type %q not supported", d.Path, d.Type)
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(d.FileMode.Perm())
		}
		dir, name, err := fs.devParent(d.Path)
		if err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
		uid, gid := 0, 0
		if d.UID != nil {
			uid = int(*d.UID)
		}
		if d.GID != nil {
			gid = int(*d.GID)
		}
		dev := int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
		if err := unix.Mknodat(int(dir.Fd()), name, kind|mode, dev); err != nil {
			dir.Close()
			return &os.PathError{Op: "mknod", Path: d.Path, Err: err}
		}
		err = unix.Fchownat(int(dir.Fd()), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
		dir.Close()
		if err != nil {
			return &os.PathError{Op: "chown", Path: d.Path, Err: err}
		}
	}
	for _, l := range spec.DevSymlinks {
		dir, name, err := fs.devParent(l[1])
		if err != nil {
			return err
		}
		err = unix.Symlinkat(l[0], int(dir.Fd()), name)
		dir.Close()
		if err != nil {
			return &os.PathError{Op: "symlink", Path: l[1], Err: err}
		}
	}
	return nil
}

// devParent opens, strictly, the directory p (a path in the container's
// /dev, or elsewhere if the spec mounts no /dev) is to be made in, and
// returns it with p's last element.
func (fs *fileSystems) devParent(p string) (*os.File, string, error) {
	p = path.Clean(p)
	base, inRoot, rel := fs.root, "/", strings.TrimPrefix(p, "/")
	if after, ok := strings.CutPrefix(p, "/dev/"); ok && fs.dev != nil {
		base, inRoot, rel = fs.dev, "/dev", after
	}
	dir, err := mkdirAllStrict(base, inRoot, path.Dir(rel))
	return dir, path.Base(rel), err
}

// writeSysctls sets the container's namespaced sysctls (the supervisor let
// through only those) in the procfs init mounted, each file checked to be
// procfs's before it is written.
func writeSysctls(fs *fileSystems, sysctls map[string]string) error {
	if len(sysctls) > 0 && fs.proc == nil {
		return errors.New("sysctls: the spec mounts no /proc")
	}
	for key, value := range sysctls {
		rel := "sys/" + strings.ReplaceAll(key, ".", "/")
		f, err := openStrict(fs.proc, rel, unix.O_WRONLY|unix.O_NOFOLLOW, true)
		if err == nil {
			err = checkFS(f, "/proc/"+rel, unix.PROC_SUPER_MAGIC)
			if err == nil {
				_, err = f.Write([]byte(value))
			}
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
	}
	return nil
}

// checkFS makes sure f lies on a file system of type magic.
func checkFS(f *os.File, p string, magic int64) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "fstatfs", Path: p, Err: err}
	}
	if st.Type != magic {
		return fmt.Errorf("%s is on a file system of type %#x, not %#x", p, st.Type, magic)
	}
	return nil
}

// maskPaths hides masked paths (a file behind /dev/null, a directory behind
// an empty read-only tmpfs) and makes read-only paths read-only, by
// attaching mounts to descriptors opened beneath the procfs and sysfs init
// mounted, each checked to be on that file system (as runc does since the
// advisories of November 2025, CVE-2025-31133 and CVE-2025-52565: a masked
// path or the /dev/null it is masked with, swapped for a symlink, must not
// make init mount over something else). A path this kernel lacks is skipped.
func maskPaths(fs *fileSystems, masked, readonly []string) error {
	m := masker{fs: fs}
	defer m.close()
	for _, p := range masked {
		if err := m.mask(p); err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	for _, p := range readonly {
		if err := m.readOnly(p); err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	return nil
}

// masker masks paths; it opens /dev/null and makes the empty tmpfs once.
type masker struct {
	fs       *fileSystems
	devNull  *os.File // the container's /dev/null, checked to be the null device
	emptyDir *os.File // an empty read-only tmpfs, once attached to the first masked directory
}

func (m *masker) close() {
	for _, f := range []*os.File{m.devNull, m.emptyDir} {
		if f != nil {
			f.Close()
		}
	}
}

// target opens p (O_PATH) beneath the mount of /proc or /sys it lies in,
// checked to be on that file system; nil if p does not exist.
func (m *masker) target(p string) (*os.File, error) {
	p = path.Clean(p)
	base, rel, magic := m.fs.root, strings.TrimPrefix(p, "/"), int64(0)
	if after, ok := strings.CutPrefix(p, "/proc/"); ok && m.fs.proc != nil {
		base, rel, magic = m.fs.proc, after, unix.PROC_SUPER_MAGIC
	} else if after, ok := strings.CutPrefix(p, "/sys/"); ok && m.fs.sys != nil {
		base, rel, magic = m.fs.sys, after, unix.SYSFS_MAGIC
	}
	f, err := openStrict(base, rel, unix.O_PATH|unix.O_NOFOLLOW, magic != 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if magic != 0 {
		if err := checkFS(f, p, magic); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

func (m *masker) mask(p string) error {
	target, err := m.target(p)
	if target == nil || err != nil {
		return err
	}
	defer target.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(target.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		null, err := m.null()
		if err != nil {
			return err
		}
		return cloneOnto(null, target, p, 0)
	}
	if m.emptyDir != nil {
		return cloneOnto(m.emptyDir, target, p, 0)
	}
	empty, err := newMount(specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: p,
		Options: []string{"ro", "nosuid", "nodev", "noexec", "mode=755"}})
	if err != nil {
		return err
	}
	if err := moveMount(empty, target, p); err != nil {
		empty.Close()
		return err
	}
	// Attached, it can be cloned for the next masked directory.
	m.emptyDir = empty
	return nil
}

// null opens the container's /dev/null, checked to be the null device.
func (m *masker) null() (*os.File, error) {
	if m.devNull != nil {
		return m.devNull, nil
	}
	if m.fs.dev == nil {
		return nil, errors.New("the spec mounts no /dev to take /dev/null from")
	}
	f, err := openStrict(m.fs.dev, "null", unix.O_PATH|unix.O_NOFOLLOW, true)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		f.Close()
		return nil, fmt.Errorf("/dev/null is not the null device (mode %#o, device %d:%d)", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	m.devNull = f
	return f, nil
}

// readOnly attaches, over p, a read-only copy of the mounts at p.
func (m *masker) readOnly(p string) error {
	target, err := m.target(p)
	if target == nil || err != nil {
		return err
	}
	defer target.Close()
	attrs := uint64(unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC)
	return cloneOnto(target, target, p, attrs)
}

// cloneOnto clones the mount at src (with the mounts below it) and attaches
// the copy on target, with the mount attributes attrs set on the copy first.
func cloneOnto(src, target *os.File, p string, attrs uint64) error {
	fd, err := unix.OpenTree(int(src.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return &os.PathError{Op: "open_tree", Path: p, Err: err}
	}
	clone := os.NewFile(uintptr(fd), p)
	defer clone.Close()
	if attrs != 0 {
		attr := &unix.MountAttr{Attr_set: attrs}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return &os.PathError{Op: "mount_setattr", Path: p, Err: err}
		}
	}
	return moveMount(clone, target, p)
}
