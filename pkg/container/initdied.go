package container

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Floor is what a container's start needs at the least, whatever its
// command: the memory and the tasks crate-init uses until it has executed
// the command, and, with --init, while it stays beside the command as its
// parent.
type Floor struct {
	MemoryBytes int64
	Pids        int64
}

// StartFloor returns the floor of a start with --init (init) or without.
// scripts/bench.sh measures both (part 5: the smallest limits under which
// /bin/true starts 100 times of 100, memory bisected in 64 KiB steps; see
// docs/benchmarks.md); these are those figures and a step or a task more,
// so that a kernel that accounts a little more still starts. crate run
// refuses a limit below them.
func StartFloor(init bool) Floor {
	if init {
		return Floor{MemoryBytes: 1728 << 10, Pids: 10}
	}
	return Floor{MemoryBytes: 1536 << 10, Pids: 6}
}

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
	Floor       Floor          // what a start of this kind needs
}

func (e *InitDiedError) Error() string {
	switch {
	case e.OOMKilled && e.MemoryLimit == 0:
		return "crate-init was OOM-killed before the command started, with no memory limit: the host is out of memory"
	case e.OOMKilled:
		return fmt.Sprintf("crate-init was OOM-killed before the command started (memory limit %d bytes; a start needs about %d)",
			e.MemoryLimit, e.Floor.MemoryBytes)
	case e.PidsLimited:
		return fmt.Sprintf("crate-init ended before the command started: the pids limit of %d refused it a thread (a start needs %d)",
			e.PidsLimit, e.Floor.Pids)
	case e.Signal != 0:
		return fmt.Sprintf("crate-init was killed by %s before the command started", unix.SignalName(e.Signal))
	}
	return fmt.Sprintf("crate-init exited with code %d before the command started", e.ExitCode)
}
