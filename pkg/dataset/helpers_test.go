package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// idxBytes builds an IDX file with the given magic, dimensions and payload.
func idxBytes(magic uint32, dims []uint32, payload []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(payload)
	return b.Bytes()
}

// gzipBytes compresses data.
func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tinyImages returns n images of rows x cols with pixel i*7 mod 256 at position i.
func tinyImages(n, rows, cols int) []byte {
	px := make([]byte, n*rows*cols)
	for i := range px {
		px[i] = byte(i * 7)
	}
	return idxBytes(imagesMagic, []uint32{uint32(n), uint32(rows), uint32(cols)}, px)
}

// tinyLabels returns n labels i mod 10.
func tinyLabels(n int) []byte {
	y := make([]byte, n)
	for i := range y {
		y[i] = byte(i % 10)
	}
	return idxBytes(labelsMagic, []uint32{uint32(n)}, y)
}

// writeTinyMNIST writes a complete tiny MNIST directory (train n=12, test n=5, 3x2 images), gzipped or raw.
func writeTinyMNIST(t *testing.T, dir string, gz bool) {
	t.Helper()
	files := map[string][]byte{
		TrainImagesFile: tinyImages(12, 3, 2),
		TrainLabelsFile: tinyLabels(12),
		TestImagesFile:  tinyImages(5, 3, 2),
		TestLabelsFile:  tinyLabels(5),
	}
	for name, data := range files {
		if gz {
			writeFile(t, dir, name+".gz", gzipBytes(t, data))
		} else {
			writeFile(t, dir, name, data)
		}
	}
}
