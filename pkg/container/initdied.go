package container

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// What a container's start needs at the least, whatever its command: the
// memory and the tasks crate-init uses until it has executed the command.
// scripts/bench.sh measures both (part 5: the smallest limit under which
// /bin/true starts 100 times of 100, bisected in 64 KiB steps; see
// docs/benchmarks.md); these are that figure and a step or a task more, so
// that a kernel that accounts a little more still starts, and crate run
// refuses a limit below them.
const (
	MinMemoryBytes = 1536 << 10
	MinPids        = 6
)

// InitDiedError is a start that failed because crate-init ended before the
// command started without saying why: a signal killed it (the OOM killer's
// is SIGKILL), or its Go runtime ended it (exit code 2), as it does when the
// pids limit refuses it a thread. The container's cgroup tells which limit,
// if any, was in the way.
type InitDiedError struct {
	Signal      syscall.Signal // the signal that killed crate-init, or 0
	ExitCode    int            // crate-init's exit code, if no signal killed it
	OOMKilled   bool           // the OOM killer of the container's cgroup killed it
	MemoryLimit int64          // the cgroup's memory limit then, in bytes; 0 for none
	PidsLimited bool           // the pids limit refused crate-init a thread or a process
	PidsLimit   int64          // the cgroup's pids limit then; 0 for none
}

func (e *InitDiedError) Error() string {
	switch {
	case e.OOMKilled && e.MemoryLimit == 0:
		return "crate-init was OOM-killed before the command started, with no memory limit: the host is out of memory"
	case e.OOMKilled:
		return fmt.Sprintf("crate-init was OOM-killed before the command started (memory limit %d bytes; a start needs about %d)",
			e.MemoryLimit, MinMemoryBytes)
	case e.PidsLimited:
		return fmt.Sprintf("crate-init ended before the command started: the pids limit of %d refused it a thread (a start needs %d)",
			e.PidsLimit, MinPids)
	case e.Signal != 0:
		return fmt.Sprintf("crate-init was killed by %s before the command started", unix.SignalName(e.Signal))
	}
	return fmt.Sprintf("crate-init exited with code %d before the command started", e.ExitCode)
}
