package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// OpenSource opens an image file or directory and recognises its format by content,
// never by name:
//
//   - a directory holding oci-layout and index.json: an OCI image layout;
//   - a plain tar holding oci-layout and index.json at the top: an OCI layout in a tar
//     (Docker 25+ `docker save` writes that and a manifest.json; the OCI side wins, as
//     it is the one with a platform and digests for everything);
//   - a plain tar holding manifest.json at the top: a `docker save` archive;
//   - any other archive Check accepts: a root filesystem, as a single layer.
//
// platform (`os/arch[/variant]`, "" for this machine) chooses among the images of a
// multi-platform index, and an image built for another platform is refused. Layers
// are not read beyond their first bytes (their compression): Layer.Open gives each
// one's bytes in place when the store asks, and the store verifies them. Bad input is an *Error. The caller must call Close.
func OpenSource(path, platform string) (*Source, error) {
	want, ok := parsePlatform(platform)
	if !ok {
		return nil, &Error{Path: path, Reason: fmt.Sprintf("invalid platform %q: want os/arch[/variant], e.g. linux/amd64", platform)}
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return openLayoutDir(path, want)
	}
	comp, err := Check(path)
	if err != nil {
		return nil, err
	}
	if comp != None {
		// Layers are read in place, which a compressed stream does not allow; an
		// image archive must not pass for a root filesystem either.
		if err := refuseCompressedImage(path, comp); err != nil {
			return nil, err
		}
		return openRootfs(path, comp)
	}
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	t, err := indexTar(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	var src *Source
	switch {
	case t.has(ocispec.ImageLayoutFile) && t.has(ocispec.ImageIndexFile):
		src, err = (&reader{path: path, kind: "OCI layout", files: t}).readOCI(want)
	case t.has("manifest.json"):
		src, err = (&reader{path: path, kind: "docker save archive", files: t}).readDockerSave(want)
	default:
		f.Close()
		return openRootfs(path, None)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return src, nil
}

func openLayoutDir(path string, want platform) (*Source, error) {
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, openError(path, err)
	}
	for _, name := range []string{ocispec.ImageLayoutFile, ocispec.ImageIndexFile} {
		if _, err := root.Stat(name); err != nil {
			root.Close()
			return nil, &Error{Path: path, Reason: "is a directory without oci-layout and index.json, not an OCI image layout"}
		}
	}
	src, err := (&reader{path: path, kind: "OCI layout", files: dirFiles{root}}).readOCI(want)
	if err != nil {
		root.Close()
		return nil, err
	}
	return src, nil
}

// openRootfs makes a root filesystem archive a one-layer image. Its digest, computed
// over the whole file, stands for both the layer and the image.
func openRootfs(path string, comp Compression) (*Source, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dg, err := digest.SHA256.FromReader(f)
	if err != nil {
		return nil, &Error{Path: path, Reason: "read", Err: err}
	}
	layer := Layer{
		Digest:      dg,
		Size:        fi.Size(),
		Compression: comp,
		Open: func() (io.ReadCloser, error) {
			f, _, err := openRegular(path)
			if err != nil {
				return nil, err
			}
			return f, nil
		},
	}
	return &Source{
		Path:         path,
		Format:       FormatRootfs,
		ConfigDigest: dg,
		Layers:       []Layer{layer},
		Close:        func() error { return nil },
	}, nil
}

// isHex64 reports whether s is a sha256 in lowercase hex, as docker names
// image directories and config files.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// refuseCompressedImage refuses `docker save | gzip` output and its kind: their first
// entry (tools write them in name order) is one no root filesystem starts with.
func refuseCompressedImage(path string, comp Compression) error {
	a, err := openArchive(path)
	if err != nil {
		return err
	}
	defer a.close()
	hdr, err := a.next()
	if err != nil {
		return err
	}
	name, _ := cleanMember(hdr.Name)
	top, _, _ := strings.Cut(name, "/")
	switch {
	case top == "blobs" || top == "oci-layout" || top == "index.json" || top == "manifest.json" || top == "repositories",
		isHex64(strings.TrimSuffix(top, ".json")):
		return &Error{Path: path, Reason: fmt.Sprintf("%s-compressed image archive (docker save or OCI layout): decompress it first, its layers are read in place", comp)}
	}
	return nil
}

// reader reads one image's metadata from its files and explains what is wrong with it.
type reader struct {
	path  string
	kind  string // "OCI layout", "docker save archive": starts every Error.Reason
	files files
	// metadataBytes counts what readMetadata has read, for maxMetadataTotal.
	metadataBytes int64
}

// maxMetadata bounds what is read into memory for a JSON file; real configs and
// manifests are a few KiB.
const maxMetadata = 8 << 20

func (r *reader) errorf(err error, format string, args ...any) *Error {
	return &Error{Path: r.path, Reason: r.kind + ": " + fmt.Sprintf(format, args...), Err: err}
}

// open opens the image file name, with its size; missing is the Reason if it is not
// there.
func (r *reader) open(name, missing string) (io.ReadCloser, int64, error) {
	rc, size, err := r.files.open(name)
	var nr *notRegularError
	switch {
	case err == nil:
		return rc, size, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, 0, r.errorf(nil, "%s", missing)
	case errors.As(err, &nr):
		return nil, 0, r.errorf(nil, "%s", nr)
	}
	return nil, 0, r.errorf(err, "open %s", Printable(name))
}

// readFile reads a small file of the image whole; missing is the Reason if it is not there.
func (r *reader) readFile(name, missing string) ([]byte, error) {
	rc, size, err := r.open(name, missing)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return r.readMetadata(name, rc, size)
}

// readMetadata reads the JSON file (or blob) what of size bytes whole, if it is small
// enough to be one, and if all the metadata read so far stays within maxMetadataTotal.
func (r *reader) readMetadata(what string, rc io.Reader, size int64) ([]byte, error) {
	if size > maxMetadata {
		return nil, r.errorf(nil, "read %s: %d bytes, more than metadata ever needs (%d)", Printable(what), size, maxMetadata)
	}
	if r.metadataBytes += size; r.metadataBytes > maxMetadataTotal {
		return nil, r.errorf(nil, "more than %d MiB of metadata (indexes, manifests, config); crate reads at most that much", maxMetadataTotal>>20)
	}
	data, err := io.ReadAll(io.LimitReader(rc, size))
	if err != nil {
		return nil, r.errorf(err, "read %s", Printable(what))
	}
	return data, nil
}

// decode parses JSON data found in what (a file name or a blob's digest).
func (r *reader) decode(what string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return r.errorf(err, "%s: invalid JSON", Printable(what))
	}
	return nil
}

// checkPlatform refuses an image built for another platform than the one wanted; a
// config that does not say is let through.
func (r *reader) checkPlatform(config ocispec.Image, want platform) error {
	if config.OS == "" || config.Architecture == "" {
		return nil
	}
	got := newPlatform(config.OS, config.Architecture, config.Variant)
	if !want.matches(got) {
		return r.errorf(nil, "image is for %s, not %s; choose it with --platform %s", got, want, got)
	}
	return nil
}

// sniff recognises a blob's compression by its first bytes, as Check does for files:
// a media type or a file name says what a blob should be, the bytes say what it is.
func sniff(r io.Reader) (Compression, error) {
	head := make([]byte, len(xzMagic))
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return Gzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		return Zstd, nil
	case bytes.HasPrefix(head, xzMagic):
		return Xz, nil
	}
	return None, nil
}

// layerOpener returns a Layer.Open for the image file name.
func (r *reader) layerOpener(name string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		rc, _, err := r.files.open(name)
		if err != nil {
			return nil, fmt.Errorf("open layer %s in %s: %w", Printable(name), r.path, err)
		}
		return rc, nil
	}
}
