package container

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/initsync"
	"github.com/crate-run/crate/pkg/logging"
	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/state"
)

// Every start of crate-init is the same launch, whatever it is for: crate
// run's container (Run), crate exec's process (Exec), OCI create and OCI
// exec (oci_linux.go). A launch starts init from its protected copy (see
// protectedInit), born in its cgroup, with the spec on a pipe, the sync
// socket, a pipe for its log lines and the descriptors the spec names, and
// sends it go. What follows differs: the supervisor of crate run and crate
// exec waits for the exec and then for the end; OCI create waits until init
// waits at the start gate, and exits.

// launch is what one start of crate-init needs.
type launch struct {
	initPath string
	input    *spec.InitInput // what init is sent; Join's descriptors are extra's
	stdin    io.Reader       // nil: /dev/null
	stdout   io.Writer
	stderr   io.Writer
	// ctty makes stdin, a terminal, init's controlling terminal.
	ctty bool
	// cloneFlags are the namespaces init is born in.
	cloneFlags uintptr
	// extra are the descriptors init gets at initsync.FirstExtraFd and up,
	// in order: the namespaces of input.Join, a pidfd, the start socket.
	extra []*os.File
	// cgroup is where init is born.
	cgroup cgroups.Manager
	// dieWithCaller kills init when the thread that started it ends
	// (Pdeathsig): crate run's and crate exec's supervisor stays for the
	// container's whole life; OCI create exits and leaves init to its
	// caller. The caller must have locked its goroutine to its thread.
	dieWithCaller bool
}

// initProcess is a crate-init that a launch started and let go.
type initProcess struct {
	cmd  *exec.Cmd
	sync *initsync.Channel // the supervisor's end of the sync socket
	// spec is what init was sent, encoded: crate run keeps it for crate exec.
	spec []byte
	// exited is closed once init is reaped (its status in
	// cmd.ProcessState) and its last log lines are relayed.
	exited chan struct{}
	// startTime is init's start time (see state.ProcStartTime), which
	// tells its PID from the same PID given to another process later;
	// read once startRead is closed.
	startTime uint64
	startRead chan struct{}
}

