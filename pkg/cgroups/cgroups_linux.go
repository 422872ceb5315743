package cgroups

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where the host's cgroup filesystems are mounted.
const DefaultRoot = "/sys/fs/cgroup"

// system is what New reads from the host to choose a mode; tests replace it
// to describe a fake host.
type system struct {
	// fsType returns statfs(2)'s f_type for path.
	fsType func(path string) (int64, error)
	// mountinfo opens the mount table (/proc/self/mountinfo).
	mountinfo func() (io.ReadCloser, error)
}

var hostSystem = system{
	fsType: func(path string) (int64, error) {
		var st unix.Statfs_t
		if err := unix.Statfs(path, &st); err != nil {
			return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
		}
		return int64(st.Type), nil
	},
	mountinfo: func() (io.ReadCloser, error) { return os.Open("/proc/self/mountinfo") },
}

// New detects the mode under cfg.Root (normally DefaultRoot) and returns the
// manager for the cgroup at cfg.Path. Nothing is created yet: New only checks
// the path, the resources, and that the controller of every limit is
// usable, so that a mistake is reported before anything has to be cleaned
// up.
func New(log hclog.Logger, cfg Config) (Manager, error) {
	return newManager(log, cfg, hostSystem)
}

func newManager(log hclog.Logger, cfg Config, sys system) (Manager, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	rel, err := cleanPath(cfg.Path)
	if err != nil {
		return nil, err
	}
	if err := Validate(cfg.Resources); err != nil {
		return nil, err
	}
	mode, err := detectMode(cfg.Root, sys.fsType)
	if err != nil {
		return nil, err
	}
	log = log.With("cgroup", rel, "cgroup_mode", mode.String())
	switch mode {
	case ModeV2:
		return newV2(log, cfg.Root, rel, cfg.Resources)
	default:
		f, err := sys.mountinfo()
		if err != nil {
			return nil, fmt.Errorf("find cgroup v1 mounts: %w", err)
		}
		defer f.Close()
		mounts, err := parseV1Mounts(f)
		if err != nil {
			return nil, fmt.Errorf("find cgroup v1 mounts: %w", err)
		}
		return newV1(log, rel, cfg.Resources, cfg.AllHierarchies, mounts)
	}
}

// detectMode tells pure cgroup v2 from v1 by the filesystem at root: cgroup2
// itself on a v2 host, a tmpfs holding one mount per v1 hierarchy otherwise.
// A hybrid host also has a cgroup2 mount at root/unified, but it carries no
// controllers, so limits cannot go there and it is ignored.
func detectMode(root string, fsType func(string) (int64, error)) (Mode, error) {
	t, err := fsType(root)
	if err != nil {
		return 0, fmt.Errorf("detect cgroup mode: %w", err)
	}
	switch t {
	case unix.CGROUP2_SUPER_MAGIC:
		return ModeV2, nil
	case unix.TMPFS_MAGIC:
		return ModeV1, nil
	default:
		return 0, fmt.Errorf("detect cgroup mode: %s is neither cgroup2 nor a tmpfs of cgroup v1 mounts (filesystem type %#x)", root, t)
	}
}

