// Package container is the supervisor's side of a container's life: prepare
// the root filesystem and the cgroup, start crate-init in new namespaces,
// place it in the cgroup and let it go, forward signals while the command
// runs, then reap it and remove everything that was made for it.
package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/containerlog"
	"github.com/crate-run/crate/pkg/image"
	"github.com/crate-run/crate/pkg/initsync"
	"github.com/crate-run/crate/pkg/seccomp"
	"github.com/crate-run/crate/pkg/seccomp/profile"
	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/state"
)

// cloneFlags are the namespaces init is born in. Two more are its own later:
// the network namespace, made while the supervisor prepares (netns_linux.go)
// and joined by init, and the cgroup namespace, which init unshares once it
// sits in its cgroup.
const cloneFlags = unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC

// Config is everything Run needs to know about one container.
type Config struct {
	Image       string        // an image file or directory (imported on the way), or NAME[:TAG] or id of an imported one
	Platform    string        // os/arch[/variant] to pick from a multi-platform image; "" is this machine's
	Storage     Storage       // how the root filesystem is made; "" chooses
	Entrypoint  *string       // --entrypoint: replaces the image's (nil: keep it)
	Command     []string      // the command and arguments given after IMAGE, if any
	StateRoot   string        // images and containers live under it
	MinFree     image.Reserve // the free space an import on the way leaves on the state root's file system
	Progress    io.Writer     `json:"-"` // where a long layer unpack shows a progress bar, if it is a terminal
	CgroupRoot  string        // normally /sys/fs/cgroup
	InitPath    string        // the crate-init binary
	Version     string        // crate's version: crate-init refuses a spec from another
	StopTimeout time.Duration // SIGINT/SIGTERM, then SIGKILL after this long
	Interactive bool          // -i: the command reads crate's stdin; otherwise /dev/null, as with docker run
	Terminal    bool          // -t: the command's stdio is a new pty, its controlling terminal (tty_linux.go)
	// SignalsCaught, if set, is closed once the signals Run is given are
	// caught (signal.Notify takes a while): Run writes nothing before.
	SignalsCaught <-chan struct{} `json:"-"`
	Spec          spec.Options    // Args, Rootfs and Overlay are filled in by Run

	// State is where the container is registered while it lives, so that
	// other crate commands (ps, exec, stop, rm, gc) find it; nil: nowhere.
	State *state.Dir
	// Detached: the command's output is captured to a log file in the
	// container's directory (crate logs) rather than copied to crate's own
	// stdout and stderr, and its stdin is /dev/null.
	Detached bool
	// LogLimits keep a detached container's output log within their bounds.
	LogLimits containerlog.Limits
	// Keep keeps the container's directory and state after it exits, until
	// crate rm (crate run -d without --rm); otherwise everything goes.
	Keep bool
	// Started, if set, is called once the command runs.
	Started func() `json:"-"`
}

// Result is how a container ended.
type Result struct {
	ExitCode  int            // the command's exit code, or 128+signal
	Signal    syscall.Signal // the signal that killed the command, or 0
	OOMKilled bool           // killed by the kernel for hitting the memory limit
	Stats     cgroups.Stats  // read from the cgroup before it was removed
}

// container holds what Run made, so cleanup knows what to remove.
type container struct {
	log  hclog.Logger
	logs hclog.Logger // the logger without this container's id, for what is not about it
	cfg  Config
	id   string
	dir  string // StateRoot/containers/<id>, created by Run
	// dirLock holds dir's lock for the supervisor's life (makeContainerDir):
	// the directory of a live container is never taken for a leftover.
	dirLock *os.File
	cgroup  cgroups.Manager
	spec    *specs.Spec
	filter  seccomp.Program // spec.Linux.Seccomp, compiled for init
	netns   *pendingNetns
	init    *initProcess // crate-init, once started
	tty     *terminal    // the pty, with -t
	relay   *relay       // crate's terminals relayed through pipes, without -t
	placed  time.Time    // when init was born in the cgroup: CPU time counts from here
	exited  chan struct{}
	stats   cgroups.Stats
	// baseline is what the counters of init's cgroup said before init
	// started: zero, but for crate exec, whose init joins a running
	// container's cgroup.
	baseline cgroups.Stats

	state     *state.Handle   // the container's entry in the state directory, once made
	output    *capturedOutput // a detached container's output, captured to its log
	join      *joinTarget     // crate exec: the running container init joins
	ran       bool            // the command started
	recorded  chan struct{}   // closed once recordStart has written; nil before
	started   time.Time       // when the command started
	collected chan struct{}   // closed once collectLeftovers is done; nil if it never ran
	// stopDeadline ends the stop timeout of a SIGINT or SIGTERM that came
	// before the command started (see waitExec); nil if none did.
	stopDeadline <-chan time.Time
}

