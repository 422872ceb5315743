package containerlog

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// modifyWatch wakes a follower when the log file is written to.
type modifyWatch struct {
	path string
	f    *os.File
	stop func() bool
}

// watchModify starts an inotify watch for IN_MODIFY on path. When ctx is done the inotify
// fd is closed, which wakes a pending wait.
func watchModify(ctx context.Context, path string) (*modifyWatch, error) {
	// IN_NONBLOCK lets os.File hand the fd to the Go runtime poller: a Read then parks the
	// goroutine rather than a thread, and a Close from another goroutine wakes it.
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify_add_watch %s IN_MODIFY: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), "inotify:"+path)
	return &modifyWatch{
		path: path,
		f:    f,
		stop: context.AfterFunc(ctx, func() { f.Close() }),
	}, nil
}

// wait blocks until the file has been modified since the last wait, or ctx is done (then
// it returns ctx's error).
func (w *modifyWatch) wait(ctx context.Context) error {
	// Which events arrived does not matter, only that one did: the caller reads the file
	// to its end again. One read drains up to 4 KiB of queued events.
	var buf [4096]byte
	_, err := w.f.Read(buf[:])
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("read inotify events for %s: %w", w.path, err)
	}
	return nil
}

func (w *modifyWatch) close() {
	w.stop()
	w.f.Close() // the AfterFunc may have closed it already; that error means nothing
}
