package initproc

import (
	"maps"
	"slices"
	"testing"

	"github.com/crate-run/crate/pkg/spec"
)

// TestFeaturesMountOptions: `crate features` announces exactly the mount
// options init turns into flags.
func TestFeaturesMountOptions(t *testing.T) {
	got := slices.Sorted(slices.Values(spec.Features().MountOptions))
	want := slices.Sorted(maps.Keys(mountOptions))
	if !slices.Equal(got, want) {
		t.Errorf("spec.Features().MountOptions = %v, init knows %v", got, want)
	}
}
