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
// cgroup resources, which crate applies itself, and the namespaces, which are
// crate-init's clone flags), and with the seccomp profile already compiled
// into its filter, so that init never reads a profile.
type initSpec struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *initLinux        `json:"linux,omitempty"`
}

type initLinux struct {
	Sysctl        map[string]string   `json:"sysctl,omitempty"`
	Devices       []specs.LinuxDevice `json:"devices,omitempty"`
	MaskedPaths   []string            `json:"maskedPaths,omitempty"`
	ReadonlyPaths []string            `json:"readonlyPaths,omitempty"`
	SeccompFilter seccomp.Program     `json:"crateSeccompFilter,omitempty"`
}

// WriteInit sends crate-init the part of s it acts on, and filter, the
// compiled form of s.Linux.Seccomp.
func WriteInit(w io.Writer, s *specs.Spec, filter seccomp.Program) error {
	m := initSpec{
		Version:     s.Version,
		Process:     s.Process,
		Root:        s.Root,
		Hostname:    s.Hostname,
		Mounts:      s.Mounts,
		Annotations: s.Annotations,
	}
	if l := s.Linux; l != nil {
		m.Linux = &initLinux{Sysctl: l.Sysctl, Devices: l.Devices, MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths,
			SeccompFilter: filter}
	}
	return json.NewEncoder(w).Encode(&m)
}

// ReadInit reads what WriteInit sent, and checks that init can act on it.
func ReadInit(r io.Reader) (*specs.Spec, seccomp.Program, error) {
	var m initSpec
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("decode: %w", err)
	}
	if m.Root == nil || m.Process == nil || m.Linux == nil || len(m.Process.Args) == 0 {
		return nil, nil, errors.New("incomplete spec: root, process, args and linux are required")
	}
	return &specs.Spec{
		Version:     m.Version,
		Process:     m.Process,
		Root:        m.Root,
		Hostname:    m.Hostname,
		Mounts:      m.Mounts,
		Annotations: m.Annotations,
		Linux: &specs.Linux{
			Sysctl:        m.Linux.Sysctl,
			Devices:       m.Linux.Devices,
			MaskedPaths:   m.Linux.MaskedPaths,
			ReadonlyPaths: m.Linux.ReadonlyPaths,
		},
	}, m.Linux.SeccompFilter, nil
}
