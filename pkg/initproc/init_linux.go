// Package initproc is what crate-init does inside the container's new
// namespaces: wait at the gate until the supervisor has placed it in the
// cgroup, then build the container's world (cgroup namespace, mounts, /dev,
// hostname, root switch, working directory) and execve the command,
// which becomes the container's PID 1. Every failing step is reported to the
// supervisor over the sync socket, naming the step and the errno.
package initproc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/crate-run/crate/pkg/initlog"
	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/initsync"
	"github.com/crate-run/crate/pkg/seccomp"
	"github.com/crate-run/crate/pkg/spec"
)

// CheckFds makes sure init was started the way the supervisor starts it: with
// the spec, sync and log descriptors in their slots. Run it first thing, so
// that running crate-init by hand fails with a sentence, not a crash.
func CheckFds() error {
	for _, fd := range []int{initsync.SpecFd, initsync.SyncFd, initsync.LogFd} {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("fd %d: %w (crate-init is started by crate, not by hand)", fd, err)
		}
	}
	return nil
}

// Run is init's whole life. On success execve replaces the process and Run
// never returns; with --init, init exits with the command's exit code. On
// failure it tells the supervisor which step failed, and returns an error
// only if even that was impossible: the supervisor reports failures, init
// stays quiet on the container's stderr.
func Run(log *initlog.Logger, version string) error {
	// Until it execs the command, init holds the spec, the sync socket and
	// the log pipe, and runs in the container's namespaces: nothing there
	// may ptrace it or read its memory through /proc. execve makes the
	// command dumpable again, as any process is.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_DUMPABLE", err)
	}
	sync := initsync.NewChannel(os.NewFile(initsync.SyncFd, "sync"))
	step, err := run(log, sync, version)
	if ferr := sync.Fail(step, err); ferr != nil {
		return fmt.Errorf("%s: %w (and could not tell the supervisor: %v)", step, err, ferr)
	}
	return nil
}

// run does the steps in order and returns the name of the one that failed.
func run(log *initlog.Logger, sync *initsync.Channel, version string) (step string, err error) {
	// Nothing of the host may reach the command: every descriptor beyond the
	// standard streams closes at execve, the sync socket among them, which is
	// how the supervisor learns that execve succeeded.
	if err := closeOnExecFrom(3); err != nil {
		return "close descriptors", err
	}
	in, err := readSpec()
	if err != nil {
		return "read spec", err
	}
	s, filter := in.Spec, in.Filter
	// The container ends with its supervisor (crate exec's process with
	// crate exec): the kernel sends SIGKILL when the thread that started
	// init exits, however it exits. The signal is an attribute of one
	// thread, and execve keeps the calling thread's: crate-init's main
	// runs locked on its first thread (see cmd/crate-init), and asks for it
	// again here, on the thread that will execve, because crate exec cannot
	// ask when it starts init (os/exec checks that the parent lives with
	// getppid, which reads 0 across a PID namespace, and kills the child).
	// Were the supervisor gone already, the wait for its go below ends in
	// EOF and init exits. Not for OCI create: its caller is not the
	// container's supervisor, and exits once the container is made.
	if in.StartFd == 0 {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return "set parent death signal", os.NewSyscallError("prctl PR_SET_PDEATHSIG", err)
		}
	}
	// crate and crate-init are one program in two binaries: a spec from
	// another version may mean something else.
	if v := s.Annotations[spec.AnnotationVersion]; v != version {
		return "check version", fmt.Errorf("crate-init is version %s but crate is %s: install crate and crate-init from the same build", version, v)
	}
	log.Debug("init waiting for go", "pid", os.Getpid())
	if err := sync.WaitGo(); err != nil {
		return "wait for go", err
	}

	// Namespaces belong to threads, and execve keeps those of the thread that
	// calls it: unshare and exec from one locked thread. The thread is never
	// unlocked, because the process ends in execve or in an error.
	runtime.LockOSThread()

	if spec.Exec(s) {
		// crate exec: the container exists; join it, then start the
		// command in it as init's child (spawn_linux.go).
		if err := joinContainer(); err != nil {
			return "join container", err
		}
		if err := unix.Chdir(s.Process.Cwd); err != nil {
			return "chdir", &os.PathError{Op: "chdir", Path: s.Process.Cwd, Err: err}
		}
		if err := checkWorkdir(); err != nil {
			return "chdir", err
		}
		if in.Console {
			if err := openExecConsole(s.Process.ConsoleSize, sync); err != nil {
				return "open the terminal", err
			}
		}
		unix.Umask(0o022)
		return becomeCommand(log, s, filter, in.Console, sync, nil)
	}
	volumes, step, err := buildContainer(log, in, sync)
	if err != nil {
		return step, err
	}
	defer volumes.Close()
	if in.StartFd != 0 {
		// OCI create: the container is built; its command runs once OCI
		// start says so. A command that is not there is create's failure,
		// as engines expect of runc. create is gone by then, and with it
		// the reader of init's log.
		path, err := lookPath(s.Process.Args[0], s.Process.Env)
		if err == nil {
			if aerr := unix.Access(path, unix.X_OK); aerr != nil {
				err = diagnoseExec(path, aerr)
			}
		}
		if err != nil {
			return initsync.StepExec, err
		}
		log.Debug("init waiting at the start gate")
		log.Silence()
		if err := sync.AwaitStart(os.NewFile(uintptr(in.StartFd), "start")); err != nil {
			return "wait for start", err
		}
	}
	return becomeCommand(log, s, filter, in.Console, sync, volumes)
}

