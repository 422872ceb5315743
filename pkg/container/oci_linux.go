package container

// crate as an OCI runtime: the half of crate that engines drive through
// runc's command line (containerd's shim, conmon, dockerd), from an OCI
// bundle's config.json rather than from crate run's flags.
//
// Under an engine there is no crate supervisor. OCI create starts crate-init
// as its own child, in new namespaces and born in the container's cgroup,
// exactly as crate run's supervisor does (launch_linux.go); init builds the
// container and then waits at the start gate, a listening socket in the
// container's run directory, and create exits. Its caller, a subreaper,
// inherits init and reaps it: the engine, not crate, learns how the
// container ended. OCI start connects to the gate and hears from init, as
// crate run's supervisor does, whether the command could be executed.
// Everything else (state, kill, pause, delete) works from the container's
// run directory and its cgroup, and reaches init through a pidfd opened
// against the PID and start time create recorded.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/hooks"
	"github.com/crate-run/crate/pkg/initsync"
	"github.com/crate-run/crate/pkg/seccomp/profile"
	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/state"
)

// statePaused is runc's status of a frozen container, which the runtime
// spec does not name.
const statePaused specs.ContainerState = "paused"

// startSocket is the start gate: the socket, in a created container's run
// directory, that its init listens on for OCI start.
const startSocket = "start.sock"

// CreateConfig is one OCI create.
type CreateConfig struct {
	ID     string
	Bundle string      // the bundle's directory, absolute
	Spec   *specs.Spec // its config.json, loaded and checked (spec.LoadBundle)
	State  *state.Dir  // the run directory (runc's --root)
	// CgroupRoot is normally /sys/fs/cgroup.
	CgroupRoot string
	InitPath   string // the crate-init binary
	Version    string // crate's version (see Config.Version)
	// PidFile, if set, gets init's PID once the container is created.
	PidFile string
	// ConsoleSocket is the caller's AF_UNIX socket that gets the master of
	// the container's terminal, when its process asks for one.
	ConsoleSocket string
	NoPivot       bool
	// Stdio are the container's standard streams when it has no terminal:
	// create's own, which its caller made for the container.
	Stdin, Stdout, Stderr *os.File
}

