package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// waitDelay is how long a killed hook's output pipes may stay open, held by
// a descendant that left its process group (setsid), before crate closes
// them and returns; without it such a descendant could hold crate for ever.
const waitDelay = 2 * time.Second

// Run runs the hooks of kind, in order, with st as their stdin. For a fatal
// kind (see Kind.Fatal) the first failure stops the list and is returned as
// an *Error; the caller must then stop and destroy the container. For
// poststart and poststop each failure is logged as a warning and the rest
// still run; Run then returns nil. Cancelling ctx kills the running hook.
func Run(ctx context.Context, log hclog.Logger, kind Kind, hooks []specs.Hook, st specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	state, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state for %s hooks: %w", kind, err)
	}
	log = log.With("hook_kind", kind.String())
	for i, h := range hooks {
		err := runOne(ctx, kind, i, h, state)
		if err == nil {
			log.Debug("hook succeeded", "index", i, "path", h.Path)
			continue
		}
		if kind.Fatal() {
			return err
		}
		log.Warn("hook failed", "index", i, "path", h.Path, "error", err)
	}
	return nil
}

func runOne(ctx context.Context, kind Kind, index int, h specs.Hook, state []byte) error {
	fail := func(err error, stdout, stderr *limitedBuffer) error {
		e := &Error{Kind: kind, Index: index, Path: h.Path, Err: err}
		if stdout != nil {
			e.Stdout, e.Stderr = stdout.bytes(), stderr.bytes()
		}
		return e
	}
	limit, err := timeout(h)
	if err != nil {
		return fail(err, nil, nil)
	}
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, limit, fmt.Errorf("%w after %v", ErrTimeout, limit))
		defer cancel()
	}
	var stdout, stderr limitedBuffer
	cmd := exec.CommandContext(ctx, h.Path)
	// args[0] is the hook's argv[0], which need not be its path (Docker's
	// hook is /proc/PID/exe with argv[0] "libnetwork-setkey").
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	// A nil env inherits crate's environment, as runc does: hooks such as
	// GPU hooks find their tools through PATH. An empty list is an empty
	// environment.
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(state)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The hook leads a process group of its own, so that a timeout kills
	// what it started too: a shell script's child would otherwise outlive
	// it and keep its output pipes, and so crate, waiting.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if err := unix.Kill(-cmd.Process.Pid, unix.SIGKILL); !errors.Is(err, unix.ESRCH) {
			return err
		}
		return os.ErrProcessDone
	}
	cmd.WaitDelay = waitDelay
	err = cmd.Run()
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = context.Cause(ctx)
	}
	// A hook that leaves its group and holds the pipes makes Run return
	// exec.ErrWaitDelay after a success: the hook itself succeeded.
	if errors.Is(err, exec.ErrWaitDelay) {
		return nil
	}
	return fail(err, &stdout, &stderr)
}
