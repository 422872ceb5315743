package state

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Names inside the run directory.
const (
	stateFile      = "state.json"
	stateLockFile  = "state.lock"
	supervisorLock = "supervisor.lock"
	newPrefix      = ".new-" // a container directory being built by Create
	rmPrefix       = ".rm-"  // a container directory being removed
)

// Handle is the supervisor's hold on its container: it keeps the supervisor
// lock for as long as the supervisor lives, which is how every other command
// knows it is alive.
type Handle struct {
	dir Dir
	id  string

	mu    sync.Mutex
	st    State    // the last state written
	lock  int      // supervisor.lock's descriptor, held with LOCK_EX; -1 after Release
	files []string // the files in the container's directory (see Remove)
}

// Create publishes a new container directory for st, and returns a Handle
// holding its supervisor lock. It fills in a zero Status (Created), Created
// (now) and SupervisorPID (this process). Creation is atomic: the directory
// is built under a temporary name and renamed into place, so other commands
// never see it half made. If the id is taken, the error matches ErrExists.
func (d Dir) Create(st *State) (*Handle, error) {
	if err := checkRef(st.ID); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	if st.Status == "" {
		st.Status = Created
	}
	if st.Created.IsZero() {
		st.Created = time.Now()
	}
	if st.SupervisorPID == 0 {
		st.SupervisorPID = os.Getpid()
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return nil, fmt.Errorf("create container %s: %w", st.ID, err)
	}
	tmp, err := os.MkdirTemp(d.Path, newPrefix+st.ID+"-")
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", st.ID, err)
	}
	lock, err := build(tmp, st)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("create container %s: %w", st.ID, err)
	}
	// A container directory is never empty (state.lock is made before it is
	// published), so rename fails on a taken id instead of replacing it.
	if err := unix.Rename(tmp, filepath.Join(d.Path, st.ID)); err != nil {
		unix.Close(lock)
		os.RemoveAll(tmp)
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return nil, fmt.Errorf("create container %s: %w", st.ID, ErrExists)
		}
		return nil, fmt.Errorf("create container %s: %w", st.ID, err)
	}
	return &Handle{dir: d, id: st.ID, st: st.clone(), lock: lock, files: []string{stateLockFile, supervisorLock, stateFile}}, nil
}

// build fills the unpublished directory tmp and returns the supervisor
// lock's descriptor, held. Create, Update, Remove and WriteFile run on every
// container's start and exit, so they use bare system calls: os.File adds a
// fstat, an epoll registration and fcntls to every file it opens.
func build(tmp string, st *State) (int, error) {
	if err := createFile(filepath.Join(tmp, stateLockFile), nil); err != nil {
		return -1, err
	}
	path := filepath.Join(tmp, supervisorLock)
	lock, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	// Blocking, not LOCK_NB: RemoveAbandoned may be probing this lock for a
	// moment. If it goes on to remove tmp, writing state.json fails below.
	if err := flockFd(lock, path, unix.LOCK_EX); err != nil {
		unix.Close(lock)
		return -1, err
	}
	// The directory is not published yet: no reader can see a torn file.
	data, err := encodeState(st)
	if err == nil {
		err = createFile(filepath.Join(tmp, stateFile), data)
	}
	if err != nil {
		unix.Close(lock)
		return -1, err
	}
	return lock, nil
}

