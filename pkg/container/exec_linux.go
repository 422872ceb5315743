package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/seccomp"
	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/state"
)

// crate exec starts one more process in a running container, and it must
// be the container's in every way: its namespaces, its cgroup, its root, its
// capabilities, seccomp filter and limits. It is started the way the
// container's PID 1 was: crate-init, executed from the protected copy (see
// protectedInit) so the container never gets to run or touch a host binary,
// is born in the container's cgroup but outside its PID namespace, joins
// its namespaces and root, takes the spec the container's own init had, its
// process part replaced, and starts the command as its child, inside the
// container (pkg/initproc, join_linux.go and spawn_linux.go). Nothing of the
// exec is visible in the container before it is in the container's root,
// holding no more than the container does.

// ErrNotRunning is returned for a container whose PID 1 has exited.
var ErrNotRunning = errors.New("container is not running")

// ExecConfig is a process to start in a running container.
type ExecConfig struct {
	State       state.State // the running container's
	Spec        string      // the container's InitSpec file
	CgroupRoot  string      // normally /sys/fs/cgroup
	InitPath    string      // the crate-init binary
	Version     string      // crate's version (see Config.Version)
	Args        []string    // the command and its arguments
	Env         []string    // KEY=VALUE, over the container's environment
	Cwd         string      // "" for the container's working directory
	User        string      // "" for the container's user
	Interactive bool        // -i: the process reads crate's stdin
	Terminal    bool        // -t: a new pty as its stdio
	StopTimeout time.Duration
}

// Exec starts the process, forwards signals to it as Run does, and returns
// how it ended. A process the container's other processes started stays
// when it ends; when the container's PID 1 ends, the kernel kills them all.
func Exec(log hclog.Logger, cfg ExecConfig, sigs <-chan os.Signal) (*Result, error) {
	st := cfg.State
	log = log.With("container_id", st.ID)
	s, filter, err := readSpecFile(cfg.Spec)
	if err != nil {
		return nil, err
	}
	applyExec(s.Process, s.Annotations, cfg)
	target, err := openTarget(st.InitPID, st.InitStartTime)
	if err != nil {
		return nil, err
	}
	defer target.close()
	if target.cgroup, err = openCgroup(log, cfg.CgroupRoot, st); err != nil {
		return nil, err
	}
	c := &container{
		log: log,
		cfg: Config{InitPath: cfg.InitPath, StopTimeout: cfg.StopTimeout, Interactive: cfg.Interactive,
			Terminal: cfg.Terminal},
		id:     st.ID,
		spec:   s,
		filter: filter,
		join:   target,
	}
	// Pdeathsig fires when the thread that started init exits: keep this
	// goroutine on one thread until init has been reaped, as Run does.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer func() { c.tty.restore() }()
	err = c.start(sigs)
	var res *Result
	if err == nil {
		res = c.result(c.wait(sigs))
	}
	c.cleanup()
	c.tty.close()
	c.relay.close()
	return res, err
}

// readSpecFile reads the spec the container's supervisor kept.
func readSpecFile(path string) (*specs.Spec, seccomp.Program, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: its spec %s is gone", ErrNotRunning, path)
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	in, err := spec.ReadInit(f)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return in.Spec, in.Filter, nil
}

// applyExec replaces the process part of the container's spec with the
// exec's: its command, environment on top of the container's, working
// directory and user; no --init, and the mark that tells crate-init to join.
func applyExec(p *specs.Process, annotations map[string]string, cfg ExecConfig) {
	p.Args = cfg.Args
	p.Env = mergeEnv(p.Env, cfg.Env)
	if cfg.Cwd != "" {
		p.Cwd = cfg.Cwd
	}
	if cfg.User != "" {
		annotations[spec.AnnotationUser] = cfg.User
	}
	p.Terminal = cfg.Terminal
	delete(annotations, spec.AnnotationInit)
	annotations[spec.AnnotationExec] = "true"
	annotations[spec.AnnotationVersion] = cfg.Version
}

// mergeEnv sets each KEY=VALUE of over in env, replacing the same KEY.
func mergeEnv(env, over []string) []string {
	env = slices.Clone(env)
	for _, kv := range over {
		key, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(env, func(e string) bool { return strings.HasPrefix(e, key+"=") })
		if i >= 0 {
			env[i] = kv
		} else {
			env = append(env, kv)
		}
	}
	return env
}

// joinTarget is the running container crate-init joins.
type joinTarget struct {
	pidfd  *os.File // of the container's PID 1
	cgroup cgroups.Manager
}

// openTarget opens the container's PID 1 as a pidfd. The start time
// recorded with the PID tells it from a process that got the same PID
// later; once the pidfd is open it names that process for good.
func openTarget(pid int, startTime uint64) (*joinTarget, error) {
	notRunning := fmt.Errorf("%w: its PID 1 has exited", ErrNotRunning)
	if pid <= 0 {
		return nil, fmt.Errorf("%w: it has not started", ErrNotRunning)
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	// EINVAL: the PID is a thread's now, not a process's; ours is gone.
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.EINVAL) {
		return nil, notRunning
	}
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	t := &joinTarget{pidfd: os.NewFile(uintptr(fd), "pidfd")}
	if st, err := state.ProcStartTime(pid); err != nil || st != startTime {
		t.close()
		return nil, notRunning
	}
	return t, nil
}

func (t *joinTarget) close() { t.pidfd.Close() }

// openCgroup is the manager of a created container's cgroup, with the
// resources its state records: they decide which v1 hierarchies it is in.
func openCgroup(log hclog.Logger, root string, st state.State) (cgroups.Manager, error) {
	res := st.Resources
	if res == nil {
		// A container of a crate before resources were recorded: it had
		// Docker's device rules, so a process joining it must enter the
		// devices hierarchy. (Its cpu hierarchy, with --cpu, is not known.)
		res = &specs.LinuxResources{Devices: spec.DefaultDeviceRules()}
	}
	path := st.CgroupPath
	if path == "" {
		path = cgroupPath(st.ID)
	}
	// An OCI container's cgroup is in every v1 hierarchy (see ociCgroup).
	return cgroups.New(log, cgroups.Config{Root: root, Path: path, Resources: res, AllHierarchies: st.OCI})
}
