package main

// Bad input: every mistake in the command line, the image or the setup ends
// crate with exit 125 and one line on stderr that says what is wrong, before
// anything of the container exists, and never writes outside the state root
// however the archive lies.

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/crate-run/crate/pkg/testutil"
)

func TestBadInputIsRefused(t *testing.T) {
	testutil.RequireRoot(t)
	busybox := busyboxImage(t)
	outside := t.TempDir() // where a symlink in an archive points; must stay empty
	tooManyCPUs := fmt.Sprint(100*runtime.NumCPU() + 1)
	// A seccomp profile that allows almost nothing would stop crate-init
	// itself, after it installs the filter.
	tooStrict := filepath.Join(t.TempDir(), "strict.json")
	if err := os.WriteFile(tooStrict, []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		image func(t *testing.T) string // the IMAGE argument; busybox if nil
		flags []string                  // crate run's flags, before IMAGE
		cmd   []string                  // the COMMAND; sh if nil
		env   []string                  // added to crate's environment
		want  string                    // the stderr line says this
	}{
		// The image.
		{name: "missing image file", image: missingFile, want: "no such file"},
		{name: "image is a directory", image: func(t *testing.T) string { return t.TempDir() }, want: "is a directory"},
		{name: "image is a text file", image: textFile, want: "not a tar archive"},
		{name: "image is random bytes", image: randomBytes, want: "not a tar archive"},
		{name: "gzip header then garbage", image: gzipGarbage, want: "corrupt gzip data"},
		{name: "image cut in half", image: halfOf(busybox), want: "truncated archive"},

		// Archives that try to write outside the root filesystem.
		{name: "entry ../evil", image: archive(testutil.File{Name: "../evil", Mode: 0o644, Body: []byte("x")}),
			want: "path escapes the root"},
		{name: "entry ../../escaped", image: archive(testutil.File{Name: "../../escaped", Mode: 0o644, Body: []byte("x")}),
			want: "path escapes the root"},
		{name: "entry /abs/evil", image: archive(testutil.File{Name: "/abs/evil", Mode: 0o644, Body: []byte("x")}),
			want: "path is absolute"},
		{name: "entry through a symlink to a host directory",
			image: archive(
				testutil.File{Name: "link", Typeflag: tar.TypeSymlink, Link: outside},
				testutil.File{Name: "link/pwned", Mode: 0o644, Body: []byte("x")}),
			want: "passes through symlink"},
		{name: "entry through a symlink up and out",
			image: archive(
				testutil.File{Name: "up", Typeflag: tar.TypeSymlink, Link: "../../.."},
				testutil.File{Name: "up/pwned", Mode: 0o644, Body: []byte("x")}),
			want: "passes through symlink"},
		{name: "hardlink to ../../etc/passwd",
			image: archive(testutil.File{Name: "passwd", Typeflag: tar.TypeLink, Link: "../../etc/passwd"}),
			want:  "is outside the root"},
		{name: "hardlink to /etc/passwd",
			image: archive(testutil.File{Name: "passwd", Typeflag: tar.TypeLink, Link: "/etc/passwd"}),
			want:  "is outside the root"},

		// Limits.
		{name: "--memory 0", flags: []string{"--memory", "0"}, want: "must be more than 0"},
		{name: "--memory=-5", flags: []string{"--memory=-5"}, want: "must be more than 0"},
		{name: "--memory -5", flags: []string{"--memory", "-5"}, want: "must be more than 0"},
		{name: "--memory abc", flags: []string{"--memory", "abc"}, want: "not a size"},
		{name: "--memory below a start's need", flags: []string{"--memory", "1M"}, want: "--memory 1M: below the 1536 KiB crate-init needs to start any command; give --memory 1536K or more"},
		{name: "--memory 4K", flags: []string{"--memory", "4K"}, want: "give --memory 1536K or more"},
		{name: "--memory below a start's need with --init", flags: []string{"--init", "--memory", "1664K"},
			want: "--memory 1664K: below the 1728 KiB crate-init needs to start any command with --init; give --memory 1728K or more"},
		{name: "--cpu 0", flags: []string{"--cpu", "0"}, want: "out of range"},
		{name: "--cpu=-1", flags: []string{"--cpu=-1"}, want: "out of range"},
		{name: "--cpu -1", flags: []string{"--cpu", "-1"}, want: "out of range"},
		{name: "--cpu abc", flags: []string{"--cpu", "abc"}, want: "not a number"},
		{name: "--cpu more than all CPUs", flags: []string{"--cpu", tooManyCPUs}, want: "out of range"},
		{name: "--pids 0", flags: []string{"--pids", "0"}, want: "must be at least 1"},
		{name: "--pids below a start's need", flags: []string{"--pids", "3"}, want: "--pids 3: below the 6 tasks crate-init needs to start any command; give --pids 6 or more"},
		{name: "--pids below a start's need with --init", flags: []string{"--init", "--pids", "9"},
			want: "--pids 9: below the 10 tasks crate-init needs to start any command with --init; give --pids 10 or more"},
		{name: "--min-free abc", flags: []string{"--min-free", "abc"}, want: "not a size"},
		{name: "--min-free=-1G", flags: []string{"--min-free=-1G"}, want: "must not be negative"},
		{name: "--min-free 100%", flags: []string{"--min-free", "100%"}, want: "want a percentage from 0 to less than 100"},
		{name: "--min-free=-5%", flags: []string{"--min-free=-5%"}, want: "want a percentage from 0 to less than 100"},

		// Names, environment, working directory, command.
		{name: "--hostname with an underscore", flags: []string{"--hostname", "under_score"}, want: "not a valid hostname"},
		{name: "--hostname of 65 characters", flags: []string{"--hostname", strings.Repeat("a", 65)}, want: "65 characters"},
		{name: "--name ../x", flags: []string{"--name", "../x"}, want: "not a valid name"},
		{name: "-e without =", flags: []string{"-e", "NOEQUALS"}, want: "want KEY=VALUE"},
		{name: "-w relative", flags: []string{"-w", "relative"}, want: "must be an absolute path"},
		{name: "missing COMMAND", cmd: []string{}, want: "missing COMMAND"},
		{name: "--tmpfs with a relative path", flags: []string{"--tmpfs", "tmp"}, want: "want an absolute path"},
		{name: "--cap-add of no capability", flags: []string{"--cap-add", "FLY"}, want: "no such capability"},
		{name: "--security-opt unknown", flags: []string{"--security-opt", "label=disable"}, want: "unknown option"},
		{name: "--security-opt seccomp profile missing", flags: []string{"--security-opt", "seccomp=/crate-no-such-profile.json"}, want: "no such file"},
		{name: "--security-opt seccomp profile that stops init", flags: []string{"--security-opt", "seccomp=" + tooStrict}, want: "which crate-init needs"},
		{name: "--ulimit of no resource", flags: []string{"--ulimit", "files=10"}, want: "want NAME=SOFT[:HARD]"},
		{name: "--sysctl of the host's kernel", flags: []string{"--sysctl", "kernel.panic=1"}, want: "not namespaced"},
		{name: "-v with a relative host path", flags: []string{"-v", "data:/data"}, want: "must be absolute"},
		{name: "-v of a missing host path", flags: []string{"-v", "/crate-no-such-dir:/data"}, want: "does not exist"},
		{name: "-v onto /", flags: []string{"-v", "/tmp:/"}, want: "must not be /"},
		{name: "-v with a bad mode", flags: []string{"-v", "/tmp:/data:rx"}, want: "use ro or rw"},
		{name: "--device that does not exist", flags: []string{"--device", "/dev/crate-no-such-device"}, want: "no such file"},
		{name: "--device that is no device", flags: []string{"--device", "/etc/hostname:/dev/x"}, want: "not a character or block device"},
		{name: "--device with bad permissions", flags: []string{"--device", "/dev/null:/dev/x:rwx"}, want: "want some of r, w and m"},
		{name: "negative --stop-timeout", flags: []string{"--stop-timeout=-1s"}, want: "must not be negative"},
		{name: "-d with -i", flags: []string{"-d", "-i"}, want: "-d with -i"},
		{name: "--log-opt of an unknown key", flags: []string{"-d", "--log-opt", "compress=true"}, want: "unknown option"},
		{name: "--log-opt max-size too small", flags: []string{"-d", "--log-opt", "max-size=10"}, want: "must be at least 1k"},
		{name: "--log-opt max-file 0", flags: []string{"-d", "--log-opt", "max-file=0"}, want: "1 or more"},

		// crate-init.
		{name: "crate-init missing", env: []string{"CRATE_INIT=/nonexistent"}, want: "crate-init /nonexistent: no such file"},
		{name: "crate-init dynamically linked", env: []string{"CRATE_INIT=" + dynamicBinary(t)}, want: "dynamically linked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			img := busybox
			if tt.image != nil {
				img = tt.image(t)
			}
			cmd := tt.cmd
			if cmd == nil {
				cmd = []string{"sh"}
			}
			world := e.snapshot(outside)

			r := e.runWithEnv(tt.env, append(append(slices.Clone(tt.flags), img), cmd...)...)

			line := refusal(t, r)
			if !strings.Contains(line, tt.want) {
				t.Errorf("stderr %q does not say %q", line, tt.want)
			}
			t.Logf("stderr: %s", line)
			e.noContainers()
			if after := e.snapshot(outside); !slices.Equal(world, after) {
				t.Errorf("the run changed the world:\nbefore %q\nafter  %q", world, after)
			}
			if _, err := os.Lstat("/abs"); err == nil {
				t.Errorf("/abs was created")
			}
		})
	}
}