// Create makes the container of cfg's bundle and leaves its init waiting at
// the start gate, a child of the caller once create exits. On failure
// nothing of it is left.
func Create(log hclog.Logger, cfg CreateConfig) (err error) {
	log = log.With("container_id", cfg.ID)
	// The cgroup placement (v1) and the network namespace are per thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := cfg.Spec
	if s.Process.Terminal && cfg.ConsoleSocket == "" {
		return &spec.UnsupportedError{Field: "process.terminal", Reason: "a terminal needs --console-socket, where its master goes"}
	}
	plan, err := planNamespaces(s)
	if err != nil {
		return err
	}
	defer plan.close()
	annotations := maps.Clone(s.Annotations) // the bundle's, for OCI state
	s.Annotations = maps.Clone(s.Annotations)
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[spec.AnnotationID] = cfg.ID
	s.Annotations[spec.AnnotationVersion] = cfg.Version
	if cfg.NoPivot {
		s.Annotations[spec.AnnotationNoPivot] = "true"
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	s.Linux.Resources.Devices = deviceRules(s.Linux.Resources.Devices, s.Linux.Devices)
	s.Linux.Devices = withDefaultDevices(s.Linux.Devices)
	// A terminal is made by init in the container's devpts (see Console).
	in := &spec.InitInput{Spec: s, Console: s.Process.Terminal}
	if p := s.Linux.Seccomp; p != nil {
		if in.Filter, err = profile.Compile(p); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
	}
	cg, cgPath, err := ociCgroup(log, cfg.CgroupRoot, cfg.ID, s)
	if err != nil {
		return err
	}
	s.Mounts = expandCgroupMounts(s.Mounts, cg)

	h, err := cfg.State.Create(&state.State{
		ID:          cfg.ID,
		Name:        cfg.ID,
		Image:       cfg.Bundle,
		Command:     s.Process.Args,
		Status:      state.Created,
		Created:     time.Now().UTC(),
		Cgroup:      cg.Path(),
		CgroupPath:  cgPath,
		Resources:   s.Linux.Resources,
		Bundle:      cfg.Bundle,
		Rootfs:      s.Root.Path,
		Annotations: annotations,
		Hooks:       s.Hooks,
		OCI:         true,
	})
	if errors.Is(err, state.ErrExists) {
		return fmt.Errorf("container %q exists", cfg.ID)
	}
	if err != nil {
		return err
	}
	defer h.Release() // create's part ends here; init lives on
	defer func() {
		if err != nil {
			if rerr := h.Remove(); rerr != nil {
				log.Error("remove the container's state", "error", rerr)
			}
		}
	}()
	if err := cg.Create(); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	defer func() {
		if err != nil {
			if derr := cg.Destroy(); derr != nil {
				log.Error("remove cgroup", "cgroup", cg.Path(), "error", derr)
			}
		}
	}()
	listener, err := listenStart(cfg.State, cfg.ID)
	if err != nil {
		return err
	}
	defer listener.Close()

	l := &launch{
		initPath:   cfg.InitPath,
		input:      in,
		stdin:      cfg.Stdin,
		stdout:     cfg.Stdout,
		stderr:     cfg.Stderr,
		cloneFlags: plan.flags,
		cgroup:     cg,
	}
	l.extra, in.Join = plan.files, plan.join
	in.StartFd = initsync.FirstExtraFd + len(l.extra)
	l.extra = append(l.extra, listener)
	p, err := startIn(log, l, plan.pidns)
	if err != nil {
		return err
	}
	defer p.sync.Close()
	console, err := p.sync.WaitCreated()
	if err != nil {
		if errors.Is(err, initsync.ErrInitDied) {
			<-p.exited
			return fmt.Errorf("crate-init died while it made the container (%v)", p.status())
		}
		p.kill(log)
		return err
	}
	if console != nil {
		err := sendConsole(cfg.ConsoleSocket, console)
		console.Close()
		if err != nil {
			p.kill(log)
			return err
		}
	}
	<-p.startRead
	// The container's namespaces exist and its command has not run: the
	// bundle's prestart and createRuntime hooks (Docker's network setup is
	// one), with init's PID to find them by.
	hookState := spec.NewState(cfg.ID, specs.StateCreating, p.pid(), cfg.Bundle, annotations)
	for _, kind := range []hooks.Kind{hooks.Prestart, hooks.CreateRuntime} {
		if err := hooks.Run(context.Background(), log, kind, hooks.Of(s.Hooks, kind), hookState); err != nil {
			p.kill(log)
			return err
		}
	}
	// The spec as init got it, for OCI exec, as crate run keeps it.
	if err := h.WriteFile(InitSpec, p.spec); err != nil {
		p.kill(log)
		return err
	}
	if err := h.Update(func(st *state.State) {
		st.InitPID, st.InitStartTime = p.pid(), p.startTime
	}); err != nil {
		p.kill(log)
		return err
	}
	if cfg.PidFile != "" {
		if err := writePidFile(cfg.PidFile, p.pid()); err != nil {
			p.kill(log)
			return err
		}
	}
	log.Info("container created", "pid", p.pid(), "bundle", cfg.Bundle, "cgroup", cg.Path())
	return nil
}

// namespacePlan is how init gets the namespaces of a bundle: born in the new
// ones (clone flags), given descriptors of those with a path to join.
type namespacePlan struct {
	flags uintptr
	join  []spec.Join
	files []*os.File
	netns *pendingNetns
	// pidns is a PID namespace to join (a Kubernetes pod's): init is born
	// in it, rather than joining it, since a process's own PID namespace
	// never changes (see startIn).
	pidns *os.File
}

// cloneFlagOf are the namespaces init is born in when the bundle asks for
// a new one. The network namespace is made ahead, with its loopback up, as
// crate run's is (netns_linux.go); the cgroup namespace is init's to
// unshare once it sits in its cgroup.
var cloneFlagOf = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:   unix.CLONE_NEWPID,
	specs.MountNamespace: unix.CLONE_NEWNS,
	specs.UTSNamespace:   unix.CLONE_NEWUTS,
	specs.IPCNamespace:   unix.CLONE_NEWIPC,
}