// Run starts the container, waits for its command to end and cleans up.
// Signals from sigs are forwarded to the container's PID 1; a SIGINT,
// SIGTERM, SIGHUP or SIGQUIT that arrives before the command starts aborts
// the start (SIGWINCH, SIGUSR1 and SIGUSR2 are dropped then). Whatever
// happens, nothing made for the container is left behind when Run returns.
func Run(log hclog.Logger, cfg Config, sigs <-chan os.Signal) (*Result, error) {
	c := &container{
		log:  log.With("container_id", cfg.Spec.ID),
		logs: log,
		cfg:  cfg,
		id:   cfg.Spec.ID,
	}
	// Pdeathsig fires when the *thread* that forked init exits, and the Go
	// runtime may retire threads: keep this goroutine on one thread until
	// init has been reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The host terminal gets its mode back however Run ends, a panic too.
	// (A closure: c.tty is made later, by start.)
	defer func() { c.tty.restore() }()

	status, err := c.run(sigs)
	c.cleanup()
	if c.collected != nil {
		<-c.collected
	}
	if c.dirLock != nil {
		c.dirLock.Close() // the directory is gone, or kept for crate rm
	}
	// Init is reaped and its PID namespace gone, so nothing holds the
	// pty's slave any more: its output can be read to the end.
	c.tty.close()
	c.relay.close()
	c.output.close()
	if err != nil {
		if c.state != nil {
			c.state.Release()
		}
		return nil, err
	}
	res := c.result(status)
	c.recordExit(res)
	return res, nil
}

// run does everything up to the reaping of init.
func (c *container) run(sigs <-chan os.Signal) (syscall.WaitStatus, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.netns = startNetns()
	defer c.netns.close()
	interrupted := make(chan os.Signal, 1)
	prepared := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == unix.SIGWINCH || s == unix.SIGUSR1 || s == unix.SIGUSR2 {
					continue // a resized window, or a signal for a command not yet running
				}
				interrupted <- s
				cancel()
				return
			case <-prepared:
				return
			}
		}
	}()
	err := c.prepare(ctx)
	close(prepared)
	select {
	case s := <-interrupted:
		return 0, fmt.Errorf("interrupted by %v before the container started", s)
	default:
	}
	if err != nil {
		return 0, err
	}
	if err := c.start(sigs); err != nil {
		return 0, err
	}
	c.collectLeftovers()
	return c.wait(sigs), nil
}

