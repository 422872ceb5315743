package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// v1 is a container's cgroup on a cgroup v1 (or hybrid) host: one directory
// in each hierarchy that carries a controller we use.
type v1 struct {
	log    hclog.Logger
	limits Limits
	// dirs maps a controller to the container's directory in its hierarchy.
	// Co-mounted controllers (cpu,cpuacct) map to the same directory.
	dirs map[string]string
	// hierarchies are the distinct directories of dirs, memory's first, in
	// the order they are created.
	hierarchies []string
}

func newV1(log hclog.Logger, name string, l Limits, mounts map[string]string) (*v1, error) {
	for _, n := range v1Needs(l) {
		if _, ok := mounts[n.controller]; !ok {
			return nil, n.missing()
		}
	}
	m := &v1{log: log, limits: l, dirs: map[string]string{}}
	for _, c := range v1Controllers { // memory comes first
		mnt, ok := mounts[c]
		if !ok {
			continue
		}
		// Without rules, a devices cgroup would only copy its parent's list:
		// not worth a directory, nor a hierarchy the container mounts.
		if c == "devices" && l.Devices == nil {
			continue
		}
		// Without a CPU limit, a CPU group of its own buys nothing (cpuacct
		// counts the time) and costs every start half a millisecond: the
		// forked init waits that long to be scheduled in a new task group.
		// Where cpu shares a hierarchy with cpuacct, it comes with cpuacct.
		if c == "cpu" && l.CPUQuotaUs == 0 && mnt != mounts["cpuacct"] {
			continue
		}
		dir := filepath.Join(mnt, name)
		m.dirs[c] = dir
		if !slices.Contains(m.hierarchies, dir) {
			m.hierarchies = append(m.hierarchies, dir)
		}
	}
	return m, nil
}

func (m *v1) Mode() Mode { return ModeV1 }

// Path is the memory hierarchy's directory, the one to look at for an OOM;
// without a memory controller, the first hierarchy.
func (m *v1) Path() string {
	if dir, ok := m.dirs["memory"]; ok {
		return dir
	}
	if len(m.hierarchies) > 0 {
		return m.hierarchies[0]
	}
	return "(no cgroup v1 controllers)"
}

// threadCgroups maps each of the container's hierarchy directories to the
// path, within that hierarchy, of the calling thread's own cgroup.
func (m *v1) threadCgroups() (map[string]string, error) {
	data, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, err
	}
	paths := parseProcCgroup(string(data))
	home := map[string]string{}
	for c, dir := range m.dirs {
		if p, ok := paths[c]; ok {
			home[dir] = p
		}
	}
	return home, nil
}

func (m *v1) Hierarchies() []string {
	var out []string
	for _, dir := range m.hierarchies {
		var controllers []string
		for _, c := range v1Controllers {
			if m.dirs[c] == dir {
				controllers = append(controllers, c)
			}
		}
		out = append(out, strings.Join(controllers, ","))
	}
	return out
}

func (m *v1) Create() error {
	for i, dir := range m.hierarchies {
		if err := mkdirCgroup(dir); err != nil {
			m.removeCreated(i)
			return err
		}
	}
	writes := v1Writes(m.limits)
	for _, c := range v1Controllers {
		if err := applyWrites(m.log, m.dirs[c], writes[c]); err != nil {
			m.removeCreated(len(m.hierarchies))
			return err
		}
	}
	return nil
}

// removeCreated undoes a failed Create: the first n hierarchies were made.
// They are empty, so the removal cannot be busy; its error would only hide
// the one that made Create fail.
func (m *v1) removeCreated(n int) {
	for _, dir := range m.hierarchies[:n] {
		_ = removeTree(dir)
	}
}

// Start moves the calling thread into the cgroup, forks cmd from it, and
// moves the thread back where it was. Writing "0" to a hierarchy's tasks file
// moves the current thread alone, which the kernel does without the global
// lock a process migration takes (and its grace period). A pids limit of 1
// would count the thread and the child both: then the child is moved instead.
//
// While cmd.Start runs, the thread is under the container's device rules
// too, and os/exec opens /dev/null for a nil Stdin, Stdout or Stderr: with
// rules that do not allow rw on /dev/null (1:3), give cmd all three.
func (m *v1) Start(cmd *exec.Cmd) error {
	if m.limits.Pids == 1 {
		if err := cmd.Start(); err != nil {
			return err
		}
		return m.Place(cmd.Process.Pid)
	}
	home, err := m.threadCgroups()
	if err != nil {
		return err
	}
	var moved []string // hierarchies the thread has entered
	defer func() {
		for _, dir := range moved {
			// Back to the thread's own cgroup, or the container's could not
			// be removed; a failure here is the host's cgroups misbehaving.
			back := filepath.Join(filepath.Dir(dir), home[dir])
			if err := writeFile(filepath.Join(back, "tasks"), "0"); err != nil {
				m.log.Error("move the supervisor thread back", "cgroup", back, "error", err)
			}
		}
	}()
	for _, dir := range m.hierarchies {
		if _, ok := home[dir]; !ok {
			return fmt.Errorf("start in cgroup: this thread's cgroup in the hierarchy of %s is unknown", dir)
		}
		if err := writeFile(filepath.Join(dir, "tasks"), "0"); err != nil {
			return err
		}
		moved = append(moved, dir)
	}
	return cmd.Start()
}

