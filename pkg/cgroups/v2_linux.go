package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// v2Controllers are enabled for the container's cgroup when the root offers
// them, limits or not, so that Stats always has memory and pids counters.
// (CPU time, cpu.stat usage_usec, is kept by the cgroup core without the cpu
// controller.)
var v2Controllers = []string{"memory", "cpu", "pids"}

// v2 is a container's cgroup on a pure cgroup2 host: one directory.
type v2 struct {
	log    hclog.Logger
	root   string
	dir    string
	limits Limits
	enable []string // controllers to enable in the root's cgroup.subtree_control
}

func newV2(log hclog.Logger, root, name string, l Limits) (*v2, error) {
	file := filepath.Join(root, "cgroup.controllers")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read available cgroup controllers: %w", err)
	}
	available := strings.Fields(string(data))
	for _, n := range neededControllers(l) {
		if !slices.Contains(available, n.controller) {
			return nil, n.missing()
		}
	}
	m := &v2{log: log, root: root, dir: filepath.Join(root, name), limits: l}
	for _, c := range v2Controllers {
		if slices.Contains(available, c) {
			m.enable = append(m.enable, c)
		}
	}
	return m, nil
}

func (m *v2) Mode() Mode            { return ModeV2 }
func (m *v2) Path() string          { return m.dir }
func (m *v2) Hierarchies() []string { return nil }
func (m *v2) file(f string) string  { return filepath.Join(m.dir, f) }

func (m *v2) Create() error {
	// A child cgroup only gets the controllers its parent lists in
	// cgroup.subtree_control; systemd usually enables them, a bare host may not.
	if err := m.enableControllers(); err != nil {
		return err
	}
	if err := mkdirCgroup(m.dir); err != nil {
		return err
	}
	if err := applyWrites(m.log, m.dir, v2Writes(m.limits)); err != nil {
		// Leave nothing behind: a half-limited cgroup is no use to anyone.
		_ = removeTree(m.dir)
		return err
	}
	if m.limits.Devices != nil {
		start := time.Now()
		if err := attachDeviceProgram(m.dir, m.limits.Devices); err != nil {
			_ = removeTree(m.dir)
			return fmt.Errorf("apply device rules: %w", err)
		}
		m.log.Debug("device program attached", "rules", len(allowRules(m.limits.Devices)), "duration", time.Since(start))
	}
	return nil
}

func (m *v2) enableControllers() error {
	file := filepath.Join(m.root, "cgroup.subtree_control")
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read enabled cgroup controllers: %w", err)
	}
	enabled := strings.Fields(string(data))
	var add []string
	for _, c := range m.enable {
		if !slices.Contains(enabled, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return writeFile(file, strings.Join(add, " "))
}

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

func (m *v2) Kill() error {
	if _, err := os.Stat(m.dir); errors.Is(err, unix.ENOENT) {
		return nil
	}
	// cgroup.kill (Linux 5.14) kills the whole subtree at once, including
	// processes forked while it runs, which no loop in user space can promise.
	err := writeFile(m.file("cgroup.kill"), "1")
	switch {
	case err == nil:
		return m.waitEmpty(emptyTimeout)
	case !errors.Is(err, unix.ENOENT):
		return err
	}
	return m.killLoop()
}

// killLoop is Kill for kernels without cgroup.kill: signal whatever
// cgroup.procs lists until the cgroup is empty. A process forked between
// reading cgroup.procs and the kill is not in the list, and the cgroup then
// never becomes empty on its own; each round therefore waits only briefly for
// "populated 0" before listing the processes again.
func (m *v2) killLoop() error {
	deadline := time.Now().Add(emptyTimeout)
	for time.Now().Before(deadline) {
		pids, err := procsTree(m.dir)
		if err != nil {
			return err
		}
		if err := killAll(pids); err != nil {
			return err
		}
		err = m.waitEmpty(100 * time.Millisecond)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
	}
	return fmt.Errorf("kill processes in %s: %w", m.dir, os.ErrDeadlineExceeded)
}

// waitEmpty waits until cgroup.events says "populated 0". The kernel signals
// every change of that file as a modification, so an inotify watch wakes us
// instead of a polling sleep.
func (m *v2) waitEmpty(timeout time.Duration) error {
	events := m.file("cgroup.events")
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify_init1: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, events, unix.IN_MODIFY); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // the cgroup is gone, so it is empty
		}
		return &os.PathError{Op: "inotify_add_watch", Path: events, Err: err}
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for {
		// Read after the watch is in place, so a change between the read and
		// the poll still wakes the poll.
		kv, err := readKeyValueFile(events)
		if err != nil {
			return err
		}
		if kv["populated"] == 0 {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("wait for %s to be empty: %w", m.dir, os.ErrDeadlineExceeded)
		}
		// The kernel rate-limits cgroup.events notifications and delivers
		// them from a work queue; one was seen lost under emulation (a TCG
		// VM). Re-reading at least once a second bounds what a lost one costs.
		wake := min(left, time.Second)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(wake/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll inotify for %s: %w", events, err)
		}
		// Drain the events; their content does not matter, only that the
		// file changed.
		for {
			if _, err := unix.Read(fd, buf); err != nil {
				break
			}
		}
	}
}

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
	if err := m.waitEmpty(emptyTimeout); err != nil {
		return err
	}
	return removeTree(m.dir)
}
