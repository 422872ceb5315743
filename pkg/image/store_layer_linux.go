package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// ensureLayer makes sure layer l is unpacked in the store and
// returns its description. Unpacking happens under the blob's lock; see store.go.
func (s *Store) ensureLayer(ctx context.Context, l Layer) (layerMeta, error) {
	if err := checkSHA256(l.Digest); err != nil {
		return layerMeta{}, fmt.Errorf("layer: %w", err)
	}
	if l.DiffID != "" {
		if err := checkSHA256(l.DiffID); err != nil {
			return layerMeta{}, fmt.Errorf("layer %s: diff_id: %w", l.Digest, err)
		}
	}
	// Without the lock first: a layer directory or an index entry, once there, is
	// complete, and a re-import is the common case.
	if meta, ok, err := s.cachedLayer(l); ok || err != nil {
		return meta, err
	}
	unlock, err := flock(filepath.Join(s.root, "layers", ".locks", l.Digest.Encoded()+".lock"), unix.LOCK_EX)
	if err != nil {
		return layerMeta{}, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	defer unlock()
	// Whoever held the lock before us may have just unpacked it.
	if meta, ok, err := s.cachedLayer(l); ok || err != nil {
		return meta, err
	}
	return s.unpackLayer(ctx, l)
}

// cachedLayer finds l in the store: by its diff_id when the source knows it (the same
// content may have come in another blob), else through the blob index.
func (s *Store) cachedLayer(l Layer) (layerMeta, bool, error) {
	diffID := l.DiffID
	if indexed, ok := s.blobDiffID(l.Digest); ok {
		if diffID != "" && indexed != diffID {
			// This very blob was unpacked and hashed before: the config is wrong.
			return layerMeta{}, false, &Error{Path: layerLabel(l.Digest),
				Reason: fmt.Sprintf("diff_id mismatch: got %s, the config says %s", indexed, diffID)}
		}
		diffID = indexed
	}
	if diffID == "" || !s.hasLayer(diffID) {
		return layerMeta{}, false, nil
	}
	meta, err := s.readLayerMeta(diffID)
	if err != nil {
		// The description only saves counting; the layer itself is whole.
		meta = layerMeta{DiffID: diffID}
	}
	s.log.Debug("layer cached", "diff_id", diffID, "blob", l.Digest)
	return meta, true, nil
}

// layerLabel names a layer in errors, which read
// "import SOURCE: image layer sha256:...: digest mismatch: got sha256:...".
func layerLabel(blob digest.Digest) string {
	return "layer " + blob.String()
}

// unpackLayer unpacks l into layers/tmp, verifies both digests, and moves the result
// into place. The caller holds the blob's lock.
func (s *Store) unpackLayer(ctx context.Context, l Layer) (layerMeta, error) {
	tmp := filepath.Join(s.root, "layers", "tmp", l.Digest.Encoded())
	// Holding the lock, anything at tmp is what a killed process left behind.
	if _, err := os.Lstat(tmp); err == nil {
		s.log.Info("removing an interrupted unpack", "path", tmp)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return layerMeta{}, fmt.Errorf("layer %s: remove stale unpack: %w", l.Digest, err)
	}
	space, err := newSpaceGuard(s.root, s.MinFree)
	if err != nil {
		return layerMeta{}, spaceErrorOf(err, l)
	}
	// Chmod too: Mkdir's mode is cut by the umask, and a layer that does not list "./"
	// keeps this mode as the root directory of every container made from it.
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return layerMeta{}, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return layerMeta{}, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	s.log.Debug("unpacking layer", "blob", l.Digest, "compression", l.Compression, "size", l.Size)
	// From here on, any failure leaves nothing: the half layer goes with it.
	placed := false
	defer func() {
		if !placed {
			os.RemoveAll(tmp)
		}
	}()

	diffID, stats, err := s.unpackBlob(ctx, l, tmp, space)
	if err != nil {
		return layerMeta{}, spaceErrorOf(err, l)
	}
	meta := layerMeta{DiffID: diffID, Size: stats.Bytes, Files: stats.Files}
	b, err := json.Marshal(meta)
	if err != nil {
		return layerMeta{}, fmt.Errorf("encode layer description: %w", err)
	}
	// The description goes first: a layer directory never lacks one for long, and one
	// without its directory is harmless (Prune removes it).
	if err := writeFileAtomic(s.layerMetaPath(diffID), append(b, '\n')); err != nil {
		return layerMeta{}, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	// RENAME_NOREPLACE: if the directory exists, the same content came in through
	// another blob (say, compressed differently) and is already in place: keep that.
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, s.LayerDir(diffID), unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		placed = true
	case errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY):
		s.log.Debug("layer already present from another blob", "diff_id", diffID, "blob", l.Digest)
	default:
		return layerMeta{}, fmt.Errorf("renameat2 %s %s: %w", tmp, s.LayerDir(diffID), err)
	}
	// Last: the index entry says "this blob is done", so only now is it true.
	if err := writeFileAtomic(s.blobIndexPath(l.Digest), []byte(diffID.String()+"\n")); err != nil {
		return layerMeta{}, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	secs := stats.Duration.Seconds()
	s.log.Info("layer unpacked", "diff_id", diffID, "bytes", stats.Bytes, "files", stats.Files,
		"duration", stats.Duration.Round(time.Millisecond), "mb_per_s", math.Round(float64(stats.Bytes)/1e6/max(secs, 1e-9)*10)/10)
	return meta, nil
}

// spaceErrorOf names l in err if it is a *SpaceError, and returns err.
func spaceErrorOf(err error, l Layer) error {
	var se *SpaceError
	if errors.As(err, &se) {
		se.Layer = l.Digest
	}
	return err
}

// unpackBlob extracts l into dir while hashing the blob as stored and its uncompressed
// tar stream, and checks both against what the source says. It returns the diff_id.
//
// The digests can only be known at the end, so the layer is extracted first and thrown
// away if they are wrong: extraction is safe for any input, and the caller removes dir.
func (s *Store) unpackBlob(ctx context.Context, l Layer, dir string, space *spaceGuard) (digest.Digest, Stats, error) {
	label := layerLabel(l.Digest)
	rc, err := l.Open()
	if err != nil {
		return "", Stats{}, fmt.Errorf("open layer %s: %w", l.Digest, err)
	}
	defer rc.Close()

	bar := startProgress(s.Progress, l.Digest.Encoded()[:12], l.Size)
	defer bar.stop()
	blobHash := digest.SHA256.Digester()
	// The hash sits below the buffer, so every byte read from the blob is hashed once.
	raw := bufio.NewReaderSize(io.TeeReader(rc, io.MultiWriter(blobHash.Hash(), bar)), copyBufferSize)
	diffHash := digest.SHA256.Digester()
	a, err := layerArchive(label, raw, l.Compression, diffHash.Hash())
	if err != nil {
		return "", Stats{}, err
	}
	defer a.close()

	stats, err := extractArchive(ctx, a, dir, extractOptions{whiteouts: true, space: space})
	if err != nil {
		return "", stats, err
	}
	// Read both streams to their very end: tar's end marker is not the end of the
	// stream (padding follows), and a digest must cover every byte.
	if _, err := io.Copy(io.Discard, a.src); err != nil || a.src.err != nil {
		if a.comp == None {
			return "", stats, &Error{Path: label, Reason: "read", Err: cmpErr(a.src.err, err)}
		}
		return "", stats, a.decompressError(cmpErr(a.src.err, err))
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return "", stats, &Error{Path: label, Reason: "read", Err: err}
	}
	if got := blobHash.Digest(); got != l.Digest {
		return "", stats, &Error{Path: label, Reason: fmt.Sprintf("digest mismatch: got %s", got)}
	}
	diffID := diffHash.Digest()
	if l.DiffID != "" && diffID != l.DiffID {
		return "", stats, &Error{Path: label, Reason: fmt.Sprintf("diff_id mismatch: got %s, the config says %s", diffID, l.DiffID)}
	}
	return diffID, stats, nil
}

// cmpErr returns the first non-nil error.
func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// layerArchive sets up an archive over a layer blob read from raw, decompressing it
// as comp says (or, if the source did not say, as its first bytes say), and copying the
// uncompressed tar stream to diffHash on its way to archive/tar.
func layerArchive(label string, raw *bufio.Reader, comp Compression, diffHash io.Writer) (*archive, error) {
	head, _ := raw.Peek(512)
	if comp == "" {
		switch {
		case bytes.HasPrefix(head, gzipMagic):
			comp = Gzip
		case bytes.HasPrefix(head, zstdMagic):
			comp = Zstd
		case bytes.HasPrefix(head, xzMagic):
			comp = Xz
		default:
			comp = None
		}
	}
	// No file of its own: the caller closes the blob. (archive.close tolerates a nil file.)
	a := &archive{path: label, comp: comp, closeDec: func() {}}
	var r io.Reader
	switch comp {
	case Gzip:
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, a.decompressError(err)
		}
		r, a.closeDec = zr, func() { zr.Close() }
	case Zstd:
		zr, err := zstd.NewReader(raw)
		if err != nil {
			return nil, a.decompressError(err)
		}
		r, a.closeDec = zr, zr.Close
	case Xz:
		xr, err := xz.NewReader(raw)
		if err != nil {
			return nil, a.decompressError(err)
		}
		r = xr
	case None:
		r = raw
		a.looksTar = len(head) >= 262 && string(head[257:262]) == "ustar"
	default:
		return nil, &Error{Path: label, Reason: fmt.Sprintf("unknown compression %q", comp)}
	}
	// Decompressing and hashing run ahead of the extraction, on another CPU.
	ahead := readAhead(io.TeeReader(r, diffHash), copyBufferSize, 4)
	closeDec := a.closeDec
	a.closeDec = func() { ahead.Close(); closeDec() }
	a.src = &source{r: ahead}
	a.tr = tar.NewReader(a.src)
	return a, nil
}
