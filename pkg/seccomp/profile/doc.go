// Package profile owns the seccomp profiles crate applies: Docker's default
// profile (Default) or a Docker-format profile file (Load), resolved for a
// container's capabilities, and their compilation to a seccomp.Program for
// this machine (Compile), in pure Go.
//
// # What a compiled program does
//
// It reads seccomp_data.arch first. Each calling convention the profile lists
// for this machine (on amd64: x86_64, and i386 and x32 when the profile names
// them, as Docker's does; on arm64: aarch64, and arm) gets its own part of the
// program; x32, which differs from x86_64 only by a bit of the syscall
// number, shares x86_64's. Any other arch, and x32 when the profile leaves it
// out, kills the process: its numbers mean other calls. Within one part a
// binary search on the syscall number reaches the call's decision in about
// eight comparisons. Docker's profile compiles to about 310 instructions on
// amd64.
//
// A call's decision follows libseccomp, which Docker and runc use:
//   - the first rule without argument conditions that names the call decides;
//     such a rule also overrides every rule with conditions for that call;
//   - otherwise the rules with conditions are tried in profile order, and the
//     first whose conditions all hold decides (the conditions of one rule are
//     ANDed, several rules for one call are ORed);
//   - otherwise the profile's defaultAction applies.
//
// Rules whose action is the default action are skipped, as runc does. Syscall
// names this machine does not have are skipped, not errors. A syscall number
// newer than the tables this package was built with gets ENOSYS instead of a
// denying default action, as in runc: libc falls back to an older call on
// ENOSYS, and fails on EPERM.
//
// One difference from runc: when a rule compares the same argument twice,
// runc turns the comparisons into separate rules (OR); here they are ANDed,
// like comparisons of different arguments.
//
// The syscall tables come from github.com/elastic/go-seccomp-bpf, turned into
// Go literals by internal/mktables (see there why). Its policy assembler is
// not used: it cannot return a chosen errno for the default action, has no
// masked comparison (SCMP_CMP_MASKED_EQ, which Docker's clone rule needs),
// compiles for the native convention only and answers other arches with the
// default action, and fails on names its table lacks.
package profile

//go:generate go run ./internal/mktables -goarch amd64 -o ztables_linux_amd64.go
//go:generate go run ./internal/mktables -goarch arm64 -o ztables_linux_arm64.go
