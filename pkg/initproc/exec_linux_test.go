package initproc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/spec"
)

// writeFile makes a file in dir with the given mode and returns its path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := writeFile(t, dir, "tool", "#!/bin/sh\n", 0o755)
	plain := writeFile(t, dir, "data", "x", 0o644)
	env := []string{"PATH=/nonexistent:" + dir}

	if got, err := lookPath("tool", env); err != nil || got != exe {
		t.Errorf("lookPath(tool) = %q, %v; want %q", got, err, exe)
	}
	// A non-executable match is returned so that execve and the diagnosis
	// can say "not executable" rather than "not found".
	if got, err := lookPath("data", env); err != nil || got != plain {
		t.Errorf("lookPath(data) = %q, %v; want %q", got, err, plain)
	}
	_, err := lookPath("nope", env)
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "PATH=/nonexistent:"+dir) {
		t.Errorf("lookPath(nope) = %v, want ENOENT naming the PATH searched", err)
	}
	if got, _ := lookPath("/abs/cmd", env); got != "/abs/cmd" {
		t.Errorf("lookPath(/abs/cmd) = %q", got)
	}
}

func TestDiagnoseExec(t *testing.T) {
	dir := t.TempDir()
	// An ELF header for aarch64: magic, 64-bit, little endian, then e_machine
	// (183) at offset 18. debug/elf needs a full header to parse, 64 bytes.
	arm := make([]byte, 64)
	copy(arm, "\x7fELF\x02\x01\x01")
	arm[16], arm[18] = 2, 183
	arm[20] = 1
	armPath := filepath.Join(dir, "armbin")
	if err := os.WriteFile(armPath, arm, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		errno unix.Errno
		want  string
	}{
		{"missing", filepath.Join(dir, "nope"), unix.ENOENT, "no such file"},
		{"not executable", writeFile(t, dir, "plain", "echo\n", 0o644), unix.EACCES, "not executable (mode -rw-r--r--)"},
		{"directory", dir, unix.EACCES, "is a directory"},
		{"crlf", writeFile(t, dir, "crlf.sh", "#!/bin/sh\r\necho hi\r\n", 0o755), unix.ENOENT, "CRLF"},
		{"missing interpreter", writeFile(t, dir, "py", "#!/usr/bin/python9 -u\n", 0o755), unix.ENOENT, "#! interpreter /usr/bin/python9 is missing"},
		{"other architecture", armPath, unix.ENOEXEC, "a binary for aarch64 (arm64), but this machine runs x86_64"},
		{"garbage", writeFile(t, dir, "junk", "hello world", 0o755), unix.ENOEXEC, "not an ELF binary nor a #! script"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := diagnoseExec(tt.path, tt.errno)
			if !errors.Is(err, tt.errno) {
				t.Errorf("errno lost: %v", err)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("diagnoseExec = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestMountFlags(t *testing.T) {
	tests := []struct {
		options   []string
		wantFlags uintptr
		wantData  string
	}{
		{[]string{"nosuid", "noexec", "nodev"}, unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, ""},
		{[]string{"nosuid", "mode=755", "size=65536k"}, unix.MS_NOSUID, "mode=755,size=65536k"},
		{[]string{"ro", "rw"}, 0, ""},
		{[]string{"newinstance", "ptmxmode=0666"}, 0, "newinstance,ptmxmode=0666"},
	}
	for _, tt := range tests {
		flags, data := mountFlags(tt.options)
		if flags != tt.wantFlags || data != tt.wantData {
			t.Errorf("mountFlags(%q) = %#x %q, want %#x %q", tt.options, flags, data, tt.wantFlags, tt.wantData)
		}
	}
}

// TestCapabilityNumbers checks crate's list against the kernel's numbers.
func TestCapabilityNumbers(t *testing.T) {
	for name, want := range map[string]int{
		"CAP_CHOWN": unix.CAP_CHOWN, "CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN,
		"CAP_MKNOD": unix.CAP_MKNOD, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE, "CAP_SETFCAP": unix.CAP_SETFCAP,
		"CAP_BPF": unix.CAP_BPF, "CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
	} {
		if got := spec.CapabilityNumber(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if len(spec.Capabilities) != unix.CAP_LAST_CAP+1 {
		t.Errorf("%d capabilities listed, the kernel headers know %d", len(spec.Capabilities), unix.CAP_LAST_CAP+1)
	}
}

// TestExecErrorQuotesWhatCannotPrint: a command the image names reaches the
// operator's terminal in crate's message; one with an escape sequence in
// its name is quoted there, a plain one is not.
func TestExecErrorQuotesWhatCannotPrint(t *testing.T) {
	for name, want := range map[string]string{
		"/bin/nope":                 "/bin/nope: gone",
		"no\x1b]0;owned\asuch":      `"no\x1b]0;owned\asuch": gone`,
		"/bin/caf\u00e9":            "/bin/caf\u00e9: gone",
		"/bin/x\rfake prompt$ ":     `"/bin/x\rfake prompt$ ": gone`,
		"/bin/csi\u009b31m-in-utf8": `"/bin/csi\u009b31m-in-utf8": gone`,
	} {
		if got := (&ExecError{Path: name, Reason: "gone"}).Error(); got != want {
			t.Errorf("ExecError{%q}.Error() = %q, want %q", name, got, want)
		}
	}
}
