package initproc

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/spec"
)

// Capabilities, like the user, belong to a thread, and execve hands on those
// of the thread that calls it: init's thread is locked, so setting them here
// sets them for the command.

// limitBoundingSet drops from the bounding set every capability the spec does
// not keep, and clears the ambient set. Nothing run in the container can get
// a dropped capability back, not even through a setuid-root binary. It runs
// as root, before the user switch, since dropping needs CAP_SETPCAP.
// last is the kernel's last capability (see lastCapability).
func limitBoundingSet(c *specs.LinuxCapabilities, last int) error {
	keep, err := capabilityNumbers(c.Bounding)
	if err != nil {
		return err
	}
	for n := 0; n <= last; n++ {
		if keep[n] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl PR_CAPBSET_DROP %d: %w", n, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_CAP_AMBIENT_CLEAR_ALL: %w", err)
	}
	return nil
}

// setCapabilities gives root its effective, permitted and inheritable sets.
// A user other than root has none left after setuid, and keeps none: the
// kernel cleared them, and execve grants a non-root user nothing more.
func setCapabilities(c *specs.LinuxCapabilities) error {
	if unix.Getuid() != 0 {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	// No set can grow beyond what init holds (--privileged asks for every
	// capability, and crate itself may run without some).
	var held [2]unix.CapUserData
	if err := unix.Capget(&hdr, &held[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	var data [2]unix.CapUserData
	for _, set := range []struct {
		names []string
		field func(*unix.CapUserData) *uint32
	}{
		{c.Effective, func(d *unix.CapUserData) *uint32 { return &d.Effective }},
		{c.Permitted, func(d *unix.CapUserData) *uint32 { return &d.Permitted }},
		{c.Inheritable, func(d *unix.CapUserData) *uint32 { return &d.Inheritable }},
	} {
		numbers, err := capabilityNumbers(set.names)
		if err != nil {
			return err
		}
		for n := range numbers {
			*set.field(&data[n/32]) |= 1 << (n % 32)
		}
	}
	for i := range data {
		data[i].Effective &= held[i].Permitted
		data[i].Permitted &= held[i].Permitted
		data[i].Inheritable &= held[i].Permitted
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// verifyCapabilities reads back, from the kernel, what the command will
// inherit, and fails if it holds any capability the spec does not give it:
// in the bounding set, the permitted, effective or inheritable set, or the
// ambient set. It is the last word before the command runs, so that a
// mistake in the steps above (or a kernel fact misread) can never start a
// command with more than it was meant to have.
func verifyCapabilities(c *specs.LinuxCapabilities, last int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var held [2]unix.CapUserData
	if err := unix.Capget(&hdr, &held[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	sets := []struct {
		name  string
		names []string
		held  func(n int) (bool, error)
	}{
		{"bounding", c.Bounding, func(n int) (bool, error) {
			r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0)
			return r == 1, err
		}},
		{"permitted", c.Permitted, func(n int) (bool, error) { return held[n/32].Permitted&(1<<(n%32)) != 0, nil }},
		{"effective", c.Effective, func(n int) (bool, error) { return held[n/32].Effective&(1<<(n%32)) != 0, nil }},
		{"inheritable", c.Inheritable, func(n int) (bool, error) { return held[n/32].Inheritable&(1<<(n%32)) != 0, nil }},
		{"ambient", c.Ambient, func(n int) (bool, error) {
			r, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(n), 0, 0)
			return r == 1, err
		}},
	}
	for _, set := range sets {
		keep, err := capabilityNumbers(set.names)
		if err != nil {
			return err
		}
		for n := 0; n <= last; n++ {
			has, err := set.held(n)
			if err != nil {
				return fmt.Errorf("read the %s set: %w", set.name, err)
			}
			if has && !keep[n] {
				return fmt.Errorf("capability %s is still in the %s set after the drop: refusing to run the command", capabilityName(n), set.name)
			}
		}
	}
	return nil
}

// capabilityNumbers turns CAP_X names into a set of numbers.
func capabilityNumbers(names []string) (map[int]bool, error) {
	set := map[int]bool{}
	for _, name := range names {
		n := spec.CapabilityNumber(name)
		if n < 0 {
			return nil, fmt.Errorf("unknown capability %q", name)
		}
		set[n] = true
	}
	return set, nil
}

// capabilityName names capability n, even one newer than crate's list.
func capabilityName(n int) string {
	if n < len(spec.Capabilities) {
		return spec.Capabilities[n]
	}
	return fmt.Sprintf("number %d", n)
}

// lastCapability is the highest capability this kernel knows, asked of the
// kernel itself: PR_CAPBSET_READ answers EINVAL past it. (It is also in
// /proc/sys/kernel/cap_last_cap, but the /proc a process sees belongs to
// whoever controls its root and mounts: a container's PID 1 that chroots
// into a directory of forged files would decide which capabilities crate
// exec drops.) A newer kernel may know more capabilities than crate's list;
// those are dropped too.
func lastCapability() (int, error) {
	known := func(n int) (bool, error) {
		_, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("prctl PR_CAPBSET_READ %d: %w", n, err)
		}
		return true, nil
	}
	// Start from the last capability crate knows, which is this kernel's
	// more often than not, and walk up or down to the kernel's. Capability
	// numbers are bits of a 64-bit mask: there cannot be more than 64.
	n := len(spec.Capabilities) - 1
	ok, err := known(n)
	if err != nil {
		return 0, err
	}
	if ok {
		for n < 63 {
			next, err := known(n + 1)
			if err != nil {
				return 0, err
			}
			if !next {
				break
			}
			n++
		}
		return n, nil
	}
	for n > 0 {
		n--
		if ok, err := known(n); err != nil || ok {
			return n, err
		}
	}
	return 0, errors.New("the kernel knows no capability (PR_CAPBSET_READ 0: EINVAL)")
}