// createFile creates the file at path (it must not exist) holding data.
func createFile(path string, data []byte) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	for len(data) > 0 && err == nil {
		var n int
		n, err = unix.Write(fd, data)
		data = data[n:]
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlink(path)
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// WriteFile writes a file of the supervisor's into the container's
// directory, where Remove removes it with the rest. name must not exist yet.
func (h *Handle) WriteFile(name string, data []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := createFile(h.dir.File(h.id, name), data); err != nil {
		return err
	}
	h.files = append(h.files, name)
	return nil
}

// Update applies fn to h's copy of the state and writes it atomically. While
// its supervisor lives, the supervisor is a container's only writer (rm and
// gc touch a container only once Reap has its supervisor lock), so neither
// the state lock nor a read of the file is needed: both would cost every
// container's start a few system calls.
func (h *Handle) Update(fn func(*State)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.st.clone()
	fn(&st)
	if err := writeState(filepath.Join(h.dir.Path, h.id), &st); err != nil {
		return opError("update", h.id, err)
	}
	h.st = st
	return nil
}

// Remove removes the container's whole directory, renamed out of sight
// first so that the id is free at once. As for Update, the supervisor needs
// no state lock for it. The supervisor lock stays held until Release, so
// nobody sees the container as dead while its supervisor is still cleaning
// up.
func (h *Handle) Remove() error {
	trash := filepath.Join(h.dir.Path, rmPrefix+h.id+"-"+randomSuffix())
	if err := unix.Rename(filepath.Join(h.dir.Path, h.id), trash); err != nil {
		return opError("remove", h.id, &os.LinkError{Op: "rename", Old: h.id, New: trash, Err: err})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return removeFiles(trash, h.files)
}

// removeFiles removes dir, which holds the files named: a fraction of
// os.RemoveAll's system calls, which it falls back on if dir holds more.
func removeFiles(dir string, names []string) error {
	for _, name := range names {
		unix.Unlink(filepath.Join(dir, name))
	}
	if err := unix.Rmdir(dir); err != nil {
		return os.RemoveAll(dir)
	}
	return nil
}

// Release closes the supervisor lock, telling everyone the supervisor is
// done. It may be called more than once.
func (h *Handle) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lock >= 0 {
		unix.Close(h.lock)
		h.lock = -1
	}
}

// Get returns container id's state. A created or running container whose
// supervisor is gone is returned as Exited with Reason ReasonSupervisorDied;
// the file is left as it is (cleaning up is gc's job). A container whose
// state.json cannot be read or parsed is returned as Exited with Reason
// "state.json unreadable: ...", so that gc can remove it.
func (d Dir) Get(id string) (State, error) {
	if err := checkRef(id); err != nil {
		return State{}, err
	}
	return d.get(id)
}

func (d Dir) get(id string) (State, error) {
	st, err := d.read(id)
	if err != nil || st.Status == Exited || st.OCI || d.Alive(id) {
		return st, err
	}
	// The supervisor is gone. It records how the container ended before it
	// lets go of its lock, so read again to tell an exit from a death.
	st, err = d.read(id)
	if err != nil || st.Status == Exited {
		return st, err
	}
	st.Status = Exited
	st.Reason = ReasonSupervisorDied
	return st, nil
}

// read returns container id's state as its file has it. No lock is needed:
// state.json is only ever replaced whole.
func (d Dir) read(id string) (State, error) {
	dir := filepath.Join(d.Path, id)
	file := filepath.Join(dir, stateFile)
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Lstat(dir); errors.Is(serr, fs.ErrNotExist) {
			return State{}, &notFoundError{ref: id}
		}
	} else if err != nil {
		return State{}, fmt.Errorf("read container %s: %w", id, err)
	}
	var st State
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err == nil && st.ID != id {
		err = fmt.Errorf("it names container %q", st.ID)
	}
	if err != nil {
		// state.json is written before the directory is published, and the
		// directory is unpublished before it is removed, so this one is
		// damaged. Report it rather than hide it, so gc can remove it.
		return State{ID: id, Status: Exited, Reason: "state.json unreadable: " + err.Error()}, nil
	}
	return st, nil
}

