// Package spec builds the OCI runtime spec (runtime-spec's specs.Spec) that
// describes one container, from crate's flags, and validates those flags. The
// spec is the single description both crate and crate-init work from.
package spec

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Annotations carry what crate needs and the OCI spec has no field for.
const (
	// AnnotationNoPivot asks init to chroot instead of pivot_root (--no-pivot).
	AnnotationNoPivot = "run.crate.no-pivot"
	// AnnotationID is the container id, so init's logs can name it.
	AnnotationID = "run.crate.id"
	// AnnotationUser is the user to run as, NAME|UID[:GROUP|GID], resolved by
	// init in the image's /etc/passwd and /etc/group after the root switch.
	AnnotationUser = "run.crate.user"
	// AnnotationInit asks crate-init to stay PID 1, run the command as its
	// child, reap every zombie and forward signals (--init).
	AnnotationInit = "run.crate.init"
	// AnnotationExec tells crate-init it starts one more process in a running
	// container (crate exec): it joins the container instead of building one.
	AnnotationExec = "run.crate.exec"
	// AnnotationDetach, with AnnotationExec, tells crate-init to leave the
	// process it started once it runs (OCI exec --detach): the process is
	// then its caller's, who reaps it, and does not die with init.
	AnnotationDetach = "run.crate.detach"
	// AnnotationVersion is the version of the crate that wrote the spec;
	// crate-init refuses a spec of another version than its own.
	AnnotationVersion = "run.crate.version"
)

// DefaultPath is the PATH a container gets unless -e sets one, as in Docker.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// CPUPeriodUs is the CFS period the --cpu quota is spread over: 100 ms, so
// --cpu 50 means 50 ms of CPU time in every 100 ms.
const CPUPeriodUs = 100000

// Options are the validated inputs of a container, in crate's own terms.
type Options struct {
	ID          string   // container id, also the default hostname
	Rootfs      string   // absolute host path of the unpacked root filesystem
	Args        []string // the command and its arguments
	ImageEnv    []string // KEY=VALUE from the image config, over the defaults
	Env         []string // KEY=VALUE from -e, over the image's
	User        string   // NAME|UID[:GROUP|GID]; "" means root
	Cwd         string   // absolute path inside the container; "" means /
	Hostname    string   // "" means the id
	MemoryBytes int64    // 0 means no limit
	CPUPercent  int64    // 0 means no limit; 100 is one whole CPU
	Pids        int64    // 0 means no limit
	NoPivot     bool
	// Init keeps crate-init as PID 1, reaping zombies and forwarding signals
	// to the command, its child (--init).
	Init bool
	// Capabilities the container's root keeps (see CapabilitySet), by name.
	Capabilities []string
	// Privileged keeps every capability and unmasks /proc and /sys.
	Privileged bool
	// NoNewPrivileges stops setuid binaries and file capabilities from
	// granting anything (--security-opt no-new-privileges).
	NoNewPrivileges bool
	// ReadOnly makes the root filesystem read-only (--read-only).
	ReadOnly bool
	// Tmpfs are --tmpfs mounts, PATH[:OPTIONS], already checked.
	Tmpfs []string
	// Rlimits are --ulimit values (see ParseUlimit).
	Rlimits []specs.POSIXRlimit
	// Sysctls are --sysctl values, namespaced keys only (see ParseSysctl).
	Sysctls map[string]string
	// Seccomp is the system call filter's profile (see pkg/seccomp/profile);
	// nil runs the container without one.
	Seccomp *specs.LinuxSeccomp
	// Volumes are -v bind mounts (see ParseVolume), mounted after the rest.
	Volumes []specs.Mount
	// Devices are --device nodes, already looked up (see ParseDevice).
	Devices []Device
	// Overlay, when set, makes the root an overlay of image layers with a
	// private upper directory, mounted by init at Rootfs; else Rootfs is a
	// plain directory holding the whole root filesystem.
	Overlay *Overlay
}

// Overlay is an overlayfs root: read-only layers, a writable upper.
type Overlay struct {
	Lower []string // layer directories, bottom first
	Upper string   // the container's writable layer
	Work  string   // overlayfs's scratch directory, on Upper's file system
	// Volatile mounts the overlay without syncing its upper directory,
	// which the container's end throws away anyway. Without it, unmounting
	// the overlay syncs the whole file system under the state root and
	// waits for the disk: every container's exit would wait for every
	// dirty page of the host's file system (see overlayfs's "volatile").
	Volatile bool
}

