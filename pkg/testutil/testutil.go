// Package testutil holds what the tests of several packages share.
package testutil

import (
	"os"
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
