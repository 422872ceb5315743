package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/container"
	"github.com/crate-run/crate/pkg/seccomp/profile"
	"github.com/crate-run/crate/pkg/spec"
)

// RunCmd is `crate run`.
type RunCmd struct {
	Hostname    string        `help:"Hostname inside the container (default: the container id)." placeholder:"NAME"`
	Memory      string        `help:"Memory limit: MiB as a bare number (64), or 2048K, 64M, 2G; at least 1536K (1728K with --init), what crate-init needs to start. Swap is limited to the same." placeholder:"SIZE"`
	CPU         string        `name:"cpu" help:"CPU limit in percent of one CPU: 50 is half a CPU, 250 two and a half." placeholder:"PERCENT"`
	Pids        *int64        `help:"Maximum number of processes in the container (default 4096, so a fork bomb dies; at least 6 (10 with --init), what crate-init needs to start; -1 for no limit)." placeholder:"N"`
	CapAdd      []string      `help:"Add a capability to Docker's default set (NET_ADMIN, or ALL); repeatable." sep:"none" placeholder:"CAP"`
	CapDrop     []string      `help:"Drop a capability from the default set (or ALL); repeatable." sep:"none" placeholder:"CAP"`
	Privileged  bool          `help:"Keep every capability and leave /proc and /sys unmasked: the container is as strong as root on the host."`
	SecurityOpt []string      `help:"Security option: no-new-privileges (setuid binaries and file capabilities grant nothing)." sep:"none" placeholder:"OPT"`
	ReadOnly    bool          `help:"Make the root filesystem read-only (add --tmpfs for what must be written)."`
	Tmpfs       []string      `help:"Mount a tmpfs at PATH, with mount options after a colon (/run:size=64m); repeatable." sep:"none" placeholder:"PATH[:OPTS]"`
	Ulimit      []string      `help:"Set a resource limit, NAME=SOFT[:HARD] (nofile=1024:4096); repeatable." sep:"none" placeholder:"NAME=SOFT[:HARD]"`
	Volume      []string      `short:"v" help:"Bind-mount a host directory or file, HOST:CONTAINER[:ro|rw]; repeatable." sep:"none" placeholder:"HOST:CONTAINER[:ro]"`
	Device      []string      `help:"Give the container a host device, HOST[:CONTAINER][:PERMISSIONS] with permissions some of r, w, m (default rwm); repeatable." sep:"none" placeholder:"DEV"`
	Sysctl      []string      `help:"Set a namespaced sysctl (net.*, fs.mqueue.*, kernel.shm*, kernel.msg*, kernel.sem); repeatable." sep:"none" placeholder:"KEY=VALUE"`
	Env         []string      `short:"e" sep:"none" help:"Set an environment variable (repeatable)." placeholder:"KEY=VALUE"`
	Workdir     string        `short:"w" help:"Working directory inside the container (default /)." placeholder:"DIR"`
	Name        string        `help:"Container id (default: 12 random hex digits)." placeholder:"NAME"`
	NoPivot     bool          `help:"Switch root with chroot instead of pivot_root (weaker: the host's root stays mounted beneath the container's, reachable to a process that may unmount)."`
	StopTimeout time.Duration `help:"After SIGINT or SIGTERM, how long the container has to exit before it is killed." default:"10s"`
	Init        bool          `help:"Run an init process as PID 1 that reaps zombies and forwards signals (for commands that do neither)."`
	Interactive bool          `short:"i" help:"Keep stdin open: the command reads crate's stdin (without -i it reads /dev/null)."`
	TTY         bool          `name:"tty" short:"t" help:"Give the command a terminal (a pty) as stdin, stdout and stderr; with -i, crate's terminal is put in raw mode and every key, Ctrl-C and Ctrl-Z among them, goes to the container."`
	Entrypoint  *string       `help:"Run this instead of the image's entrypoint (\"\" for none); the image's default arguments are dropped too." placeholder:"CMD"`
	User        string        `short:"u" help:"Run as this user: NAME|UID[:GROUP|GID], looked up in the image (default: the image's, else root)." placeholder:"USER"`
	Platform    string        `help:"Platform to pick from a multi-platform image, os/arch[/variant] (default: this machine's)." placeholder:"PLATFORM"`
	Detach      bool          `short:"d" help:"Run in the background: print the container id and return; a supervisor of its own keeps the output for crate logs."`
	Rm          bool          `help:"With -d, remove the container when it exits (a container run in the foreground is always removed)."`
	LogOpt      []string      `help:"With -d, a limit of the output log, as docker run's local driver: max-size=SIZE of one file before it is rotated (default 20m), max-file=N files kept (default 5); repeatable." sep:"none" placeholder:"KEY=VALUE"`
	Storage     string        `help:"Root filesystem: overlay (shared layers, a private upper directory) or copy (a full copy; for when overlayfs cannot be used). Default: overlay where it works." enum:"overlay,copy," default:"" placeholder:"KIND"`

	Image   string   `arg:"" help:"An image: a file or directory (a root filesystem tar, gzip, zstd or xz compressed; a docker save archive; an OCI image layout), imported on the way; or NAME[:TAG] or ID of an imported image."`
	Command []string `arg:"" optional:"" help:"Command to run and its arguments."`
}

