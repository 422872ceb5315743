package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v2Controllers are enabled for the container's cgroup when the root offers
// them, limits or not, so that Stats always has memory and pids counters;
// those the resources need come on top.
// (CPU time, cpu.stat usage_usec, is kept by the cgroup core without the cpu
// controller.)
var v2Controllers = []string{"memory", "cpu", "pids"}

// v2 is a container's cgroup on a pure cgroup2 host: one directory.
type v2 struct {
	log       hclog.Logger
	root      string
	rel       string // the cgroup's path below root
	dir       string
	res       *specs.LinuxResources
	available []string // the root's cgroup.controllers
	// enable are the controllers to enable in cgroup.subtree_control of the
	// root and of every ancestor, so that the cgroup has them.
	enable []string
	// writeFile is the package's writeFile, for Kill's writes: a test wraps
	// it to see which way Kill took (cgroup.kill, or the freezer).
	writeFile func(path, value string) error
}

func newV2(log hclog.Logger, root, rel string, r *specs.LinuxResources) (*v2, error) {
	file := filepath.Join(root, "cgroup.controllers")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read available cgroup controllers: %w", err)
	}
	m := &v2{log: log, root: root, rel: rel, dir: filepath.Join(root, rel), res: r,
		available: strings.Fields(string(data)), writeFile: writeFile}
	needed, err := m.check(r)
	if err != nil {
		return nil, err
	}
	for _, c := range append(slices.Clone(v2Controllers), needed...) {
		if slices.Contains(m.available, c) && !slices.Contains(m.enable, c) {
			m.enable = append(m.enable, c)
		}
	}
	return m, nil
}

// check converts r and refuses it if a write needs a controller the root
// does not offer; it returns the controllers the writes need.
func (m *v2) check(r *specs.LinuxResources) ([]string, error) {
	writes, err := v2Writes(r)
	if err != nil {
		return nil, err
	}
	if r != nil {
		if err := checkUnified(r.Unified, m.available); err != nil {
			return nil, err
		}
	}
	var needed []string
	for _, w := range writes {
		c := controllerOf(w.file)
		if slices.Contains(needed, c) {
			continue
		}
		if !slices.Contains(m.available, c) {
			if w.optional {
				continue
			}
			return nil, &MissingControllerError{Controller: c, Resource: w.resource}
		}
		needed = append(needed, c)
	}
	return needed, nil
}

func (m *v2) Mode() Mode            { return ModeV2 }
func (m *v2) Path() string          { return m.dir }
func (m *v2) Hierarchies() []string { return nil }
func (m *v2) file(f string) string  { return filepath.Join(m.dir, f) }

func (m *v2) Create() error {
	// A child cgroup only gets the controllers its parent lists in
	// cgroup.subtree_control; systemd usually enables them in the root, a
	// bare host may not, and an engine's parent cgroups (/kubepods/...)
	// are ours to set up when they do not exist yet.
	if err := m.enableControllers(); err != nil {
		return err
	}
	if err := mkdirCgroup(m.dir); err != nil {
		return err
	}
	writes, err := v2Writes(m.res)
	if err == nil {
		err = applyWrites(m.log, m.dir, writes)
	}
	if err != nil {
		// Leave nothing behind: a half-limited cgroup is no use to anyone.
		_ = removeTree(m.dir)
		return err
	}
	if m.res != nil && m.res.Devices != nil {
		start := time.Now()
		if err := attachDeviceProgram(m.dir, m.res.Devices); err != nil {
			_ = removeTree(m.dir)
			return fmt.Errorf("apply device rules: %w", err)
		}
		m.log.Debug("device program attached", "rules", len(allowRules(m.res.Devices)), "duration", time.Since(start))
	}
	return nil
}

// enableControllers enables m.enable from the root down to the cgroup's
// parent, making the ancestors that do not exist yet.
func (m *v2) enableControllers() error {
	if err := enableIn(m.root, m.enable); err != nil {
		return err
	}
	return mkdirAncestors(m.root, m.rel, func(dir string) error { return enableIn(dir, m.enable) })
}

