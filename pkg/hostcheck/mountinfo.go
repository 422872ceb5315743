package hostcheck

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// mount is one line of /proc/self/mountinfo, the parts the checks use.
type mount struct {
	id     int      // the mount's id
	parent int      // its parent's id: its own for the namespace's root mount
	point  string   // where it is mounted
	fsType string   // "ext4", "cgroup2", "rootfs"
	source string   // "/dev/vda", "cgroup"
	super  []string // super options: for a v1 cgroup, its controllers
}

// readMountinfo reads and parses a mountinfo file.
func readMountinfo(file string) ([]mount, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err // an *os.PathError: "open /proc/self/mountinfo: ..."
	}
	mounts, err := parseMountinfo(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	return mounts, nil
}

// parseMountinfo parses mountinfo text (see proc(5)), with moby's parser.
func parseMountinfo(data []byte) ([]mount, error) {
	infos, err := mountinfo.GetMountsFromReader(bytes.NewReader(data), nil)
	if err != nil {
		return nil, err
	}
	mounts := make([]mount, 0, len(infos))
	for _, m := range infos {
		mounts = append(mounts, mount{
			id:     m.ID,
			parent: m.Parent,
			point:  m.Mountpoint,
			fsType: m.FSType,
			source: m.Source,
			super:  strings.Split(m.VFSOptions, ","),
		})
	}
	return mounts, nil
}

// mountFor returns the mount that holds path (absolute, clean, symbolic
// links resolved): the longest mount point above it, and of mounts on the
// same point the last, which hides the ones before it.
func mountFor(mounts []mount, path string) *mount {
	var best *mount
	for i := range mounts {
		m := &mounts[i]
		if !within(path, m.point) {
			continue
		}
		if best == nil || len(m.point) >= len(best.point) {
			best = m
		}
	}
	return best
}

// mountAt returns the mount on exactly point (the last one), or nil.
func mountAt(mounts []mount, point string) *mount {
	point = filepath.Clean(point)
	var found *mount
	for i := range mounts {
		if mounts[i].point == point {
			found = &mounts[i]
		}
	}
	return found
}

// within reports whether path is dir or lies beneath it.
func within(path, dir string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}
