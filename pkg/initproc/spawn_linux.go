package initproc

// For crate exec, init starts the command in the container as its child
// (see join_linux.go). How it forks matters. syscall.ForkExec, and everything
// of the standard library that starts a process, forks with CLONE_VM: the
// child runs on init's own memory until it execs, and it is born in the
// container's PID namespace, where anything with CAP_SYS_PTRACE could stop
// it in that window and write, through it, into init, which sits in the
// host's PID namespace. So init forks for real here, with fork's copy of its
// memory, and the child does nothing but system calls until it execs:
//
//  1. close every descriptor but the standard streams and the error pipe,
//     so that none of init's is in reach while the child can be seen;
//  2. ask for SIGKILL when init dies, and leave at once if it already has;
//  3. a process group of its own, the terminal's foreground one with -t;
//  4. every signal back to its default action, then none blocked (init
//     blocked them all across the fork);
//  5. execve; on a failure at any step, write the step and the errno to
//     the error pipe and exit.
//
// The child is a copy of a Go program that only has one thread, so it must
// not run Go's runtime: forkExec is nosplit (no stack growth), allocates
// nothing and calls nothing but raw system calls, the way the standard
// library's own fork child does. That it already holds the container's
// root, user, capabilities and seccomp filter is init's doing before the
// fork: those of the thread that forks are the child's.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/initlog"
	"github.com/crate-run/crate/pkg/initsync"
)

// runJoined starts the command as init's child, inside the container, and
// watches over it until it ends, forwarding every signal init gets to it;
// then it ends init with the command's exit code, as runAsInit does. It
// returns only if the command could not be started: at step initsync.StepExec with an
// *ExecError as execCommand's, or, if the fork itself failed (the pids
// limit), at a step of its own.
func runJoined(log *initlog.Logger, args, env []string, terminal, detach, console bool, sync *initsync.Channel) (step string, err error) {
	// Caught before the command exists, as in runAsInit.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	path, err := lookPath(args[0], env)
	if err != nil {
		return initsync.StepExec, err
	}
	pid, err := spawn(path, args, env, terminal, detach, console)
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return initsync.StepExec, diagnoseExec(path, errno)
	}
	if err != nil {
		return "start the command", err
	}
	log.Debug("init started the command in the container", "pid", pid)
	if detach {
		// OCI exec --detach: the command is the caller's now (init's
		// parent's subreaper inherits it), as runc leaves it.
		sync.ExecutingPid(pid)
		sync.Close()
		os.Exit(0)
	}
	letGo(sync, nil, pid)
	code := supervise(pid, sigs)
	runtime.KeepAlive(log) // see runAsInit
	os.Exit(code)
	panic("unreachable")
}

// spawn forks the calling thread (see the top of this file) and executes
// path in the child. It returns the child's PID once execve has succeeded,
// or execve's errno as a bare syscall.Errno (any other error is not
// execve's).
func spawn(path string, argv, envv []string, foreground, detach, session bool) (int, error) {
	path0, err := syscall.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return 0, err
	}
	envvp, err := syscall.SlicePtrFromStrings(envv)
	if err != nil {
		return 0, err
	}
	// The child writes execve's errno here; the write end closes at a
	// successful execve, and the parent reads EOF.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, os.NewSyscallError("pipe2", err)
	}
	// Every signal blocked across the fork on this thread: a handler of
	// Go's must never run in the child (it resets them to the defaults
	// before it unblocks them).
	var old uint64
	all := ^uint64(0)
	sigprocmask(&all, &old)
	pid, errno := forkExec(path0, &argvp[0], &envvp[0], p[1], foreground, detach, session)
	sigprocmask(&old, nil)
	unix.Close(p[1])
	defer unix.Close(p[0])
	if errno != 0 {
		// Not the command's fault: no bare errno, which would read as
		// execve's.
		return 0, fmt.Errorf("fork: %v", errno)
	}
	var report [8]byte // the step that failed, then its errno (see childStep)
	n, err := readFull(p[0], report[:])
	if n == 0 && err == nil {
		return pid, nil
	}
	// The child exits after a failed execve; reap it.
	var ws unix.WaitStatus
	for {
		if _, werr := unix.Wait4(pid, &ws, 0, nil); !errors.Is(werr, unix.EINTR) {
			break
		}
	}
	if err != nil || n != len(report) {
		return 0, errors.New("the command's process ended before it could exec (killed?)")
	}
	step, errno := childStep(binary.NativeEndian.Uint32(report[:4])), syscall.Errno(binary.NativeEndian.Uint32(report[4:]))
	if step != stepExec {
		return 0, fmt.Errorf("%s: %v", childSteps[step], errno)
	}
	return 0, errno
}

