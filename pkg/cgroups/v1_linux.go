package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1 is a container's cgroup on a cgroup v1 (or hybrid) host: one directory
// in each hierarchy that carries a controller we use.
type v1 struct {
	log hclog.Logger
	res *specs.LinuxResources
	rel string // the cgroup's path below each mount point
	// mounted maps every v1 controller crate knows that the host mounts to
	// its hierarchy's mount point.
	mounted map[string]string
	// dirs maps a controller to the container's directory in its hierarchy.
	// Co-mounted controllers (cpu,cpuacct) map to the same directory.
	dirs map[string]string
	// hierarchies are the distinct directories of dirs, memory's first, in
	// the order they are created.
	hierarchies []string
	// pidsOne: a pids limit of 1, which Start cannot step in under.
	pidsOne bool
}

// v1Counters are the hierarchies a cgroup is always in, when mounted, for
// Stats and Usage.
var v1Counters = []string{"memory", "cpuacct", "pids"}

func newV1(log hclog.Logger, rel string, r *specs.LinuxResources, all bool, mounts map[string]string) (*v1, error) {
	writes, err := v1Writes(r)
	if err != nil {
		return nil, err
	}
	if err := checkV1Controllers(writes, mounts); err != nil {
		return nil, err
	}
	m := &v1{log: log, res: r, rel: rel, mounted: mounts, dirs: map[string]string{},
		pidsOne: r != nil && r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit == 1}
	// The hierarchies to be in. Without a CPU limit, a CPU group of its own
	// buys nothing (cpuacct counts the time) and costs every start half a
	// millisecond: the forked init waits that long to be scheduled in a new
	// task group. Without rules, a devices cgroup would only copy its
	// parent's list: not worth a directory, nor a hierarchy the container
	// mounts.
	joined := map[string]bool{} // mount points
	for _, c := range v1Controllers {
		mnt, ok := mounts[c]
		if ok && (all || slices.Contains(v1Counters, c) || len(writes[c]) > 0) {
			joined[mnt] = true
		}
	}
	// A controller co-mounted with one of those (cpu with cpuacct) comes
	// with it: the hierarchy is mounted by both names.
	for _, c := range v1Controllers { // memory comes first
		mnt, ok := mounts[c]
		if !ok || !joined[mnt] {
			continue
		}
		dir := filepath.Join(mnt, rel)
		m.dirs[c] = dir
		if !slices.Contains(m.hierarchies, dir) {
			m.hierarchies = append(m.hierarchies, dir)
		}
	}
	return m, nil
}

// checkV1Controllers refuses writes to a controller the host does not mount.
func checkV1Controllers(writes map[string][]write, mounts map[string]string) error {
	for _, c := range v1Controllers {
		for _, w := range writes[c] {
			if _, ok := mounts[c]; !ok && !w.optional {
				resource := w.resource
				if c == "devices" {
					resource = "devices"
				}
				return &MissingControllerError{Controller: c, Resource: resource}
			}
		}
	}
	return nil
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

// mountOf is the mount point of the hierarchy of dir, one of m.hierarchies.
func (m *v1) mountOf(dir string) string {
	return strings.TrimSuffix(dir, "/"+m.rel)
}

func (m *v1) Create() error {
	for i, dir := range m.hierarchies {
		cpuset := dir == m.dirs["cpuset"]
		err := mkdirAncestors(m.mountOf(dir), m.rel, func(a string) error {
			if cpuset {
				return fillCpuset(a)
			}
			return nil
		})
		if err == nil {
			err = mkdirCgroup(dir)
		}
		if err != nil {
			m.removeCreated(i) // not dir: it may be another's leftover
			return err
		}
		if cpuset {
			if err := fillCpuset(dir); err != nil {
				m.removeCreated(i + 1)
				return err
			}
		}
	}
	writes, err := v1Writes(m.res)
	if err == nil {
		err = m.apply(writes)
	}
	if err != nil {
		m.removeCreated(len(m.hierarchies))
		return err
	}
	return nil
}

// apply performs writes in the container's directories.
func (m *v1) apply(writes map[string][]write) error {
	for _, c := range v1Controllers {
		if len(writes[c]) == 0 {
			continue
		}
		dir, ok := m.dirs[c]
		if !ok {
			if _, mounted := m.mounted[c]; mounted {
				return &NotInHierarchyError{Controller: c}
			}
			// Only optional writes reach here (checkV1Controllers).
			continue
		}
		if err := applyWrites(m.log, dir, writes[c]); err != nil {
			return err
		}
	}
	return nil
}

// fillCpuset gives a new cpuset cgroup its parent's CPUs and memory nodes:
// v1 makes it with none, and no process can join a cpuset without them.
func fillCpuset(dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(cur)) != "" {
			continue
		}
		parent, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, f), strings.TrimSpace(string(parent))); err != nil {
			return err
		}
	}
	return nil
}

