package container

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// protectedInit opens crate-init so that it can be executed but never written
// through the process that runs it.
//
// crate-init runs inside the container's namespaces, as the container's PID 1,
// until it execs the command. An image whose command is /proc/self/exe makes
// init exec itself once more, now as the container's own process; anything in
// the container can then take /proc/PID/exe, keep it open, and write through it
// once the process has exited. Written through the plain host path, that would
// replace the host's crate-init, which the next `crate run` starts as root on
// the host (CVE-2019-5736, against runc).
//
// So init is executed from a private, read-only bind mount of the binary that
// is attached nowhere (open_tree + mount_setattr, Linux 5.12): /proc/PID/exe
// then leads to that mount, and opening it for writing fails with EROFS. On
// older kernels it is a sealed in-memory copy (memfd), which no one can write
// either. The file's descriptor must stay open until init has been started.
func protectedInit(path string) (*os.File, error) {
	f, err := readOnlyMount(path)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return sealedCopy(path)
	}
	return f, err
}

// readOnlyMount is a detached, read-only bind mount of the file at path.
func readOnlyMount(path string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, &os.PathError{Op: "open_tree", Path: path, Err: err}
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "mount_setattr", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// sealedCopy copies the file at path into a memfd sealed against any change.
func sealedCopy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("crate-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:crate-init")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy %s into memory: %w", path, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, os.NewSyscallError("fcntl F_ADD_SEALS", err)
	}
	return f, nil
}

// execPath names f for execve. It goes through crate's own descriptor table
// (/proc/PID/fd, not /proc/self/fd): the child rearranges its copy of the
// table before it execs, and could put another file at f's number.
func execPath(f *os.File) string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
}
