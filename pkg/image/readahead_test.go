package image

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadAhead(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160000 bytes
	tests := []struct {
		name       string
		size, deep int
	}{
		{"chunks smaller than the data", 4096, 2},
		{"one chunk larger than the data", 1 << 20, 1},
		{"odd chunk size", 999, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ra := readAhead(bytes.NewReader(data), tt.size, tt.deep)
			defer ra.Close()
			got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(ra, 5000)))
			if err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(ra)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(got, rest...), data) {
				t.Error("read-ahead changed the bytes")
			}
		})
	}
}

func TestReadAheadError(t *testing.T) {
	boom := errors.New("corrupt data")
	r := io.MultiReader(bytes.NewReader([]byte("good bytes")), iotest.ErrReader(boom))
	ra := readAhead(r, 4, 2)
	defer ra.Close()
	got, err := io.ReadAll(ra)
	if !errors.Is(err, boom) || string(got) != "good bytes" {
		t.Errorf("got %q, %v; want the good bytes, then the error", got, err)
	}
}

// TestReadAheadCloseEarly: Close before the end stops the goroutine, even
// while it waits to hand over a chunk.
func TestReadAheadCloseEarly(t *testing.T) {
	ra := readAhead(bytes.NewReader(make([]byte, 1<<20)), 1024, 2)
	buf := make([]byte, 10)
	if _, err := ra.Read(buf); err != nil {
		t.Fatal(err)
	}
	ra.Close() // returns only once the goroutine is gone
	ra.Close() // and twice is fine
}