// enableIn enables the controllers in dir's cgroup.subtree_control, those
// not enabled already: a write is refused (EBUSY) when dir has processes
// of its own, which a parent the caller chose must not.
func enableIn(dir string, controllers []string) error {
	file := filepath.Join(dir, "cgroup.subtree_control")
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read enabled cgroup controllers: %w", err)
	}
	enabled := strings.Fields(string(data))
	var add []string
	for _, c := range controllers {
		if !slices.Contains(enabled, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return writeFile(file, strings.Join(add, " "))
}

// Update writes r's limits, after enabling any controller they need that
// Create did not. Device rules stay those of Create: runc's update does not
// take them either.
func (m *v2) Update(r *specs.LinuxResources) error {
	if err := Validate(r); err != nil {
		return err
	}
	needed, err := m.check(r)
	if err != nil {
		return err
	}
	for _, c := range needed {
		if !slices.Contains(m.enable, c) {
			m.enable = append(m.enable, c)
		}
	}
	if err := m.enableControllers(); err != nil {
		return err
	}
	writes, err := v2Writes(r)
	if err != nil {
		return err
	}
	return applyWrites(m.log, m.dir, writes)
}

// Freeze writes cgroup.freeze and waits until cgroup.events says the whole
// subtree is frozen: a task is frozen only once it leaves the kernel.
func (m *v2) Freeze() error { return m.setFrozen(1) }

// Thaw undoes Freeze, and waits until cgroup.events says so.
func (m *v2) Thaw() error { return m.setFrozen(0) }

func (m *v2) setFrozen(want uint64) error {
	events, err := openEvents(m.dir)
	if err != nil {
		return err
	}
	defer events.Close()
	if err := m.writeFile(m.file("cgroup.freeze"), strconv.FormatUint(want, 10)); err != nil {
		return err
	}
	deadline := time.Now().Add(emptyTimeout)
	for {
		kv, err := events.read()
		if err != nil {
			return err
		}
		if kv["frozen"] == want {
			return nil
		}
		if err := events.wait(deadline); err != nil {
			return fmt.Errorf("wait for %s to be frozen=%d: %w", m.dir, want, err)
		}
	}
}

func (m *v2) Frozen() (bool, error) {
	kv, err := readKeyValueFile(m.file("cgroup.events"))
	if err != nil {
		return false, err
	}
	return kv["frozen"] == 1, nil
}

func (m *v2) Pids() ([]int, error) { return procsTree(m.dir) }

// Start uses clone3's CLONE_INTO_CGROUP (Linux 5.7) through a descriptor of
// the cgroup's directory; on an older kernel it falls back to a migration.
func (m *v2) Start(cmd *exec.Cmd) error {
	fd, err := unix.Open(m.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: m.dir, Err: err}
	}
	defer unix.Close(fd)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	err = cmd.Start()
	if !errors.Is(err, unix.ENOSYS) {
		return err
	}
	cmd.SysProcAttr.UseCgroupFD = false
	m.log.Debug("clone3 missing: starting the process, then moving it into the cgroup")
	cmd.Process, cmd.ProcessState = nil, nil
	if err := cmd.Start(); err != nil {
		return err
	}
	return m.Place(cmd.Process.Pid)
}

func (m *v2) Place(pid int) error {
	return writeFile(m.file("cgroup.procs"), fmt.Sprint(pid))
}

func (m *v2) Stats() (Stats, error) {
	var st Stats
	events, err := readKeyValueFile(m.file("memory.events"))
	if err != nil {
		return st, err
	}
	st.OOMKills = events["oom_kill"]
	if st.MemoryPeak, err = readUintFile(m.file("memory.peak")); err != nil {
		return st, err
	}
	cpu, err := readKeyValueFile(m.file("cpu.stat"))
	if err != nil {
		return st, err
	}
	st.CPUTime = time.Duration(cpu["usage_usec"]) * time.Microsecond
	if st.PidsPeak, err = readUintFile(m.file("pids.peak")); err != nil {
		return st, err
	}
	pids, err := readKeyValueFile(m.file("pids.events"))
	if err != nil {
		return st, err
	}
	st.PidsLimitHits = pids["max"]
	return st, nil
}

func (m *v2) Usage() (Usage, error) {
	var u Usage
	cpu, err := readKeyValueFile(m.file("cpu.stat"))
	if err != nil {
		return u, err
	}
	u.CPUTime = time.Duration(cpu["usage_usec"]) * time.Microsecond
	return u, readUintFiles(map[string]*uint64{m.file("memory.current"): &u.MemoryUsage, m.file("memory.max"): &u.MemoryLimit,
		m.file("pids.current"): &u.Pids, m.file("pids.max"): &u.PidsLimit})
}

// Kill kills every process in the cgroup and its descendants, and returns
// once the cgroup is empty.
func (m *v2) Kill() error {
	if _, err := os.Stat(m.dir); errors.Is(err, unix.ENOENT) {
		return nil
	}
	deadline := time.Now().Add(emptyTimeout)
	// cgroup.kill (Linux 5.14) kills the whole subtree at once, in the
	// kernel, including processes forked while it runs: no PID passes
	// through user space, so none can be a reused one.
	err := m.writeFile(m.file("cgroup.kill"), "1")
	switch {
	case err == nil:
		return m.waitEmpty(deadline)
	case !errors.Is(err, unix.ENOENT):
		return err
	}
	return m.freezeAndKill(deadline)
}