// buildContainer makes the container's world from the spec, ending in its
// working directory: namespaces of its own, the root switch, the
// container's own file systems, /dev, sysctls, masked paths, hostname, and
// only then the volumes, which hold what others put there. On failure it
// names the step.
func buildContainer(log *initlog.Logger, in *spec.InitInput, sync *initsync.Channel) (_ *volumes, step string, err error) {
	s := in.Spec
	// The namespaces crate opened for init: the network namespace the
	// supervisor made while it prepared, an OCI bundle's paths.
	joinedCgroup := false
	for _, j := range in.Join {
		flag, ok := namespaceFlags[j.Type]
		if !ok {
			return nil, "join namespaces", fmt.Errorf("cannot join a %s namespace", j.Type)
		}
		if err := unix.Setns(j.Fd, flag); err != nil {
			return nil, "join " + string(j.Type) + " namespace", os.NewSyscallError("setns", err)
		}
		unix.Close(j.Fd)
		joinedCgroup = joinedCgroup || j.Type == specs.CgroupNamespace
	}

	// Only now, inside the container's cgroup, does a new cgroup namespace
	// make that cgroup the container's "/".
	if spec.HasNamespace(s, specs.CgroupNamespace) && !joinedCgroup {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return nil, "unshare cgroup namespace", os.NewSyscallError("unshare", err)
		}
	}
	// mknod and mkdir below must get exactly the modes asked for.
	unix.Umask(0)

	var rootMount *specs.Mount
	for i := range s.Mounts {
		if spec.IsRootMount(s.Mounts[i]) {
			rootMount = &s.Mounts[i]
		}
	}
	// Volumes' host paths are opened while init still sees the host; they
	// are attached inside the new root, last (volume_linux.go).
	volumes, err := openVolumes(s.Mounts)
	if err != nil {
		return nil, "open volumes", err
	}
	// The volumes stay open until the command runs (see runAsInit).
	defer func() {
		if err != nil {
			volumes.Close()
		}
	}()
	propagation := uintptr(unix.MS_PRIVATE)
	if p := s.Linux.RootfsPropagation; p != "" {
		var ok bool
		if propagation, ok = propagationFlags[p]; !ok {
			return nil, "switch root", fmt.Errorf("rootfsPropagation %q: want shared, slave, private or unbindable, with or without r", p)
		}
	}
	if err := switchRoot(log, s.Root.Path, rootMount, propagation, spec.NoPivot(s)); err != nil {
		return nil, "switch root", err
	}
	fs, err := mountFileSystems(log, s.Mounts)
	if err != nil {
		return nil, "mount", err
	}
	defer fs.Close()
	if adj := s.Process.OOMScoreAdj; adj != nil {
		if err := setOOMScoreAdj(fs, *adj); err != nil {
			return nil, "set oomScoreAdj", err
		}
	}
	if err := makeDev(fs, s.Linux.Devices); err != nil {
		return nil, "create /dev", err
	}
	if in.Console {
		// OCI create: the terminal is the container's own, made in its
		// devpts, and its master goes to the engine (through create).
		if err := openConsole(fs, s.Process.ConsoleSize, sync); err != nil {
			return nil, "open the terminal", err
		}
	}
	// Sysctls first: masking makes /proc/sys read-only.
	if err := writeSysctls(fs, s.Linux.Sysctl); err != nil {
		return nil, "set sysctls", err
	}
	if err := maskPaths(fs, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths); err != nil {
		return nil, "mask paths", err
	}
	// A container that shares the host's UTS namespace has no name of its
	// own to set (the bundle's validation refuses one).
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return nil, "set hostname", os.NewSyscallError("sethostname", err)
		}
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return nil, "set domain name", os.NewSyscallError("setdomainname", err)
		}
	}
	if err := attachVolumes(log, s.Mounts, volumes); err != nil {
		return nil, "mount", err
	}
	if err := enterWorkdir(fs.root, s.Process.Cwd); err != nil {
		return nil, "chdir", err
	}
	if s.Root.Readonly {
		// Last, once every mount point and the working directory exist.
		if err := mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return nil, "make root read-only", err
		}
	}
	unix.Umask(0o022) // what a shell on the host would give the command
	return volumes, "", nil
}

