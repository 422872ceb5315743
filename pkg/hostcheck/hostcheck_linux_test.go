package hostcheck

import (
	"testing"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/testutil"
)

// TestHost runs the real checks: the development, CI and VM hosts can all
// run containers, so none may be MISSING. crate-init is looked for by the
// command's own test (cmd/crate), which builds it.
func TestHost(t *testing.T) {
	testutil.RequireRoot(t)
	for _, r := range Run(Options{StateRoot: t.TempDir()}) {
		t.Logf("%-16s %-7s %s", r.Name, r.Status, r.Detail)
		if r.Status == Missing {
			t.Errorf("%s: MISSING (%s); fix: %s", r.Name, r.Detail, r.Fix)
		}
	}
}

// TestSeccompFilterProbeInstallsNothing asks for filter mode with a NULL
// program and checks that this process is still without a filter.
func TestSeccompFilterProbeInstallsNothing(t *testing.T) {
	before, err := seccompMode()
	if err != nil {
		t.Fatal(err)
	}
	if before != 0 {
		t.Skipf("the test already runs under seccomp mode %d", before)
	}
	has, err := seccompFilter()
	if err != nil {
		t.Fatal(err)
	}
	if !has {
		t.Error("this kernel reports no seccomp filter mode; crate's own seccomp tests say otherwise")
	}
	if after, err := seccompMode(); err != nil || after != 0 {
		t.Errorf("seccomp mode after the probe: %d, %v; want 0", after, err)
	}
}

func TestLoadDeviceProgram(t *testing.T) {
	testutil.RequireRoot(t)
	if err := cgroups.CanFilterDevices(); err != nil {
		t.Fatal(err)
	}
}

func TestFreeBytes(t *testing.T) {
	free, err := freeBytes(t.TempDir())
	if err != nil || free == 0 {
		t.Fatalf("freeBytes = %d, %v", free, err)
	}
	if _, err := freeBytes("/no/such/dir"); err == nil {
		t.Error("freeBytes of a missing directory: no error")
	}
}
