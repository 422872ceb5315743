// Package seccomp installs a container's system call filter: a seccomp
// Program, classic BPF compiled for this machine by package
// seccomp/profile.
//
// The work is split along crate's two binaries. The supervisor resolves and
// compiles the profile (profile.Default or profile.Load, then
// profile.Compile) and sends the Program to crate-init inside the spec;
// crate-init only decodes it and calls Install. This package is what
// crate-init links, so it needs nothing but the standard library and
// x/sys: no profile parser, no libseccomp, no cgo.
package seccomp