// childStep is the step of forkExec's child that failed, as it reports it.
type childStep uint32

const (
	stepExec childStep = iota
	stepSetpgid
	stepForeground
	stepSetsid
)

var childSteps = map[childStep]string{
	stepExec:       "execve",
	stepSetpgid:    "setpgid",
	stepForeground: "make the command's group the terminal's foreground group",
	stepSetsid:     "setsid",
}

// readFull reads into buf until it is full, EOF or an error.
func readFull(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// sigprocmask sets this thread's blocked signals to *set (saving the old
// ones in *old if it is not nil), with the kernel's 64-bit signal set.
func sigprocmask(set, old *uint64) {
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(set)),
		uintptr(unsafe.Pointer(old)), 8, 0, 0)
}

// defaultAction is a struct sigaction of the kernel's asking for SIG_DFL:
// all zeros, on every architecture.
var defaultAction [4]uint64

// noSignals is an empty signal set.
var noSignals uint64

// forkExec forks (a copy of this process, not CLONE_VM) and, in the child,
// executes path; see the top of this file. In the parent it returns the
// child's PID, or fork's errno. errFd is the error pipe's write end.
//
//go:nosplit
//go:norace
func forkExec(path *byte, argv, envv **byte, errFd int, foreground, detach, session bool) (pid int, errno syscall.Errno) {
	var r1 uintptr
	var err1 syscall.Errno
	var pgrp int32
	var report [2]uint32 // what failed, and its errno, for the parent
	// On s390x, clone's first two arguments are the other way round.
	if runtime.GOARCH == "s390x" {
		r1, _, err1 = syscall.RawSyscall6(syscall.SYS_CLONE, 0, uintptr(syscall.SIGCHLD), 0, 0, 0, 0)
	} else {
		r1, _, err1 = syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	}
	if err1 != 0 || r1 != 0 {
		return int(r1), err1 // the parent
	}

	// The child: system calls only, until execve.
	// 1. Nothing of init's but the standard streams and the error pipe.
	if errFd > 3 {
		syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 3, uintptr(errFd-1), 0)
	}
	syscall.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(errFd+1), ^uintptr(0), 0)
	// 2. Die with init, unless it is to outlive it (detach). The parent
	// is in another PID namespace, so getppid reads 0 while it lives; a
	// parent that has died already was replaced by the container's PID 1.
	if !detach {
		syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
		if ppid, _, _ := syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0); ppid != 0 {
			syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 1, 0, 0)
		}
	}
	// 3. A process group of its own: its kill(0, sig) must not reach init,
	// which shares its session. With a terminal, the foreground group,
	// while SIGTTOU is still blocked.
	// With session (the terminal init made in the container, which init
	// left without a session), a session of its own instead, whose
	// controlling terminal it is: it outlives init, as runc's exec does.
	if session {
		report[0] = uint32(stepSetsid)
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_SETSID, 0, 0, 0); err1 != 0 {
			goto fail
		}
		report[0] = uint32(stepForeground)
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_IOCTL, 0, syscall.TIOCSCTTY, 0); err1 != 0 {
			goto fail
		}
		foreground = false
	} else {
		report[0] = uint32(stepSetpgid)
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_SETPGID, 0, 0, 0); err1 != 0 {
			goto fail
		}
	}
	if foreground {
		report[0] = uint32(stepForeground)
		r1, _, _ = syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
		pgrp = int32(r1)
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_IOCTL, 0, syscall.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp))); err1 != 0 {
			goto fail
		}
	}
	// 4. Default actions, then no signal blocked.
	for sig := uintptr(1); sig <= 64; sig++ {
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&defaultAction)), 0, 8, 0, 0)
	}
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&noSignals)), 0, 8, 0, 0)
	// 5. The command.
	report[0] = uint32(stepExec)
	_, _, err1 = syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(argv)),
		uintptr(unsafe.Pointer(envv)))
fail:
	report[1] = uint32(err1)
	syscall.RawSyscall(syscall.SYS_WRITE, uintptr(errFd), uintptr(unsafe.Pointer(&report)), 8)
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 127, 0, 0)
	}
}
