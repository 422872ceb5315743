package main

// Hostile images: archives and layouts made to fool crate's handling of
// images rather than the kernel's isolation (that is hostile_test.go). The
// image is the attacker's: its names, its index files, the files in its
// layout directory and the attributes of its layers' files.

import (
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/crate-run/crate/pkg/testutil"
)

// signedImage is an OCI layout of busybox with /which saying who made it,
// named ref.
func signedImage(t *testing.T, ref, who string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	layer := testutil.Tar(t, busyboxFiles(t, testutil.File{Name: "which", Mode: 0o644, Body: []byte(who)}))
	testutil.OCILayout(t, dir, ref, ocispec.ImageConfig{}, layer)
	return dir
}

// importedID imports path and returns the image's id, 64 hex digits.
func (e *env) importedID(path string, args ...string) string {
	e.t.Helper()
	r := e.crate(append([]string{"image", "import", path}, args...)...)
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
	id := e.importedID(signedImage(t, "victim:1", "victim"))
	short := id[:12] // as crate image ls shows it

	// The full id as a name: refused, and the id still runs its image.
	requireRefused(t, e.crate("image", "import", signedImage(t, id, "impostor")), "image id")
	if out := e.runOK(id, "cat", "/which"); out != "victim" {
		t.Errorf("crate run %s ran %q, want the victim", id, out)
	}

	// The short id as a name is a name (docker allows it too): it wins over
	// the id prefix, and crate says which image it took and how to reach
	// the other one.
	impostor := e.importedID(signedImage(t, short, "impostor"))
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
