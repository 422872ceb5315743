package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/crate-run/crate/pkg/container"
	"github.com/crate-run/crate/pkg/hostcheck"
)

// CheckCmd is `crate check`: whether this host can run containers.
type CheckCmd struct {
	Format string `help:"Output format: table or json." enum:"table,json" default:"table"`
}

// Run prints one line per check and exits 1 if any is MISSING. It needs no
// root and no log: not being root is one of the things it reports, and a
// host that cannot run containers is an answer, not a failure of crate.
func (c *CheckCmd) Run(g *Globals, code *int) error {
	results := hostcheck.Run(hostcheck.Options{StateRoot: g.DataRoot, FindInit: container.FindInit})
	for _, r := range results {
		if r.Status == hostcheck.Missing {
			*code = 1
		}
	}
	if c.Format == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	for _, r := range results {
		line := fmt.Sprintf("%s\t%s\t%s", r.Name, r.Status, r.Detail)
		if r.Fix != "" {
			line += "\t-> " + r.Fix
		}
		fmt.Fprintln(w, line)
	}
	return w.Flush()
}