func (m *v1) Place(pid int) error {
	// A v1 process has one cgroup per hierarchy; it must be moved in each, or
	// it escapes the limits of the hierarchies it was not moved in.
	for _, dir := range m.hierarchies {
		if err := writeFile(filepath.Join(dir, "cgroup.procs"), fmt.Sprint(pid)); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1) Stats() (Stats, error) {
	var st Stats
	if dir, ok := m.dirs["memory"]; ok {
		oom, err := readKeyValueFile(filepath.Join(dir, "memory.oom_control"))
		if err != nil {
			return st, err
		}
		st.OOMKills = oom["oom_kill"] // Linux 4.13 and later
		if st.MemoryPeak, err = readUintFile(filepath.Join(dir, "memory.max_usage_in_bytes")); err != nil {
			return st, err
		}
	}
	if dir, ok := m.dirs["cpuacct"]; ok {
		ns, err := readUintFile(filepath.Join(dir, "cpuacct.usage"))
		if err != nil {
			return st, err
		}
		st.CPUTime = time.Duration(ns)
	}
	if dir, ok := m.dirs["pids"]; ok {
		var err error
		if st.PidsPeak, err = readUintFile(filepath.Join(dir, "pids.peak")); err != nil {
			return st, err
		}
		events, err := readKeyValueFile(filepath.Join(dir, "pids.events"))
		if err != nil {
			return st, err
		}
		st.PidsLimitHits = events["max"]
	}
	return st, nil
}

func (m *v1) Usage() (Usage, error) {
	var u Usage
	files := map[string]*uint64{}
	if dir, ok := m.dirs["memory"]; ok {
		files[filepath.Join(dir, "memory.usage_in_bytes")] = &u.MemoryUsage
		files[filepath.Join(dir, "memory.limit_in_bytes")] = &u.MemoryLimit
	}
	if dir, ok := m.dirs["pids"]; ok {
		files[filepath.Join(dir, "pids.current")] = &u.Pids
		files[filepath.Join(dir, "pids.max")] = &u.PidsLimit
	}
	var ns uint64
	if dir, ok := m.dirs["cpuacct"]; ok {
		files[filepath.Join(dir, "cpuacct.usage")] = &ns
	}
	if err := readUintFiles(files); err != nil {
		return u, err
	}
	u.CPUTime = time.Duration(ns)
	u.MemoryLimit = noLimit(u.MemoryLimit)
	return u, nil
}

// procs lists the processes in every hierarchy. They are normally the same,
// but a process may have been moved out of one by someone else.
func (m *v1) procs() ([]int, error) {
	var all []int
	for _, dir := range m.hierarchies {
		pids, err := procsTree(dir)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, p := range pids {
			if !slices.Contains(all, p) {
				all = append(all, p)
			}
		}
	}
	return all, nil
}

// Kill signals what cgroup.procs lists until it lists nothing, each process
// through a pidfd so that a PID reused by another process meanwhile is never
// signalled (killListed), and waits on the pidfds for the processes to exit
// before listing again. v1 has no cgroup.kill. Its freezer is no help:
// crate does not make the container's cgroup in the freezer hierarchy (one
// more directory per start, and what the container mounts), and the v1
// freezer sends no event when it reaches FROZEN, so waiting for it would be
// a polling loop. Without one, a process forked between the listing and
// the kill is not in the list; it is in the next round's, and a process
// that has received SIGKILL cannot fork any more, so the rounds end.
func (m *v1) Kill() error {
	deadline := time.Now().Add(emptyTimeout)
	for round := 1; ; round++ {
		pidfds, listed, err := killListed(m.procs)
		if err == nil && listed == 0 {
			m.log.Debug("cgroup empty", "kill_rounds", round-1)
			return nil
		}
		if err == nil {
			err = waitExited(pidfds, deadline)
		}
		if err == nil && time.Now().After(deadline) {
			err = os.ErrDeadlineExceeded
		}
		if err != nil {
			return fmt.Errorf("kill processes in %s: %w", m.Path(), err)
		}
	}
}

func (m *v1) Destroy() error {
	for _, dir := range m.hierarchies {
		err := retry(func() (bool, error) {
			err := removeTree(dir)
			if !errors.Is(err, unix.EBUSY) {
				return true, err
			}
			// EBUSY right after the last process died is the kernel still
			// detaching it; EBUSY with processes inside will not go away.
			pids, perr := procsTree(dir)
			if perr != nil {
				return true, perr
			}
			if len(pids) > 0 {
				return true, fmt.Errorf("%w (%d processes still inside; Kill first)", err, len(pids))
			}
			return false, nil
		}, "remove "+dir)
		if err != nil {
			return err
		}
	}
	return nil
}

// retry calls try until it reports done, with a backoff from 1 ms up to
// 100 ms, for at most emptyTimeout. It is only for cgroup v1, where there is
// no event to wait on: v1 has no per-cgroup "populated" event (its only
// notice of an empty cgroup is the host-wide release_agent).
func retry(try func() (done bool, err error), what string) error {
	deadline := time.Now().Add(emptyTimeout)
	backoff := time.Millisecond
	for {
		done, err := try()
		if done || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", what, os.ErrDeadlineExceeded)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}
