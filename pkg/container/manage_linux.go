package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/state"
)

// What other crate commands do to a container another crate supervises:
// signal its PID 1, stop it, read its cgroup and its directory's size, and
// remove what is left of it.
// PID 1 is always reached through a pidfd opened against the PID and start
// time its state records, so that a PID the kernel has since given to
// another process is never signalled.

// openInit opens a pidfd of the container's PID 1.
func openInit(st state.State) (*os.File, error) {
	t, err := openTarget(st.InitPID, st.InitStartTime)
	if err != nil {
		return nil, err
	}
	return t.pidfd, nil
}

// Signal sends sig to the container's PID 1. Without --init a PID 1 ignores
// every signal it has no handler for, SIGKILL aside.
func Signal(st state.State, sig unix.Signal) error {
	pidfd, err := openInit(st)
	if err != nil {
		return err
	}
	defer pidfd.Close()
	return sendSignal(pidfd, sig)
}

func sendSignal(pidfd *os.File, sig unix.Signal) error {
	err := unix.PidfdSendSignal(int(pidfd.Fd()), sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("%w: its PID 1 has exited", ErrNotRunning)
	}
	if err != nil {
		return os.NewSyscallError("pidfd_send_signal", err)
	}
	return nil
}

// Stop sends SIGTERM to the container's PID 1 and, if it has not exited
// after grace, SIGKILL, which ends the whole container. It returns once PID 1
// has exited; the supervisor cleans up after that.
func Stop(log hclog.Logger, st state.State, grace time.Duration) error {
	pidfd, err := openInit(st)
	if err != nil {
		return err
	}
	defer pidfd.Close()
	if err := sendSignal(pidfd, unix.SIGTERM); err != nil {
		return err
	}
	exited, err := waitExit(pidfd, grace)
	if err != nil || exited {
		return err
	}
	log.Info("container still running after the grace time: killing it", "container_id", st.ID, "grace", grace)
	if err := sendSignal(pidfd, unix.SIGKILL); err != nil {
		if errors.Is(err, ErrNotRunning) {
			return nil
		}
		return err
	}
	_, err = waitExit(pidfd, -1)
	return err
}

// waitExit waits up to timeout (negative: for ever) for the process of
// pidfd to exit: a pidfd turns readable then.
func waitExit(pidfd *os.File, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		ms := -1
		if timeout >= 0 {
			ms = int(max(time.Until(deadline), 0).Milliseconds())
		}
		fds := []unix.PollFd{{Fd: int32(pidfd.Fd()), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, os.NewSyscallError("poll pidfd", err)
		}
		return n > 0, nil
	}
}

// Usage reads what a running container uses, from its cgroup.
func Usage(log hclog.Logger, cgroupRoot string, st state.State) (cgroups.Usage, error) {
	cg, err := openCgroup(log, cgroupRoot, st)
	if err != nil {
		return cgroups.Usage{}, err
	}
	return cg.Usage()
}

// Remove removes what a container whose supervisor is gone may have left:
// its cgroup (and anything still in it) and its directory. The caller holds
// the container's supervisor lock and removes its state last.
func Remove(log hclog.Logger, cgroupRoot string, st state.State) error {
	var errs []error
	cg, err := openCgroup(log, cgroupRoot, st)
	if err == nil {
		if err = cg.Destroy(); err != nil {
			if kerr := cg.Kill(); kerr != nil {
				log.Warn("kill what is left in the cgroup", "error", kerr)
			}
			err = cg.Destroy()
		}
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
	}
	// An OCI container's bundle is its engine's, not crate's to remove.
	if st.Bundle != "" && !st.OCI {
		if err := removeContainerDir(st.Bundle); err != nil {
			errs = append(errs, fmt.Errorf("remove container directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// DirSize is what a container's directory under the state root holds.
type DirSize struct {
	ID string
	// Bytes is the content of its files: the overlay's upper directory (what
	// the container wrote) or the copy of its image, and its output log.
	Bytes int64
}

// DirSizes returns the size of every container's directory under stateRoot.
func DirSizes(stateRoot string) ([]DirSize, error) {
	dirs, err := os.ReadDir(containersDir(stateRoot))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var sizes []DirSize
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		n, err := treeSize(containerDir(stateRoot, d.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("size of container %s: %w", d.Name(), err)
		}
		sizes = append(sizes, DirSize{ID: d.Name(), Bytes: n})
	}
	return sizes, nil
}

// treeSize sums the sizes of the regular files below the directory path,
// which the container changes as it is read: its writes land in the
// overlay's upper directory. The walk goes from descriptor to descriptor,
// never by a path below path and never through a symlink, so that a
// directory swapped for a symlink to the host's / between its listing and
// its opening is skipped, not followed.
func treeSize(path string) (int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return treeSizeAt(fd, path)
}

// treeSizeAt is treeSize of the directory fd, named path; it closes fd.
func treeSizeAt(fd int, path string) (int64, error) {
	dir := os.NewFile(uintptr(fd), path)
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, name := range names {
		var st unix.Stat_t
		err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			continue // removed since the listing
		}
		if err != nil {
			return 0, &os.PathError{Op: "stat", Path: path + "/" + name, Err: err}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			total += st.Size
		case unix.S_IFDIR:
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				continue // removed or swapped since the stat
			}
			if err != nil {
				return 0, &os.PathError{Op: "open", Path: path + "/" + name, Err: err}
			}
			n, err := treeSizeAt(sub, path+"/"+name)
			if err != nil {
				return 0, err
			}
			total += n
		}
	}
	return total, nil
}
