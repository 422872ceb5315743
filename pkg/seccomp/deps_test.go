package seccomp

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps crate-init small: this package, which it links, may
// use the standard library and x/sys only. The profile parser and compiler
// live in seccomp/profile, for the supervisor.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH to list dependencies with")
	}
	cmd := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		// Not a finding about this package: go itself cannot run here
		// (an unwritable build cache, no module cache for this user).
		t.Skipf("go list: %v: %s", err, exit.Stderr)
	}
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch pkg {
		case "github.com/crate-run/crate/pkg/seccomp", "golang.org/x/sys/unix":
		default:
			t.Errorf("package seccomp depends on %s; crate-init would link it", pkg)
		}
	}
}