// TestRunAsNonRootIsRefused runs crate as nobody: it must say it needs root
// rather than fail somewhere in the middle.
func TestRunAsNonRootIsRefused(t *testing.T) {
	e := newEnv(t)
	// nobody must be able to reach and run the binaries under test.
	for _, dir := range []string{filepath.Dir(crateBin), filepath.Dir(initBin)} {
		allowSearch(t, dir)
	}
	cmd := e.command("run", "--name", newName(), busyboxImage(t), "sh")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	r := e.finish(cmd, "")

	line := refusal(t, r)
	if !strings.Contains(line, "needs root") || !strings.Contains(line, "sudo") {
		t.Errorf("stderr %q does not say it needs root (sudo)", line)
	}
	e.noContainers()
}

// refusal checks that crate refused to run: exit 125, nothing on stdout and
// exactly one line on stderr, which it returns.
func refusal(t *testing.T, r result) string {
	t.Helper()
	if r.code != exitCrateFailed {
		t.Errorf("exit %d, want %d", r.code, exitCrateFailed)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || strings.TrimSpace(lines[0]) == "" {
		t.Errorf("stderr has %d lines, want one saying what is wrong:\n%s", len(lines), r.stderr)
	}
	return lines[0]
}

// runWithEnv is e.run with more environment variables for crate; later
// values win over the helper's own (CRATE_INIT).
func (e *env) runWithEnv(vars []string, args ...string) result {
	e.t.Helper()
	name := newName()
	cmd := e.command(append([]string{"run", "--name", name}, args...)...)
	cmd.Env = append(cmd.Env, vars...)
	r := e.finish(cmd, name)
	e.noLeftovers(name)
	return r
}

// noContainers checks that the state root holds no container directory.
func (e *env) noContainers() {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.root, "containers"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.t.Fatal(err)
	}
	if len(entries) > 0 {
		e.t.Errorf("state root has containers: %v", entries)
	}
}

