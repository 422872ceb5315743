package initproc

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/initsync"
)

// joinedNamespaces are those of the container's PID 1 that init joins for
// crate exec. The PID namespace is not among them: joining one changes only
// where a process's children are born, so the supervisor joins it on the
// thread that starts init, and init is born inside it.
const joinedNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP

// joinContainer moves the calling thread (locked, and the one that will
// execve) into the namespaces and the root of a running container, given as
// a pidfd of its PID 1 and a descriptor of its root directory.
//
// The kernel lets a thread into another mount namespace only if no other
// thread shares its file-system context (root, working directory): Go's
// threads all share one, which is why runc joins namespaces in C before Go's
// runtime starts. Unsharing CLONE_FS gives this thread a context of its own
// instead; the runtime never starts a new thread from a locked one, so none
// inherits it.
//
// The mount namespace's own root is the container's root only after a
// pivot_root (with --no-pivot it is the host's), so the root is entered
// through the descriptor the supervisor opened at /proc/PID/root, which is
// PID 1's root whichever way it was switched.
func joinContainer() error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return os.NewSyscallError("unshare CLONE_FS", err)
	}
	if err := unix.Setns(initsync.PidFd, joinedNamespaces); err != nil {
		return os.NewSyscallError("setns", err)
	}
	if err := unix.Fchdir(initsync.RootFd); err != nil {
		return os.NewSyscallError("fchdir to the container's root", err)
	}
	if err := unix.Chroot("."); err != nil {
		return os.NewSyscallError("chroot", err)
	}
	return nil
}
