package hostcheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// minKernel is the oldest kernel crate runs containers on: openat2 (5.6),
// which confines image extraction to its directory, and mount_setattr
// (5.12), with which crate-init makes /proc's read-only paths from
// descriptors, never paths (with the new mount API, 5.2, and setns through
// a pidfd, 5.8, for crate exec; overlayfs's "volatile", 5.10).
var minKernel = kernelVersion{5, 12}

// namespaces are the namespaces every container gets: their name, their
// file in /proc/PID/ns, and the kernel option that provides them.
var namespaces = []struct{ name, file, config string }{
	{"pid", "pid", "CONFIG_PID_NS"},
	{"mount", "mnt", "CONFIG_NAMESPACES"},
	{"uts", "uts", "CONFIG_UTS_NS"},
	{"ipc", "ipc", "CONFIG_IPC_NS"},
	{"net", "net", "CONFIG_NET_NS"},
	{"cgroup", "cgroup", "CONFIG_CGROUPS"},
}

// limitControllers are the cgroup controllers of crate run's limits.
// Without one, its flag fails; pids is always needed, since crate run
// limits processes (to 4096) unless told --pids -1.
var limitControllers = []struct {
	name   string
	flag   string
	always bool
}{
	{"memory", "--memory", false},
	{"cpu", "--cpu", false},
	{"pids", "--pids", true},
}

func checkRoot(euid int) Result {
	r := Result{Name: "root", Status: OK, Detail: fmt.Sprintf("euid %d", euid)}
	if euid != 0 {
		// crate mounts, makes namespaces and writes cgroups: all root's.
		r.Status, r.Fix = Missing, "run crate as root (sudo)"
	}
	return r
}

type kernelVersion struct{ major, minor int }

func (v kernelVersion) less(w kernelVersion) bool {
	return v.major < w.major || v.major == w.major && v.minor < w.minor
}

func (v kernelVersion) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// parseKernelVersion reads the major and minor numbers of a kernel release
// such as "6.18.44-fc-v657" or "5.10.0-28-amd64".
func parseKernelVersion(release string) (kernelVersion, error) {
	var v kernelVersion
	if _, err := fmt.Sscanf(release, "%d.%d", &v.major, &v.minor); err != nil {
		return v, fmt.Errorf("parse kernel release %q: %w", release, err)
	}
	return v, nil
}

func checkKernel(release string, readErr error) Result {
	r := Result{Name: "kernel", Status: OK, Detail: release}
	if readErr != nil {
		r.Status, r.Detail, r.Fix = Warn, readErr.Error(), "mount /proc"
		return r
	}
	v, err := parseKernelVersion(release)
	switch {
	case err != nil:
		r.Status, r.Detail, r.Fix = Warn, err.Error(), "crate needs Linux "+minKernel.String()+" or later"
	case v.less(minKernel):
		r.Status, r.Fix = Missing, "upgrade to Linux "+minKernel.String()+" or later (crate needs openat2 and mount_setattr)"
	}
	return r
}

// checkNamespaces looks for the namespace files of this process: a kernel
// without a namespace type has no file for it.
func checkNamespaces(procRoot string) []Result {
	var rs []Result
	for _, ns := range namespaces {
		r := Result{Name: "namespace " + ns.name, Status: OK}
		file := filepath.Join(procRoot, "self/ns", ns.file)
		// The link reads "pid:[4026531836]": the namespace crate runs in.
		if link, err := os.Readlink(file); err == nil {
			r.Detail = link
		} else if _, err := os.Lstat(file); err != nil {
			r.Status, r.Detail = Missing, err.Error()
			r.Fix = fmt.Sprintf("a kernel with %s namespaces (%s)", ns.name, ns.config)
		}
		rs = append(rs, r)
	}
	return rs
}

