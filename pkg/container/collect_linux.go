package container

// A supervisor cleans up after its container; one that was killed (the OOM
// killer, kill -9, a crash) cannot, and a reboot empties the run directory
// under every container. What they leave (cgroups, container directories,
// entries in the run directory) is collected here: by crate gc, and, without
// anyone asking, by every crate command that reads the run directory, off
// the path of a start (see Collect's callers).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/state"
)

// Collected is one container whose leftovers Collect removed.
type Collected struct {
	ID     string
	Reason string // why its supervisor was not there to clean up
	// Kept: its entry and directory stay, exited, for crate rm (crate
	// run -d without --rm); only its cgroup, and anything left in it, went.
	Kept bool
}

// abandonedAfter is how old a half-made entry of the run directory must be
// to be removed: a Create in progress finishes in a fraction of that.
const abandonedAfter = time.Minute

// Collect removes what the containers whose supervisor is gone left behind,
// until ctx is done.
//
// With everything (crate gc) every such container goes entirely, and so do
// container directories under stateRoot that have no entry in the run
// directory (the machine rebooted, emptying /run). Without it (what every
// crate command does on its own), a container that was to be removed when it
// ended (a foreground one, or crate run -d --rm) goes entirely too, but one
// kept for crate rm (crate run -d alone) keeps its entry and directory, so
// that crate ps -a still shows it exited ("supervisor died") until crate rm;
// only its cgroup, with anything left in it, goes. Directories without an
// entry go either way: an entry is made before its directory, so such a
// directory is never a container being made.
func Collect(ctx context.Context, log hclog.Logger, stateRoot, cgroupRoot string, dir *state.Dir, everything bool) ([]Collected, error) {
	// Directories first, entries second: a directory made after the list
	// was read has its entry by the time the entries are read.
	containers := containersDir(stateRoot)
	dirs, err := os.ReadDir(containers)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := dir.RemoveAbandoned(abandonedAfter); err != nil {
		log.Warn("remove half-made entries of the run directory", "error", err)
	}
	all, err := dir.List()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	var done []Collected
	var errs []error
	for _, st := range all {
		known[st.ID] = true
		if st.Reason == "" || ctx.Err() != nil {
			continue // alive, or exited and kept for crate rm
		}
		kept := !everything && !st.AutoRemove && st.Reason == state.ReasonSupervisorDied
		if kept && !cgroupLeft(st) {
			continue // collected before; crate rm removes the rest
		}
		if err := RemoveDead(log, cgroupRoot, dir, st.ID, kept); err != nil {
			if !errors.Is(err, state.ErrAlive) { // another crate is on it
				errs = append(errs, fmt.Errorf("%s: %w", st.ID, err))
			}
			continue
		}
		done = append(done, Collected{ID: st.ID, Reason: st.Reason, Kept: kept})
	}
	for _, e := range dirs {
		if known[e.Name()] || ctx.Err() != nil {
			continue
		}
		removed, err := removeOrphanDir(log, cgroupRoot, containers, e)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Name(), err))
		}
		if removed {
			done = append(done, Collected{ID: e.Name(), Reason: "no entry in the run directory (the machine rebooted, or it was emptied)"})
		}
	}
	for _, c := range done {
		log.Info("collected what a container left", "container_id", c.ID, "reason", c.Reason, "kept_for_rm", c.Kept)
	}
	return done, errors.Join(errs...)
}

// leftoverBound bounds a collection a command or a supervisor does on its
// own: a safety net (a cgroup whose processes will not die), not a measure.
const leftoverBound = 10 * time.Second

// CollectLeftovers is what every crate command that reads the run
// directory, and every supervisor while its container runs, does after its
// own work, so that nobody has to run crate gc: Collect without everything,
// bounded by leftoverBound, a failure logged and left for the next one.
func CollectLeftovers(log hclog.Logger, stateRoot, cgroupRoot string, dir *state.Dir) {
	ctx, cancel := context.WithTimeout(context.Background(), leftoverBound)
	defer cancel()
	if _, err := Collect(ctx, log, stateRoot, cgroupRoot, dir, false); err != nil {
		log.Warn("collect what dead supervisors left (crate gc removes it)", "error", err)
	}
}