// freezeAndKill is Kill for kernels without cgroup.kill (crate runs from
// 5.12; cgroup.freeze is 5.2). It freezes the cgroup and waits until
// cgroup.events says "frozen 1": from then on no process of the cgroup can
// fork, nor exit on its own, so what cgroup.procs lists stays what is there.
// It kills that (through pidfds: see killListed, for what may still come and
// go from outside), waits for the processes to exit, and does it again as
// long as the cgroup is populated: a process may still arrive (crate exec,
// or a migration), and it arrives frozen. It thaws the cgroup at the end.
func (m *v2) freezeAndKill(deadline time.Time) (err error) {
	events, err := openEvents(m.dir)
	if errors.Is(err, unix.ENOENT) {
		return nil // removed since Kill looked: nothing left to kill
	}
	if err != nil {
		return err
	}
	defer events.Close()
	freeze := m.file("cgroup.freeze")
	if err := m.writeFile(freeze, "1"); err != nil {
		return err
	}
	defer func() {
		// Thawed whatever happened, so that a failed Kill leaves no frozen
		// processes behind.
		if terr := m.writeFile(freeze, "0"); terr != nil && err == nil {
			err = terr
		}
	}()
	for round := 1; ; round++ {
		kv, err := events.read()
		if err != nil {
			return err
		}
		if kv["populated"] == 0 {
			m.log.Debug("cgroup empty", "kill_rounds", round-1)
			return nil
		}
		if kv["frozen"] == 1 {
			pidfds, _, err := killListed(func() ([]int, error) { return procsTree(m.dir) })
			if err != nil {
				return fmt.Errorf("kill processes in %s: %w", m.dir, err)
			}
			if len(pidfds) > 0 {
				// A SIGKILL ends a frozen process too.
				if err := waitExited(pidfds, deadline); err != nil {
					return fmt.Errorf("kill processes in %s: %w", m.dir, err)
				}
				continue
			}
		}
		// Not frozen yet (or again, after a process arrived), or nothing to
		// signal: wait until cgroup.events changes.
		if err := events.wait(deadline); err != nil {
			return fmt.Errorf("freeze and kill %s: %w", m.dir, err)
		}
	}
}

// waitEmpty waits until cgroup.events says "populated 0", or until deadline.
func (m *v2) waitEmpty(deadline time.Time) error {
	events, err := openEvents(m.dir)
	if errors.Is(err, unix.ENOENT) {
		return nil // the cgroup is gone, so it is empty
	}
	if err != nil {
		return err
	}
	defer events.Close()
	for {
		kv, err := events.read()
		if err != nil {
			return err
		}
		if kv["populated"] == 0 {
			return nil
		}
		if err := events.wait(deadline); err != nil {
			return fmt.Errorf("wait for %s to be empty: %w", m.dir, err)
		}
	}
}

// eventsFile is a cgroup's cgroup.events, kept open to be read and waited
// on. The kernel counts the changes of the file; poll(2) on an open file
// reports POLLPRI once one has come since the file was last read through it.
// So a change between a read and the wait that follows still ends the wait:
// none is missed, and no sleep is needed.
type eventsFile struct {
	path string
	fd   int
}

func openEvents(dir string) (*eventsFile, error) {
	path := filepath.Join(dir, "cgroup.events")
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &eventsFile{path: path, fd: fd}, nil
}

// read reads the file from its start ("populated 1", "frozen 0").
func (e *eventsFile) read() (map[string]uint64, error) {
	buf := make([]byte, 512)
	n, err := unix.Pread(e.fd, buf, 0)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: e.path, Err: err}
	}
	kv, err := parseKeyValues(bytes.NewReader(buf[:n]))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", e.path, err)
	}
	return kv, nil
}

// wait returns once the file has changed since it was last read, or with
// os.ErrDeadlineExceeded at deadline.
func (e *eventsFile) wait(deadline time.Time) error {
	left := time.Until(deadline)
	if left <= 0 {
		return os.ErrDeadlineExceeded
	}
	// The kernel wakes pollers as it counts the change (the rate limit on
	// cgroup.events notifications delays one with a timer, never drops it).
	// Returning at least once a second anyway, for the caller to read again,
	// bounds what a notification lost to a kernel bug would cost: one was
	// once seen lost under emulation (a TCG VM), through inotify, which the
	// kernel notifies from a work queue.
	wake := min(left, time.Second)
	fds := []unix.PollFd{{Fd: int32(e.fd), Events: unix.POLLPRI}}
	if _, err := unix.Poll(fds, int(wake/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("poll %s: %w", e.path, err)
	}
	return nil
}

func (e *eventsFile) Close() { unix.Close(e.fd) }

func (m *v2) Destroy() error {
	err := removeTree(m.dir)
	if !errors.Is(err, unix.EBUSY) {
		return err
	}
	// EBUSY: processes are inside, or the last ones have exited but the
	// kernel has not yet taken them off the cgroup. Only the second is worth
	// waiting for.
	pids, perr := procsTree(m.dir)
	if perr != nil {
		return perr
	}
	if len(pids) > 0 {
		return fmt.Errorf("%w (%d processes still inside; Kill first)", err, len(pids))
	}
	if err := m.waitEmpty(time.Now().Add(emptyTimeout)); err != nil {
		return err
	}
	return removeTree(m.dir)
}
