package container

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/containerlog"
	"github.com/crate-run/crate/pkg/state"
)

// A container's life as the state directory tells it to other crate
// commands: registered (created) before anything is made for it, running
// once its command has started, and then either gone with everything else,
// or, kept (crate run -d without --rm), exited with its exit code.
//
// Beside state.json the supervisor keeps InitSpec there: the spec exactly as
// crate-init received it, with the seccomp filter compiled. crate exec starts
// its process from it, so that the process gets the container's
// capabilities, filter, limits and environment without recomputing them.

// InitSpec is the file, in a container's state directory, holding the spec
// sent to its crate-init.
const InitSpec = "init.json"

// OutputLog is the file, in a detached container's directory, its output is
// captured to (see pkg/containerlog).
const OutputLog = "output.log"

// register makes the container's entry in the state directory.
func (c *container) register(imageID, dir string, cg cgroups.Manager, res *specs.LinuxResources) error {
	if c.cfg.State == nil {
		return nil
	}
	st := &state.State{
		ID:            c.id,
		Name:          c.id,
		Image:         c.cfg.Image,
		ImageID:       imageID,
		Command:       c.spec.Process.Args,
		Status:        state.Created,
		Detached:      c.cfg.Detached,
		AutoRemove:    !c.cfg.Keep,
		SupervisorPID: os.Getpid(),
		Created:       time.Now().UTC(),
		Cgroup:        cg.Path(),
		Resources:     res,
		Bundle:        dir,
	}
	if c.cfg.Detached {
		st.Log = dir + "/" + OutputLog
		st.LogLimits = c.cfg.LogLimits
	}
	h, err := c.cfg.State.Create(st)
	if errors.Is(err, state.ErrExists) {
		if old, gerr := c.cfg.State.Get(c.id); gerr == nil && old.Reason != "" {
			return fmt.Errorf("container name %q is taken by a container whose %s: crate rm %s removes it", c.id, old.Reason, c.id)
		}
		return fmt.Errorf("container name %q is already in use; choose another --name, or remove it with crate rm", c.id)
	}
	if err != nil {
		return fmt.Errorf("register the container: %w", err)
	}
	c.state = h
	return nil
}

// recordStart marks the container running, with its PID 1. The PID's start
// time goes with it, so that no one ever signals another process that was
// given the same PID after the container's had gone. It runs while the
// command does, off the start's path; recordExit and cleanup wait for it.
func (c *container) recordStart() {
	c.recorded = make(chan struct{})
	go func() {
		defer close(c.recorded)
		c.writeStart()
	}()
}

// waitRecorded waits for recordStart's write, if there is one.
func (c *container) waitRecorded() {
	if c.recorded != nil {
		<-c.recorded
	}
}

func (c *container) writeStart() {
	if c.cfg.Started != nil {
		defer c.cfg.Started()
	}
	if c.state == nil {
		return
	}
	select {
	case <-c.init.exited:
		// Over already (a quick command): nothing can enter or stop it any
		// more, and recordExit writes how it ended, so the running state
		// is not worth the writes.
		return
	default:
	}
	// The spec first: a running container must be one crate exec can enter.
	if err := c.state.WriteFile(InitSpec, c.init.spec); err != nil {
		c.log.Warn("keep the container's spec: crate exec will not work", "error", err)
	}
	<-c.init.startRead
	err := c.state.Update(func(st *state.State) {
		st.Status = state.Running
		st.InitPID = c.init.pid()
		st.InitStartTime = c.init.startTime
		st.Started = c.started
	})
	if err != nil {
		c.log.Warn("record the container as running", "error", err)
	}
}

// keep reports whether the container's directory and state outlive it.
func (c *container) keep() bool { return c.cfg.Keep && c.ran }

// recordExit says how the container ended in its state, if it is kept, and
// otherwise removes its entry; either way the supervisor lets go of it.
func (c *container) recordExit(r *Result) {
	if c.state == nil {
		return
	}
	defer c.state.Release()
	if !c.keep() {
		return // cleanup removed it
	}
	c.waitRecorded()
	err := c.state.Update(func(st *state.State) {
		st.Started = c.started
		st.Status = state.Exited
		st.ExitCode = &r.ExitCode
		if r.Signal != 0 {
			st.Signal = unix.SignalName(r.Signal)
		}
		st.OOMKilled = r.OOMKilled
		st.Finished = time.Now().UTC()
		if reason := c.output.truncatedReason(); reason != "" {
			st.OutputTruncated = reason
		}
	})
	if err != nil {
		c.log.Error("record the container's exit", "error", err)
	}
}

