package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// DefaultRoot is the state root of a store when none is given.
const DefaultRoot = "/var/lib/crate"

// Store keeps unpacked layers and image records under a state root; see the layout at
// the top of store.go. Several crate processes may use one root at the same time: they
// agree through flock(2) on the lock files of that layout.
type Store struct {
	log  hclog.Logger
	root string

	// Progress, when it is a terminal, shows a progress bar for each layer whose unpack
	// lasts more than about a second. Anything else (a file, a pipe) gets no bar: it
	// would fill a log with carriage returns.
	Progress io.Writer

	// MinFree is the free space an import leaves on the state root's file system
	// (OpenStore sets DefaultReserve): unpacking a layer that would go below it stops
	// with a *SpaceError, and removes what it wrote.
	MinFree Reserve
}

// OpenStore opens the store under root (DefaultRoot if empty), creating its directories.
func OpenStore(log hclog.Logger, root string) (*Store, error) {
	if root == "" {
		root = DefaultRoot
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Store{log: log, root: root, MinFree: DefaultReserve}
	// 0700 all the way: layers hold the images' setuid binaries and device nodes with
	// their real owners, which no user of the host should be able to reach.
	for _, dir := range []string{
		s.layersDir(), filepath.Join(root, "layers", "tmp"), filepath.Join(root, "layers", ".locks"),
		filepath.Join(root, "blobs", string(digest.SHA256)), s.imagesDir(),
	} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	return s, nil
}

// LayerDir is the directory a layer is unpacked in, usable as an overlay lowerdir. It
// exists only once the layer has been imported (and until Prune removes it).
func (s *Store) LayerDir(diffID digest.Digest) string {
	return filepath.Join(s.layersDir(), diffID.Encoded())
}

func (s *Store) layersDir() string { return filepath.Join(s.root, "layers", string(digest.SHA256)) }
func (s *Store) imagesDir() string { return filepath.Join(s.root, "images") }

func (s *Store) blobIndexPath(blob digest.Digest) string {
	return filepath.Join(s.root, "blobs", string(digest.SHA256), blob.Encoded())
}

func (s *Store) layerMetaPath(diffID digest.Digest) string {
	return s.LayerDir(diffID) + ".json"
}

func (s *Store) recordPath(id digest.Digest) string {
	return filepath.Join(s.imagesDir(), id.Encoded()+".json")
}

// layerMeta is what the store remembers about a layer beside its directory.
type layerMeta struct {
	DiffID digest.Digest `json:"diff_id"`
	Size   int64         `json:"size"` // bytes of file content
	Files  int           `json:"files"`
}

// Import unpacks the layers of src that the store does not have yet, each exactly once
// even when several crate processes import at the same time, and records the image
// under names (src.Names if none are given; a name without a tag gets ":latest"; see
// ImportNames). A name that belonged to another image moves to this one. Importing an
// image the store has already unpacks nothing and adds the names.
func (s *Store) Import(ctx context.Context, src *Source, names ...string) (*Image, error) {
	clean, err := ImportNames(src, names...)
	if err != nil {
		return nil, err
	}
	if err := checkSHA256(src.ConfigDigest); err != nil {
		return nil, fmt.Errorf("import %s: config digest: %w", src.Path, err)
	}
	if len(src.Layers) == 0 {
		return nil, fmt.Errorf("import %s: the image has no layers", src.Path)
	}

	// Prune must not remove a layer between its unpacking and the record that starts
	// using it. A caller may hold a lease of its own already: flock grants a shared
	// lock beside other shared ones even while Prune waits for its exclusive one, so
	// the two leases cannot deadlock with it.
	release, err := s.Lease()
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", src.Path, err)
	}
	defer release()

	img := &Image{
		ID:       src.ConfigDigest,
		Names:    clean,
		Config:   src.Config,
		Format:   src.Format,
		Source:   src.Path,
		Imported: time.Now().UTC(),
	}
	for _, l := range src.Layers {
		meta, err := s.ensureLayer(ctx, l)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", src.Path, err)
		}
		img.Layers = append(img.Layers, meta.DiffID)
		img.Size += meta.Size
	}
	if want := img.Config.RootFS.DiffIDs; len(want) > 0 && !slices.Equal(want, img.Layers) {
		return nil, fmt.Errorf("import %s: the config lists layers %v, the layers are %v", src.Path, want, img.Layers)
	}
	if img.Config.RootFS.Type == "" {
		// A rootfs archive has no config; give it the layer list a config would have.
		img.Config.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: img.Layers}
	}
	if err := s.record(img); err != nil {
		return nil, fmt.Errorf("import %s: %w", src.Path, err)
	}
	return img, nil
}