// prepare readies the image (importing it on the way if it is a file), works
// out the command from the image's defaults and the flags, then makes the
// container's directory and root filesystem and creates the cgroup. The
// checks come first, so that bad input makes no container at all.
func (c *container) prepare(ctx context.Context) error {
	if _, err := os.Stat(c.cfg.Image); err == nil {
		c.signalsCaught() // an image file is imported on the way: a write
	}
	store, img, release, err := openImage(ctx, c.log, c.cfg, func(config ocispec.Image) error {
		return spec.ApplyImage(&c.cfg.Spec, imageDefaults(config), c.cfg.Entrypoint, c.cfg.Command)
	})
	if err != nil {
		return err
	}
	// Until make has written the container's layers file, or failed and
	// left a directory that cleanup removes.
	defer release()
	storage, why, err := chooseStorage(c.cfg.Storage, c.cfg.StateRoot)
	if err != nil {
		return err
	}

	containers := containersDir(c.cfg.StateRoot)
	dir := containerDir(c.cfg.StateRoot, c.id)
	c.cfg.Spec.Rootfs = rootfsDir(dir)
	if storage == StorageOverlay {
		c.cfg.Spec.Overlay = &spec.Overlay{Upper: upperDir(dir), Work: workDir(dir),
			Volatile: overlayHasVolatile()}
		for _, l := range img.Layers {
			c.cfg.Spec.Overlay.Lower = append(c.cfg.Spec.Overlay.Lower, store.LayerDir(l))
		}
	}
	c.spec = spec.New(c.cfg.Spec)
	c.spec.Annotations[spec.AnnotationVersion] = c.cfg.Version
	if p := c.spec.Linux.Seccomp; p != nil {
		if c.filter, err = profile.Compile(p); err != nil {
			return fmt.Errorf("seccomp profile: %w", err)
		}
	}
	res := c.spec.Linux.Resources
	if res == nil || res.Devices == nil {
		// Docker's device list unless the spec has one: never none by accident.
		if res == nil {
			res = &specs.LinuxResources{}
		}
		res.Devices = spec.DefaultDeviceRules()
		c.spec.Linux.Resources = res
	}
	cg, err := cgroups.New(c.log, cgroups.Config{Root: c.cfg.CgroupRoot, Path: cgroupPath(c.id), Resources: res})
	if err != nil {
		return err
	}
	c.spec.Mounts = append(c.spec.Mounts, cgroupMounts(cg)...)

	c.signalsCaught()
	// The container is registered while its directory, root and cgroup are
	// made: a tenth of a millisecond off every start. Were this supervisor
	// killed in between, crate gc would still find the directory without a
	// state and remove it, with the cgroup of its name.
	registered := make(chan error, 1)
	go func() { registered <- c.register(img.ID.String(), dir, cg, res) }()
	err = c.make(ctx, store, img, containers, dir, storage, why, cg, res)
	if rerr := <-registered; rerr != nil {
		return rerr // a name in use explains a directory that exists
	}
	return err
}

// make makes the container's directory, root filesystem and cgroup.
func (c *container) make(ctx context.Context, store *image.Store, img *image.Image, containers, dir string,
	storage Storage, why string, cg cgroups.Manager, res *specs.LinuxResources) error {
	var err error
	if err := os.MkdirAll(containers, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w (use --data-root to choose another)", err)
	}
	if c.dirLock, err = makeContainerDir(containers, c.id); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("container directory %s exists, left by a container that did not end cleanly: crate gc removes it", dir)
		}
		return fmt.Errorf("create container directory: %w", err)
	}
	c.dir = dir // from here on cleanup removes it
	if c.cfg.Detached {
		if c.output, err = captureOutput(c.log, filepath.Join(dir, OutputLog), c.cfg.LogLimits); err != nil {
			return err
		}
	}

	// The root filesystem's directories and the cgroup do not depend on each
	// other: made at once, the start waits only for the slower.
	created := make(chan error, 1)
	go func() {
		start := time.Now()
		err := cg.Create()
		if err == nil {
			c.log.Info("cgroup created", append(append([]any{"cgroup", cg.Path(), "mode", cg.Mode()},
				limitFields(res)...), "duration", time.Since(start))...)
		}
		created <- err
	}()
	start := time.Now()
	rootErr := makeRoot(ctx, store, img, dir, c.cfg.Spec)
	if rootErr == nil {
		c.log.Info("root filesystem ready", "image", img.ID, "layers", len(img.Layers), "storage", storage,
			"storage_reason", why, "duration", time.Since(start))
	}
	if err := <-created; err != nil {
		return errors.Join(rootErr, fmt.Errorf("create cgroup: %w", err))
	}
	c.cgroup = cg // cleanup destroys it; a failed Create has removed what it made
	return rootErr
}

// initLogLevel is the most detail crate keeps of init's lines: its stderr
// level, or debug, the log file's.
func initLogLevel(log hclog.Logger) hclog.Level {
	if log.IsTrace() {
		return hclog.Trace
	}
	return hclog.Debug
}

// signalsCaught returns once a signal can no longer kill crate half way
// through a write (see Config.SignalsCaught).
func (c *container) signalsCaught() {
	if c.cfg.SignalsCaught != nil {
		<-c.cfg.SignalsCaught
	}
}