// planNamespaces opens the namespaces the bundle names by path and works out
// the clone flags of the others. What it opened, the caller closes.
func planNamespaces(s *specs.Spec) (_ *namespacePlan, err error) {
	p := &namespacePlan{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if !spec.HasNamespace(s, specs.MountNamespace) {
		return nil, &spec.UnsupportedError{Field: "linux.namespaces", Reason: "crate needs a mount namespace of the container's own: add {\"type\": \"mount\"}"}
	}
	for i, ns := range s.Linux.Namespaces {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		if ns.Path == "" {
			switch ns.Type {
			case specs.NetworkNamespace:
				p.netns = startNetns()
				f, err := p.netns.wait()
				if err != nil {
					return nil, fmt.Errorf("make the network namespace: %w", err)
				}
				p.join = append(p.join, spec.Join{Type: ns.Type, Fd: initsync.FirstExtraFd + len(p.files)})
				p.files = append(p.files, f)
			case specs.CgroupNamespace:
			default:
				flag, ok := cloneFlagOf[ns.Type]
				if !ok {
					return nil, &spec.UnsupportedError{Field: field, Reason: fmt.Sprintf("a %s namespace is not supported", ns.Type)}
				}
				p.flags |= flag
			}
			continue
		}
		switch ns.Type {
		case specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace, specs.PIDNamespace:
		default:
			return nil, &spec.UnsupportedError{Field: field + ".path", Value: ns.Path,
				Reason: fmt.Sprintf("joining a %s namespace is not supported", ns.Type)}
		}
		f, err := openNamespace(ns)
		if err != nil {
			return nil, fmt.Errorf("%s.path: %w", field, err)
		}
		if ns.Type == specs.PIDNamespace {
			p.pidns = f
			continue
		}
		p.join = append(p.join, spec.Join{Type: ns.Type, Fd: initsync.FirstExtraFd + len(p.files)})
		p.files = append(p.files, f)
	}
	return p, nil
}

// startIn launches init, born in the PID namespace pidns if it is not nil.
// Only a new process can be in another PID namespace than its parent's: a
// thread's setns into one decides where its children are born. So the
// launch runs on a thread of its own, which enters pidns and is never used
// again: the goroutine ends locked, and Go's runtime ends the thread.
//
// init is then visible in the pod's PID namespace while it still sees the
// host's file system, as runc's is: it has made itself undumpable first
// thing, so that nothing there without CAP_SYS_PTRACE over the host can
// trace it or read its memory.
func startIn(log hclog.Logger, l *launch, pidns *os.File) (*initProcess, error) {
	if pidns == nil {
		return l.start(log)
	}
	type started struct {
		p   *initProcess
		err error
	}
	done := make(chan started, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		if err := unix.Setns(int(pidns.Fd()), unix.CLONE_NEWPID); err != nil {
			done <- started{err: fmt.Errorf("join the PID namespace: %w", os.NewSyscallError("setns", err))}
			return
		}
		p, err := l.start(log)
		done <- started{p, err}
	}()
	r := <-done
	return r.p, r.err
}

// nsfsMagic is the file system of namespace files (/proc/PID/ns/*, and the
// bind mounts of them CNI leaves under /var/run/netns).
const nsfsMagic = 0x6e736673

// openNamespace opens a namespace file, and checks that it is one, of the
// type asked for.
func openNamespace(ns specs.LinuxNamespace) (*os.File, error) {
	f, err := os.Open(ns.Path)
	if err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "fstatfs", Path: ns.Path, Err: err}
	}
	if st.Type != nsfsMagic {
		f.Close()
		return nil, fmt.Errorf("%s is not a namespace", ns.Path)
	}
	return f, nil
}