// Run starts the container and waits for it; code is the container's exit code.
func (r *RunCmd) Run(g *Globals, code *int) error {
	// Descriptors crate inherited without close-on-exec would reach
	// crate-init, which with --init stays in the container for its whole
	// life: mark them all close-on-exec (close_range, Linux 5.11; init
	// marks its own anyway before it execs).
	_ = unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	sigs, caught := catchSignals()

	log, closeLog, err := g.rootLogger("crate run needs root (it creates namespaces and cgroups)")
	if err != nil {
		return err
	}
	defer closeLog()

	cfg, err := r.config(g)
	if err != nil {
		log.Error(err.Error())
		return loggedError{err}
	}
	if r.Detach {
		// The container is started by a supervisor of its own (detach.go).
		id, err := detach(g, cfg)
		if err != nil {
			log.Error(err.Error(), "container_id", cfg.Spec.ID)
			return loggedError{err}
		}
		fmt.Println(id)
		return nil
	}
	cfg.SignalsCaught = caught
	*code, err = runContainer(log, cfg, sigs)
	return err
}

// runContainer runs the container to its end and returns its exit code.
func runContainer(log hclog.Logger, cfg container.Config, sigs <-chan os.Signal) (int, error) {
	res, err := container.Run(log, cfg, sigs)
	if err != nil {
		err = explainImageName(err, fmt.Sprintf("import it under a name of your own with crate image import %s --name NAME[:TAG], then run that name", cfg.Image))
		err = explainSpace(err, cfg.StateRoot)
		err = explainInitDied(err)
		err = explainCgroupLimit(err)
		log.Error(err.Error(), "container_id", cfg.Spec.ID)
		return 0, loggedError{err}
	}
	if res.OOMKilled {
		log.Error(fmt.Sprintf("container was OOM-killed: it hit its memory limit of %s", humanBytes(cfg.Spec.MemoryBytes)),
			"container_id", cfg.Spec.ID)
	}
	return res.ExitCode, nil
}

// catchSignals catches the signals a supervisor forwards to the container's
// PID 1, before anything is made, so that none is lost and none kills crate
// itself. Registering costs a round trip to the runtime's signal thread for
// each signal, so it happens while the flags are checked and the image is
// looked up; container.Run waits for caught before it creates anything.
// There is no signal.Stop: crate exits when the container has ended.
func catchSignals() (sigs chan os.Signal, caught chan struct{}) {
	sigs = make(chan os.Signal, 16)
	caught = make(chan struct{})
	go func() {
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
			syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
		// A closed stderr (a terminal gone, a pipe reader dead) must not kill
		// crate half way: it would leave the container's cgroup and directory
		// behind. Catching SIGPIPE turns it into EPIPE on the write; a
		// handler, unlike SIG_IGN, is not inherited by the container's command.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
		close(caught)
	}()
	return sigs, caught
}

