package image

import (
	"fmt"

	digest "github.com/opencontainers/go-digest"
)

// Reserve is the free space an import leaves on the file system of the state root, so
// that neither a big image nor a small layer that expands without end (a decompression
// bomb) fills the host's disk. Bytes and Percent (of the file system's size) may both
// be set: the smaller wins. Neither set: no reserve, only the kernel's ENOSPC stops an
// import.
type Reserve struct {
	Bytes   int64   `json:"bytes,omitempty"`
	Percent float64 `json:"percent,omitempty"`
}

// DefaultReserve is 5% of the file system or 1 GiB, whichever is smaller: 5% (what
// ext4 keeps back for root by default) leaves a small disk room for logs and for the
// system to go on; on a big disk 1 GiB does, where 5% would hold back tens of GiB.
var DefaultReserve = Reserve{Bytes: 1 << 30, Percent: 5}

// Of is the reserve in bytes on a file system of size bytes.
func (r Reserve) Of(size int64) int64 {
	share := int64(r.Percent / 100 * float64(size))
	switch {
	case r.Bytes > 0 && r.Percent > 0:
		return min(r.Bytes, share)
	case r.Percent > 0:
		return share
	}
	return max(r.Bytes, 0)
}

// SpaceError is an import stopped because it would have left less free space than the
// reserve on the state root's file system: before it wrote anything, or part-way
// through a layer, whose files it then removed.
type SpaceError struct {
	Path    string        // the state root
	Layer   digest.Digest // the blob being unpacked
	Free    int64         // bytes free on the file system at the last look
	Reserve int64         // bytes imports leave free there
	Need    int64         // bytes the next entry of the layer takes
	Written int64         // bytes of the layer written before it stopped
}

func (e *SpaceError) Error() string {
	if e.Written == 0 && e.Free <= e.Reserve {
		return fmt.Sprintf("layer %s: the file system of %s has %s free, below the reserve of %s that imports leave free",
			e.Layer, e.Path, mib(e.Free), mib(e.Reserve))
	}
	return fmt.Sprintf("layer %s expands beyond the free space of %s: after %s unpacked it needs %s more, and %s are free above the reserve of %s",
		e.Layer, e.Path, mib(e.Written), mib(e.Need), mib(max(e.Free-e.Reserve, 0)), mib(e.Reserve))
}

// mib writes n bytes in MiB, the unit of the sizes a disk's free space is counted in.
func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