// becomeCommand turns init into the command: limits, capabilities, the
// seccomp filter, the user, then execve (or, with --init, the command as
// init's child). It returns only on failure, naming the step.
func becomeCommand(log *initlog.Logger, s *specs.Spec, filter seccomp.Program, console bool, sync *initsync.Channel, volumes *volumes) (step string, err error) {
	// While init still holds every capability: raising a hard limit needs
	// CAP_SYS_RESOURCE.
	if err := setRlimits(s.Process.Rlimits); err != nil {
		return "set ulimits", err
	}
	caps := s.Process.Capabilities
	lastCap, err := lastCapability()
	if err != nil {
		return "drop capabilities", err
	}
	if caps != nil {
		if err := limitBoundingSet(caps, lastCap); err != nil {
			return "drop capabilities", err
		}
	}
	// The filter goes on while init still holds CAP_SYS_ADMIN (the bounding
	// set limits only what execve may grant), which installing one needs
	// without no_new_privs; what init does after it (capset, setgroups,
	// setuid, reading /etc/passwd, execve) is allowed by Docker's profile,
	// whatever the capabilities. Every system call after it pays for the
	// filter, so it comes as late as it can.
	if len(filter) > 0 {
		if err := seccomp.Install(filter); err != nil {
			return "install seccomp filter", err
		}
	}
	if u := s.Annotations[spec.AnnotationUser]; u != "" {
		home, err := switchUser(log, u)
		if err != nil {
			return "set user", err
		}
		// HOME is the user's from passwd, unless the image or -e set it.
		if !slices.ContainsFunc(s.Process.Env, func(kv string) bool { return strings.HasPrefix(kv, "HOME=") }) {
			s.Process.Env = append(s.Process.Env, "HOME="+home)
		}
	} else if u := s.Process.User; u.UID != 0 || u.GID != 0 || len(u.AdditionalGids) > 0 {
		// An OCI bundle names its user by number, looked up by its engine.
		if err := setIDs(log, u); err != nil {
			return "set user", err
		}
	}
	if u := s.Process.User.Umask; u != nil {
		unix.Umask(int(*u))
	}
	if caps != nil {
		if err := setCapabilities(caps); err != nil {
			return "set capabilities", err
		}
		if err := verifyCapabilities(caps, lastCap); err != nil {
			return "set capabilities", err
		}
	}
	if s.Process.NoNewPrivileges {
		// From here on no execve can gain privileges: setuid bits and file
		// capabilities are ignored.
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "set no_new_privs", os.NewSyscallError("prctl PR_SET_NO_NEW_PRIVS", err)
		}
	}

	switch {
	case spec.Exec(s):
		// crate exec: init stays outside the container's PID namespace and
		// the command becomes its child, inside it (spawn_linux.go).
		log.Debug("init starting the command in the container", "args", s.Process.Args, "cwd", s.Process.Cwd)
		return runJoined(log, s.Process.Args, s.Process.Env, s.Process.Terminal, spec.Detach(s), console, sync)
	case spec.Init(s):
		// --init: init stays PID 1, the command becomes its child (reaper_linux.go).
		log.Debug("init starting command as its child", "args", s.Process.Args, "cwd", s.Process.Cwd)
		return initsync.StepExec, runAsInit(log, s.Process.Args, s.Process.Env, s.Process.Terminal, sync, volumes)
	}
	log.Debug("init executing command", "args", s.Process.Args, "cwd", s.Process.Cwd)
	return initsync.StepExec, execCommand(s.Process.Args, s.Process.Env, sync)
}

