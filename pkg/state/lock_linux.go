package state

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Flock applies operation how (unix.LOCK_*) to f. A blocking wait that a
// signal interrupts is started again.
func Flock(f *os.File, how int) error {
	return flockFd(int(f.Fd()), f.Name(), how)
}

// flockFd is flock on a bare descriptor of the file at path.
func flockFd(fd int, path string, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINTR) {
			return &os.PathError{Op: "flock", Path: path, Err: err}
		}
	}
}

// lockExisting opens the lock file at path and takes flock how on it. While
// we waited, a remover may have renamed the container's directory away (and
// a new container may even have taken the id), leaving us holding the lock
// of a file nobody else will ever look at. So once the lock is ours, check
// that path still names the file we locked, and start over if it names
// another. A path that has gone returns an error matching fs.ErrNotExist.
func lockExisting(path string, how int) (*os.File, error) {
	for {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if err := Flock(f, how); err != nil {
			f.Close()
			return nil, err
		}
		same, err := stillAt(f, path)
		if err != nil {
			f.Close()
			return nil, err
		}
		if same {
			return f, nil
		}
		f.Close()
	}
}

// stillAt reports whether path names the file f has open.
func stillAt(f *os.File, path string) (bool, error) {
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return os.SameFile(held, now), nil
}
