// Package testutil holds what the tests of several packages share.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// RequireRoot skips a test that needs root, with a message saying how to run
// it, except when CI=true: in CI every integration test must run, and a skip
// would hide a run without root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root, and CI=true: run the tests as root (sudo make test)")
	}
	t.Skip("this test needs root: run it with sudo (sudo make test)")
}

// RequireTool returns the path of a program a test needs. A missing one
// skips the test locally, naming the Debian package that has it, but fails
// it when CI=true: CI installs them all (scripts/install-deps.sh), and a
// skip there would hide a check that never ran.
func RequireTool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI=true: apt-get install -y %s", name, debianPackage)
	}
	t.Skipf("%s is not installed: apt-get install -y %s", name, debianPackage)
	return ""
}