func (p *namespacePlan) close() {
	for _, f := range p.files {
		f.Close()
	}
	if p.pidns != nil {
		p.pidns.Close()
	}
	if p.netns != nil {
		p.netns.close()
	}
}

// withDefaultDevices adds the device nodes the runtime spec says every
// container has (/dev/null, zero, full, random, urandom, tty) to the
// bundle's, which win by path.
func withDefaultDevices(devs []specs.LinuxDevice) []specs.LinuxDevice {
	var all []specs.LinuxDevice
	for _, d := range spec.DefaultDevices() {
		if !slices.ContainsFunc(devs, func(o specs.LinuxDevice) bool { return o.Path == d.Path }) {
			all = append(all, d)
		}
	}
	return append(all, devs...)
}

// deviceRules are the bundle's device cgroup rules, then those that let the
// container use what the runtime spec says it always has (the minimal /dev,
// its terminals: Docker's list, as runc appends it) and the bundle's own
// device nodes.
func deviceRules(rules []specs.LinuxDeviceCgroup, devs []specs.LinuxDevice) []specs.LinuxDeviceCgroup {
	defaults := spec.DefaultDeviceRules() // deny all, then allow
	if len(rules) == 0 {
		rules = defaults[:1]
	}
	rules = append(slices.Clone(rules), defaults[1:]...)
	for _, d := range devs {
		major, minor := d.Major, d.Minor
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: "rwm"})
	}
	return rules
}

// expandCgroupMounts replaces a bundle's "cgroup" mount with the container's
// own cgroup as crate run mounts it (cgroupMounts): cgroup2 on a v2 host, a
// tmpfs of one mount per hierarchy on v1. A "ro" in the bundle's options
// stays; crate run's is always read-only.
func expandCgroupMounts(mounts []specs.Mount, cg cgroups.Manager) []specs.Mount {
	var out []specs.Mount
	for _, m := range mounts {
		if m.Type != "cgroup" && m.Type != "cgroup2" {
			out = append(out, m)
			continue
		}
		for _, c := range cgroupMounts(cg) {
			if c.Type != "tmpfs" && !slices.Contains(m.Options, "ro") {
				c.Options = slices.DeleteFunc(slices.Clone(c.Options), func(o string) bool { return o == "ro" })
			}
			c.Destination = filepath.Join(m.Destination, c.Destination[len("/sys/fs/cgroup"):])
			out = append(out, c)
		}
	}
	return out
}

// listenStart binds the start gate of container id and listens on it.
func listenStart(dir *state.Dir, id string) (*os.File, error) {
	return gateSocket(dir, id, "bind", func(fd int, addr unix.Sockaddr) error {
		if err := unix.Bind(fd, addr); err != nil {
			return err
		}
		return unix.Listen(fd, 1)
	})
}

// dialStart connects to the start gate of container id.
func dialStart(dir *state.Dir, id string) (*os.File, error) {
	return gateSocket(dir, id, "connect", unix.Connect)
}

// gateSocket makes a socket and binds or connects it (do) to the start gate
// of container id. The address goes through the directory's descriptor: a
// run directory deep enough (an engine's) would take the path past the 108
// bytes of a socket address.
func gateSocket(dir *state.Dir, id, op string, do func(int, unix.Sockaddr) error) (*os.File, error) {
	d, err := os.Open(filepath.Join(dir.Path, id))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	addr := &unix.SockaddrUnix{Name: fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), startSocket)}
	if err := do(fd, addr); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: op, Path: dir.File(id, startSocket), Err: err}
	}
	return os.NewFile(uintptr(fd), startSocket), nil
}

