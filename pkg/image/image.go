// Package image owns container images: it opens image files (root filesystem archives,
// docker save archives, OCI layouts: source_*.go), unpacks their layers without ever
// writing outside the target directory (unpack_linux.go), and keeps each layer once in a
// content-addressed store (store*.go): it imports without taking the last of the
// store's file system (space*.go), and prunes what no container uses.
//
// An archive is a tar stream, plain or compressed with gzip, zstd or xz. The compression
// is recognised by the first bytes of the file, never by its name, because names lie
// (`rootfs.tar` is often gzip data) and the bytes do not. Everything that is wrong with
// the input — a missing file, a text file, a cut download, an entry aimed at /etc — is
// reported as an *Error, so a caller can tell "your archive is bad" from "the machine
// failed" (a full disk, a syscall the kernel refused).
package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression names how an archive's tar stream is compressed.
type Compression string

const (
	None Compression = "none"
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	Xz   Compression = "xz"
)

// The magic numbers that open each compressed format (RFC 1952, RFC 8878, the xz spec).
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// Stats counts what Unpack created.
type Stats struct {
	Bytes     int64 // content bytes of regular files
	Files     int   // regular files
	Dirs      int   // directory entries (not the parents created for them)
	Symlinks  int
	Hardlinks int
	Others    int // character and block devices, fifos
	Duration  time.Duration
}

// Error is bad input: the archive is missing, unreadable, not an archive, damaged, or
// asks for something unsafe. Reason is one line saying what is wrong.
type Error struct {
	Path   string // the archive
	Reason string // e.g. `truncated archive`, `entry "../x": path escapes the root`
	Err    error  // the underlying cause, if there is one worth showing
}

func (e *Error) Error() string {
	s := "image " + e.Path + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Printable returns s as it is if it is plain printable ASCII, and quoted (Go syntax,
// ASCII only) if not. What an image names (its names, paths, platforms, attributes)
// reaches the operator's terminal in messages, and some bytes are commands to a
// terminal: an escape sequence, a bell, a carriage return that lets the rest of a line
// overwrite it.
func Printable(s string) string {
	for _, b := range []byte(s) {
		if b < ' ' || b > '~' {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}

// Check opens path, recognises the compression by its magic bytes (not the file name)
// and reads the first tar header, so bad input is refused before anything is created.
// Errors are *Error.
func Check(path string) (Compression, error) {
	a, err := openArchive(path)
	if err != nil {
		return "", err
	}
	defer a.close()
	if _, err := a.next(); err != nil {
		return "", err
	}
	return a.comp, nil
}

// copyBufferSize is large enough that copying a big file costs few syscalls and few
// decompressor calls, small enough not to matter next to the decompressor's own window.
const copyBufferSize = 1 << 20

// archive is an open tar stream with enough bookkeeping to explain its failures.
type archive struct {
	path     string
	comp     Compression
	file     *os.File
	src      *source
	tr       *tar.Reader
	closeDec func()
	entries  int  // headers read so far
	looksTar bool // a plain file whose first block carries the "ustar" magic
}

// openArchive opens path and sets up the decompressor and tar reader. It reads only the
// first block of data, so a caller can still refuse the file before writing anything.
func openArchive(path string) (*archive, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() == 0 {
		f.Close()
		return nil, &Error{Path: path, Reason: "empty file"}
	}
	a := &archive{path: path, file: f, closeDec: func() {}}

	// Peek without consuming: the decompressor (or tar) must still see these bytes.
	br := bufio.NewReaderSize(f, copyBufferSize)
	head, _ := br.Peek(512)
	var r io.Reader
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		a.comp = Gzip
		zr, err := gzip.NewReader(br) // reads and checks the gzip header now
		if err != nil {
			f.Close()
			return nil, a.decompressError(err)
		}
		r, a.closeDec = zr, func() { zr.Close() }
	case bytes.HasPrefix(head, zstdMagic):
		a.comp = Zstd
		zr, err := zstd.NewReader(br)
		if err != nil {
			f.Close()
			return nil, a.decompressError(err)
		}
		// Close stops the decoder's goroutines; a forgotten decoder leaks them.
		r, a.closeDec = zr, zr.Close
	case bytes.HasPrefix(head, xzMagic):
		a.comp = Xz
		xr, err := xz.NewReader(br) // reads and checks the stream header now
		if err != nil {
			f.Close()
			return nil, a.decompressError(err)
		}
		r = xr
	default:
		a.comp = None
		r = br
		// Only a plain file can be told apart from garbage before tar reads it; the
		// magic lets a tar cut inside its first header read as truncated, not foreign.
		a.looksTar = len(head) >= 262 && string(head[257:262]) == "ustar"
	}
	a.src = &source{r: r}
	a.tr = tar.NewReader(a.src)
	return a, nil
}

// openRegular opens the image file path for reading, and refuses anything but a regular
// file (a symlink is followed: the operator gave the path). A fifo or a device is
// refused before it is opened, and the open does not block (O_NONBLOCK), in case a fifo
// took the file's place in between: opening a fifo waits for a writer, for as long as
// there is none. Either would also be read more than once (Check, then Unpack). On a
// regular file O_NONBLOCK changes nothing. Errors are *Error.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, openError(path, err)
	}
	if err := refuseIrregular(path, fi.Mode()); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, openError(path, err)
	}
	if fi, err = f.Stat(); err == nil {
		err = refuseIrregular(path, fi.Mode())
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// refuseIrregular says what path is if it is not a regular file.
func refuseIrregular(path string, mode fs.FileMode) error {
	switch {
	case mode.IsDir():
		return &Error{Path: path, Reason: "is a directory, not an archive file"}
	case !mode.IsRegular():
		return &Error{Path: path, Reason: "is " + fileKind(mode) + ", not a regular file"}
	}
	return nil
}

// fileKind names the type of a file that is not a regular file.
func fileKind(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a fifo"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	case mode&fs.ModeSymlink != 0:
		return "a symlink"
	}
	return "a special file"
}

func openError(path string, err error) *Error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Error{Path: path, Reason: "no such file"}
	case errors.Is(err, fs.ErrPermission):
		return &Error{Path: path, Reason: "permission denied"}
	}
	// The *PathError repeats the path we already print; keep only the errno.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &Error{Path: path, Reason: "cannot open", Err: err}
}

