package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// addBlob stores data as a content-addressed blob and returns its descriptor.
func (f imageFiles) addBlob(mediaType string, data []byte) ocispec.Descriptor {
	dg := digest.FromBytes(data)
	f["blobs/sha256/"+dg.Encoded()] = data
	return ocispec.Descriptor{MediaType: mediaType, Digest: dg, Size: int64(len(data))}
}

var layerMediaTypes = map[Compression]string{
	None: ocispec.MediaTypeImageLayer,
	Gzip: ocispec.MediaTypeImageLayerGzip,
	Zstd: ocispec.MediaTypeImageLayerZstd,
}

// addImage stores an image built for plat and returns its manifest's descriptor, with
// the platform set as an index lists it.
func (f imageFiles) addImage(t *testing.T, plat string, layers ...testLayer) ocispec.Descriptor {
	t.Helper()
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    f.addBlob(ocispec.MediaTypeImageConfig, mustJSON(t, testConfig(plat, layers...))),
	}
	m.SchemaVersion = 2
	for _, l := range layers {
		c, _ := sniff(bytes.NewReader(l.blob))
		m.Layers = append(m.Layers, f.addBlob(layerMediaTypes[c], l.blob))
	}
	d := f.addBlob(ocispec.MediaTypeImageManifest, mustJSON(t, m))
	p, _ := parsePlatform(plat)
	d.Platform = &ocispec.Platform{OS: p.os, Architecture: p.arch, Variant: p.variant}
	return d
}

