package image

import (
	"path"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// dockerSaveImage is one entry of a `docker save` manifest.json. Paths are relative to
// the archive's top.
type dockerSaveImage struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// readDockerSave reads a `docker save` archive: manifest.json, the config it names and
// the layer files, which are located but not read.
//
// `docker save a b` lists two images; crate takes the first, the one named first on
// docker's command line, as there is no flag yet to choose among them.
func (r *reader) readDockerSave(want platform) (*Source, error) {
	data, err := r.readFile("manifest.json", "manifest.json missing")
	if err != nil {
		return nil, err
	}
	var images []dockerSaveImage
	if err := r.decode("manifest.json", data, &images); err != nil {
		return nil, err
	}
	if len(images) == 0 {
		return nil, r.errorf(nil, "manifest.json lists no image")
	}
	img := images[0]

	configName, ok := cleanMember(img.Config)
	if !ok {
		return nil, r.errorf(nil, "manifest.json: config path %q is not inside the archive", img.Config)
	}
	data, err = r.readFile(configName, "config "+Printable(configName)+" missing from the archive")
	if err != nil {
		return nil, err
	}
	// The image id is the config's digest; where the file name carries it, they agree.
	configDigest := digest.FromBytes(data)
	if named := digestInName(configName); named != "" && named != configDigest {
		return nil, r.errorf(nil, "config %s: digest mismatch, content is %s", Printable(configName), configDigest)
	}
	var config ocispec.Image
	if err := r.decode(configName, data, &config); err != nil {
		return nil, err
	}
	if err := r.checkPlatform(config, want); err != nil {
		return nil, err
	}
	diffIDs := config.RootFS.DiffIDs
	if len(diffIDs) != len(img.Layers) {
		return nil, r.errorf(nil, "manifest.json lists %d layers but config %s has %d diff_ids", len(img.Layers), Printable(configName), len(diffIDs))
	}
	layers := make([]Layer, len(img.Layers))
	for i, p := range img.Layers {
		if layers[i], err = r.dockerLayer(i, p, diffIDs[i]); err != nil {
			return nil, err
		}
	}
	return &Source{
		Path:         r.path,
		Format:       FormatDockerSave,
		Config:       config,
		ConfigDigest: configDigest,
		Layers:       layers,
		Names:        img.RepoTags,
		Close:        r.files.close,
	}, nil
}

// dockerLayer locates layer i, listed at p in manifest.json.
func (r *reader) dockerLayer(i int, p string, diffID digest.Digest) (Layer, error) {
	name, ok := cleanMember(p)
	if !ok {
		return Layer{}, r.errorf(nil, "manifest.json: layer path %q is not inside the archive", p)
	}
	if err := diffID.Validate(); err != nil {
		return Layer{}, r.errorf(err, "layer %d: invalid diff_id %q", i+1, diffID)
	}
	rc, size, err := r.open(name, "layer "+Printable(name)+" missing from the archive")
	if err != nil {
		return Layer{}, err
	}
	comp, err := sniff(rc)
	rc.Close()
	if err != nil {
		return Layer{}, r.errorf(err, "read layer %s", Printable(name))
	}
	// Docker 25+ names layers blobs/sha256/<hex>, which is their digest. The legacy
	// <id>/layer.tar name is not a digest, but docker writes such a layer uncompressed,
	// and an uncompressed layer's digest is its diff_id. Only a compressed one, put
	// there by hand, has no digest the archive tells: hash it, the one case where a
	// layer is read here, because the store keys blobs by digest.
	dg := digestInName(name)
	switch {
	case dg != "":
	case comp == None:
		dg = diffID
	default:
		if dg, err = r.hashFile(name); err != nil {
			return Layer{}, err
		}
	}
	return Layer{Digest: dg, DiffID: diffID, Size: size, Compression: comp, Open: r.layerOpener(name)}, nil
}

// digestInName is the digest a content-addressed file name spells, if it spells one:
// blobs/<alg>/<hex> (OCI, Docker 25+) or <hex>.json (a legacy `docker save` config).
func digestInName(name string) digest.Digest {
	var dg digest.Digest
	dir, base := path.Split(name)
	switch {
	case strings.HasPrefix(dir, ocispec.ImageBlobsDir+"/") && strings.Count(dir, "/") == 2:
		dg = digest.NewDigestFromEncoded(digest.Algorithm(path.Base(dir)), base)
	case dir == "" && strings.HasSuffix(base, ".json"):
		dg = digest.NewDigestFromEncoded(digest.SHA256, strings.TrimSuffix(base, ".json"))
	}
	if dg.Validate() != nil {
		return ""
	}
	return dg
}

// hashFile computes the sha256 digest of the image file name.
func (r *reader) hashFile(name string) (digest.Digest, error) {
	rc, _, err := r.open(name, Printable(name)+" missing from the archive")
	if err != nil {
		return "", err
	}
	defer rc.Close()
	dg, err := digest.SHA256.FromReader(rc)
	if err != nil {
		return "", r.errorf(err, "read %s", Printable(name))
	}
	return dg, nil
}