// config validates the flags and builds the container's configuration. It
// creates nothing, so bad input leaves nothing behind.
func (r *RunCmd) config(g *Globals) (container.Config, error) {
	o := spec.Options{
		Env:      r.Env,
		User:     r.User,
		Cwd:      r.Workdir,
		Hostname: r.Hostname,
		NoPivot:  r.NoPivot,
		Init:     r.Init,
	}
	var err error
	if r.StopTimeout < 0 {
		return container.Config{}, fmt.Errorf("--stop-timeout %v: must not be negative", r.StopTimeout)
	}
	if r.Interactive && r.TTY && !isTerminal(os.Stdin) {
		// As docker run: raw mode and keys typed one by one need a
		// terminal; -i alone pipes stdin, -t alone needs none.
		return container.Config{}, errors.New("-it: the input device is not a terminal (use -i alone to pipe stdin)")
	}
	if r.Detach && r.Interactive {
		return container.Config{}, errors.New("-d with -i: a detached container's stdin is /dev/null (crate has no attach); drop -i, or run in the foreground")
	}
	if o.ID, err = containerID(r.Name); err != nil {
		return container.Config{}, err
	}
	if r.Memory != "" {
		if o.MemoryBytes, err = spec.ParseMemory(r.Memory); err != nil {
			return container.Config{}, err
		}
	}
	if r.CPU != "" {
		if o.CPUPercent, err = spec.ParseCPU(r.CPU, runtime.NumCPU()); err != nil {
			return container.Config{}, err
		}
	}
	o.Pids = defaultPids
	if r.Pids != nil {
		if o.Pids, err = spec.ParsePids(*r.Pids); err != nil {
			return container.Config{}, err
		}
	}
	if refuseBelowMinimums {
		if err := aboveFloor(r.Memory, o); err != nil {
			return container.Config{}, err
		}
	}
	if o.Capabilities, err = spec.CapabilitySet(r.CapAdd, r.CapDrop, r.Privileged); err != nil {
		return container.Config{}, err
	}
	o.Privileged = r.Privileged
	o.ReadOnly = r.ReadOnly
	for _, v := range r.Tmpfs {
		if err := spec.ValidTmpfs(v); err != nil {
			return container.Config{}, err
		}
	}
	o.Tmpfs = r.Tmpfs
	for _, v := range r.Ulimit {
		l, err := spec.ParseUlimit(v)
		if err != nil {
			return container.Config{}, err
		}
		o.Rlimits = append(o.Rlimits, l)
	}
	for _, v := range r.Volume {
		m, err := spec.ParseVolume(v)
		if err != nil {
			return container.Config{}, err
		}
		o.Volumes = append(o.Volumes, m)
	}
	for _, v := range r.Device {
		d, err := spec.ParseDevice(v)
		if err != nil {
			return container.Config{}, err
		}
		o.Devices = append(o.Devices, d)
	}
	for _, v := range r.Sysctl {
		key, value, err := spec.ParseSysctl(v)
		if err != nil {
			return container.Config{}, err
		}
		if o.Sysctls == nil {
			o.Sysctls = map[string]string{}
		}
		o.Sysctls[key] = value
	}
	logLim, err := logLimits(r.LogOpt)
	if err != nil {
		return container.Config{}, err
	}
	sec, err := spec.ParseSecurityOpts(r.SecurityOpt)
	if err != nil {
		return container.Config{}, err
	}
	o.NoNewPrivileges = sec.NoNewPrivileges
	if o.Seccomp, err = seccompProfile(sec.Seccomp, o.Capabilities, r.Privileged); err != nil {
		return container.Config{}, err
	}
	if r.Hostname != "" {
		if err := spec.ValidHostname(r.Hostname); err != nil {
			return container.Config{}, err
		}
	}
	if r.Workdir != "" {
		if err := spec.ValidWorkdir(r.Workdir); err != nil {
			return container.Config{}, err
		}
	}
	for _, kv := range r.Env {
		if err := spec.ValidEnv(kv); err != nil {
			return container.Config{}, err
		}
	}
	if r.Hostname == "" {
		// The default hostname is the id, which must then be a valid hostname.
		if err := spec.ValidHostname(o.ID); err != nil {
			return container.Config{}, fmt.Errorf("--name %q cannot be the hostname; add --hostname: %w", o.ID, err)
		}
	}
	initPath, err := container.FindInit()
	if err != nil {
		return container.Config{}, err
	}
	minFree, err := g.reserve()
	if err != nil {
		return container.Config{}, err
	}
	return container.Config{
		Image:       r.Image,
		Platform:    r.Platform,
		Storage:     container.Storage(r.Storage),
		Entrypoint:  r.Entrypoint,
		Command:     r.Command,
		StateRoot:   g.DataRoot,
		MinFree:     minFree,
		Progress:    os.Stderr,
		CgroupRoot:  "/sys/fs/cgroup",
		InitPath:    initPath,
		Version:     version,
		StopTimeout: r.StopTimeout,
		Interactive: r.Interactive,
		Terminal:    r.TTY,
		Spec:        o,
		State:       g.runDir(),
		Detached:    r.Detach,
		LogLimits:   logLim,
		Keep:        r.Detach && !r.Rm,
	}, nil
}

