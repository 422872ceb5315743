package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crate-run/crate/pkg/container"
)

// printRuntimeVersion is `crate --version`, in runc's form: engines log it,
// and some read its commit: and spec: lines.
func printRuntimeVersion() {
	fmt.Printf("crate version %s\ncommit: %s\nspec: %s\ngo: %s\n", version, commit, specs.Version, runtime.Version())
}

// VersionCmd is `crate version`.
type VersionCmd struct{}

// Run prints crate's version, the Go it was built with and the init it would use.
func (VersionCmd) Run(g *Globals, code *int) error {
	fmt.Printf("crate %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	p, err := container.FindInit()
	if err != nil {
		fmt.Printf("crate-init: %v\n", err)
		return nil
	}
	// Asked, not guessed from the file: crate-init prints what it was built as.
	out, err := exec.Command(p, "--version").Output()
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "crate-init ")
	switch {
	case err != nil:
		v = fmt.Sprintf("version unknown (%v)", err)
	case v != version:
		v += fmt.Sprintf(" (crate is %s: containers will not start; install both from the same build)", version)
	}
	fmt.Printf("crate-init: %s %s\n", p, v)
	return nil
}