// Lease keeps every image and layer of the store from Prune until release is called.
// A container takes one before it looks its image up or imports it, and releases it
// once its own directory names the image and the layers, which is where Prune's InUse
// finds them: in between, nothing else says that they are in use. Leases are the
// shared hold of layers/.lock, which Prune takes alone.
func (s *Store) Lease() (release func(), err error) {
	return flock(filepath.Join(s.root, "layers", ".lock"), unix.LOCK_SH)
}

// ImportNames returns the names Import records src under: names, or src.Names if none
// are given, each with ":latest" if it has no tag, without repeats. A caller may call it
// first to refuse bad input before it opens the store.
//
// A name that is no NAME[:TAG] is a *NameError, even when it is one of src.Names: docker
// load refuses such an image too, and dropping the name would import the image under
// fewer names than it says, silently. The caller can give names of its own instead.
func ImportNames(src *Source, names ...string) ([]string, error) {
	fromImage := len(names) == 0
	if fromImage {
		names = src.Names
	}
	var clean []string
	for _, n := range names {
		n, err := normalizeName(n)
		if err != nil {
			var ne *NameError
			if errors.As(err, &ne) {
				ne.FromImage = fromImage
			}
			return nil, fmt.Errorf("import %s: %w", src.Path, err)
		}
		if !slices.Contains(clean, n) {
			clean = append(clean, n)
		}
	}
	return clean, nil
}

// record writes img's record, merged with the one the store may have for the same id
// (names added, first import kept), and takes img's names away from other images.
//
// Every record that changes is written whole to a temporary file first, and only when
// all are written are they renamed into place: a full disk stops the change before any
// of it shows, rather than after a name has left one image and before it reached the
// other. The renames need no space. img's goes first, so that a crash between two
// renames leaves a name on two images, not on none.
func (s *Store) record(img *Image) error {
	images, unlock, err := s.lockImages(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	var changed []*Image
	for _, other := range images {
		if other.ID == img.ID {
			img.Names = append(other.Names, img.Names...)
			img.Imported, img.Source = other.Imported, other.Source
			continue
		}
		kept := slices.DeleteFunc(slices.Clone(other.Names), func(n string) bool { return slices.Contains(img.Names, n) })
		if len(kept) != len(other.Names) {
			other.Names = kept
			changed = append(changed, other)
		}
	}
	slices.Sort(img.Names)
	img.Names = slices.Compact(img.Names)

	var staged []stagedFile
	defer func() {
		for _, f := range staged {
			f.discard()
		}
	}()
	for _, r := range append([]*Image{img}, changed...) {
		b, err := encodeRecord(r)
		if err != nil {
			return err
		}
		f, err := stageFile(s.recordPath(r.ID), b)
		if err != nil {
			return err
		}
		staged = append(staged, f)
	}
	for _, f := range staged {
		if err := f.commit(); err != nil {
			return err
		}
	}
	return nil
}

// writeRecord writes img's record alone.
func (s *Store) writeRecord(img *Image) error {
	b, err := encodeRecord(img)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.recordPath(img.ID), b)
}

func encodeRecord(img *Image) ([]byte, error) {
	b, err := json.MarshalIndent(img, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("encode image record %s: %w", img.ID, err)
	}
	return append(b, '\n'), nil
}

