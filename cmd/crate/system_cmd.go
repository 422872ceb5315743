package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"

	"github.com/crate-run/crate/pkg/container"
	"github.com/crate-run/crate/pkg/image"
	"github.com/crate-run/crate/pkg/state"
)

// SystemCmd is `crate system`: crate's use of the host as a whole.
type SystemCmd struct {
	Df SystemDfCmd `cmd:"" help:"Show the disk space images, layers and containers take, and what can be freed."`
}

// SystemDfCmd is `crate system df`.
type SystemDfCmd struct {
	Format string `help:"Output format: table or json." enum:"table,json" default:"table" placeholder:"FORMAT"`
}

// dfRow is one line of crate system df. Sizes are bytes of file content,
// as crate image ls gives an image's.
type dfRow struct {
	Type   string `json:"type"`
	Total  int    `json:"total"`
	Active int    `json:"active"`
	Size   int64  `json:"size"`
	// Reclaimable is what crate image prune -a frees (images, then layers
	// that no image is left to use), or crate rm (exited containers).
	Reclaimable int64 `json:"reclaimable"`
}

func (c *SystemDfCmd) Run(g *Globals) error {
	return withStore(g, func(log hclog.Logger, store *image.Store) error {
		inUse, err := container.InUse(g.DataRoot)
		if err != nil {
			return err
		}
		du, err := store.DiskUsage(inUse)
		if err != nil {
			return err
		}
		containers, err := containerUsage(g)
		if err != nil {
			return err
		}
		rows := []dfRow{
			{Type: "images", Total: du.Images, Active: du.ImagesInUse, Size: du.ImageBytes, Reclaimable: du.ImageReclaimable},
			{Type: "layers", Total: du.Layers, Active: du.LayersInUse, Size: du.LayerBytes, Reclaimable: du.LayerReclaimable},
			containers,
		}
		if c.Format == "json" {
			return writeJSON(os.Stdout, rows, "  ")
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
		fmt.Fprintln(w, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
		for _, r := range rows {
			reclaimable := approxBytes(r.Reclaimable)
			if r.Size > 0 {
				reclaimable += fmt.Sprintf(" (%d%%)", 100*r.Reclaimable/r.Size)
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", titles[r.Type], r.Total, r.Active, approxBytes(r.Size), reclaimable)
		}
		return w.Flush()
	})
}

// titles are the names of df's rows in its table.
var titles = map[string]string{"images": "Images", "layers": "Layers", "containers": "Containers"}

// containerUsage is df's row of containers: active are those created or
// running; the others, exited and kept or left by a supervisor that died,
// are reclaimable (crate rm, crate gc).
func containerUsage(g *Globals) (dfRow, error) {
	row := dfRow{Type: "containers"}
	sizes, err := container.DirSizes(g.DataRoot)
	if err != nil {
		return row, err
	}
	all, err := g.runDir().List()
	if err != nil {
		return row, err
	}
	active := map[string]bool{}
	for _, st := range all {
		active[st.ID] = st.Status != state.Exited
	}
	for _, s := range sizes {
		row.Total++
		row.Size += s.Bytes
		if active[s.ID] {
			row.Active++
		} else {
			row.Reclaimable += s.Bytes
		}
	}
	return row, nil
}