// manifest decodes the manifest d describes.
func (f imageFiles) manifest(t *testing.T, d ocispec.Descriptor) ocispec.Manifest {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(f["blobs/sha256/"+d.Digest.Encoded()], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// setIndex writes oci-layout and an index.json listing descs.
func (f imageFiles) setIndex(t *testing.T, descs ...ocispec.Descriptor) {
	t.Helper()
	f[ocispec.ImageLayoutFile] = mustJSON(t, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: descs}
	index.SchemaVersion = 2
	f[ocispec.ImageIndexFile] = mustJSON(t, index)
}

func named(d ocispec.Descriptor, annotations ...string) ocispec.Descriptor {
	d.Annotations = map[string]string{}
	for i := 0; i+1 < len(annotations); i += 2 {
		d.Annotations[annotations[i]] = annotations[i+1]
	}
	return d
}

// otherPlatform is a platform that is not the host's.
func otherPlatform() string {
	if hostPlatform().arch == "arm64" {
		return "linux/s390x"
	}
	return "linux/arm64/v8"
}

// requireChosen checks src is the image testConfig made for plat.
func requireChosen(t *testing.T, src *Source, plat string) {
	t.Helper()
	if src.Format != FormatOCILayout {
		t.Errorf("Format = %q, want oci-layout", src.Format)
	}
	if !slices.Contains(src.Config.Config.Env, "PLATFORM="+plat) {
		t.Errorf("chose the image with Env %q, want the one for %s", src.Config.Config.Env, plat)
	}
	if want := testConfig(plat).Config; src.Config.Config.User != want.User || src.Config.Config.WorkingDir != want.WorkingDir ||
		!slices.Equal(src.Config.Config.Entrypoint, want.Entrypoint) || !slices.Equal(src.Config.Config.Cmd, want.Cmd) {
		t.Errorf("Config = %+v, want %+v", src.Config.Config, want)
	}
}

func TestOpenSourceOCIPlatforms(t *testing.T) {
	host, other := hostPlatform().String(), otherPlatform()
	gz := newLayer(t, Gzip, file("a", "a"))
	zst := newLayer(t, Zstd, file("b", "b"))
	f := imageFiles{}
	hostImage := f.addImage(t, host, gz, zst)
	f.setIndex(t,
		named(hostImage, ocispec.AnnotationRefName, "demo:1.0"),
		named(f.addImage(t, other, zst), ocispec.AnnotationRefName, "demo:1.0"))

	layouts := map[string]func(t *testing.T) string{
		"dir":         f.asDir,
		"tar":         func(t *testing.T) string { return f.asTar(t, "") },
		"tar with ./": func(t *testing.T) string { return f.asTar(t, "./") },
	}
	for kind, path := range layouts {
		t.Run(kind+"/default", func(t *testing.T) {
			src := openOK(t, path(t), "")
			requireChosen(t, src, host)
			requireLayers(t, src, gz, zst)
			if src.Layers[0].Compression != Gzip || src.Layers[1].Compression != Zstd {
				t.Errorf("compressions %s, %s; want gzip, zstd", src.Layers[0].Compression, src.Layers[1].Compression)
			}
			m := f.manifest(t, hostImage)
			if src.ConfigDigest != m.Config.Digest || src.Layers[0].Digest != m.Layers[0].Digest {
				t.Errorf("ConfigDigest %s, layer digest %s; want the manifest's %s, %s", src.ConfigDigest, src.Layers[0].Digest, m.Config.Digest, m.Layers[0].Digest)
			}
			if !slices.Equal(src.Names, []string{"demo:1.0"}) {
				t.Errorf("Names = %q, want demo:1.0", src.Names)
			}
		})
		t.Run(kind+"/explicit", func(t *testing.T) {
			src := openOK(t, path(t), other)
			requireChosen(t, src, other)
			requireLayers(t, src, zst)
		})
		t.Run(kind+"/no match", func(t *testing.T) {
			p := path(t)
			_, err := OpenSource(p, "windows/amd64")
			normalised, _ := parsePlatform(other) // arm64/v8 is listed as arm64
			want := []string{host, normalised.String()}
			slices.Sort(want)
			requireImageError(t, err, p, "OCI layout: no manifest for platform windows/amd64 (has "+
				strings.Join(want, ", ")+"); choose one with --platform")
		})
	}
}

func TestOpenSourceOCINestedIndex(t *testing.T) {
	host := hostPlatform().String()
	layer := newLayer(t, Gzip, file("a", "a"))
	for _, tc := range []struct {
		name        string
		annotations []string
		want        []string
	}{
		{"containerd name", []string{ocispec.AnnotationRefName, "latest", containerdName, "docker.io/library/demo:latest"}, []string{"docker.io/library/demo:latest"}},
		{"tag only", []string{ocispec.AnnotationRefName, "latest"}, []string{"latest"}},
		{"no name", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := imageFiles{}
			nested := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
				f.addImage(t, otherPlatform(), layer),
				f.addImage(t, host, layer),
			}}
			nested.SchemaVersion = 2
			f.setIndex(t, named(f.addBlob(ocispec.MediaTypeImageIndex, mustJSON(t, nested)), tc.annotations...))
			src := openOK(t, f.asTar(t, ""), "")
			requireChosen(t, src, host)
			requireLayers(t, src, layer)
			if !slices.Equal(src.Names, tc.want) {
				t.Errorf("Names = %q, want %q", src.Names, tc.want)
			}
		})
	}
}

// Docker 25+ `docker save` writes an OCI layout, whose index.json entries have no
// platform, and a manifest.json beside it.
func TestOpenSourcePrefersOCILayoutToManifestJSON(t *testing.T) {
	host := hostPlatform().String()
	layer := newLayer(t, None, file("a", "a"))
	f := imageFiles{}
	d := f.addImage(t, host, layer)
	d.Platform = nil
	f.setIndex(t, d)
	f["manifest.json"] = []byte(`[{"Config":"nowhere.json","Layers":[]}]`)
	src := openOK(t, f.asTar(t, ""), "")
	requireChosen(t, src, host)
	requireLayers(t, src, layer)
}

