package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
func switchRoot(log *initlog.Logger, rootfs string, rootMount *specs.Mount, noPivot bool) error {
	// Mounts are shared with the host by default on systemd machines: make
	// them private first, or the mounts below would propagate back out.
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
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

// mountAll mounts the spec's file systems. It runs after the root switch, so
// every destination resolves inside the container: a symlink in the image
// cannot point a mount at the host.
func mountAll(log *initlog.Logger, mounts []specs.Mount, volumes *volumes) error {
	for i, m := range mounts {
		if spec.IsRootMount(m) {
			continue // mounted by switchRoot
		}
		// Volumes: opened by openVolumes before the root switch, attached
		// here in spec order, never by path (volume_linux.go).
		if spec.IsBindMount(m) {
			if err := volumes.attach(i, m); err != nil {
				return err
			}
			log.Trace("volume attached", "source", m.Source, "target", m.Destination)
			continue
		}
		if err := os.MkdirAll(m.Destination, 0o755); err != nil {
			return err
		}
		flags, data := mountFlags(m.Options)
		if err := mount(m.Source, m.Destination, m.Type, flags, data); err != nil {
			return err
		}
		log.Trace("mounted", "type", m.Type, "target", m.Destination)
	}
	return nil
}

// mountOptions are the mount(8) options that are flags rather than data.
var mountOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":          {false, unix.MS_RDONLY},
	"rw":          {true, unix.MS_RDONLY},
	"nosuid":      {false, unix.MS_NOSUID},
	"suid":        {true, unix.MS_NOSUID},
	"nodev":       {false, unix.MS_NODEV},
	"dev":         {true, unix.MS_NODEV},
	"noexec":      {false, unix.MS_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC},
	"strictatime": {false, unix.MS_STRICTATIME},
	"relatime":    {false, unix.MS_RELATIME},
	"noatime":     {false, unix.MS_NOATIME},
	"bind":        {false, unix.MS_BIND},
	"rbind":       {false, unix.MS_BIND | unix.MS_REC},
}

// mountFlags splits spec mount options into mount(2) flags and the data
// string the file system parses itself (mode=, size=, ...).
func mountFlags(options []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range options {
		f, ok := mountOptions[o]
		switch {
		case !ok:
			data = append(data, o)
		case f.clear:
			flags &^= f.flag
		default:
			flags |= f.flag
		}
	}
	return flags, strings.Join(data, ",")
}

// makeDev fills the container's tmpfs /dev with the spec's device nodes and
// the usual links.
func makeDev(devices []specs.LinuxDevice) error {
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
		if err := os.MkdirAll(filepath.Dir(d.Path), 0o755); err != nil {
			return err
		}
		dev := int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
		if err := unix.Mknod(d.Path, kind|mode, dev); err != nil {
			return &os.PathError{Op: "mknod", Path: d.Path, Err: err}
		}
		uid, gid := 0, 0
		if d.UID != nil {
			uid = int(*d.UID)
		}
		if d.GID != nil {
			gid = int(*d.GID)
		}
		if err := unix.Chown(d.Path, uid, gid); err != nil {
			return &os.PathError{Op: "chown", Path: d.Path, Err: err}
		}
	}
	for _, l := range spec.DevSymlinks {
		if err := os.Symlink(l[0], l[1]); err != nil {
			return err
		}
	}
	return nil
}

// maskPaths hides masked paths (a file behind /dev/null, a directory behind
// an empty read-only tmpfs) and makes read-only paths read-only, with bind
// mounts inside the container's /proc and /sys. A path this kernel lacks is
// skipped.
func maskPaths(masked, readonly []string) error {
	for _, p := range masked {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return err
		case fi.IsDir():
			err = mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
		default:
			err = mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return err
		}
	}
	for _, p := range readonly {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		// MS_RDONLY is ignored when a bind mount is made: read-only takes a
		// remount of the bind.
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_REC | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
		if err := mount(p, p, "", flags, ""); err != nil {
			return err
		}
	}
	return nil
}
