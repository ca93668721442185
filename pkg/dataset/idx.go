// Package dataset reads labelled image data (MNIST IDX files) and splits it into folds.
package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

const (
	imagesMagic = 0x00000803
	labelsMagic = 0x00000801

	// maxBytes bounds the payload a header may declare before anything is allocated.
	maxBytes = 1 << 28
)

// idxReader reads one IDX file, transparently gunzipping it.
type idxReader struct {
	path string
	f    *os.File
	r    io.Reader
	zr   *gzip.Reader
}

// describeMagic names the IDX kind of a magic number, for error messages.
func describeMagic(m uint32) string {
	switch m {
	case imagesMagic:
		return "IDX3 image file"
	case labelsMagic:
		return "IDX1 label file"
	}
	return "not an MNIST IDX file"
}

// isEOF reports whether err means the stream ended early.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// openIDX opens path, checks its magic number and returns its dimensions.
func openIDX(path string, wantMagic uint32) (*idxReader, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err // *PathError already names the file
	}
	br := bufio.NewReaderSize(f, 1<<16)
	x := &idxReader{path: path, f: f, r: br}
	if sig, _ := br.Peek(2); len(sig) == 2 && sig[0] == 0x1f && sig[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			if isEOF(err) {
				return nil, nil, fmt.Errorf("%s: truncated gzip stream: %v", path, err)
			}
			return nil, nil, fmt.Errorf("%s: gzip: %v", path, err)
		}
		x.zr = zr
		x.r = zr
	}
	var m [4]byte
	if n, err := io.ReadFull(x.r, m[:]); err != nil {
		x.Close()
		return nil, nil, x.readErr(err, fmt.Sprintf("truncated header: need 4 bytes of magic number, file has %d", n))
	}
	magic := binary.BigEndian.Uint32(m[:])
	if magic != wantMagic {
		x.Close()
		return nil, nil, fmt.Errorf("%s: bad magic number 0x%08x (%s), want 0x%08x (%s)",
			path, magic, describeMagic(magic), uint32(wantMagic), describeMagic(wantMagic))
	}
	ndim := int(wantMagic & 0xff)
	hdr := make([]byte, 4*ndim)
	if n, err := io.ReadFull(x.r, hdr); err != nil {
		x.Close()
		return nil, nil, x.readErr(err, fmt.Sprintf("truncated header: need %d bytes of dimensions, file has %d", len(hdr), n))
	}
	dims := make([]int, ndim)
	size := uint64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4*i:])
		dims[i] = int(d)
		size *= uint64(d) // size <= maxBytes < 2^32 before this step, so no overflow
		if size > maxBytes {
			x.Close()
			return nil, nil, fmt.Errorf("%s: header declares dimensions %v, more than %d bytes: corrupt header?",
				path, headerDims(hdr), maxBytes)
		}
	}
	return x, dims, nil
}

// headerDims decodes all dimensions of a header for an error message.
func headerDims(hdr []byte) []uint32 {
	out := make([]uint32, len(hdr)/4)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(hdr[4*i:])
	}
	return out
}

// readErr turns a read error into one naming the file; short reads become msg.
func (x *idxReader) readErr(err error, msg string) error {
	if isEOF(err) {
		if x.zr != nil {
			return fmt.Errorf("%s: %s (gzip stream ends early)", x.path, msg)
		}
		return fmt.Errorf("%s: %s", x.path, msg)
	}
	if x.zr != nil {
		return fmt.Errorf("%s: gzip: %v", x.path, err)
	}
	return fmt.Errorf("%s: %v", x.path, err)
}

// body reads exactly need bytes of payload; short returns a description of the
// shortfall given how many bytes were read.
func (x *idxReader) body(need int, short func(got int) string) ([]byte, error) {
	buf := make([]byte, need)
	if n, err := io.ReadFull(x.r, buf); err != nil {
		return nil, x.readErr(err, short(n))
	}
	return buf, nil
}

// finish verifies the rest of a gzip stream (its checksum and length trailer),
// so a stream cut short after the payload is still reported as truncated.
func (x *idxReader) finish() error {
	if x.zr == nil {
		return nil
	}
	if _, err := io.Copy(io.Discard, x.zr); err != nil {
		if isEOF(err) {
			return fmt.Errorf("%s: truncated gzip stream: trailer missing", x.path)
		}
		return fmt.Errorf("%s: gzip: %v", x.path, err)
	}
	return nil
}

// Close releases the file.
func (x *idxReader) Close() {
	if x.zr != nil {
		x.zr.Close()
	}
	x.f.Close()
}

// readImages reads up to limit images (0 = all) from an IDX3 file.
func readImages(path string, limit int) (n, rows, cols int, pixels []uint8, err error) {
	x, dims, err := openIDX(path, imagesMagic)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	defer x.Close()
	n, rows, cols = dims[0], dims[1], dims[2]
	if rows == 0 || cols == 0 {
		return 0, 0, 0, nil, fmt.Errorf("%s: header says images of %dx%d pixels", path, rows, cols)
	}
	want := n
	if limit < 0 {
		return 0, 0, 0, nil, fmt.Errorf("%s: negative image limit %d", path, limit)
	}
	if limit > n {
		return 0, 0, 0, nil, fmt.Errorf("%s: asked for %d images, file holds only %d", path, limit, n)
	}
	if limit > 0 {
		want = limit
	}
	pixels, err = x.body(want*rows*cols, func(got int) string {
		return fmt.Sprintf("truncated: header says %d images of %dx%d, file has %d bytes of pixels", n, rows, cols, got)
	})
	if err != nil {
		return 0, 0, 0, nil, err
	}
	if want == n {
		if err := x.finish(); err != nil {
			return 0, 0, 0, nil, err
		}
	}
	return n, rows, cols, pixels, nil
}

// readLabels reads up to limit labels (0 = all) from an IDX1 file; n is the count in the header.
func readLabels(path string, limit int) (n int, labels []uint8, err error) {
	x, dims, err := openIDX(path, labelsMagic)
	if err != nil {
		return 0, nil, err
	}
	defer x.Close()
	n = dims[0]
	want := n
	if limit < 0 {
		return 0, nil, fmt.Errorf("%s: negative label limit %d", path, limit)
	}
	if limit > n {
		return 0, nil, fmt.Errorf("%s: asked for %d labels, file holds only %d", path, limit, n)
	}
	if limit > 0 {
		want = limit
	}
	labels, err = x.body(want, func(got int) string {
		return fmt.Sprintf("truncated: header says %d labels, file has %d bytes of labels", n, got)
	})
	if err != nil {
		return 0, nil, err
	}
	if want == n {
		if err := x.finish(); err != nil {
			return 0, nil, err
		}
	}
	return n, labels, nil
}

// ReadImages reads an IDX3 image file (magic 0x00000803), gzipped or raw;
// gzip is detected by its magic bytes, not the file name.
func ReadImages(path string) (n, rows, cols int, pixels []uint8, err error) {
	return readImages(path, 0)
}

// ReadLabels reads an IDX1 label file (magic 0x00000801), gzipped or raw.
func ReadLabels(path string) ([]uint8, error) {
	_, labels, err := readLabels(path, 0)
	return labels, err
}
