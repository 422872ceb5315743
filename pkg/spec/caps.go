package spec

import (
	"fmt"
	"slices"
	"strings"
)

// Capabilities lists the Linux capabilities by number: the index is the
// capability's number, which is kernel ABI and never changes.
var Capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// DefaultCapabilities is what a container's root keeps: Docker's default set.
// MKNOD is safe in it because the devices cgroup lets a node be made but
// opened only if it is on the container's list: /dev/sda can be created, not
// read.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// CapabilityNumber returns the number of a capability named CAP_X, or -1.
func CapabilityNumber(name string) int {
	return slices.Index(Capabilities, name)
}

// canonicalCap turns "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" into
// "CAP_NET_ADMIN"; "all" into "ALL".
func canonicalCap(flag, name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if CapabilityNumber(n) < 0 {
		return "", fmt.Errorf("%s %q: no such capability; use a name like NET_ADMIN (see capabilities(7)) or ALL", flag, name)
	}
	return n, nil
}

// CapabilitySet works out the container's capabilities as docker run does:
// the default set, minus --cap-drop, plus --cap-add; ALL in either means
// every capability; --privileged means every capability whatever the rest.
func CapabilitySet(add, drop []string, privileged bool) ([]string, error) {
	if privileged {
		return slices.Clone(Capabilities), nil
	}
	set := slices.Clone(DefaultCapabilities)
	for _, name := range drop {
		c, err := canonicalCap("--cap-drop", name)
		if err != nil {
			return nil, err
		}
		if c == "ALL" {
			set = nil
			continue
		}
		set = slices.DeleteFunc(set, func(s string) bool { return s == c })
	}
	for _, name := range add {
		c, err := canonicalCap("--cap-add", name)
		if err != nil {
			return nil, err
		}
		if c == "ALL" {
			return slices.Clone(Capabilities), nil
		}
		if !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	return set, nil
}

// MaskedPaths hide what a container must not read of the host: the kernel's
// memory, keys, timers and scheduler state, firmware tables. Docker's list.
var MaskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
}

// ReadonlyPaths stay visible but cannot be written: they reach the host's
// kernel, not the container's namespaces. Docker's list.
var ReadonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}
