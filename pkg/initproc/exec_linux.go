package initproc

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/initsync"
	"github.com/crate-run/crate/pkg/spec"
)

// ExecError says why the command could not be started, in words, and keeps
// the errno that decides crate's exit code (127 for ENOENT, 126 otherwise).
type ExecError struct {
	Path   string
	Reason string
	Errno  unix.Errno
}

func (e *ExecError) Error() string { return fmt.Sprintf("%s: %s", shown(e.Path), e.Reason) }

// shown returns s, a name the image chose (a command, a PATH, an
// interpreter), for a message that reaches the operator's terminal: as it
// is if it prints as text, quoted if it holds anything a terminal would
// take as a command (an escape sequence, a bell, a carriage return).
func shown(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}
func (e *ExecError) Unwrap() error { return e.Errno }

// execCommand finds args[0] on the container's PATH, tells the supervisor
// that init is executing it, and execs it. It returns only on failure, with
// an *ExecError that says exactly why.
func execCommand(args, env []string, sync *initsync.Channel) error {
	path, err := lookPath(args[0], env)
	if err != nil {
		return err
	}
	// The last word, as late as it can come: until the supervisor has it, a
	// death of init is a death before the command started.
	if err := sync.Executing(); err != nil {
		return err
	}
	err = unix.Exec(path, args, env)
	return diagnoseExec(path, err)
}

// lookPath resolves a command name on the PATH in env, the way a shell
// would. The root switch is done, so every path here is the container's.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathVar := spec.DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	var notExecutable string
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		candidate := filepath.Join(dir, name)
		fi, err := os.Stat(candidate)
		if err != nil || fi.IsDir() {
			continue
		}
		if fi.Mode()&0o111 != 0 {
			return candidate, nil
		}
		if notExecutable == "" {
			notExecutable = candidate
		}
	}
	if notExecutable != "" {
		// A shell would say "permission denied" here too; say why.
		return notExecutable, nil
	}
	return "", &ExecError{Path: name, Reason: fmt.Sprintf("command not found in PATH=%s", shown(pathVar)), Errno: unix.ENOENT}
}

// diagnoseExec turns execve's bare errno into the reason behind it: the file,
// its mode, its ELF interpreter, its architecture, its #! line.
func diagnoseExec(path string, execErr error) error {
	var errno unix.Errno
	if !errors.As(execErr, &errno) {
		return execErr
	}
	fail := func(format string, a ...any) error {
		return &ExecError{Path: path, Reason: fmt.Sprintf(format, a...), Errno: errno}
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail("no such file in the image")
	case err != nil:
		return fail("%v", err)
	case fi.IsDir():
		return fail("is a directory, not a command")
	case !fi.Mode().IsRegular():
		return fail("not a regular file (%s)", fi.Mode().Type())
	case fi.Mode()&0o111 == 0:
		return fail("not executable (mode %s); chmod +x it in the image", fi.Mode().Perm())
	}
	head := make([]byte, 256)
	// Not os.Open: the file may have been swapped for a FIFO since (a
	// volume another container shares), whose open would wait for ever.
	f, _, err := openRegular(path)
	if err != nil {
		return fail("%v", err)
	}
	defer f.Close()
	n, _ := io.ReadFull(f, head)
	head = head[:n]

	switch {
	case bytes.HasPrefix(head, []byte("#!")):
		return diagnoseScript(head, fail, errno)
	case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		return diagnoseELF(f, fail, errno)
	}
	if errno == unix.ENOEXEC {
		return fail("not an ELF binary nor a #! script (exec format error)")
	}
	return fail("%v", errno)
}

// diagnoseScript explains a #! script that would not start.
func diagnoseScript(head []byte, fail func(string, ...any) error, errno unix.Errno) error {
	line, _, _ := bytes.Cut(head[2:], []byte("\n"))
	if bytes.HasSuffix(line, []byte("\r")) {
		return fail("the #! line ends in CRLF, so the kernel looks for an interpreter whose name ends in \\r; convert the script to LF line ends (dos2unix)")
	}
	fields := strings.Fields(string(line))
	if len(fields) == 0 {
		return fail("the #! line names no interpreter")
	}
	interp := fields[0]
	if _, err := os.Stat(interp); errors.Is(err, fs.ErrNotExist) {
		return fail("its #! interpreter %s is missing from the image", shown(interp))
	}
	return fail("its #! interpreter %s cannot be run: %v", shown(interp), errno)
}

// diagnoseELF explains an ELF binary that would not start: another
// architecture, or a dynamic loader the image lacks.
func diagnoseELF(f *os.File, fail func(string, ...any) error, errno unix.Errno) error {
	ef, err := elf.NewFile(f)
	if err != nil {
		return fail("a damaged ELF file: %v", err)
	}
	if want, ok := hostMachine[runtime.GOARCH]; ok && ef.Machine != want {
		return fail("a binary for %s, but this machine runs %s", machineName(ef.Machine), machineName(want))
	}
	for _, p := range ef.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return fail("unreadable ELF interpreter entry: %v", err)
		}
		interp := strings.TrimRight(string(b), "\x00")
		if _, err := os.Stat(interp); errors.Is(err, fs.ErrNotExist) {
			return fail("dynamically linked, and its ELF interpreter %s is missing from the image (add the C library or use a static binary)", shown(interp))
		}
	}
	return fail("%v", errno)
}

var hostMachine = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"386":     elf.EM_386,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"riscv64": elf.EM_RISCV,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
}

// machineName gives the names people know, not the ELF constants.
func machineName(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_AARCH64:
		return "aarch64 (arm64)"
	case elf.EM_386:
		return "i386"
	case elf.EM_ARM:
		return "32-bit arm"
	}
	return strings.TrimPrefix(m.String(), "EM_")
}