// recordTruncated says in the state, while the container runs, that its
// output log lacks some of its output, and why (see capturedOutput).
func (c *container) recordTruncated() {
	if c.state == nil {
		return
	}
	reason := c.output.truncatedReason()
	if err := c.state.Update(func(st *state.State) { st.OutputTruncated = reason }); err != nil {
		c.log.Warn("record that the container's output was truncated", "error", err)
	}
}

// forget removes the container's entry, unless it is kept. cleanup does it
// at the same time as it removes the cgroup and the directory: were this
// supervisor killed half way, crate gc would still find a directory left
// without its state, and remove it and its cgroup.
func (c *container) forget() {
	if c.state == nil || c.keep() {
		return
	}
	c.waitRecorded()
	if err := c.state.Remove(); err != nil {
		c.log.Error("remove the container's state", "error", err)
	}
}

// placement is the cgroup init is started in: the container's own, or for
// crate exec the running container's.
func (c *container) placement() cgroups.Manager {
	if c.join != nil {
		return c.join.cgroup
	}
	return c.cgroup
}

// capturedOutput copies a detached container's stdout and stderr into its
// output log, line by line, each stamped with its time and stream. Whatever
// happens to the log, the copies read the pipes to their end, so that the
// container never blocks on them; output the log cannot take makes it
// truncated, which the supervisor logs once and records in the state.
type capturedOutput struct {
	log            *containerlog.Writer
	stdout, stderr *os.File // init's ends; the supervisor drops its copies once init has them
	copied         chan struct{}
	logger         hclog.Logger

	mu        sync.Mutex
	reason    error         // why the log lacks output from some point on; nil while it has it all
	truncated chan struct{} // closed once reason is set
}

func captureOutput(logger hclog.Logger, path string, limits containerlog.Limits) (*capturedOutput, error) {
	o := &capturedOutput{logger: logger, copied: make(chan struct{}, 2), truncated: make(chan struct{})}
	w, err := containerlog.Create(path, limits, o.truncate)
	if err != nil {
		return nil, fmt.Errorf("create the output log: %w", err)
	}
	var pipes [2][2]*os.File // read, write
	for i := range pipes {
		r, wr, err := os.Pipe()
		if err != nil {
			for _, p := range pipes[:i] {
				p[0].Close()
				p[1].Close()
			}
			w.Close()
			return nil, fmt.Errorf("output pipe: %w", err)
		}
		pipes[i] = [2]*os.File{r, wr}
	}
	o.log, o.stdout, o.stderr = w, pipes[0][1], pipes[1][1]
	for i, stream := range []containerlog.Stream{containerlog.Stdout, containerlog.Stderr} {
		go func() {
			// A read error leaves the rest of the stream unread: closing the pipe
			// then gives the container EPIPE rather than a pipe that fills up.
			if err := w.Copy(stream, pipes[i][0]); err != nil {
				o.truncate(err)
			}
			pipes[i][0].Close()
			o.copied <- struct{}{}
		}()
	}
	return o, nil
}

// truncate records why the log lacks output from here on, the first time.
func (o *capturedOutput) truncate(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reason != nil {
		return
	}
	o.reason = err
	o.logger.Error("container output truncated: the rest of it is dropped", "error", err)
	close(o.truncated)
}

// truncatedChan is closed once the output is truncated; nil without a log.
func (o *capturedOutput) truncatedChan() <-chan struct{} {
	if o == nil {
		return nil
	}
	return o.truncated
}

// truncatedReason says why the output is truncated, or "" while it is not.
func (o *capturedOutput) truncatedReason() string {
	if o == nil {
		return ""
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reason == nil {
		return ""
	}
	return o.reason.Error()
}

// started drops the supervisor's copies of the pipes' write ends, so that
// the copies end when the container's last process does. With a terminal
// the supervisor itself copies the terminal's output into stdout's pipe
// (see terminal.started): that end stays open until close.
func (o *capturedOutput) started(terminal bool) {
	if o == nil {
		return
	}
	if !terminal {
		o.stdout.Close()
	}
	o.stderr.Close()
}

// close waits for the copies to reach the end and closes the log.
func (o *capturedOutput) close() {
	if o == nil {
		return
	}
	o.stdout.Close() // a second Close is harmless
	o.stderr.Close()
	for range 2 {
		<-o.copied
	}
	if err := o.log.Close(); err != nil {
		o.truncate(err) // a write the file system delayed may have failed
	}
}
