package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/crate-run/crate/pkg/testutil"
	"github.com/hashicorp/go-hclog"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// testStore is a store in a temporary root whose log the test can read.
type testStore struct {
	*Store
	root string
	log  *bytes.Buffer
}

func newTestStore(t *testing.T, root string) testStore {
	t.Helper()
	if root == "" {
		root = t.TempDir()
	}
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug})
	s, err := OpenStore(log, root)
	if err != nil {
		t.Fatal(err)
	}
	return testStore{Store: s, root: root, log: &buf}
}

// unpacks counts the layers this store unpacked (not found already there).
func (s testStore) unpacks() int { return strings.Count(s.log.String(), "layer unpacked") }

// layerOf makes a layer blob of entries compressed with c, as an image would carry it.
func layerOf(t *testing.T, c Compression, entries ...entry) Layer {
	t.Helper()
	plain := tarball(t, entries...)
	return blobLayer(compress(t, c, plain), c, digest.FromBytes(plain))
}

// blobLayer is a layer over blob, with the diff_id the source would claim ("" if none).
func blobLayer(blob []byte, c Compression, diffID digest.Digest) Layer {
	return Layer{
		Digest:      digest.FromBytes(blob),
		DiffID:      diffID,
		Size:        int64(len(blob)),
		Compression: c,
		Open:        func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil },
	}
}

// imageOf is a source of layers; its id is derived from the layers, as a config's is.
func imageOf(layers ...Layer) *Source {
	var ids []string
	for _, l := range layers {
		ids = append(ids, l.Digest.String())
	}
	return &Source{
		Path:         "test-image.tar",
		Format:       FormatDockerSave,
		ConfigDigest: digest.FromString(strings.Join(ids, ",")),
		Layers:       layers,
	}
}

func importOK(t *testing.T, s testStore, src *Source, names ...string) *Image {
	t.Helper()
	img, err := s.Import(context.Background(), src, names...)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return img
}

// longName is longer than the 100 bytes of a ustar name field: it needs PAX or GNU.
var longName = "bin/" + strings.Repeat("long-directory-name/", 6) + "tool-with-a-long-name"

// twoLayers is the test image: the upper layer deletes a file, makes a directory opaque,
// replaces a directory by a file and a file by a directory, and adds a hardlink, a
// symlink, a setuid file and a long name.
func twoLayers(t *testing.T) (lower, upper Layer) {
	setuid := file("bin/tool", "#!/bin/sh\necho tool\n")
	setuid.Mode = 0o4755
	lower = layerOf(t, Gzip,
		dir("./"),
		dir("etc/"),
		file("etc/old", "to be deleted\n"),
		file("etc/keep", "kept\n"),
		dir("opt/"),
		file("opt/a", "lower a\n"),
		dir("opt/sub/"),
		file("opt/sub/b", "lower b\n"),
		dir("swap/"),
		file("swap/inside", "a file in a directory that becomes a file\n"),
		file("f2d", "a file that becomes a directory\n"),
	)
	upper = layerOf(t, Zstd,
		file("etc/.wh.old", ""),
		dir("opt/"),
		file("opt/.wh..wh..opq", ""),
		file("opt/c", "upper c\n"),
		file("swap", "now a file\n"),
		dir("f2d/"),
		file("f2d/x", "now a directory\n"),
		dir("bin/"),
		setuid,
		hardlink("bin/tool-link", "bin/tool"),
		symlink("etc/link", "/etc/keep"),
		file(longName, "long\n"),
	)
	return lower, upper
}

