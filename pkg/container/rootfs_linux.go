package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/hostcheck"
	"github.com/crate-run/crate/pkg/image"
	"github.com/crate-run/crate/pkg/spec"
)

// Storage is how a container's root filesystem is made from its image.
type Storage string

const (
	// StorageOverlay mounts the image's layers, shared by every container of
	// the image, under a private writable upper directory: instant, and one
	// copy of the image on disk.
	StorageOverlay Storage = "overlay"
	// StorageCopy copies the layers into a directory of the container's own:
	// slower and bigger, but it works where overlayfs does not.
	StorageCopy Storage = "copy"
)

// openImage opens the store and finds the image cfg.Image names there. A file or
// directory is opened first, so that a bad one (or one carrying a bad name)
// is refused before the store is touched, then imported on the way (its
// layers are unpacked only the first time); anything else must name an image
// imported before. accept sees the image's config first and may refuse it,
// before any import.
//
// The image comes with a lease of the store (see image.Store.Lease), taken
// before the image is looked up: the caller releases it once the
// container's directory names the image (recordImage), and until then no
// crate image prune removes the image or its layers.
func openImage(ctx context.Context, log hclog.Logger, cfg Config,
	accept func(ocispec.Image) error) (store *image.Store, img *image.Image, release func(), err error) {
	start := time.Now()
	ref := cfg.Image
	var src *image.Source
	if _, err := os.Stat(ref); err == nil {
		if src, err = image.OpenSource(ref, cfg.Platform); err != nil {
			return nil, nil, nil, err
		}
		defer src.Close()
		if err := accept(src.Config); err != nil {
			return nil, nil, nil, err
		}
		if _, err := image.ImportNames(src); err != nil {
			return nil, nil, nil, err
		}
	}
	if store, err = image.OpenStore(log, cfg.StateRoot); err != nil {
		return nil, nil, nil, err
	}
	store.MinFree = cfg.MinFree
	lease, err := store.Lease()
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			lease()
		}
	}()
	if src == nil {
		img, err = store.Get(ref)
		if errors.Is(err, image.ErrNotFound) {
			return nil, nil, nil, fmt.Errorf("image %q: no such file, and no imported image has that name or id (see crate image ls)", ref)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if err := accept(img.Config); err != nil {
			return nil, nil, nil, err
		}
		return store, img, lease, nil
	}
	store.Progress = cfg.Progress
	if img, err = store.Import(ctx, src); err != nil {
		return nil, nil, nil, err
	}
	log.Info("image ready", "image", ref, "image_id", img.ID, "format", img.Format, "layers", len(img.Layers),
		"bytes", img.Size, "duration", time.Since(start))
	return store, img, lease, nil
}

// imageDefaults is the part of an image's config that says how to run it.
func imageDefaults(img ocispec.Image) spec.ImageDefaults {
	c := img.Config
	return spec.ImageDefaults{Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, User: c.User}
}

// chooseStorage decides between an overlay and a copy, and says why.
// Overlayfs refuses an upper directory that is itself on overlayfs (crate in
// a container, say), and some kernels lack it.
func chooseStorage(requested Storage, stateRoot string) (Storage, string, error) {
	problem := overlayProblem(stateRoot)
	switch requested {
	case StorageCopy:
		return StorageCopy, "asked for with --storage copy", nil
	case StorageOverlay:
		if problem != "" {
			return "", "", fmt.Errorf("--storage overlay: %s; use --storage copy", problem)
		}
		return StorageOverlay, "asked for with --storage overlay", nil
	case "":
		if problem != "" {
			return StorageCopy, problem + ": copying the layers instead (slower)", nil
		}
		return StorageOverlay, "overlayfs available", nil
	}
	return "", "", fmt.Errorf("--storage %q: use overlay or copy", requested)
}

// overlayProblem says why overlayfs cannot hold containers under stateRoot
// (which exists: the store made it), or "" if it can.
func overlayProblem(stateRoot string) string {
	if !kernelHasOverlay() {
		return "this kernel has no overlayfs"
	}
	var st unix.Statfs_t
	if err := unix.Statfs(stateRoot, &st); err != nil {
		return fmt.Sprintf("statfs %s: %v", stateRoot, err)
	}
	if st.Type == unix.OVERLAYFS_SUPER_MAGIC {
		return fmt.Sprintf("the state root %s is itself on overlayfs", stateRoot)
	}
	return ""
}

// kernelHasOverlay reports whether overlayfs is built in, loaded, or a
// module the first mount would load (crate check's probe).
func kernelHasOverlay() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	loaded, module, err := hostcheck.OverlayInKernel("/proc", "/lib/modules", unix.ByteSliceToString(u.Release[:]))
	return err != nil || loaded || module // when in doubt, let the mount say
}

// overlayHasVolatile reports whether overlayfs takes the "volatile" option
// (Linux 5.10); an older one refuses the mount with an option it does not know.
func overlayHasVolatile() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 10
}

// removeContainerDir removes a container's directory, its entries (the
// overlay's upper and work trees, the mount point, the layers file) at once:
// each unlink on the state root's file system takes a good fraction of a
// millisecond there, and the container's exit waits for all of them.
func removeContainerDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() { errs[i] = os.RemoveAll(filepath.Join(dir, e.Name())) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// What a container uses of the store, as `crate image prune` sees it: the
// image it was made from and that image's layers, for as long as the
// container's directory exists (while it runs, and once exited until crate
// rm or crate gc removes it), with an overlay or a copy alike. One file in
// the container's directory says which, so that a start writes one file
// more, not two: a line "image ID", then the layers' diff_ids, one a line.
const layersFile = "layers"

// imageLine starts the line of layersFile that names the image.
const imageLine = "image "

// InUse returns the images and layers the containers under stateRoot use.
func InUse(stateRoot string) (image.InUse, error) {
	var inUse image.InUse
	files, err := filepath.Glob(filepath.Join(containersDir(stateRoot), "*", layersFile))
	if err != nil {
		return inUse, err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // that container has just ended
		}
		if err != nil {
			return inUse, err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if id, ok := strings.CutPrefix(line, imageLine); ok {
				inUse.Images = append(inUse.Images, digest.Digest(id))
			} else if line != "" {
				inUse.Layers = append(inUse.Layers, digest.Digest(line))
			}
		}
	}
	return inUse, nil
}

// recordImage writes layersFile in the container's directory dir.
func recordImage(img *image.Image, dir string) error {
	var list strings.Builder
	fmt.Fprintln(&list, imageLine+img.ID)
	for _, l := range img.Layers {
		fmt.Fprintln(&list, l)
	}
	if err := os.WriteFile(filepath.Join(dir, layersFile), []byte(list.String()), 0o600); err != nil {
		return fmt.Errorf("record the container's image: %w", err)
	}
	return nil
}

// makeRoot makes the directories of the container's root filesystem in dir:
// the mount point, and either the overlay's upper and work directories (init
// mounts the overlay inside its own mount namespace) or a full copy.
func makeRoot(ctx context.Context, store *image.Store, img *image.Image, dir string, o spec.Options) error {
	if err := recordImage(img, dir); err != nil {
		return err
	}
	if err := os.Mkdir(o.Rootfs, 0o755); err != nil {
		return fmt.Errorf("create rootfs directory: %w", err)
	}
	if o.Overlay == nil {
		return store.CopyRootfs(ctx, img, o.Rootfs)
	}
	for _, dir := range []string{o.Overlay.Upper, o.Overlay.Work} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("create overlay directory: %w", err)
		}
	}
	return nil
}
