package spec

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crate-run/crate/pkg/seccomp/profile"
)

// TestFeaturesSeccomp: every action and operator Features announces
// compiles, and the one it leaves out does not.
func TestFeaturesSeccomp(t *testing.T) {
	f := Features().Linux.Seccomp
	if !*f.Enabled {
		t.Skip("no seccomp on this machine")
	}
	compile := func(action specs.LinuxSeccompAction, op specs.LinuxSeccompOperator) error {
		_, err := profile.Compile(&specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Architectures: []specs.Arch{specs.Arch(f.Archs[0])},
			Syscalls: []specs.LinuxSyscall{{
				Names:  []string{"getpid"},
				Action: action,
				Args:   []specs.LinuxSeccompArg{{Index: 0, Value: 1, ValueTwo: 1, Op: op}},
			}},
		})
		return err
	}
	for _, a := range f.Actions {
		if err := compile(specs.LinuxSeccompAction(a), specs.OpEqualTo); err != nil {
			t.Errorf("action %s: %v", a, err)
		}
	}
	for _, op := range f.Operators {
		if err := compile(specs.ActAllow, specs.LinuxSeccompOperator(op)); err != nil {
			t.Errorf("operator %s: %v", op, err)
		}
	}
	if err := compile(specs.ActNotify, specs.OpEqualTo); err == nil {
		t.Errorf("%s compiles: announce it", specs.ActNotify)
	}
}
