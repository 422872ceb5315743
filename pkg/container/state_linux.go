package container

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/containerlog"
	"github.com/crate-run/crate/pkg/spec"
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
func (c *container) register(imageID, dir string, cg cgroups.Manager, l cgroups.Limits) error {
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
		Limits:        state.Limits{MemoryBytes: l.MemoryBytes, CPUQuotaUs: l.CPUQuotaUs, CPUPeriodUs: l.CPUPeriodUs, Pids: l.Pids},
		Bundle:        dir,
	}
	if c.cfg.Detached {
		st.Log = dir + "/" + OutputLog
	}
	h, err := c.cfg.State.Create(st)
	if errors.Is(err, state.ErrExists) {
		return fmt.Errorf("container name %q is already in use; choose another --name, or remove it with crate rm", c.id)
	}
	if err != nil {
		return fmt.Errorf("register the container: %w", err)
	}
	c.state = h
	return nil
}

// sendSpec writes the spec to init, and keeps a copy for crate exec.
func (c *container) sendSpec(w io.Writer) error {
	var buf bytes.Buffer
	if err := spec.WriteInit(&buf, c.spec, c.filter); err != nil {
		return err
	}
	if c.state != nil && c.join == nil {
		p := c.cfg.State.File(c.id, InitSpec)
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			c.log.Warn("keep the container's spec: crate exec will not work", "error", err)
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// recordStart marks the container running, with its PID 1. The PID's start
// time goes with it, so that no one ever signals another process that was
// given the same PID after the container's had gone.
func (c *container) recordStart() {
	if c.state == nil {
		return
	}
	pid := c.cmd.Process.Pid
	started, err := state.ProcStartTime(pid)
	if err != nil {
		c.log.Warn("read init's start time", "error", err)
	}
	err = c.state.Update(func(st *state.State) {
		st.Status = state.Running
		st.InitPID = pid
		st.InitStartTime = started
		st.Started = time.Now().UTC()
	})
	if err != nil {
		c.log.Warn("record the container as running", "error", err)
	}
	if c.cfg.Started != nil {
		c.cfg.Started()
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
		c.forget()
		return
	}
	err := c.state.Update(func(st *state.State) {
		st.Status = state.Exited
		st.ExitCode = &r.ExitCode
		if r.Signal != 0 {
			st.Signal = unix.SignalName(r.Signal)
		}
		st.OOMKilled = r.OOMKilled
		st.Finished = time.Now().UTC()
	})
	if err != nil {
		c.log.Error("record the container's exit", "error", err)
	}
}

// forget removes the container's entry: last, once everything else is gone.
func (c *container) forget() {
	if c.state == nil {
		return
	}
	if err := c.state.Remove(); err != nil {
		c.log.Error("remove the container's state", "error", err)
	}
	c.state.Release()
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
// output log, line by line, each stamped with its time and stream.
type capturedOutput struct {
	log            *containerlog.Writer
	stdout, stderr *os.File // init's ends; the supervisor drops its copies once init has them
	copied         chan error
}

func captureOutput(path string) (*capturedOutput, error) {
	w, err := containerlog.Create(path)
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
	o := &capturedOutput{log: w, stdout: pipes[0][1], stderr: pipes[1][1], copied: make(chan error, 2)}
	for i, stream := range []containerlog.Stream{containerlog.Stdout, containerlog.Stderr} {
		go func() {
			o.copied <- w.Copy(stream, pipes[i][0])
			pipes[i][0].Close()
		}()
	}
	return o, nil
}

// started drops the supervisor's copies of the pipes' write ends, so that
// the copies end when the container's last process does.
func (o *capturedOutput) started() {
	if o == nil {
		return
	}
	o.stdout.Close() // a second Close is harmless
	o.stderr.Close()
}

// close waits for the copies to reach the end and closes the log.
func (o *capturedOutput) close() {
	if o == nil {
		return
	}
	o.started() // if init never started
	for range 2 {
		<-o.copied
	}
	o.log.Close()
}
