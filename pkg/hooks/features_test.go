package hooks

import (
	"slices"
	"testing"

	"github.com/crate-run/crate/pkg/spec"
)

// TestFeaturesHooks: `crate features` announces exactly the hooks Run runs.
func TestFeaturesHooks(t *testing.T) {
	var names []string
	for _, k := range Kinds {
		names = append(names, k.String())
	}
	if got := spec.Features().Hooks; !slices.Equal(got, names) {
		t.Errorf("spec.Features().Hooks = %v, Run runs %v", got, names)
	}
}
