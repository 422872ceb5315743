package cgroups

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// New detects the mode under root (normally DefaultRoot) and returns the
// manager for cgroup name. Nothing is created yet: New only checks that the
// controller of every non-zero limit is usable, so that a missing controller
// is reported before anything has to be cleaned up.
func New(log hclog.Logger, root, name string, l Limits) (Manager, error) {
	return newManager(log, root, name, l, hostSystem)
}

func newManager(log hclog.Logger, root, name string, l Limits, sys system) (Manager, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	// The name becomes one path element under the root: no nesting, no escape.
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return nil, fmt.Errorf("invalid cgroup name %q: must be a single path element", name)
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	mode, err := detectMode(root, sys.fsType)
	if err != nil {
		return nil, err
	}
	log = log.With("cgroup", name, "cgroup_mode", mode.String())
	switch mode {
	case ModeV2:
		return newV2(log, root, name, l)
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
		return newV1(log, name, l, mounts)
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

// killAll sends SIGKILL to every pid. A pid that is already gone is fine.
func killAll(pids []int) error {
	for _, pid := range pids {
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
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
