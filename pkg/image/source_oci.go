package image

import (
	"errors"
	"io"
	"io/fs"
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
	cands, err := r.manifests(index.Manifests, nil, 0)
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
	var names []string
	for _, c := range cands {
		if c.desc.Digest == chosen.desc.Digest {
			names = append(names, c.names...)
		}
	}
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

// manifests lists the image manifests descs lead to, descending into nested indexes.
// Names come from the top-level entries, which are the ones index.json names.
func (r *reader) manifests(descs []ocispec.Descriptor, names []string, depth int) ([]candidate, error) {
	var cands []candidate
	for _, d := range descs {
		names := names
		if depth == 0 {
			names = refNames(d.Annotations)
		}
		switch d.MediaType {
		case ocispec.MediaTypeImageManifest, dockerManifest:
			// BuildKit stores attestations as manifests for platform unknown/unknown.
			if d.Platform != nil && d.Platform.OS == "unknown" {
				continue
			}
			cands = append(cands, candidate{desc: d, names: names})
		case ocispec.MediaTypeImageIndex, dockerManifestList:
			if depth == maxIndexDepth {
				return nil, r.errorf(nil, "image indexes nested more than %d deep", maxIndexDepth)
			}
			var sub ocispec.Index
			if err := r.readBlob(d, &sub); err != nil {
				return nil, err
			}
			more, err := r.manifests(sub.Manifests, names, depth+1)
			if err != nil {
				return nil, err
			}
			cands = append(cands, more...)
		}
		// Anything else (signatures, artifacts) is not an image to run: skip it.
	}
	return cands, nil
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
	rc, size, err := r.files.open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", r.errorf(nil, "blob %s missing from the image", desc.Digest)
	}
	if err != nil {
		return nil, "", r.errorf(err, "open blob %s", desc.Digest)
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
	data, err := readMetadata(rc, desc.Size)
	if err != nil {
		return r.errorf(err, "read blob %s", desc.Digest)
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
