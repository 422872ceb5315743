package profile

import (
	"encoding/binary"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/seccomp"
)

// initCalls are what crate-init does once it has installed the filter: drop
// capabilities and check what is left, switch user, set no_new_privs, read
// /etc/passwd, report to the supervisor, close descriptors and execute the
// command, or for crate exec and --init fork it and wait for it; and what the
// Go runtime does meanwhile (threads, signals, memory). A profile that refuses
// one of them would kill init before the command runs, with nothing to say
// why: Load refuses such a profile instead (checkInitCalls).
var initCalls = []struct {
	name string
	args [6]uint64
}{
	{"prctl", [6]uint64{unix.PR_CAPBSET_DROP}}, {"prctl", [6]uint64{unix.PR_CAPBSET_READ}}, {"prctl", [6]uint64{unix.PR_CAP_AMBIENT}},
	{"prctl", [6]uint64{unix.PR_SET_NO_NEW_PRIVS}}, {"prctl", [6]uint64{unix.PR_SET_PDEATHSIG}},
	{"capget", [6]uint64{}}, {"capset", [6]uint64{}},
	{"setgroups", [6]uint64{}}, {"setgid", [6]uint64{}}, {"setuid", [6]uint64{}}, {"setresgid", [6]uint64{}}, {"setresuid", [6]uint64{}},
	{"openat", [6]uint64{}}, {"openat2", [6]uint64{}}, {"read", [6]uint64{}}, {"fstat", [6]uint64{}}, {"newfstatat", [6]uint64{}}, {"faccessat2", [6]uint64{}},
	{"write", [6]uint64{}}, {"sendmsg", [6]uint64{}}, {"fcntl", [6]uint64{}}, {"close", [6]uint64{}}, {"close_range", [6]uint64{}},
	{"execve", [6]uint64{}}, {"execveat", [6]uint64{}}, {"exit_group", [6]uint64{}},
	{"clone", [6]uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD}},
	{"clone", [6]uint64{uint64(unix.SIGCHLD)}}, {"clone", [6]uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}},
	{"pipe2", [6]uint64{}}, {"wait4", [6]uint64{}}, {"kill", [6]uint64{}}, {"setpgid", [6]uint64{}},
	{"getpid", [6]uint64{}}, {"getppid", [6]uint64{}}, {"ioctl", [6]uint64{0, unix.TIOCSPGRP}},
	{"futex", [6]uint64{}}, {"mmap", [6]uint64{}}, {"madvise", [6]uint64{}},
	{"rt_sigaction", [6]uint64{}}, {"rt_sigprocmask", [6]uint64{}}, {"rt_sigreturn", [6]uint64{}}, {"sigaltstack", [6]uint64{}},
	{"tgkill", [6]uint64{}}, {"gettid", [6]uint64{}}, {"sched_yield", [6]uint64{}}, {"nanosleep", [6]uint64{}},
}

// checkInitCalls returns an error naming the first of initCalls that p does
// not let through on this machine.
func checkInitCalls(p seccomp.Program) error {
	if len(machineABIs) == 0 {
		return nil // no tables here: Compile has refused already
	}
	native := machineABIs[0]
	for _, c := range initCalls {
		i := slices.IndexFunc(native.table.calls, func(n syscallNumber) bool { return syscallNames[n.name] == c.name })
		if i < 0 {
			continue // not a call on this machine (fstat on arm64)
		}
		ret, err := runProgram(p, native.table.calls[i].nr, native.audit, c.args)
		if err != nil {
			return err
		}
		switch ret & unix.SECCOMP_RET_ACTION_FULL {
		case unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_LOG:
		default:
			return fmt.Errorf("it refuses %s, which crate-init needs once the filter is on (to drop privileges and execute the command)", c.name)
		}
	}
	return nil
}

// runProgram runs p on one system call as the kernel does, for the instructions
// Compile writes, and returns what p returns.
func runProgram(p seccomp.Program, nr, arch uint32, args [6]uint64) (uint32, error) {
	var data [64]byte // struct seccomp_data
	binary.LittleEndian.PutUint32(data[offsetNr:], nr)
	binary.LittleEndian.PutUint32(data[offsetArch:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[offsetArgs+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(p); pc++ {
		in := p[pc]
		var cond bool
		switch in.Code {
		case opLoad:
			acc = binary.LittleEndian.Uint32(data[in.K:])
			continue
		case opAnd:
			acc &= in.K
			continue
		case opJump:
			pc += int(in.K)
			continue
		case opReturn:
			return in.K, nil
		case opJumpEq:
			cond = acc == in.K
		case opJumpGt:
			cond = acc > in.K
		case opJumpGe:
			cond = acc >= in.K
		case opJumpSet:
			cond = acc&in.K != 0
		default:
			return 0, fmt.Errorf("instruction %d: unknown opcode %#x", pc, in.Code)
		}
		if cond {
			pc += int(in.Jt)
		} else {
			pc += int(in.Jf)
		}
	}
	return 0, fmt.Errorf("the program runs off its end")
}
