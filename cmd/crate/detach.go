package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/crate-run/crate/pkg/container"
)

// crate run -d hands the container to a supervisor of its own: crate itself,
// executed again as `crate supervise` in a session of its own, with
// /dev/null for stdin, stdout and stderr, so that it outlives the terminal
// and the shell that started it and holds nothing of theirs. It gets the
// validated configuration on a pipe, as crate-init gets its spec, and from
// there runs the container exactly as a foreground crate run does, with the
// output captured to a log (crate logs). It reports on a second pipe once
// the command runs, or why it could not start it; crate run -d prints the
// container's id, or that error with its exit code, and returns.
//
//	crate run -d ──config──▶ crate supervise ──▶ crate-init ──▶ command
//	     ▲                          │
//	     └──────report──────────────┘  (then crate run -d exits)

// superviseConfig is what crate run -d sends its supervisor.
type superviseConfig struct {
	Globals   Globals
	Container container.Config
}

// superviseReport is what the supervisor answers.
type superviseReport struct {
	ID    string `json:"id,omitempty"`
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"` // crate's exit code for Error
}

// Descriptors of crate supervise, beyond /dev/null on 0-2.
const (
	superviseConfigFd = 3
	superviseReportFd = 4
)

// detach starts the supervisor and waits for its report.
func detach(g *Globals, cfg container.Config) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find crate's own binary: %w", err)
	}
	configR, configW, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("config pipe: %w", err)
	}
	defer configR.Close()
	defer configW.Close()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("report pipe: %w", err)
	}
	defer reportR.Close()
	defer reportW.Close()
	cmd := exec.Command(self, "supervise") // stdio: /dev/null
	cmd.ExtraFiles = []*os.File{configR, reportW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start the container's supervisor: %w", err)
	}
	configR.Close()
	reportW.Close()
	// Never waited for: it is the container's supervisor now, and when
	// crate exits, init (or a subreaper) adopts it.
	defer cmd.Process.Release()
	err = json.NewEncoder(configW).Encode(superviseConfig{Globals: *g, Container: cfg})
	configW.Close()
	if err != nil {
		cmd.Process.Kill()
		return "", fmt.Errorf("send the supervisor its config: %w", err)
	}
	var rep superviseReport
	if err := json.NewDecoder(reportR).Decode(&rep); err != nil {
		return "", fmt.Errorf("the container's supervisor (pid %d) ended before it reported: see crate log %s", cmd.Process.Pid, cfg.Spec.ID)
	}
	if rep.Error != "" {
		return "", codedError{errors.New(rep.Error), rep.Code}
	}
	return rep.ID, nil
}

// SuperviseCmd is `crate supervise`, run by crate run -d only.
type SuperviseCmd struct{}

// Run reads the config, runs the container and reports once it started.
func (SuperviseCmd) Run(_ *Globals, code *int) error {
	report := &reporter{f: os.NewFile(superviseReportFd, "report")}
	sigs, caught := catchSignals()
	var sc superviseConfig
	f := os.NewFile(superviseConfigFd, "config")
	err := json.NewDecoder(f).Decode(&sc)
	f.Close()
	if err != nil || report.f == nil {
		return fmt.Errorf("crate supervise is started by crate run -d, not by hand: read config: %v", err)
	}
	g := &sc.Globals
	log, closeLog, err := g.rootLogger("crate supervise needs root")
	if err != nil {
		report.send(superviseReport{Error: err.Error(), Code: exitCrateFailed})
		return err
	}
	defer closeLog()
	cfg := sc.Container
	cfg.SignalsCaught = caught
	cfg.Progress = io.Discard
	cfg.Started = func() { report.send(superviseReport{ID: cfg.Spec.ID}) }
	*code, err = runContainer(log, cfg, sigs)
	if err != nil {
		report.send(superviseReport{Error: err.Error(), Code: exitCode(err)})
	}
	return err
}

// reporter sends crate run -d its one report: the first, whether the
// command started or the start failed; crate run -d reads one and exits.
type reporter struct {
	f    *os.File
	once sync.Once
}

func (r *reporter) send(rep superviseReport) {
	r.once.Do(func() {
		json.NewEncoder(r.f).Encode(rep)
		r.f.Close()
	})
}

// codedError is an error with the exit code crate must end with.
type codedError struct {
	error
	code int
}
