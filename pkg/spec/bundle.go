package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// An OCI bundle is a directory holding config.json, written by an engine
// (containerd, podman, Docker) for `crate create --bundle`. ParseConfig reads
// it into the same specs.Spec that `crate run` builds from flags, and refuses
// what crate cannot honour: the runtime spec lets a runtime support a subset
// of the valid values, but not silently ignore the rest.

// MaxConfigSize bounds config.json. Engines' configs are a few kilobytes, a
// large seccomp profile included; the bound only keeps a mistake (a log file
// named config.json) from being read into memory whole.
const MaxConfigSize = 16 << 20

// The oldest and newest runtime-spec versions crate reads. The spec promises
// compatibility within 1.x, but a newer minor version can add fields crate
// would ignore without knowing they matter, so the maximum is the version of
// the specs-go this build knows; every patch release of it is accepted.
const (
	OCIVersionMin = "1.0.0"
	ociMaxMajor   = 1
	ociMaxMinor   = 3
)

// OCIVersionMax is the newest runtime-spec version crate reads.
var OCIVersionMax = specs.Version

// InvalidError is a config.json that breaks the runtime spec.
type InvalidError struct {
	Field  string // JSON path, like "process.cwd"; "" for the whole document
	Reason string
	Err    error // the decoder's error, if any
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return "invalid config.json: " + e.Reason
	}
	return fmt.Sprintf("invalid config.json: %s: %s", e.Field, e.Reason)
}

func (e *InvalidError) Unwrap() error { return e.Err }

// UnsupportedError is a valid config.json asking for what crate cannot do.
type UnsupportedError struct {
	Field  string // JSON path, like "linux.namespaces[3].type"
	Value  string // what the config asked for, as it spelled it
	Reason string
}

