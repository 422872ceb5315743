package initproc

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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
func limitBoundingSet(c *specs.LinuxCapabilities) error {
	keep, err := capabilityNumbers(c.Bounding)
	if err != nil {
		return err
	}
	last, err := lastCapability()
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

// lastCapability is the highest capability this kernel knows; a newer kernel
// may know more than crate's list, and those are dropped too.
func lastCapability() (int, error) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}
