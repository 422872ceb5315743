package main

// Hostile images: archives and layouts made to fool crate's handling of
// images rather than the kernel's isolation (that is hostile_test.go). The
// image is the attacker's: its names, its index files, the files in its
// layout directory and the attributes of its layers' files.

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/testutil"
)

// markedImage is an OCI layout of busybox with /which saying who made it,
// named ref.
func markedImage(t *testing.T, ref, who string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	layer := testutil.Tar(t, busyboxFiles(t, testutil.File{Name: "which", Mode: 0o644, Body: []byte(who)}))
	testutil.OCILayout(t, dir, ref, ocispec.ImageConfig{}, layer)
	return dir
}

// importedID imports path and returns the image's id, 64 hex digits.
func (e *env) importedID(path string) string {
	e.t.Helper()
	r := e.crate("image", "import", path)
	id, _, _ := strings.Cut(r.stdout, " ")
	if r.code != 0 || !strings.HasPrefix(id, "sha256:") {
		e.t.Fatalf("crate image import %s: exit %d, stdout %q\nstderr: %s", path, r.code, r.stdout, r.stderr)
	}
	return strings.TrimPrefix(id, "sha256:")
}

// requireRefused checks that r is crate refusing bad input: exit 125 and one
// line on stderr that says want.
func requireRefused(t *testing.T, r result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("exit %d, stderr %q; want 125 and one line saying %q", r.code, r.stderr, want)
	}
}

// TestHostileImageNameIsAnID: an image named after another image's id must
// not run in its place when the operator gives that id.
func TestHostileImageNameIsAnID(t *testing.T) {
	e := newEnv(t)
	id := e.importedID(markedImage(t, "victim:1", "victim"))
	short := id[:12] // as crate image ls shows it

	// The full id as a name: refused, and the id still runs its image.
	requireRefused(t, e.crate("image", "import", markedImage(t, id, "impostor")), "image id")
	if out := e.runOK(id, "cat", "/which"); out != "victim" {
		t.Errorf("crate run %s ran %q, want the victim", id, out)
	}

	// The short id as a name is a name (docker allows it too): it wins over
	// the id prefix, and crate says which image it took and how to reach
	// the other one.
	impostor := e.importedID(markedImage(t, short, "impostor"))
	r := e.run(short, "cat", "/which")
	warning := strings.TrimSpace(r.stderr)
	if r.code != 0 || r.stdout != "impostor" || strings.Count(warning, "\n") != 0 ||
		!strings.Contains(warning, impostor) || !strings.Contains(warning, id) {
		t.Errorf("crate run %s: exit %d, stdout %q, stderr %q; want the image named %s and one warning naming both ids",
			short, r.code, r.stdout, r.stderr, short)
	}
	if out := e.runOK("sha256:"+short, "cat", "/which"); out != "victim" {
		t.Errorf("crate run sha256:%s ran %q, want the victim", short, out)
	}
}

// evilName is a name with bytes a terminal acts on: an escape sequence that
// sets the window title, a bell, and a carriage return that lets what
// follows overwrite the line.
const evilName = "evil\x1b]0;pwned\x07\r:latest"

// requirePrintable fails if out holds a control character (C0 but newline
// and tab, DEL, or C1, which some terminals take as ESC sequences).
func requirePrintable(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r < ' ' && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f {
			t.Errorf("%s holds the control character %U: %q", what, r, out)
			return
		}
	}
}

