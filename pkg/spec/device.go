package spec

import (
	"fmt"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Device is one --device: the node init creates in the container's /dev, and
// the devices cgroup rule that lets the container use it.
type Device struct {
	Node specs.LinuxDevice
	Rule specs.LinuxDeviceCgroup
}

// ParseDevice reads a --device value, HOST[:CONTAINER][:PERMISSIONS] as in
// docker run: a character or block device on the host, where it appears in
// the container (default: the same path), and what the container may do with
// it, some of r(ead), w(rite) and m(knod) (default rwm). The host node is
// looked up now, so its type and numbers are the host's.
func ParseDevice(v string) (Device, error) {
	parts := strings.Split(v, ":")
	if len(parts) > 3 {
		return Device{}, fmt.Errorf("--device %q: want HOST[:CONTAINER][:PERMISSIONS], like /dev/fuse or /dev/sdb:/dev/xvda:r", v)
	}
	host, dest, access := parts[0], parts[0], "rwm"
	switch len(parts) {
	case 2:
		// The second part is permissions if it looks like them: docker run
		// reads /dev/kvm:rw that way too.
		if ValidDeviceAccess(parts[1]) {
			access = parts[1]
		} else {
			dest = parts[1]
		}
	case 3:
		dest, access = parts[1], parts[2]
	}
	if !path.IsAbs(host) || !path.IsAbs(dest) || path.Clean(dest) == "/dev" || !strings.HasPrefix(path.Clean(dest), "/dev/") {
		return Device{}, fmt.Errorf("--device %q: want an absolute host path and a container path under /dev/", v)
	}
	if !ValidDeviceAccess(access) {
		return Device{}, fmt.Errorf("--device %q: permissions %q: want some of r, w and m (read, write, mknod)", v, access)
	}
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return Device{}, fmt.Errorf("--device %q: %s: %w", v, host, err)
	}
	var kind string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		kind = "c"
	case unix.S_IFBLK:
		kind = "b"
	default:
		return Device{}, fmt.Errorf("--device %q: %s is not a character or block device", v, host)
	}
	major, minor := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return Device{
		Node: specs.LinuxDevice{Path: path.Clean(dest), Type: kind, Major: major, Minor: minor, FileMode: &mode, UID: &uid, GID: &gid},
		Rule: specs.LinuxDeviceCgroup{Allow: true, Type: kind, Major: &major, Minor: &minor, Access: access},
	}, nil
}

// ValidDeviceAccess reports whether s is a device rule's access: a non-empty
// set of r(ead), w(rite) and m(knod).
func ValidDeviceAccess(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("rwm", c) || strings.Count(s, string(c)) > 1 {
			return false
		}
	}
	return true
}

// deviceRules is the devices cgroup's list for o: DefaultDeviceRules and the
// --device nodes; --privileged allows all.
func deviceRules(o Options) []specs.LinuxDeviceCgroup {
	if o.Privileged {
		return []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	rules := DefaultDeviceRules()
	for _, d := range o.Devices {
		rules = append(rules, d.Rule)
	}
	return rules
}

// DefaultDeviceRules is Docker's device list, in the OCI order: deny
// everything, then allow. A container may mknod any device (so that images
// which make their own nodes work) but open only those of the minimal /dev,
// its terminals and /dev/net/tun.
func DefaultDeviceRules() []specs.LinuxDeviceCgroup {
	any := int64(-1)
	rule := func(kind string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		r := specs.LinuxDeviceCgroup{Allow: true, Type: kind, Access: access}
		if major != any {
			r.Major = &major
		}
		if minor != any {
			r.Minor = &minor
		}
		return r
	}
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		rule("c", any, any, "m"),
		rule("b", any, any, "m"),
		rule("c", 5, 1, "rwm"),     // /dev/console
		rule("c", 5, 2, "rwm"),     // /dev/ptmx
		rule("c", 136, any, "rwm"), // /dev/pts/*
		rule("c", 10, 200, "rwm"),  // /dev/net/tun, as in Docker
	}
	for _, d := range DefaultDevices() {
		rules = append(rules, rule(d.Type, d.Major, d.Minor, "rwm"))
	}
	return rules
}
