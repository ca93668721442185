package dataset

import (
	"fmt"
	"sync"
)

// mnistClasses is the number of MNIST digit classes.
const mnistClasses = 10

// LoadMNIST loads the training set (first trainLimit images, 0 = all) and the
// official test set (first testLimit images, 0 = all) from dir. Errors name
// the offending file and what is wrong with it.
func LoadMNIST(dir string, trainLimit, testLimit int) (train, test *Set, err error) {
	var paths [4]string
	for i, name := range MNISTFiles() {
		if paths[i], err = filePath(dir, name); err != nil {
			return nil, nil, err
		}
	}
	if trainLimit < 0 || testLimit < 0 {
		return nil, nil, fmt.Errorf("%s: negative limit (train %d, test %d)", dir, trainLimit, testLimit)
	}

	type images struct {
		n, rows, cols int
		pix           []uint8
	}
	type labels struct {
		n int
		y []uint8
	}
	var (
		img  [2]images
		lab  [2]labels
		errs [4]error
		wg   sync.WaitGroup
	)
	limits := [2]int{trainLimit, testLimit}
	for s := range 2 {
		wg.Go(func() {
			var im images
			im.n, im.rows, im.cols, im.pix, errs[2*s] = readImages(paths[2*s], limits[s])
			img[s] = im
		})
		wg.Go(func() {
			var lb labels
			lb.n, lb.y, errs[2*s+1] = readLabels(paths[2*s+1], limits[s])
			lab[s] = lb
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, nil, e
		}
	}

	var sets [2]*Set
	for s := range 2 {
		if img[s].n != lab[s].n {
			return nil, nil, fmt.Errorf("%s: header says %d labels, but %s holds %d images",
				paths[2*s+1], lab[s].n, paths[2*s], img[s].n)
		}
		if s == 1 && (img[1].rows != img[0].rows || img[1].cols != img[0].cols) {
			return nil, nil, fmt.Errorf("%s: images are %dx%d, but training images in %s are %dx%d",
				paths[2], img[1].rows, img[1].cols, paths[0], img[0].rows, img[0].cols)
		}
		for i, y := range lab[s].y {
			if y >= mnistClasses {
				return nil, nil, fmt.Errorf("%s: label %d at index %d is outside 0..%d",
					paths[2*s+1], y, i, mnistClasses-1)
			}
		}
		sets[s] = &Set{
			Rows:    img[s].rows,
			Cols:    img[s].cols,
			X:       scalePixels(img[s].pix),
			Y:       lab[s].y,
			Classes: mnistClasses,
		}
	}
	return sets[0], sets[1], nil
}

// scalePixels converts bytes to float32 in [0,1] through a 256-entry table.
func scalePixels(pix []uint8) []float32 {
	var table [256]float32
	for i := range table {
		table[i] = float32(i) / 255
	}
	out := make([]float32, len(pix))
	for i, p := range pix {
		out[i] = table[p]
	}
	return out
}