// TestHostileImageNames: names that are no NAME[:TAG], from --name or from
// the image file, are refused in one line that shows them escaped; crate
// image ls escapes those an older crate may have recorded.
func TestHostileImageNames(t *testing.T) {
	e := newEnv(t)
	crate := func(args ...string) result {
		t.Helper()
		r := e.crate(args...)
		requirePrintable(t, fmt.Sprintf("stdout of crate %q", args), r.stdout)
		requirePrintable(t, fmt.Sprintf("stderr of crate %q", args), r.stderr)
		return r
	}
	requireRefused(t, crate("image", "import", busyboxImage(t), "--name", evilName), `"evil\x1b]0;pwned\a\r:latest"`)
	requireRefused(t, crate("image", "import", busyboxImage(t), "--name", "Busybox"), `"Busybox"`)
	if _, err := os.Stat(e.root); err == nil {
		t.Errorf("a refused --name made the state root %s", e.root)
	}
	records := func() []string {
		t.Helper()
		found, _ := filepath.Glob(filepath.Join(e.root, "images", "*.json"))
		return found
	}

	dir := t.TempDir()
	layer := testutil.Tar(t, busyboxFiles(t))
	save, layout := filepath.Join(dir, "save.tar"), filepath.Join(dir, "layout")
	testutil.DockerSave(t, save, evilName, ocispec.ImageConfig{}, layer)
	testutil.OCILayout(t, layout, "evil\x1b[2J\x07", ocispec.ImageConfig{}, layer)
	for what, img := range map[string]string{"docker save RepoTags": save, "OCI ref.name": layout} {
		t.Run(what, func(t *testing.T) {
			before := records()
			requireRefused(t, crate("image", "import", img), "--name NAME[:TAG]")
			r := e.run(img, "true")
			requirePrintable(t, "stderr of crate run", r.stderr)
			requireRefused(t, r, "crate image import "+img+" --name NAME[:TAG]")
			if after := records(); len(after) != len(before) {
				t.Errorf("image records %q after the refusals, %q before", after, before)
			}
			if r := crate("image", "import", img, "--name", "named:1"); r.code != 0 || !strings.HasSuffix(r.stdout, " named:1\n") {
				t.Errorf("import with --name: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		})
	}

	// An older crate recorded such names: ls and rm show them escaped, and
	// the JSON still holds them whole.
	named := records()
	if len(named) != 1 {
		t.Fatalf("image records %q, want the one of named:1", named)
	}
	var record map[string]any
	readJSONFile(t, named[0], &record)
	old := []any{evilName, "csi\u009b31m:latest", "del\x7f:latest"}
	record["names"] = append(record["names"].([]any), old...)
	writeJSONFile(t, named[0], record)
	if r := crate("image", "ls"); r.code != 0 || !strings.Contains(r.stdout, `"evil\x1b]0;pwned\a\r:latest"`) {
		t.Errorf("image ls: exit %d, stdout %q; want the old name escaped", r.code, r.stdout)
	}
	r := crate("image", "ls", "--format", "json")
	var rows []struct{ Name string }
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 4 || rows[1].Name != evilName {
		t.Errorf("image ls --format json: %v, rows %q; want named:1 and the old names, whole", err, rows)
	}
	if r := crate("image", "rm", "named:1"); r.code != 0 {
		t.Errorf("image rm: exit %d, stderr %q", r.code, r.stderr)
	}
}

// nestIndex rewrites the index.json of the OCI layout dir: it lists, times
// times, an index that lists the next index times times, and so on, depth
// indexes deep, the last one listing the layout's image times times.
func nestIndex(t *testing.T, dir string, times, depth int) {
	t.Helper()
	var index ocispec.Index
	readJSONFile(t, filepath.Join(dir, "index.json"), &index)
	d := index.Manifests[0]
	for range depth {
		nested := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: slices.Repeat([]ocispec.Descriptor{d}, times)}
		nested.SchemaVersion = 2
		blob, err := json.Marshal(nested)
		if err != nil {
			t.Fatal(err)
		}
		dg := digest.FromBytes(blob)
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", dg.Encoded()), blob, 0o644); err != nil {
			t.Fatal(err)
		}
		d = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: dg, Size: int64(len(blob)), Annotations: d.Annotations}
	}
	index.Manifests = slices.Repeat([]ocispec.Descriptor{d}, times)
	writeJSONFile(t, filepath.Join(dir, "index.json"), index)
}

// readJSONFile decodes the JSON file p into v.
func readJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// writeJSONFile writes v to the file p as JSON.
func writeJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err == nil {
		err = os.WriteFile(p, data, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostileImageIndexBomb imports a layout whose index.json lists one
// nested index 40 times, which lists the next one 40 times, four deep: read
// naively, 40^4 reads and 40^5 manifests to choose from (the crate of the
// security review grew past 2 GB in 25 s). Each index is read once, and the
// one image in it imported.
func TestHostileImageIndexBomb(t *testing.T) {
	e := newEnv(t)
	layout := markedImage(t, "bomb:1", "bomb")
	nestIndex(t, layout, 40, 4)
	// A minute is ample for a few small files; the old crate ran away.
	e.timeout = time.Minute
	r := e.crate("image", "import", layout)
	if r.code != 0 || !strings.HasSuffix(r.stdout, " bomb:1\n") {
		t.Fatalf("crate image import: exit %d, stdout %q, stderr %q; want bomb:1 imported", r.code, r.stdout, r.stderr)
	}
	if out := e.runOK("bomb:1", "cat", "/which"); out != "bomb" {
		t.Errorf("crate run bomb:1 ran %q, want the bomb's image", out)
	}
}

// TestHostileImageFIFO: a fifo where crate expects an image file, in an OCI
// layout directory or as the file given, is refused in one line naming it.
// Opening a fifo waits for a writer: the crate of the security review hung
// there for good.
func TestHostileImageFIFO(t *testing.T) {
	e := newEnv(t)
	e.timeout = time.Minute // ample for a refusal; the old crate hung
	layout := markedImage(t, "fifo:1", "fifo")
	var index ocispec.Index
	readJSONFile(t, filepath.Join(layout, "index.json"), &index)
	manifest := filepath.Join("blobs", "sha256", index.Manifests[0].Digest.Encoded())
	fifoFile := filepath.Join(t.TempDir(), "image.tar")
	if err := unix.Mkfifo(fifoFile, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		fifo  string // a file of the layout made a fifo, or "" for the fifo given as the file
		image string
		want  string
	}{
		{"index.json", "index.json", layout, "index.json is a fifo, not a regular file"},
		{"the manifest", manifest, layout, manifest + " is a fifo, not a regular file"},
		{"the file given", "", fifoFile, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fifo != "" {
				p := filepath.Join(layout, tc.fifo)
				saved, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := unix.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					os.Remove(p)
					os.WriteFile(p, saved, 0o644)
				})
			}
			requireRefused(t, e.crate("image", "import", tc.image), tc.want)
			name := newName()
			r := e.finish(e.command("run", "--name", name, tc.image, "true"), name)
			e.noLeftovers(name)
			requireRefused(t, r, tc.want)
		})
	}
	// The layout, whole again, imports and runs.
	if out := e.runOK(layout, "cat", "/which"); out != "fifo" {
		t.Errorf("crate run of the layout ran %q, want its image", out)
	}
}

