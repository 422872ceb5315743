// Package hooks runs a container's OCI hooks (the runtime spec's "hooks" of
// config.json): each hook's program with its arguments and environment, the
// container's state as JSON on its stdin, within its timeout, and the
// spec's rule for a failure of its kind. crate runs the hooks that run in
// the runtime's namespaces: prestart, createRuntime, poststart, poststop.
package hooks

import (
	"errors"
	"fmt"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Kind is the point of a container's life at which a hook runs.
type Kind int

const (
	// Prestart hooks run after the container's namespaces exist, before
	// its process runs. Deprecated by the spec in favour of CreateRuntime,
	// but engines still send them (Docker's network setup is one).
	Prestart Kind = iota
	// CreateRuntime hooks run during create, after the namespaces exist
	// and before the root switch.
	CreateRuntime
	// Poststart hooks run after the user's process has started.
	Poststart
	// Poststop hooks run after the container is deleted.
	Poststop
)

// String is the kind as config.json names it.
func (k Kind) String() string {
	switch k {
	case Prestart:
		return "prestart"
	case CreateRuntime:
		return "createRuntime"
	case Poststart:
		return "poststart"
	case Poststop:
		return "poststop"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Kinds are the kinds crate runs, in the order of a container's life.
var Kinds = []Kind{Prestart, CreateRuntime, Poststart, Poststop}

// Fatal reports whether a failing hook of this kind fails the container. The
// runtime spec: a failed prestart or createRuntime hook is an error (the
// runtime stops and destroys the container); a failed poststart or poststop
// hook is a warning, and the hooks after it still run.
func (k Kind) Fatal() bool { return k == Prestart || k == CreateRuntime }

// Of returns the hooks of kind k in h, which may be nil.
func Of(h *specs.Hooks, k Kind) []specs.Hook {
	if h == nil {
		return nil
	}
	switch k {
	case Prestart:
		return h.Prestart // deprecated by the spec, but engines still send it
	case CreateRuntime:
		return h.CreateRuntime
	case Poststart:
		return h.Poststart
	case Poststop:
		return h.Poststop
	}
	return nil
}

// ErrTimeout is in the chain of a hook's error when it ran past its timeout
// and was killed.
var ErrTimeout = errors.New("timed out")

// Error is a hook that could not run or did not succeed.
type Error struct {
	Kind  Kind
	Index int    // position in its kind's list
	Path  string // the hook's program
	Err   error  // *exec.ExitError, ErrTimeout (wrapped), or why it did not start
	// Stdout and Stderr are what the hook wrote, at most OutputLimit bytes
	// of each.
	Stdout, Stderr []byte
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s hook %d (%s): %v", e.Kind, e.Index, e.Path, e.Err)
	if s := strings.TrimSpace(string(e.Stderr)); s != "" {
		fmt.Fprintf(&b, ": stderr: %s", s)
	}
	if s := strings.TrimSpace(string(e.Stdout)); s != "" {
		fmt.Fprintf(&b, ": stdout: %s", s)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// OutputLimit bounds what is kept of each of a hook's stdout and stderr: a
// hook that writes without end must not fill crate's memory. The rest is
// read and dropped, so the hook never blocks on a full pipe.
const OutputLimit = 16 << 10

// timeout is the hook's time limit, 0 for none; the spec's timeout is
// seconds and above 0.
func timeout(h specs.Hook) (time.Duration, error) {
	if h.Timeout == nil {
		return 0, nil
	}
	if *h.Timeout <= 0 {
		return 0, fmt.Errorf("timeout %d: want seconds above 0", *h.Timeout)
	}
	return time.Duration(*h.Timeout) * time.Second, nil
}

// limitedBuffer keeps the first OutputLimit bytes written to it and
// accepts, then drops, the rest.
type limitedBuffer struct {
	buf       []byte
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := OutputLimit - len(b.buf)
	if len(p) > room {
		b.truncated = true
		b.buf = append(b.buf, p[:max(room, 0)]...)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *limitedBuffer) bytes() []byte {
	if b.truncated {
		return append(b.buf, "[...]"...)
	}
	return b.buf
}