// List returns every container, sorted by creation time, with the same
// marking as Get. A container removed while List runs is left out.
func (d Dir) List() ([]State, error) {
	entries, err := os.ReadDir(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // nothing was ever created since boot
	}
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var all []State
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.IsDir() {
			continue
		}
		st, err := d.get(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		all = append(all, st)
	}
	slices.SortFunc(all, func(a, b State) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return all, nil
}

// Lookup finds the container ref names: an exact id, else an exact name,
// else a unique id prefix. If none matches the error matches ErrNotFound;
// if a prefix matches several, ErrAmbiguous, naming them.
func (d Dir) Lookup(ref string) (State, error) {
	if err := checkRef(ref); err != nil {
		return State{}, err
	}
	if st, err := d.get(ref); !errors.Is(err, ErrNotFound) {
		return st, err
	}
	all, err := d.List()
	if err != nil {
		return State{}, err
	}
	var byName, byPrefix []State
	for _, st := range all {
		if st.Name == ref {
			byName = append(byName, st)
		}
		if strings.HasPrefix(st.ID, ref) {
			byPrefix = append(byPrefix, st)
		}
	}
	for _, matches := range [][]State{byName, byPrefix} {
		switch len(matches) {
		case 0:
			continue
		case 1:
			return matches[0], nil
		default:
			ids := make([]string, len(matches))
			for i, st := range matches {
				ids[i] = st.ID
			}
			return State{}, fmt.Errorf("%w: %q matches %s", ErrAmbiguous, ref, strings.Join(ids, ", "))
		}
	}
	return State{}, &notFoundError{ref: ref}
}

// Alive reports whether container id's supervisor holds its lock. It says
// false only when it knows: the lock is free or the container is gone. When
// it cannot tell (e.g. no permission) it says true, so that nobody treats a
// live container as dead.
func (d Dir) Alive(id string) bool {
	f, err := os.Open(d.File(id, supervisorLock))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	defer f.Close() // drops the shared lock if we got it
	// A shared probe: it fails only against an exclusive holder, and two
	// commands probing at once do not make each other look alive.
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	return err != nil
}

// WaitSupervisor returns nil once container id's supervisor has exited (its
// lock is free), at once if the container's directory is gone, or
// ctx.Err() when ctx is done first.
//
// flock(2) cannot be interrupted, so the blocking wait runs in a goroutine
// on its own descriptor. When ctx ends first, that goroutine stays blocked
// (holding one descriptor) until the supervisor exits; the supervisor does
// not outlive its container, so it does end.
func (d Dir) WaitSupervisor(ctx context.Context, id string) error {
	if err := checkRef(id); err != nil {
		return fmt.Errorf("wait for supervisor: %w", err)
	}
	f, err := os.Open(d.File(id, supervisorLock))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed by its supervisor (--rm): it has finished
	}
	if err != nil {
		return fmt.Errorf("wait for supervisor of %s: %w", id, err)
	}
	done := make(chan error, 1) // buffered: the goroutine never blocks on it
	go func() {
		defer f.Close()
		done <- Flock(f, unix.LOCK_SH)
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("wait for supervisor of %s: %w", id, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Reap takes container id's supervisor lock, for gc and rm: while it is
// held, no other reaper touches the container. If the supervisor (or another
// reaper) holds the lock the error matches ErrAlive. The caller removes what
// the container left (cgroup, bundle), then calls RemoveDir, then unlock.
func (d Dir) Reap(id string) (unlock func(), err error) {
	if err := checkRef(id); err != nil {
		return nil, fmt.Errorf("reap: %w", err)
	}
	path := d.File(id, supervisorLock)
	for {
		f, err := os.Open(path)
		if err != nil {
			return nil, opError("reap", id, err)
		}
		// Probe with a shared lock first: it fails only against an
		// exclusive holder, the supervisor or another reaper. Asking for
		// LOCK_EX|LOCK_NB straight away would also fail against the brief
		// shared probes of ps (Alive) and WaitSupervisor.
		err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("reap container %s: %w", id, ErrAlive)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("reap container %s: %w", id, &os.PathError{Op: "flock", Path: path, Err: err})
		}
		// The supervisor is gone, and no supervisor ever takes this lock
		// again, so the exclusive lock waits only for other probes and
		// reapers. flock converts by dropping the shared lock first, so two
		// reapers converting at once cannot deadlock.
		if err := Flock(f, unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("reap container %s: %w", id, err)
		}
		same, err := stillAt(f, path)
		if err != nil {
			f.Close()
			return nil, opError("reap", id, err) // another reaper removed it
		}
		if same {
			return sync.OnceFunc(func() { f.Close() }), nil
		}
		f.Close() // removed and the id taken again meanwhile: look at the new one
	}
}

// RemoveDir removes container id's directory under its state lock. It first
// renames the directory out of sight, so the id is free at once and nobody
// sees a half-removed container.
func (d Dir) RemoveDir(id string) error {
	if err := checkRef(id); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	lock, err := lockExisting(d.File(id, stateLockFile), unix.LOCK_EX)
	if err != nil {
		return opError("remove", id, err)
	}
	defer lock.Close()
	trash := filepath.Join(d.Path, rmPrefix+id+"-"+randomSuffix())
	if err := os.Rename(filepath.Join(d.Path, id), trash); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// RemoveAbandoned removes the .new-* directories of Creates that never
// finished and the .rm-* directories of removals that never finished, when
// their supervisor lock is free and they were last modified more than
// olderThan ago. The age spares a Create that is still building its
// directory and has not taken its lock yet.
func (d Dir) RemoveAbandoned(olderThan time.Duration) error {
	entries, err := os.ReadDir(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove abandoned: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !(strings.HasPrefix(name, newPrefix) || strings.HasPrefix(name, rmPrefix)) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // finished or removed meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !info.ModTime().Before(cutoff) {
			continue
		}
		if err := d.removeAbandoned(name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove abandoned: %w", err)
	}
	return nil
}

func (d Dir) removeAbandoned(name string) error {
	path := filepath.Join(d.Path, name)
	lock, err := os.Open(filepath.Join(path, supervisorLock))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Its creator died before making the lock (or a removal got that far).
	case err != nil:
		return err
	default:
		defer lock.Close()
		err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil // its supervisor is alive
		}
		if err != nil {
			return &os.PathError{Op: "flock", Path: lock.Name(), Err: err}
		}
	}
	if strings.HasPrefix(name, newPrefix) {
		// Take it out of Create's reach first: a Create that was merely slow
		// then fails its rename instead of publishing a directory we empty.
		trash := filepath.Join(d.Path, rmPrefix+strings.TrimPrefix(name, "."))
		if err := os.Rename(path, trash); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // published or removed meanwhile
			}
			return err
		}
		path = trash
	}
	return os.RemoveAll(path)
}

