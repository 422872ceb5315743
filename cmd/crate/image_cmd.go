package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/container"
	"github.com/crate-run/crate/pkg/image"
)

// ImageCmd is `crate image`: the images in the store.
type ImageCmd struct {
	Import ImageImportCmd `cmd:"" help:"Import an image file or directory into the store."`
	Ls     ImageLsCmd     `cmd:"" help:"List the imported images."`
	Rm     ImageRmCmd     `cmd:"" help:"Remove an image (its layers stay until prune)."`
	Prune  ImagePruneCmd  `cmd:"" help:"Remove the images without a name (with -a, every image) that no container uses, then the layers nothing uses."`
}

// withStore opens the store under --data-root with crate's logging and runs f.
func withStore(g *Globals, f func(hclog.Logger, *image.Store) error) error {
	return withImageLog(g, func(log hclog.Logger) error {
		store, err := openStore(g, log)
		if err != nil {
			return err
		}
		return f(log, store)
	})
}

// withImageLog runs f with crate's logging, and logs the error it returns.
func withImageLog(g *Globals, f func(hclog.Logger) error) error {
	log, closeLog, err := g.rootLogger("crate image needs root (the store keeps files of every owner)")
	if err != nil {
		return err
	}
	defer closeLog()
	if err := f(log); err != nil {
		log.Error(err.Error())
		return loggedError{err}
	}
	return nil
}

func openStore(g *Globals, log hclog.Logger) (*image.Store, error) {
	minFree, err := g.reserve()
	if err != nil {
		return nil, err
	}
	store, err := image.OpenStore(log, g.DataRoot)
	if err != nil {
		return nil, err
	}
	store.Progress = os.Stderr // drawn only on a terminal
	store.MinFree = minFree
	return store, nil
}

// ImageImportCmd is `crate image import`.
type ImageImportCmd struct {
	File     string `arg:"" help:"Root filesystem archive, docker save archive, or OCI image layout (directory or tar)." type:"path"`
	Name     string `help:"Name the image NAME[:TAG] (default: the names the file carries)." placeholder:"NAME[:TAG]"`
	Platform string `help:"Platform to pick from a multi-platform image, os/arch[/variant]." placeholder:"PLATFORM"`
}

func (c *ImageImportCmd) Run(g *Globals, code *int) error {
	// The file and the names are checked before the store is opened: bad input
	// creates nothing, not even the store's directories under a new --data-root.
	return withImageLog(g, func(log hclog.Logger) error {
		src, err := image.OpenSource(c.File, c.Platform)
		if err != nil {
			return err
		}
		defer src.Close()
		var names []string
		if c.Name != "" {
			names = []string{c.Name}
		}
		if _, err := image.ImportNames(src, names...); err != nil {
			return explainImageName(err, "name the image yourself with --name NAME[:TAG]")
		}
		store, err := openStore(g, log)
		if err != nil {
			return err
		}
		// An interrupted import stops between entries and leaves no layer behind.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		img, err := store.Import(ctx, src, names...)
		if err != nil {
			return explainSpace(err, g.DataRoot)
		}
		fmt.Printf("%s %s\n", img.ID, printableNames(img.Names))
		return nil
	})
}

// explainImageName adds what to do to the error of an image file that carries a name
// crate refuses: the operator can name the image instead.
func explainImageName(err error, what string) error {
	var ne *image.NameError
	if errors.As(err, &ne) && ne.FromImage {
		return fmt.Errorf("%w; %s", err, what)
	}
	return err
}

// explainSpace adds what to do to the error of an import that ran out of
// space on the file system of the state root, root.
func explainSpace(err error, root string) error {
	var se *image.SpaceError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%w; free space (crate system df says what crate image prune would free), or change the reserve with --min-free SIZE|PERCENT", err)
	case errors.Is(err, unix.ENOSPC):
		return fmt.Errorf("%w; free space on the file system of %s (crate system df says what crate image prune would free)", err, root)
	}
	return err
}

