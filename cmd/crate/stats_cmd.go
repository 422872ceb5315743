package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crate-run/crate/pkg/cgroups"
	"github.com/crate-run/crate/pkg/container"
	"github.com/crate-run/crate/pkg/state"
)

// StatsCmd is `crate stats`.
type StatsCmd struct {
	NoStream bool   `help:"Print one sample and exit."`
	Format   string `help:"Output format: table, or json (one object per container and sample)." enum:"table,json" default:"table" placeholder:"FORMAT"`

	Containers []string `arg:"" optional:"" help:"Container names, ids or id prefixes (default: every running one)."`
}

// statsInterval is how long CPU use is averaged over, as docker stats does.
const statsInterval = time.Second

// statsRow is one container's figures, read from its cgroup.
type statsRow struct {
	ID          string  `json:"id"`
	CPUPercent  float64 `json:"cpu_percent"` // of one CPU, like --cpu: 250 is two and a half
	MemoryUsage uint64  `json:"memory_usage_bytes"`
	MemoryLimit uint64  `json:"memory_limit_bytes"` // 0: no limit
	Pids        uint64  `json:"pids"`
	PidsLimit   uint64  `json:"pids_limit"` // 0: no limit
}

func (c *StatsCmd) Run(g *Globals) error {
	return withRunDir(g, "stats", func(log hclog.Logger, dir *state.Dir) error {
		containers, err := c.pick(dir)
		if err != nil {
			return err
		}
		prev := sample(log, containers)
		for {
			time.Sleep(statsInterval) // the interval CPU use is measured over, not a wait for an event
			cur := sample(log, containers)
			var rows []statsRow
			for id, now := range cur {
				before, ok := prev[id]
				if !ok {
					continue
				}
				cpu := float64(now.usage.CPUTime-before.usage.CPUTime) / float64(now.at.Sub(before.at)) * 100
				rows = append(rows, statsRow{ID: id, CPUPercent: cpu, MemoryUsage: now.usage.MemoryUsage,
					MemoryLimit: now.usage.MemoryLimit, Pids: now.usage.Pids, PidsLimit: now.usage.PidsLimit})
			}
			c.print(containers, rows)
			if c.NoStream || (len(cur) == 0 && len(c.Containers) > 0) {
				return nil
			}
			prev = cur
			if len(c.Containers) == 0 {
				// Every running container: those started since join in.
				if containers, err = c.pick(dir); err != nil {
					return err
				}
				for id, s := range sample(log, containers) {
					if _, ok := prev[id]; !ok {
						prev[id] = s
					}
				}
			}
		}
	})
}

// pick is the running containers named, or all of them.
func (c *StatsCmd) pick(dir *state.Dir) ([]state.State, error) {
	if len(c.Containers) == 0 {
		all, err := dir.List()
		var live []state.State
		for _, st := range all {
			if running(dir, st) == nil {
				live = append(live, st)
			}
		}
		return live, err
	}
	var picked []state.State
	for _, ref := range c.Containers {
		st, err := dir.Lookup(ref)
		if err == nil {
			err = running(dir, st)
		}
		if err != nil {
			return nil, err
		}
		picked = append(picked, st)
	}
	return picked, nil
}

type sampled struct {
	usage cgroups.Usage
	at    time.Time
}

// sample reads every container's cgroup; one that has gone meanwhile drops out.
func sample(log hclog.Logger, containers []state.State) map[string]sampled {
	out := map[string]sampled{}
	for _, st := range containers {
		u, err := container.Usage(log, cgroupRoot, st)
		if err != nil {
			log.Debug("read container stats", "container_id", st.ID, "error", err)
			continue
		}
		out[st.ID] = sampled{u, time.Now()}
	}
	return out
}

func (c *StatsCmd) print(order []state.State, rows []statsRow) {
	byID := map[string]statsRow{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	if c.Format == "json" {
		enc := json.NewEncoder(os.Stdout)
		for _, st := range order {
			if r, ok := byID[st.ID]; ok {
				enc.Encode(r)
			}
		}
		return
	}
	if !c.NoStream && isTerminal(os.Stdout) {
		fmt.Print("\033[2J\033[H") // redraw in place, as docker stats does
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "CONTAINER ID\tCPU %\tMEM USAGE / LIMIT\tMEM %\tPIDS")
	for _, st := range order {
		r, ok := byID[st.ID]
		if !ok {
			continue
		}
		limit, percent := "no limit", "-"
		if r.MemoryLimit > 0 {
			limit = approxBytes(int64(r.MemoryLimit))
			percent = fmt.Sprintf("%.2f%%", float64(r.MemoryUsage)/float64(r.MemoryLimit)*100)
		}
		fmt.Fprintf(w, "%s\t%.2f%%\t%s / %s\t%s\t%d\n", r.ID, r.CPUPercent, approxBytes(int64(r.MemoryUsage)), limit, percent, r.Pids)
	}
	w.Flush()
}