// New builds the spec for o. The options must already be valid (see the Parse
// and Valid functions); New only assembles.
func New(o Options) *specs.Spec {
	hostname := o.Hostname
	if hostname == "" {
		hostname = o.ID
	}
	cwd := o.Cwd
	if cwd == "" {
		cwd = "/"
	}
	s := &specs.Spec{
		Version:  specs.Version,
		Hostname: hostname,
		Root:     &specs.Root{Path: o.Rootfs, Readonly: o.ReadOnly},
		Process: &specs.Process{
			Args:            o.Args,
			Env:             Env(hostname, defaultHome(o), o.ImageEnv, o.Env),
			Cwd:             cwd,
			NoNewPrivileges: o.NoNewPrivileges,
			Rlimits:         o.Rlimits,
			// Root keeps the set in its bounding, permitted and effective
			// sets; a non-root user keeps it only in the bounding set, which
			// grants nothing at execve: its effective set is empty. The
			// inheritable set is empty, as Docker's is since CVE-2022-24769:
			// a user switched to in the container (su, gosu) keeps it, and a
			// file with inheritable file capabilities would give it back.
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  o.Capabilities,
				Effective: o.Capabilities,
				Permitted: o.Capabilities,
			},
		},
		Mounts: slices.Concat(rootMounts(o), DefaultMounts(), tmpfsMounts(o.Tmpfs), o.Volumes),
		Annotations: map[string]string{
			AnnotationID: o.ID,
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.CgroupNamespace},
			},
			Devices:   devices(o),
			Sysctl:    o.Sysctls,
			Seccomp:   o.Seccomp,
			Resources: resources(o),
		},
	}
	if o.NoPivot {
		s.Annotations[AnnotationNoPivot] = "true"
	}
	if !o.Privileged {
		s.Linux.MaskedPaths = MaskedPaths
		s.Linux.ReadonlyPaths = ReadonlyPaths
	}
	if o.User != "" {
		s.Annotations[AnnotationUser] = o.User
	}
	if o.Init {
		s.Annotations[AnnotationInit] = "true"
	}
	return s
}

// rootMounts is the overlay root, as a mount whose destination is "/": init
// mounts it at Root.Path before it switches root.
func rootMounts(o Options) []specs.Mount {
	if o.Overlay == nil {
		return nil
	}
	lower := make([]string, len(o.Overlay.Lower))
	for i, dir := range o.Overlay.Lower {
		lower[len(lower)-1-i] = dir // overlayfs lists the top layer first
	}
	options := []string{
		"lowerdir=" + strings.Join(lower, ":"),
		"upperdir=" + o.Overlay.Upper,
		"workdir=" + o.Overlay.Work,
	}
	if o.Overlay.Volatile {
		options = append(options, "volatile")
	}
	return []specs.Mount{{Destination: "/", Type: "overlay", Source: "overlay", Options: options}}
}

// tmpfsMounts turns --tmpfs values into mounts: private, never setuid or
// device files, as with Docker; the options given come after, to win.
func tmpfsMounts(values []string) []specs.Mount {
	var mounts []specs.Mount
	for _, v := range values {
		dest, opts, _ := strings.Cut(v, ":")
		options := []string{"nosuid", "nodev", "noexec"}
		if opts != "" {
			options = append(options, strings.Split(opts, ",")...)
		}
		mounts = append(mounts, specs.Mount{Destination: path.Clean(dest), Type: "tmpfs", Source: "tmpfs", Options: options})
	}
	return mounts
}

// ValidTmpfs checks a --tmpfs value: an absolute path other than "/",
// optionally followed by :OPTIONS.
func ValidTmpfs(v string) error {
	dest, _, _ := strings.Cut(v, ":")
	if !path.IsAbs(dest) || path.Clean(dest) == "/" {
		return fmt.Errorf("--tmpfs %q: want an absolute path inside the container other than /, like /run or /tmp:size=64m", v)
	}
	return nil
}

// IsRootMount reports whether m is the root filesystem itself.
func IsRootMount(m specs.Mount) bool { return m.Destination == "/" }

func resources(o Options) *specs.LinuxResources {
	r := &specs.LinuxResources{Devices: deviceRules(o)}
	if o.MemoryBytes > 0 {
		limit := o.MemoryBytes
		swap := o.MemoryBytes // memory+swap equal to memory: no swap on top
		r.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &swap}
	}
	if o.CPUPercent > 0 {
		quota := o.CPUPercent * CPUPeriodUs / 100
		period := uint64(CPUPeriodUs)
		r.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if o.Pids > 0 {
		limit := o.Pids
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return r
}

// Env returns the container's environment: Docker's defaults (PATH,
// HOSTNAME, and HOME unless home is ""), then each layer of KEY=VALUE
// entries applied over the ones before, in order (the image config's, then
// -e's).
func Env(hostname, home string, layers ...[]string) []string {
	env := []string{"PATH=" + DefaultPath, "HOSTNAME=" + hostname}
	index := map[string]int{"PATH": 0, "HOSTNAME": 1}
	if home != "" {
		index["HOME"] = len(env)
		env = append(env, "HOME="+home)
	}
	for _, layer := range layers {
		for _, kv := range layer {
			key, _, _ := strings.Cut(kv, "=")
			if i, ok := index[key]; ok {
				env[i] = kv
				continue
			}
			index[key] = len(env)
			env = append(env, kv)
		}
	}
	return env
}

// defaultHome is root's home, or "" when the command runs as another user
// (-u or the image's User): init then sets HOME from that user's entry in
// the image's /etc/passwd, as Docker does, unless the image or -e set it.
func defaultHome(o Options) string {
	if o.User != "" {
		return ""
	}
	return "/root"
}

// DefaultMounts are the file systems every container gets, mounted by init in
// this order after the root switch: /proc, a minimal /dev on tmpfs with its
// pts and shm, and a read-only /sys.
func DefaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
}