// checkCgroups tells the cgroup mode from the file system mounted at
// cgroupRoot, as pkg/cgroups does: cgroup2 is v2, a tmpfs holds v1
// hierarchies (hybrid when a controller-less cgroup2 sits at unified/),
// then checks each controller crate uses.
func checkCgroups(cgroupRoot string, mounts []mount, bpfDevice func() error) []Result {
	mode := Result{Name: "cgroup mode", Status: OK}
	root := mountAt(mounts, cgroupRoot)
	switch {
	case mounts == nil:
		mode.Status, mode.Detail, mode.Fix = Missing, "mount table unreadable", "mount /proc"
		return []Result{mode}
	case root != nil && root.fsType == "cgroup2":
		mode.Detail = "v2"
		return append([]Result{mode}, checkV2Controllers(cgroupRoot, bpfDevice)...)
	case root != nil && root.fsType == "tmpfs":
		mode.Detail = "v1"
		if u := mountAt(mounts, filepath.Join(cgroupRoot, "unified")); u != nil && u.fsType == "cgroup2" {
			mode.Detail = "v1 (hybrid)"
		}
		return append([]Result{mode}, checkV1Controllers(mounts)...)
	default:
		mode.Status, mode.Detail = Missing, "no cgroup2 or cgroup v1 tmpfs at "+cgroupRoot
		mode.Fix = "mount -t cgroup2 none " + cgroupRoot
		return []Result{mode}
	}
}

// checkV2Controllers checks that the root offers each limit controller and
// that crate can enable it for the containers' cgroups, which it does by
// writing the root's cgroup.subtree_control when systemd has not.
func checkV2Controllers(cgroupRoot string, bpfDevice func() error) []Result {
	available, errAvailable := readWords(filepath.Join(cgroupRoot, "cgroup.controllers"))
	enabled, errEnabled := readWords(filepath.Join(cgroupRoot, "cgroup.subtree_control"))
	// The real root may always enable controllers; any other cgroup (the
	// root of a cgroup namespace, inside a container) only while no process
	// lives in it directly: the "no internal processes" rule. Only non-root
	// cgroups have a cgroup.type file.
	_, errType := os.Stat(filepath.Join(cgroupRoot, "cgroup.type"))
	procs, _ := readWords(filepath.Join(cgroupRoot, "cgroup.procs"))
	busy := errType == nil && len(procs) > 0

	var rs []Result
	for _, c := range limitControllers {
		r := Result{Name: "cgroup " + c.name, Status: OK}
		switch {
		case errAvailable != nil:
			r.Status, r.Detail, r.Fix = Missing, errAvailable.Error(), "mount cgroup2 on "+cgroupRoot
		case !slices.Contains(available, c.name):
			r.Status, r.Detail, r.Fix = missingController(c.name, c.flag, c.always, "not in cgroup.controllers")
		case errEnabled == nil && slices.Contains(enabled, c.name):
			r.Detail = "enabled"
		case busy:
			// crate enables every limit controller it finds, limits or not.
			r.Status, r.Detail = Missing, cgroupRoot+" has processes of its own: cannot enable it for children"
			r.Fix = "move them to a child cgroup, or enable " + c.name + " in cgroup.subtree_control"
		default:
			r.Detail = "available (crate enables it)"
		}
		rs = append(rs, r)
	}
	// On v2 device rules are a BPF program attached to each container's
	// cgroup; crate always sets some.
	r := Result{Name: "cgroup devices", Status: OK, Detail: "bpf device program loads"}
	if err := bpfDevice(); err != nil {
		r.Status, r.Detail = Missing, err.Error()
		r.Fix = "a kernel with CONFIG_CGROUP_BPF, and run as root"
	}
	return append(rs, r)
}

// missingController is the verdict on a limit controller crate cannot use.
func missingController(name, flag string, always bool, why string) (Status, string, string) {
	if always {
		return Missing, why + ": crate run fails", "enable the " + name + " controller, or crate run " + flag + " -1"
	}
	return Warn, why + ": " + flag + " fails", "enable the " + name + " controller (kernel config, boot options)"
}

