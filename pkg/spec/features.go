package spec

import (
	"runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// Features is what `crate features` prints: what crate does with a
// config.json, for engines that ask before they build one (containerd reads
// mount options and idmap support from it, for example). It must stay
// honest: an engine that believes crate honours a field it ignores builds a
// container that silently lacks it. Tests next to the code that does the
// work (init's mount options, the hooks, the seccomp compiler) check it.
func Features() *features.Features {
	yes, no := true, false
	archs := seccompArchs()
	return &features.Features{
		OCIVersionMin: OCIVersionMin,
		OCIVersionMax: OCIVersionMax,
		Hooks:         []string{"prestart", "createRuntime", "poststart", "poststop"},
		MountOptions:  slices.Clone(mountOptions),
		Linux: &features.Linux{
			Namespaces: namespaceNames(),
			// Every capability crate can name is one it can keep or drop.
			Capabilities: slices.Clone(Capabilities),
			Cgroup: &features.Cgroup{
				V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &no,
			},
			Seccomp: &features.Seccomp{
				Enabled:   ptrTo(archs != nil),
				Actions:   seccompActions,
				Operators: seccompOperators,
				Archs:     archs,
				// crate's compiler accepts no filter flag at all.
				KnownFlags:     []string{},
				SupportedFlags: []string{},
			},
			Apparmor:        &features.Apparmor{Enabled: &no},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no, Schemata: &no, Monitoring: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &no}},
			NetDevices:      &features.NetDevices{Enabled: &no},
		},
		// crate's own annotations change how init builds the container
		// (chroot instead of pivot_root, an init process as PID 1): an
		// engine should not pass a user's values through unchecked.
		PotentiallyUnsafeConfigAnnotations: []string{"run.crate."},
	}
}

func ptrTo[T any](v T) *T { return &v }

// mountOptions are the options crate-init turns into mount flags (the
// mountOptions table of pkg/initproc); any other option is handed to the
// file system as its own, which is not "recognized" in the features' sense.
var mountOptions = []string{
	"bind", "dev", "exec", "noatime", "nodev", "nodiratime", "noexec", "nosuid",
	"rbind", "relatime", "ro", "rw", "strictatime", "suid",
}

func namespaceNames() []string {
	names := make([]string, len(supportedNamespaces))
	for i, n := range supportedNamespaces {
		names[i] = string(n)
	}
	return names
}

// The seccomp actions and comparisons pkg/seccomp/profile compiles; it has
// no agent, so SCMP_ACT_NOTIFY is not among them.
var (
	seccompActions = []string{
		string(specs.ActKill), string(specs.ActKillProcess), string(specs.ActKillThread),
		string(specs.ActTrap), string(specs.ActErrno), string(specs.ActTrace),
		string(specs.ActAllow), string(specs.ActLog),
	}
	seccompOperators = []string{
		string(specs.OpNotEqual), string(specs.OpLessThan), string(specs.OpLessEqual),
		string(specs.OpEqualTo), string(specs.OpGreaterEqual), string(specs.OpGreaterThan),
		string(specs.OpMaskedEqual),
	}
)

// seccompArchs are the calling conventions crate's compiled filter tells
// apart on this machine; nil where it has no syscall tables, and so no
// seccomp.
func seccompArchs() []string {
	switch runtime.GOARCH {
	case "amd64":
		return []string{string(specs.ArchX86_64), string(specs.ArchX86), string(specs.ArchX32)}
	case "arm64":
		return []string{string(specs.ArchAARCH64), string(specs.ArchARM)}
	}
	return nil
}
