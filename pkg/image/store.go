package image

// The layer store
//
// The store keeps every layer unpacked once, in a directory named by the layer's
// diff_id (the digest of its uncompressed tar), so images that share a base share its
// directories and a container's root filesystem is an overlay of them. Under the state
// root (default /var/lib/crate):
//
//	layers/sha256/<diffhex>/       one unpacked layer, whiteouts in overlayfs form
//	layers/sha256/<diffhex>.json   its size and file count (layerMeta)
//	layers/tmp/<blobhex>/          a layer being unpacked; renamed into place when done
//	layers/.locks/<blobhex>.lock   flock held while a blob is unpacked; Prune removes them
//	layers/.lock                   flock: shared by Import and Lease, exclusive for Prune
//	blobs/sha256/<blobhex>         the diff_id a blob unpacked to (one line)
//	images/<idhex>.json            an image record (Image); idhex is the config digest
//	images/.lock                   flock held while image records change
//
// A layer directory appears by one rename, only once it is complete and verified, so a
// crash mid-unpack leaves at most a directory in layers/tmp, which the next unpack of the
// same blob removes. The blob index is written after that rename, so an entry always
// points at a complete layer. It lets a re-import, and a rootfs archive whose diff_id is
// unknown until it has been unpacked, be recognised by the blob digest alone.
//
// Every small file is written whole to a temporary file and renamed over the old one:
// a reader sees the old or the new content, never half of either.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNotFound is returned (wrapped) when a reference names no image in the store.
var ErrNotFound = errors.New("image not found")

// ErrAmbiguous is returned (wrapped) when an id prefix matches more than one image.
var ErrAmbiguous = errors.New("ambiguous image id prefix")

// Image is the store's record of an imported image.
type Image struct {
	// ID is the digest of the image config; for a rootfs archive, of the archive.
	ID digest.Digest `json:"id"`
	// Names are NAME:TAG references, each naming this image only.
	Names []string `json:"names"`
	// Layers are diff_ids, bottom first; each is a directory of the store (LayerDir).
	Layers []digest.Digest `json:"layers"`
	Config ocispec.Image   `json:"config"`
	Format Format          `json:"format"`
	// Source is the file or directory the image was first imported from.
	Source string `json:"source"`
	// Imported is when the image was first imported; importing it again keeps it.
	Imported time.Time `json:"imported"`
	// Size is the bytes of file content of all layers, as unpacked.
	Size int64 `json:"size"`
}

// InUse is what containers use. The store does not know about containers: the caller
// tells it.
type InUse struct {
	// Images are the ids of the images containers were made from.
	Images []digest.Digest
	// Layers are the diff_ids of the layers containers stand on or were copied from.
	Layers []digest.Digest
}

// PruneOptions say what Prune removes.
type PruneOptions struct {
	// All removes every image no container uses; otherwise only the images without a
	// name (docker's dangling images: each run of an image file leaves one).
	All bool
	// InUse says what containers use. Prune calls it once it holds the store's lock
	// alone, so that no container (see Lease) starts using an image between the answer
	// and the removal. Nil: no container uses anything.
	InUse func() (InUse, error)
}

// Pruned is what Prune removed.
type Pruned struct {
	Images []*Image
	Layers []digest.Digest
	// Bytes is the file content the removed layers held.
	Bytes int64
}

// DiskUsage is what the store holds, in bytes of file content, and what Prune would
// free of it.
type DiskUsage struct {
	// Images counts the images, ImagesInUse those containers use.
	Images, ImagesInUse int
	// ImageBytes is the content of the layers images use, each layer counted once;
	// ImageReclaimable is what Prune with All would free of it.
	ImageBytes, ImageReclaimable int64
	// Layers counts the layers, LayersInUse those an image or a container uses.
	Layers, LayersInUse int
	// LayerBytes is the content of every layer; LayerReclaimable that of the layers no
	// image and no container uses (as crate image rm leaves them), which any Prune frees.
	LayerBytes, LayerReclaimable int64
}

// prunableImages returns the images Prune removes: those no container uses, and
// without a name unless all.
func prunableImages(images []*Image, inUse InUse, all bool) []*Image {
	var doomed []*Image
	for _, img := range images {
		if (all || len(img.Names) == 0) && !slices.Contains(inUse.Images, img.ID) {
			doomed = append(doomed, img)
		}
	}
	return doomed
}

