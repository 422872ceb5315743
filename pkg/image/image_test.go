package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// epoch is the mtime of test entries: far enough from now that "not restored" shows.
var epoch = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// entry is one tar entry of a test archive.
type entry struct {
	tar.Header
	body string
}

func file(name, body string) entry {
	return entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: epoch}, body: body}
}

func dir(name string) entry {
	return entry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch}}
}

func symlink(name, target string) entry {
	return entry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch}}
}

func hardlink(name, target string) entry {
	return entry{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: epoch}}
}

// tarball writes entries as a complete tar stream.
func tarball(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.Header
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("write header %q: %v", hdr.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("write body %q: %v", hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("close tar: %v", err)
	}
	return buf.Bytes()
}

// compress returns data compressed with c.
func compress(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch c {
	case None:
		return data
	case Gzip:
		w = gzip.NewWriter(&buf)
	case Zstd:
		w, err = zstd.NewWriter(&buf)
	case Xz:
		w, err = xz.NewWriter(&buf)
	default:
		t.Fatalf("unknown compression %q", c)
	}
	if err != nil {
		t.Fatalf("new %s writer: %v", c, err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("%s write: %v", c, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s close: %v", c, err)
	}
	return buf.Bytes()
}

// randomBytes does not compress, so a cut in the compressed stream lands inside data.
func randomBytes(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

// writeArchive stores data as a file called name in a fresh temporary directory.
func writeArchive(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// badInput is an archive that both Check and Unpack must refuse with an *Error.
type badInput struct {
	name   string
	path   func(t *testing.T) string
	reason string // a substring of Error.Reason
}

func badInputs() []badInput {
	// bigTar has one entry large enough that cutting it anywhere lands inside data.
	bigTar := func(t *testing.T) []byte { return tarball(t, file("big", randomBytes(256<<10))) }
	truncated := func(c Compression) func(t *testing.T) string {
		return func(t *testing.T) string {
			data := compress(t, c, bigTar(t))
			return writeArchive(t, "cut.tar", data[:len(data)/2])
		}
	}
	corrupt := func(c Compression) func(t *testing.T) string {
		return func(t *testing.T) string {
			data := compress(t, c, tarball(t, file("text", fmt.Sprintf("%x", randomBytes(64<<10)))))
			for i := len(data) / 2; i < len(data)/2+64; i++ {
				data[i] ^= 0x5a
			}
			return writeArchive(t, "bad.tar", data)
		}
	}
	data := func(name string, b func(t *testing.T) []byte) func(t *testing.T) string {
		return func(t *testing.T) string { return writeArchive(t, name, b(t)) }
	}
	raw := func(s string) func(t *testing.T) []byte { return func(*testing.T) []byte { return []byte(s) } }
	return []badInput{
		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.tar") }, "no such file"},
		{"directory", func(t *testing.T) string { return t.TempDir() }, "is a directory"},
		{"empty file", data("empty.tar", raw("")), "empty file"},
		{"text file", data("notes.tar", raw(strings.Repeat("just some text\n", 100))), "not a tar archive (nor gzip, zstd or xz compressed)"},
		{"short text file", data("x.tar", raw("hello\n")), "not a tar archive"},
		{"random bytes", data("x.tar.gz", raw(randomBytes(4096))), "not a tar archive"},
		{"zero blocks only", data("x.tar", raw(string(make([]byte, 1024)))), "archive has no entries"},
		{"gzip of text", data("x.tgz", func(t *testing.T) []byte { return compress(t, Gzip, []byte("plain words\n")) }), "gzip data does not contain a tar archive"},
		{"gzip header only", data("x.tgz", raw("\x1f\x8b")), "truncated archive"},
		{"corrupt gzip", corrupt(Gzip), "corrupt gzip data"},
		{"corrupt zstd", corrupt(Zstd), "corrupt zstd data"},
		{"corrupt xz", corrupt(Xz), "corrupt xz data"},
		{"truncated tar in entry", truncated(None), "truncated archive"},
		{"truncated tar in first header", data("x.tar", func(t *testing.T) []byte { return bigTar(t)[:300] }), "truncated archive"},
		{"truncated tar at entry boundary", data("x.tar", func(t *testing.T) []byte {
			// Two whole entries, then nothing: no end-of-archive marker.
			return tarball(t, file("a", "aaaa"), file("b", "bbbb"))[:4*512]
		}), "truncated archive"},
		{"truncated gzip", truncated(Gzip), "truncated archive"},
		{"truncated zstd", truncated(Zstd), "truncated archive"},
		{"truncated xz", truncated(Xz), "truncated archive"},
	}
}

func TestCheckRefusesBadInput(t *testing.T) {
	for _, tc := range badInputs() {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.path(t)
			_, err := Check(p)
			// Truncation and corruption deep inside an archive are beyond the first
			// header; Check may pass them, Unpack (tested elsewhere) may not.
			if err == nil && (strings.Contains(tc.reason, "truncated") || strings.Contains(tc.reason, "corrupt")) {
				return
			}
			requireImageError(t, err, p, tc.reason)
		})
	}
}

func TestCheckPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file; the unprivileged run covers this")
	}
	p := writeArchive(t, "secret.tar", tarball(t, file("a", "a")))
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	_, err := Check(p)
	requireImageError(t, err, p, "permission denied")
}

func TestCheckRecognisesContentNotName(t *testing.T) {
	plain := tarball(t, dir("./"), file("./hello", "hi"))
	for _, tc := range []struct {
		name string // deliberately misleading for every compressed case
		comp Compression
	}{
		{"rootfs.tar.gz", None},
		{"rootfs.tar", Gzip},
		{"rootfs.tar.xz", Zstd},
		{"rootfs.tar.zst", Xz},
	} {
		t.Run(string(tc.comp), func(t *testing.T) {
			p := writeArchive(t, tc.name, compress(t, tc.comp, plain))
			got, err := Check(p)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got != tc.comp {
				t.Errorf("Check = %q, want %q", got, tc.comp)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	err := error(&Error{Path: "r.tar", Reason: "corrupt gzip data", Err: io.ErrUnexpectedEOF})
	if got, want := err.Error(), "image r.tar: corrupt gzip data: unexpected EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("Error does not unwrap to its cause")
	}
	if got, want := (&Error{Path: "r.tar", Reason: "empty file"}).Error(), "image r.tar: empty file"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// requireImageError fails unless err is an *Error about path whose reason contains want.
func requireImageError(t *testing.T, err error, path, want string) {
	t.Helper()
	var ie *Error
	if !errors.As(err, &ie) {
		t.Fatalf("error = %v (%T), want *image.Error containing %q", err, err, want)
	}
	if ie.Path != path {
		t.Errorf("Error.Path = %q, want %q", ie.Path, path)
	}
	if !strings.Contains(ie.Reason, want) {
		t.Errorf("Error.Reason = %q, want it to contain %q (error: %v)", ie.Reason, want, err)
	}
	if strings.Contains(ie.Error(), "\n") {
		t.Errorf("error is not one line: %q", ie.Error())
	}
}

// printableASCII reports whether s is nothing but printable ASCII and spaces.
func printableASCII(s string) bool {
	for _, b := range []byte(s) {
		if b < ' ' || b > '~' {
			return false
		}
	}
	return true
}