// seccompProfile is the system call filter's profile, as in docker run:
// Docker's default, with the rules the container's capabilities call for,
// unless --security-opt seccomp=unconfined or --privileged says none, or
// seccomp=FILE names another.
func seccompProfile(opt string, capabilities []string, privileged bool) (*specs.LinuxSeccomp, error) {
	switch {
	case opt == "unconfined", opt == "" && privileged:
		return nil, nil
	case opt == "":
		return profile.Default(capabilities)
	}
	p, err := profile.Load(opt, capabilities)
	if err != nil {
		return nil, fmt.Errorf("--security-opt seccomp=%s: %w", opt, err)
	}
	return p, nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// defaultPids bounds a container's processes when --pids is not given, as
// Docker's default profile does: a fork bomb then dies on its own.
const defaultPids = 4096

// containerID is --name if given, else 12 random hex digits as in Docker's
// short ids.
func containerID(name string) (string, error) {
	if name != "" {
		return name, spec.ValidName(name)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate container id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// loggedError is an error Run has already logged, so main does not print it
// a second time.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

// aboveFloor refuses a --memory or --pids below what a start needs, with
// --init or without (container.StartFloor): such a start would fail, now and
// then or always, once crate had made everything.
func aboveFloor(memory string, o spec.Options) error {
	f := container.StartFloor(o.Init)
	with := ""
	if o.Init {
		with = " with --init"
	}
	if o.MemoryBytes > 0 && o.MemoryBytes < f.MemoryBytes {
		return fmt.Errorf("--memory %s: below the %s crate-init needs to start any command%s; give --memory %dK or more",
			memory, humanBytes(f.MemoryBytes), with, f.MemoryBytes>>10)
	}
	if o.Pids > 0 && o.Pids < f.Pids {
		return fmt.Errorf("--pids %d: below the %d tasks crate-init needs to start any command%s; give --pids %d or more (-1 for no limit)",
			o.Pids, f.Pids, with, f.Pids)
	}
	return nil
}

// explainInitDied words a start whose crate-init died before the command
// started, naming the flag of the limit that was in its way, if one was.
func explainInitDied(err error) error {
	var d *container.InitDiedError
	if !errors.As(err, &d) {
		return err
	}
	const oom = "crate-init was OOM-killed before the command started"
	const pids = "crate-init could not start a thread before the command started"
	switch {
	case d.OOMKilled && d.MemoryLimit > 0 && d.MemoryLimit < d.Floor.MemoryBytes:
		return fmt.Errorf("%s: a memory limit of %s is below what a start needs (about %s); raise --memory",
			oom, humanBytes(d.MemoryLimit), humanBytes(d.Floor.MemoryBytes))
	case d.OOMKilled && d.MemoryLimit > 0:
		return fmt.Errorf("%s, under a memory limit of %s; raise --memory", oom, humanBytes(d.MemoryLimit))
	case d.PidsLimited && d.PidsLimit > 0 && d.PidsLimit < d.Floor.Pids:
		return fmt.Errorf("%s: a pids limit of %d is below what a start needs (%d); raise --pids",
			pids, d.PidsLimit, d.Floor.Pids)
	case d.PidsLimited:
		return fmt.Errorf("%s: the pids limit of %d was reached; raise --pids", pids, d.PidsLimit)
	}
	return err
}

// limitFlags name the flag of crate run that sets each field of the spec's
// resources, for the cgroup package's errors, which name the field.
var limitFlags = map[string]string{
	"memory.limit": "--memory",
	"memory.swap":  "--memory",
	"cpu.quota":    "--cpu",
	"cpu.period":   "--cpu",
	"pids.limit":   "--pids",
	"devices":      "the device allow-list",
}

// explainCgroupLimit words a limit the cgroup package refused with the flag
// that set it.
func explainCgroupLimit(err error) error {
	var me *cgroups.MissingControllerError
	if errors.As(err, &me) {
		if flag, ok := limitFlags[me.Resource]; ok {
			return fmt.Errorf("%s needs the %s cgroup controller, which is not available (enable it in the kernel/boot options)",
				flag, me.Controller)
		}
	}
	var ie *cgroups.InvalidResourceError
	if errors.As(err, &ie) {
		if flag, ok := limitFlags[ie.Resource]; ok {
			return fmt.Errorf("invalid %s (%s %s): %s", flag, ie.Resource, ie.Value, ie.Reason)
		}
	}
	return err
}

// humanBytes prints a limit the way it was most likely given.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
