package hostcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/crate-run/crate/pkg/cgroups"
)

// mount is one line of /proc/self/mountinfo, the parts the checks use.
type mount struct {
	id     string   // the mount's id
	parent string   // its parent's id: its own for the namespace's root mount
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

// parseMountinfo parses mountinfo text (see proc(5)):
//
//	35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
//
// The optional fields before "-" vary in number, so the separator is
// looked for rather than counted to. pkg/cgroups reads the same file for its
// v1 mounts only; this reads every mount.
func parseMountinfo(data []byte) ([]mount, error) {
	var mounts []mount
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		fields := strings.Fields(s.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 6 || len(fields) < sep+4 {
			return nil, fmt.Errorf("mountinfo line %q: too few fields", s.Text())
		}
		mounts = append(mounts, mount{
			id:     fields[0],
			parent: fields[1],
			point:  cgroups.UnescapeOctal(fields[4]),
			fsType: fields[sep+1],
			source: cgroups.UnescapeOctal(fields[sep+2]),
			super:  strings.Split(fields[sep+3], ","),
		})
	}
	return mounts, s.Err()
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
