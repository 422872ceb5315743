package profile

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// machineABIs are the calling conventions a process on an arm64 machine can
// use: aarch64 (native, first), and 32-bit arm where the CPU runs it.
var machineABIs = []abi{
	{arch: specs.ArchAARCH64, audit: unix.AUDIT_ARCH_AARCH64, table: &tableAARCH64},
	{arch: specs.ArchARM, audit: unix.AUDIT_ARCH_ARM, table: &tableARM},
}
