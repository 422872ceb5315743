package testutil

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is one entry of a tar stream built by a test.
type File struct {
	Name     string
	Mode     int64
	Typeflag byte // tar.TypeReg when 0
	Body     []byte
	Link     string // symlink target or hardlink name
	// Xattrs are extended attributes, carried as PAX records the way GNU
	// tar writes them (SCHILY.xattr.NAME).
	Xattrs map[string]string
}

// Tar returns files as an uncompressed tar stream.
func Tar(t testing.TB, files []File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		typ := f.Typeflag
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: f.Name, Mode: f.Mode, Typeflag: typ, Linkname: f.Link,
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		for k, v := range f.Xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(f.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Gzip compresses b.
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imageConfig is the config blob of an image of layers (uncompressed tars).
func imageConfig(t testing.TB, cfg ocispec.ImageConfig, layers [][]byte) []byte {
	t.Helper()
	img := ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   cfg,
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	for _, l := range layers {
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, digest.FromBytes(l))
	}
	b, err := json.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DockerSave writes, at path, an archive like `docker save NAME` makes of an
// image with the given config and layers (uncompressed tars, bottom first);
// the layers are stored gzip-compressed.
func DockerSave(t testing.TB, path, name string, cfg ocispec.ImageConfig, layers ...[]byte) {
	t.Helper()
	config := imageConfig(t, cfg, layers)
	configName := digest.FromBytes(config).Encoded() + ".json"
	files := []File{{Name: configName, Mode: 0o644, Body: config}}
	manifest := []map[string]any{{"Config": configName, "RepoTags": []string{name}}}
	var layerNames []string
	for _, l := range layers {
		n := digest.FromBytes(l).Encoded() + "/layer.tar"
		layerNames = append(layerNames, n)
		files = append(files, File{Name: n, Mode: 0o644, Body: Gzip(t, l)})
	}
	manifest[0]["Layers"] = layerNames
	m, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, File{Name: "manifest.json", Mode: 0o644, Body: m})
	if err := os.WriteFile(path, Tar(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
}

// OCILayout writes an OCI image layout directory at dir for one image with
// the given config and layers (uncompressed tars, stored gzip-compressed),
// tagged with ref.
func OCILayout(t testing.TB, dir, ref string, cfg ocispec.ImageConfig, layers ...[]byte) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(mediaType string, b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
	}
	manifest := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: put(ocispec.MediaTypeImageConfig, imageConfig(t, cfg, layers))}
	manifest.SchemaVersion = 2
	for _, l := range layers {
		manifest.Layers = append(manifest.Layers, put(ocispec.MediaTypeImageLayerGzip, Gzip(t, l)))
	}
	m, _ := json.Marshal(manifest)
	desc := put(ocispec.MediaTypeImageManifest, m)
	desc.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	desc.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
	index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{desc}}
	index.SchemaVersion = 2
	ix, _ := json.Marshal(index)
	for name, body := range map[string][]byte{"index.json": ix, "oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