// setOOMScoreAdj sets init's OOM score adjustment, which the command
// inherits, through the /proc init mounted: init's own, never found again
// by a PID that another process may have taken since.
func setOOMScoreAdj(fs *fileSystems, adj int) error {
	if fs.proc == nil {
		return errors.New("process.oomScoreAdj needs /proc, and the spec mounts none")
	}
	fd, err := unix.Openat(int(fs.proc.Fd()), "self/oom_score_adj", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/proc/self/oom_score_adj", Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(strconv.Itoa(adj))); err != nil {
		return &os.PathError{Op: "write", Path: "/proc/self/oom_score_adj", Err: err}
	}
	return nil
}

// propagationFlags are the mount propagation types a root can be given.
var propagationFlags = map[string]uintptr{
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED, "slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE,
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE, "unbindable": unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE,
}

// namespaceFlags are the namespaces init can be given to join, by type.
var namespaceFlags = map[specs.LinuxNamespaceType]int{
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
}

// readSpec reads the runtime spec the supervisor wrote to the spec pipe.
func readSpec() (*spec.InitInput, error) {
	f := os.NewFile(initsync.SpecFd, "spec")
	defer f.Close()
	return spec.ReadInit(f)
}

// closeOnExecFrom marks every open descriptor from lowest up close-on-exec:
// with one close_range call (Linux 5.11), else descriptor by descriptor as
// the host's /proc lists them, which is why it runs before the root switch.
func closeOnExecFrom(lowest int) error {
	if unix.CloseRange(uint(lowest), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) == nil {
		return nil
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < lowest {
			continue
		}
		// The directory's own descriptor is gone by now: EBADF is fine.
		unix.CloseOnExec(fd)
	}
	return nil
}

