package initproc

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/initsync"
)

// crate exec starts crate-init outside the container: in its cgroup, but in
// the host's PID namespace, where nothing in the container can see it, with
// the host's root. In that order, as runc's does:
//
//  1. joinContainer: init's locked thread enters the namespaces of the
//     container's PID 1, the PID namespace among them (which only decides
//     where init's children are born), and with the mount namespace the
//     root of the container;
//  2. becomeCommand: the working directory, the user, the capabilities, the
//     seccomp filter, as the container's PID 1 got them;
//  3. runJoined (spawn_linux.go): the command is started as init's child,
//     the first process of this exec the container can see, already in the
//     container's root and holding no more than the container does.
//
// Had init been born in the container's PID namespace, anything there with
// CAP_SYS_PTRACE could have read the host's files through
// /proc/PID/root for as long as init took to get into the container's root.

// joinedNamespaces are those of the container's PID 1 that init joins.
const joinedNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWCGROUP | unix.CLONE_NEWPID

// joinContainer moves the calling thread (locked, and the one that will
// start the command) into the namespaces of a running container, given as a
// pidfd of its PID 1, and so into its root.
//
// The kernel lets a thread into another mount namespace only if no other
// thread shares its file-system context (root, working directory): Go's
// threads all share one, which is why runc joins namespaces in C before Go's
// runtime starts. Unsharing CLONE_FS gives this thread a context of its own
// instead; the runtime never starts a new thread from a locked one, so none
// inherits it.
//
// Entering a mount namespace sets the thread's root and working directory to
// the top of the namespace's root: the container's root, which init
// pivoted to or, with --no-pivot, moved over "/". Never the root of PID 1,
// which may have chrooted into a directory of forged files: nothing of
// /proc/PID/root is used. Should the container have uncovered the host's
// root underneath (--no-pivot with CAP_SYS_ADMIN can), init refuses to go
// on there.
func joinContainer() error {
	var host unix.Stat_t
	if err := unix.Stat("/", &host); err != nil {
		return &os.PathError{Op: "stat", Path: "/", Err: err}
	}
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return os.NewSyscallError("unshare CLONE_FS", err)
	}
	if err := unix.Setns(initsync.PidFd, joinedNamespaces); err != nil {
		return os.NewSyscallError("setns", err)
	}
	unix.Close(initsync.PidFd)
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return &os.PathError{Op: "stat", Path: "/", Err: err}
	}
	if root.Dev == host.Dev && root.Ino == host.Ino {
		return errors.New("the container's mount namespace has the host's root on top (its own root was unmounted): refusing to enter it")
	}
	return nil
}