// checkV1Controllers checks that each controller crate uses has a mounted
// hierarchy.
func checkV1Controllers(mounts []mount) []Result {
	mounted := func(controller string) string {
		for _, m := range mounts {
			if m.fsType == "cgroup" && slices.Contains(m.super, controller) {
				return m.point
			}
		}
		return ""
	}
	var rs []Result
	for _, c := range limitControllers {
		r := Result{Name: "cgroup " + c.name, Status: OK}
		if p := mounted(c.name); p != "" {
			r.Detail = "mounted at " + p
		} else {
			r.Status, r.Detail, r.Fix = missingController(c.name, c.flag, c.always, "no hierarchy mounted")
		}
		rs = append(rs, r)
	}
	// Every container gets the default device allow-list, written to the
	// devices hierarchy: without it no container starts.
	r := Result{Name: "cgroup devices", Status: OK}
	if p := mounted("devices"); p != "" {
		r.Detail = "mounted at " + p
	} else {
		r.Status, r.Detail, r.Fix = Missing, "no hierarchy mounted", "mount the devices hierarchy (mount -t cgroup -o devices)"
	}
	return append(rs, r)
}

// OverlayInKernel says whether this kernel has overlayfs: in
// procRoot/filesystems (built in, or loaded), or else as a module that a
// mount would load (modulesRoot/RELEASE/modules.dep). crate check reports
// it, and crate run chooses between an overlay and a copy by it: one probe
// for both. err is the reading of the file systems' list.
func OverlayInKernel(procRoot, modulesRoot, release string) (loaded, module bool, err error) {
	data, err := os.ReadFile(filepath.Join(procRoot, "filesystems"))
	if err != nil {
		return false, false, err
	}
	if hasFilesystem(data, "overlay") {
		return true, false, nil
	}
	dep, derr := os.ReadFile(filepath.Join(modulesRoot, release, "modules.dep"))
	return false, derr == nil && bytes.Contains(dep, []byte("/overlay.ko")), nil
}

// checkOverlay reports OverlayInKernel.
func checkOverlay(o Options, release string) Result {
	r := Result{Name: "overlayfs", Status: OK, Detail: "in /proc/filesystems"}
	loaded, module, err := OverlayInKernel(o.ProcRoot, o.ModulesRoot, release)
	switch {
	case err != nil:
		r.Status, r.Detail, r.Fix = Warn, err.Error(), "mount /proc"
	case loaded:
	case module:
		r.Status, r.Detail, r.Fix = Warn, "overlay module not loaded", "modprobe overlay"
	default:
		r.Status = Warn
		r.Detail = "not in this kernel: crate copies layers (--storage copy, slower)"
		r.Fix = "a kernel with CONFIG_OVERLAY_FS"
	}
	return r
}