// switchUser becomes the image's (or --user's) user: NAME|UID[:GROUP|GID],
// looked up in the container's own /etc/passwd and /etc/group, as the root
// switch is done, and returns the user's home directory from passwd ("/" if
// it has no entry). Groups first: after setuid there is no right to change them.
// The syscall package's calls change every thread of the process, not only
// this one, so no thread of init keeps root behind the command's back.
func switchUser(log *initlog.Logger, spec string) (home string, err error) {
	passwd, err := userFile("/etc/passwd")
	if err != nil {
		return "", err
	}
	group, err := userFile("/etc/group")
	if err != nil {
		return "", err
	}
	u, err := user.GetExecUser(spec, &user.ExecUser{Home: "/"}, passwd, group)
	if err != nil {
		return "", fmt.Errorf("user %q: %w", spec, err)
	}
	if err := syscall.Setgroups(u.Sgids); err != nil {
		return "", os.NewSyscallError("setgroups", err)
	}
	if err := syscall.Setgid(u.Gid); err != nil {
		return "", os.NewSyscallError("setgid", err)
	}
	if err := syscall.Setuid(u.Uid); err != nil {
		return "", os.NewSyscallError("setuid", err)
	}
	log.Debug("user set", "user", spec, "uid", u.Uid, "gid", u.Gid, "groups", u.Sgids, "home", u.Home)
	return u.Home, nil
}

// setIDs becomes the user an OCI bundle names by number: its additional
// groups, group and user, as switchUser does (on every thread of init).
func setIDs(log *initlog.Logger, u specs.User) error {
	groups := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return os.NewSyscallError("setgroups", err)
	}
	if err := syscall.Setgid(int(u.GID)); err != nil {
		return os.NewSyscallError("setgid", err)
	}
	if err := syscall.Setuid(int(u.UID)); err != nil {
		return os.NewSyscallError("setuid", err)
	}
	log.Debug("user set", "uid", u.UID, "gid", u.GID, "groups", groups)
	return nil
}

// maxUserFile bounds /etc/passwd and /etc/group: a real one of a hundred
// thousand users is a few megabytes. It is the bound moby/sys/user parses
// them within, so that a file above it is refused here, by name.
const maxUserFile = 10 << 20

// userFile reads the image's /etc/passwd or /etc/group for switchUser: nil
// if the image has none (a numeric user needs none), an error if it is not
// a regular file or is larger than maxUserFile (see openRegular).
func userFile(p string) (io.Reader, error) {
	data, err := readRegular(p, maxUserFile)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(data), nil
}

// setRlimits sets the --ulimit values, which execve hands on to the command.
func setRlimits(limits []specs.POSIXRlimit) error {
	for _, l := range limits {
		resource, ok := rlimitResources[l.Type]
		if !ok {
			return fmt.Errorf("unknown rlimit %q", l.Type)
		}
		if err := unix.Setrlimit(resource, &unix.Rlimit{Cur: l.Soft, Max: l.Hard}); err != nil {
			return fmt.Errorf("setrlimit %s %d:%d: %w", l.Type, l.Soft, l.Hard, err)
		}
	}
	return nil
}

var rlimitResources = map[string]int{
	"RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_AS": unix.RLIMIT_AS,
}

// enterWorkdir changes to the command's working directory, creating it if the
// image lacks it, as docker run does. It is resolved in root, the
// container's, and never out of it, whatever its symlinks say.
func enterWorkdir(root *os.File, dir string) error {
	d, err := pathrs.MkdirAllHandle(root, dir, 0o755)
	if err != nil {
		return fmt.Errorf("working directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := unix.Fchdir(int(d.Fd())); err != nil {
		return &os.PathError{Op: "chdir", Path: dir, Err: err}
	}
	return checkWorkdir()
}

// checkWorkdir makes sure the working directory is inside the root. It would
// not be if a descriptor of the host's had leaked into init and a path through
// /proc/self/fd had led the chdir out (CVE-2024-21626, against runc): the
// command would start with the host's file system as its working directory.
// getcwd(2) fails with ENOENT for a directory the root cannot reach (older
// kernels answered with a path starting "(unreachable)").
func checkWorkdir() error {
	wd, err := unix.Getwd()
	switch {
	case errors.Is(err, unix.ENOENT):
		return errors.New("the working directory is outside the container's root")
	case err != nil:
		return os.NewSyscallError("getcwd", err)
	case !strings.HasPrefix(wd, "/"):
		return fmt.Errorf("the working directory %s is outside the container's root", wd)
	}
	return nil
}