// start starts crate-init in its cgroup and sends it the spec and go. On
// failure nothing of the launch is left: init, if it was started, is killed
// and reaped.
func (l *launch) start(log hclog.Logger) (*initProcess, error) {
	p := &initProcess{exited: make(chan struct{}), startRead: make(chan struct{})}
	// Every descriptor made for init is closed on the way out; those init
	// has copies of are closed sooner, once it runs, so that the pipes see
	// EOF (closing one twice is harmless).
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("spec pipe: %w", err)
	}
	defer specR.Close()
	defer specW.Close()
	// Encoding the spec costs some time the first time (encoding/json
	// builds its codecs): it is done while this thread starts init. The
	// pipe holds it until init reads; if init never starts, closing specR
	// ends the write with EPIPE.
	sent := make(chan error, 1)
	go func() {
		var buf bytes.Buffer
		if err := spec.WriteInit(&buf, l.input); err != nil {
			sent <- err
			return
		}
		p.spec = buf.Bytes()
		_, err := specW.Write(p.spec)
		sent <- err
	}()

	// Open before the start, closed once init runs: see protectedInit.
	initExe, err := protectedInit(l.initPath)
	if err != nil {
		return nil, fmt.Errorf("open crate-init: %w", err)
	}
	defer initExe.Close()
	logR, logW, err := os.Pipe() // logR goes to the relay below once init runs
	if err != nil {
		return nil, fmt.Errorf("log pipe: %w", err)
	}
	defer logW.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		logR.Close()
		return nil, os.NewSyscallError("socketpair", err)
	}
	p.sync = initsync.NewChannel(os.NewFile(uintptr(fds[0]), "sync"))
	childSync := os.NewFile(uintptr(fds[1]), "sync-init")
	defer childSync.Close()

	attr := &syscall.SysProcAttr{
		Cloneflags: l.cloneFlags,
		// A process group is not bound to a PID namespace: without a
		// session of its own, kill(0, sig) in the container would reach
		// crate and everything in the host's process group with it.
		Setsid: true,
		// With a terminal, it becomes the session's controlling terminal
		// (Ctty is a descriptor of the child's: its stdin).
		Setctty: l.ctty,
		Ctty:    0,
	}
	if l.dieWithCaller {
		// If crate dies, the container dies with it rather than running on
		// unsupervised in a cgroup nobody will remove; for crate exec, the
		// process it started.
		attr.Pdeathsig = syscall.SIGKILL
	}
	cmd := &exec.Cmd{
		Path: execPath(initExe),
		// The level init logs at: what crate keeps (see logging.New), so
		// that init spends nothing on lines nobody will read.
		Args: []string{"crate-init", initLogLevel(log).String()},
		// Nothing of the host's environment reaches init, and the command
		// gets the spec's, never init's. GOMAXPROCS=1 keeps init's Go
		// runtime to the fewest threads, which lowers the memory and the
		// tasks every start needs (StartFloor).
		Env:    []string{"GOMAXPROCS=1"},
		Stdin:  l.stdin,
		Stdout: l.stdout,
		Stderr: l.stderr,
		// Their order is the slot numbers in initsync: SpecFd, SyncFd,
		// LogFd, then FirstExtraFd and up.
		ExtraFiles:  append([]*os.File{specR, childSync, logW}, l.extra...),
		SysProcAttr: attr,
	}
	// The cgroup must hold init before init runs a single instruction of the
	// container: otherwise a fast command could fork or allocate outside its
	// limits. init is born in it; the gate (WaitGo) still holds it until the
	// spec has arrived and the supervisor is ready.
	err = l.cgroup.Start(cmd)
	// init has its copies now; ours would keep the pipes from ever seeing EOF.
	specR.Close()
	childSync.Close()
	logW.Close()
	if err != nil {
		logR.Close()
		p.sync.Close()
		if cmd.Process != nil { // started, but not placed
			cmd.Process.Kill()
			cmd.Wait()
		}
		return nil, fmt.Errorf("start %s in its cgroup: %w", l.initPath, err)
	}
	p.cmd = cmd
	logsDone := make(chan struct{})
	go func() {
		logging.ReEmit(log.Named("init"), logR)
		logR.Close()
		close(logsDone)
	}()
	go func() {
		// Before the reaping: until then init's PID, even a zombie's, is
		// init's, so the start time read is init's.
		p.startTime, _ = state.ProcStartTime(cmd.Process.Pid)
		close(p.startRead)
		cmd.Wait() // the status stays in cmd.ProcessState
		<-logsDone // init's last words are logged before its end is
		close(p.exited)
	}()
	log.Debug("init started", "pid", cmd.Process.Pid, "init", l.initPath)

	// A write that init's end refuses (EPIPE) means that init stopped
	// reading: it failed a step, or died. What follows says which.
	if err := <-sent; err != nil && !errors.Is(err, unix.EPIPE) {
		p.kill(log)
		return nil, fmt.Errorf("send spec to init: %w", err)
	}
	specW.Close()
	if err := p.sync.SendGo(); err != nil && !errors.Is(err, unix.EPIPE) {
		p.kill(log)
		return nil, err
	}
	return p, nil
}

// kill kills init and waits until it is reaped.
func (p *initProcess) kill(log hclog.Logger) {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		log.Warn("kill init", "error", err)
	}
	<-p.exited
	p.sync.Close()
}

// pid is init's host PID.
func (p *initProcess) pid() int { return p.cmd.Process.Pid }

// status is how init ended; call it once exited is closed.
func (p *initProcess) status() syscall.WaitStatus {
	return p.cmd.ProcessState.Sys().(syscall.WaitStatus)
}
