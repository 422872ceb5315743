package image

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// imageFiles is an image's files by name, as a test builds them before writing them
// out as a directory or a tar.
type imageFiles map[string][]byte

// asTar packs the files in name order, as `docker save` does, each name prefixed
// with prefix ("" or "./").
func (f imageFiles) asTar(t *testing.T, prefix string) string {
	t.Helper()
	var entries []entry
	for _, name := range slices.Sorted(maps.Keys(f)) {
		entries = append(entries, file(prefix+name, string(f[name])))
	}
	return writeArchive(t, "image.tar", tarball(t, entries...))
}

func (f imageFiles) asDir(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range f {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testLayer is a layer as stored (blob) and the tar inside it (whose digest is the diff_id).
type testLayer struct {
	blob   []byte
	diffID digest.Digest
}

func newLayer(t *testing.T, c Compression, files ...entry) testLayer {
	plain := tarball(t, files...)
	return testLayer{blob: compress(t, c, plain), diffID: digest.FromBytes(plain)}
}

// testConfig is an image config with every field crate uses set.
func testConfig(plat string, layers ...testLayer) ocispec.Image {
	p, _ := parsePlatform(plat)
	img := ocispec.Image{
		Platform: ocispec.Platform{OS: p.os, Architecture: p.arch, Variant: p.variant},
		Config: ocispec.ImageConfig{
			Entrypoint: []string{"/bin/demo"},
			Cmd:        []string{"--serve"},
			Env:        []string{"PATH=/bin", "PLATFORM=" + plat},
			WorkingDir: "/srv",
			User:       "1000:1000",
		},
		RootFS: ocispec.RootFS{Type: "layers"},
	}
	for _, l := range layers {
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, l.diffID)
	}
	return img
}

// openOK opens an image that must open, and closes it when the test ends.
func openOK(t *testing.T, path, platform string) *Source {
	t.Helper()
	src, err := OpenSource(path, platform)
	if err != nil {
		t.Fatalf("OpenSource(%q): %v", platform, err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return src
}

// readLayer reads a layer through Open twice: a layer is opened once per unpack, and
// a retry must see the same bytes.
func readLayer(t *testing.T, l Layer) []byte {
	t.Helper()
	var got [2][]byte
	for i := range got {
		rc, err := l.Open()
		if err != nil {
			t.Fatalf("Open layer %s: %v", l.Digest, err)
		}
		if got[i], err = io.ReadAll(rc); err != nil {
			t.Fatalf("read layer %s: %v", l.Digest, err)
		}
		rc.Close()
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Fatalf("layer %s: second Open read different bytes", l.Digest)
	}
	return got[0]
}

// requireLayers checks src's layers against what the test stored.
func requireLayers(t *testing.T, src *Source, want ...testLayer) {
	t.Helper()
	if len(src.Layers) != len(want) {
		t.Fatalf("%d layers, want %d", len(src.Layers), len(want))
	}
	for i, l := range src.Layers {
		if l.DiffID != want[i].diffID {
			t.Errorf("layer %d: DiffID %s, want %s", i, l.DiffID, want[i].diffID)
		}
		if l.Size != int64(len(want[i].blob)) {
			t.Errorf("layer %d: Size %d, want %d", i, l.Size, len(want[i].blob))
		}
		if got := readLayer(t, l); !bytes.Equal(got, want[i].blob) {
			t.Errorf("layer %d: Open read %d bytes, not the stored blob", i, len(got))
		}
	}
}

func TestOpenSourceRootfs(t *testing.T) {
	plain := tarball(t, dir("./"), file("./bin/sh", "#!"))
	for _, c := range []Compression{None, Gzip} {
		t.Run(string(c), func(t *testing.T) {
			data := compress(t, c, plain)
			p := writeArchive(t, "rootfs.tar", data)
			src := openOK(t, p, "")
			want := digest.FromBytes(data)
			if src.Format != FormatRootfs || src.ConfigDigest != want || src.Names != nil {
				t.Errorf("Format %q, ConfigDigest %s, Names %v; want rootfs, %s, none", src.Format, src.ConfigDigest, src.Names, want)
			}
			if len(src.Layers) != 1 {
				t.Fatalf("%d layers, want 1", len(src.Layers))
			}
			l := src.Layers[0]
			if l.Digest != want || l.DiffID != "" || l.Compression != c || l.Size != int64(len(data)) {
				t.Errorf("layer = %+v, want digest %s, no diff_id, %s, %d bytes", l, want, c, len(data))
			}
			if !bytes.Equal(readLayer(t, l), data) {
				t.Error("layer Open does not read the file")
			}
		})
	}
}

// dockerSave builds a `docker save` archive's files for one image. Layer i is stored
// at paths[i]; a path ending in "->target" is a symlink to target, as legacy docker
// save writes a layer that two images share.
func dockerSave(t *testing.T, config ocispec.Image, tags []string, layers []testLayer, paths []string) []entry {
	t.Helper()
	cfg := mustJSON(t, config)
	cfgName := digest.FromBytes(cfg).Encoded() + ".json"
	entries := []entry{file(cfgName, string(cfg))}
	var manifestPaths []string
	for i, p := range paths {
		name, target, isLink := strings.Cut(p, "->")
		manifestPaths = append(manifestPaths, name)
		if isLink {
			entries = append(entries, symlink(name, target), file(filepath.Join(filepath.Dir(name), target), string(layers[i].blob)))
			continue
		}
		entries = append(entries, file(name, string(layers[i].blob)))
	}
	manifest := []map[string]any{{"Config": cfgName, "RepoTags": tags, "Layers": manifestPaths}}
	return append(entries, file("manifest.json", string(mustJSON(t, manifest))), file("repositories", "{}"))
}

func TestOpenSourceDockerSave(t *testing.T) {
	gz := newLayer(t, Gzip, dir("bin/"), file("bin/demo", "demo"))
	plain := newLayer(t, None, file("srv/index.html", "hello"))
	zst := newLayer(t, Zstd, file("srv/other.html", "hello"))
	config := testConfig("linux/s390x", gz, plain, zst)
	gzName := "blobs/sha256/" + digest.FromBytes(gz.blob).Encoded() // Docker 25+ style
	entries := dockerSave(t, config, []string{"demo:1.0", "demo:latest"}, []testLayer{gz, plain, zst},
		[]string{gzName, "./aaaa/layer.tar->../bbbb/layer.tar", "cccc/layer.tar"}) // legacy; aaaa is shared

	src := openOK(t, writeArchive(t, "demo.tar", tarball(t, entries...)), "linux/s390x")
	if src.Format != FormatDockerSave {
		t.Errorf("Format = %q, want docker-save", src.Format)
	}
	if !reflect.DeepEqual(src.Config.Config, config.Config) {
		t.Errorf("Config = %+v, want %+v", src.Config.Config, config.Config)
	}
	if want := digest.FromBytes(mustJSON(t, config)); src.ConfigDigest != want {
		t.Errorf("ConfigDigest = %s, want %s", src.ConfigDigest, want)
	}
	if !slices.Equal(src.Names, []string{"demo:1.0", "demo:latest"}) {
		t.Errorf("Names = %q", src.Names)
	}
	requireLayers(t, src, gz, plain, zst)
	for i, want := range []struct {
		comp   Compression
		digest digest.Digest
	}{
		{Gzip, digest.FromBytes(gz.blob)},  // from its name
		{None, plain.diffID},               // an uncompressed layer's digest is its diff_id
		{Zstd, digest.FromBytes(zst.blob)}, // computed
	} {
		if l := src.Layers[i]; l.Compression != want.comp || l.Digest != want.digest {
			t.Errorf("layer %d: %s, digest %s; want %s, %s", i, l.Compression, l.Digest, want.comp, want.digest)
		}
	}
}

func TestOpenSourceRefusesBadInput(t *testing.T) {
	layer := newLayer(t, Zstd, file("a", "a"))
	config := testConfig("linux/s390x", layer)
	save := func(edit func([]entry) []entry) func(t *testing.T) string {
		return func(t *testing.T) string {
			entries := dockerSave(t, config, nil, []testLayer{layer}, []string{"l/layer.tar"})
			return writeArchive(t, "save.tar", tarball(t, edit(entries)...))
		}
	}
	setManifest := func(body string) func([]entry) []entry {
		return func(es []entry) []entry {
			for i := range es {
				if es[i].Name == "manifest.json" {
					es[i] = file("manifest.json", body)
				}
			}
			return es
		}
	}
	same := func(es []entry) []entry { return es }
	for _, tc := range []struct {
		name     string
		platform string
		path     func(t *testing.T) string
		reason   string
	}{
		{"not an archive", "", func(t *testing.T) string {
			return writeArchive(t, "x.tar", []byte(strings.Repeat("text\n", 200)))
		}, "not a tar archive"},
		{"directory without a layout", "", func(t *testing.T) string { return t.TempDir() }, "not an OCI image layout"},
		{"invalid platform", "linux", save(same), `invalid platform "linux"`},
		{"manifest.json not JSON", "linux/s390x", save(setManifest("[{")), "docker save archive: manifest.json: invalid JSON"},
		{"manifest.json empty list", "linux/s390x", save(setManifest("[]")), "manifest.json lists no image"},
		{"layer path escapes", "linux/s390x", save(setManifest(
			`[{"Config":"` + digest.FromBytes(mustJSON(t, config)).Encoded() + `.json","Layers":["../../etc/passwd"]}]`)),
			`layer path "../../etc/passwd" is not inside the archive`},
		{"config path absolute", "linux/s390x", save(setManifest(`[{"Config":"/etc/passwd"}]`)), `config path "/etc/passwd" is not inside the archive`},
		{"layer missing", "linux/s390x", save(func(es []entry) []entry {
			return slices.DeleteFunc(es, func(e entry) bool { return e.Name == "l/layer.tar" })
		}), "layer l/layer.tar missing from the archive"},
		{"layer symlink escapes", "linux/s390x", save(func(es []entry) []entry {
			for i := range es {
				if es[i].Name == "l/layer.tar" {
					es[i] = symlink("l/layer.tar", "../../etc/passwd")
				}
			}
			return es
		}), "layer l/layer.tar missing from the archive"},
		{"config digest mismatch", "linux/s390x", save(func(es []entry) []entry {
			es[0].body = strings.Replace(es[0].body, "/srv", "/tmp", 1)
			return es
		}), "digest mismatch"},
		{"diff_ids do not match layers", "linux/s390x", save(setManifest(
			`[{"Config":"` + digest.FromBytes(mustJSON(t, config)).Encoded() + `.json","Layers":["l/layer.tar","l/layer.tar"]}]`)),
			"manifest.json lists 2 layers but config"},
		{"built for another platform", "linux/arm64", save(same), "image is for linux/s390x, not linux/arm64; choose it with --platform linux/s390x"},
		{"cut between entries", "linux/s390x", func(t *testing.T) string {
			data := tarball(t, dockerSave(t, config, nil, []testLayer{layer}, []string{"l/layer.tar"})...)
			return writeArchive(t, "cut.tar", data[:len(data)-1024]) // without the end marker
		}, "truncated archive"},
		{"gzip-compressed docker save", "linux/s390x", func(t *testing.T) string {
			data := tarball(t, dockerSave(t, config, nil, []testLayer{layer}, []string{"l/layer.tar"})...)
			return writeArchive(t, "save.tar.gz", compress(t, Gzip, data))
		}, "gzip-compressed image archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.path(t)
			src, err := OpenSource(p, tc.platform)
			if err == nil {
				src.Close()
			}
			requireImageError(t, err, p, tc.reason)
		})
	}
}

func TestCleanMember(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"manifest.json", "manifest.json", true},
		{"./blobs/sha256/ab", "blobs/sha256/ab", true},
		{"blobs//sha256/", "blobs/sha256", true},
		{"/etc/passwd", "", false},
		{"../../etc/passwd", "", false},
		{"a/../b", "", false},
		{"./", "", false},
		{"", "", false},
	} {
		got, ok := cleanMember(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cleanMember(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPlatformMatches(t *testing.T) {
	for _, tc := range []struct {
		want, image string
		match       bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/amd64", "linux/x86_64", true},
		{"linux/arm64", "linux/aarch64/v8", true},
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/arm", "linux/arm/v6", true}, // no variant wanted: any will do
		{"linux/arm/v7", "linux/arm/v6", false},
		{"linux/amd64", "windows/amd64", false},
		{"linux/amd64", "linux/arm64", false},
	} {
		want, ok := parsePlatform(tc.want)
		image, ok2 := parsePlatform(tc.image)
		if !ok || !ok2 {
			t.Fatalf("parsePlatform(%q, %q) failed", tc.want, tc.image)
		}
		if got := want.matches(image); got != tc.match {
			t.Errorf("%s matches %s = %v, want %v", tc.want, tc.image, got, tc.match)
		}
	}
	for _, bad := range []string{"linux", "/amd64", "linux/", "linux/arm/v7/x"} {
		if _, ok := parsePlatform(bad); ok {
			t.Errorf("parsePlatform(%q) accepted it", bad)
		}
	}
}

// openSourceWithin calls OpenSource, and fails the test if it is still blocked after a
// generous safety net: opening a fifo waits for a writer, and would hang the tests.
func openSourceWithin(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		src, err := OpenSource(path, "")
		if err == nil {
			src.Close()
		}
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		t.Fatalf("OpenSource(%s) still blocked: it opened a fifo", path)
		return nil
	}
}

// TestOpenSourceRefusesNonRegularFiles: a fifo, a socket or a directory where an image
// file should be is refused, named, and never blocks.
func TestOpenSourceRefusesNonRegularFiles(t *testing.T) {
	layer := newLayer(t, Gzip, file("a", "a"))
	f := imageFiles{}
	d := f.addImage(t, hostPlatform().String(), layer)
	f.setIndex(t, d)
	m := f.manifest(t, d)
	blob := func(dg digest.Digest) string { return "blobs/sha256/" + dg.Encoded() }
	fifo := func(p string) error { return unix.Mkfifo(p, 0o644) }
	socket := func(p string) error { return unix.Mknod(p, unix.S_IFSOCK|0o644, 0) }
	directory := func(p string) error { return os.Mkdir(p, 0o755) }
	symlinkToFIFO := func(p string) error {
		if err := fifo(p + ".fifo"); err != nil {
			return err
		}
		return os.Symlink(filepath.Base(p)+".fifo", p)
	}
	for _, tc := range []struct {
		name   string
		file   string // in the layout directory
		make   func(p string) error
		reason string
	}{
		{"oci-layout a fifo", "oci-layout", fifo, "OCI layout: oci-layout is a fifo, not a regular file"},
		{"index.json a fifo", "index.json", fifo, "OCI layout: index.json is a fifo, not a regular file"},
		{"manifest a fifo", blob(d.Digest), fifo, blob(d.Digest) + " is a fifo, not a regular file"},
		{"config a fifo", blob(m.Config.Digest), fifo, blob(m.Config.Digest) + " is a fifo, not a regular file"},
		{"layer a fifo", blob(m.Layers[0].Digest), fifo, blob(m.Layers[0].Digest) + " is a fifo, not a regular file"},
		{"index.json a symlink to a fifo", "index.json", symlinkToFIFO, "index.json is a fifo, not a regular file"},
		{"index.json a socket", "index.json", socket, "index.json is a socket, not a regular file"},
		{"config a directory", blob(m.Config.Digest), directory, blob(m.Config.Digest) + " is a directory, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each blocks until the safety net on a crate that opens fifos
			dir := f.asDir(t)
			p := filepath.Join(dir, tc.file)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(p); err != nil {
				t.Fatal(err)
			}
			requireImageError(t, openSourceWithin(t, dir), dir, tc.reason)
		})
	}
	t.Run("the file given a fifo", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "image.tar")
		if err := fifo(p); err != nil {
			t.Fatal(err)
		}
		requireImageError(t, openSourceWithin(t, p), p, "not a regular file")
	})
}