// sendConsole hands the master of the container's terminal to the caller's
// console socket: one message, the pty's name as payload and the master as
// its one SCM_RIGHTS descriptor, as runc does. No answer is awaited.
func sendConsole(path string, master *os.File) error {
	if path == "" {
		return &spec.UnsupportedError{Field: "process.terminal", Reason: "a terminal needs --console-socket, where its master goes"}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return &os.PathError{Op: "connect", Path: path, Err: err}
	}
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(fd, []byte(master.Name()), rights, nil, 0); err != nil {
		return &os.PathError{Op: "sendmsg", Path: path, Err: err}
	}
	return nil
}

// writePidFile writes pid to path, in decimal without a newline, through a
// temporary file renamed into place: whoever reads it (a shim, conmon) never
// sees it half written.
func writePidFile(path string, pid int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err == nil {
		_, err = tmp.WriteString(strconv.Itoa(pid))
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), 0o644)
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("write the pid file: %w", err)
	}
	return nil
}

// Start lets the command of a created container run: it opens the start
// gate and returns once init has executed the command, or failed to.
func Start(log hclog.Logger, dir *state.Dir, cgroupRoot, id string) error {
	st, err := dir.Get(id)
	if err != nil {
		return err
	}
	if status := OCIStatus(log, cgroupRoot, st); status != specs.StateCreated {
		return fmt.Errorf("container %s is %s, not created: only a created container can be started", id, status)
	}
	conn, err := dialStart(dir, id)
	if err != nil {
		return fmt.Errorf("open the start gate: %w", err)
	}
	ch := initsync.NewChannel(conn)
	defer ch.Close()
	if err := ch.SendGo(); err != nil {
		return err
	}
	if err := ch.WaitExec(); err != nil {
		return err
	}
	now := time.Now().UTC()
	if err := dir.Modify(id, func(st *state.State) {
		st.Status, st.Started = state.Running, now
	}); err != nil {
		return err
	}
	log.Info("container started", "container_id", id, "pid", st.InitPID)
	running := spec.NewState(id, specs.StateRunning, st.InitPID, st.Bundle, st.Annotations)
	return hooks.Run(context.Background(), log, hooks.Poststart, hooks.Of(st.Hooks, hooks.Poststart), running)
}

// OCIStatus is where an OCI container is in its life, told by its init
// rather than by a supervisor: stopped once init has exited (reaped or not:
// the caller of state is not always its reaper), created until start,
// paused while its cgroup is frozen, else running.
func OCIStatus(log hclog.Logger, cgroupRoot string, st state.State) specs.ContainerState {
	if !initAlive(st) {
		return specs.StateStopped
	}
	if st.Status == state.Created {
		return specs.StateCreated
	}
	if cg, err := openCgroup(log, cgroupRoot, st); err == nil {
		if frozen, err := cg.Frozen(); err == nil && frozen {
			return statePaused
		}
	}
	return specs.StateRunning
}

// initAlive reports whether the container's init is still running: not
// exited, not even as a zombie nobody has reaped yet.
func initAlive(st state.State) bool {
	pidfd, err := openInit(st)
	if err != nil {
		return false
	}
	defer pidfd.Close()
	exited, err := waitExit(pidfd, 0)
	return err == nil && !exited
}

// ociCgroup is the cgroup of a bundle's container: its cgroupsPath, or
// crate's own name for it; in every v1 hierarchy, as runc puts it, so that
// pause and an engine's own readers find it.
func ociCgroup(log hclog.Logger, root, id string, s *specs.Spec) (cgroups.Manager, string, error) {
	path := s.Linux.CgroupsPath
	if path == "" {
		path = cgroupPath(id)
	}
	cg, err := cgroups.New(log, cgroups.Config{Root: root, Path: path, Resources: s.Linux.Resources, AllHierarchies: true})
	if err != nil {
		return nil, "", err
	}
	return cg, path, nil
}

// Pids lists the host PIDs of every process of a container.
func Pids(log hclog.Logger, cgroupRoot string, st state.State) ([]int, error) {
	cg, err := openCgroup(log, cgroupRoot, st)
	if err != nil {
		return nil, err
	}
	return cg.Pids()
}

