// Package state owns crate's run directory (default /run/crate): one
// directory per container holding its state.json, and the file locks that
// keep concurrent crate commands (ps, stop, rm, gc, exec and the container's
// own supervisor) from tripping over each other.
//
// Layout of one container, <dir>/<id>/:
//
//	state.json       the State, always replaced by an atomic rename
//	state.lock       flock(LOCK_EX) around the removal of the directory by
//	                 rm or gc (the supervisor, while it lives, is the
//	                 only writer of state.json)
//	supervisor.lock  held with flock(LOCK_EX) by the supervisor for its
//	                 whole life
//	...              other files the supervisor keeps there (see Dir.File)
//
// The locks are flock(2) locks, not PID files, because the kernel drops a
// flock lock when the last descriptor of its open file goes away, however
// the holder dies (SIGKILL and OOM kills included). So "supervisor.lock is
// free" means "the supervisor is gone", with no stale PID that a reused
// process could answer for.
//
// Directories are published and retired by rename, so no command ever sees a
// half-made or half-removed container: Create builds <dir>/.new-<id>-<random>
// and renames it to <dir>/<id>; removal renames <dir>/<id> to
// <dir>/.rm-<id>-<random> before deleting it. Names starting with "." are
// never containers. /run is a tmpfs, so a reboot empties it; that is intended,
// since no container survives a reboot either.
package state

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crate-run/crate/pkg/containerlog"
)

// Status is where a container is in its life.
type Status string

const (
	// Created: the id is reserved and the supervisor is up, but init is not
	// running the command yet (also what OCI `create` leaves behind).
	Created Status = "created"
	// Running: init is running the container's command.
	Running Status = "running"
	// Exited: the command ended, or the supervisor died.
	Exited Status = "exited"
)

// State is what state.json records about one container.
type State struct {
	ID            string    `json:"id"`
	Name          string    `json:"name,omitempty"`
	Image         string    `json:"image"` // as the user named it
	ImageID       string    `json:"image_id,omitempty"`
	Command       []string  `json:"command"`
	Status        Status    `json:"status"`
	Detached      bool      `json:"detached,omitempty"`
	AutoRemove    bool      `json:"auto_remove,omitempty"` // everything goes when it exits (--rm, and every foreground run)
	SupervisorPID int       `json:"supervisor_pid"`
	InitPID       int       `json:"init_pid,omitempty"`        // host PID of the container's PID 1
	InitStartTime uint64    `json:"init_start_time,omitempty"` // field 22 of /proc/PID/stat: tells a reused PID from ours
	ExitCode      *int      `json:"exit_code,omitempty"`
	Signal        string    `json:"signal,omitempty"` // e.g. "SIGKILL"
	OOMKilled     bool      `json:"oom_killed,omitempty"`
	Reason        string    `json:"reason,omitempty"` // why it ended if not by itself, e.g. "supervisor died"
	Created       time.Time `json:"created"`
	Started       time.Time `json:"started,omitzero"`
	Finished      time.Time `json:"finished,omitzero"`
	Cgroup        string    `json:"cgroup,omitempty"` // the cgroup's path (v2) or name (v1)
	// Resources are the cgroup limits the container was started with, as
	// given to its cgroup: crate exec, stats and rm open the same cgroup
	// with them, in the same v1 hierarchies. nil for a container of before
	// they were recorded.
	Resources *specs.LinuxResources `json:"resources,omitempty"`
	Bundle    string                `json:"bundle,omitempty"` // the container's directory under crate's --data-root (rootfs, upper dir, output log)
	Log       string                `json:"log,omitempty"`    // the captured stdout/stderr file, for detached containers
	// LogLimits are those Log was kept within (its rotated files are Log.1, Log.2, ...);
	// zero for a container of before they were recorded, whose log is one file.
	LogLimits containerlog.Limits `json:"log_limits,omitzero"`
	// OutputTruncated says why Log lacks the container's output from some point on
	// (a full disk, say): its supervisor dropped the rest. "" while it has it all.
	OutputTruncated string `json:"output_truncated,omitempty"`

	// OCI marks a container made by OCI create (an engine's, through crate's
	// runc-compatible commands). It has no supervisor: its init is a child
	// of create's caller (containerd's shim, conmon), who reaps it; whether
	// it runs is told by its init's PID and start time, never by the
	// supervisor lock, and only OCI delete (or crate rm) removes it.
	OCI bool `json:"oci,omitempty"`
	// CgroupPath is the cgroup's path from the root of each hierarchy, when
	// it is not crate's own name for it (an OCI bundle's cgroupsPath).
	CgroupPath string `json:"cgroup_path,omitempty"`
	// Rootfs is the bundle's root filesystem (OCI), as OCI state shows it.
	Rootfs string `json:"rootfs,omitempty"`
	// Annotations are the bundle's (OCI), as OCI state shows them.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Hooks are the bundle's (OCI): poststart and poststop run after create
	// is gone, and the bundle may be gone by delete.
	Hooks *specs.Hooks `json:"hooks,omitempty"`
}

// ReasonSupervisorDied is the Reason given to a created or running container
// whose supervisor lock is free: nobody is left to record how it ended.
const ReasonSupervisorDied = "supervisor died"

// clone returns a deep copy, so a caller cannot change a Handle's copy
// through a shared slice or pointer.
func (s State) clone() State {
	s.Command = slices.Clone(s.Command)
	if s.ExitCode != nil {
		code := *s.ExitCode
		s.ExitCode = &code
	}
	if s.Resources != nil {
		s.Resources = cloneResources(s.Resources)
	}
	return s
}

// cloneResources deep-copies r, a tree of pointers, slices and maps, through
// its JSON form, which is what state.json holds of it anyway.
func cloneResources(r *specs.LinuxResources) *specs.LinuxResources {
	data, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("state: marshal resources: %v", err)) // plain data: cannot fail
	}
	var c specs.LinuxResources
	if err := json.Unmarshal(data, &c); err != nil {
		panic(fmt.Sprintf("state: unmarshal resources: %v", err))
	}
	return &c
}

var (
	// ErrExists: a container with that id is already in the run directory.
	ErrExists = errors.New("container exists")
	// ErrNotFound: no container matches.
	ErrNotFound = errors.New("no such container")
	// ErrAmbiguous: an id prefix matches more than one container.
	ErrAmbiguous = errors.New("ambiguous container reference")
	// ErrAlive: the container's supervisor still holds its lock.
	ErrAlive = errors.New("supervisor is running")
)

// notFoundError reads `no container "ref"` and matches ErrNotFound.
type notFoundError struct{ ref string }

func (e *notFoundError) Error() string        { return fmt.Sprintf("no container %q", e.ref) }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// Dir is a run directory.
type Dir struct{ Path string }

// File returns the path of a file in container id's directory, for files the
// supervisor keeps there (e.g. init.json). They go when the directory goes.
func (d Dir) File(id, name string) string {
	return filepath.Join(d.Path, id, name)
}

// checkRef rejects a reference that could name something other than a
// container directory: ids and names are validated by the caller, but a
// reference reaches the filesystem here, so path traversal is refused again.
func checkRef(ref string) error {
	switch {
	case ref == "":
		return errors.New("empty container reference")
	case strings.Contains(ref, "/"):
		return fmt.Errorf("invalid container reference %q: contains \"/\"", ref)
	case strings.HasPrefix(ref, "."):
		return fmt.Errorf("invalid container reference %q: starts with \".\"", ref)
	}
	return nil
}

// randomSuffix makes temporary names unique between concurrent commands.
func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