func (e *UnsupportedError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("unsupported in config.json: %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("unsupported in config.json: %s %q: %s", e.Field, e.Value, e.Reason)
}

// ParseConfig decodes config.json and checks that crate can run it. bundle is
// the bundle's absolute directory: a relative root.path is made absolute
// against it, and relative mount destinations against "/". Every problem is
// reported, joined, as *InvalidError or *UnsupportedError.
func ParseConfig(data []byte, bundle string) (*specs.Spec, error) {
	s, err := decodeConfig(data)
	if err != nil {
		return nil, err
	}
	var c checker
	c.version(s.Version)
	c.root(s, bundle)
	c.process(s.Process)
	c.mounts(s.Mounts)
	c.hooks(s.Hooks)
	c.annotations(s.Annotations)
	c.platforms(s)
	if s.Linux == nil {
		c.unsupported("linux", "", "crate needs at least a mount namespace; the config has no linux section")
	} else {
		c.linux(s)
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeConfig decodes one JSON object and nothing after it. Unknown fields
// are ignored, as the runtime spec requires of runtimes: an engine built
// against a newer specs-go may send fields crate does not know.
func decodeConfig(data []byte) (*specs.Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var s *specs.Spec
	if err := dec.Decode(&s); err != nil {
		return nil, decodeError(data, err)
	}
	if s == nil {
		return nil, &InvalidError{Reason: "want a JSON object, found null"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &InvalidError{Reason: "more data after the JSON object", Err: err}
	}
	return s, nil
}

func decodeError(data []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		line, col := position(data, syntax.Offset)
		return &InvalidError{Reason: fmt.Sprintf("line %d, column %d: %v", line, col, syntax), Err: err}
	case errors.As(err, &typ):
		return &InvalidError{Field: typ.Field, Reason: fmt.Sprintf("want %s, found JSON %s", typ.Type, typ.Value), Err: err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &InvalidError{Reason: "empty or cut short", Err: err}
	}
	return &InvalidError{Reason: err.Error(), Err: err}
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	before := data[:min(int(offset), len(data))]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// checker collects every problem of a config, so the user fixes them in one
// go rather than one per attempt.
type checker struct{ errs []error }

func (c *checker) invalid(field, format string, args ...any) {
	c.errs = append(c.errs, &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (c *checker) unsupported(field, value, reason string) {
	c.errs = append(c.errs, &UnsupportedError{Field: field, Value: value, Reason: reason})
}

func (c *checker) version(v string) {
	if v == "" {
		c.invalid("ociVersion", "missing")
		return
	}
	major, minor, patch, pre, ok := parseSemver(v)
	if !ok {
		c.invalid("ociVersion", "%q is not a semantic version like 1.0.2", v)
		return
	}
	// 1.0.0's release candidates predate the format engines send today
	// (capabilities were a list until rc5); refusing them is clearer than
	// misreading them.
	tooOld := major < 1 || (major == 1 && minor == 0 && patch == 0 && pre != "")
	tooNew := major > ociMaxMajor || (major == ociMaxMajor && minor > ociMaxMinor)
	if tooOld || tooNew {
		c.unsupported("ociVersion", v, fmt.Sprintf("crate reads runtime-spec %s to %d.%d.x", OCIVersionMin, ociMaxMajor, ociMaxMinor))
	}
}

// parseSemver reads MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (SemVer 2.0.0).
func parseSemver(v string) (major, minor, patch int, pre string, ok bool) {
	v, build, hasBuild := strings.Cut(v, "+")
	if hasBuild && !validIdentifiers(build) {
		return 0, 0, 0, "", false
	}
	v, pre, hasPre := strings.Cut(v, "-")
	if hasPre && !validIdentifiers(pre) {
		return 0, 0, 0, "", false
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return 0, 0, 0, "", false
	}
	var n [3]int
	for i, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return 0, 0, 0, "", false
		}
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return 0, 0, 0, "", false
		}
		n[i] = x
	}
	return n[0], n[1], n[2], pre, true
}

// validIdentifiers checks dot-separated [0-9A-Za-z-]+ identifiers.
func validIdentifiers(s string) bool {
	for id := range strings.SplitSeq(s, ".") {
		if id == "" {
			return false
		}
		for _, r := range id {
			if !(r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

func (c *checker) root(s *specs.Spec, bundle string) {
	if s.Root == nil || s.Root.Path == "" {
		c.invalid("root.path", "missing: the root filesystem's directory, like \"rootfs\"")
		return
	}
	if !filepath.IsAbs(s.Root.Path) {
		s.Root.Path = filepath.Join(bundle, s.Root.Path)
	}
	s.Root.Path = filepath.Clean(s.Root.Path)
}

// rlimitTypes are the RLIMIT_ names setrlimit(2) knows.
var rlimitTypes = []string{
	"RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
	"RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
	"RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
}

func (c *checker) process(p *specs.Process) {
	if p == nil {
		c.invalid("process", "missing: crate create needs the process to run")
		return
	}
	if len(p.Args) == 0 {
		c.invalid("process.args", "missing: the command to run")
	}
	if !path.IsAbs(p.Cwd) {
		c.invalid("process.cwd", "%q is not an absolute path", p.Cwd)
	}
	for i, kv := range p.Env {
		if key, _, ok := strings.Cut(kv, "="); !ok || key == "" || strings.ContainsRune(kv, 0) {
			c.invalid(fmt.Sprintf("process.env[%d]", i), "%q is not KEY=VALUE", kv)
		}
	}
	seen := map[string]bool{}
	for i, r := range p.Rlimits {
		field := fmt.Sprintf("process.rlimits[%d]", i)
		switch {
		case !slices.Contains(rlimitTypes, r.Type):
			c.invalid(field+".type", "%q is not a resource setrlimit(2) knows", r.Type)
		case seen[r.Type]:
			c.invalid(field+".type", "%s is set twice", r.Type)
		case r.Soft > r.Hard:
			c.invalid(field, "%s: the soft limit %d is above the hard limit %d", r.Type, r.Soft, r.Hard)
		}
		seen[r.Type] = true
	}
	const noLSM = "crate supports no Linux security module yet"
	if p.ApparmorProfile != "" {
		c.unsupported("process.apparmorProfile", p.ApparmorProfile, noLSM)
	}
	if p.SelinuxLabel != "" {
		c.unsupported("process.selinuxLabel", p.SelinuxLabel, noLSM)
	}
	if p.IOPriority != nil {
		c.unsupported("process.ioPriority", string(p.IOPriority.Class), "crate does not set I/O priorities yet")
	}
	if p.Scheduler != nil {
		c.unsupported("process.scheduler", string(p.Scheduler.Policy), "crate does not set scheduling policies yet")
	}
	if p.ExecCPUAffinity != nil {
		c.unsupported("process.execCPUAffinity", p.ExecCPUAffinity.Initial+"/"+p.ExecCPUAffinity.Final, "crate does not set CPU affinity yet")
	}
	if p.User.Username != "" {
		c.unsupported("process.user.username", p.User.Username, "a Windows field; on Linux give uid and gid")
	}
}

// idmapOptions ask for an ID-mapped mount, which needs user namespaces.
var idmapOptions = []string{"idmap", "ridmap"}

func (c *checker) mounts(mounts []specs.Mount) {
	for i := range mounts {
		m := &mounts[i]
		field := fmt.Sprintf("mounts[%d]", i)
		if m.Destination == "" {
			c.invalid(field+".destination", "missing")
			continue
		}
		// The runtime spec still allows a relative destination, read as
		// relative to "/", for old configs; making it absolute here saves
		// every later step from that special case.
		m.Destination = path.Clean("/" + m.Destination)
		if IsRootMount(*m) {
			// crate's own root overlay is the one mount at "/", mounted
			// before the root switch; the root here is root.path.
			c.unsupported(field+".destination", "/", "a mount over the root; give the root filesystem as root.path")
		}
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			c.unsupported(field+".uidMappings", m.Destination, "ID-mapped mounts need user namespaces, which crate does not support yet")
		}
		for _, o := range m.Options {
			if slices.Contains(idmapOptions, o) {
				c.unsupported(field+".options", o, "ID-mapped mounts need user namespaces, which crate does not support yet")
			}
		}
	}
}

func (c *checker) hooks(h *specs.Hooks) {
	if h == nil {
		return
	}
	const inContainer = "crate does not run hooks inside the container's namespaces yet"
	if len(h.CreateContainer) > 0 {
		c.unsupported("hooks.createContainer", h.CreateContainer[0].Path, inContainer)
	}
	if len(h.StartContainer) > 0 {
		c.unsupported("hooks.startContainer", h.StartContainer[0].Path, inContainer)
	}
	lists := []struct {
		kind  string
		hooks []specs.Hook
	}{
		{"prestart", h.Prestart}, // deprecated by the spec, but engines still send it
		{"createRuntime", h.CreateRuntime},
		{"poststart", h.Poststart},
		{"poststop", h.Poststop},
	}
	for _, l := range lists {
		for i, hook := range l.hooks {
			field := fmt.Sprintf("hooks.%s[%d]", l.kind, i)
			if !filepath.IsAbs(hook.Path) {
				c.invalid(field+".path", "%q is not an absolute path", hook.Path)
			}
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				c.invalid(field+".timeout", "%d: a timeout is a number of seconds above 0", *hook.Timeout)
			}
		}
	}
}

// internalAnnotations are crate's annotations that only crate itself sets
// when it launches a container; taken from a bundle they would make init
// join instead of build, or run as a user the config does not name.
var internalAnnotations = []string{AnnotationID, AnnotationExec, AnnotationDetach, AnnotationVersion, AnnotationUser}

func (c *checker) annotations(a map[string]string) {
	for _, k := range internalAnnotations {
		if v, ok := a[k]; ok {
			c.unsupported("annotations."+k, v, "crate sets this annotation itself")
		}
	}
}

func (c *checker) platforms(s *specs.Spec) {
	const notLinux = "crate runs Linux containers only"
	if s.Windows != nil {
		c.unsupported("windows", "", notLinux)
	}
	if s.Solaris != nil {
		c.unsupported("solaris", "", notLinux)
	}
	if s.ZOS != nil {
		c.unsupported("zos", "", notLinux)
	}
	if s.VM != nil {
		c.unsupported("vm", "", "crate runs containers, not virtual machines")
	}
}

// Namespaces crate can create or join.
var supportedNamespaces = []specs.LinuxNamespaceType{
	specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace,
	specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace,
}

var propagations = []string{"shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable"}

func (c *checker) linux(s *specs.Spec) {
	l := s.Linux
	ns := map[specs.LinuxNamespaceType]bool{}
	for i, n := range l.Namespaces {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		switch {
		case n.Type == specs.UserNamespace:
			c.unsupported(field+".type", string(n.Type), "crate does not support user namespaces (rootless) yet")
		case n.Type == specs.TimeNamespace:
			c.unsupported(field+".type", string(n.Type), "crate does not support time namespaces yet")
		case !slices.Contains(supportedNamespaces, n.Type):
			c.invalid(field+".type", "%q is not a namespace type", n.Type)
		case ns[n.Type]:
			c.invalid(field+".type", "%s is listed twice", n.Type)
		}
		if n.Path != "" && !filepath.IsAbs(n.Path) {
			c.invalid(field+".path", "%q is not an absolute path", n.Path)
		}
		ns[n.Type] = true
	}
	// Every mount init makes, and the root switch itself, must stay in a
	// mount namespace of the container's own, never touch the host's.
	if !ns[specs.MountNamespace] {
		c.unsupported("linux.namespaces", "", "crate needs a mount namespace")
	}
	if s.Hostname != "" && !ns[specs.UTSNamespace] {
		c.invalid("hostname", "set without a UTS namespace: it would rename the host")
	}
	if s.Domainname != "" && !ns[specs.UTSNamespace] {
		c.invalid("domainname", "set without a UTS namespace: it would rename the host's domain")
	}
	c.sysctls(l.Sysctl, ns)

	const noUserNS = "crate does not support user namespaces (rootless) yet"
	if len(l.UIDMappings) > 0 {
		c.unsupported("linux.uidMappings", "", noUserNS)
	}
	if len(l.GIDMappings) > 0 {
		c.unsupported("linux.gidMappings", "", noUserNS)
	}
	if len(l.TimeOffsets) > 0 {
		c.unsupported("linux.timeOffsets", "", "crate does not support time namespaces yet")
	}
	if l.IntelRdt != nil {
		c.unsupported("linux.intelRdt", l.IntelRdt.ClosID, "crate does not support Intel RDT")
	}
	if l.MemoryPolicy != nil {
		c.unsupported("linux.memoryPolicy", string(l.MemoryPolicy.Mode), "crate does not set memory policies yet")
	}
	if len(l.NetDevices) > 0 {
		c.unsupported("linux.netDevices", "", "crate does not move network devices yet")
	}
	if l.MountLabel != "" {
		c.unsupported("linux.mountLabel", l.MountLabel, "crate supports no Linux security module yet")
	}
	if p := l.Personality; p != nil && (p.Domain != specs.PerLinux || len(p.Flags) > 0) {
		c.unsupported("linux.personality", string(p.Domain), "crate runs every container with the default personality, LINUX")
	}
	if l.Seccomp != nil && l.Seccomp.ListenerPath != "" {
		c.unsupported("linux.seccomp.listenerPath", l.Seccomp.ListenerPath, "crate has no seccomp agent support")
	}
	if l.RootfsPropagation != "" && !slices.Contains(propagations, l.RootfsPropagation) {
		c.invalid("linux.rootfsPropagation", "%q is not one of %s", l.RootfsPropagation, strings.Join(propagations, ", "))
	}
	for i, d := range l.Devices {
		field := fmt.Sprintf("linux.devices[%d]", i)
		if !path.IsAbs(d.Path) {
			c.invalid(field+".path", "%q is not an absolute path", d.Path)
		}
		switch d.Type {
		case "c", "u", "b":
		case "p":
			c.unsupported(field+".type", d.Type, "crate makes character and block devices only, not FIFOs")
		default:
			c.invalid(field+".type", "%q is not c, b, u or p", d.Type)
		}
	}
	for i, p := range l.MaskedPaths {
		if !path.IsAbs(p) {
			c.invalid(fmt.Sprintf("linux.maskedPaths[%d]", i), "%q is not an absolute path", p)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if !path.IsAbs(p) {
			c.invalid(fmt.Sprintf("linux.readonlyPaths[%d]", i), "%q is not an absolute path", p)
		}
	}
}

// sysctls refuses a key that belongs to no namespace the container has of
// its own: writing it would change the host's kernel. A namespace joined by
// path counts as the container's own, as it does for runc.
func (c *checker) sysctls(sysctl map[string]string, ns map[specs.LinuxNamespaceType]bool) {
	for _, k := range slices.Sorted(maps.Keys(sysctl)) {
		field := "linux.sysctl." + k
		var need specs.LinuxNamespaceType
		switch {
		case slices.Contains(namespacedSysctls, k), strings.HasPrefix(k, "fs.mqueue."):
			need = specs.IPCNamespace
		case strings.HasPrefix(k, "net."):
			need = specs.NetworkNamespace
		case k == "kernel.hostname", k == "kernel.domainname":
			need = specs.UTSNamespace
		default:
			c.unsupported(field, sysctl[k], "not namespaced: setting it would change the host's kernel")
			continue
		}
		if !ns[need] {
			c.unsupported(field, sysctl[k], fmt.Sprintf("needs a %s namespace of the container's own: without one it would change the host's kernel", need))
		}
	}
}
