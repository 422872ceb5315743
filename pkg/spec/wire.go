package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crate-run/crate/pkg/seccomp"
)

// The spec reaches crate-init as JSON on a pipe. The first time encoding/json
// meets a struct type it builds a codec for every type that struct can reach;
// for a whole specs.Spec that is every Windows, Solaris, VM, hook and cgroup
// resource type, about a millisecond of crate-init's start before it can do
// anything, and as much again in crate. initSpec and initLinux are the part of
// the spec init acts on, under the OCI field names: the bytes on the pipe are
// still an OCI runtime spec, only without what init has no use for (the
// cgroup resources, which crate applies itself, and the namespaces' paths,
// which crate opens: init gets descriptors), and with the seccomp profile
// already compiled into its filter, so that init never reads a profile.
type initSpec struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *initLinux        `json:"linux,omitempty"`
}

type initLinux struct {
	Namespaces        []specs.LinuxNamespace `json:"namespaces,omitempty"`
	Sysctl            map[string]string      `json:"sysctl,omitempty"`
	Devices           []specs.LinuxDevice    `json:"devices,omitempty"`
	MaskedPaths       []string               `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string               `json:"readonlyPaths,omitempty"`
	RootfsPropagation string                 `json:"rootfsPropagation,omitempty"`
	SeccompFilter     seccomp.Program        `json:"crateSeccompFilter,omitempty"`
	Join              []Join                 `json:"crateJoin,omitempty"`
	StartFd           int                    `json:"crateStartFd,omitempty"`
	Console           bool                   `json:"crateConsole,omitempty"`
}

// InitInput is what crate-init is given: the spec, and what crate made of the
// parts of it that init must not act on by itself.
type InitInput struct {
	Spec *specs.Spec
	// Filter is Spec.Linux.Seccomp compiled (see pkg/seccomp/profile).
	Filter seccomp.Program
	// Join are the namespaces init enters, each from a descriptor crate
	// opened (initsync.FirstExtraFd and up): crate run's network namespace,
	// made ahead of init; an OCI bundle's namespace paths. A namespace of
	// the spec that is not here is new: init was born in it, or unshares
	// it (cgroup).
	Join []Join
	// StartFd, for OCI create, is the descriptor of the listening socket
	// init waits on at the start gate, once the container is built, for
	// OCI start (see initsync.AwaitStart); 0 for none.
	StartFd int
	// Console asks init to make the process's terminal in the container's
	// own devpts and send its master back (initsync.SendConsole), as an
	// engine's runtime does (OCI create and exec with process.terminal);
	// crate run and crate exec give init a host pty instead.
	Console bool
}

// Join is one namespace init enters with setns.
type Join struct {
	Type specs.LinuxNamespaceType `json:"type"`
	Fd   int                      `json:"fd"`
}

// WriteInit sends crate-init the part of the spec it acts on.
func WriteInit(w io.Writer, in *InitInput) error {
	s := in.Spec
	m := initSpec{
		Version:     s.Version,
		Process:     s.Process,
		Root:        s.Root,
		Hostname:    s.Hostname,
		Domainname:  s.Domainname,
		Mounts:      s.Mounts,
		Annotations: s.Annotations,
	}
	if l := s.Linux; l != nil {
		m.Linux = &initLinux{Sysctl: l.Sysctl, Devices: l.Devices, MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths,
			RootfsPropagation: l.RootfsPropagation, SeccompFilter: in.Filter, Join: in.Join, StartFd: in.StartFd,
			Console: in.Console}
		for _, ns := range l.Namespaces {
			m.Linux.Namespaces = append(m.Linux.Namespaces, specs.LinuxNamespace{Type: ns.Type})
		}
	}
	return json.NewEncoder(w).Encode(&m)
}

// ReadInit reads what WriteInit sent, and checks that init can act on it.
func ReadInit(r io.Reader) (*InitInput, error) {
	var m initSpec
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if m.Root == nil || m.Process == nil || m.Linux == nil || len(m.Process.Args) == 0 {
		return nil, errors.New("incomplete spec: root, process, args and linux are required")
	}
	return &InitInput{
		Spec: &specs.Spec{
			Version:     m.Version,
			Process:     m.Process,
			Root:        m.Root,
			Hostname:    m.Hostname,
			Domainname:  m.Domainname,
			Mounts:      m.Mounts,
			Annotations: m.Annotations,
			Linux: &specs.Linux{
				Namespaces:        m.Linux.Namespaces,
				Sysctl:            m.Linux.Sysctl,
				Devices:           m.Linux.Devices,
				MaskedPaths:       m.Linux.MaskedPaths,
				ReadonlyPaths:     m.Linux.ReadonlyPaths,
				RootfsPropagation: m.Linux.RootfsPropagation,
			},
		},
		Filter:  m.Linux.SeccompFilter,
		Join:    m.Linux.Join,
		StartFd: m.Linux.StartFd,
		Console: m.Linux.Console,
	}, nil
}

// HasNamespace reports whether s puts the container in a namespace of type t
// of its own (new, or joined by path), rather than the host's.
func HasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}
