package image

import (
	"archive/tar"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// spaceRecheck is the most an unpack writes between two looks at the free space: other
// imports, and anything else on the host, may be writing to the same file system. The
// reserve is a margin kept by looking often, not a quota: writers that look at the same
// moment may each take the same free space once.
const spaceRecheck = 32 << 20

// spaceGuard keeps an unpack from taking the reserve of a file system: every entry
// takes its size from a budget, and when the budget runs out statfs says what is free
// now. It refuses the entry that would cross the reserve before anything of it is
// written, so a file bigger than the free space, however well it compresses, is
// refused at its header. A nil guard allows everything.
type spaceGuard struct {
	dir     string // on the file system watched; named in errors
	reserve Reserve
	block   int64 // the file system's block size
	left    int64 // what may still be written before the next look
	written int64 // taken so far
}

// newSpaceGuard looks at the free space of dir's file system and refuses to start an
// unpack that would begin below the reserve. A zero reserve needs no guard: nil.
func newSpaceGuard(dir string, r Reserve) (*spaceGuard, error) {
	if r == (Reserve{}) {
		return nil, nil
	}
	g := &spaceGuard{dir: dir, reserve: r}
	free, reserve, err := g.look()
	if err != nil {
		return nil, err
	}
	if free <= reserve {
		return nil, &SpaceError{Path: dir, Free: free, Reserve: reserve}
	}
	g.left = min(free-reserve, spaceRecheck)
	return g, nil
}

// look returns the bytes free on the file system and its reserve.
func (g *spaceGuard) look() (free, reserve int64, err error) {
	var st unix.Statfs_t
	for {
		err = unix.Statfs(g.dir, &st)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", g.dir, err)
	}
	g.block = st.Frsize
	if g.block <= 0 {
		g.block = st.Bsize
	}
	// Bavail, not Bfree: the blocks a file system keeps for root are there for the
	// system to go on, not for images.
	return int64(st.Bavail) * g.block, g.reserve.Of(int64(st.Blocks) * g.block), nil
}

// entry takes what hdr's entry will take on disk, near enough: its content in whole
// blocks, a block for a directory. Inodes, symlinks and attributes are left out: they
// are small, and the next look sees them.
func (g *spaceGuard) entry(hdr *tar.Header) error {
	if g == nil {
		return nil
	}
	var n int64
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
		n = (max(hdr.Size, 0) + g.block - 1) / g.block * g.block
	case tar.TypeDir:
		n = g.block
	}
	if n <= g.left {
		g.left -= n
		g.written += n
		return nil
	}
	free, reserve, err := g.look()
	if err != nil {
		return err
	}
	if n > free-reserve {
		return &SpaceError{Path: g.dir, Free: free, Reserve: reserve, Need: n, Written: g.written}
	}
	g.left = min(free-reserve-n, spaceRecheck)
	g.written += n
	return nil
}