func TestImportUnpacksLayersWithWhiteouts(t *testing.T) {
	testutil.RequireRoot(t)
	s := newTestStore(t, "")
	lower, upper := twoLayers(t)
	img := importOK(t, s, imageOf(lower, upper), "app")

	if got, want := img.Layers, []digest.Digest{lower.DiffID, upper.DiffID}; !equalDigests(got, want) {
		t.Fatalf("Layers = %v, want %v", got, want)
	}
	if img.Names[0] != "app:latest" {
		t.Errorf("Names = %v, want [app:latest]", img.Names)
	}
	up := s.LayerDir(upper.DiffID)
	if st := lstat(t, filepath.Join(up, "etc/old")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/old in the upper layer: mode %o rdev %d, want a 0/0 character device", st.Mode, st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(up, "etc/.wh.old")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the whiteout marker file is there: %v", err)
	}
	if v := getxattr(t, filepath.Join(up, "opt"), opaqueXattr); v != "y" {
		t.Errorf("opt: %s = %q, want y", opaqueXattr, v)
	}
	if v := getxattr(t, filepath.Join(s.LayerDir(lower.DiffID), "opt"), opaqueXattr); v != "" {
		t.Errorf("opt of the lower layer is opaque")
	}
	if st := lstat(t, filepath.Join(up, "bin/tool")); st.Mode&0o7777 != 0o4755 || st.Nlink != 2 {
		t.Errorf("bin/tool: mode %o nlink %d, want 4755 and 2", st.Mode&0o7777, st.Nlink)
	}
	if got := readFile(t, filepath.Join(up, longName)); got != "long\n" {
		t.Errorf("long name = %q", got)
	}
	if n := s.unpacks(); n != 2 {
		t.Errorf("%d layers unpacked, want 2", n)
	}

	// Again, from another process's point of view: nothing to unpack, one more name.
	again := newTestStore(t, s.root)
	img2 := importOK(t, again, imageOf(lower, upper), "app:v2")
	if n := again.unpacks(); n != 0 {
		t.Errorf("re-import unpacked %d layers, want none", n)
	}
	if got := strings.Join(img2.Names, " "); got != "app:latest app:v2" {
		t.Errorf("names after re-import = %q", got)
	}
	if !strings.Contains(again.log.String(), "layer cached") {
		t.Errorf("no \"layer cached\" in the log:\n%s", again.log)
	}
}

// TestImportTakesNoOverlayXattrsFromLayers: a layer's own overlay attributes (an opaque
// directory, a redirect) are dropped, while its whiteouts still become the attributes
// overlayfs reads.
func TestImportTakesNoOverlayXattrsFromLayers(t *testing.T) {
	testutil.RequireRoot(t)
	s := newTestStore(t, "")
	forged := layerOf(t, Gzip, withXattrs(dir("opt/"), overlayXattrs...), file("opt/new", "new"))
	real := layerOf(t, Gzip, dir("opt/"), file("opt/.wh..wh..opq", ""), file("opt/new", "new"))
	importOK(t, s, imageOf(forged, real), "app")
	for i := 0; i < len(overlayXattrs); i += 2 {
		if v, ok := lgetxattr(t, filepath.Join(s.LayerDir(forged.DiffID), "opt"), overlayXattrs[i]); ok {
			t.Errorf("opt: %s = %q, taken from the layer", overlayXattrs[i], v)
		}
	}
	if v := getxattr(t, filepath.Join(s.LayerDir(real.DiffID), "opt"), opaqueXattr); v != "y" {
		t.Errorf("opt with an opaque whiteout: %s = %q, want y", opaqueXattr, v)
	}
}

func TestImportRootfsComputesDiffID(t *testing.T) {
	plain := tarball(t, dir("./"), file("etc/hostname", "crate\n"), file("bin/sh", "#!\n"))
	for _, c := range []Compression{None, Gzip, Xz} {
		t.Run(string(c), func(t *testing.T) {
			s := newTestStore(t, "")
			blob := compress(t, c, plain)
			rootfs := blobLayer(blob, c, "") // a rootfs archive: no config, no diff_id
			src := &Source{Path: "rootfs.tar", Format: FormatRootfs, ConfigDigest: rootfs.Digest, Layers: []Layer{rootfs}}
			img := importOK(t, s, src)
			want := digest.FromBytes(plain)
			if len(img.Layers) != 1 || img.Layers[0] != want {
				t.Fatalf("Layers = %v, want [%s]", img.Layers, want)
			}
			if got := readFile(t, filepath.Join(s.LayerDir(want), "etc/hostname")); got != "crate\n" {
				t.Errorf("etc/hostname = %q", got)
			}
			if img.Size != int64(len("crate\n#!\n")) {
				t.Errorf("Size = %d", img.Size)
			}
			if got := img.Config.RootFS.DiffIDs; len(got) != 1 || got[0] != want {
				t.Errorf("Config.RootFS.DiffIDs = %v", got)
			}
			again := newTestStore(t, s.root)
			importOK(t, again, src)
			if n := again.unpacks(); n != 0 {
				t.Errorf("re-import of the rootfs unpacked %d layers, want none: the blob index was not used", n)
			}
		})
	}
}