// readImages reads every record; the caller holds images/.lock (see lockImages).
func (s *Store) readImages() ([]*Image, error) {
	ents, err := os.ReadDir(s.imagesDir())
	if err != nil {
		return nil, fmt.Errorf("read image records: %w", err)
	}
	var images []*Image
	for _, e := range ents {
		hex, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || len(hex) != 64 || !isHex(hex) {
			continue // the lock, a temporary file
		}
		p := filepath.Join(s.imagesDir(), e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read image record: %w", err)
		}
		img := new(Image)
		if err := json.Unmarshal(b, img); err != nil {
			return nil, fmt.Errorf("decode image record %s: %w", p, err)
		}
		images = append(images, img)
	}
	return images, nil
}

// readImagesShared reads the records under a shared lock: with a name moving from one
// image to another, a lock-free reader could see it on both.
func (s *Store) readImagesShared() ([]*Image, error) {
	images, unlock, err := s.lockImages(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	unlock()
	return images, nil
}

// lockImages takes images/.lock (LOCK_SH to read, LOCK_EX to change records) and
// reads every record. The caller calls unlock.
func (s *Store) lockImages(how int) (images []*Image, unlock func(), err error) {
	unlock, err = flock(filepath.Join(s.imagesDir(), ".lock"), how)
	if err != nil {
		return nil, nil, err
	}
	if images, err = s.readImages(); err != nil {
		unlock()
		return nil, nil, err
	}
	return images, unlock, nil
}

// Get finds an image by its full id ("sha256:<hex>" or the hex alone), NAME[:TAG] (tag
// latest by default), or a unique prefix of the id's hex of at least 4 characters; a
// name wins over another image's id prefix, with a warning in the log. An unknown
// reference gives an error that errors.Is ErrNotFound; a prefix of several ids,
// ErrAmbiguous.
func (s *Store) Get(ref string) (*Image, error) {
	images, err := s.readImagesShared()
	if err != nil {
		return nil, err
	}
	return s.find(images, ref)
}

// find resolves ref with findImage and warns when a name took the place of an id prefix:
// the operator may have copied the short id from crate image ls.
func (s *Store) find(images []*Image, ref string) (*Image, error) {
	img, shadowed, err := findImage(images, ref)
	if shadowed != nil {
		s.log.Warn(fmt.Sprintf("%q names image %s and is the start of image %s's id: taking the named image; give sha256:%s for the other",
			ref, img.ID, shadowed.ID, ref))
	}
	return img, err
}

// List returns every image, the most recently imported first.
func (s *Store) List() ([]*Image, error) {
	images, err := s.readImagesShared()
	if err != nil {
		return nil, err
	}
	slices.SortFunc(images, func(a, b *Image) int {
		if c := b.Imported.Compare(a.Imported); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	return images, nil
}

// Remove drops the record of the image ref names (with all its names) and returns it.
// Its layers stay until Prune: another image, or a running container, may use them.
func (s *Store) Remove(ref string) (*Image, error) {
	images, unlock, err := s.lockImages(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	img, err := s.find(images, ref)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(s.recordPath(img.ID)); err != nil {
		return nil, fmt.Errorf("remove image %s: %w", img.ID, err)
	}
	return img, nil
}

// Prune removes the images opts says (see PruneOptions), then the layers that no image
// left and no container uses, the blob index entries of layers that are gone, and what
// crashed imports left in layers/tmp. It returns what it removed, as far as it got.
func (s *Store) Prune(opts PruneOptions) (Pruned, error) {
	var pruned Pruned
	// Exclusive: no import is between unpacking a layer and recording its image, and no
	// container between finding its image and naming it in its own directory (Lease).
	unlockLayers, err := flock(filepath.Join(s.root, "layers", ".lock"), unix.LOCK_EX)
	if err != nil {
		return pruned, err
	}
	defer unlockLayers()
	var inUse InUse
	if opts.InUse != nil {
		if inUse, err = opts.InUse(); err != nil {
			return pruned, fmt.Errorf("prune: %w", err)
		}
	}
	if pruned.Images, err = s.pruneImages(inUse, opts.All); err != nil {
		return pruned, err
	}
	images, err := s.readImagesShared()
	if err != nil {
		return pruned, err
	}

	// Leftovers first: with the exclusive lock held nobody is unpacking, nor holds or
	// waits for a blob's lock (Import takes those under its shared hold), so the lock
	// files, one per blob ever unpacked, can go too.
	tmpDir := filepath.Join(s.root, "layers", "tmp")
	for _, dir := range []string{tmpDir, filepath.Join(s.root, "layers", ".locks")} {
		if err := removeChildren(dir); err != nil {
			return pruned, err
		}
	}
	layers, err := s.layerDirs()
	if err != nil {
		return pruned, fmt.Errorf("prune: %w", err)
	}
	for _, diffID := range unusedLayers(images, layers, inUse) {
		size, err := s.layerSize(diffID)
		if err != nil {
			return pruned, fmt.Errorf("prune: %w", err)
		}
		// Rename first: the layer disappears at once, whole, and a crash in the middle
		// of the removal leaves only layers/tmp to clean.
		doomed := filepath.Join(tmpDir, "prune-"+diffID.Encoded())
		if err := os.Rename(s.LayerDir(diffID), doomed); err != nil {
			return pruned, fmt.Errorf("prune: %w", err)
		}
		if err := os.RemoveAll(doomed); err != nil {
			return pruned, fmt.Errorf("prune: %w", err)
		}
		if err := os.Remove(s.layerMetaPath(diffID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return pruned, fmt.Errorf("prune: %w", err)
		}
		pruned.Layers = append(pruned.Layers, diffID)
		pruned.Bytes += size
		s.log.Info("layer removed", "diff_id", diffID, "bytes", size)
	}
	if err := s.pruneLayerMeta(); err != nil {
		return pruned, err
	}
	if err := s.pruneBlobIndex(); err != nil {
		return pruned, err
	}
	return pruned, nil
}

// DiskUsage says what the store holds and what Prune would free of it, given what
// containers use. It removes nothing, so it takes no lock against imports: what it
// says may be a moment old.
func (s *Store) DiskUsage(inUse InUse) (DiskUsage, error) {
	images, err := s.readImagesShared()
	if err != nil {
		return DiskUsage{}, err
	}
	layers, err := s.layerDirs()
	if err != nil {
		return DiskUsage{}, fmt.Errorf("read layers: %w", err)
	}
	size := map[digest.Digest]int64{}
	for _, l := range layers {
		if size[l], err = s.layerSize(l); err != nil {
			return DiskUsage{}, fmt.Errorf("layer size: %w", err)
		}
	}
	du := DiskUsage{Images: len(images), Layers: len(layers)}
	ofImages := map[digest.Digest]bool{}
	for _, img := range images {
		if slices.Contains(inUse.Images, img.ID) {
			du.ImagesInUse++
		}
		for _, l := range img.Layers {
			if !ofImages[l] {
				ofImages[l] = true
				du.ImageBytes += size[l]
			}
		}
	}
	orphans := unusedLayers(images, layers, inUse)
	for _, l := range orphans {
		du.LayerReclaimable += size[l]
	}
	doomed := prunableImages(images, inUse, true)
	kept := slices.DeleteFunc(slices.Clone(images), func(img *Image) bool { return slices.Contains(doomed, img) })
	for _, l := range unusedLayers(kept, layers, inUse) {
		if ofImages[l] {
			du.ImageReclaimable += size[l]
		}
	}
	for _, l := range layers {
		du.LayerBytes += size[l]
	}
	du.LayersInUse = len(layers) - len(orphans)
	return du, nil
}

// pruneImages removes the records of the images prunableImages picks.
func (s *Store) pruneImages(inUse InUse, all bool) ([]*Image, error) {
	images, unlock, err := s.lockImages(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var removed []*Image
	for _, img := range prunableImages(images, inUse, all) {
		if err := os.Remove(s.recordPath(img.ID)); err != nil {
			return removed, fmt.Errorf("prune: remove image %s: %w", img.ID, err)
		}
		removed = append(removed, img)
		s.log.Info("image removed", "image_id", img.ID, "names", img.Names, "source", img.Source)
	}
	return removed, nil
}

// layerDirs lists the layers the store holds.
func (s *Store) layerDirs() ([]digest.Digest, error) {
	ents, err := os.ReadDir(s.layersDir())
	if err != nil {
		return nil, err
	}
	var layers []digest.Digest
	for _, e := range ents {
		if e.IsDir() && len(e.Name()) == 64 && isHex(e.Name()) {
			layers = append(layers, digest.NewDigestFromEncoded(digest.SHA256, e.Name()))
		}
	}
	return layers, nil
}

// pruneLayerMeta removes the descriptions left without their layer (a crash, or a
// full disk, before the rename that puts a layer in place).
func (s *Store) pruneLayerMeta() error {
	metas, err := filepath.Glob(filepath.Join(s.layersDir(), "*.json"))
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	for _, m := range metas {
		if _, err := os.Lstat(strings.TrimSuffix(m, ".json")); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("prune: %w", err)
		}
	}
	return nil
}

// pruneBlobIndex removes the entries that point at a layer the store no longer has.
func (s *Store) pruneBlobIndex() error {
	dir := filepath.Join(s.root, "blobs", string(digest.SHA256))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	for _, e := range ents {
		if !isHex(e.Name()) {
			continue
		}
		blob := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if diffID, ok := s.blobDiffID(blob); ok && s.hasLayer(diffID) {
			continue
		}
		if err := os.Remove(s.blobIndexPath(blob)); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	return nil
}

// layerSize is the content size of a layer: from its description, or counted.
func (s *Store) layerSize(diffID digest.Digest) (int64, error) {
	if meta, err := s.readLayerMeta(diffID); err == nil {
		return meta.Size, nil
	}
	var size int64
	err := filepath.WalkDir(s.LayerDir(diffID), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			size += fi.Size()
		}
		return err
	})
	return size, err
}

func (s *Store) readLayerMeta(diffID digest.Digest) (layerMeta, error) {
	var meta layerMeta
	b, err := os.ReadFile(s.layerMetaPath(diffID))
	if err != nil {
		return meta, fmt.Errorf("read layer description: %w", err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return meta, fmt.Errorf("decode layer description %s: %w", s.layerMetaPath(diffID), err)
	}
	return meta, nil
}

// hasLayer reports whether the layer's directory exists. It is enough: a layer
// directory appears by a rename, complete.
func (s *Store) hasLayer(diffID digest.Digest) bool {
	fi, err := os.Lstat(s.LayerDir(diffID))
	return err == nil && fi.IsDir()
}

// blobDiffID looks blob up in the blob index.
func (s *Store) blobDiffID(blob digest.Digest) (digest.Digest, bool) {
	b, err := os.ReadFile(s.blobIndexPath(blob))
	if err != nil {
		return "", false
	}
	d := digest.Digest(strings.TrimSpace(string(b)))
	if checkSHA256(d) != nil {
		return "", false
	}
	return d, true
}

// checkSHA256 accepts a well-formed sha256 digest, the only kind the layout names.
func checkSHA256(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %s: only sha256 is supported", d)
	}
	return nil
}

// flock opens (creating) the lock file path and takes the lock how (LOCK_SH or
// LOCK_EX), waiting for it. The returned function releases it. flock locks belong to
// the open file, so two Stores of one process exclude each other as two processes do,
// and a killed process releases its locks with its files.
func flock(path string, how int) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// writeFileAtomic replaces path with data: written to a temporary file in the same
// directory, synced, then renamed over path, so no reader (and no crash) ever sees half.
func writeFileAtomic(path string, data []byte) error {
	f, err := stageFile(path, data)
	if err != nil {
		return err
	}
	if err := f.commit(); err != nil {
		f.discard()
		return err
	}
	return nil
}

// stagedFile is the new content of path, written whole and synced to tmp beside it,
// not yet renamed over it.
type stagedFile struct{ tmp, path string }

// stageFile writes data to a temporary file in path's directory; on failure it
// leaves nothing.
func stageFile(path string, data []byte) (stagedFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return stagedFile{}, fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return stagedFile{}, fmt.Errorf("write %s: %w", path, err)
	}
	return stagedFile{tmp: f.Name(), path: path}, nil
}

// commit renames the staged file over its path.
func (f stagedFile) commit() error {
	if err := os.Rename(f.tmp, f.path); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// discard removes the staged file, if it was not committed.
func (f stagedFile) discard() { os.Remove(f.tmp) }

// removeChildren empties dir.
func removeChildren(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
	}
	return nil
}