// Pause freezes (or, with !freeze, thaws) every process of an OCI container.
func Pause(log hclog.Logger, dir *state.Dir, cgroupRoot, id string, freeze bool) error {
	st, err := dir.Get(id)
	if err != nil {
		return err
	}
	status := OCIStatus(log, cgroupRoot, st)
	cg, err := openCgroup(log, cgroupRoot, st)
	if err != nil {
		return err
	}
	if freeze {
		if status != specs.StateRunning {
			return fmt.Errorf("container %s is %s: only a running container can be paused", id, status)
		}
		return cg.Freeze()
	}
	if status != statePaused {
		return fmt.Errorf("container %s is %s, not paused", id, status)
	}
	return cg.Thaw()
}

// Update writes new limits to an OCI container's cgroup, and records them.
func Update(log hclog.Logger, dir *state.Dir, cgroupRoot, id string, r *specs.LinuxResources) error {
	st, err := dir.Get(id)
	if err != nil {
		return err
	}
	if status := OCIStatus(log, cgroupRoot, st); status == specs.StateStopped {
		return fmt.Errorf("container %s is stopped", id)
	}
	cg, err := openCgroup(log, cgroupRoot, st)
	if err != nil {
		return err
	}
	if err := cg.Update(r); err != nil {
		return err
	}
	return dir.Modify(id, func(st *state.State) { st.Resources = mergeResources(st.Resources, r) })
}

// mergeResources is old with the parts r sets replaced, as Update applies
// them: what a container's state records after an update.
func mergeResources(old, r *specs.LinuxResources) *specs.LinuxResources {
	if old == nil {
		return r
	}
	m := *old
	if r.Memory != nil {
		m.Memory = r.Memory
	}
	if r.CPU != nil {
		m.CPU = r.CPU
	}
	if r.Pids != nil {
		m.Pids = r.Pids
	}
	if r.BlockIO != nil {
		m.BlockIO = r.BlockIO
	}
	if r.HugepageLimits != nil {
		m.HugepageLimits = r.HugepageLimits
	}
	if r.Unified != nil {
		m.Unified = r.Unified
	}
	return &m
}

// Kill sends sig to an OCI container's init, or with all to every process
// of its cgroup. A stopped container takes no signal, but for a SIGKILL to
// all of it, which finds nothing left to kill: engines send it to make sure.
func Kill(log hclog.Logger, dir *state.Dir, cgroupRoot, id string, sig unix.Signal, all bool) error {
	st, err := dir.Get(id)
	if err != nil {
		return err
	}
	if !all {
		return Signal(st, sig)
	}
	cg, err := openCgroup(log, cgroupRoot, st)
	if err != nil {
		return err
	}
	if sig == unix.SIGKILL {
		return cg.Kill()
	}
	if !initAlive(st) {
		return fmt.Errorf("%w: its PID 1 has exited", ErrNotRunning)
	}
	pids, err := cg.Pids()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return os.NewSyscallError("kill", err)
		}
	}
	return nil
}

