package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/testutil"
)

// The CVE-2019-5736 attack: take /proc/PID/exe of a process running the
// binary (O_PATH, which running does not forbid), wait until it has exited
// (while it runs, the kernel refuses writers with ETXTBSY), then open it for
// writing through that descriptor.
func TestInitBinaryCannotBeWrittenThroughProc(t *testing.T) {
	testutil.RequireRoot(t)
	plain := func(path string) (*os.File, error) { return os.Open(path) }
	tests := []struct {
		name    string
		open    func(string) (*os.File, error)
		refused error // nil: the attack works (the control case)
	}{
		{"plain path (no protection)", plain, nil},
		{"read-only detached mount", readOnlyMount, unix.EROFS},
		{"sealed memfd copy", sealedCopy, unix.EPERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A copy, so that the control case writes to nothing that matters.
			bin := copyFile(t, "/bin/sleep", filepath.Join(t.TempDir(), "victim"))
			exe, err := tt.open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer exe.Close()

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, execPath(exe), "60")
			if err := cmd.Start(); err != nil {
				t.Fatalf("start %s: %v", execPath(exe), err)
			}
			link := fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)
			held, err := unix.Open(link, unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatalf("open %s O_PATH: %v", link, err)
			}
			defer unix.Close(held)
			cmd.Process.Kill()
			cmd.Wait()

			err = overwrite(fmt.Sprintf("/proc/self/fd/%d", held))
			if tt.refused == nil {
				if err != nil {
					t.Fatalf("control: overwriting the unprotected binary failed (%v): the test proves nothing", err)
				}
				return
			}
			if !errors.Is(err, tt.refused) {
				t.Fatalf("overwrite the executed binary through %s: %v, want %v", link, err, tt.refused)
			}
		})
	}
}

// overwrite writes a byte at the start of the file, as the attack would.
func overwrite(path string) error {
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer w.Close()
	_, err = w.Write([]byte{0})
	return err
}

func copyFile(t *testing.T, from, to string) string {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return to
}
