// Package filewatch wakes a follower of a file (crate log -f, crate logs -f)
// when the file is written to, or a file of a directory is, with inotify
// rather than polling.
package filewatch

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Watch wakes a follower when its file is written to.
type Watch struct {
	path string
	f    *os.File
	stop func() bool
}

// Modify starts an inotify watch for IN_MODIFY on path. When ctx is done the inotify
// fd is closed, which wakes a pending wait.
func Modify(ctx context.Context, path string) (*Watch, error) {
	return watch(ctx, path, unix.IN_MODIFY, "IN_MODIFY")
}

// Dir starts an inotify watch on the directory dir: a wait returns once a file in it
// has been written to, created, or renamed into it (a rotated log's new file).
func Dir(ctx context.Context, dir string) (*Watch, error) {
	return watch(ctx, dir, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO, "IN_MODIFY|IN_CREATE|IN_MOVED_TO")
}

func watch(ctx context.Context, path string, mask uint32, maskName string) (*Watch, error) {
	// IN_NONBLOCK lets os.File hand the fd to the Go runtime poller: a Read then parks the
	// goroutine instead of a thread, and Close from another goroutine wakes it.
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, mask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify_add_watch %s %s: %w", path, maskName, err)
	}
	f := os.NewFile(uintptr(fd), "inotify:"+path)
	return &Watch{
		path: path,
		f:    f,
		stop: context.AfterFunc(ctx, func() { f.Close() }),
	}, nil
}

// Wait blocks until the file (or directory) has changed since the last wait, or ctx is done
// (then it returns ctx's error).
func (w *Watch) Wait(ctx context.Context) error {
	// The events themselves do not matter, only that at least one arrived: the caller
	// reads the file up to its end again. One read drains up to 4 KiB of queued events.
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

// Close ends the watch.
func (w *Watch) Close() {
	w.stop()
	w.f.Close() // may already be closed by the AfterFunc; that error means nothing
}
