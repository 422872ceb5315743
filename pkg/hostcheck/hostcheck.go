// Package hostcheck owns `crate check`: it inspects the host for what crate
// needs (root, a recent kernel, namespaces, cgroup controllers, overlayfs,
// pivot_root, seccomp, crate-init) and says, for each, what to do where it
// falls short. It only looks: it never mounts, loads a module, attaches a
// program or writes a cgroup file.
package hostcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Status is a check's verdict.
type Status string

const (
	// OK: crate can use it.
	OK Status = "OK"
	// Warn: crate runs containers, but some features are slower or missing.
	Warn Status = "WARN"
	// Missing: crate run cannot work (as it is invoked by default) until the
	// fix is applied.
	Missing Status = "MISSING"
)

// Result is one line of the report.
type Result struct {
	Name   string `json:"name"`   // what was checked: "kernel", "namespace pid"
	Status Status `json:"status"` // OK, WARN or MISSING
	Detail string `json:"detail"` // what was found
	Fix    string `json:"fix"`    // what to do, when not OK
}

// Options name what the checks read, so that tests can point them at a fake
// tree. Empty fields take the host's paths.
type Options struct {
	ProcRoot    string // /proc
	CgroupRoot  string // /sys/fs/cgroup
	ModulesRoot string // /lib/modules, where a loadable overlay module would be
	StateRoot   string // crate's --data-root, /var/lib/crate; it need not exist yet
	// FindInit returns the crate-init crate would start
	// (container.FindInit); nil skips that check.
	FindInit func() (string, error)
}

func (o Options) withDefaults() Options {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.CgroupRoot == "" {
		o.CgroupRoot = "/sys/fs/cgroup"
	}
	if o.ModulesRoot == "" {
		o.ModulesRoot = "/lib/modules"
	}
	if o.StateRoot == "" {
		o.StateRoot = "/var/lib/crate"
	}
	return o
}

// probes are the checks that need a system call rather than a file; tests
// replace them to describe a host.
type probes struct {
	euid func() int
	// seccompMode is prctl(PR_GET_SECCOMP): this process's own mode.
	seccompMode func() (int, error)
	// seccompFilter reports whether the kernel has filter mode
	// (CONFIG_SECCOMP_FILTER), without installing one.
	seccompFilter func() (bool, error)
	// bpfDevice loads (and drops) a cgroup device program: the v2 device
	// filter crate attaches to every container.
	bpfDevice func() error
	// freeBytes is the space available to root on the file system of path.
	freeBytes func(path string) (uint64, error)
}

// run runs every check, in the order they are reported.
func run(o Options, p probes) []Result {
	o = o.withDefaults()
	h := readHost(o)
	var rs []Result
	rs = append(rs, checkRoot(p.euid()))
	rs = append(rs, checkKernel(h.release, h.releaseErr))
	rs = append(rs, checkNamespaces(o.ProcRoot)...)
	rs = append(rs, checkCgroups(o.CgroupRoot, h.mounts, p.bpfDevice)...)
	rs = append(rs, checkOverlay(o, h.release))
	rs = append(rs, checkOverlayUpper(o.StateRoot, h.stateMount))
	rs = append(rs, checkPivotRoot(h.mounts))
	rs = append(rs, checkSeccomp(o.ProcRoot, p))
	if o.FindInit != nil {
		rs = append(rs, checkInit(o.FindInit))
	}
	rs = append(rs, checkStateRoot(o.StateRoot, h.stateMount, p.freeBytes))
	return rs
}

// host is what several checks read once.
type host struct {
	release    string // the kernel release, "6.18.44-fc-v657"
	releaseErr error
	mounts     []mount // this process's mount table; nil when unreadable
	mountsErr  error
	stateMount stateMount
}

// stateMount is where the state root lives: the nearest existing directory
// (crate creates the root on first use) and the mount holding it.
type stateMount struct {
	dir   string // the state root, or its nearest existing ancestor
	mount *mount // nil when the mount table could not be read
	err   error
}

func readHost(o Options) host {
	var h host
	data, err := os.ReadFile(filepath.Join(o.ProcRoot, "sys/kernel/osrelease"))
	h.release, h.releaseErr = trimLine(data), err
	h.mounts, h.mountsErr = readMountinfo(filepath.Join(o.ProcRoot, "self/mountinfo"))
	h.stateMount = findStateMount(o.StateRoot, h.mounts, h.mountsErr)
	return h
}

func findStateMount(stateRoot string, mounts []mount, mountsErr error) stateMount {
	dir, err := existingAncestor(stateRoot)
	if err != nil {
		return stateMount{err: err}
	}
	if mountsErr != nil {
		return stateMount{dir: dir, err: mountsErr}
	}
	m := mountFor(mounts, dir)
	if m == nil {
		return stateMount{dir: dir, err: fmt.Errorf("no mount holds %s", dir)}
	}
	return stateMount{dir: dir, mount: m}
}

// existingAncestor returns path, or its nearest ancestor that exists, with
// symbolic links resolved so that it can be found in the mount table.
func existingAncestor(path string) (string, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	for {
		resolved, err := filepath.EvalSymlinks(p)
		if err == nil {
			return resolved, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resolve %s: %w", path, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", fmt.Errorf("resolve %s: %w", path, err)
		}
		p = parent
	}
}
