package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// v1Controllers are the v1 controllers a container's cgroup is made in, when
// mounted: memory, cpu and pids for the limits, cpuacct for the CPU time, and
// devices for the device rules (only when there are some: see newV1), last
// so that the others keep their order.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids", "devices"}

// parseV1Mounts reads /proc/self/mountinfo text and returns, for every v1
// controller, the directory its hierarchy is mounted on. Hosts differ: cpu and
// cpuacct are separate hierarchies on some and one "cpu,cpuacct" mount on
// others, so the mount table is read rather than paths guessed. The first
// mount of a controller wins (later ones are usually bind mounts of it).
//
// A mountinfo line looks like this (see proc(5)); the super options after the
// filesystem type name the controllers:
//
//	35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
func parseV1Mounts(r io.Reader) (map[string]string, error) {
	mounts := map[string]string{}
	s := bufio.NewScanner(r)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		// The optional fields before "-" vary in number, so find the separator.
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+4 {
			return nil, fmt.Errorf("parse mountinfo line %q: too few fields", s.Text())
		}
		if fields[sep+1] != "cgroup" {
			continue
		}
		mountpoint := UnescapeOctal(fields[4])
		for _, opt := range strings.Split(fields[sep+3], ",") {
			if _, seen := mounts[opt]; !seen && slices.Contains(v1Controllers, opt) {
				mounts[opt] = mountpoint
			}
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

// UnescapeOctal undoes the kernel's \ooo escaping of spaces, tabs, newlines
// and backslashes in mountinfo paths (crate check reads mountinfo too).
func UnescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