// Modify applies fn to container id's state and writes it, under the
// container's state lock: for the commands that change a container without
// being its supervisor (OCI start, update, pause), which may run at once.
func (d Dir) Modify(id string, fn func(*State)) error {
	if err := checkRef(id); err != nil {
		return fmt.Errorf("modify: %w", err)
	}
	lock, err := lockExisting(d.File(id, stateLockFile), unix.LOCK_EX)
	if err != nil {
		return opError("modify", id, err)
	}
	defer lock.Close()
	dir := filepath.Join(d.Path, id)
	st, err := readState(dir)
	if err != nil {
		return opError("modify", id, err)
	}
	fn(&st)
	if err := writeState(dir, &st); err != nil {
		return opError("modify", id, err)
	}
	return nil
}

// readState reads and parses dir/state.json.
func readState(dir string) (State, error) {
	var st State
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

// writeState replaces dir/state.json atomically: readers take no lock, so
// they must only ever see a whole file. No fsync: the run directory is a
// tmpfs, and a crash empties it anyway.
func writeState(dir string, st *State) error {
	data, err := encodeState(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp-"+randomSuffix())
	if err := createFile(tmp, data); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	// unix.Rename, not os.Rename, which first looks at the target.
	if err := unix.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		unix.Unlink(tmp)
		return fmt.Errorf("write state: rename %s: %w", tmp, err)
	}
	return nil
}

// encodeState is state.json's content: one line of JSON.
func encodeState(st *State) ([]byte, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return append(data, '\n'), nil
}

// opError wraps err from operation op on container id; a missing file
// means the container is gone.
func opError(op, id string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", op, &notFoundError{ref: id})
	}
	return fmt.Errorf("%s container %s: %w", op, id, err)
}
