package testutil

import (
	"slices"

	"github.com/crate-run/crate/pkg/spec"
)

// CapabilitySets are the capability sets the seccomp tests compile Docker's
// profile for: none, crate's default (Docker's), one with the capabilities
// the profile has rules for, and CAP_SYS_ADMIN alone.
var CapabilitySets = map[string][]string{
	"no capabilities": nil,
	"docker default":  spec.DefaultCapabilities,
	"privileged-ish": append(slices.Clone(spec.DefaultCapabilities), "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_MODULE",
		"CAP_SYS_PTRACE", "CAP_BPF", "CAP_PERFMON", "CAP_SYS_TIME", "CAP_SYS_NICE", "CAP_DAC_READ_SEARCH"),
	"only CAP_SYS_ADMIN": {"CAP_SYS_ADMIN"},
}