// TestHostileImageOverlayXattrs: a layer that marks a directory opaque with
// overlayfs's own attribute, not with an OCI whiteout, does not hide what the
// layers below have there; its layer directory carries no overlay attribute.
// A real opaque whiteout still hides them.
func TestHostileImageOverlayXattrs(t *testing.T) {
	e := newEnv(t)
	base := testutil.Tar(t, busyboxFiles(t,
		testutil.File{Name: "opt", Mode: 0o755, Typeflag: tar.TypeDir},
		testutil.File{Name: "opt/old", Mode: 0o644, Body: []byte("old")},
	))
	forged := testutil.Tar(t, []testutil.File{
		{Name: "opt", Mode: 0o755, Typeflag: tar.TypeDir, Xattrs: map[string]string{
			"trusted.overlay.opaque": "y", "trusted.overlay.redirect": "/bin", "user.overlay.opaque": "y"}},
		{Name: "opt/new", Mode: 0o644, Body: []byte("new")},
	})
	whiteout := testutil.Tar(t, []testutil.File{
		{Name: "opt", Mode: 0o755, Typeflag: tar.TypeDir},
		{Name: "opt/.wh..wh..opq", Mode: 0o644},
		{Name: "opt/new", Mode: 0o644, Body: []byte("new")},
	})
	dir := t.TempDir()
	for _, tc := range []struct {
		name, top string
		layer     []byte
		want      string
	}{
		{"forged attribute", "forged", forged, "new\nold\n"},
		{"opaque whiteout", "whiteout", whiteout, "new\n"},
	} {
		img := filepath.Join(dir, tc.top+".tar")
		testutil.DockerSave(t, img, tc.top+":1", ocispec.ImageConfig{}, base, tc.layer)
		for _, storage := range []string{"overlay", "copy"} {
			t.Run(tc.name+" with "+storage, func(t *testing.T) {
				if out := e.runOK("--storage", storage, img, "ls", "/opt"); out != tc.want {
					t.Errorf("ls /opt: %q, want %q", out, tc.want)
				}
			})
		}
	}
	opt := filepath.Join(e.root, "layers", "sha256", digest.FromBytes(forged).Encoded(), "opt")
	buf := make([]byte, 4096)
	size, err := unix.Llistxattr(opt, buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, attr := range strings.Split(string(buf[:size]), "\x00") {
		if strings.Contains(attr, "overlay.") {
			t.Errorf("the forged layer's opt carries %s", attr)
		}
	}
}
