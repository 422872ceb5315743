package initproc

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/testutil"
)

const workdirChildEnv = "CRATE_TEST_WORKDIR_ROOT"

// A working directory outside the root, as a leaked host descriptor would
// give (chroot leaves the working directory where it was), is refused.
func TestWorkdirOutsideTheRootIsRefused(t *testing.T) {
	testutil.RequireRoot(t)
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkdirChild$")
	cmd.Env = append(os.Environ(), workdirChildEnv+"="+root)
	cmd.Dir = "/" // outside root
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := string(out); !strings.Contains(got, "inside: ok") || !strings.Contains(got, "outside: the working directory") {
		t.Errorf("child said:\n%s", got)
	}
}

// TestWorkdirChild is the child of TestWorkdirOutsideTheRootIsRefused: it
// chroots without changing directory, checks, then enters the root and
// checks again.
func TestWorkdirChild(t *testing.T) {
	root := os.Getenv(workdirChildEnv)
	if root == "" {
		t.Skip("the child process of TestWorkdirOutsideTheRootIsRefused")
	}
	if err := unix.Chroot(root); err != nil {
		t.Fatal(err)
	}
	report := func(what string, err error) {
		if err == nil {
			os.Stdout.WriteString(what + ": ok\n")
		} else {
			os.Stdout.WriteString(what + ": " + err.Error() + "\n")
		}
	}
	report("outside", checkWorkdir())
	if err := unix.Chdir("/"); err != nil {
		t.Fatal(err)
	}
	report("inside", checkWorkdir())
	os.Exit(0)
}
