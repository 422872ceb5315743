package spec

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// ParseMemory reads a --memory value. A bare number is MiB, as in the original
// `--memory 64`; a K, M or G suffix (any case, optional B or iB) says the unit.
func ParseMemory(s string) (int64, error) {
	const help = "use a number of MiB (64) or a size with a unit (2048K, 64M, 2G)"
	n, err := ParseSize(s, 1<<20)
	switch {
	case errors.Is(err, ErrSizeTooLarge):
		return 0, fmt.Errorf("--memory %q: %w", s, err)
	case err == nil && n == 0:
		err = ErrSizeNotPositive
	}
	if err != nil {
		return 0, fmt.Errorf("--memory %q: %w; %s", s, err, help)
	}
	return n, nil
}

// Why ParseSize refuses a size.
var (
	ErrNotSize         = errors.New("not a size")
	ErrSizeNotPositive = errors.New("must be more than 0")
	ErrSizeTooLarge    = errors.New("too large")
)

// ParseSize reads a size in bytes: a whole number with a K, M or G suffix (any case,
// optional B or iB) for KiB, MiB or GiB, or without one, a number of bare bytes. It
// takes 0 (whether a size may be 0 is the caller's to say); its errors match
// ErrNotSize, ErrSizeNotPositive (a negative size) or ErrSizeTooLarge.
func ParseSize(s string, bare int64) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	unit := bare
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			unit, t = 1<<10, t[:n-1]
		case 'M':
			unit, t = 1<<20, t[:n-1]
		case 'G':
			unit, t = 1<<30, t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	switch {
	case err != nil:
		return 0, ErrNotSize
	case n < 0:
		return 0, ErrSizeNotPositive
	case n > math.MaxInt64/unit:
		return 0, ErrSizeTooLarge
	}
	return n * unit, nil
}

// ParseCPU reads a --cpu value: a percentage of one CPU, from 1 to 100 times
// the number of CPUs the machine has.
func ParseCPU(s string, ncpu int) (int64, error) {
	max := int64(100 * ncpu)
	help := fmt.Sprintf("use a percentage of one CPU from 1 to %d (this machine has %d CPUs)", max, ncpu)
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(s), "%"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("--cpu %q: not a number; %s", s, help)
	}
	if n < 1 || n > max {
		return 0, fmt.Errorf("--cpu %q: out of range; %s", s, help)
	}
	return n, nil
}

// ParsePids reads a --pids value: a limit of at least 1, or -1 for none
// (returned as 0, no limit).
func ParsePids(n int64) (int64, error) {
	switch {
	case n == -1:
		return 0, nil
	case n < 1:
		return 0, fmt.Errorf("--pids %d: must be at least 1, or -1 for no limit", n)
	}
	return n, nil
}

// SecurityOpts are the --security-opt values crate knows, as docker run
// spells them.
type SecurityOpts struct {
	// NoNewPrivileges: no-new-privileges[=true|false].
	NoNewPrivileges bool
	// Seccomp is seccomp=unconfined or seccomp=PROFILE.json; "" means
	// Docker's default profile.
	Seccomp string
}

// ParseSecurityOpts reads --security-opt values; a later one wins.
func ParseSecurityOpts(opts []string) (SecurityOpts, error) {
	var so SecurityOpts
	for _, opt := range opts {
		key, value, hasValue := strings.Cut(opt, "=")
		switch {
		case key == "no-new-privileges" && (!hasValue || value == "true"):
			so.NoNewPrivileges = true
		case key == "no-new-privileges" && value == "false":
			so.NoNewPrivileges = false
		case key == "no-new-privileges":
			return so, fmt.Errorf("--security-opt %q: want no-new-privileges, =true or =false", opt)
		case key == "seccomp" && value != "":
			so.Seccomp = value
		case key == "seccomp":
			return so, fmt.Errorf("--security-opt %q: want seccomp=unconfined or seccomp=PROFILE.json", opt)
		default:
			return so, fmt.Errorf("--security-opt %q: unknown option; crate knows no-new-privileges and seccomp=unconfined|PROFILE.json", opt)
		}
	}
	return so, nil
}

// hostnameLabel reports whether l is one dot-separated part of a hostname
// (RFC 1123): 1 to 63 letters, digits and '-', with no '-' at either end.
// Every start checks the hostname; a loop costs nothing where compiling a
// regular expression costs a tenth of a millisecond.
func hostnameLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range []byte(l) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidHostname checks a --hostname value: RFC 1123 labels, at most 64
// characters in all (the kernel's limit for a UTS name).
func ValidHostname(h string) error {
	const help = "use letters, digits and '-', in dot-separated parts of 1 to 63 characters, 64 at most in all"
	if len(h) == 0 || len(h) > 64 {
		return fmt.Errorf("--hostname %q: %d characters; %s", h, len(h), help)
	}
	for _, label := range strings.Split(h, ".") {
		if !hostnameLabel(label) {
			return fmt.Errorf("--hostname %q: not a valid hostname; %s", h, help)
		}
	}
	return nil
}

// validName is a container name: it becomes a directory and a cgroup name, so
// no slashes, no dots at the start, nothing a shell would trip over.
var validName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)
})

// ValidName checks a --name value.
func ValidName(name string) error {
	if !validName().MatchString(name) {
		return fmt.Errorf("--name %q: not a valid name; use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", name)
	}
	return nil
}