// hasFilesystem reports whether /proc/filesystems text lists name; its
// lines are "nodev\toverlay" or "\text4".
func hasFilesystem(data []byte, name string) bool {
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// noUpper are file systems overlayfs cannot write its upper directory on
// (no whiteouts or trusted xattrs).
var noUpper = []string{"overlay", "nfs", "nfs4", "cifs", "smb3"}

// checkOverlayUpper checks that the state root's file system can hold
// overlay upper directories; on overlayfs itself (crate inside a
// container) crate falls back to copying the layers.
func checkOverlayUpper(stateRoot string, sm stateMount) Result {
	r := Result{Name: "overlay upper", Status: OK}
	switch {
	case sm.err != nil:
		r.Status, r.Detail = Warn, sm.err.Error()
	case slices.Contains(noUpper, sm.mount.fsType):
		r.Status = Warn
		r.Detail = fmt.Sprintf("%s is on %s: crate falls back to --storage copy", stateRoot, sm.mount.fsType)
		r.Fix = "put --data-root on ext4, xfs, btrfs or tmpfs"
	default:
		r.Detail = sm.mount.fsType + " can hold overlay upper directories"
	}
	return r
}

// checkPivotRoot checks that "/" is not the initial ramfs (shown as
// "rootfs"): pivot_root cannot move that one away.
func checkPivotRoot(mounts []mount) Result {
	r := Result{Name: "pivot_root", Status: OK}
	root := mountAt(mounts, "/")
	switch {
	case root == nil:
		r.Status, r.Detail = Warn, "no / in the mount table"
	case root.id == root.parent:
		// pivot_root needs a root mount that has a parent to be moved
		// under: the initramfs itself has none (a bind of it moved over /,
		// as switch_root leaves things, does).
		r.Status, r.Detail = Missing, "/ is the mount namespace's own root mount ("+root.fsType+")"
		r.Fix = "run containers with crate run --no-pivot (chroot)"
	default:
		r.Detail = "/ is " + root.fsType
	}
	return r
}

// checkSeccomp checks for seccomp (the Seccomp: line of /proc/self/status
// and prctl(PR_GET_SECCOMP)) and for its filter mode, which crate's default
// profile needs.
func checkSeccomp(procRoot string, p probes) Result {
	r := Result{Name: "seccomp", Status: Missing, Fix: "a kernel with CONFIG_SECCOMP_FILTER, or crate run --security-opt seccomp=unconfined"}
	status, err := os.ReadFile(filepath.Join(procRoot, "self/status"))
	if err != nil {
		r.Detail = err.Error()
		return r
	}
	if !hasStatusField(status, "Seccomp") {
		r.Detail = "no Seccomp: line in /proc/self/status (no CONFIG_SECCOMP)"
		return r
	}
	mode, err := p.seccompMode()
	if err != nil {
		r.Detail = err.Error()
		return r
	}
	filter, err := p.seccompFilter()
	switch {
	case err != nil:
		r.Detail = err.Error()
	case !filter:
		r.Detail = "no filter mode (CONFIG_SECCOMP_FILTER)"
	default:
		r.Status, r.Fix, r.Detail = OK, "", "filter mode"
		if mode != 0 {
			r.Detail += fmt.Sprintf(" (crate itself runs under seccomp mode %d)", mode)
		}
	}
	return r
}

// hasStatusField reports whether /proc/PID/status text has a "name:" line.
func hasStatusField(status []byte, name string) bool {
	s := bufio.NewScanner(bytes.NewReader(status))
	for s.Scan() {
		if k, _, ok := strings.Cut(s.Text(), ":"); ok && k == name {
			return true
		}
	}
	return false
}

// checkInit finds crate-init as crate run would, and checks it can be run.
func checkInit(find func() (string, error)) Result {
	r := Result{Name: "crate-init", Status: Missing}
	path, err := find()
	if err != nil {
		r.Detail, r.Fix = err.Error(), "build it with make, or set CRATE_INIT"
		return r
	}
	r.Detail = path
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		r.Detail, r.Fix = err.Error(), "build it with make, or set CRATE_INIT"
	case !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0:
		r.Detail += fmt.Sprintf(" is not executable (%v)", fi.Mode())
		r.Fix = "chmod +x " + path
	default:
		r.Status = OK
	}
	return r
}

// checkStateRoot says what holds the state root and how much room is left:
// information, never a failure.
func checkStateRoot(stateRoot string, sm stateMount, freeBytes func(string) (uint64, error)) Result {
	r := Result{Name: "state root", Status: OK, Detail: stateRoot}
	if sm.dir != "" && sm.dir != stateRoot {
		r.Detail += " (not created yet)"
	}
	if sm.mount != nil {
		r.Detail += ": " + sm.mount.fsType
	}
	if sm.dir != "" {
		if free, err := freeBytes(sm.dir); err == nil {
			r.Detail += ", " + humanBytes(free) + " free"
		}
	}
	if sm.err != nil && !errors.Is(sm.err, fs.ErrNotExist) {
		r.Detail += " (" + sm.err.Error() + ")"
	}
	return r
}

// humanBytes writes n in binary units: "12.3 GiB".
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// readWords reads a file of space-separated words, such as
// cgroup.controllers.
func readWords(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}

func trimLine(data []byte) string { return strings.TrimSpace(string(data)) }