// start starts crate-init inside the cgroup, hands it the spec, lets it go
// and waits until it has executed the command or failed (see waitExec for
// the signals from sigs meanwhile).
func (c *container) start(sigs <-chan os.Signal) error {
	begin := time.Now()
	s := c.spec
	var stdin io.Reader // nil: os/exec gives /dev/null
	var stdout, stderr, out io.Writer
	switch {
	case c.output != nil:
		stdout, stderr = c.output.stdout, c.output.stderr
	case !c.cfg.Terminal:
		var err error
		if stdin, stdout, stderr, c.relay, err = relayTerminals(c.log, c.cfg.Interactive); err != nil {
			return fmt.Errorf("relay the terminal: %w", err)
		}
	default:
		stdout, stderr = os.Stdout, os.Stderr
	}
	if c.cfg.Terminal {
		// Opened before the spec is sent: the spec names the slave, which
		// init mounts on /dev/console.
		t, err := openTerminal()
		if err != nil {
			return fmt.Errorf("open a terminal for the container: %w", err)
		}
		c.tty = t
		s.Process.Terminal = true
		if c.join == nil {
			s.Mounts = append(s.Mounts, t.consoleMount())
		}
		// The slave even without -i, as docker run -t: a command that reads
		// it waits for ever rather than reading EOF.
		out = stdout // where the terminal's output goes
		stdin, stdout, stderr = t.slave, t.slave, t.slave
	}

	// The namespaces init joins: the network namespace made for it, or for
	// crate exec those of the container's PID 1.
	l := &launch{
		initPath:      c.cfg.InitPath,
		input:         &spec.InitInput{Spec: s, Filter: c.filter},
		stdin:         stdin,
		stdout:        stdout,
		stderr:        stderr,
		ctty:          c.tty != nil,
		cgroup:        c.placement(),
		dieWithCaller: true,
	}
	if c.join != nil {
		l.extra = []*os.File{c.join.pidfd}
		// For initDied: what the container's processes have counted.
		var err error
		if c.baseline, err = c.join.cgroup.Stats(); err != nil {
			c.log.Warn("read cgroup stats", "error", err)
		}
	} else {
		netns, err := c.netns.wait()
		if err != nil {
			return fmt.Errorf("make the network namespace: %w", err)
		}
		l.cloneFlags = cloneFlags
		l.extra = []*os.File{netns}
		l.input.Join = []spec.Join{{Type: specs.NetworkNamespace, Fd: initsync.FirstExtraFd}}
	}
	p, err := l.start(c.log)
	c.relay.started()
	if err == nil && c.tty != nil {
		c.tty.started(c.log, c.cfg.Interactive, out)
	}
	c.output.started(c.tty != nil)
	if err != nil {
		return err
	}
	c.placed = time.Now()
	c.init = p
	defer p.sync.Close()
	if err := c.waitExec(p.sync, sigs); errors.Is(err, initsync.ErrInitDied) {
		return c.initDied()
	} else if err != nil {
		return err
	}
	if c.join != nil {
		c.log.Info("exec started", "pid", p.pid(), "args", s.Process.Args, "duration", time.Since(begin))
		return nil
	}
	c.log.Info("container started", "pid", p.pid(), "args", s.Process.Args,
		"hostname", s.Hostname, "duration", time.Since(begin))
	c.ran = true
	c.started = time.Now().UTC()
	c.recordStart()
	return nil
}

// collectLeftovers removes, while the container runs, what the containers
// whose supervisor is gone left (see Collect): the supervisor waits for its
// command anyway, and the start has not waited for it. Run waits for it
// before it returns.
func (c *container) collectLeftovers() {
	if c.cfg.State == nil {
		return
	}
	c.collected = make(chan struct{})
	go func() {
		defer close(c.collected)
		CollectLeftovers(c.logs, c.cfg.StateRoot, c.cfg.CgroupRoot, c.cfg.State)
	}()
}

// waitExec waits until init has executed the command, or failed. Signals
// that come meanwhile are held: the command may have started an instant
// before, and then gets them once that is known, as it would have in wait;
// a SIGINT or SIGTERM starts the stop timeout at once. If init is still
// stuck when the stop timeout ends, or a second SIGINT or SIGTERM comes, it
// is killed, however it is stuck (a FIFO in the image, a volume on a file
// system that does not answer), and the start fails, leaving nothing behind.
func (c *container) waitExec(ch *initsync.Channel, sigs <-chan os.Signal) error {
	done := make(chan error, 1)
	go func() { done <- ch.WaitExec() }()
	var held []os.Signal
	var stopped os.Signal // the SIGINT or SIGTERM that started the stop timeout
	stop := func(s os.Signal) bool { return s == unix.SIGINT || s == unix.SIGTERM }
	interrupted := func(why string, s os.Signal) error {
		c.log.Warn(why+": killing init", "signal", s)
		c.kill()
		<-done
		return fmt.Errorf("interrupted by %v before the command started", s)
	}
	for {
		select {
		case err := <-done:
			for _, s := range held {
				if err == nil {
					c.forward(s)
				}
			}
			return err
		case s := <-sigs:
			switch {
			case s == unix.SIGWINCH && c.tty != nil:
				c.resize()
			case stop(s) && c.stopDeadline != nil:
				return interrupted("second stop signal before the command started", s)
			default:
				if stop(s) {
					stopped, c.stopDeadline = s, time.After(c.cfg.StopTimeout)
				}
				held = append(held, s)
			}
		case <-c.stopDeadline:
			return interrupted("the command has not started by the stop timeout", stopped)
		}
	}
}

