package image

import (
	"io"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types from Docker's registry format, which OCI layouts written by Docker and
// containerd still carry.
const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerConfig       = "application/vnd.docker.container.image.v1+json"
	dockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
	dockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// containerdName is where containerd (and so Docker 25+ `docker save`) keeps the full
// image name; org.opencontainers.image.ref.name then holds only the tag.
const containerdName = "io.containerd.image.name"

// maxIndexDepth bounds nested image indexes, which a hostile layout could make loop.
const maxIndexDepth = 4

// An index may list the same nested index many times: a few kilobytes of indexes that
// each list the next one 40 times, four deep, are 40^4 reads and 40^5 manifests when
// read naively. So each index is read once (indexWalk.seen), and these bound the rest,
// far above what real layouts hold (an index of some dozens of platforms and
// attestations; a layout of some hundreds of images):
const (
	// maxDescriptors bounds the descriptors the walk of the indexes meets: the entries
	// of each index read, and the images of a nested index each time it is listed.
	maxDescriptors = 1 << 14
	// maxMetadataTotal bounds the bytes of all the JSON files and blobs read whole
	// (oci-layout, index.json, the indexes, the manifest and the config).
	maxMetadataTotal = 4 * maxMetadata
)

// candidate is an image manifest reachable from index.json, with the names of the
// index.json entries that lead to it.
type candidate struct {
	desc  ocispec.Descriptor
	names []string
}

// readOCI reads an OCI image layout: oci-layout, index.json, then one manifest, its
// config and its layers' descriptors.
func (r *reader) readOCI(want platform) (*Source, error) {
	var layout ocispec.ImageLayout
	if err := r.readJSON(ocispec.ImageLayoutFile, &layout); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(layout.Version, "1.") {
		return nil, r.errorf(nil, "oci-layout: unsupported layout version %q", layout.Version)
	}
	var index ocispec.Index
	if err := r.readJSON(ocispec.ImageIndexFile, &index); err != nil {
		return nil, err
	}
	cands, err := r.manifests(index.Manifests)
	if err != nil {
		return nil, err
	}
	chosen, err := r.choose(cands, want)
	if err != nil {
		return nil, err
	}

	var manifest ocispec.Manifest
	if err := r.readBlob(chosen.desc, &manifest); err != nil {
		return nil, err
	}
	if mt := manifest.Config.MediaType; mt != ocispec.MediaTypeImageConfig && mt != dockerConfig {
		return nil, r.errorf(nil, "manifest %s is not a container image (config media type %q)", chosen.desc.Digest, mt)
	}
	var config ocispec.Image
	if err := r.readBlob(manifest.Config, &config); err != nil {
		return nil, err
	}
	if err := r.checkPlatform(config, want); err != nil {
		return nil, err
	}
	diffIDs := config.RootFS.DiffIDs
	if len(diffIDs) != len(manifest.Layers) {
		return nil, r.errorf(nil, "manifest has %d layers but config %s has %d diff_ids", len(manifest.Layers), manifest.Config.Digest, len(diffIDs))
	}
	layers := make([]Layer, len(manifest.Layers))
	for i, desc := range manifest.Layers {
		if layers[i], err = r.ociLayer(i, desc, diffIDs[i]); err != nil {
			return nil, err
		}
	}

	// The same manifest may be listed under several names (one per tag).
	names := slices.Clone(chosen.names)
	slices.Sort(names)
	return &Source{
		Path:         r.path,
		Format:       FormatOCILayout,
		Config:       config,
		ConfigDigest: manifest.Config.Digest,
		Layers:       layers,
		Names:        slices.Compact(names),
		Close:        r.files.close,
	}, nil
}

// manifests lists the image manifests index.json's entries top lead to, descending
// into nested indexes, each manifest once with the names of all the entries that lead
// to it. Names come from the top-level entries, which are the ones index.json names.
func (r *reader) manifests(top []ocispec.Descriptor) ([]candidate, error) {
	w := &indexWalk{r: r, seen: map[digest.Digest]*walked{}}
	var cands []candidate
	at := map[digest.Digest]int{} // where in cands
	for _, d := range top {
		found, err := w.list([]ocispec.Descriptor{d}, 0)
		if err != nil {
			return nil, err
		}
		names := refNames(d.Annotations)
		for _, m := range found.manifests {
			if i, ok := at[m.Digest]; ok {
				cands[i].names = append(cands[i].names, names...)
				continue
			}
			at[m.Digest] = len(cands)
			cands = append(cands, candidate{desc: m, names: slices.Clone(names)})
		}
	}
	return cands, nil
}

// indexWalk reads a layout's nested indexes, each once, and counts what they list.
type indexWalk struct {
	r           *reader
	seen        map[digest.Digest]*walked // the indexes read, by digest
	descriptors int
}

// walked is what a list of descriptors leads to.
type walked struct {
	manifests []ocispec.Descriptor // each once, in the order a depth-first walk meets them
	height    int                  // levels of indexes below the list
}

// list returns the manifests that descs, the entries of an index depth levels below
// index.json (0: index.json's own), lead to.
func (w *indexWalk) list(descs []ocispec.Descriptor, depth int) (*walked, error) {
	if err := w.count(len(descs)); err != nil {
		return nil, err
	}
	res := &walked{}
	have := map[digest.Digest]bool{}
	for _, d := range descs {
		var found []ocispec.Descriptor
		switch {
		case isManifest(d):
			found = []ocispec.Descriptor{d}
		case isIndex(d):
			sub, err := w.index(d, depth)
			if err != nil {
				return nil, err
			}
			// An index listed again costs no read, but its manifests are met again.
			if err := w.count(len(sub.manifests)); err != nil {
				return nil, err
			}
			found = sub.manifests
			res.height = max(res.height, sub.height)
		}
		// Anything else (signatures, artifacts) is not an image to run: skip it.
		for _, m := range found {
			if !have[m.Digest] {
				have[m.Digest] = true
				res.manifests = append(res.manifests, m)
			}
		}
	}
	return res, nil
}

// index returns what the index d, an entry depth levels below index.json, leads to. It
// reads d the first time only.
func (w *indexWalk) index(d ocispec.Descriptor, depth int) (*walked, error) {
	got, ok := w.seen[d.Digest]
	if depth == maxIndexDepth || ok && depth+got.height > maxIndexDepth {
		return nil, w.r.errorf(nil, "image indexes nested more than %d deep", maxIndexDepth)
	}
	if ok {
		return got, nil
	}
	var index ocispec.Index
	if err := w.r.readBlob(d, &index); err != nil {
		return nil, err
	}
	res, err := w.list(index.Manifests, depth+1)
	if err != nil {
		return nil, err
	}
	res.height++
	w.seen[d.Digest] = res
	return res, nil
}

// count adds n descriptors met, and refuses the layout past maxDescriptors.
func (w *indexWalk) count(n int) error {
	if w.descriptors += n; w.descriptors > maxDescriptors {
		return w.r.errorf(nil, "its indexes list more than %d descriptors; crate reads at most that many", maxDescriptors)
	}
	return nil
}

// isManifest reports whether d describes an image manifest to consider. BuildKit stores
// attestations as manifests for platform unknown/unknown: those are not.
func isManifest(d ocispec.Descriptor) bool {
	return (d.MediaType == ocispec.MediaTypeImageManifest || d.MediaType == dockerManifest) &&
		(d.Platform == nil || d.Platform.OS != "unknown")
}

func isIndex(d ocispec.Descriptor) bool {
	return d.MediaType == ocispec.MediaTypeImageIndex || d.MediaType == dockerManifestList
}

// refNames is the name an index.json entry gives its image, if any. A ref.name may be
// a bare tag ("latest"); containerd's annotation then has the full name.
func refNames(annotations map[string]string) []string {
	if name := annotations[containerdName]; name != "" {
		return []string{name}
	}
	if name := annotations[ocispec.AnnotationRefName]; name != "" {
		return []string{name}
	}
	return nil
}

// choose picks the first manifest for the wanted platform. An entry without a
// platform is taken when none says it matches: the index does not say what it is
// for, and its config is checked later. With several images for the same platform
// (a layout holding several images), the first one wins.
func (r *reader) choose(cands []candidate, want platform) (candidate, error) {
	if len(cands) == 0 {
		return candidate{}, r.errorf(nil, "index.json lists no image manifest")
	}
	for _, c := range cands {
		if p := c.desc.Platform; p != nil && want.matches(newPlatform(p.OS, p.Architecture, p.Variant)) {
			return c, nil
		}
	}
	for _, c := range cands {
		if c.desc.Platform == nil {
			return c, nil
		}
	}
	var has []string
	for _, c := range cands {
		p := c.desc.Platform
		has = append(has, newPlatform(p.OS, p.Architecture, p.Variant).String())
	}
	slices.Sort(has)
	return candidate{}, r.errorf(nil, "no manifest for platform %s (has %s); choose one with --platform",
		want, strings.Join(slices.Compact(has), ", "))
}

// ociLayer checks a layer descriptor and its blob, without reading the blob.
func (r *reader) ociLayer(i int, desc ocispec.Descriptor, diffID digest.Digest) (Layer, error) {
	switch mt := desc.MediaType; {
	case strings.Contains(mt, "nondistributable") || strings.Contains(mt, "foreign"):
		return Layer{}, r.errorf(nil, "layer %d is non-distributable (%s): its blob is not in the image", i+1, mt)
	case mt != ocispec.MediaTypeImageLayer && mt != ocispec.MediaTypeImageLayerGzip &&
		mt != ocispec.MediaTypeImageLayerZstd && mt != dockerLayer && mt != dockerLayerGzip:
		return Layer{}, r.errorf(nil, "layer %d: unsupported media type %q", i+1, mt)
	}
	if err := diffID.Validate(); err != nil {
		return Layer{}, r.errorf(err, "layer %d: invalid diff_id %q", i+1, diffID)
	}
	rc, name, err := r.openBlob(desc)
	if err != nil {
		return Layer{}, err
	}
	comp, err := sniff(rc)
	rc.Close()
	if err != nil {
		return Layer{}, r.errorf(err, "read blob %s", desc.Digest)
	}
	return Layer{Digest: desc.Digest, DiffID: diffID, Size: desc.Size, Compression: comp, Open: r.layerOpener(name)}, nil
}

// blobName is where a layout keeps the blob desc describes.
func (r *reader) blobName(desc ocispec.Descriptor) (string, error) {
	if err := desc.Digest.Validate(); err != nil {
		return "", r.errorf(err, "invalid digest %q", desc.Digest)
	}
	return ocispec.ImageBlobsDir + "/" + desc.Digest.Algorithm().String() + "/" + desc.Digest.Encoded(), nil
}

// openBlob opens the blob desc describes, making sure it is in the image with its
// declared size, and returns it with its file name.
func (r *reader) openBlob(desc ocispec.Descriptor) (io.ReadCloser, string, error) {
	name, err := r.blobName(desc)
	if err != nil {
		return nil, "", err
	}
	rc, size, err := r.open(name, "blob "+desc.Digest.String()+" missing from the image")
	if err != nil {
		return nil, "", err
	}
	if size != desc.Size {
		rc.Close()
		return nil, "", r.errorf(nil, "blob %s is %d bytes, its descriptor says %d", desc.Digest, size, desc.Size)
	}
	return rc, name, nil
}

// readBlob reads a small JSON blob (an index, a manifest, a config), verifies its
// digest and decodes it into v. Metadata is small, so this costs little, and a
// config's digest is the image id: it had better be right.
func (r *reader) readBlob(desc ocispec.Descriptor, v any) error {
	rc, _, err := r.openBlob(desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := r.readMetadata("blob "+desc.Digest.String(), rc, desc.Size)
	if err != nil {
		return err
	}
	if got := desc.Digest.Algorithm().FromBytes(data); got != desc.Digest {
		return r.errorf(nil, "blob %s: digest mismatch, content is %s", desc.Digest, got)
	}
	return r.decode("blob "+desc.Digest.String(), data, v)
}

// readJSON reads and decodes one of the layout's own files (oci-layout, index.json).
func (r *reader) readJSON(name string, v any) error {
	data, err := r.readFile(name, name+" missing")
	if err != nil {
		return err
	}
	return r.decode(name, data, v)
}
