package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// files is what an image is made of: named files (oci-layout, manifest.json, blobs),
// read either from a directory or from inside one tar file. Names are slash-separated
// and relative, as cleanMember returns them.
type files interface {
	// open returns a file's bytes and size; an error wrapping fs.ErrNotExist if the
	// image has no such file, a *notRegularError if it is not a regular file.
	open(name string) (io.ReadCloser, int64, error)
	close() error
}

// notRegularError is a file of an image that is there, but is not a regular file.
type notRegularError struct {
	name string
	mode fs.FileMode
}

func (e *notRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", Printable(e.name), fileKind(e.mode))
}

// cleanMember turns a path found in a manifest or a tar header into an index key:
// relative, slash-separated, without "./". It refuses absolute paths and any ".."
// element, so a manifest cannot point a layer at ../../etc/passwd.
func cleanMember(p string) (string, bool) {
	if p == "" || path.IsAbs(p) {
		return "", false
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", false
		}
	}
	c := path.Clean(p)
	if c == "." {
		return "", false
	}
	return c, true
}

// dirFiles reads an image laid out in a directory. os.Root keeps every open, symlinks
// included, inside that directory.
type dirFiles struct{ root *os.Root }

// open refuses anything but a regular file, as openRegular does for the file the
// operator names: the directory's files are the image's, and a fifo among them would
// stop crate in open(2) for good.
func (d dirFiles) open(name string) (io.ReadCloser, int64, error) {
	fi, err := d.root.Stat(name)
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, &notRegularError{name: name, mode: fi.Mode()}
	}
	f, err := d.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	if fi, err = f.Stat(); err == nil && !fi.Mode().IsRegular() {
		err = &notRegularError{name: name, mode: fi.Mode()}
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

func (d dirFiles) close() error { return d.root.Close() }

// member is where a tar entry's data lies in the tar file.
type member struct {
	offset, size int64
	link         string // a symlink's target, "" for a regular file
}

// tarFiles reads an image packed in an uncompressed tar, in place: the tar is indexed
// once, and each file is then a window on the open tar file. Nothing is extracted, and
// ReadAt lets any number of windows be read at the same time.
type tarFiles struct {
	file    *os.File
	members map[string]member
}

// indexTar reads every header of the tar f, skipping over the data (archive/tar seeks
// past it when the reader is an io.Seeker). Damage is an *Error about path.
func indexTar(path string, f *os.File) (*tarFiles, error) {
	src := &seekSource{f: f}
	tr := tar.NewReader(src)
	t := &tarFiles{file: f, members: map[string]member{}}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// io.EOF also comes when the file just stops between two entries; only a
			// real end-of-archive marker leaves data in the last read.
			if src.emptyEOF {
				return nil, &Error{Path: path, Reason: "truncated archive"}
			}
			return t, nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &Error{Path: path, Reason: "truncated archive"}
		}
		if err != nil {
			return nil, &Error{Path: path, Reason: "corrupt tar data", Err: err}
		}
		name, ok := cleanMember(hdr.Name)
		if !ok {
			continue // nothing may refer to it
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			// The header has just been read, so the file offset is the data's start.
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, fmt.Errorf("index %s: seek: %w", path, err)
			}
			t.members[name] = member{offset: off, size: hdr.Size}
		case tar.TypeSymlink:
			// Legacy `docker save` writes a layer shared by two images once and links
			// the second copy to it.
			t.members[name] = member{link: hdr.Linkname}
		}
	}
}

// has reports whether the tar holds a file called name.
func (t *tarFiles) has(name string) bool {
	_, ok := t.members[name]
	return ok
}

// maxLinks bounds symlink chains, which could otherwise loop.
const maxLinks = 8

func (t *tarFiles) open(name string) (io.ReadCloser, int64, error) {
	for range maxLinks {
		m, ok := t.members[name]
		if !ok {
			return nil, 0, fmt.Errorf("%s: %w", Printable(name), fs.ErrNotExist)
		}
		if m.link == "" {
			return io.NopCloser(io.NewSectionReader(t.file, m.offset, m.size)), m.size, nil
		}
		// Resolve within the tar, relative to the link's directory; an absolute or
		// escaping target points outside the image and is not followed.
		next, ok := cleanMember(path.Join(path.Dir(name), m.link))
		if !ok || path.IsAbs(m.link) {
			return nil, 0, fmt.Errorf("%s: symlink to %q leaves the archive: %w", Printable(name), m.link, fs.ErrNotExist)
		}
		name = next
	}
	return nil, 0, fmt.Errorf("%s: too many symlinks: %w", Printable(name), fs.ErrNotExist)
}

func (t *tarFiles) close() error { return t.file.Close() }

// seekSource is the tar file as archive/tar sees it: seekable, so data is skipped, not
// read, and remembering whether the last read found nothing at all (see indexTar).
type seekSource struct {
	f        *os.File
	emptyEOF bool
}

func (s *seekSource) Read(p []byte) (int, error) {
	n, err := s.f.Read(p)
	s.emptyEOF = n == 0 && errors.Is(err, io.EOF)
	return n, err
}

func (s *seekSource) Seek(offset int64, whence int) (int64, error) {
	return s.f.Seek(offset, whence)
}
