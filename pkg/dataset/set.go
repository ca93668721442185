package dataset

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
)

// Set is a labelled image set: N images of Rows x Cols pixels, row-major, scaled to [0,1].
type Set struct {
	Rows, Cols int
	X          []float32 // Len()*Rows*Cols pixel values, pixel/255
	Y          []uint8   // labels 0..Classes-1
	Classes    int       // 10 for MNIST
}

// Len is the number of images.
func (s *Set) Len() int { return len(s.Y) }

// Features is the number of pixels per image, Rows*Cols.
func (s *Set) Features() int { return s.Rows * s.Cols }

// Image returns image i as a view into X (not a copy).
func (s *Set) Image(i int) []float32 {
	f := s.Features()
	return s.X[i*f : (i+1)*f : (i+1)*f]
}

// Subset returns a copy of the listed rows, in that order.
func (s *Set) Subset(idx []int) *Set {
	f := s.Features()
	out := &Set{
		Rows:    s.Rows,
		Cols:    s.Cols,
		X:       make([]float32, len(idx)*f),
		Y:       make([]uint8, len(idx)),
		Classes: s.Classes,
	}
	for j, i := range idx {
		copy(out.X[j*f:(j+1)*f], s.X[i*f:(i+1)*f])
		out.Y[j] = s.Y[i]
	}
	return out
}

// Fingerprint is the hex SHA-256 of rows, cols (little-endian uint64), the bits
// of X (little-endian float32) and Y: it identifies the exact data a model saw.
func (s *Set) Fingerprint() string {
	h := sha256.New()
	buf := make([]byte, 0, 1<<16)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(s.Rows))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(s.Cols))
	for _, v := range s.X {
		if len(buf)+4 > cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	h.Write(buf)
	h.Write(s.Y)
	return hex.EncodeToString(h.Sum(nil))
}