func TestOpenSourceRefusesBadLayout(t *testing.T) {
	host := hostPlatform().String()
	layer := newLayer(t, Gzip, file("a", "a"))
	build := func(t *testing.T, edit func(t *testing.T, f imageFiles, m *ocispec.Manifest)) string {
		f := imageFiles{}
		d := f.addImage(t, host, layer)
		m := f.manifest(t, d)
		edit(t, f, &m)
		d = f.addBlob(ocispec.MediaTypeImageManifest, mustJSON(t, m))
		f.setIndex(t, d)
		return f.asTar(t, "")
	}
	for _, tc := range []struct {
		name   string
		edit   func(t *testing.T, f imageFiles, m *ocispec.Manifest)
		reason string
	}{
		{"missing layer blob", func(t *testing.T, f imageFiles, m *ocispec.Manifest) {
			delete(f, "blobs/sha256/"+m.Layers[0].Digest.Encoded())
		}, "OCI layout: blob sha256:" + digest.FromBytes(layer.blob).Encoded() + " missing from the image"},
		{"layer blob size", func(t *testing.T, f imageFiles, m *ocispec.Manifest) {
			m.Layers[0].Size++
		}, "bytes, its descriptor says"},
		{"config digest mismatch", func(t *testing.T, f imageFiles, m *ocispec.Manifest) {
			name := "blobs/sha256/" + m.Config.Digest.Encoded()
			f[name] = bytes.Replace(f[name], []byte("/srv"), []byte("/tmp"), 1)
		}, "digest mismatch"},
		{"non-distributable layer", func(t *testing.T, f imageFiles, m *ocispec.Manifest) {
			m.Layers[0].MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
		}, "layer 1 is non-distributable"},
		{"unknown layer type", func(t *testing.T, f imageFiles, m *ocispec.Manifest) {
			m.Layers[0].MediaType = "application/x-squashfs"
		}, `layer 1: unsupported media type "application/x-squashfs"`},
		{"diff_ids do not match layers", func(t *testing.T, f imageFiles, m *ocispec.Manifest) {
			m.Layers = append(m.Layers, m.Layers[0])
		}, "manifest has 2 layers but config"},
		{"not an image", func(t *testing.T, f imageFiles, m *ocispec.Manifest) {
			m.Config.MediaType = "application/vnd.cncf.helm.config.v1+json"
		}, "is not a container image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, tc.edit)
			_, err := OpenSource(p, "")
			requireImageError(t, err, p, tc.reason)
		})
	}
	t.Run("index.json not JSON", func(t *testing.T) {
		f := imageFiles{}
		f.setIndex(t)
		f[ocispec.ImageIndexFile] = []byte("{")
		p := f.asDir(t)
		_, err := OpenSource(p, "")
		requireImageError(t, err, p, "OCI layout: index.json: invalid JSON")
	})
	t.Run("empty index", func(t *testing.T) {
		f := imageFiles{}
		f.setIndex(t)
		p := f.asDir(t)
		_, err := OpenSource(p, "")
		requireImageError(t, err, p, "index.json lists no image manifest")
	})
}

// countingFiles counts the opens of each of an image's files, and fails every open
// beyond limit: a layout that fans out would otherwise be read for hours.
type countingFiles struct {
	files
	opens map[string]int
	total int
	limit int
}

func (c *countingFiles) open(name string) (io.ReadCloser, int64, error) {
	c.opens[name]++
	if c.total++; c.total > c.limit {
		return nil, 0, fmt.Errorf("open %s: more than %d opens", name, c.limit)
	}
	return c.files.open(name)
}

// readLayoutCounting reads the OCI layout in directory dir, counting its files' opens.
func readLayoutCounting(t *testing.T, dir string) (*Source, *countingFiles, error) {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	cf := &countingFiles{files: dirFiles{root}, opens: map[string]int{}, limit: 1000}
	src, err := (&reader{path: dir, kind: "OCI layout", files: cf}).readOCI(hostPlatform())
	return src, cf, err
}

// nest returns the descriptor of an index that lists each of descs times times.
func (f imageFiles) nest(t *testing.T, times int, descs ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	index.SchemaVersion = 2
	for range times {
		index.Manifests = append(index.Manifests, descs...)
	}
	return f.addBlob(ocispec.MediaTypeImageIndex, mustJSON(t, index))
}

// TestOpenSourceOCIIndexBomb: index.json lists one nested index 40 times, which lists
// the next 40 times, four deep. Read naively that is 40^4 reads of the deepest index
// and 40^5 manifests; each blob must be read once, and the image found.
func TestOpenSourceOCIIndexBomb(t *testing.T) {
	host := hostPlatform().String()
	layer := newLayer(t, Gzip, file("a", "a"))
	f := imageFiles{}
	d := f.addImage(t, host, layer)
	for range 3 {
		d = f.nest(t, 40, d)
	}
	f.setIndex(t, slices.Repeat([]ocispec.Descriptor{named(f.nest(t, 40, d), ocispec.AnnotationRefName, "bomb:1")}, 40)...)
	src, cf, err := readLayoutCounting(t, f.asDir(t))
	if err != nil {
		t.Fatalf("readOCI: %v", err)
	}
	requireChosen(t, src, host)
	if !slices.Equal(src.Names, []string{"bomb:1"}) {
		t.Errorf("Names = %q, want bomb:1", src.Names)
	}
	for name, n := range cf.opens {
		if n != 1 {
			t.Errorf("%s opened %d times, want once", name, n)
		}
	}
}