func (a *archive) close() {
	a.closeDec()
	a.file.Close()
}

// next returns the next header, io.EOF after the last one, or an *Error.
func (a *archive) next() (*tar.Header, error) {
	hdr, err := a.tr.Next()
	if err == nil {
		a.entries++
		return hdr, nil
	}
	if !errors.Is(err, io.EOF) {
		return nil, a.fail(err)
	}
	// archive/tar reports io.EOF both after the end-of-archive marker (two zero blocks)
	// and when the data simply stops at a header boundary. Only the second leaves the
	// last read empty, and it means the archive was cut: refuse it rather than unpack
	// a root filesystem with its second half missing.
	cut := a.src.emptyEOF
	// The end-of-archive marker is not the end of the compressed stream: checksums
	// (gzip's CRC-32, zstd's and xz's content checks) are verified only when the
	// decompressor reaches its own end. Read on to it, or damage goes unnoticed.
	if a.comp != None && !cut {
		_, _ = io.Copy(io.Discard, a.src)
		if a.src.err != nil {
			return nil, a.decompressError(a.src.err)
		}
	}
	switch {
	case a.entries == 0 && cut:
		return nil, a.notTar()
	case a.entries == 0:
		return nil, &Error{Path: a.path, Reason: "archive has no entries"}
	case cut:
		return nil, a.truncated()
	}
	return nil, io.EOF
}

// read reads the current entry's content: io.EOF at its end, or an *Error.
func (a *archive) read(p []byte) (int, error) {
	n, err := a.tr.Read(p)
	if err == nil || errors.Is(err, io.EOF) {
		return n, err
	}
	return n, a.fail(err)
}

// fail turns an error from archive/tar into an *Error that names the layer that broke.
func (a *archive) fail(err error) *Error {
	// Damaged compressed data often first shows up as a garbled tar header. Read on to
	// see whether the decompressor has something to say: that is the real cause.
	// A bounded look: a large file that is simply not a tar must still fail fast.
	if a.src.err == nil && a.comp != None && !errors.Is(err, io.ErrUnexpectedEOF) {
		_, _ = io.CopyN(io.Discard, a.src, 16<<20)
	}
	if a.src.err != nil {
		if a.comp == None {
			return &Error{Path: a.path, Reason: "read", Err: a.src.err}
		}
		return a.decompressError(a.src.err)
	}
	if a.entries == 0 && !(a.looksTar && errors.Is(err, io.ErrUnexpectedEOF)) {
		return a.notTar()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return a.truncated()
	}
	return &Error{Path: a.path, Reason: "corrupt tar data", Err: err}
}

func (a *archive) decompressError(err error) *Error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return a.truncated()
	}
	return &Error{Path: a.path, Reason: fmt.Sprintf("corrupt %s data", a.comp), Err: err}
}

func (a *archive) truncated() *Error {
	return &Error{Path: a.path, Reason: "truncated archive"}
}

func (a *archive) notTar() *Error {
	if a.comp == None {
		return &Error{Path: a.path, Reason: "not a tar archive (nor gzip, zstd or xz compressed)"}
	}
	return &Error{Path: a.path, Reason: fmt.Sprintf("%s data does not contain a tar archive", a.comp)}
}

// source sits between the decompressor and archive/tar. archive/tar turns every short
// read into io.ErrUnexpectedEOF and passes other errors through unlabelled, so source
// remembers what the layer below actually said.
type source struct {
	r        io.Reader
	err      error // the first error other than io.EOF
	emptyEOF bool  // the last Read returned no data and io.EOF
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.emptyEOF = n == 0 && errors.Is(err, io.EOF)
	if err != nil && !errors.Is(err, io.EOF) && s.err == nil {
		s.err = err
	}
	return n, err
}