// requireNothingLeft fails if a failed import left any trace: a layer, an index entry,
// an unpack in progress or an image record.
func requireNothingLeft(t *testing.T, root string) {
	t.Helper()
	for _, dir := range []string{"layers/sha256", "layers/tmp", "blobs/sha256"} {
		ents, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			t.Errorf("%s holds %s after a failed import", dir, e.Name())
		}
	}
	ents, _ := os.ReadDir(filepath.Join(root, "images"))
	for _, e := range ents {
		if e.Name() != ".lock" {
			t.Errorf("images holds %s after a failed import", e.Name())
		}
	}
}

func TestImportRefusesBadLayers(t *testing.T) {
	plain := tarball(t, file("etc/hostname", "crate\n"), file("big", randomBytes(200_000)))
	gz := compress(t, Gzip, plain)
	good := digest.FromBytes(plain)
	wrong := digest.FromString("something else")
	corrupt := bytes.Clone(gz)
	corrupt[len(corrupt)/2] ^= 0xff
	for _, tc := range []struct {
		name   string
		layer  Layer
		reason string
	}{
		{"wrong blob digest", Layer{Digest: wrong, DiffID: good, Size: -1, Compression: Gzip,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz)), nil }},
			"layer " + wrong.String() + ": digest mismatch: got " + digest.FromBytes(gz).String()},
		{"wrong diff_id", blobLayer(gz, Gzip, wrong), "diff_id mismatch: got " + good.String()},
		{"corrupt gzip", blobLayer(corrupt, Gzip, good), "corrupt gzip data"},
		{"truncated gzip", blobLayer(gz[:len(gz)/2], Gzip, good), "truncated archive"},
		{"not gzip at all", blobLayer(plain, Gzip, good), "corrupt gzip data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t, "")
			_, err := s.Import(context.Background(), imageOf(tc.layer), "bad")
			var ie *Error
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("Import error = %v, want an *Error containing %q", err, tc.reason)
			}
			t.Log(err)
			requireNothingLeft(t, s.root)
		})
	}
}

func TestImportRecoversFromACrashedUnpack(t *testing.T) {
	s := newTestStore(t, "")
	l := layerOf(t, Gzip, file("etc/hostname", "crate\n"))
	// What a process killed mid-unpack leaves: a half layer in tmp, nothing else.
	stale := filepath.Join(s.root, "layers", "tmp", l.Digest.Encoded())
	if err := os.MkdirAll(filepath.Join(stale, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "etc", "junk"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	importOK(t, s, imageOf(l), "app")
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale unpack is still there: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(s.LayerDir(l.DiffID), "etc", "junk")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("junk of the crashed unpack made it into the layer")
	}
}

// The helper process of TestImportConcurrently: another crate importing into the same
// root at the same time.
const helperEnv = "CRATE_TEST_STORE_IMPORT" // "ROOT:BLOB1:BLOB2..."

func TestImportHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("only runs as the helper process of TestImportConcurrently")
	}
	parts := strings.Split(spec, ":")
	s := newTestStore(t, parts[0])
	importOK(t, s, blobFilesImage(t, parts[1:]), "shared")
	fmt.Printf("unpacked=%d\n", s.unpacks())
}

// blobFilesImage is a source of the layer blobs in files, as both the test and its
// helper processes build it: the same files, the same image.
func blobFilesImage(t *testing.T, files []string) *Source {
	t.Helper()
	var layers []Layer
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, blobLayer(b, "", ""))
	}
	return imageOf(layers...)
}

