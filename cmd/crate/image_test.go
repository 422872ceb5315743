package main

// Images: docker save archives and OCI layouts built by the tests, layers
// unpacked once into the store, an overlay (or a copy) per container, and
// the image config's defaults.

import (
	"archive/tar"
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/crate-run/crate/pkg/testutil"
)

// longName is a path deeper and longer than a plain tar header holds.
var longName = "deep/" + strings.Repeat("long-directory-name/", 8) + "file-with-a-long-name"

// layeredImage is busybox as a base layer, plus a layer that deletes a file
// (whiteout), replaces a directory's contents (opaque), and adds a hardlink,
// a symlink, a setuid file and a long name.
func layeredImage(t *testing.T) (base, top []byte) {
	base = testutil.Tar(t, busyboxFiles(t,
		testutil.File{Name: "etc/doomed", Mode: 0o644, Body: []byte("delete me")},
		testutil.File{Name: "opt", Mode: 0o755, Typeflag: tar.TypeDir},
		testutil.File{Name: "opt/old", Mode: 0o644, Body: []byte("old")},
	))
	top = testutil.Tar(t, []testutil.File{
		{Name: "etc/.wh.doomed", Mode: 0o644},
		{Name: "opt", Mode: 0o755, Typeflag: tar.TypeDir},
		{Name: "opt/.wh..wh..opq", Mode: 0o644},
		{Name: "opt/new", Mode: 0o644, Body: []byte("new")},
		{Name: "srv", Mode: 0o755, Typeflag: tar.TypeDir},
		{Name: "srv/data", Mode: 0o644, Body: []byte("data")},
		{Name: "srv/hardlink", Typeflag: tar.TypeLink, Link: "srv/data"},
		{Name: "srv/symlink", Typeflag: tar.TypeSymlink, Link: "data"},
		{Name: "srv/setuid", Mode: 0o4755, Body: []byte("#!/bin/sh\n")},
		{Name: longName, Mode: 0o644, Body: []byte("long")},
	})
	return base, top
}

// whatTheLayersSay prints what layeredImage's top layer should have made.
var whatTheLayersSay = `ls /etc/doomed 2>&1; ls /opt; cat /srv/symlink; echo;
[ "$(stat -c %i /srv/data)" = "$(stat -c %i /srv/hardlink)" ] && echo hardlinked;
stat -c %A /srv/setuid; cat /` + longName

const whatTheLayersMade = "ls: /etc/doomed: No such file or directory\nnew\ndata\nhardlinked\n-rwsr-xr-x\nlong"

func TestImageFormats(t *testing.T) {
	e := newEnv(t)
	base, top := layeredImage(t)
	dir := t.TempDir()
	save := filepath.Join(dir, "saved.tar")
	testutil.DockerSave(t, save, "layered:v1", ocispec.ImageConfig{}, base, top)
	layout := filepath.Join(dir, "layout")
	testutil.OCILayout(t, layout, "layered:v2", ocispec.ImageConfig{}, base, top)

	for _, storage := range []string{"overlay", "copy"} {
		for name, img := range map[string]string{"docker save": save, "OCI layout": layout} {
			t.Run(name+" with "+storage, func(t *testing.T) {
				out := e.runOK("--storage", storage, img, "/bin/sh", "-c", whatTheLayersSay)
				if out != whatTheLayersMade {
					t.Errorf("got:\n%s\nwant:\n%s", out, whatTheLayersMade)
				}
			})
		}
	}
	// Both files named the image; it runs by name from the store.
	for _, ref := range []string{"layered:v1", "layered:v2"} {
		if out := e.runOK(ref, "cat", "/opt/new"); out != "new" {
			t.Errorf("crate run %s: %q", ref, out)
		}
	}
	// Four runs of two files made of the same two layers: each unpacked once.
	if n := e.countLog("layer unpacked"); n != 2 {
		t.Errorf("%d layers unpacked, want 2 (each once)", n)
	}
}

