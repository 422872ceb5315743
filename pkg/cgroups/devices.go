package cgroups

// The device allow-list: which device nodes a container may create (mknod)
// and open. Without it, root in a container with CAP_MKNOD can
// `mknod /dev/sda b 8 0` and read the host's disk; file permissions do not
// stop root, only the devices cgroup (v1) or its BPF program (v2) does.
//
// Rules follow the OCI runtime spec (specs.LinuxDeviceCgroup): a type (c, b,
// or a for all), a major and a minor number (nil or -1: any), and the access
// allowed, some of r(ead), w(rite) and m(knod). The kernel checks a request
// against each rule alone: opening a node read-write needs one rule that
// allows both r and w.

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crate-run/crate/pkg/spec"
)

// Device numbers the kernel can represent: dev_t holds a 12-bit major and a
// 20-bit minor.
const (
	maxMajor = 1<<12 - 1
	maxMinor = 1<<20 - 1
)

// validateDevices checks the rules: what the kernel would reject, and what
// the two enforcement paths (v1 file writes, v2 BPF) could not express alike.
func validateDevices(rules []specs.LinuxDeviceCgroup) error {
	for i, r := range rules {
		if err := validateDevice(r); err != nil {
			return fmt.Errorf("invalid device rule %d (%s): %w", i, formatDevice(r), err)
		}
	}
	return nil
}

func validateDevice(r specs.LinuxDeviceCgroup) error {
	if r.Type != "" && r.Type != "a" && r.Type != "b" && r.Type != "c" {
		return fmt.Errorf("type %q: want c (character), b (block) or a (all)", r.Type)
	}
	if !spec.ValidDeviceAccess(r.Access) {
		return fmt.Errorf("access %q: want some of r, w and m (read, write, mknod)", r.Access)
	}
	for _, n := range []struct {
		what  string
		v     *int64
		limit int64
	}{{"major", r.Major, maxMajor}, {"minor", r.Minor, maxMinor}} {
		if n.v != nil && *n.v != -1 && (*n.v < 0 || *n.v > n.limit) {
			return fmt.Errorf("%s %d: want -1 (any) or 0 to %d", n.what, *n.v, n.limit)
		}
	}
	// v1 reads a rule of type a as "everything", whatever its numbers and
	// access say: only the rule that means the same everywhere is accepted.
	if isAll(r) && !(isAnyDevice(r) && len(r.Access) == 3) {
		return fmt.Errorf("type a must be for any major and minor and allow rwm; use c and b rules")
	}
	return nil
}

func isAll(r specs.LinuxDeviceCgroup) bool { return r.Type == "" || r.Type == "a" }

func isWildcard(n *int64) bool { return n == nil || *n == -1 }

// isAnyDevice reports whether r is about every device: type a, any numbers.
func isAnyDevice(r specs.LinuxDeviceCgroup) bool {
	return isAll(r) && isWildcard(r.Major) && isWildcard(r.Minor)
}

// allowRules returns the allow rules that count, in order, as v1's kernel
// makes them of the list, so that v2's program allows exactly the same. The
// OCI form of the list starts with "deny everything", which takes back the
// rules before it. Any other deny rule takes its access away from the allow
// rules of exactly its type and numbers, and from none wider or narrower
// (Docker's deny of /dev/fuse after "c *:* m" leaves that rule whole).
func allowRules(rules []specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	var allow []specs.LinuxDeviceCgroup
	for _, r := range rules {
		switch {
		case r.Allow:
			allow = append(allow, r)
		case isAnyDevice(r):
			allow = allow[:0]
		default:
			kept := allow[:0]
			for _, a := range allow {
				if a.Type == r.Type && number(a.Major) == number(r.Major) && number(a.Minor) == number(r.Minor) {
					a.Access = strings.Map(func(c rune) rune {
						if strings.ContainsRune(r.Access, c) {
							return -1 // denied
						}
						return c
					}, a.Access)
					if a.Access == "" {
						continue
					}
				}
				kept = append(kept, a)
			}
			allow = kept
		}
	}
	return allow
}

// number is a rule's major or minor, -1 for any.
func number(n *int64) int64 {
	if isWildcard(n) {
		return -1
	}
	return *n
}

// formatDevice writes r as v1's devices.allow wants it: "c 1:3 rwm", with *
// for any number.
func formatDevice(r specs.LinuxDeviceCgroup) string {
	typ := r.Type
	if typ == "" {
		typ = "a"
	}
	num := func(n *int64) string {
		if isWildcard(n) {
			return "*"
		}
		return strconv.FormatInt(*n, 10)
	}
	return typ + " " + num(r.Major) + ":" + num(r.Minor) + " " + r.Access
}

// v1DeviceWrites denies every device, then allows the rules one write each
// (the kernel reads one rule per write). Deny first: a new v1 cgroup starts
// with its parent's list, which on the host's root allows everything.
func v1DeviceWrites(rules []specs.LinuxDeviceCgroup) []write {
	ws := []write{{file: "devices.deny", value: "a"}}
	for _, r := range allowRules(rules) {
		ws = append(ws, write{file: "devices.allow", value: formatDevice(r)})
	}
	return ws
}