// writeFile writes value to an existing cgroup file in a single write(2),
// because the kernel parses each write as one complete value. It never
// creates the file: a missing file means a missing controller or feature,
// which must be an error, not a stray regular file.
func writeFile(path, value string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(value)); err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// applyWrites performs ws in dir, in order, skipping optional writes whose
// file the kernel does not offer.
func applyWrites(log hclog.Logger, dir string, ws []write) error {
	for _, w := range ws {
		err := writeFile(filepath.Join(dir, w.file), w.value)
		if w.alt != "" && errors.Is(err, unix.ENOENT) {
			err = writeFile(filepath.Join(dir, w.alt), w.value)
		}
		if w.optional && errors.Is(err, unix.ENOENT) {
			log.Debug("cgroup file missing, limit skipped", "file", w.file)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readUintFile reads a one-number file; a missing file reads as 0 because
// such counters only exist on newer kernels (memory.peak, pids.peak).
func readUintFile(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, unix.ENOENT) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v, err := parseUint(data)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return v, nil
}

// readUintFiles reads one-number files into the values they point to.
func readUintFiles(files map[string]*uint64) error {
	for path, v := range files {
		var err error
		if *v, err = readUintFile(path); err != nil {
			return err
		}
	}
	return nil
}

// readKeyValueFile reads a "key value" file; a missing file reads as empty.
func readKeyValueFile(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if errors.Is(err, unix.ENOENT) {
		return map[string]uint64{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv, err := parseKeyValues(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return kv, nil
}

// procsTree lists the processes in dir and in every cgroup below it (the
// container may have made its own sub-cgroups).
func procsTree(dir string) ([]int, error) {
	var all []int
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return err
		}
		pids, err := parseProcs(data)
		if err != nil {
			return fmt.Errorf("read %s: %w", filepath.Join(path, "cgroup.procs"), err)
		}
		all = append(all, pids...)
		return nil
	})
	return all, err
}

// killListed sends SIGKILL to the processes list names, and returns a pidfd
// of each one it signalled, for the caller to wait on (waitExited) and
// close, and how many processes list named first (0: the cgroup is empty).
//
// kill(2) of a PID read from cgroup.procs can hit a stranger: the process may
// exit between the read and the kill, and the kernel give its PID to a new
// process of the host. A pidfd stays with the one process it was opened on,
// so each PID listed is opened first, the cgroup is listed again, and only the
// pidfds whose PID is still listed are signalled. A PID in the second list
// belongs to the process its pidfd was opened on, or that process has exited
// and been reaped in between, and then the pidfd signals no one (ESRCH): a PID
// is free for reuse only once its process is gone. The second listing is
// also what tells apart a process of the container from a stranger that got
// the PID before the pidfd was opened; it needs no mapping of the cgroup's
// path to what /proc/PID/cgroup says, which depends on the reader's cgroup
// namespace and the root of the mount.
func killListed(list func() ([]int, error)) (pidfds []int, listed int, err error) {
	pids, err := list()
	if err != nil || len(pids) == 0 {
		return nil, 0, err
	}
	opened := map[int]int{} // pid -> pidfd
	defer func() {
		for _, fd := range opened {
			unix.Close(fd)
		}
	}()
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue // gone already
		}
		if err != nil {
			return nil, len(pids), fmt.Errorf("pidfd_open %d: %w", pid, err)
		}
		opened[pid] = fd
	}
	again, err := list()
	if err != nil {
		return nil, len(pids), err
	}
	for _, pid := range again {
		fd, ok := opened[pid]
		if !ok {
			continue // new since the first listing: the next round's
		}
		err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		if err != nil && !errors.Is(err, unix.ESRCH) {
			return nil, len(pids), fmt.Errorf("pidfd_send_signal %d: %w", pid, err)
		}
		delete(opened, pid)
		pidfds = append(pidfds, fd)
	}
	return pidfds, len(pids), nil
}

// waitExited waits until the process of every pidfd has exited (a pidfd
// turns readable then), or until deadline, and closes the pidfds.
func waitExited(pidfds []int, deadline time.Time) error {
	defer func() {
		for _, fd := range pidfds {
			unix.Close(fd)
		}
	}()
	fds := make([]unix.PollFd, 0, len(pidfds))
	for _, fd := range pidfds {
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	for len(fds) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("wait for %d killed processes to exit: %w", len(fds), os.ErrDeadlineExceeded)
		}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("poll pidfds: %w", err)
		}
		fds = slices.DeleteFunc(fds, func(p unix.PollFd) bool { return p.Revents != 0 })
	}
	return nil
}

// removeTree removes the cgroup dir and any cgroups below it, deepest first
// (rmdir on a cgroup with children fails). A cgroup directory's files go with
// it, so only directories are removed. ENOENT anywhere means someone removed
// it already, which is what we want.
func removeTree(dir string) error {
	// Most cgroups have no children: try the rmdir first, and list the
	// directory (dozens of control files) only when it is refused.
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	entries, rerr := os.ReadDir(dir)
	if errors.Is(rerr, unix.ENOENT) {
		return nil
	}
	if rerr != nil {
		return rerr
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}

// mkdirAncestors creates the cgroups above rel under mnt that do not exist
// yet, from the top, calling made on each directory, new or not (to enable
// controllers on v2, to fill cpuset on v1). They are shared: an existing one
// is no error, and Destroy leaves them.
func mkdirAncestors(mnt, rel string, made func(dir string) error) error {
	for _, a := range ancestors(rel) {
		dir := filepath.Join(mnt, a)
		if err := unix.Mkdir(dir, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "mkdir", Path: dir, Err: err}
		}
		if err := made(dir); err != nil {
			return err
		}
	}
	return nil
}

// mkdirCgroup creates one cgroup directory. An existing one is an error: a
// leftover of the same name would mix another container's processes and
// counters into ours.
func mkdirCgroup(dir string) error {
	if err := unix.Mkdir(dir, 0o755); err != nil {
		return &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return nil
}

// emptyTimeout bounds how long Kill and Destroy wait for the kernel to
// finish removing killed processes from the cgroup. Exiting after SIGKILL
// takes milliseconds; the bound only matters when something is stuck (a task
// in uninterruptible sleep on a dead NFS server, say), and then an error is
// better than hanging the supervisor.
const emptyTimeout = 30 * time.Second