func TestImageConfigDefaultsAndOverrides(t *testing.T) {
	e := newEnv(t)
	layer := testutil.Tar(t, busyboxFiles(t,
		testutil.File{Name: "etc/passwd", Mode: 0o644, Body: []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")},
		testutil.File{Name: "etc/group", Mode: 0o644, Body: []byte("root:x:0:\napp:x:1000:\n")},
	))
	img := filepath.Join(t.TempDir(), "app.tar")
	testutil.DockerSave(t, img, "app:latest", ocispec.ImageConfig{
		Entrypoint: []string{"/bin/sh", "-c", `echo "$(id -u) $(pwd) $GREETING $0 $*"`},
		Cmd:        []string{"default-arg"},
		Env:        []string{"GREETING=hello", "PATH=/usr/bin:/bin"},
		WorkingDir: "/work",
		User:       "app",
	}, layer)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"the image's defaults", []string{img}, "1000 /work hello default-arg \n"},
		{"arguments replace Cmd", []string{img, "given"}, "1000 /work hello given \n"},
		{"flags override", []string{"-u", "0", "-w", "/tmp", "-e", "GREETING=hi", img}, "0 /tmp hi default-arg \n"},
		{"--entrypoint replaces both", []string{"--entrypoint", "/bin/pwd", img}, "/work\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out := e.runOK(tt.args...); out != tt.want {
				t.Errorf("got %q, want %q", out, tt.want)
			}
		})
	}
}