func TestImportConcurrently(t *testing.T) {
	const goroutines, processes = 6, 2
	root := t.TempDir()
	// Big enough that the unpacks overlap.
	lowerBlob := compress(t, Gzip, tarball(t, file("big", randomBytes(8<<20)), file("etc/hostname", "crate\n")))
	upperBlob := compress(t, Zstd, tarball(t, file("etc/motd", "hello\n")))
	var files []string
	for i, b := range [][]byte{lowerBlob, upperBlob} {
		files = append(files, writeArchive(t, fmt.Sprintf("layer%d", i), b))
	}

	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range processes {
		cmd := exec.Command(os.Args[0], "-test.run=^TestImportHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"="+root+":"+strings.Join(files, ":"))
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	stores := make([]testStore, goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		stores[i] = newTestStore(t, root) // a Store each, as separate processes have
		src := blobFilesImage(t, files)
		wg.Go(func() { _, errs[i] = stores[i].Import(context.Background(), src, "shared") })
	}
	wg.Wait()

	unpacked := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
		unpacked += stores[i].unpacks()
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process %d: %v\n%s", i, err, outs[i])
			continue
		}
		_, n, ok := strings.Cut(outs[i].String(), "unpacked=")
		count, err := strconv.Atoi(strings.Fields(n + " ")[0])
		if !ok || err != nil {
			t.Errorf("helper process %d said %q", i, outs[i])
		}
		unpacked += count
	}
	if unpacked != 2 {
		t.Errorf("the 2 layers were unpacked %d times in all, want each exactly once", unpacked)
	}
	images, err := stores[0].List()
	if err != nil || len(images) != 1 || len(images[0].Names) != 1 {
		t.Errorf("List = %v, %v; want one image named shared:latest", images, err)
	}
}

// imageWithID is an image of layer l whose id starts with hex (zeros complete it).
func imageWithID(l Layer, hex string) *Source {
	src := imageOf(l)
	src.ConfigDigest = digest.NewDigestFromEncoded(digest.SHA256, hex+strings.Repeat("0", 64-len(hex)))
	return src
}

func TestGetResolvesReferences(t *testing.T) {
	s := newTestStore(t, "")
	l := layerOf(t, None, file("x", "x"))
	withID := func(hex string) *Source { return imageWithID(l, hex) }
	a := importOK(t, s, withID("aaaa1"), "app", "app:v1", "registry:5000/team/app")
	b := importOK(t, s, withID("aaaa2"), "other:2")
	c := importOK(t, s, withID("bbbb"))

	for _, tc := range []struct {
		ref  string
		want *Image
		err  error
	}{
		{"app", a, nil},
		{"app:latest", a, nil},
		{"app:v1", a, nil},
		{"registry:5000/team/app", a, nil},
		{"registry:5000/team/app:latest", a, nil},
		{"other:2", b, nil},
		{a.ID.String(), a, nil},
		{"aaaa1", a, nil},
		{"sha256:aaaa2", b, nil},
		{"bbbb", c, nil},
		{"aaaa", nil, ErrAmbiguous},
		{"other", nil, ErrNotFound}, // other:latest
		{"app:v2", nil, ErrNotFound},
		{"aaa", nil, ErrNotFound}, // too short for a prefix
		{"cccc", nil, ErrNotFound},
		{"", nil, ErrNotFound},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			img, err := s.Get(tc.ref)
			switch {
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Errorf("Get(%q) = %v, %v; want %v", tc.ref, img, err, tc.err)
			case tc.err == nil && (err != nil || img.ID != tc.want.ID):
				t.Errorf("Get(%q) = %v, %v; want %s", tc.ref, img, err, tc.want.ID)
			}
		})
	}

	// A name moves: it names one image only.
	importOK(t, s, withID("bbbb"), "app:v1")
	if img, _ := s.Get("app:v1"); img == nil || img.ID != c.ID {
		t.Errorf("app:v1 did not move to the newly imported image")
	}
	if img, _ := s.Get("app"); img == nil || strings.Join(img.Names, " ") != "app:latest registry:5000/team/app:latest" {
		t.Errorf("names of the first image = %v, want app:v1 taken away", img.Names)
	}
}