// removeOrphanDir removes the container directory e of containers, which
// has no entry in the run directory, and its cgroup, if no supervisor holds
// it (see makeContainerDir); a directory still being made is removed only
// once it is older than abandonedAfter.
func removeOrphanDir(log hclog.Logger, cgroupRoot, containers string, e fs.DirEntry) (bool, error) {
	path := filepath.Join(containers, e.Name())
	if strings.HasPrefix(e.Name(), newDirPrefix) {
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < abandonedAfter {
			return false, nil
		}
		return true, os.RemoveAll(path)
	}
	if strings.HasPrefix(e.Name(), ".") {
		return false, nil
	}
	lock, err := lockDir(path, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, fs.ErrNotExist) {
		return false, nil // its supervisor lives, or it is gone already
	}
	if err != nil {
		return false, err
	}
	defer lock.Close()
	return true, Remove(log, cgroupRoot, state.State{ID: e.Name(), Bundle: path})
}

// cgroupLeft reports whether a container's cgroup may still be there.
func cgroupLeft(st state.State) bool {
	if !filepath.IsAbs(st.Cgroup) {
		return true // not a path: Remove finds out
	}
	_, err := os.Stat(st.Cgroup)
	return !errors.Is(err, fs.ErrNotExist)
}

// RemoveDead removes what container id, whose supervisor is gone, left: its
// cgroup, and unless keepEntry its directory and, last, its entry in dir.
// It fails with state.ErrAlive if its supervisor, or another crate removing
// it, holds it.
func RemoveDead(log hclog.Logger, cgroupRoot string, dir *state.Dir, id string, keepEntry bool) error {
	unlock, err := dir.Reap(id)
	if errors.Is(err, state.ErrNotFound) {
		return nil // removed meanwhile
	}
	if err != nil {
		return err
	}
	defer unlock()
	st, err := dir.Get(id) // as its supervisor left it
	if err != nil {
		return err
	}
	if keepEntry {
		st.Bundle = "" // the directory stays with the entry
	}
	if err := Remove(log, cgroupRoot, st); err != nil {
		return err
	}
	if keepEntry {
		return nil
	}
	log.Info("container removed", "container_id", id)
	return dir.RemoveDir(id)
}

// A container's directory under the state root is made while its entry in
// the run directory is (see prepare), so for a moment it exists without
// one, as the directory of a container whose entry a reboot emptied does.
// Its supervisor tells them apart by holding a lock on the directory itself
// for as long as it lives: the directory is made under a hidden name,
// locked, and only then renamed into place, so it is never seen unlocked
// while it is made. Collect removes a directory without an entry only once
// it has the lock.

// newDirPrefix names a container directory being made.
const newDirPrefix = ".new-"

// makeContainerDir makes and locks the directory of container id in
// containers. The lock lasts until the returned file is closed, or the
// process ends.
func makeContainerDir(containers, id string) (*os.File, error) {
	rnd := make([]byte, 6)
	rand.Read(rnd)
	tmp := filepath.Join(containers, newDirPrefix+id+"-"+hex.EncodeToString(rnd))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockDir(tmp, unix.LOCK_EX)
	if err == nil {
		// RENAME_NOREPLACE: a plain rename would replace an empty directory
		// of the same name, one left by a container that ended badly.
		err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, filepath.Join(containers, id), unix.RENAME_NOREPLACE)
		if err != nil {
			lock.Close()
			err = &os.LinkError{Op: "rename", Old: tmp, New: filepath.Join(containers, id), Err: err}
		}
	}
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return lock, nil
}

// lockDir opens the directory path and flocks it with how (LOCK_EX, with or
// without LOCK_NB).
func lockDir(path string, how int) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := state.Flock(f, how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
