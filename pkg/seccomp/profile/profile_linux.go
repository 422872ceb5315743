package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	moby "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Default returns Docker's default seccomp profile for this machine, for a
// container whose capability bounding set is capabilities ("CAP_SYS_ADMIN",
// ...). As in Docker, rules the profile ties to a capability are included
// exactly when the set has it (clone with namespace flags, mount, unshare and
// setns with CAP_SYS_ADMIN, reboot with CAP_SYS_BOOT, ...), and rules tied to
// a kernel version are resolved against the running kernel.
func Default(capabilities []string) (*specs.LinuxSeccomp, error) {
	s, err := moby.GetDefaultProfile(withCapabilities(capabilities))
	if err != nil {
		return nil, fmt.Errorf("docker default seccomp profile: %w", err)
	}
	return s, nil
}

// Load reads a Docker-format seccomp profile (docker run --security-opt
// seccomp=FILE) and resolves it for this machine and capabilities, as Default
// does. The profile is compiled, so that every mistake in the file is
// reported here, naming the file, and so is a profile that would stop
// crate-init itself before it runs the command.
func Load(path string, capabilities []string) (*specs.LinuxSeccomp, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seccomp profile: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("seccomp profile %s is empty", path)
	}
	s, err := moby.LoadProfile(string(data), withCapabilities(capabilities))
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %s", path, describeLoadError(err, data))
	}
	// moby treats a profile without defaultAction and rules as "no
	// filter"; a file given on purpose should not silently turn it off.
	if s == nil {
		return nil, fmt.Errorf("seccomp profile %s has neither defaultAction nor syscalls", path)
	}
	checked, err := prepare(s)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", path, err)
	}
	p, err := checked.compile()
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", path, err)
	}
	if err := checkInitCalls(p); err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", path, err)
	}
	return s, nil
}

// withCapabilities is the part of a runtime spec moby reads: the capability
// bounding set, which Docker matches rules against.
func withCapabilities(capabilities []string) *specs.Spec {
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: capabilities}}}
}

// describeLoadError turns moby's decoding errors into one phrase that says
// where in the file the mistake is.
func describeLoadError(err error, data []byte) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		// Offset counts the bytes read, the offending one included; at the
		// end of the input there is none, and the position is the end.
		at := syntax.Offset
		if at > 0 && at < int64(len(data)) {
			at--
		}
		line, col := position(data, at)
		return fmt.Sprintf("invalid JSON at line %d, column %d: %v", line, col, syntax)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		// The path names moby's embedded Go structs; the file has no such
		// level.
		field := strings.NewReplacer("LinuxSeccomp.", "", "LinuxSyscall.", "").Replace(typ.Field)
		line, _ := position(data, typ.Offset)
		return fmt.Sprintf("%s on line %d must be %s, not %s", field, line, typ.Type, typ.Value)
	}
	return strings.TrimPrefix(err.Error(), "Decoding seccomp profile failed: ")
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}
