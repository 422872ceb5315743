package image

import (
	"io"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Format names the kind of file an image came from.
type Format string

const (
	FormatRootfs     Format = "rootfs"      // a root filesystem archive: one layer, no config
	FormatDockerSave Format = "docker-save" // `docker save` output: manifest.json, repositories, layer tars
	FormatOCILayout  Format = "oci-layout"  // an OCI image layout, as a directory or a tar
)

// Layer is one layer of a Source, bottom first in Source.Layers.
type Layer struct {
	// Digest identifies the blob as stored in the source (compressed or not).
	// For a rootfs archive it is the digest of the archive file itself.
	Digest digest.Digest
	// DiffID is the digest of the uncompressed tar stream, from the image
	// config; empty when the source does not say (a rootfs archive), in which
	// case the store computes it while unpacking.
	DiffID digest.Digest
	// Size is the blob's size in bytes, -1 if unknown.
	Size int64
	// Compression of the blob, recognised by content.
	Compression Compression
	// Open returns the blob's bytes as stored (still compressed); the store
	// decompresses and verifies Digest and DiffID while unpacking.
	Open func() (io.ReadCloser, error)
}

// Source is an image opened from a file or directory, before it is imported
// into the store: its layers and its config.
type Source struct {
	Path   string
	Format Format
	// Config is the image config (Entrypoint, Cmd, Env, WorkingDir, User...);
	// zero for a rootfs archive.
	Config ocispec.Image
	// ConfigDigest identifies the config blob; for a rootfs archive, the
	// archive's digest. It becomes the image id.
	ConfigDigest digest.Digest
	Layers       []Layer
	// Names are the NAME:TAG references the source carries (docker save's
	// RepoTags, OCI's org.opencontainers.image.ref.name), possibly none.
	Names []string
	// Close releases the file; Layers cannot be opened after it.
	Close func() error
}
