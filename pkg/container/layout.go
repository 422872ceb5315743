package container

import "path/filepath"

// Where crate keeps a container, named in this one place:
//
//	STATE_ROOT/containers/ID/         its directory (--data-root, /var/lib/crate)
//	                         rootfs/  its root filesystem: the overlay's mount
//	                                  point, or the copy of its image
//	                         upper/   the overlay's writable layer
//	                         work/    the overlay's scratch directory
//	                         layers   the image layers it uses (rootfs_linux.go)
//	                         output.log  a detached container's output
//	RUN_DIR/ID/                       its entry (--root, /run/crate: pkg/state)
//	CGROUP_ROOT/crate-ID              its cgroup (in each v1 hierarchy), unless
//	                                  an OCI bundle names another (cgroupsPath)
//
// An OCI container has no directory under the state root: its bundle is its
// engine's.

// containersDir holds every container's directory.
func containersDir(stateRoot string) string { return filepath.Join(stateRoot, "containers") }

// containerDir is container id's directory.
func containerDir(stateRoot, id string) string { return filepath.Join(containersDir(stateRoot), id) }

// The parts of a container's directory.
func rootfsDir(dir string) string { return filepath.Join(dir, "rootfs") }
func upperDir(dir string) string  { return filepath.Join(dir, "upper") }
func workDir(dir string) string   { return filepath.Join(dir, "work") }

// cgroupPath is the cgroup crate gives container id.
func cgroupPath(id string) string { return "crate-" + id }