// TestIDsComeBeforeNames: an image cannot pass for another by taking its id as a
// name. A full id names its image only; a 64-hex-digit name is refused; a short
// reference that is a name and another image's id prefix picks the name, as
// docker does, and says so.
func TestIDsComeBeforeNames(t *testing.T) {
	s := newTestStore(t, "")
	l := layerOf(t, None, file("x", "x"))
	victim := importOK(t, s, imageWithID(l, "5eed"))
	full, short := victim.ID.Encoded(), victim.ID.Encoded()[:12]

	for _, name := range []string{full, full + ":latest", full + ":v1"} {
		if _, err := s.Import(context.Background(), imageWithID(l, "bad"), name); err == nil {
			t.Errorf("Import with name %q succeeded; want it refused: it is an image id", name)
		}
	}

	// An older crate took such names: a record can still carry one.
	impostor := &Image{ID: imageWithID(l, "1a").ConfigDigest, Names: []string{full + ":latest", short + ":latest"}, Layers: victim.Layers}
	if err := s.writeRecord(impostor); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref  string
		want *Image
		warn bool // the reference is also another image's id prefix
	}{
		{full, victim, false},
		{victim.ID.String(), victim, false},
		{"sha256:" + short, victim, false},
		{short, impostor, true},
		{short + ":latest", impostor, false},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			s.log.Reset()
			img, err := s.Get(tc.ref)
			if err != nil || img.ID != tc.want.ID {
				t.Fatalf("Get(%q) = %v, %v; want %s", tc.ref, img, err, tc.want.ID)
			}
			logged := s.log.String()
			warned := strings.Contains(logged, "[WARN]") && strings.Contains(logged, string(impostor.ID)) && strings.Contains(logged, string(victim.ID))
			if warned != tc.warn {
				t.Errorf("Get(%q) logged %q; want a warning naming both images: %v", tc.ref, logged, tc.warn)
			}
		})
	}
}

func TestRemoveAndPruneKeepSharedLayers(t *testing.T) {
	s := newTestStore(t, "")
	base := layerOf(t, Gzip, file("etc/os-release", "ID=crate\n"))
	onlyX := layerOf(t, Gzip, file("x", "12345"))
	onlyY := layerOf(t, Gzip, file("y", "1234567"))
	x := importOK(t, s, imageOf(base, onlyX), "x")
	importOK(t, s, imageOf(base, onlyY), "y")

	if _, err := s.Remove("x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(x.ID.String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of the removed image: %v, want ErrNotFound", err)
	}
	if !s.hasLayer(onlyX.DiffID) {
		t.Errorf("Remove removed a layer: that is Prune's job")
	}
	pruned, err := s.Prune(PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !equalDigests(pruned.Layers, []digest.Digest{onlyX.DiffID}) || pruned.Bytes != 5 || len(pruned.Images) != 0 {
		t.Errorf("Prune = %+v; want layer %s, 5 bytes, no image", pruned, onlyX.DiffID)
	}
	for _, l := range []Layer{base, onlyY} {
		if !s.hasLayer(l.DiffID) {
			t.Errorf("layer %s of the remaining image was pruned", l.DiffID)
		}
	}
	if _, ok := s.blobDiffID(onlyX.Digest); ok {
		t.Errorf("the blob index still points at the pruned layer")
	}

	// The pruned layer comes back when needed, unpacked again.
	importOK(t, s, imageOf(base, onlyX), "x")
	if n := s.unpacks(); n != 4 {
		t.Errorf("%d unpacks in all, want 4 (3, then the pruned layer once more)", n)
	}
	for _, ref := range []string{"x", "y"} {
		if _, err := s.Remove(ref); err != nil {
			t.Fatal(err)
		}
	}
	if pruned, err := s.Prune(PruneOptions{}); err != nil || len(pruned.Layers) != 3 {
		t.Errorf("Prune after removing everything = %+v, %v; want all 3 layers", pruned, err)
	}
	requireNothingLeft(t, s.root)
	// Nobody imports while Prune holds the store alone: the blobs' lock files go too.
	if locks, _ := os.ReadDir(filepath.Join(s.root, "layers", ".locks")); len(locks) != 0 {
		t.Errorf("layers/.locks holds %d lock files after Prune", len(locks))
	}
}

