package cgroups

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// v1Controllers are the v1 controllers crate knows, in the order a
// container's cgroup is made in their hierarchies, when mounted and needed
// (see newV1): memory first (Path names it), devices last so that the
// others keep their order whether there are device rules or not.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids", "cpuset", "blkio", "hugetlb", "freezer",
	"net_cls", "net_prio", "perf_event", "rdma", "misc", "devices"}

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
	infos, err := mountinfo.GetMountsFromReader(r, mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	mounts := map[string]string{}
	for _, m := range infos {
		for _, opt := range strings.Split(m.VFSOptions, ",") {
			if _, seen := mounts[opt]; !seen && slices.Contains(v1Controllers, opt) {
				mounts[opt] = m.Mountpoint
			}
		}
	}
	return mounts, nil
}
