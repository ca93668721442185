package dataset

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadRawAndGzipAgree(t *testing.T) {
	dir := t.TempDir()
	img := tinyImages(4, 3, 2)
	lab := tinyLabels(4)
	rawImg := writeFile(t, dir, "img", img)
	// The gzipped copy deliberately has no ".gz" suffix: detection is by magic bytes.
	gzImg := writeFile(t, dir, "img-compressed", gzipBytes(t, img))
	rawLab := writeFile(t, dir, "lab.gz", lab) // raw despite the suffix
	gzLab := writeFile(t, dir, "lab2", gzipBytes(t, lab))

	n1, r1, c1, p1, err := ReadImages(rawImg)
	if err != nil {
		t.Fatal(err)
	}
	n2, r2, c2, p2, err := ReadImages(gzImg)
	if err != nil {
		t.Fatal(err)
	}
	if n1 != 4 || r1 != 3 || c1 != 2 || n2 != n1 || r2 != r1 || c2 != c1 {
		t.Fatalf("dims raw %d %dx%d, gzip %d %dx%d; want 4 3x2", n1, r1, c1, n2, r2, c2)
	}
	if !bytes.Equal(p1, p2) || !bytes.Equal(p1, img[16:]) {
		t.Fatalf("pixels differ: raw %v gzip %v", p1, p2)
	}
	l1, err := ReadLabels(rawLab)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := ReadLabels(gzLab)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(l1, l2) || !bytes.Equal(l1, []byte{0, 1, 2, 3}) {
		t.Fatalf("labels raw %v gzip %v", l1, l2)
	}
}

// wantErr fails unless err is non-nil and mentions path and every fragment.
func wantErr(t *testing.T, err error, path string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %s", path)
	}
	msg := err.Error()
	if !strings.Contains(msg, path) {
		t.Errorf("error %q does not name %s", msg, path)
	}
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("error %q does not contain %q", msg, f)
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	img := tinyImages(4, 3, 2)
	gz := gzipBytes(t, img)

	cases := []struct {
		name   string
		data   []byte
		labels bool
		want   []string
	}{
		{"labels-as-images", tinyLabels(4), false, []string{"bad magic", "0x00000801", "0x00000803"}},
		{"images-as-labels", img, true, []string{"bad magic"}},
		{"garbage", []byte("hello, world, not idx"), false, []string{"bad magic"}},
		{"empty", nil, false, []string{"truncated header"}},
		{"short-magic", img[:2], false, []string{"truncated header"}},
		{"short-dims", img[:10], false, []string{"truncated header"}},
		{"short-label-dims", tinyLabels(4)[:6], true, []string{"truncated header"}},
		{"short-pixels", img[:len(img)-5], false, []string{"truncated", "header says 4 images of 3x2", "file has 19 bytes of pixels"}},
		{"short-labels", tinyLabels(4)[:10], true, []string{"truncated", "header says 4 labels", "2 bytes"}},
		{"gzip-half", gz[:len(gz)/2], false, []string{"truncated"}},
		{"gzip-no-trailer", gz[:len(gz)-4], false, []string{"truncated"}},
		{"gzip-header-only", gz[:5], false, []string{"truncated"}},
		{"huge", idxBytes(imagesMagic, []uint32{1 << 30, 28, 28}, nil), false, []string{"more than"}},
		{"zero-size", idxBytes(imagesMagic, []uint32{3, 0, 28}, nil), false, []string{"0x28"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, dir, c.name, c.data)
			var err error
			if c.labels {
				_, err = ReadLabels(p)
			} else {
				_, _, _, _, err = ReadImages(p)
			}
			wantErr(t, err, p, c.want...)
		})
	}
}

func TestReadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope")
	_, _, _, _, err := ReadImages(p)
	wantErr(t, err, p)
	if !os.IsNotExist(err) {
		t.Errorf("error %v is not a not-exist error", err)
	}
}