// TestPruneRemovesWhatNoContainerUses: Prune removes the images without a name (with
// All, every image) that no container uses, then the layers that no image left and no
// container stands on.
func TestPruneRemovesWhatNoContainerUses(t *testing.T) {
	sizes := map[digest.Digest]int64{} // bytes of file content, by diff_id
	oneFile := func(name, body string) Layer {
		l := layerOf(t, Gzip, file(name, body))
		sizes[l.DiffID] = int64(len(body))
		return l
	}
	base := oneFile("etc/os-release", "ID=crate\n")
	app := oneFile("app", "the named image's own layer")
	unnamed := oneFile("unnamed", "a layer of an unnamed image nobody uses")
	used := oneFile("used", "a layer of an unnamed image a container uses")
	stoodOn := oneFile("stood-on", "a layer a container stands on")
	orphan := oneFile("orphan", "a layer of no image")

	for _, tc := range []struct {
		name         string
		all          bool
		imagesLeft   []string
		layersLeft   []Layer
		layersPruned []Layer
	}{
		{"images without a name", false, []string{"app", "used"},
			[]Layer{base, app, used, stoodOn}, []Layer{unnamed, orphan}},
		{"all images", true, []string{"used"},
			[]Layer{used, stoodOn}, []Layer{base, app, unnamed, orphan}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t, "")
			usedImage := importOK(t, s, imageOf(used))
			ids := map[digest.Digest]string{
				importOK(t, s, imageOf(base, app), "app").ID: "app",
				importOK(t, s, imageOf(base, unnamed)).ID:    "unnamed",
				usedImage.ID:                        "used",
				importOK(t, s, imageOf(stoodOn)).ID: "stood-on",
			}
			importOK(t, s, imageOf(orphan), "orphan")
			if _, err := s.Remove("orphan"); err != nil {
				t.Fatal(err)
			}
			inUse := InUse{Images: []digest.Digest{usedImage.ID}, Layers: []digest.Digest{stoodOn.DiffID}}
			du, err := s.DiskUsage(inUse)
			if err != nil {
				t.Fatal(err)
			}

			pruned, err := s.Prune(PruneOptions{All: tc.all, InUse: func() (InUse, error) { return inUse, nil }})
			if err != nil {
				t.Fatal(err)
			}
			images, err := s.List()
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, img := range images {
				left = append(left, ids[img.ID])
			}
			slices.Sort(left)
			if !slices.Equal(left, tc.imagesLeft) {
				t.Errorf("images left: %v, want %v", left, tc.imagesLeft)
			}
			if len(pruned.Images)+len(left) != len(ids) {
				t.Errorf("Prune reported %d images removed, %d of %d are left", len(pruned.Images), len(left), len(ids))
			}
			var want []digest.Digest
			var bytes int64
			for _, l := range tc.layersPruned {
				want = append(want, l.DiffID)
				bytes += sizes[l.DiffID]
			}
			slices.Sort(want)
			got := slices.Sorted(slices.Values(pruned.Layers))
			if !equalDigests(got, want) || pruned.Bytes != bytes {
				t.Errorf("Prune removed layers %v (%d bytes), want %v (%d bytes)", got, pruned.Bytes, want, bytes)
			}
			for _, l := range tc.layersLeft {
				if !s.hasLayer(l.DiffID) {
					t.Errorf("layer %s was pruned", l.DiffID)
				}
			}
			// DiskUsage said beforehand what Prune with All frees, and what any Prune
			// frees of the layers no image uses.
			if du.LayerReclaimable != sizes[orphan.DiffID] {
				t.Errorf("DiskUsage: %d bytes of layers no image uses, want %d", du.LayerReclaimable, sizes[orphan.DiffID])
			}
			if tc.all && du.ImageReclaimable+du.LayerReclaimable != pruned.Bytes {
				t.Errorf("DiskUsage: %+v, but Prune with All freed %d bytes", du, pruned.Bytes)
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"app", "app:latest"},
		{"app:1.0", "app:1.0"},
		{"team/app", "team/app:latest"},
		{"registry:5000/app", "registry:5000/app:latest"},
		{"registry:5000/app:v1", "registry:5000/app:v1"},
		{"", ""},
		{"app:", ""},
		{"app@sha256:abcd", ""},
		{"sha256:abcd", ""},
		{"with space", ""},
		{strings.Repeat("ab", 32), ""}, // an image id
		{strings.Repeat("ab", 32) + ":v1", ""},
		{"team/" + strings.Repeat("ab", 32), "team/" + strings.Repeat("ab", 32) + ":latest"},
		{strings.Repeat("ab", 6), strings.Repeat("ab", 6) + ":latest"},    // a short id is a name too
		{"docker.io/library/busybox", "docker.io/library/busybox:latest"}, // kept as given
		{"docker.io/library/" + strings.Repeat("ab", 32), ""},             // an id, in docker's long form
		{"[::1]:5000/app:v1", "[::1]:5000/app:v1"},
		{"App", ""},                                    // repositories are lowercase
		{"app:" + strings.Repeat("t", 129), ""},        // a tag has at most 128 characters
		{"app@sha256:" + strings.Repeat("ab", 32), ""}, // a digest reference names no tag
		{"evil\x1b[31m", ""},                           // terminal escapes
		{"evil\x1b]0;pwned\x07:latest", ""},            // a window title and a bell
		{"app:v1\r", ""},                               // a carriage return
		{"app\u009b31m", ""},                           // the one-byte CSI
		{"app\u202e", ""},                              // right-to-left override
		{"a//b", ""},
	} {
		got, err := normalizeName(tc.in)
		if tc.want == "" && err == nil || tc.want != "" && got != tc.want {
			t.Errorf("normalizeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if err != nil && !printableASCII(err.Error()) {
			t.Errorf("normalizeName(%q): error %q holds a character a terminal may act on", tc.in, err)
		}
	}
}

// TestImportRefusesBadNamesFromTheImage: the names an image file carries are the
// attacker's; one that is no NAME[:TAG] refuses the import, said safely, before
// anything is unpacked, and a name the caller gives instead is taken.
func TestImportRefusesBadNamesFromTheImage(t *testing.T) {
	s := newTestStore(t, "")
	src := imageOf(layerOf(t, Gzip, file("x", "x")))
	src.Names = []string{"good:1", "evil\x1b]0;pwned\x07\r:latest"}
	_, err := s.Import(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), `"evil\x1b]0;pwned\a\r:latest"`) || !printableASCII(err.Error()) {
		t.Fatalf("Import = %v; want the bad name refused, quoted", err)
	}
	requireNothingLeft(t, s.root)
	if img := importOK(t, s, src, "mine:1"); !slices.Equal(img.Names, []string{"mine:1"}) {
		t.Errorf("Names = %q, want the caller's mine:1 only", img.Names)
	}
}

