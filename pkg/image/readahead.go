package image

import (
	"io"
	"sync"
)

// readAhead reads r in a goroutine of its own, up to depth chunks of size
// bytes ahead of the caller. Unpacking a layer is two kinds of work, reading,
// hashing and decompressing the blob, then writing files with syscalls; with
// read-ahead they run on two CPUs at once, as they do with `tar -xzf`, where
// gzip is a process of its own. Close stops the goroutine and waits for it,
// so that r can be closed safely afterwards.
func readAhead(r io.Reader, size, depth int) io.ReadCloser {
	ra := &aheadReader{chunks: make(chan []byte, depth), free: make(chan []byte, depth+2),
		done: make(chan struct{}), finished: make(chan struct{})}
	for range depth + 2 {
		ra.free <- make([]byte, size)
	}
	go ra.fill(r)
	return ra
}

type aheadReader struct {
	chunks   chan []byte   // filled chunks, in order; closed after the last
	free     chan []byte   // empty buffers for fill to use
	done     chan struct{} // closed by Close
	finished chan struct{} // closed when fill has returned
	once     sync.Once
	err      error  // what ended r; read only after chunks is closed
	cur      []byte // the chunk being read
	buf      []byte // cur's whole buffer, to hand back
}

func (ra *aheadReader) fill(r io.Reader) {
	defer close(ra.finished)
	defer close(ra.chunks)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.done:
			return
		}
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			select {
			case ra.chunks <- buf[:n]:
			case <-ra.done:
				return
			}
		}
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				err = io.EOF // a short last chunk is the normal end
			}
			ra.err = err
			return
		}
	}
}

func (ra *aheadReader) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		chunk, ok := <-ra.chunks
		if !ok {
			return 0, ra.err
		}
		ra.cur, ra.buf = chunk, chunk
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

func (ra *aheadReader) Close() error {
	ra.once.Do(func() { close(ra.done) })
	<-ra.finished
	return nil
}
