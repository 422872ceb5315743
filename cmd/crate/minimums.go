//go:build !floorprobe

package main

// refuseBelowMinimums: crate run refuses a --memory or --pids below what a
// start needs (container.StartFloor). make bench's probe of
// that floor is crate built with the floorprobe tag, which lifts the
// refusal so that the bench can find where the floor is.
const refuseBelowMinimums = true