// initDied explains a start whose init died before the command started:
// how it ended, and the counters of its cgroup that say why. Its end of the
// sync socket is closed, and it had not executed the command: it has exited,
// or is exiting.
func (c *container) initDied() error {
	<-c.init.exited
	// crate exec's init stays beside the command as --init's does.
	e := &InitDiedError{Floor: StartFloor(c.cfg.Spec.Init || c.join != nil)}
	ws := c.init.status()
	if ws.Signaled() {
		e.Signal = ws.Signal()
	} else {
		e.ExitCode = ws.ExitStatus()
	}
	cg := c.placement()
	st, err := cg.Stats()
	if err != nil {
		c.log.Warn("read cgroup stats", "error", err)
	}
	u, err := cg.Usage()
	if err != nil {
		c.log.Warn("read cgroup limits", "error", err)
	}
	// crate exec's init joins a cgroup whose counters ran before it.
	e.OOMKilled = e.Signal == unix.SIGKILL && st.OOMKills > c.baseline.OOMKills
	e.PidsLimited = st.PidsLimitHits > c.baseline.PidsLimitHits
	e.MemoryLimit, e.PidsLimit = int64(u.MemoryLimit), int64(u.PidsLimit)
	return e
}

// wait forwards signals to the container's PID 1 until it exits. A PID 1
// ignores any signal it has no handler for, so after SIGINT or SIGTERM the
// container gets StopTimeout to end before it is killed; a second SIGINT or
// SIGTERM kills it at once.
func (c *container) wait(sigs <-chan os.Signal) syscall.WaitStatus {
	deadline := c.stopDeadline // a stop signal may have come during the start
	truncated := c.output.truncatedChan()
	for {
		select {
		case <-c.init.exited:
			return c.init.status()
		case <-truncated:
			truncated = nil // closed: once is enough
			c.recordTruncated()
		case s := <-sigs:
			if s == unix.SIGWINCH && c.tty != nil {
				c.resize()
				continue
			}
			stop := s == unix.SIGINT || s == unix.SIGTERM
			if stop && deadline != nil {
				c.log.Warn("second stop signal: killing the container", "signal", s)
				c.kill()
				continue
			}
			c.forward(s)
			if stop {
				deadline = time.After(c.cfg.StopTimeout)
			}
		case <-deadline:
			c.log.Warn("container still running after the stop timeout: killing it", "stop_timeout", c.cfg.StopTimeout)
			c.kill()
			deadline = nil
		}
	}
}

// forward sends s to init: the container's PID 1, or (--init, crate exec)
// the process that hands it on to the command.
func (c *container) forward(s os.Signal) {
	c.log.Debug("forwarding signal", "signal", s)
	if err := c.init.cmd.Process.Signal(s); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.log.Warn("forward signal", "signal", s, "error", err)
	}
}

// resize follows a resize of the host terminal: resizing the pty makes the
// kernel signal the container's foreground process group, which is the one
// that draws on the terminal.
func (c *container) resize() {
	if err := c.tty.resize(); err != nil {
		c.log.Warn("resize the container's terminal", "error", err)
	}
}

// kill sends SIGKILL to init; the kernel then kills every process of the
// container's PID namespace.
func (c *container) kill() {
	if err := c.init.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.log.Warn("kill init", "error", err)
	}
}