// Delete removes an OCI container: its cgroup and its entry in the run
// directory. A container still running is refused unless force, which
// kills it first; a created one is killed at its gate. The bundle is its
// caller's and stays.
func Delete(log hclog.Logger, dir *state.Dir, cgroupRoot, id string, force bool) error {
	unlock, err := dir.Reap(id)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := dir.Get(id)
	if err != nil {
		return err
	}
	status := OCIStatus(log, cgroupRoot, st)
	if (status == specs.StateRunning || status == statePaused) && !force {
		return fmt.Errorf("container %s is %s: stop it first, or delete it with --force", id, status)
	}
	if err := Signal(st, unix.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	if status == statePaused {
		// A frozen process dies of SIGKILL only once thawed (v1).
		if cg, err := openCgroup(log, cgroupRoot, st); err == nil {
			if err := cg.Thaw(); err != nil {
				log.Warn("thaw the container to kill it", "error", err)
			}
		}
	}
	if err := Remove(log, cgroupRoot, st); err != nil {
		return err
	}
	if err := dir.RemoveDir(id); err != nil {
		return err
	}
	log.Info("container deleted", "container_id", id)
	stopped := spec.NewState(id, specs.StateStopped, 0, st.Bundle, st.Annotations)
	return hooks.Run(context.Background(), log, hooks.Poststop, hooks.Of(st.Hooks, hooks.Poststop), stopped)
}

// ExecProcessConfig is one OCI exec: a process, as config.json's, to start
// in a running container.
type ExecProcessConfig struct {
	State      state.State // the container's
	Spec       string      // the container's InitSpec file
	CgroupRoot string
	InitPath   string
	Version    string
	Process    *specs.Process
	// Detach returns once the process runs, leaving it to the caller (a
	// subreaper) to reap; otherwise OCIExec waits for it.
	Detach                bool
	PidFile               string // gets the process's host PID once it runs
	ConsoleSocket         string // gets the master of its terminal (Process.Terminal)
	Stdin, Stdout, Stderr *os.File
}

// ExecProcess starts cfg's process in a running container, as crate exec
// does (exec_linux.go) but with the caller's own descriptors as its stdio or
// the terminal's master sent to its console socket. Without Detach it
// forwards sigs to the process and returns its exit code.
func ExecProcess(log hclog.Logger, cfg ExecProcessConfig, sigs <-chan os.Signal) (int, error) {
	st := cfg.State
	log = log.With("container_id", st.ID)
	s, filter, err := readSpecFile(cfg.Spec)
	if err != nil {
		return 0, err
	}
	process := *cfg.Process
	s.Process = &process
	delete(s.Annotations, spec.AnnotationUser) // the process's user is by number
	delete(s.Annotations, spec.AnnotationInit)
	s.Annotations[spec.AnnotationExec] = "true"
	s.Annotations[spec.AnnotationVersion] = cfg.Version
	if cfg.Detach {
		s.Annotations[spec.AnnotationDetach] = "true"
	}
	target, err := openTarget(st.InitPID, st.InitStartTime)
	if err != nil {
		return 0, err
	}
	defer target.close()
	cg, err := openCgroup(log, cfg.CgroupRoot, st)
	if err != nil {
		return 0, err
	}
	runtime.LockOSThread() // the cgroup placement (v1), and Pdeathsig
	defer runtime.UnlockOSThread()
	l := &launch{
		initPath:      cfg.InitPath,
		input:         &spec.InitInput{Spec: s, Filter: filter, Console: process.Terminal},
		stdin:         cfg.Stdin,
		stdout:        cfg.Stdout,
		stderr:        cfg.Stderr,
		extra:         []*os.File{target.pidfd},
		cgroup:        cg,
		dieWithCaller: !cfg.Detach,
	}
	if process.Terminal && cfg.ConsoleSocket == "" {
		return 0, &spec.UnsupportedError{Field: "process.terminal", Reason: "a terminal needs --console-socket, where its master goes"}
	}
	p, err := l.start(log)
	if err != nil {
		return 0, err
	}
	defer p.sync.Close()
	pid, err := p.sync.WaitExecPid()
	console := p.sync.TakeConsole()
	if err != nil {
		if console != nil {
			console.Close()
		}
		<-p.exited
		return 0, err
	}
	if console != nil {
		err := sendConsole(cfg.ConsoleSocket, console)
		console.Close()
		if err != nil {
			if !cfg.Detach {
				p.kill(log)
			}
			return 0, err
		}
	}
	if cfg.PidFile != "" {
		if err := writePidFile(cfg.PidFile, pid); err != nil {
			if !cfg.Detach {
				p.kill(log)
			}
			return 0, err
		}
	}
	log.Info("exec started", "pid", pid, "args", process.Args, "detach", cfg.Detach)
	if cfg.Detach {
		<-p.exited // init leaves at once; the process is the caller's
		return 0, nil
	}
	for {
		select {
		case <-p.exited:
			return p.status().ExitStatus(), nil
		case sig := <-sigs:
			if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
				log.Warn("forward signal", "signal", sig, "error", err)
			}
		}
	}
}