// printableNames joins names with spaces, each quoted if it holds odd bytes: an image
// record written by an older crate may hold a name with bytes that a terminal would
// take as commands.
func printableNames(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = image.Printable(n)
	}
	return strings.Join(out, " ")
}

// ImageLsCmd is `crate image ls`.
type ImageLsCmd struct {
	Format string `help:"Output format: table or json." enum:"table,json" default:"table"`
}

func (c *ImageLsCmd) Run(g *Globals, code *int) error {
	return withStore(g, func(log hclog.Logger, store *image.Store) error {
		images, err := store.List()
		if err != nil {
			return err
		}
		if c.Format == "json" {
			return writeJSON(os.Stdout, imageRows(images), "  ")
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
		fmt.Fprintln(w, "NAME\tID\tLAYERS\tSIZE\tCREATED")
		for _, r := range imageRows(images) {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", image.Printable(r.Name), image.Printable(r.ID[:min(len(r.ID), 12)]), r.Layers, approxBytes(r.Size), r.Created.Format(time.DateTime))
		}
		return w.Flush()
	})
}

// imageRow is one line of `crate image ls`: an image under one of its names.
type imageRow struct {
	Name    string    `json:"name"`
	ID      string    `json:"id"`
	Layers  int       `json:"layers"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

func imageRows(images []*image.Image) []imageRow {
	rows := []imageRow{}
	for _, img := range images {
		created := img.Imported
		if img.Config.Created != nil {
			created = *img.Config.Created
		}
		names := img.Names
		if len(names) == 0 {
			names = []string{"<none>"}
		}
		for _, name := range names {
			rows = append(rows, imageRow{Name: name, ID: img.ID.Encoded(), Layers: len(img.Layers), Size: img.Size, Created: created})
		}
	}
	return rows
}

// ImageRmCmd is `crate image rm`.
type ImageRmCmd struct {
	Image string `arg:"" help:"NAME[:TAG], or the id or a unique prefix of it."`
}

func (c *ImageRmCmd) Run(g *Globals, code *int) error {
	return withStore(g, func(log hclog.Logger, store *image.Store) error {
		img, err := store.Remove(c.Image)
		if errors.Is(err, image.ErrNotFound) {
			return fmt.Errorf("image %q: no such image (see crate image ls)", c.Image)
		}
		if err != nil {
			return err
		}
		fmt.Printf("removed %s %s\n", img.ID, printableNames(img.Names))
		return nil
	})
}

// ImagePruneCmd is `crate image prune`.
type ImagePruneCmd struct {
	All bool `short:"a" help:"Remove every image no container uses, named or not (default: only images without a name)."`
}

func (c *ImagePruneCmd) Run(g *Globals, code *int) error {
	return withStore(g, func(log hclog.Logger, store *image.Store) error {
		pruned, err := store.Prune(image.PruneOptions{All: c.All, InUse: func() (image.InUse, error) {
			return container.InUse(g.DataRoot)
		}})
		// What was removed is said even when something failed half way.
		for _, img := range pruned.Images {
			names := "<none>"
			if len(img.Names) > 0 {
				names = printableNames(img.Names)
			}
			fmt.Printf("removed image %s %s, imported from %s\n", img.ID.Encoded()[:12], names, image.Printable(img.Source))
		}
		for _, l := range pruned.Layers {
			fmt.Printf("removed layer %s\n", l.Encoded()[:12])
		}
		if err != nil {
			return err
		}
		fmt.Printf("removed %s and %s, %s freed\n", count(len(pruned.Images), "image"), count(len(pruned.Layers), "layer"),
			approxBytes(pruned.Bytes))
		return nil
	})
}

// count says "1 image" or "2 images".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// approxBytes prints a size the way ls -h would, to one decimal.
func approxBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f, i = f/1024, i+1
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
