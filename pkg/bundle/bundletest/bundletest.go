// Package bundletest trains small networks on real MNIST for tests: the
// engine's weights as a bundle, a slice of the official test set and the
// engine's own probabilities for it, to compare served and offline
// predictions against.
package bundletest

import (
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/nnx-dev/nnx/pkg/bundle"
	"github.com/nnx-dev/nnx/pkg/dataset"
	"github.com/nnx-dev/nnx/pkg/engine"
	"github.com/nnx-dev/nnx/pkg/model"
)

// TestImages is how many official test images a Trained carries.
const TestImages = 100

// Trained is a network trained by the engine.
type Trained struct {
	Spec   model.Spec
	Bundle *bundle.Bundle
	Test   *dataset.Set // the first TestImages official test images, pixel/255
	Pixels [][]uint8    // the same images as 0..255 pixels, 784 each
	Probs  []float32    // the engine's probabilities for Test, 10 per image
}

// MLPSpec is a small MLP: 784-32-32-10 with ReLU.
func MLPSpec() model.Spec {
	return model.Spec{Input: model.Shape{1, 28, 28}, Classes: 10, Layers: model.MLP([]int{32, 32}, model.ReLU, 10)}
}

// CNNSpec is the seed's CNN (experiments/cnn.yaml): conv 10 3x3, ReLU,
// batch norm, max-pool 2, dense 64, 32, 10.
func CNNSpec() model.Spec {
	return model.Spec{Input: model.Shape{1, 28, 28}, Classes: 10, Layers: []model.Layer{
		{Kind: model.Conv2D, Filters: 10, Kernel: 3}, {Kind: model.ReLU}, {Kind: model.BatchNorm},
		{Kind: model.MaxPool2D, Kernel: 2}, {Kind: model.Flatten},
		{Kind: model.Dense, Units: 64}, {Kind: model.ReLU}, {Kind: model.Dense, Units: 32}, {Kind: model.ReLU},
		{Kind: model.Dense, Units: 10},
	}}
}

// Train trains spec for steps minibatches of 50 real training images
// (SGD with momentum, seeded) and returns the result with name as the
// bundle's name. It skips the test when MNIST cannot be found, as the
// other packages' data tests do.
func Train(t testing.TB, name string, spec model.Spec, steps int) *Trained {
	t.Helper()
	dir, err := dataset.Locate("", os.Getenv)
	var nf *dataset.NotFoundError
	if errors.As(err, &nf) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	const batch = 50
	train, test, err := dataset.LoadMNIST(dir, steps*batch, TestImages)
	if err != nil {
		t.Fatal(err)
	}
	net, err := engine.New(spec, engine.Options{BatchSize: batch, EvalBatch: TestImages, Optimizer: "sgd",
		LearningRate: 0.02, Momentum: 0.9, Init: "pytorch"}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	f := train.Features()
	for s := range steps {
		if _, _, err := net.Step(train.X[s*batch*f:(s+1)*batch*f], train.Y[s*batch:(s+1)*batch]); err != nil {
			t.Fatal(err)
		}
	}
	tr := &Trained{Spec: spec, Test: test, Probs: make([]float32, test.Len()*spec.Classes)}
	if err := net.Predict(test.X, tr.Probs); err != nil {
		t.Fatal(err)
	}
	// The raw pixels: LoadMNIST scales by exactly 1/255, so this inverts it.
	for i := range test.Len() {
		px := make([]uint8, f)
		for j, v := range test.Image(i) {
			px[j] = uint8(v*255 + 0.5)
		}
		tr.Pixels = append(tr.Pixels, px)
	}
	tr.Bundle = bundle.New(spec, net.Weights())
	tr.Bundle.Manifest.Name = name
	tr.Bundle.Manifest.NNXVersion = "test"
	tr.Bundle.Manifest.Experiment = name
	tr.Bundle.Manifest.Trial = "0123456789ab"
	tr.Bundle.Manifest.DataFingerprint = train.Fingerprint()[:16]
	return tr
}

// Write stores tr's bundle in a new directory under t.TempDir and returns
// its path.
func (tr *Trained) Write(t testing.TB) string {
	t.Helper()
	dir := t.TempDir() + "/" + tr.Bundle.Manifest.Name
	if err := bundle.Write(dir, tr.Bundle, map[string][]byte{"metrics.json": []byte("{}\n")}); err != nil {
		t.Fatal(err)
	}
	return dir
}