// snapshot lists every path under the env's directory (but the log file,
// which every run appends to, and the state root's own directories) and
// under the extra directories, and the link
// count of the host's /etc/passwd: what an escaping archive would change.
func (e *env) snapshot(extra ...string) []string {
	e.t.Helper()
	var paths []string
	for _, dir := range append([]string{filepath.Dir(e.root)}, extra...) {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == e.logFile || !e.made(p) {
				return nil
			}
			paths = append(paths, p)
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/etc/passwd", &st); err != nil {
		e.t.Fatal(err)
	}
	return append(paths, fmt.Sprintf("/etc/passwd has %d links", st.Nlink))
}

// made reports whether p is something crate made that bad input must not
// make: anything outside the state root, and inside it a container, a layer
// (whole or partial), a blob index entry or an image record. The store's
// empty directories and lock files are its bookkeeping, not an image.
func (e *env) made(p string) bool {
	rel, err := filepath.Rel(e.root, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return true
	}
	for _, dir := range []string{"containers", "layers/sha256", "layers/tmp", "blobs/sha256", "images"} {
		if strings.HasPrefix(rel, dir+"/") && !strings.HasPrefix(filepath.Base(rel), ".") {
			return true
		}
	}
	return false
}

// Images that are not archives, or bad ones.

func missingFile(t *testing.T) string { return filepath.Join(t.TempDir(), "no-such-image.tar") }

func textFile(t *testing.T) string {
	return writeFile(t, "notes.tar", []byte("this is a text file,\nnot a root filesystem\n"))
}

func randomBytes(t *testing.T) string {
	data := make([]byte, 64<<10)
	rng := rand.NewChaCha8([32]byte{'c', 'r', 'a', 't', 'e'}) // fixed: the same bytes every run
	rng.Read(data)
	data[0] = 0 // no compression's magic number starts with 0
	return writeFile(t, "random.tar", data)
}

func gzipGarbage(t *testing.T) string {
	// A valid gzip header (magic, deflate, no flags, mtime, xfl, os), then bytes
	// that are no deflate stream.
	header := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}
	return writeFile(t, "corrupt.tar.gz", append(header, bytes.Repeat([]byte{0xff, 0x00, 0x13}, 4096)...))
}

// halfOf returns an image that is the first half of the image at p: a cut
// download.
func halfOf(p string) func(t *testing.T) string {
	return func(t *testing.T) string {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, "half.tar.gz", data[:len(data)/2])
	}
}

// archive returns an image of a small root filesystem followed by files.
func archive(files ...testutil.File) func(t *testing.T) string {
	return func(t *testing.T) string {
		base := []testutil.File{
			{Name: "bin", Mode: 0o755, Typeflag: tar.TypeDir},
			{Name: "etc", Mode: 0o755, Typeflag: tar.TypeDir},
			{Name: "etc/hostname", Mode: 0o644, Body: []byte("box\n")},
		}
		return rootfsImage(t, append(base, files...))
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// dynamicBinary returns a dynamically linked host binary, which crate must
// refuse as crate-init.
func dynamicBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/true", "/bin/true", "/usr/bin/env"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		defer f.Close()
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				return p
			}
		}
	}
	t.Fatal("no dynamically linked binary found among /usr/bin/true, /bin/true, /usr/bin/env")
	return ""
}

// allowSearch lets other users traverse dir (not list it) for the rest of the
// test.
func allowSearch(t *testing.T, dir string) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, fi.Mode().Perm()) })
}