// Update writes r's limits. Device rules are left as Create wrote them
// (runc's update does not take them either).
func (m *v1) Update(r *specs.LinuxResources) error {
	if err := Validate(r); err != nil {
		return err
	}
	if r == nil {
		return nil
	}
	noDevices := *r
	noDevices.Devices = nil
	writes, err := v1Writes(&noDevices)
	if err != nil {
		return err
	}
	if err := checkV1Controllers(writes, m.mounted); err != nil {
		return err
	}
	if dir, ok := m.dirs["memory"]; ok && len(writes["memory"]) > 0 {
		cur, err := readUintFile(filepath.Join(dir, "memory.limit_in_bytes"))
		if err != nil {
			return err
		}
		writes["memory"] = memswFirstWhenGrowing(writes["memory"], cur)
	}
	if err := m.apply(writes); err != nil {
		return err
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		m.pidsOne = *r.Pids.Limit == 1
	}
	return nil
}

// memswFirstWhenGrowing orders the memory writes of an update: memsw must
// stay >= memory.limit at every moment, so a limit that grows past the
// current one (cur, in bytes) needs memsw raised first, and one that shrinks
// needs the limit lowered first, which is v1Writes' order.
func memswFirstWhenGrowing(ws []write, cur uint64) []write {
	li := slices.IndexFunc(ws, func(w write) bool { return w.file == "memory.limit_in_bytes" })
	si := slices.IndexFunc(ws, func(w write) bool { return w.file == "memory.memsw.limit_in_bytes" })
	if li < 0 || si < 0 {
		return ws
	}
	limit, err := strconv.ParseInt(ws[li].value, 10, 64)
	if err != nil || (limit >= 0 && uint64(limit) <= cur) {
		return ws
	}
	out := slices.Clone(ws)
	out[li], out[si] = ws[si], ws[li]
	return out
}

// freezerState is the freezer.state file, or a *NotInHierarchyError.
func (m *v1) freezerState() (string, error) {
	dir, ok := m.dirs["freezer"]
	if !ok {
		return "", &NotInHierarchyError{Controller: "freezer"}
	}
	return filepath.Join(dir, "freezer.state"), nil
}

// Freeze asks for FROZEN until the kernel reports it. v1 has no event for
// it: retry polls, and the write is repeated because the kernel freezes the
// tasks it finds at each write, and one forked during the last may be
// missed.
func (m *v1) Freeze() error {
	file, err := m.freezerState()
	if err != nil {
		return err
	}
	err = retry(func() (bool, error) {
		if err := writeFile(file, "FROZEN"); err != nil {
			return true, err
		}
		state, err := os.ReadFile(file)
		return strings.TrimSpace(string(state)) == "FROZEN", err
	}, "freeze "+filepath.Dir(file))
	if err != nil {
		// Half frozen is of no use to anyone.
		_ = writeFile(file, "THAWED")
	}
	return err
}

// Thaw is immediate on v1: the write returns with the tasks woken.
func (m *v1) Thaw() error {
	file, err := m.freezerState()
	if err != nil {
		return err
	}
	return writeFile(file, "THAWED")
}

func (m *v1) Frozen() (bool, error) {
	file, err := m.freezerState()
	if err != nil {
		return false, nil
	}
	state, err := os.ReadFile(file)
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(state)) == "FROZEN", nil
}

func (m *v1) Pids() ([]int, error) { return m.procs() }

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
	if m.pidsOne {
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
			back := filepath.Join(m.mountOf(dir), home[dir])
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
// crate run does not make the container's cgroup in the freezer hierarchy
// (one more directory per start, and what the container mounts), and the v1
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
			err = m.thawKilled()
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

// thawKilled thaws a cgroup in the freezer hierarchy after its processes
// were sent SIGKILL: a task the v1 freezer holds does not act on the signal,
// nor exit, until it is thawed (unlike v2's). Thawed after the signal, none
// runs a user-space instruction again.
func (m *v1) thawKilled() error {
	dir, ok := m.dirs["freezer"]
	if !ok {
		return nil
	}
	err := writeFile(filepath.Join(dir, "freezer.state"), "THAWED")
	if errors.Is(err, unix.ENOENT) {
		return nil // removed meanwhile: nothing to thaw
	}
	return err
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