// DefaultDevices are the device nodes of the minimal /dev.
func DefaultDevices() []specs.LinuxDevice {
	mode := os.FileMode(0o666)
	var zero uint32
	dev := func(p string, major, minor int64) specs.LinuxDevice {
		return specs.LinuxDevice{Path: p, Type: "c", Major: major, Minor: minor, FileMode: &mode, UID: &zero, GID: &zero}
	}
	return []specs.LinuxDevice{
		dev("/dev/null", 1, 3),
		dev("/dev/zero", 1, 5),
		dev("/dev/full", 1, 7),
		dev("/dev/random", 1, 8),
		dev("/dev/urandom", 1, 9),
		dev("/dev/tty", 5, 0),
	}
}

// devices are the nodes init creates in /dev: the minimal set, then --device,
// which replaces a minimal one of the same path.
func devices(o Options) []specs.LinuxDevice {
	var nodes []specs.LinuxDevice
	for _, n := range DefaultDevices() {
		if !slices.ContainsFunc(o.Devices, func(d Device) bool { return d.Node.Path == n.Path }) {
			nodes = append(nodes, n)
		}
	}
	for _, d := range o.Devices {
		nodes = append(nodes, d.Node)
	}
	return nodes
}

// DevSymlinks are the links of the minimal /dev: the standard streams through
// /proc, and ptmx into the container's own devpts instance.
var DevSymlinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
	{"pts/ptmx", "/dev/ptmx"},
}

// NoPivot reports whether s asks for chroot instead of pivot_root.
func NoPivot(s *specs.Spec) bool { return s.Annotations[AnnotationNoPivot] == "true" }

// Init reports whether s asks crate-init to stay PID 1 (--init).
func Init(s *specs.Spec) bool { return s.Annotations[AnnotationInit] == "true" }

// Exec reports whether s is for a process joining a running container.
func Exec(s *specs.Spec) bool { return s.Annotations[AnnotationExec] == "true" }

// Detach reports whether s asks init to leave the process it joined to a
// container once it runs (see AnnotationDetach).
func Detach(s *specs.Spec) bool { return s.Annotations[AnnotationDetach] == "true" }

// ValidWorkdir checks a -w/--workdir value.
func ValidWorkdir(dir string) error {
	if !path.IsAbs(dir) {
		return fmt.Errorf("--workdir %q: must be an absolute path inside the container, like /srv", dir)
	}
	return nil
}

// ValidEnv checks one -e/--env value.
func ValidEnv(kv string) error {
	key, _, ok := strings.Cut(kv, "=")
	if !ok || key == "" || strings.ContainsAny(key, " \t\n") {
		return fmt.Errorf("--env %q: want KEY=VALUE", kv)
	}
	return nil
}

// ImageDefaults are what an image's config says about how to run it.
type ImageDefaults struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
}

// ApplyImage fills in o from the image's defaults the way docker run does:
// the command is the entrypoint followed by the user's arguments, or by the
// image's Cmd when there are none; --entrypoint (entrypoint != nil, possibly
// empty) replaces the image's entrypoint and drops its Cmd. -w and --user win
// over the image's WorkingDir and User; -e entries win over its Env.
func ApplyImage(o *Options, img ImageDefaults, entrypoint *string, args []string) error {
	ep, cmd := img.Entrypoint, img.Cmd
	if entrypoint != nil {
		ep, cmd = nil, nil
		if *entrypoint != "" {
			ep = []string{*entrypoint}
		}
	}
	if len(args) > 0 {
		cmd = args
	}
	o.Args = append(append([]string{}, ep...), cmd...)
	if len(o.Args) == 0 {
		return fmt.Errorf("missing COMMAND: the image has no default command; say what to run, e.g. crate run IMAGE /bin/sh")
	}
	o.ImageEnv = img.Env
	if o.Cwd == "" {
		o.Cwd = img.WorkingDir
	}
	if o.User == "" {
		o.User = img.User
	}
	return nil
}