// cleanup removes whatever prepare and start made, in reverse, on every
// path: success, a failed step, an interrupted start. The cgroup's counters
// are read before it goes, so an OOM kill is never mistaken for a SIGKILL.
func (c *container) cleanup() {
	begin := time.Now()
	if c.init != nil {
		select {
		case <-c.init.exited:
		default:
			c.kill()
			<-c.init.exited
		}
	}
	// With init gone, the container directory and the cgroup no longer
	// depend on each other: removing both at once saves the slower of the
	// two on every exit (each unlink on the state root's disk and each
	// cgroup rmdir is a fraction of a millisecond).
	var removing sync.WaitGroup
	removing.Go(c.forget)
	if c.dir != "" && !c.keep() {
		removing.Go(func() {
			if err := removeContainerDir(c.dir); err != nil {
				c.log.Error("remove container directory", "dir", c.dir, "error", err)
			}
		})
	}
	if c.cgroup != nil {
		st, err := c.cgroup.Stats()
		if err != nil {
			c.log.Warn("read cgroup stats", "error", err)
		}
		c.stats = st
		// The container's other processes died with its PID 1, so the
		// cgroup can normally go at once; only if it cannot is something
		// still inside worth hunting down.
		if err := c.cgroup.Destroy(); err != nil {
			if err := c.cgroup.Kill(); err != nil {
				c.log.Warn("kill what is left in the cgroup", "error", err)
			}
			if err := c.cgroup.Destroy(); err != nil {
				c.log.Error("remove cgroup", "cgroup", c.cgroup.Path(), "error", err)
			}
		}
	}
	removing.Wait()
	c.log.Debug("cleaned up", "duration", time.Since(begin))
}

// result reads how init ended, in docker run's terms.
func (c *container) result(ws syscall.WaitStatus) *Result {
	r := &Result{ExitCode: ws.ExitStatus(), Stats: c.stats}
	if ws.Signaled() {
		r.Signal = ws.Signal()
		r.ExitCode = 128 + int(r.Signal)
	}
	// The OOM killer's signal is SIGKILL; the counter tells it from a kill(1).
	// Under --init the command's SIGKILL reaches crate as init's exit code.
	killed := r.Signal == unix.SIGKILL || r.ExitCode == 128+int(unix.SIGKILL)
	r.OOMKilled = killed && c.stats.OOMKills > 0
	fields := []any{"exit_code", r.ExitCode, "oom_killed", r.OOMKilled, "oom_kills", c.stats.OOMKills,
		"memory_peak_bytes", c.stats.MemoryPeak, "cpu_time", c.stats.CPUTime, "wall_time", time.Since(c.placed)}
	if r.Signal != 0 {
		fields = append(fields, "signal", unix.SignalName(r.Signal))
	}
	if c.join != nil {
		c.log.Info("exec exited", fields...)
		return r
	}
	c.log.Info("container exited", fields...)
	return r
}

// cgroupMounts show the container its own cgroup, read-only, at
// /sys/fs/cgroup, as Docker does: init mounts them inside its new cgroup
// namespace, whose root is the container's cgroup.
func cgroupMounts(cg cgroups.Manager) []specs.Mount {
	opts := []string{"nosuid", "noexec", "nodev", "ro"}
	if cg.Mode() == cgroups.ModeV2 {
		return []specs.Mount{{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup", Options: opts}}
	}
	mounts := []specs.Mount{{Destination: "/sys/fs/cgroup", Type: "tmpfs", Source: "cgroup",
		Options: []string{"nosuid", "noexec", "nodev", "mode=755", "size=64k"}}}
	for _, h := range cg.Hierarchies() {
		// A v1 hierarchy is named by its controllers, which become mount data.
		mounts = append(mounts, specs.Mount{Destination: "/sys/fs/cgroup/" + h, Type: "cgroup", Source: "cgroup",
			Options: append(append([]string{}, opts...), strings.Split(h, ",")...)})
	}
	return mounts
}

// limitFields are the log fields of crate run's limits (0: none), read from
// the resources as they are.
func limitFields(r *specs.LinuxResources) []any {
	var memory, quota, pids int64
	var period uint64
	if r.Memory != nil && r.Memory.Limit != nil {
		memory = *r.Memory.Limit
	}
	if r.CPU != nil && r.CPU.Quota != nil {
		quota = *r.CPU.Quota
	}
	if r.CPU != nil && r.CPU.Period != nil {
		period = *r.CPU.Period
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		pids = *r.Pids.Limit
	}
	return []any{"memory_bytes", memory, "cpu_quota_us", quota, "cpu_period_us", period, "pids", pids}
}