func TestImageCommands(t *testing.T) {
	e := newEnv(t)
	base, top := layeredImage(t)
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one.tar"), filepath.Join(dir, "two.tar")
	testutil.DockerSave(t, one, "one:latest", ocispec.ImageConfig{}, base)
	testutil.DockerSave(t, two, "two:latest", ocispec.ImageConfig{}, base, top)

	mustCrate := func(args ...string) string {
		t.Helper()
		r := e.crate(args...)
		if r.code != 0 {
			t.Fatalf("crate %q: exit %d\n%s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	mustCrate("image", "import", one)
	mustCrate("image", "import", two, "--name", "renamed:1.0")

	var rows []struct {
		Name   string `json:"name"`
		ID     string `json:"id"`
		Layers int    `json:"layers"`
		Size   int64  `json:"size"`
	}
	if err := json.Unmarshal([]byte(mustCrate("image", "ls", "--format", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, r := range rows {
		names[r.Name] = r.Layers
	}
	if len(rows) != 2 || names["one:latest"] != 1 || names["renamed:1.0"] != 2 {
		t.Fatalf("image ls: %+v", rows)
	}
	if table := mustCrate("image", "ls"); !strings.Contains(table, "NAME") || !strings.Contains(table, "renamed:1.0") {
		t.Errorf("image ls table:\n%s", table)
	}

	// rm drops the image; prune keeps the layers of a container still
	// running on it, then frees only the layer nobody uses.
	running := e.start("-i", "renamed:1.0", "/bin/sh", "-c", "echo ready; read x; cat /opt/new")
	mustCrate("image", "rm", "renamed:1.0")
	if out := mustCrate("image", "prune"); !strings.HasPrefix(out, "removed 0 images and 0 layers") {
		t.Errorf("prune with a container running: %q, want nothing removed", out)
	}
	running.stdin.Write([]byte("go on\n"))
	if r := e.wait(running); r.code != 0 || r.stdout != "new" {
		t.Errorf("the container after prune: exit %d, %q", r.code, r.stdout)
	}
	if out := mustCrate("image", "prune"); !strings.Contains(out, "removed 0 images and 1 layer,") {
		t.Errorf("prune: %q, want 1 layer (the base is still one:latest's)", out)
	}
	if r := e.crate("run", "renamed:1.0", "true"); r.code != 125 || !strings.Contains(r.stderr, "no imported image") {
		t.Errorf("run of a removed image: exit %d, %q", r.code, r.stderr)
	}
	if r := e.crate("image", "rm", "nothing"); r.code != 125 {
		t.Errorf("rm of an unknown image: exit %d", r.code)
	}
}

// TestConcurrentFirstRuns starts the same new image several times at once:
// every run succeeds and the layers are unpacked once.
func TestConcurrentFirstRuns(t *testing.T) {
	e := newEnv(t)
	base, top := layeredImage(t)
	img := filepath.Join(t.TempDir(), "image.tar")
	testutil.DockerSave(t, img, "busy:latest", ocispec.ImageConfig{}, base, top)
	var wg sync.WaitGroup
	results := make([]result, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.run(img, "cat", "/opt/new")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 || r.stdout != "new" {
			t.Errorf("run %d: exit %d, %q\n%s", i, r.code, r.stdout, r.stderr)
		}
	}
	if n := e.countLog("layer unpacked"); n != 2 {
		t.Errorf("%d layers unpacked by 4 concurrent runs, want 2", n)
	}
}

// TestBadLayers: a layer that is not what the image says it is fails the
// run with one line, and leaves neither a layer nor a container behind.
func TestBadLayers(t *testing.T) {
	e := newEnv(t)
	base, _ := layeredImage(t)
	dir := t.TempDir()

	mismatch := filepath.Join(dir, "mismatch.tar")
	testutil.DockerSave(t, mismatch, "bad:1", ocispec.ImageConfig{}, base)
	// Rewrite the layer with different content: its diff_id no longer matches.
	rewriteMember(t, mismatch, "/layer.tar", testutil.Gzip(t, testutil.Tar(t, busyboxFiles(t))))

	corrupt := filepath.Join(dir, "corrupt.tar")
	testutil.DockerSave(t, corrupt, "bad:2", ocispec.ImageConfig{}, base)
	gz := testutil.Gzip(t, base)
	gz[len(gz)/2] ^= 0xff
	rewriteMember(t, corrupt, "/layer.tar", gz)

	for name, c := range map[string]struct{ img, says string }{
		"digest mismatch": {mismatch, "mismatch"},
		"corrupt layer":   {corrupt, "gzip"},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.run(c.img, "true")
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], c.says) {
				t.Errorf("exit %d, stderr %q; want 125 and one line about the %s", r.code, r.stderr, c.says)
			}
			layers, _ := filepath.Glob(filepath.Join(e.root, "layers", "sha256", "*"))
			tmp, _ := filepath.Glob(filepath.Join(e.root, "layers", "tmp", "*"))
			if len(layers)+len(tmp) != 0 {
				t.Errorf("left behind: %v %v", layers, tmp)
			}
		})
	}
}

// rewriteMember replaces the body of the first member of a tar file whose
// name ends in suffix.
func rewriteMember(t *testing.T, path, suffix string, body []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var files []testutil.File
	tr := tar.NewReader(f)
	done := false
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !done && strings.HasSuffix(hdr.Name, suffix) {
			data, done = body, true
		}
		files = append(files, testutil.File{Name: hdr.Name, Mode: hdr.Mode, Typeflag: hdr.Typeflag, Body: data})
	}
	f.Close()
	if !done {
		t.Fatalf("no member %s in %s", suffix, path)
	}
	if err := os.WriteFile(path, testutil.Tar(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImportSurvivesACrash kills crate in the middle of unpacking a layer;
// the next import finds the half-unpacked layer, removes it and succeeds.
func TestImportSurvivesACrash(t *testing.T) {
	e := newEnv(t)
	// 256 MiB of zeros: a small file that takes a while to unpack.
	big := testutil.Tar(t, busyboxFiles(t, testutil.File{Name: "big", Mode: 0o644, Body: make([]byte, 256<<20)}))
	img := filepath.Join(t.TempDir(), "big.tar")
	testutil.DockerSave(t, img, "big:latest", ocispec.ImageConfig{Cmd: []string{"true"}}, big)

	cmd := e.command("--log-level", "debug", "--log-format", "json", "image", "import", img)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() && !strings.Contains(lines.Text(), `"unpacking layer"`) {
	}
	cmd.Process.Kill()
	cmd.Wait()
	partial, _ := filepath.Glob(filepath.Join(e.root, "layers", "tmp", "*"))
	if len(partial) != 1 {
		t.Fatalf("after the kill: %v in layers/tmp, want the half-unpacked layer", partial)
	}

	if r := e.crate("image", "import", img); r.code != 0 {
		t.Fatalf("import after the crash: exit %d\n%s", r.code, r.stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(e.root, "layers", "tmp", "*")); len(left) != 0 {
		t.Errorf("still in layers/tmp: %v", left)
	}
	if out := e.runOK("big:latest", "/bin/sh", "-c", "wc -c < /big"); strings.TrimSpace(out) != "268435456" {
		t.Errorf("the layer after recovery: %q", out)
	}
}

// TestCopyWhenStateRootIsOnOverlay puts the state root on an overlayfs of
// the test's own, where overlayfs refuses an upper directory: crate copies
// the layers instead, says so in its log, and the container looks the same.
func TestCopyWhenStateRootIsOnOverlay(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	merged := filepath.Join(dir, "merged")
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + filepath.Join(dir, "lower") + ",upperdir=" + filepath.Join(dir, "upper") + ",workdir=" + filepath.Join(dir, "work")
	if err := syscall.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount the test's overlay: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(merged, syscall.MNT_DETACH) })
	e.root = filepath.Join(merged, "state")

	base, top := layeredImage(t)
	img := filepath.Join(t.TempDir(), "image.tar")
	testutil.DockerSave(t, img, "layered:v1", ocispec.ImageConfig{}, base, top)
	r := e.run(img, "/bin/sh", "-c", whatTheLayersSay)
	if r.code != 0 || r.stdout != whatTheLayersMade {
		t.Fatalf("exit %d, got:\n%s\nwant:\n%s\nstderr: %s", r.code, r.stdout, whatTheLayersMade, r.stderr)
	}
	ready := e.logEntry(r.name, "root filesystem ready")
	if ready["storage"] != "copy" || !strings.Contains(ready["storage_reason"].(string), "itself on overlayfs") {
		t.Errorf("root filesystem: %v, want a copy because of the overlay", ready)
	}
	if r := e.run("--storage", "overlay", img, "true"); r.code != 125 || !strings.Contains(r.stderr, "use --storage copy") {
		t.Errorf("--storage overlay on overlayfs: exit %d, %q", r.code, r.stderr)
	}
}

// TestOverlayIsVolatile: the container's overlay is mounted "volatile" where
// the kernel has it (5.10), so that its unmount at exit does not sync, and
// wait for, the whole file system under the state root.
func TestOverlayIsVolatile(t *testing.T) {
	e := newEnv(t)
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var release []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		release = append(release, byte(c))
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(release), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", release, err)
	}
	want := major > 5 || major == 5 && minor >= 10
	out := e.runOK("--storage", "overlay", busyboxImage(t), "/bin/sh", "-c", "grep '^overlay / ' /proc/mounts")
	// Newer kernels show it as fsync=volatile.
	if got := strings.Contains(out, "volatile"); got != want {
		t.Errorf("kernel %s: root mount %q, volatile %v, want %v", release, out, got, want)
	}
}

// TestHomeFollowsTheUser: HOME is the user's home from the image's passwd,
// as in docker run, unless the image or -e set it; root's is /root.
func TestHomeFollowsTheUser(t *testing.T) {
	e := newEnv(t)
	img := rootfsImage(t, busyboxFiles(t,
		testutil.File{Name: "etc/passwd", Mode: 0o644, Body: []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")},
		testutil.File{Name: "etc/group", Mode: 0o644, Body: []byte("root:x:0:\napp:x:1000:\n")},
	))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"root", nil, "/root\n"},
		{"-u app", []string{"-u", "app"}, "/home/app\n"},
		{"-u 1234, no passwd entry", []string{"-u", "1234"}, "/\n"},
		{"-e HOME wins", []string{"-u", "app", "-e", "HOME=/srv"}, "/srv\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.runOK(append(tt.args, img, "/bin/sh", "-c", "echo $HOME")...); got != tt.want {
				t.Errorf("HOME = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestImagePrune: each crate run FILE keeps an image without a name. crate
// image prune removes those no container uses, then the layers nothing uses;
// -a removes every image no container uses. A running container, and an
// exited one kept for crate rm, keep their images and layers until they go.
func TestImagePrune(t *testing.T) {
	e := newEnv(t)
	image := func(which string) string {
		return rootfsImage(t, busyboxFiles(t, testutil.File{Name: "which", Mode: 0o644, Body: []byte(which)}))
	}
	named, dangling, kept, running := image("named"), image("dangling"), image("kept"), image("running")
	ids := map[string]string{}
	for name, file := range map[string]string{"named": named, "dangling": dangling, "kept": kept, "running": running} {
		ids[name] = e.importedID(file)
	}
	e.ok("image", "import", named, "--name", "named")
	e.runOK(dangling, "true") // a foreground run: its container is gone, its image stays
	keptName := e.detach(kept, "true")
	e.ok("wait", keptName)
	live := e.start("-i", running, "/bin/sh", "-c", "echo ready; read x")

	images := func() []string {
		t.Helper()
		var rows []imageRow
		if err := json.Unmarshal([]byte(e.ok("image", "ls", "--format", "json")), &rows); err != nil {
			t.Fatal(err)
		}
		var left []string
		for name, id := range ids {
			if slices.ContainsFunc(rows, func(r imageRow) bool { return r.ID == id }) {
				left = append(left, name)
			}
		}
		slices.Sort(left)
		return left
	}
	prune := func(args []string, removed []string, summary string) {
		t.Helper()
		out := e.ok(append([]string{"image", "prune"}, args...)...)
		for _, name := range removed {
			if !strings.Contains(out, "removed image "+ids[name][:12]) {
				t.Errorf("crate image prune %q did not say it removed the %s image:\n%s", args, name, out)
			}
		}
		if !regexp.MustCompile(`(?m)^` + summary + `, [0-9.]+ MiB freed$`).MatchString(out) {
			t.Errorf("crate image prune %q:\n%s\nwant a last line %q, N MiB freed", args, out, summary)
		}
	}

	prune(nil, []string{"dangling"}, "removed 1 image and 1 layer")
	if got, want := images(), []string{"kept", "named", "running"}; !slices.Equal(got, want) {
		t.Errorf("after crate image prune: %v, want %v", got, want)
	}
	prune([]string{"-a"}, []string{"named"}, "removed 1 image and 1 layer")
	if got, want := images(), []string{"kept", "running"}; !slices.Equal(got, want) {
		t.Errorf("after crate image prune -a: %v, want %v", got, want)
	}
	if out := e.runOK(running, "cat", "/which"); out != "running" {
		t.Errorf("the image of the running container after prune -a: %q", out)
	}

	live.stdin.Write([]byte("done\n"))
	if r := e.wait(live); r.code != 0 {
		t.Errorf("the running container: exit %d\n%s", r.code, r.stderr)
	}
	e.ok("rm", keptName)
	prune(nil, []string{"kept", "running"}, "removed 2 images and 2 layers")
	if layers, _ := filepath.Glob(filepath.Join(e.root, "layers", "sha256", "*")); len(layers) != 0 {
		t.Errorf("layers left when no image and no container is left: %v", layers)
	}
}

// TestPruneRacingStarts runs crate image prune -a over and over while
// containers start from image files: a start imports an image without a
// name, which prune -a removes unless a container uses it, so each start
// must hold its image and layers from the moment it finds them until its
// directory names them. Every start must succeed, with an overlay or a copy.
func TestPruneRacingStarts(t *testing.T) {
	e := newEnv(t)
	const starters, starts = 2, 4
	files := make([][]string, starters)
	for i := range starters {
		for j := range starts {
			which := fmt.Sprintf("image %d.%d", i, j)
			files[i] = append(files[i], rootfsImage(t, busyboxFiles(t, testutil.File{Name: "which", Mode: 0o644, Body: []byte(which)})))
		}
	}

	done := make(chan struct{})
	pruned := make(chan int)
	go func() {
		n := 0
		defer func() { pruned <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			if r := e.crate("image", "prune", "-a"); r.code != 0 {
				t.Errorf("crate image prune -a: exit %d\n%s", r.code, r.stderr)
				return
			}
			n++
		}
	}()
	var wg sync.WaitGroup
	for i := range starters {
		wg.Go(func() {
			for j, file := range files[i] {
				storage := []string{"overlay", "copy"}[j%2]
				r := e.run("--storage", storage, file, "cat", "/which")
				if want := fmt.Sprintf("image %d.%d", i, j); r.code != 0 || r.stdout != want {
					t.Errorf("start %d.%d (%s) racing prune: exit %d, %q, want %q\n%s", i, j, storage, r.code, r.stdout, want, r.stderr)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	t.Logf("%d prunes raced %d starts", <-pruned, starters*starts)
}

// df returns crate system df's rows by type.
func (e *env) df() map[string]dfRow {
	e.t.Helper()
	var rows []dfRow
	if err := json.Unmarshal([]byte(e.ok("system", "df", "--format", "json")), &rows); err != nil {
		e.t.Fatal(err)
	}
	byType := map[string]dfRow{}
	for _, r := range rows {
		byType[r.Type] = r
	}
	return byType
}

// TestSystemDf: crate system df counts images, layers and containers, the
// bytes of file content each holds, and what crate image prune -a (images
// and layers) or crate rm (exited containers) would free.
func TestSystemDf(t *testing.T) {
	e := newEnv(t)
	image := func(which string, size int) string {
		return rootfsImage(t, busyboxFiles(t, testutil.File{Name: which, Mode: 0o644, Body: make([]byte, size)}))
	}
	used, unused, orphan := image("used", 1<<20), image("unused", 2<<20), image("orphan", 3<<20)
	sizes := map[string]int64{}
	for name, file := range map[string]string{"used": used, "unused": unused, "orphan": orphan} {
		id := e.importedID(file)
		var rows []imageRow
		if err := json.Unmarshal([]byte(e.ok("image", "ls", "--format", "json")), &rows); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.ID == id {
				sizes[name] = r.Size
			}
		}
	}
	e.ok("image", "rm", e.importedID(orphan))
	// An exited container kept for crate rm, with 4 MiB in its upper
	// directory and a line of output, and a running one with 1 MiB.
	kept := e.detach(used, "/bin/sh", "-c", "head -c 4194304 /dev/zero > /big; echo done")
	e.ok("wait", kept)
	live := e.start("-i", used, "/bin/sh", "-c", "head -c 1048576 /dev/zero > /big; echo ready; read x")

	df := e.df()
	want := map[string]dfRow{
		"images": {Type: "images", Total: 2, Active: 1, Size: sizes["used"] + sizes["unused"], Reclaimable: sizes["unused"]},
		"layers": {Type: "layers", Total: 3, Active: 2, Size: sizes["used"] + sizes["unused"] + sizes["orphan"], Reclaimable: sizes["orphan"]},
	}
	for typ, w := range want {
		if df[typ] != w {
			t.Errorf("%s: %+v, want %+v", typ, df[typ], w)
		}
	}
	c := df["containers"]
	const mib = 1 << 20
	if c.Total != 2 || c.Active != 1 || c.Size < 5*mib || c.Size > 6*mib || c.Reclaimable < 4*mib || c.Reclaimable > 5*mib {
		t.Errorf("containers: %+v, want 2, 1 active, 5 MiB and more, of which 4 MiB and more reclaimable", c)
	}
	table := e.ok("system", "df")
	for _, s := range []string{"TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE", "Images", "Layers", "Containers"} {
		if !strings.Contains(table, s) {
			t.Errorf("crate system df does not say %q:\n%s", s, table)
		}
	}

	// What df says prune -a frees is what it frees.
	e.ok("image", "prune", "-a")
	if after := e.df()["layers"]; after.Size != df["layers"].Size-df["images"].Reclaimable-df["layers"].Reclaimable {
		t.Errorf("after prune -a the layers hold %d bytes; df said %d - %d - %d", after.Size,
			df["layers"].Size, df["images"].Reclaimable, df["layers"].Reclaimable)
	}
	live.stdin.Write([]byte("done\n"))
	e.wait(live)
}

// TestImportKeepsFreeSpace puts the state root on a small file system of
// the test's own. An import that would go below the reserve (--min-free,
// by default 5% of the file system or 1 GiB, whichever is smaller), a small
// layer that expands beyond the free space, and, with no reserve, one that
// fills the file system, each fail with one line and exit 125, leave
// nothing under layers/tmp and no image; a good image imports and runs
// after each.
func TestImportKeepsFreeSpace(t *testing.T) {
	e := newEnv(t)
	e.root = filepath.Join(testutil.Tmpfs(t, "size=48m"), "state")
	random := make([]byte, 24<<20)
	rand.Read(random)
	big := rootfsImage(t, busyboxFiles(t, testutil.File{Name: "big", Mode: 0o644, Body: random}))
	bomb := rootfsImage(t, []testutil.File{{Name: "bomb", Mode: 0o644, Body: make([]byte, 96<<20)}})
	busybox := busyboxImage(t)
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	busyboxID := fmt.Sprintf("%x", sha256.Sum256(data)) // a root filesystem archive's id is its digest
	tests := []struct {
		name string
		args []string // IMAGE follows, then "true" for crate run
		file string
		says string
	}{
		{"a layer that would cross the reserve", []string{"--min-free", "40M", "image", "import"}, big,
			"expands beyond the free space"},
		{"a reserve in percent", []string{"--min-free", "90%", "image", "import"}, big, "expands beyond the free space"},
		{"a decompression bomb, default reserve", []string{"image", "import"}, bomb, "expands beyond the free space"},
		{"a decompression bomb run", []string{"run", "--name", newName()}, bomb, "expands beyond the free space"},
		{"no reserve: the disk fills up", []string{"--min-free", "0", "image", "import"}, bomb, "no space left on device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(slices.Clone(tt.args), tt.file)
			if tt.args[0] == "run" {
				args = append(args, "true")
			}
			r := e.crate(args...)
			requireRefused(t, r, tt.says)
			if tt.says != "no space left on device" && !strings.Contains(r.stderr, "--min-free") {
				t.Errorf("stderr %q does not say how to change the reserve (--min-free)", r.stderr)
			}
			t.Log(strings.TrimSpace(r.stderr))
			if left, _ := filepath.Glob(filepath.Join(e.root, "layers", "tmp", "*")); len(left) != 0 {
				t.Errorf("left under layers/tmp: %v", left)
			}
			e.noContainers()
			var rows []imageRow
			if err := json.Unmarshal([]byte(e.ok("image", "ls", "--format", "json")), &rows); err != nil {
				t.Fatal(err)
			}
			for _, row := range rows {
				if row.ID != busyboxID {
					t.Errorf("an image was recorded: %+v", row)
				}
			}
			if out := e.runOK(busybox, "echo", "ok"); out != "ok\n" {
				t.Errorf("a good image after the failed import: %q", out)
			}
		})
	}
}

// TestImportSurvivesAFullDisk fills the state root's file system (a tmpfs
// of the test's own, no reserve) so that the kernel's ENOSPC stops an
// import at different points: in the middle of a file, at its last file,
// at the layer's description, the blob index, the image records (the name
// moves from another image). After each: one line and exit 125, nothing
// under layers/tmp, no temporary file, every image's layers whole, the
// name on exactly one image; and, once the space is back, the image
// imports and runs.
func TestImportSurvivesAFullDisk(t *testing.T) {
	e := newEnv(t)
	tiny := rootfsImage(t, []testutil.File{{Name: "tiny", Mode: 0o644, Body: []byte("tiny")}})
	// busybox named app:latest, with a config big enough that its record
	// takes more blocks than the old record frees when the name leaves it.
	busybox := filepath.Join(t.TempDir(), "busybox.tar")
	testutil.DockerSave(t, busybox, "app:latest", ocispec.ImageConfig{Env: []string{"BIG=" + strings.Repeat("x", 6000)}},
		testutil.Tar(t, busyboxFiles(t)))
	// What the import takes, in blocks: measured on a first tmpfs.
	e.root = filepath.Join(testutil.Tmpfs(t, "size=32m"), "state")
	e.ok("image", "import", tiny, "--name", "app")
	before := freeBlocks(t, e.root)
	e.ok("--min-free", "0", "image", "import", busybox)
	need := before - freeBlocks(t, e.root)
	t.Logf("the import takes %d blocks", need)

	for _, left := range []int64{0, need / 2, need - 5, need - 4, need - 3, need - 2, need - 1} {
		t.Run(fmt.Sprintf("%d blocks left", left), func(t *testing.T) {
			sub := *e
			e := &sub
			e.t, e.root = t, filepath.Join(testutil.Tmpfs(t, "size=32m"), "state")
			e.ok("image", "import", tiny, "--name", "app")
			fill := testutil.FillTo(t, e.root, left*4096)
			r := e.crate("--min-free", "0", "image", "import", busybox)
			if r.code == 0 {
				t.Logf("the import fits")
			} else {
				requireRefused(t, r, "no space left on device")
				t.Log(strings.TrimSpace(r.stderr))
			}
			e.requireWholeStore()
			os.Remove(fill)
			e.ok("--min-free", "0", "image", "import", busybox)
			e.requireWholeStore()
			if out := e.runOK("app", "echo", "ok"); out != "ok\n" {
				t.Errorf("the image after the full disk: %q", out)
			}
		})
	}
}

// freeBlocks is the number of free blocks of dir's file system.
func freeBlocks(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail)
}

// requireWholeStore checks the store under the env's state root: nothing
// under layers/tmp, no temporary file, each image's layers in place, and the
// name app:latest on exactly one image.
func (e *env) requireWholeStore() {
	e.t.Helper()
	if left, _ := filepath.Glob(filepath.Join(e.root, "layers", "tmp", "*")); len(left) != 0 {
		e.t.Errorf("left under layers/tmp: %v", left)
	}
	filepath.WalkDir(e.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			e.t.Errorf("temporary file left: %s", p)
		}
		return err
	})
	records, _ := filepath.Glob(filepath.Join(e.root, "images", "*.json"))
	named := 0
	for _, p := range records {
		var img struct {
			Names  []string `json:"names"`
			Layers []string `json:"layers"`
		}
		readJSONFile(e.t, p, &img)
		if slices.Contains(img.Names, "app:latest") {
			named++
		}
		for _, l := range img.Layers {
			if _, err := os.Stat(filepath.Join(e.root, "layers", "sha256", strings.TrimPrefix(l, "sha256:"))); err != nil {
				e.t.Errorf("image %s: layer %s: %v", filepath.Base(p), l, err)
			}
		}
	}
	if named != 1 {
		e.t.Errorf("%d images are named app:latest, want 1", named)
	}
}