// TestErrorsQuoteWhatTheImageSays: the paths and platforms an image's metadata names
// are the attacker's, and reach the operator's terminal in error messages: they come
// quoted, never with the bytes a terminal acts on.
func TestErrorsQuoteWhatTheImageSays(t *testing.T) {
	const evil = "\x1b]0;pwned\x07\r"
	layer := newLayer(t, Zstd, file("a", "a"))
	config := testConfig("linux/s390x", layer)
	save := func(t *testing.T, config ocispec.Image, manifest string) string {
		entries := dockerSave(t, config, nil, []testLayer{layer}, []string{"l/layer.tar"})
		for i := range entries {
			if entries[i].Name == "manifest.json" && manifest != "" {
				entries[i] = file("manifest.json", manifest)
			}
		}
		return writeArchive(t, "save.tar", tarball(t, entries...))
	}
	configName := digest.FromBytes(mustJSON(t, config)).Encoded() + ".json"
	evilPlatform := config
	evilPlatform.OS = "linux" + evil
	for _, tc := range []struct {
		name     string
		platform string
		path     func(t *testing.T) string
	}{
		{"docker save layer path", "linux/s390x", func(t *testing.T) string {
			return save(t, config, string(mustJSON(t, []map[string]any{{"Config": configName, "Layers": []string{evil + "/layer.tar"}}})))
		}},
		{"docker save config path", "linux/s390x", func(t *testing.T) string {
			return save(t, config, string(mustJSON(t, []map[string]any{{"Config": evil + ".json"}})))
		}},
		{"config platform", "linux/s390x", func(t *testing.T) string { return save(t, evilPlatform, "") }},
		{"index platforms", "linux/s390x", func(t *testing.T) string {
			f := imageFiles{}
			d := f.addImage(t, "linux/arm64", layer)
			d.Platform.OS = "linux" + evil
			f.setIndex(t, d)
			return f.asDir(t)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenSource(tc.path(t), tc.platform)
			if err == nil || !printableASCII(err.Error()) || !strings.Contains(err.Error(), `\x1b]0;pwned\a\r`) {
				t.Errorf("OpenSource error %q: want the image's string quoted", err)
			}
		})
	}
}