// unusedLayers returns the layers, among layers, that no image of images and no
// container uses.
func unusedLayers(images []*Image, layers []digest.Digest, inUse InUse) []digest.Digest {
	used := map[digest.Digest]bool{}
	for _, l := range inUse.Layers {
		used[l] = true
	}
	for _, img := range images {
		for _, l := range img.Layers {
			used[l] = true
		}
	}
	var unused []digest.Digest
	for _, l := range layers {
		if !used[l] {
			unused = append(unused, l)
		}
	}
	return unused
}

// minIDPrefix is the shortest id prefix Get accepts: shorter ones match by accident.
const minIDPrefix = 4

// defaultTag is the tag of a name given without one, as docker does.
const defaultTag = "latest"

// NameError is an image name crate refuses: not a NAME[:TAG] reference, or one that
// would pass for an image id.
type NameError struct {
	Name   string
	Reason string
	// FromImage is set when the image file carries the name (docker save's RepoTags, an
	// OCI ref.name annotation) rather than the caller giving it: the caller can then
	// import the image under a name of its own instead.
	FromImage bool
}

// Error quotes the name: it may come from an image, and hold bytes that a terminal
// would take as commands.
func (e *NameError) Error() string {
	return fmt.Sprintf("image name %q: %s", e.Name, e.Reason)
}

// normalizeName checks a NAME[:TAG] reference against the grammar of docker's
// references (reference.go) and adds ":latest" when it has no tag. A valid name keeps
// the form it was given ("busybox:latest", not "docker.io/library/busybox:latest"): it
// is what the operator typed or will type.
func normalizeName(name string) (string, error) {
	if name == "" {
		return "", &NameError{Name: name, Reason: "empty name"}
	}
	repo, tagged, problem := parseName(name)
	switch {
	case len(name) == 64 && isHex(name), len(repo) == 64 && isHex(repo):
		// Such a name would be read as the id of another image; docker refuses it too.
		return "", &NameError{Name: name, Reason: "64 hexadecimal digits are an image id, not a name"}
	case problem != "":
		return "", &NameError{Name: name, Reason: problem}
	case repo == string(digest.SHA256):
		return "", &NameError{Name: name, Reason: "looks like an image id"}
	case tagged:
		return name, nil
	}
	return name + ":" + defaultTag, nil
}

// isHex reports whether s is lowercase hexadecimal, as digests are written.
func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// findImage resolves ref among images. A full id, "sha256:<hex>" or the 64 hex digits
// alone, is looked up among ids only, so that no name can stand for an image's id.
// Anything else is a name (":latest" added if no tag) or a unique prefix of an id's hex
// (at least minIDPrefix characters, with or without "sha256:"). A name wins over the id
// prefix of another image, as in docker; that image comes back as shadowed, for the
// caller to say which one was taken.
func findImage(images []*Image, ref string) (found, shadowed *Image, err error) {
	hexRef := strings.TrimPrefix(ref, string(digest.SHA256)+":")
	if len(hexRef) == 64 && isHex(hexRef) {
		for _, img := range images {
			if img.ID.Encoded() == hexRef {
				return img, nil, nil
			}
		}
		return nil, nil, fmt.Errorf("image %q: %w", ref, ErrNotFound)
	}
	byPrefix, err := findIDPrefix(images, ref, hexRef)
	if named := findName(images, ref); named != nil {
		if byPrefix == named {
			byPrefix = nil
		}
		return named, byPrefix, nil
	}
	return byPrefix, nil, err
}

// findName returns the image named ref, or nil.
func findName(images []*Image, ref string) *Image {
	name, err := normalizeName(ref)
	if err != nil {
		return nil
	}
	for _, img := range images {
		if slices.Contains(img.Names, name) {
			return img
		}
	}
	return nil
}

// findIDPrefix returns the one image whose id's hex starts with hexPrefix (ref less any
// "sha256:").
func findIDPrefix(images []*Image, ref, hexPrefix string) (*Image, error) {
	if len(hexPrefix) < minIDPrefix || !isHex(hexPrefix) {
		return nil, fmt.Errorf("image %q: %w", ref, ErrNotFound)
	}
	var found *Image
	for _, img := range images {
		if !strings.HasPrefix(img.ID.Encoded(), hexPrefix) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("image %q: %w: matches %s and %s", ref, ErrAmbiguous, found.ID, img.ID)
		}
		found = img
	}
	if found == nil {
		return nil, fmt.Errorf("image %q: %w", ref, ErrNotFound)
	}
	return found, nil
}