func TestLoadMNISTTiny(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		writeTinyMNIST(t, dir, gz)
		train, test, err := LoadMNIST(dir, 0, 0)
		if err != nil {
			t.Fatalf("gzip=%v: %v", gz, err)
		}
		if train.Len() != 12 || test.Len() != 5 || train.Rows != 3 || train.Cols != 2 || train.Features() != 6 || train.Classes != 10 {
			t.Fatalf("gzip=%v: train %d %dx%d test %d", gz, train.Len(), train.Rows, train.Cols, test.Len())
		}
		// Pixel 1 of image 1 is byte (6+1)*7 = 49.
		if got, want := train.Image(1)[1], float32(49)/255; got != want {
			t.Errorf("gzip=%v: pixel = %v, want %v", gz, got, want)
		}
		if len(train.X) != 72 || train.Y[11] != 1 {
			t.Errorf("gzip=%v: len(X)=%d Y[11]=%d", gz, len(train.X), train.Y[11])
		}
		tr, te, err := LoadMNIST(dir, 7, 2)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Len() != 7 || te.Len() != 2 || len(tr.X) != 42 || len(te.X) != 12 {
			t.Errorf("limits: train %d (%d px), test %d (%d px)", tr.Len(), len(tr.X), te.Len(), len(te.X))
		}
		if tr.Fingerprint() != train.Subset([]int{0, 1, 2, 3, 4, 5, 6}).Fingerprint() {
			t.Error("limited load differs from a prefix of the full load")
		}
	}
}

func TestLoadMNISTErrors(t *testing.T) {
	t.Run("count-mismatch", func(t *testing.T) {
		dir := t.TempDir()
		writeTinyMNIST(t, dir, false)
		p := writeFile(t, dir, TrainLabelsFile, tinyLabels(11))
		_, _, err := LoadMNIST(dir, 0, 0)
		wantErr(t, err, p, "11 labels", "12 images")
	})
	t.Run("dims-mismatch", func(t *testing.T) {
		dir := t.TempDir()
		writeTinyMNIST(t, dir, true)
		p := writeFile(t, dir, TestImagesFile+".gz", gzipBytes(t, tinyImages(5, 2, 3)))
		_, _, err := LoadMNIST(dir, 0, 0)
		wantErr(t, err, p, "2x3", "3x2")
	})
	t.Run("limit-too-large", func(t *testing.T) {
		dir := t.TempDir()
		writeTinyMNIST(t, dir, false)
		_, _, err := LoadMNIST(dir, 13, 0)
		wantErr(t, err, filepath.Join(dir, TrainImagesFile), "13", "12")
		_, _, err = LoadMNIST(dir, 0, 6)
		wantErr(t, err, filepath.Join(dir, TestImagesFile), "6", "5")
	})
	t.Run("bad-label", func(t *testing.T) {
		dir := t.TempDir()
		writeTinyMNIST(t, dir, false)
		p := writeFile(t, dir, TestLabelsFile, idxBytes(labelsMagic, []uint32{5}, []byte{1, 2, 10, 3, 4}))
		_, _, err := LoadMNIST(dir, 0, 0)
		wantErr(t, err, p, "label 10 at index 2")
	})
	t.Run("missing-file", func(t *testing.T) {
		dir := t.TempDir()
		writeTinyMNIST(t, dir, false)
		os.Remove(filepath.Join(dir, TestLabelsFile))
		_, _, err := LoadMNIST(dir, 0, 0)
		wantErr(t, err, dir, TestLabelsFile)
	})
	t.Run("truncated-train", func(t *testing.T) {
		dir := t.TempDir()
		writeTinyMNIST(t, dir, true)
		gz := gzipBytes(t, tinyImages(12, 3, 2))
		p := writeFile(t, dir, TrainImagesFile+".gz", gz[:len(gz)-3])
		_, _, err := LoadMNIST(dir, 0, 0)
		wantErr(t, err, p, "truncated")
	})
}
