//go:build linux && !amd64 && !arm64

package profile

// machineABIs is empty: this package has syscall tables for amd64 and arm64
// only, and Compile refuses other machines.
var machineABIs []abi

// syscallNames is empty for the same reason.
var syscallNames [0]string
