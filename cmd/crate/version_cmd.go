package main

import (
	"fmt"
	"runtime"

	"github.com/crate-run/crate/pkg/container"
)

// VersionCmd is `crate version`.
type VersionCmd struct{}

// Run prints crate's version, the Go it was built with and the init it would use.
func (VersionCmd) Run(g *Globals, code *int) error {
	fmt.Printf("crate %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if p, err := container.FindInit(); err != nil {
		fmt.Printf("crate-init: %v\n", err)
	} else {
		fmt.Printf("crate-init: %s\n", p)
	}
	return nil
}