// TestOpenSourceOCIRefusesTooMuchMetadata: past a bound on the descriptors its indexes
// list, or on the bytes of its metadata, a layout is refused in one line.
func TestOpenSourceOCIRefusesTooMuchMetadata(t *testing.T) {
	host := hostPlatform().String()
	layer := newLayer(t, Gzip, file("a", "a"))
	for _, tc := range []struct {
		name   string
		build  func(t *testing.T, f imageFiles, image ocispec.Descriptor)
		reason string
	}{
		{"descriptors", func(t *testing.T, f imageFiles, image ocispec.Descriptor) {
			// Distinct indexes, each listed once: no blob is read twice.
			var descs []ocispec.Descriptor
			for i := range maxDescriptors/1000 + 1 {
				descs = append(descs, f.nest(t, 1000, named(image, "n", strconv.Itoa(i))))
			}
			f.setIndex(t, descs...)
		}, fmt.Sprintf("more than %d descriptors", maxDescriptors)},
		{"bytes", func(t *testing.T, f imageFiles, image ocispec.Descriptor) {
			// Distinct indexes of almost maxMetadata each, all of it one annotation.
			var descs []ocispec.Descriptor
			for i := range maxMetadataTotal/maxMetadata + 1 {
				padded := named(image, "padding", strings.Repeat(strconv.Itoa(i), maxMetadata-1024))
				descs = append(descs, f.nest(t, 1, padded))
			}
			f.setIndex(t, descs...)
		}, fmt.Sprintf("more than %d MiB of metadata", maxMetadataTotal>>20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := imageFiles{}
			tc.build(t, f, f.addImage(t, host, layer))
			p := f.asDir(t)
			_, err := OpenSource(p, "")
			requireImageError(t, err, p, tc.reason)
		})
	}
}

// TestOpenSourceOCIRefusesDeepIndexes: indexes nest at most maxIndexDepth deep below
// index.json, also when the walk meets an index it has already read, deeper this time.
func TestOpenSourceOCIRefusesDeepIndexes(t *testing.T) {
	host := hostPlatform().String()
	layer := newLayer(t, Gzip, file("a", "a"))
	// chain nests d in n indexes, each listing the next once.
	chain := func(t *testing.T, f imageFiles, d ocispec.Descriptor, n int) ocispec.Descriptor {
		for range n {
			d = f.nest(t, 1, d)
		}
		return d
	}
	for _, tc := range []struct {
		name   string
		index  func(t *testing.T, f imageFiles, image ocispec.Descriptor) []ocispec.Descriptor
		reason string
	}{
		{"deepest allowed", func(t *testing.T, f imageFiles, image ocispec.Descriptor) []ocispec.Descriptor {
			return []ocispec.Descriptor{chain(t, f, image, maxIndexDepth)}
		}, ""},
		{"one deeper", func(t *testing.T, f imageFiles, image ocispec.Descriptor) []ocispec.Descriptor {
			return []ocispec.Descriptor{chain(t, f, image, maxIndexDepth+1)}
		}, "nested more than"},
		{"one deeper through an index read before", func(t *testing.T, f imageFiles, image ocispec.Descriptor) []ocispec.Descriptor {
			two := chain(t, f, image, 2)
			return []ocispec.Descriptor{two, chain(t, f, two, maxIndexDepth-1)}
		}, "nested more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := imageFiles{}
			f.setIndex(t, tc.index(t, f, f.addImage(t, host, layer))...)
			p := f.asDir(t)
			if tc.reason == "" {
				requireChosen(t, openOK(t, p, ""), host)
				return
			}
			_, err := OpenSource(p, "")
			requireImageError(t, err, p, tc.reason)
		})
	}
}
