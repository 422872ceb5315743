package initproc

// With --init (docker run --init, which is tini), crate-init does not become
// the command: it stays the container's PID 1 and runs the command as its
// child. A command that was never written to be PID 1 gets what it lacks:
//
//   - Signals. The kernel delivers to a PID 1 only the signals it has a
//     handler for, so a plain `sleep` ignores SIGTERM and `crate run` can end
//     it only by the SIGKILL after --stop-timeout. init handles every signal
//     and forwards it to the command, which is not PID 1 and so gets the
//     default action: SIGTERM ends it at once.
//   - Zombies. Every orphan of the container is reparented to PID 1, and a
//     PID 1 that never calls wait leaves each as a zombie, holding its PID
//     (and a slot under --pids) until the container ends. init reaps them all.
//
// The command runs in a process group of its own, as under tini: its own
// kill(0, sig) then reaches its group and not init, which would only send
// the signal back. It stays in init's session. Without -t that session has
// no controlling terminal: Ctrl-C goes to crate, which forwards the SIGINT
// to init, which forwards it to the command, as without --init. With -t the
// pty is the session's controlling terminal, and the command's group is made
// its foreground group (tcsetpgrp) before the command runs: otherwise the
// command, in a background group, would be stopped by SIGTTIN when it reads
// the terminal, and Ctrl-C and Ctrl-Z would reach init instead of it. Init
// never reads the terminal, so it is fine in the background.
//
// The supervisor is unchanged: it still learns from exec and EOF on the
// sync socket that the command runs, and still signals and reaps its child,
// now init, which exits with the command's exit code (128+N for a signal N,
// as a shell and docker run --init report it).

import (
	"errors"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/crate-run/crate/pkg/initlog"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/initsync"
)

// runAsInit starts the command as init's child and watches over it until it
// ends, then ends init with the command's exit code. It returns only if the
// command could not be started, with an *ExecError as execCommand's. log is
// not written to once the command runs: its pipe is closed then.
func runAsInit(log *initlog.Logger, args, env []string, terminal bool, sync *initsync.Channel, vs *volumes) error {
	// Catch every signal before the command exists: one meant for it, or
	// its own SIGCHLD, then waits in the channel instead of being lost
	// between the fork and the loop. The forked child gets the default
	// actions back before it execs (see syscall.ForkExec).
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	pid, err := startCommand(args, env, terminal)
	if err != nil {
		return err
	}
	log.Debug("init started the command as its child", "pid", pid)
	letGo(sync, vs, 0)
	code := supervise(pid, sigs)
	// log's *os.File (made by crate-init's main) still names the log
	// descriptor that letGo closed: kept alive, it is never finalized, so
	// it cannot close whatever might reuse that number.
	runtime.KeepAlive(log)
	os.Exit(code)
	panic("unreachable")
}

// startCommand is execCommand for --init: it finds the command on the PATH
// as execCommand does, and forks and execs it as a child instead of becoming
// it. syscall.ForkExec reports the child's failed execve synchronously, with
// its errno, so a missing or unrunnable command is diagnosed (126/127) just
// as without --init. With terminal, init's stdin is its controlling
// terminal, and the child's group becomes the terminal's foreground group.
//
// The fork must come from init's locked thread: namespaces joined by setns
// and unshare, the capabilities and no_new_privs belong to a thread, and a
// child inherits those of the thread that forks it. run's goroutine is
// locked to that thread and this runs on it; ForkExec forks the calling
// thread.
func startCommand(args, env []string, terminal bool) (pid int, err error) {
	path, err := lookPath(args[0], env)
	if err != nil {
		return 0, err
	}
	pid, err = syscall.ForkExec(path, args, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2}, // the container's stdio; everything else is close-on-exec
		// Foreground implies Setpgid and calls tcsetpgrp on Ctty (stdin,
		// the same descriptor in init and the child) in the child while
		// every signal is still blocked: from its background group it
		// would otherwise be stopped by SIGTTOU.
		Sys: &syscall.SysProcAttr{Setpgid: true, Foreground: terminal, Ctty: 0},
	})
	if err != nil {
		return 0, diagnoseExec(path, err)
	}
	return pid, nil
}

// letGo tells the supervisor that the command runs, and closes every
// descriptor init still holds of the supervisor's: without --init, execve
// would have closed them. The sync socket goes last, so that by the time
// the supervisor reads EOF there, the container holds nothing of its own.
func letGo(sync *initsync.Channel, vs *volumes, pid int) {
	// Were the supervisor gone, init dies of its parent-death signal.
	if pid != 0 {
		sync.ExecutingPid(pid) // crate exec's command: its caller may want its PID
	} else {
		sync.Executing()
	}
	vs.Close()
	// A raw descriptor: the log's belongs to crate-init's main (see
	// runAsInit). The namespaces' were closed once joined.
	unix.Close(initsync.LogFd)
	sync.Close()
}

// supervise forwards to the command every signal init gets, and reaps every
// process of the container that has ended, until the command is among them;
// it returns the command's exit code.
func supervise(child int, sigs <-chan os.Signal) int {
	for {
		// Reap on every wake-up, not only on SIGCHLD: signal.Notify drops
		// a signal when the channel is full, and a SIGCHLD dropped behind
		// sixty-four others would leave the command's end unnoticed.
		if code, ended := reap(child); ended {
			return code
		}
		sig := (<-sigs).(syscall.Signal)
		switch sig {
		case unix.SIGCHLD:
			// Reaped at the top of the loop.
		case unix.SIGURG:
			// Go's runtime sends its own threads SIGURG to preempt
			// goroutines, and Notify passes those on too: forwarded, they
			// would reach the command as spurious SIGURGs.
		default:
			// The command is not reaped yet, so its PID is still its own
			// (a zombie takes signals too): nothing to check.
			unix.Kill(child, sig)
		}
	}
}

// reap waits for every process of the container that has ended, without
// blocking: the kernel makes PID 1 the parent of every orphan. It reports
// the command's exit code as soon as the command is one of them.
func reap(child int) (code int, ended bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil || pid == 0:
			// ECHILD: no child left; 0: none has ended yet.
			return 0, false
		case pid == child:
			return exitCode(ws), true
		}
	}
}

// exitCode is the exit code a shell (and docker run --init) gives a process
// that ended with ws: its exit status, or 128+N if signal N killed it.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
