package profile

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// x32Bit is __X32_SYSCALL_BIT: x32 system calls share AUDIT_ARCH_X86_64 with
// x86_64, and seccomp tells them apart only by this bit of the number.
const x32Bit = 0x40000000

// machineABIs are the calling conventions a process on an amd64 machine can
// use: x86_64 (native, first), x32, and i386 (32-bit programs, and int 0x80
// from any program).
var machineABIs = []abi{
	{arch: specs.ArchX86_64, audit: unix.AUDIT_ARCH_X86_64, table: &tableX86_64},
	{arch: specs.ArchX32, audit: unix.AUDIT_ARCH_X86_64, bit: x32Bit, table: &tableX32},
	{arch: specs.ArchX86, audit: unix.AUDIT_ARCH_I386, table: &tableI386},
}