func TestRenderBar(t *testing.T) {
	for _, tc := range []struct {
		done, total int64
		want        string
	}{
		{0, 100e6, "layer [>                             ]   0%    0.0/100.0 MB     0.0 MB/s"},
		{50e6, 100e6, "layer [===============>              ]  50%   50.0/100.0 MB    50.0 MB/s"},
		{100e6, 100e6, "layer [==============================] 100%  100.0/100.0 MB   100.0 MB/s"},
		{25e6, -1, "layer     25.0 MB    25.0 MB/s"},
	} {
		if got := renderBar("layer", tc.done, tc.total, 1e9); got != tc.want {
			t.Errorf("renderBar(%d, %d) =\n%q\nwant\n%q", tc.done, tc.total, got, tc.want)
		}
	}
}

func equalDigests(a, b []digest.Digest) bool {
	return strings.Join(digestStrings(a), " ") == strings.Join(digestStrings(b), " ")
}

func digestStrings(ds []digest.Digest) []string {
	var s []string
	for _, d := range ds {
		s = append(s, d.String())
	}
	return s
}

// getxattr returns the attribute's value, "" if it is not set.
func getxattr(t *testing.T, p, attr string) string {
	t.Helper()
	v, _ := lgetxattr(t, p, attr)
	return v
}
