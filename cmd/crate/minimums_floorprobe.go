//go:build floorprobe

package main

// The floor probe of make bench starts what crate run refuses; see
// minimums.go.
const refuseBelowMinimums = false
